//! Fake GPUs whose telemetry follows the load: a pure model (give it times and work, read its
//! values), deterministic for a given history.
//!
//! The work offered to the fleet ([`Work`]: tokens decoded and prefilled per second, sequences
//! running) is spread evenly over the GPUs and smoothed over DCGM's ~1 s sample period. From it:
//! - *load* = decode tokens/s (+ prompt tokens/s ÷ [`PREFILL_SPEEDUP`]) per GPU over the GPU's
//!   capacity for the served model ([`Spec::peak_tokens_per_s`] ÷ the model's size over 8B), or
//!   the batch per GPU over [`SATURATING_BATCH`] if that is larger, capped at 1;
//! - utilisation (`GPU_UTIL`, `GR_ENGINE_ACTIVE`) = √load: a decoding GPU runs kernels for a
//!   larger share of the time than the share of its throughput it uses;
//! - power = idle + (limit − idle) × (0.35 utilisation + 0.65 load); energy is its integral;
//! - temperatures approach ambient + (load temperature − ambient) × power/limit with first-order
//!   lags of [`GPU_TAU`] and [`MEMORY_TAU`];
//! - memory = the model's weights + the KV cache in use, both split over the GPUs.
//!
//! Offered load beyond capacity counts as power-limited time (`DCGM_FI_DEV_POWER_VIOLATION`).
//!
//! With the engine on, [`Work::busy`] carries the share of wall time the engine spent in steps
//! and replaces the guess: utilisation = that share (a GPU running steps back to back is busy
//! whatever its batch), load = the token-rate load above capped by it (power still grows with
//! the batch), and memory is the engine's own account ([`Held::bytes_per_gpu`]).

mod model_size;
mod spec;

use std::collections::VecDeque;

pub use model_size::{DEFAULT_PARAMS_B, ModelSize};
pub use spec::{GpuKind, Spec, pci_bus_id, uuid};

/// Seconds over which utilisation and power follow a change of work (DCGM samples ~1 s).
pub const SAMPLE_TAU: f64 = 1.0;
/// Thermal time constant of the GPU die, s.
pub const GPU_TAU: f64 = 25.0;
/// Thermal time constant of the memory, s.
pub const MEMORY_TAU: f64 = 45.0;
/// How many prompt tokens cost the GPU time of one decoded token (prefill is batched and
/// compute-bound).
pub const PREFILL_SPEEDUP: f64 = 10.0;
/// Sequences per GPU that keep it fully busy whatever their token rate.
pub const SATURATING_BATCH: f64 = 256.0;
/// Inlet temperature, °C (each GPU's slot adds 0–4 °C).
pub const AMBIENT_C: f64 = 27.0;
/// NVLink traffic of a fully loaded GPU in a tensor-parallel group, bytes/s.
const NVLINK_BYTES_PER_S: f64 = 50e9;
/// PCIe traffic of an idle GPU (driver and monitoring), bytes/s each way.
const PCIE_IDLE_BYTES_PER_S: f64 = 40_000.0;
/// PCIe bytes per token moved (ids in, sampled ids and logprobs out).
const PCIE_BYTES_PER_TOKEN: f64 = 8.0;
/// Points of (temperature, power) kept for the JSON view's percentiles.
const HISTORY: usize = 300;
/// Shortest integration step, s.
const MIN_STEP: f64 = 0.05;

/// Work offered to the whole fleet, constant over the interval it is given for.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Work {
    /// Tokens generated per second.
    pub decode_tokens_per_s: f64,
    /// Prompt tokens prefilled per second.
    pub prefill_tokens_per_s: f64,
    /// Sequences running (the batch, all GPUs together).
    pub running: f64,
    /// With the engine on: the share of the interval it spent running steps, 0–1.
    pub busy: Option<f64>,
}

/// What the fleet holds in memory at the time of a reading.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Held {
    /// The served model (its weights are split over the GPUs).
    pub model: ModelSize,
    /// KV-cache tokens in use (context of the running sequences).
    pub kv_tokens: f64,
    /// With the engine on and a model profile: the bytes each GPU holds by the engine's account
    /// (weights and KV blocks held, over the tensor-parallel group), instead of the estimate
    /// from `model` and `kv_tokens`.
    pub bytes_per_gpu: Option<f64>,
}

