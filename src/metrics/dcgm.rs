//! The fake GPUs as DCGM-exporter 4.x shows them (`/dcgm/metrics`, and `/metrics` on the DCGM
//! port) and as FakeAI's JSON view (`/dcgm/metrics/json`), driven by the server's real load.
//!
//! A scrape brings the pure [`Fleet`] up to now: it replays the once-a-second counter samples
//! of the rate window since the previous scrape (tokens decoded and prefilled per second,
//! streams active), then the stretch from the newest sample to now, so the values do not depend
//! on how often anyone scrapes. Nothing here runs on the per-token path.
//!
//! With the engine on ([`EngineView`]), the GPUs follow the engine instead: utilisation is the
//! share of wall time since the previous scrape that some engine had work (its steps run back
//! to back then), and memory is the profile's weights plus the KV blocks the engines hold, over
//! the tensor-parallel group. With more GPUs than one group, every group shows the same values,
//! as identical replicas behind a router that spreads the load evenly would.

use std::{
    fmt::Write,
    sync::Mutex,
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use super::{Counter, Snapshot, window::RateWindow};
use crate::{
    config::ServerArgs,
    sim::{
        gpu::{Fleet, GpuKind, Held, ModelSize, Reading, Work, pci_bus_id, uuid},
        model_profile::Profile,
    },
};

/// The driver version in the `DCGM_FI_DRIVER_VERSION` label (an R570 data-center driver, which
/// every preset, B200 included, runs).
pub const DRIVER_VERSION: &str = "570.148.08";

/// Counter totals at the fleet's clock.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    completion: u64,
    prompt: u64,
}

impl Counts {
    fn of(counters: &[u64]) -> Counts {
        Counts {
            completion: counters[Counter::CompletionTokens as usize],
            prompt: counters[Counter::PromptTokens as usize],
        }
    }
}

#[derive(Debug)]
struct State {
    fleet: Fleet,
    counts: Counts,
    /// The engines' busy time at the fleet's clock.
    busy: Duration,
}

/// What the GPUs read from the engine: its KV block size and, with `--model-profile`, the
/// weights and KV bytes per token over a tensor-parallel group.
#[derive(Debug, Clone, Copy)]
pub struct EngineView {
    block_size: u64,
    profile: Option<(&'static Profile, u32)>,
}

impl EngineView {
    /// The view `args` configure, or `None` with the engine off.
    pub fn of(args: &ServerArgs) -> Option<EngineView> {
        if !crate::sim::engine::local::enabled(args) {
            return None;
        }
        let profile = args.model_profile.map(|p| {
            let p = p.profile();
            (p, args.tensor_parallel_size.unwrap_or(p.default_tp).max(1))
        });
        Some(EngineView { block_size: args.kv_cache_block_size.max(1), profile })
    }

    /// What each GPU holds with `blocks` KV blocks in use, when the profile says; else the
    /// estimate from the served model.
    fn held(&self, blocks: u64, served: ModelSize) -> Held {
        let kv_tokens = (blocks * self.block_size) as f64;
        match self.profile {
            Some((p, tp)) => Held {
                model: p.size(),
                kv_tokens,
                bytes_per_gpu: Some((p.weight_bytes() + kv_tokens * p.kv_bytes_per_token()) / f64::from(tp)),
            },
            None => Held { model: served, kv_tokens, bytes_per_gpu: None },
        }
    }
}

/// The host's fake GPUs and the labels they are shown with.
#[derive(Debug)]
pub struct Telemetry {
    started: Instant,
    state: Mutex<State>,
    /// Per GPU: the label set every sample carries, up to (not including) the closing brace.
    labels: Vec<String>,
    uuids: Vec<String>,
    host: String,
    engine: Option<EngineView>,
}

impl Telemetry {
    /// `count` GPUs of `kind` on `host`, idle since `started`. `lowercase_hostname` writes the
    /// host label as `hostname` (dcgm-exporter's main branch) instead of 4.x's `Hostname`.
    pub fn new(kind: GpuKind, count: usize, host: &str, lowercase_hostname: bool, started: Instant) -> Telemetry {
        let spec = kind.spec();
        let uuids: Vec<String> = (0..count).map(|i| uuid(host, i)).collect();
        let host_label = if lowercase_hostname { "hostname" } else { "Hostname" };
        let labels = uuids
            .iter()
            .enumerate()
            .map(|(i, id)| {
                format!(
                    "gpu=\"{i}\",UUID=\"{id}\",pci_bus_id=\"{}\",device=\"nvidia{i}\",modelName=\"{}\",\
                     {host_label}=\"{}\",DCGM_FI_DRIVER_VERSION=\"{DRIVER_VERSION}\"",
                    pci_bus_id(i),
                    spec.name,
                    escape(host)
                )
            })
            .collect();
        let state = State { fleet: Fleet::new(kind, count, 0.0), counts: Counts::default(), busy: Duration::ZERO };
        Telemetry { started, state: Mutex::new(state), labels, uuids, host: host.to_owned(), engine: None }
    }

