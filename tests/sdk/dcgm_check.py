"""Parses three DCGM scrapes of a fakeai (idle, under load, after it) with prometheus_client's
text parser, as AIPerf's GPU telemetry does, and checks dcgm-exporter 4.x's default fields and
labels for every GPU and that the values follow the load.
Usage: dcgm_check.py IDLE_FILE BUSY_FILE AFTER_FILE GPUS"""
import sys

from prometheus_client.parser import text_string_to_metric_families

DEFAULT_FIELDS = {
    "DCGM_FI_DEV_SM_CLOCK": "gauge", "DCGM_FI_DEV_MEM_CLOCK": "gauge", "DCGM_FI_DEV_MEMORY_TEMP": "gauge",
    "DCGM_FI_DEV_GPU_TEMP": "gauge", "DCGM_FI_DEV_POWER_USAGE": "gauge",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION": "counter", "DCGM_FI_DEV_PCIE_REPLAY_COUNTER": "counter",
    "DCGM_FI_DEV_GPU_UTIL": "gauge", "DCGM_FI_DEV_MEM_COPY_UTIL": "gauge", "DCGM_FI_DEV_ENC_UTIL": "gauge",
    "DCGM_FI_DEV_DEC_UTIL": "gauge", "DCGM_FI_DEV_XID_ERRORS": "gauge", "DCGM_FI_DEV_FB_FREE": "gauge",
    "DCGM_FI_DEV_FB_USED": "gauge", "DCGM_FI_DEV_FB_RESERVED": "gauge",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL": "counter", "DCGM_FI_DEV_VGPU_LICENSE_STATUS": "gauge",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS": "counter", "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS": "counter",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE": "gauge", "DCGM_FI_PROF_GR_ENGINE_ACTIVE": "gauge",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE": "gauge", "DCGM_FI_PROF_DRAM_ACTIVE": "gauge",
    "DCGM_FI_PROF_PCIE_TX_BYTES": "gauge", "DCGM_FI_PROF_PCIE_RX_BYTES": "gauge",
    # Commented out of the default CSV; served because AIPerf reads them and the issue asks.
    "DCGM_FI_DEV_FB_TOTAL": "gauge", "DCGM_FI_DEV_POWER_VIOLATION": "counter",
    "DCGM_FI_DEV_THERMAL_VIOLATION": "counter",
}
LABELS = ["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"]


def scrape(path, gpus):
    """{field: {gpu index: value}}, checking families, types, help and labels."""
    text = open(path).read()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    values, uuids = {}, {}
    for name, kind in DEFAULT_FIELDS.items():
        # prometheus_client names a counter family without `_total`; DCGM's have none anyway.
        fam = families.get(name)
        assert fam is not None, f"{path}: missing {name}"
        assert fam.type == kind, f"{name}: type {fam.type}, want {kind}"
        assert fam.documentation, f"{name}: no HELP"
        assert len(fam.samples) == gpus, f"{name}: {len(fam.samples)} samples for {gpus} GPUs"
        for s in fam.samples:
            want = LABELS + (["err_code", "err_msg"] if name == "DCGM_FI_DEV_XID_ERRORS" else [])
            assert list(s.labels) == want, f"{name}: labels {list(s.labels)}"
            gpu = int(s.labels["gpu"])
            assert s.labels["device"] == f"nvidia{gpu}" and s.labels["UUID"].startswith("GPU-")
            assert s.labels["modelName"] == "NVIDIA H100 80GB HBM3", s.labels["modelName"]
            assert uuids.setdefault(gpu, s.labels["UUID"]) == s.labels["UUID"], "one UUID per GPU"
            values.setdefault(name, {})[gpu] = s.value
    assert sorted(uuids) == list(range(gpus)) and len(set(uuids.values())) == gpus, uuids
    return values, uuids


gpus = int(sys.argv[4])
(idle, u0), (busy, u1), (after, u2) = (scrape(p, gpus) for p in sys.argv[1:4])
assert u0 == u1 == u2, "UUIDs are stable"
for g in range(gpus):
    v = lambda scrape, field: scrape[field][g]
    for s in (idle, busy, after):
        total = v(s, "DCGM_FI_DEV_FB_USED") + v(s, "DCGM_FI_DEV_FB_FREE") + v(s, "DCGM_FI_DEV_FB_RESERVED")
        assert total == v(s, "DCGM_FI_DEV_FB_TOTAL"), f"GPU {g}: used+free+reserved {total}"
        assert 0 <= v(s, "DCGM_FI_DEV_GPU_UTIL") <= 100 and 0 <= v(s, "DCGM_FI_PROF_GR_ENGINE_ACTIVE") <= 1
    assert v(idle, "DCGM_FI_DEV_GPU_UTIL") == 0, "idle GPUs do nothing"
    for field in ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
                  "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "DCGM_FI_PROF_DRAM_ACTIVE", "DCGM_FI_DEV_FB_USED",
                  "DCGM_FI_DEV_SM_CLOCK", "DCGM_FI_PROF_PCIE_RX_BYTES"]:
        assert v(busy, field) > v(idle, field), f"GPU {g}: {field} {v(idle, field)} -> {v(busy, field)} under load"
    energy = [v(s, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION") for s in (idle, busy, after)]
    assert energy[0] < energy[1] < energy[2], f"GPU {g}: energy {energy}"
    assert v(busy, "DCGM_FI_DEV_GPU_TEMP") >= v(idle, "DCGM_FI_DEV_GPU_TEMP")
    print(f"GPU {g}: util {v(idle, 'DCGM_FI_DEV_GPU_UTIL'):.0f} -> {v(busy, 'DCGM_FI_DEV_GPU_UTIL'):.0f} %, "
          f"power {v(idle, 'DCGM_FI_DEV_POWER_USAGE'):.1f} -> {v(busy, 'DCGM_FI_DEV_POWER_USAGE'):.1f} W, "
          f"FB used {v(idle, 'DCGM_FI_DEV_FB_USED'):.0f} -> {v(busy, 'DCGM_FI_DEV_FB_USED'):.0f} MiB, "
          f"energy {energy} mJ")
print("checks passed")