/// One GPU's values, as DCGM would report them.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Index (`gpu` label).
    pub index: usize,
    /// `DCGM_FI_DEV_GPU_UTIL`, %.
    pub util_pct: u64,
    /// `DCGM_FI_DEV_MEM_COPY_UTIL`, %.
    pub mem_copy_util_pct: u64,
    /// `DCGM_FI_PROF_GR_ENGINE_ACTIVE`, ratio.
    pub gr_engine_active: f64,
    /// `DCGM_FI_PROF_PIPE_TENSOR_ACTIVE`, ratio.
    pub tensor_active: f64,
    /// `DCGM_FI_PROF_DRAM_ACTIVE`, ratio.
    pub dram_active: f64,
    /// `DCGM_FI_DEV_POWER_USAGE`, W.
    pub power_w: f64,
    /// `DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION`, mJ since the fleet started.
    pub energy_mj: u64,
    /// `DCGM_FI_DEV_SM_CLOCK`, MHz.
    pub sm_clock_mhz: u64,
    /// `DCGM_FI_DEV_MEM_CLOCK`, MHz.
    pub mem_clock_mhz: u64,
    /// `DCGM_FI_DEV_GPU_TEMP`, °C (unrounded).
    pub gpu_temp_c: f64,
    /// `DCGM_FI_DEV_MEMORY_TEMP`, °C (unrounded).
    pub memory_temp_c: f64,
    /// `DCGM_FI_DEV_FB_TOTAL`, MiB.
    pub fb_total_mib: u64,
    /// `DCGM_FI_DEV_FB_USED`, MiB.
    pub fb_used_mib: u64,
    /// `DCGM_FI_DEV_FB_FREE`, MiB.
    pub fb_free_mib: u64,
    /// `DCGM_FI_DEV_FB_RESERVED`, MiB.
    pub fb_reserved_mib: u64,
    /// `DCGM_FI_PROF_PCIE_TX_BYTES`, bytes/s.
    pub pcie_tx_bytes_per_s: u64,
    /// `DCGM_FI_PROF_PCIE_RX_BYTES`, bytes/s.
    pub pcie_rx_bytes_per_s: u64,
    /// `DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL`, bytes since the fleet started.
    pub nvlink_bytes: u64,
    /// `DCGM_FI_DEV_POWER_VIOLATION`, ns power-limited.
    pub power_violation_ns: u64,
    /// `DCGM_FI_DEV_THERMAL_VIOLATION`, ns thermally limited.
    pub thermal_violation_ns: u64,
    /// Temperature percentiles (p50, p90, p99) over the recent history, °C.
    pub temp_percentiles: [f64; 3],
    /// Power percentiles (p50, p90, p99) over the recent history, W.
    pub power_percentiles: [f64; 3],
}

/// One GPU's state.
#[derive(Debug, Clone)]
struct Gpu {
    ambient_c: f64,
    temp_c: f64,
    memory_temp_c: f64,
    energy_mj: f64,
    nvlink_bytes: f64,
    power_violation_ns: f64,
    thermal_violation_ns: f64,
    history: VecDeque<(f64, f64)>,
}

/// The simulated GPUs of one host.
#[derive(Debug, Clone)]
pub struct Fleet {
    spec: &'static Spec,
    gpus: Vec<Gpu>,
    /// The model's clock, s: everything up to here is integrated.
    now: f64,
    /// The offered work as the GPUs see it (smoothed over [`SAMPLE_TAU`]).
    work: Work,
    /// The served model (sets the capacity).
    model: ModelSize,
}