    /// These GPUs follow the engine `view` describes (nothing changes for `None`).
    pub fn following(mut self, view: Option<EngineView>) -> Telemetry {
        self.engine = view;
        self
    }

    /// Brings the GPUs up to `now` from the samples in `window` and the counters in `snap`, and
    /// reads them.
    pub fn observe(&self, now: Instant, window: &RateWindow, snap: &Snapshot) -> Vec<Reading> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(view) = self.engine {
            return self.observe_engine(&mut state, view, now, snap);
        }
        let State { fleet, counts, .. } = &mut *state;
        let since = self.started + std::time::Duration::from_secs_f64(fleet.now());
        window.each_since(since, |at, totals| {
            if at <= now {
                *counts = self.replay(fleet, *counts, at, &totals.counters);
            }
        });
        *counts = self.replay(fleet, *counts, now, &snap.counters);
        let (model, kv_tokens) = served(snap);
        fleet.serve(model);
        fleet.readings(&Held { model, kv_tokens, bytes_per_gpu: None })
    }

    /// The engine's way: the interval from the fleet's clock to `now` in two parts, before and
    /// after the engines last started or stopped having work: busy for the share of the first
    /// that some engine had work, and wholly busy or idle since. Token rates (for power) are the
    /// interval's average; the KV blocks are the engines' now.
    fn observe_engine(&self, state: &mut State, view: EngineView, now: Instant, snap: &Snapshot) -> Vec<Reading> {
        let secs = |t: Instant| t.saturating_duration_since(self.started).as_secs_f64();
        let (from, to) = (state.fleet.now(), secs(now));
        if to > from {
            let load = crate::sim::engine::load::state(now);
            let work = work(state.counts, &snap.counters, to - from);
            let changed = secs(load.changed).clamp(from, to);
            let steady = if load.busy { now.saturating_duration_since(load.changed) } else { Duration::ZERO };
            if changed > from {
                let busy_before = load.busy_time.saturating_sub(steady).saturating_sub(state.busy);
                let share = (busy_before.as_secs_f64() / (changed - from)).min(1.0);
                state.fleet.advance(changed, Work { busy: Some(share), ..work });
            }
            let share = if load.busy { 1.0 } else { 0.0 };
            state.fleet.advance(to, Work { busy: Some(share), ..work });
            state.counts = Counts::of(&snap.counters);
            state.busy = load.busy_time;
        }
        let (served, _) = served(snap);
        let held = view.held(crate::sim::engine::load::blocks_held(), served);
        state.fleet.serve(held.model);
        state.fleet.readings(&held)
    }

    /// Advances `fleet` to `at`, whose counters are `counters`, with the work done since its clock.
    fn replay(&self, fleet: &mut Fleet, from: Counts, at: Instant, counters: &[u64]) -> Counts {
        let to = at.saturating_duration_since(self.started).as_secs_f64();
        let span = to - fleet.now();
        if span <= 0.0 {
            return from;
        }
        fleet.advance(to, work(from, counters, span));
        Counts::of(counters)
    }

    /// Number of GPUs.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no GPUs.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// DCGM-exporter text for `readings` (nothing at all without GPUs, as the exporter).
    pub fn text(&self, readings: &[Reading]) -> String {
        if readings.is_empty() {
            return String::new();
        }
        let mut out = String::with_capacity(FIELDS.len() * (200 + readings.len() * 260));
        for (name, kind, help, value) in FIELDS {
            let _ = write!(out, "# HELP {name} {help}\n# TYPE {name} {}\n", kind.as_str());
            for r in readings {
                let xid = if *name == "DCGM_FI_DEV_XID_ERRORS" { XID_NONE } else { "" };
                let _ = match value(r) {
                    Sample::Int(v) => writeln!(out, "{name}{{{}{xid}}} {v}", self.labels[r.index]),
                    Sample::Float(v) => writeln!(out, "{name}{{{}{xid}}} {v:.6}", self.labels[r.index]),
                };
            }
        }
        out
    }

