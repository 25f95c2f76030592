//! The GPU presets: what `nvidia-smi` and DCGM report for each kind, and the few figures the
//! load model needs (idle and maximum power, clocks, a decode throughput to measure load by).

/// A simulated GPU kind (`--gpu`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GpuKind {
    /// NVIDIA H100 SXM5 80 GB (Hopper).
    H100,
    /// NVIDIA H200 SXM 141 GB (Hopper).
    H200,
    /// NVIDIA A100 SXM4 80 GB (Ampere).
    A100,
    /// NVIDIA B200 180 GB (Blackwell).
    B200,
    /// NVIDIA L40S 48 GB (Ada Lovelace, PCIe).
    L40s,
}

/// One GPU kind's fixed figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spec {
    /// The name `nvidia-smi` prints and DCGM's `modelName` label carries.
    pub name: &'static str,
    /// Architecture, as FakeAI's JSON view names it.
    pub architecture: &'static str,
    /// Framebuffer size as NVML reports it (`DCGM_FI_DEV_FB_TOTAL`), MiB.
    pub memory_mib: u64,
    /// Framebuffer the driver keeps for itself (`DCGM_FI_DEV_FB_RESERVED`), MiB.
    pub reserved_mib: u64,
    /// Board power limit (TDP), W.
    pub max_power_w: f64,
    /// Power drawn idle with the driver loaded (persistence mode), W.
    pub idle_power_w: f64,
    /// Highest SM clock, MHz (under load).
    pub max_sm_clock_mhz: u32,
    /// SM clock when idle, MHz.
    pub idle_sm_clock_mhz: u32,
    /// Memory clock, MHz (datacenter parts keep it fixed).
    pub mem_clock_mhz: u32,
    /// PCI device id (vendor 0x10DE).
    pub pci_device_id: u16,
    /// Decode tokens per second one GPU sustains at full batch for an 8B-parameter model in
    /// BF16: the throughput that counts as 100 % load (a round figure from public vLLM runs).
    pub peak_tokens_per_s: f64,
    /// HBM/GDDR bandwidth from the data sheet, bytes/s (decode streams weights and KV at it).
    pub mem_bandwidth: f64,
    /// Dense BF16 tensor throughput from the data sheet, FLOP/s (prefill is bound by it).
    pub bf16_flops: f64,
    /// Whether the tensor cores run FP8 at twice the BF16 rate (Hopper and later, Ada).
    pub fp8: bool,
    /// Steady GPU temperature at the power limit in a 28 °C inlet, °C.
    pub load_temp_c: f64,
    /// Steady HBM/GDDR temperature at the power limit, °C.
    pub load_mem_temp_c: f64,
    /// Temperature at which the GPU slows its clocks (thermal violation), °C.
    pub slowdown_temp_c: f64,
}

impl GpuKind {
    /// The kind's figures.
    pub fn spec(self) -> &'static Spec {
        match self {
            GpuKind::H100 => &H100,
            GpuKind::H200 => &H200,
            GpuKind::A100 => &A100,
            GpuKind::B200 => &B200,
            GpuKind::L40s => &L40S,
        }
    }
}

static H100: Spec = Spec {
    name: "NVIDIA H100 80GB HBM3",
    architecture: "Hopper",
    memory_mib: 81_559,
    reserved_mib: 535,
    max_power_w: 700.0,
    idle_power_w: 72.0,
    max_sm_clock_mhz: 1980,
    idle_sm_clock_mhz: 345,
    mem_clock_mhz: 2619,
    pci_device_id: 0x2330,
    peak_tokens_per_s: 16_000.0,
    mem_bandwidth: 3.35e12,
    bf16_flops: 989e12,
    fp8: true,
    load_temp_c: 71.0,
    load_mem_temp_c: 80.0,
    slowdown_temp_c: 87.0,
};

static H200: Spec = Spec {
    name: "NVIDIA H200",
    architecture: "Hopper",
    memory_mib: 143_771,
    reserved_mib: 573,
    max_power_w: 700.0,
    idle_power_w: 78.0,
    max_sm_clock_mhz: 1980,
    idle_sm_clock_mhz: 345,
    mem_clock_mhz: 3201,
    pci_device_id: 0x2335,
    peak_tokens_per_s: 20_000.0,
    mem_bandwidth: 4.8e12,
    bf16_flops: 989e12,
    fp8: true,
    load_temp_c: 72.0,
    load_mem_temp_c: 82.0,
    slowdown_temp_c: 87.0,
};