impl Fleet {
    /// `count` idle GPUs of `kind` at time `now` (s), at their idle temperatures.
    pub fn new(kind: GpuKind, count: usize, now: f64) -> Fleet {
        let spec = kind.spec();
        let gpus = (0..count)
            .map(|i| {
                // Slots differ a little in airflow: a fixed offset per index, never noise.
                let ambient_c = AMBIENT_C + ((i * 3) % 5) as f64;
                let mut gpu = Gpu {
                    ambient_c,
                    temp_c: 0.0,
                    memory_temp_c: 0.0,
                    energy_mj: 0.0,
                    nvlink_bytes: 0.0,
                    power_violation_ns: 0.0,
                    thermal_violation_ns: 0.0,
                    history: VecDeque::new(),
                };
                (gpu.temp_c, gpu.memory_temp_c) = steady_temps(spec, ambient_c, spec.idle_power_w);
                gpu
            })
            .collect();
        Fleet { spec, gpus, now, work: Work::default(), model: ModelSize::default() }
    }

    /// The GPUs' kind.
    pub fn spec(&self) -> &'static Spec {
        self.spec
    }

    /// Number of GPUs.
    pub fn len(&self) -> usize {
        self.gpus.len()
    }

    /// Whether there are no GPUs.
    pub fn is_empty(&self) -> bool {
        self.gpus.is_empty()
    }

    /// The model's clock, s.
    pub fn now(&self) -> f64 {
        self.now
    }

    /// Serves `model` from now on (its size sets the capacity).
    pub fn serve(&mut self, model: ModelSize) {
        self.model = model;
    }

    /// Integrates up to `to` (s) with `work` offered since the last call. A time not after the
    /// clock changes nothing.
    pub fn advance(&mut self, to: f64, work: Work) {
        let span = to - self.now;
        if span.is_nan() || span <= 0.0 {
            return;
        }
        // Steps grow with the time into the interval: a long quiet gap costs tens of steps,
        // while the first second after a change is followed closely.
        let mut done = 0.0;
        while done < span {
            let h = (span - done).min((0.25 * done).max(MIN_STEP));
            self.step(h, work);
            done += h;
        }
        self.now = to;
        let power = self.power();
        for gpu in &mut self.gpus {
            if gpu.history.len() == HISTORY {
                gpu.history.pop_front();
            }
            gpu.history.push_back((gpu.temp_c, power));
        }
    }

    /// One integration step of `h` seconds.
    fn step(&mut self, h: f64, offered: Work) {
        let p0 = self.power();
        let follow = 1.0 - (-h / SAMPLE_TAU).exp();
        let w = &mut self.work;
        w.decode_tokens_per_s += (offered.decode_tokens_per_s - w.decode_tokens_per_s) * follow;
        w.prefill_tokens_per_s += (offered.prefill_tokens_per_s - w.prefill_tokens_per_s) * follow;
        w.running += (offered.running - w.running) * follow;
        w.busy = offered.busy.map(|b| {
            let from = w.busy.unwrap_or(0.0);
            from + (b.clamp(0.0, 1.0) - from) * follow
        });
        let (p1, saturated) = (self.power(), self.demand() >= 1.0);
        let mean_power = (p0 + p1) / 2.0;
        let nvlink = if self.gpus.len() > 1 { NVLINK_BYTES_PER_S * self.load() } else { 0.0 };
        let spec = self.spec;
        for gpu in &mut self.gpus {
            gpu.energy_mj += mean_power * h * 1e3;
            gpu.nvlink_bytes += nvlink * h;
            let (temp, memory_temp) = steady_temps(spec, gpu.ambient_c, mean_power);
            gpu.temp_c += (temp - gpu.temp_c) * (1.0 - (-h / GPU_TAU).exp());
            gpu.memory_temp_c += (memory_temp - gpu.memory_temp_c) * (1.0 - (-h / MEMORY_TAU).exp());
            if saturated {
                gpu.power_violation_ns += h * 1e9;
            }
            if gpu.temp_c >= spec.slowdown_temp_c {
                gpu.thermal_violation_ns += h * 1e9;
            }
        }
    }

    /// Offered work per GPU over its capacity (may exceed 1).
    fn demand(&self) -> f64 {
        let n = self.gpus.len().max(1) as f64;
        let capacity = self.spec.peak_tokens_per_s / self.model.cost_per_token();
        let tokens = self.work.decode_tokens_per_s + self.work.prefill_tokens_per_s / PREFILL_SPEEDUP;
        (tokens / n / capacity).max(self.work.running / n / SATURATING_BATCH)
    }

    /// The share of capacity in use, 0–1.
    pub fn load(&self) -> f64 {
        let load = self.demand().clamp(0.0, 1.0);
        self.work.busy.map_or(load, |busy| load.min(busy))
    }

    /// The share of time a kernel runs, 0–1: the engine's busy share, else √load.
    fn utilisation(&self) -> f64 {
        self.work.busy.unwrap_or_else(|| self.load().sqrt())
    }

    /// Each GPU's power draw now, W.
    fn power(&self) -> f64 {
        let s = self.spec;
        s.idle_power_w + (s.max_power_w - s.idle_power_w) * (0.35 * self.utilisation() + 0.65 * self.load())
    }

    /// Every GPU's values now, holding `held`.
    pub fn readings(&self, held: &Held) -> Vec<Reading> {
        let s = self.spec;
        let n = self.gpus.len().max(1) as f64;
        let (load, util, power) = (self.load(), self.utilisation(), self.power());
        let usable = s.memory_mib - s.reserved_mib;
        let estimate = (held.model.weight_bytes() + held.kv_tokens.max(0.0) * held.model.kv_bytes_per_token()) / n;
        let bytes = held.bytes_per_gpu.unwrap_or(estimate).max(0.0);
        let used = ((bytes / MIB).round() as u64).min(usable);
        let dram = 0.8 * util;
        let boost = if self.demand() >= 1.0 { 0.95 } else { 1.0 };
        let sm_clock = s.idle_sm_clock_mhz as f64
            + (s.max_sm_clock_mhz as f64 * boost - s.idle_sm_clock_mhz as f64) * (util * 5.0).min(1.0);
        let per_gpu = |tokens: f64| PCIE_IDLE_BYTES_PER_S + PCIE_BYTES_PER_TOKEN * tokens / n;
        let w = &self.work;
        self.gpus
            .iter()
            .enumerate()
            .map(|(index, gpu)| Reading {
                index,
                util_pct: (util * 100.0).round() as u64,
                mem_copy_util_pct: (dram * 100.0).round() as u64,
                gr_engine_active: util,
                tensor_active: 0.7 * load,
                dram_active: dram,
                // NVML reports milliwatts.
                power_w: (power * 1e3).round() / 1e3,
                energy_mj: gpu.energy_mj as u64,
                sm_clock_mhz: sm_clock.round() as u64,
                mem_clock_mhz: s.mem_clock_mhz as u64,
                gpu_temp_c: gpu.temp_c,
                memory_temp_c: gpu.memory_temp_c,
                fb_total_mib: s.memory_mib,
                fb_used_mib: used,
                fb_free_mib: usable - used,
                fb_reserved_mib: s.reserved_mib,
                pcie_tx_bytes_per_s: per_gpu(w.decode_tokens_per_s) as u64,
                pcie_rx_bytes_per_s: per_gpu(w.decode_tokens_per_s + w.prefill_tokens_per_s) as u64,
                nvlink_bytes: gpu.nvlink_bytes as u64,
                power_violation_ns: gpu.power_violation_ns as u64,
                thermal_violation_ns: gpu.thermal_violation_ns as u64,
                temp_percentiles: percentiles(gpu.history.iter().map(|(t, _)| *t), gpu.temp_c),
                power_percentiles: percentiles(gpu.history.iter().map(|(_, p)| *p), power),
            })
            .collect()
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// Steady (GPU, memory) temperatures at `power` W.
fn steady_temps(spec: &Spec, ambient_c: f64, power: f64) -> (f64, f64) {
    let share = power / spec.max_power_w;
    (ambient_c + (spec.load_temp_c - AMBIENT_C) * share, ambient_c + (spec.load_mem_temp_c - AMBIENT_C) * share)
}

/// p50, p90, p99 by sorted index (FakeAI's way); `now` when there is no history yet.
fn percentiles(values: impl Iterator<Item = f64>, now: f64) -> [f64; 3] {
    let mut v: Vec<f64> = values.collect();
    if v.is_empty() {
        return [now; 3];
    }
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)];
    [at(0.5), at(0.9), at(0.99)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn busy(tokens: f64) -> Work {
        Work { decode_tokens_per_s: tokens, ..Work::default() }
    }

    fn first(f: &Fleet) -> Reading {
        f.readings(&Held::default()).remove(0)
    }

    #[test]
    fn idle_gpus_sit_at_idle_power_and_clocks() {
        let mut f = Fleet::new(GpuKind::H100, 4, 0.0);
        f.advance(60.0, Work::default());
        let r = first(&f);
        assert_eq!((r.util_pct, r.power_w, r.sm_clock_mhz), (0, 72.0, 345));
        assert!((r.gpu_temp_c - 31.5).abs() < 0.1, "{}", r.gpu_temp_c);
        assert!(r.energy_mj.abs_diff(72 * 60 * 1000) <= 1, "{}", r.energy_mj);
    }

    #[test]
    fn utilisation_and_power_rise_with_load() {
        let mut last = (0, 0.0);
        for tokens in [1_000.0, 8_000.0, 32_000.0, 64_000.0] {
            let mut f = Fleet::new(GpuKind::H100, 4, 0.0);
            f.advance(30.0, busy(tokens));
            let r = first(&f);
            assert!(r.util_pct > last.0 && r.power_w > last.1, "{tokens}: {r:?}");
            assert!(r.power_w <= 700.0 && r.util_pct <= 100);
            last = (r.util_pct, r.power_w);
        }
        assert_eq!(last, (100, 700.0), "4 × 16,000 tokens/s fill four H100s");
    }

    #[test]
    fn power_follows_within_seconds_and_temperature_lags() {
        let mut f = Fleet::new(GpuKind::H100, 1, 0.0);
        let idle = first(&f);
        f.advance(0.5, busy(16_000.0));
        let half_second = first(&f);
        assert!(half_second.power_w > 200.0 && half_second.power_w < 700.0, "{half_second:?}");
        f.advance(5.0, busy(16_000.0));
        let five = first(&f);
        assert!(five.power_w > 695.0, "power settles within a few seconds: {}", five.power_w);
        let rise = five.gpu_temp_c - idle.gpu_temp_c;
        assert!(rise > 3.0 && rise < 15.0, "temperature has only begun to rise: {rise}");
        f.advance(200.0, busy(16_000.0));
        assert!((first(&f).gpu_temp_c - 71.0).abs() < 0.1, "and settles at the load temperature");
        assert!(first(&f).memory_temp_c > first(&f).gpu_temp_c);
        f.advance(205.0, Work::default());
        let cooling = first(&f);
        assert!(cooling.power_w < 100.0 && cooling.gpu_temp_c > 60.0, "cools slowly after the load: {cooling:?}");
    }

    #[test]
    fn energy_is_monotonic_and_integrates_power() {
        let mut f = Fleet::new(GpuKind::A100, 2, 10.0);
        let mut last = 0;
        let mut t = 10.0;
        for (i, tokens) in [0.0, 20_000.0, 5_000.0, 0.0, 40_000.0].iter().enumerate() {
            t += 1.0 + i as f64;
            f.advance(t, busy(*tokens));
            let e = first(&f).energy_mj;
            assert!(e > last, "energy only grows: {e} after {last}");
            last = e;
        }
        let mut steady = Fleet::new(GpuKind::A100, 2, 0.0);
        steady.advance(1000.0, busy(16_000.0));
        steady.advance(1010.0, busy(16_000.0));
        let before = first(&steady).energy_mj;
        steady.advance(1020.0, busy(16_000.0));
        let spent = first(&steady).energy_mj - before;
        assert!(spent.abs_diff(400 * 10 * 1000) <= 1, "full load: 400 W for 10 s, not {spent} mJ");
    }

    #[test]
    fn the_same_history_gives_the_same_values_however_it_is_sampled() {
        let mut coarse = Fleet::new(GpuKind::H200, 2, 0.0);
        coarse.advance(10.0, busy(30_000.0));
        let mut fine = Fleet::new(GpuKind::H200, 2, 0.0);
        for i in 1..=40 {
            fine.advance(i as f64 * 0.25, busy(30_000.0));
        }
        let (a, b) = (first(&coarse), first(&fine));
        assert!((a.gpu_temp_c - b.gpu_temp_c).abs() < 0.05, "{} vs {}", a.gpu_temp_c, b.gpu_temp_c);
        assert!((a.energy_mj as f64 / b.energy_mj as f64 - 1.0).abs() < 0.01);
        assert_eq!(a.util_pct, b.util_pct);
    }

    #[test]
    fn memory_holds_weights_and_kv_within_the_total() {
        let f = Fleet::new(GpuKind::H100, 2, 0.0);
        let model = ModelSize::of("meta-llama/Llama-3.1-70B-Instruct");
        let idle = f.readings(&Held { model, kv_tokens: 0.0, ..Held::default() }).remove(0);
        assert_eq!(idle.fb_used_mib, (70e9 * 2.0 / 2.0 / MIB).round() as u64);
        let busy = f.readings(&Held { model, kv_tokens: 50_000.0, ..Held::default() }).remove(0);
        assert!(busy.fb_used_mib > idle.fb_used_mib);
        let huge =
            f.readings(&Held { model: ModelSize::of("deepseek-r1"), kv_tokens: 1e9, ..Held::default() }).remove(0);
        for r in [idle, busy, huge] {
            assert_eq!(r.fb_used_mib + r.fb_free_mib + r.fb_reserved_mib, r.fb_total_mib, "{r:?}");
        }
    }

    #[test]
    fn overload_counts_as_power_limited_time() {
        let mut f = Fleet::new(GpuKind::L40s, 1, 0.0);
        f.advance(10.0, busy(4_000.0));
        assert_eq!(first(&f).power_violation_ns, 0);
        f.advance(20.0, busy(50_000.0));
        let r = first(&f);
        assert!(r.power_violation_ns > 8_000_000_000, "{r:?}");
        assert!(r.sm_clock_mhz < 2520, "clocks drop when power-limited");
    }

    #[test]
    fn with_the_engine_utilisation_is_its_busy_share_and_power_grows_with_the_batch() {
        let engine = |busy: f64, tokens: f64| Work { decode_tokens_per_s: tokens, busy: Some(busy), ..Work::default() };
        let mut one_stream = Fleet::new(GpuKind::H100, 1, 0.0);
        one_stream.advance(30.0, engine(1.0, 200.0));
        let mut full_batch = Fleet::new(GpuKind::H100, 1, 0.0);
        full_batch.advance(30.0, engine(1.0, 16_000.0));
        let (one, full) = (first(&one_stream), first(&full_batch));
        assert_eq!((one.util_pct, full.util_pct), (100, 100), "steps back to back keep the GPU busy");
        assert!(one.power_w > 250.0 && one.power_w < 350.0 && full.power_w == 700.0, "{one:?} {full:?}");
        let mut half = Fleet::new(GpuKind::H100, 1, 0.0);
        half.advance(30.0, engine(0.5, 16_000.0));
        assert_eq!(first(&half).util_pct, 50);
        half.advance(60.0, engine(0.0, 0.0));
        assert_eq!((first(&half).util_pct, first(&half).power_w), (0, 72.0), "idle again");
        let held = Held { bytes_per_gpu: Some(40e9), ..Held::default() };
        let r = half.readings(&held).remove(0);
        assert_eq!(r.fb_used_mib, (40e9 / MIB).round() as u64);
        assert_eq!(r.fb_used_mib + r.fb_free_mib + r.fb_reserved_mib, r.fb_total_mib);
    }

    #[test]
    fn a_batch_keeps_the_gpu_busy_and_gpus_differ_only_by_slot() {
        let mut f = Fleet::new(GpuKind::B200, 8, 0.0);
        f.advance(60.0, Work { running: 8.0 * 256.0, ..Work::default() });
        let rs = f.readings(&Held::default());
        assert!(rs.iter().all(|r| r.util_pct == 100 && r.nvlink_bytes > 0));
        assert_ne!(rs[0].gpu_temp_c, rs[1].gpu_temp_c);
        assert_eq!(rs[0].energy_mj, rs[1].energy_mj);
    }
}