    /// FakeAI's JSON view: `{gpu_0: {...}, ...}`.
    pub fn json(&self, readings: &[Reading], kind: GpuKind) -> Value {
        let spec = kind.spec();
        let gpus = readings.iter().map(|r| {
            let [t50, t90, t99] = r.temp_percentiles;
            let [p50, p90, p99] = r.power_percentiles;
            let gpu = json!({
                "gpu_id": r.index,
                "uuid": self.uuids[r.index],
                "name": spec.name,
                "architecture": spec.architecture,
                "pci_bus_id": pci_bus_id(r.index),
                "pci_device_id": format!("0x{:04X}10DE", spec.pci_device_id),
                "hostname": self.host,
                "driver_version": DRIVER_VERSION,
                "sm_clock_mhz": r.sm_clock_mhz,
                "mem_clock_mhz": r.mem_clock_mhz,
                "temperature_c": round1(r.gpu_temp_c),
                "memory_temperature_c": round1(r.memory_temp_c),
                "power_usage_w": round2(r.power_w),
                "power_limit_w": spec.max_power_w,
                "total_energy_mj": r.energy_mj,
                "gpu_utilization_pct": r.util_pct,
                "memory_utilization_pct": r.mem_copy_util_pct,
                "gr_engine_active": round4(r.gr_engine_active),
                "tensor_active": round4(r.tensor_active),
                "dram_active": round4(r.dram_active),
                "memory_total_mib": r.fb_total_mib,
                "memory_used_mib": r.fb_used_mib,
                "memory_free_mib": r.fb_free_mib,
                "memory_reserved_mib": r.fb_reserved_mib,
                "pcie_tx_bytes_per_s": r.pcie_tx_bytes_per_s,
                "pcie_rx_bytes_per_s": r.pcie_rx_bytes_per_s,
                "nvlink_bytes_total": r.nvlink_bytes,
                "xid_errors": 0,
                "power_violation_ns": r.power_violation_ns,
                "thermal_violation_ns": r.thermal_violation_ns,
                "temp_p50": round1(t50),
                "temp_p90": round1(t90),
                "temp_p99": round1(t99),
                "power_p50": round2(p50),
                "power_p90": round2(p90),
                "power_p99": round2(p99),
            });
            (format!("gpu_{}", r.index), gpu)
        });
        Value::Object(gpus.collect())
    }
}

/// The work done over `span` seconds from `from` to `counters`.
fn work(from: Counts, counters: &[u64], span: f64) -> Work {
    let now = Counts::of(counters);
    let rate = |now: u64, then: u64| now.saturating_sub(then) as f64 / span;
    Work {
        decode_tokens_per_s: rate(now.completion, from.completion),
        prefill_tokens_per_s: rate(now.prompt, from.prompt),
        running: counters[Counter::StreamsActive as usize] as f64,
        busy: None,
    }
}

/// The model the GPUs serve (the one with the most requests; the default size before any) and
/// the KV-cache tokens its running requests hold.
fn served(snap: &Snapshot) -> (ModelSize, f64) {
    let busiest = snap.models.iter().max_by_key(|(_, m)| m.requests).map(|(name, _)| name.as_str());
    let kv_tokens = snap.models.iter().map(|(_, m)| m.kv_tokens.max(0)).sum::<i64>() as f64;
    (busiest.map_or_else(ModelSize::default, ModelSize::of), kv_tokens)
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The labels dcgm-exporter adds to `DCGM_FI_DEV_XID_ERRORS` for XID 0.
const XID_NONE: &str = ",err_code=\"0\",err_msg=\"No Error\"";

/// A metric's type.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        }
    }
}

/// A sample value: DCGM's integer fields print as integers, its doubles with six decimals.
enum Sample {
    Int(u64),
    Float(f64),
}

type Field = (&'static str, Kind, &'static str, fn(&Reading) -> Sample);