static A100: Spec = Spec {
    name: "NVIDIA A100-SXM4-80GB",
    architecture: "Ampere",
    memory_mib: 81_920,
    reserved_mib: 487,
    max_power_w: 400.0,
    idle_power_w: 60.0,
    max_sm_clock_mhz: 1410,
    idle_sm_clock_mhz: 210,
    mem_clock_mhz: 1593,
    pci_device_id: 0x20B2,
    peak_tokens_per_s: 8_000.0,
    mem_bandwidth: 2.039e12,
    bf16_flops: 312e12,
    fp8: false,
    load_temp_c: 68.0,
    load_mem_temp_c: 76.0,
    slowdown_temp_c: 85.0,
};

static B200: Spec = Spec {
    name: "NVIDIA B200",
    architecture: "Blackwell",
    memory_mib: 183_359,
    reserved_mib: 719,
    max_power_w: 1000.0,
    idle_power_w: 140.0,
    max_sm_clock_mhz: 1965,
    idle_sm_clock_mhz: 120,
    mem_clock_mhz: 3996,
    pci_device_id: 0x2901,
    peak_tokens_per_s: 36_000.0,
    mem_bandwidth: 8e12,
    bf16_flops: 2250e12,
    fp8: true,
    load_temp_c: 74.0,
    load_mem_temp_c: 83.0,
    slowdown_temp_c: 87.0,
};

static L40S: Spec = Spec {
    name: "NVIDIA L40S",
    architecture: "Ada Lovelace",
    memory_mib: 46_068,
    reserved_mib: 413,
    max_power_w: 350.0,
    idle_power_w: 35.0,
    max_sm_clock_mhz: 2520,
    idle_sm_clock_mhz: 210,
    mem_clock_mhz: 9001,
    pci_device_id: 0x26B9,
    peak_tokens_per_s: 5_000.0,
    mem_bandwidth: 0.864e12,
    bf16_flops: 362e12,
    fp8: true,
    load_temp_c: 78.0,
    load_mem_temp_c: 84.0,
    slowdown_temp_c: 88.0,
};

/// PCI buses of the eight GPUs of an HGX baseboard, in `nvidia-smi` order.
const HGX_BUSES: [u8; 8] = [0x18, 0x2A, 0x3A, 0x5D, 0x9A, 0xAB, 0xBA, 0xDB];

/// The PCI bus id of GPU `index` as DCGM prints it (`00000000:18:00.0`): an HGX board's
/// buses, a further domain for every eight GPUs.
pub fn pci_bus_id(index: usize) -> String {
    format!("{:08X}:{:02X}:00.0", index / HGX_BUSES.len(), HGX_BUSES[index % HGX_BUSES.len()])
}

/// A GPU UUID that stays the same for the same host and index (`GPU-` and 32 hex digits in
/// 8-4-4-4-12 groups, as NVML prints them).
pub fn uuid(host: &str, index: usize) -> String {
    let digest = sha1_smol::Sha1::from(format!("fakeai-gpu\0{host}\0{index}")).digest().bytes();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("GPU-{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_stable_per_host_and_index() {
        let a = uuid("node-1", 0);
        assert_eq!(a, uuid("node-1", 0));
        assert_ne!(a, uuid("node-1", 1));
        assert_ne!(a, uuid("node-2", 0));
        let groups: Vec<usize> = a.trim_start_matches("GPU-").split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{a}");
    }

    #[test]
    fn bus_ids_follow_an_hgx_board() {
        assert_eq!(pci_bus_id(0), "00000000:18:00.0");
        assert_eq!(pci_bus_id(7), "00000000:DB:00.0");
        assert_eq!(pci_bus_id(8), "00000001:18:00.0");
    }

    #[test]
    fn idle_is_below_the_limit_for_every_kind() {
        for kind in [GpuKind::H100, GpuKind::H200, GpuKind::A100, GpuKind::B200, GpuKind::L40s] {
            let s = kind.spec();
            assert!(s.idle_power_w < s.max_power_w && s.idle_sm_clock_mhz < s.max_sm_clock_mhz, "{}", s.name);
            assert!(s.reserved_mib < s.memory_mib / 100 && s.load_temp_c < s.slowdown_temp_c);
        }
    }
}
