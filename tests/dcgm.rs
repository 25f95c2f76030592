//! The fake GPUs end to end: DCGM-exporter text at `/dcgm/metrics` and on the DCGM port, every
//! default field with dcgm-exporter's labels for each GPU, values that follow a real streaming
//! load, and FakeAI's JSON view.

mod common;

use std::{
    collections::BTreeMap,
    net::{SocketAddr, TcpListener},
    time::Duration,
};

use common::{Server, chat, spawn_post};

/// `{(field, gpu): value}` from DCGM text, checked line by line: HELP and TYPE before each
/// family's samples, dcgm-exporter's label order, one sample per field and GPU.
fn parse(text: &str) -> BTreeMap<(String, usize), f64> {
    let mut out = BTreeMap::new();
    let mut family = String::new();
    let mut typed = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            family = rest.split(' ').next().unwrap().to_owned();
            typed = false;
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            assert!(rest == format!("{family} gauge") || rest == format!("{family} counter"), "{line}");
            typed = true;
        } else {
            let (name, rest) = line.split_once('{').unwrap_or_else(|| panic!("not a sample: {line:?}"));
            assert!(typed && name == family, "sample outside its family: {line}");
            let (labels, value) = rest.rsplit_once("} ").unwrap();
            let keys: Vec<&str> = labels.split("\",").map(|kv| kv.split_once("=\"").unwrap().0).collect();
            let mut want =
                vec!["gpu", "UUID", "pci_bus_id", "device", "modelName", "Hostname", "DCGM_FI_DRIVER_VERSION"];
            if name == "DCGM_FI_DEV_XID_ERRORS" {
                want.extend(["err_code", "err_msg"]);
            }
            assert_eq!(keys, want, "{line}");
            let gpu = labels.strip_prefix("gpu=\"").unwrap().split('"').next().unwrap().parse().unwrap();
            let prev = out.insert((name.to_owned(), gpu), value.parse().unwrap_or_else(|_| panic!("{line}")));
            assert!(prev.is_none(), "two samples of {name} for GPU {gpu}");
        }
    }
    out
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// GET `path` from `addr` on a fresh connection.
fn get(addr: SocketAddr, path: &str) -> common::Response {
    let mut c = common::Conn::new(std::net::TcpStream::connect(addr).unwrap());
    c.send("GET", path, None, &[]);
    c.response()
}

const FIELDS: &[&str] = &[
    "DCGM_FI_DEV_SM_CLOCK",
    "DCGM_FI_DEV_MEM_CLOCK",
    "DCGM_FI_DEV_MEMORY_TEMP",
    "DCGM_FI_DEV_GPU_TEMP",
    "DCGM_FI_DEV_POWER_USAGE",
    "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION",
    "DCGM_FI_DEV_PCIE_REPLAY_COUNTER",
    "DCGM_FI_DEV_GPU_UTIL",
    "DCGM_FI_DEV_MEM_COPY_UTIL",
    "DCGM_FI_DEV_ENC_UTIL",
    "DCGM_FI_DEV_DEC_UTIL",
    "DCGM_FI_DEV_XID_ERRORS",
    "DCGM_FI_DEV_FB_FREE",
    "DCGM_FI_DEV_FB_USED",
    "DCGM_FI_DEV_FB_RESERVED",
    "DCGM_FI_DEV_FB_TOTAL",
    "DCGM_FI_DEV_POWER_VIOLATION",
    "DCGM_FI_DEV_THERMAL_VIOLATION",
    "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
    "DCGM_FI_DEV_VGPU_LICENSE_STATUS",
    "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS",
    "DCGM_FI_DEV_ROW_REMAP_FAILURE",
    "DCGM_FI_PROF_GR_ENGINE_ACTIVE",
    "DCGM_FI_PROF_PIPE_TENSOR_ACTIVE",
    "DCGM_FI_PROF_DRAM_ACTIVE",
    "DCGM_FI_PROF_PCIE_TX_BYTES",
    "DCGM_FI_PROF_PCIE_RX_BYTES",
];