/// The fields, in DCGM field-id order: dcgm-exporter 4.x's `default-counters.csv` (help text as
/// there), plus `FB_TOTAL`, `POWER_VIOLATION` and `THERMAL_VIOLATION`, which its CSV lists
/// commented out and AIPerf reads when present.
const FIELDS: &[Field] = &[
    ("DCGM_FI_DEV_SM_CLOCK", Kind::Gauge, "SM clock frequency (in MHz).", |r| Sample::Int(r.sm_clock_mhz)),
    ("DCGM_FI_DEV_MEM_CLOCK", Kind::Gauge, "Memory clock frequency (in MHz).", |r| Sample::Int(r.mem_clock_mhz)),
    ("DCGM_FI_DEV_MEMORY_TEMP", Kind::Gauge, "Memory temperature (in C).", |r| {
        Sample::Int(r.memory_temp_c.round() as u64)
    }),
    ("DCGM_FI_DEV_GPU_TEMP", Kind::Gauge, "GPU temperature (in C).", |r| Sample::Int(r.gpu_temp_c.round() as u64)),
    ("DCGM_FI_DEV_POWER_USAGE", Kind::Gauge, "Power draw (in W).", |r| Sample::Float(r.power_w)),
    ("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", Kind::Counter, "Total energy consumption since boot (in mJ).", |r| {
        Sample::Int(r.energy_mj)
    }),
    ("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", Kind::Counter, "Total number of PCIe retries.", |_| Sample::Int(0)),
    ("DCGM_FI_DEV_GPU_UTIL", Kind::Gauge, "GPU utilization (in %).", |r| Sample::Int(r.util_pct)),
    ("DCGM_FI_DEV_MEM_COPY_UTIL", Kind::Gauge, "Memory utilization (in %).", |r| Sample::Int(r.mem_copy_util_pct)),
    ("DCGM_FI_DEV_ENC_UTIL", Kind::Gauge, "Encoder utilization (in %).", |_| Sample::Int(0)),
    ("DCGM_FI_DEV_DEC_UTIL", Kind::Gauge, "Decoder utilization (in %).", |_| Sample::Int(0)),
    ("DCGM_FI_DEV_XID_ERRORS", Kind::Gauge, "Value of the last XID error encountered.", |_| Sample::Int(0)),
    ("DCGM_FI_DEV_POWER_VIOLATION", Kind::Counter, "Throttling duration due to power constraints (in ns).", |r| {
        Sample::Int(r.power_violation_ns)
    }),
    ("DCGM_FI_DEV_THERMAL_VIOLATION", Kind::Counter, "Throttling duration due to thermal constraints (in ns).", |r| {
        Sample::Int(r.thermal_violation_ns)
    }),
    ("DCGM_FI_DEV_FB_TOTAL", Kind::Gauge, "Framebuffer memory total (in MiB).", |r| Sample::Int(r.fb_total_mib)),
    ("DCGM_FI_DEV_FB_FREE", Kind::Gauge, "Framebuffer memory free (in MiB).", |r| Sample::Int(r.fb_free_mib)),
    ("DCGM_FI_DEV_FB_USED", Kind::Gauge, "Framebuffer memory used (in MiB).", |r| Sample::Int(r.fb_used_mib)),
    ("DCGM_FI_DEV_FB_RESERVED", Kind::Gauge, "Framebuffer memory reserved (in MiB).", |r| {
        Sample::Int(r.fb_reserved_mib)
    }),
    (
        "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS",
        Kind::Counter,
        "Number of remapped rows for uncorrectable errors",
        |_| Sample::Int(0),
    ),
    ("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", Kind::Counter, "Number of remapped rows for correctable errors", |_| {
        Sample::Int(0)
    }),
    ("DCGM_FI_DEV_ROW_REMAP_FAILURE", Kind::Gauge, "Whether remapping of rows has failed", |_| Sample::Int(0)),
    (
        "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL",
        Kind::Counter,
        "Total number of NVLink bandwidth counters for all lanes.",
        |r| Sample::Int(r.nvlink_bytes),
    ),
    ("DCGM_FI_DEV_VGPU_LICENSE_STATUS", Kind::Gauge, "vGPU License status", |_| Sample::Int(0)),
    ("DCGM_FI_PROF_GR_ENGINE_ACTIVE", Kind::Gauge, "Ratio of time the graphics engine is active.", |r| {
        Sample::Float(r.gr_engine_active)
    }),
    ("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", Kind::Gauge, "Ratio of cycles the tensor (HMMA) pipe is active.", |r| {
        Sample::Float(r.tensor_active)
    }),
    (
        "DCGM_FI_PROF_DRAM_ACTIVE",
        Kind::Gauge,
        "Ratio of cycles the device memory interface is active sending or receiving data.",
        |r| Sample::Float(r.dram_active),
    ),
    (
        "DCGM_FI_PROF_PCIE_TX_BYTES",
        Kind::Gauge,
        "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in \
         bytes per second.",
        |r| Sample::Int(r.pcie_tx_bytes_per_s),
    ),
    (
        "DCGM_FI_PROF_PCIE_RX_BYTES",
        Kind::Gauge,
        "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes \
         per second.",
        |r| Sample::Int(r.pcie_rx_bytes_per_s),
    ),
];

/// The fields every scrape carries, by name (for tests and docs).
pub fn field_names() -> impl Iterator<Item = &'static str> {
    FIELDS.iter().map(|(name, ..)| *name)
}

/// This machine's host name (what dcgm-exporter puts in `Hostname`), or `localhost`.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer outlives the call and its length is passed; the kernel NUL-terminates
    // within it or the result is cut at the first NUL below.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    match std::str::from_utf8(&buf[..end]) {
        Ok(name) if ok && !name.is_empty() => name.to_owned(),
        _ => "localhost".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metrics::{Shard, window::Totals};

    fn text_of(t: &Telemetry, at: Instant, window: &RateWindow, shards: &[Shard]) -> String {
        let snap = Snapshot::merge(shards);
        t.text(&t.observe(at, window, &snap))
    }

    #[test]
    fn every_field_has_help_type_and_one_sample_per_gpu() {
        let t0 = Instant::now();
        let t = Telemetry::new(GpuKind::H100, 2, "node-1", false, t0);
        let text = text_of(&t, t0 + Duration::from_secs(1), &RateWindow::new(t0), &[Shard::default()]);
        for name in field_names() {
            assert!(text.contains(&format!("# HELP {name} ")) && text.contains(&format!("# TYPE {name} ")), "{name}");
            assert_eq!(text.lines().filter(|l| l.starts_with(&format!("{name}{{"))).count(), 2, "{name}");
        }
        let power = text.lines().find(|l| l.starts_with("DCGM_FI_DEV_POWER_USAGE{")).unwrap();
        assert!(power.starts_with(&format!(
            "DCGM_FI_DEV_POWER_USAGE{{gpu=\"0\",UUID=\"{}\",pci_bus_id=\"00000000:18:00.0\",device=\"nvidia0\",\
             modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-1\",DCGM_FI_DRIVER_VERSION=\"{DRIVER_VERSION}\"}} 72.000000",
            uuid("node-1", 0)
        )));
        assert!(text.contains(",err_code=\"0\",err_msg=\"No Error\"} 0\n"));
        let lower = Telemetry::new(GpuKind::H100, 1, "node-1", true, t0);
        assert!(text_of(&lower, t0, &RateWindow::new(t0), &[Shard::default()]).contains(",hostname=\"node-1\","));
    }

    #[test]
    fn replays_the_window_so_a_burst_shows_however_rarely_it_is_scraped() {
        let t0 = Instant::now();
        let window = RateWindow::new(t0);
        let shard = Shard::default();
        let s = Duration::from_secs;
        let sample = |at: u64, tokens: u64| {
            let mut totals = Totals::sample(std::slice::from_ref(&shard));
            totals.counters[Counter::CompletionTokens as usize] = tokens;
            window.record(t0 + s(at), totals);
        };
        // Idle for 20 s, then 16,000 tokens/s for 10 s, scraped once at the end.
        for at in 1..=20 {
            sample(at, 0);
        }
        for at in 21..=30 {
            sample(at, (at - 20) * 16_000);
        }
        shard.add(Counter::CompletionTokens, 160_000);
        let t = Telemetry::new(GpuKind::H100, 1, "h", false, t0);
        let r = t.observe(t0 + s(30), &window, &Snapshot::merge(std::slice::from_ref(&shard))).remove(0);
        assert_eq!(r.util_pct, 100, "the last seconds were at full load: {r:?}");
        // 20 s idle (72 W), then ~9 s at 700 W after a ~1 s ramp.
        let expected = 20.0 * 72e3 + 9.0 * 700e3 + 0.5 * 700e3;
        assert!((r.energy_mj as f64 / expected - 1.0).abs() < 0.05, "{} mJ, about {expected}", r.energy_mj);
    }
}