#[test]
fn gpus_follow_a_streaming_load_on_both_paths() {
    const GPUS: usize = 2;
    let port = free_port();
    let s = Server::start(&[
        "--gpus",
        "2",
        "--gpu",
        "h100",
        "--dcgm-port",
        &port.to_string(),
        "--ttft",
        "0:0",
        "--itl",
        "5:0",
    ]);
    assert!(s.startup_line.contains(&format!(" dcgm=127.0.0.1:{port} ")), "{}", s.startup_line);
    let dcgm: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let scrape = |addr: SocketAddr, path: &str| {
        let r = get(addr, path);
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with("text/plain; version=0.0.4"));
        r.text()
    };
    let idle_text = scrape(s.addr, "/dcgm/metrics");
    let idle = parse(&idle_text);
    assert_eq!(idle.len(), FIELDS.len() * GPUS, "one sample per field and GPU");
    for field in FIELDS {
        for gpu in 0..GPUS {
            assert!(idle.contains_key(&(field.to_string(), gpu)), "{field} for GPU {gpu}");
        }
    }
    let idle_json = get(s.addr, "/dcgm/metrics/json").json();

    // 50 streams of 400 tokens 5 ms apart: two seconds of ~10,000 tokens/s.
    let body =
        chat("meta-llama/Llama-3.1-8B-Instruct", "Say a lot.", r#""stream":true,"max_tokens":400,"ignore_eos":true"#);
    let streams: Vec<_> = (0..50).map(|_| spawn_post(s.addr, "/v1/chat/completions", body.clone())).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let busy_text = scrape(dcgm, "/metrics");
    let busy = parse(&busy_text);
    for stream in streams {
        assert_eq!(stream.join().unwrap().status, 200);
    }
    let after_text = scrape(s.addr, "/dcgm/metrics");
    let after = parse(&after_text);
    let after_json = get(s.addr, "/dcgm/metrics/json").json();

    for gpu in 0..GPUS {
        let v = |m: &BTreeMap<(String, usize), f64>, f: &str| m[&(f.to_owned(), gpu)];
        assert_eq!(v(&idle, "DCGM_FI_DEV_GPU_UTIL"), 0.0);
        for f in
            ["DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_FB_USED"]
        {
            assert!(v(&busy, f) > v(&idle, f), "GPU {gpu}: {f} {} -> {} under load", v(&idle, f), v(&busy, f));
        }
        let energy = [&idle, &busy, &after].map(|m| v(m, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION"));
        assert!(energy[0] < energy[1] && energy[1] < energy[2], "energy only grows: {energy:?}");
        let key = format!("gpu_{gpu}");
        let (t0, t1) =
            (idle_json[&key]["temperature_c"].as_f64().unwrap(), after_json[&key]["temperature_c"].as_f64().unwrap());
        assert!(t1 > t0, "GPU {gpu} warmed under two seconds of load: {t0} -> {t1}");
        assert_eq!(after_json[&key]["uuid"], idle_json[&key]["uuid"]);
        assert_eq!(after_json[&key]["name"], "NVIDIA H100 80GB HBM3");
    }

    // The DCGM port serves the exporter's paths only.
    assert_eq!(get(dcgm, "/health").status, 200);
    assert_eq!(get(dcgm, "/v1/models").status, 404);
    assert_eq!(get(dcgm, "/dcgm/metrics").status, 404);

    let files: Vec<_> = [("idle", &idle_text), ("busy", &busy_text), ("after", &after_text)]
        .iter()
        .map(|(name, text)| common::temp_file(&format!("dcgm-{name}.txt"), text.as_bytes()))
        .collect();
    let paths: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    common::run_sdk_script("dcgm_check.py", &[paths[0], paths[1], paths[2], &GPUS.to_string()]);
}

#[test]
fn a_taken_dcgm_port_is_skipped_and_off_binds_none() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let (taken_port, next) = (taken.local_addr().unwrap().port(), free_port());
    let s = Server::start(&["--dcgm-port", &format!("{taken_port},{next}")]);
    assert!(s.startup_line.contains(&format!(" dcgm=127.0.0.1:{next} ")), "{}", s.startup_line);
    assert_eq!(parse(&get(format!("127.0.0.1:{next}").parse().unwrap(), "/metrics").text()).len(), FIELDS.len() * 4);

    let all_taken = Server::start(&["--dcgm-port", &taken_port.to_string(), "--gpus", "1"]);
    assert!(!all_taken.startup_line.contains("dcgm="), "{}", all_taken.startup_line);
    assert_eq!(
        parse(&all_taken.request("GET", "/dcgm/metrics", None).text()).len(),
        FIELDS.len(),
        "still on the main port"
    );

    let none = Server::start(&["--gpus", "0", "--dcgm-port", &next.to_string()]);
    assert!(!none.startup_line.contains("dcgm="), "no GPUs, no DCGM port");
    assert_eq!(none.request("GET", "/dcgm/metrics", None).text(), "");
    assert_eq!(none.request("GET", "/dcgm/metrics/json", None).json(), serde_json::json!({}));
}

/// AIPerf's GPU telemetry finds the GPUs with no telemetry URL (it polls localhost:9400 and
/// :9401 by default) and sees them work. Runs when `FAKEAI_AIPERF` names an `aiperf` binary (with
/// `TIKTOKEN_CACHE_DIR` holding cl100k_base, as /work/shared/tools/aiperf_run.sh prepares) and
/// port 9400 is free; skipped otherwise. About 30 s.
#[test]
fn aiperf_finds_the_gpus_at_its_default_urls() {
    let Ok(aiperf) = std::env::var("FAKEAI_AIPERF") else {
        eprintln!("skipping: FAKEAI_AIPERF is not set");
        return;
    };
    let s = Server::start(&["--dcgm-port", "9400", "--ttft", "0:0", "--itl", "5:0"]);
    if !s.startup_line.contains(" dcgm=127.0.0.1:9400 ") {
        eprintln!("skipping: port 9400 is taken");
        return;
    }
    let dir = std::env::temp_dir().join(format!("fakeai-aiperf-dcgm-{}", std::process::id()));
    let url = format!("http://{}", s.addr);
    let out = std::process::Command::new(aiperf)
        .args(["profile", "--url", &url, "--model", "meta-llama/Llama-3.1-8B-Instruct", "--tokenizer", "cl100k_base"])
        .args(["--endpoint-type", "chat", "--streaming", "--concurrency", "20", "--request-count", "300"])
        .args([
            "--isl",
            "64",
            "--osl",
            "100",
            "--extra-inputs",
            "ignore_eos:true",
            "--random-seed",
            "1",
            "--ui",
            "none",
        ])
        .args(["--gpu-telemetry", "--artifact-dir", dir.to_str().unwrap()])
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .expect("run aiperf");
    let log = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "aiperf failed:\n{log}\n{}", String::from_utf8_lossy(&out.stderr));
    let export: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("profile_export_aiperf.json")).unwrap()).unwrap();
    let gpus = &export["telemetry_data"]["endpoints"]["localhost:9400"]["gpus"];
    for gpu in 0..4 {
        let m = &gpus[format!("gpu_{gpu}")]["metrics"];
        let avg = |name: &str| m[name]["avg"].as_f64().unwrap_or_else(|| panic!("no {name} for GPU {gpu}: {m}"));
        assert!(avg("nvidia_gpu_utilization") > 0.0 && avg("nvidia_power_usage") > 72.0, "GPU {gpu}: {m}");
        assert!(avg("nvidia_memory_used") > 0.0 && avg("nvidia_energy_consumption") > 0.0, "GPU {gpu}: {m}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn with_the_engine_on_the_gpus_follow_its_steps_and_kv_blocks() {
    let s = Server::start(&[
        "--engine",
        "vllm",
        "--model-profile",
        "llama-3.1-8b",
        "--gpus",
        "1",
        "--gpu",
        "h100",
        "--dcgm-port",
        "off",
        "--workers",
        "1",
    ]);
    let read = || {
        let m = parse(&get(s.addr, "/dcgm/metrics").text());
        (m[&("DCGM_FI_DEV_GPU_UTIL".to_owned(), 0)], m[&("DCGM_FI_DEV_FB_USED".to_owned(), 0)])
    };
    let (idle_util, idle_fb) = read();
    // The profile's weights, 8.03e9 parameters in BF16, and no KV block held.
    assert_eq!((idle_util, idle_fb), (0.0, (8.03e9_f64 * 2.0 / 1024.0 / 1024.0).round()));

    // Eight streams of 400 tokens: ~400 steps of ~6.5 ms, back to back for ~2.6 s.
    let body =
        chat("meta-llama/Llama-3.1-8B-Instruct", "Say a lot.", r#""stream":true,"max_tokens":400,"ignore_eos":true"#);
    let streams: Vec<_> = (0..8).map(|_| spawn_post(s.addr, "/v1/chat/completions", body.clone())).collect();
    std::thread::sleep(Duration::from_millis(1500));
    let (busy_util, busy_fb) = read();
    assert!(busy_util >= 50.0, "steps back to back keep the GPU busy: {busy_util}%");
    // Eight sequences of ≥ 100 tokens hold ≥ 8 × 7 blocks of 16 tokens × 128 KiB.
    assert!(busy_fb >= idle_fb + 8.0 * 7.0 * 2.0, "KV blocks held add to FB_USED: {idle_fb} -> {busy_fb} MiB");
    for stream in streams {
        assert_eq!(stream.join().unwrap().status, 200);
    }
    std::thread::sleep(Duration::from_millis(4000));
    let (after_util, after_fb) = read();
    assert!(after_util <= 5.0, "idle again: {after_util}%");
    assert_eq!(after_fb, idle_fb, "every block freed");
}
