//! Model profiles (`--model-profile`): a few common model shapes, and what the engine derives
//! from one and the GPU kind (`--gpu`) when `--num-gpu-blocks` and `--step-time` are not given.
//!
//! Per tensor-parallel group of `TP` GPUs (`--tensor-parallel-size`, else the profile's), with
//! `W` the weights' bytes, `K` the KV bytes per token (`2 · layers · kv_heads · head_dim ·
//! kv_dtype_bytes`), `M` one GPU's memory, `u` `--gpu-memory-utilization`, `B` the GPU's memory
//! bandwidth and `F` its dense tensor FLOP/s (doubled for FP8 weights on parts that have FP8):
//!
//! - `num_gpu_blocks = ⌊(TP · (u · M − ACTIVATION_BYTES) − W) / (block_size · K)⌋`, vLLM's
//!   "memory left for the KV cache after the weights and the activations' peak";
//! - step time `a + b·prefill_tokens + c·decode_seqs + d·context_tokens` µs, with
//!   `a = STEP_OVERHEAD_US + W / (TP·B·ETA) (+ ALLREDUCE_US · layers when TP > 1)` (every step
//!   streams the weights once), `b = 2 · active_params / (TP·F·MFU)` (prefill is
//!   compute-bound), `c = SEQ_US · B_H100 / B` (sampling and bookkeeping per sequence),
//!   `d = K / (TP·B·ETA)` (attention reads each decoding sequence's KV once).
//!
//! A profile and GPU with published measurements use coefficients fitted to them instead
//! ([`Profile::fitted`]; `tools/fit_step_time.py`, PERFORMANCE.md "Engine validation").
//! Without `--model-profile` nothing is derived: the `--gpu` preset and `--kv-cache-tokens`
//! apply as before.

use crate::sim::{
    engine::StepTime,
    gpu::{GpuKind, ModelSize, Spec},
};

/// Share of the data-sheet bandwidth a decode step achieves.
pub const ETA: f64 = 0.8;
/// Share of the data-sheet tensor throughput a prefill achieves (model FLOPs utilisation).
pub const MFU: f64 = 0.45;
/// Fixed cost of a step beyond reading the weights: kernel launches, the scheduler, µs.
pub const STEP_OVERHEAD_US: f64 = 300.0;
/// Cost of one layer's all-reduce across a tensor-parallel group, µs (two per layer).
pub const ALLREDUCE_US: f64 = 8.0;
/// Cost per decoding sequence on an H100, µs (scaled by bandwidth for other parts).
pub const SEQ_US: f64 = 50.0;
/// Memory each GPU keeps for activations and CUDA graphs outside the KV cache, bytes.
pub const ACTIVATION_BYTES: f64 = 2.0 * 1024.0 * 1024.0 * 1024.0;

const MIB: f64 = 1024.0 * 1024.0;

/// A named model profile (`--model-profile`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelProfile {
    /// Llama 3.1 8B, BF16, one GPU.
    #[value(name = "llama-3.1-8b")]
    Llama31_8b,
    /// Llama 3.1 70B, BF16, tensor-parallel over 4 GPUs.
    #[value(name = "llama-3.1-70b")]
    Llama31_70b,
    /// Llama 3.3 70B with FP8 weights and KV cache, over 2 GPUs (NVIDIA NIM's H100 profile).
    #[value(name = "llama-3.3-70b-fp8")]
    Llama33_70bFp8,
    /// Qwen2.5 7B, BF16, one GPU.
    #[value(name = "qwen2.5-7b")]
    Qwen25_7b,
    /// Mistral 7B, BF16, one GPU.
    #[value(name = "mistral-7b")]
    Mistral7b,
    /// Mixtral 8x7B (MoE, 12.9B active), BF16, over 2 GPUs.
    #[value(name = "mixtral-8x7b")]
    Mixtral8x7b,
    /// Qwen3 30B-A3B (MoE, 3.3B active), BF16, one GPU.
    #[value(name = "qwen3-30b-a3b")]
    Qwen3_30bA3b,
}

/// One model's shape.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// The name `--model-profile` takes.
    pub name: &'static str,
    /// Parameters, billions (all experts).
    pub params_b: f64,
    /// Parameters used per token, billions (fewer than `params_b` for MoE).
    pub active_params_b: f64,
    /// Bytes per weight (2 for BF16, 1 for FP8).
    pub weight_dtype_bytes: f64,
    /// Transformer layers.
    pub layers: u32,
    /// Query heads (with `head_dim`, attention's width: its FLOPs per token of context).
    pub heads: u32,
    /// Key/value heads (grouped-query attention).
    pub kv_heads: u32,
    /// Dimensions per head.
    pub head_dim: u32,
    /// Bytes per KV element (2 for BF16, 1 for FP8).
    pub kv_dtype_bytes: f64,
    /// GPUs in a tensor-parallel group unless `--tensor-parallel-size` says.
    pub default_tp: u32,
}

impl ModelProfile {
    /// The profile's shape.
    pub fn profile(self) -> &'static Profile {
        match self {
            ModelProfile::Llama31_8b => &LLAMA_31_8B,
            ModelProfile::Llama31_70b => &LLAMA_31_70B,
            ModelProfile::Llama33_70bFp8 => &LLAMA_33_70B_FP8,
            ModelProfile::Qwen25_7b => &QWEN_25_7B,
            ModelProfile::Mistral7b => &MISTRAL_7B,
            ModelProfile::Mixtral8x7b => &MIXTRAL_8X7B,
            ModelProfile::Qwen3_30bA3b => &QWEN3_30B_A3B,
        }
    }
}

const fn shape(
    name: &'static str,
    params_b: f64,
    active_params_b: f64,
    dtype: f64,
    layers: u32,
    kv_heads: u32,
    tp: u32,
) -> Profile {
    Profile {
        name,
        params_b,
        active_params_b,
        weight_dtype_bytes: dtype,
        layers,
        heads: 0,
        kv_heads,
        head_dim: 128,
        kv_dtype_bytes: dtype,
        default_tp: tp,
    }
}

impl Profile {
    /// The profile with `n` query heads (the models' `num_attention_heads`).
    const fn with_heads(self, n: u32) -> Profile {
        Profile { heads: n, ..self }
    }
}

static LLAMA_31_8B: Profile = shape("llama-3.1-8b", 8.03, 8.03, 2.0, 32, 8, 1).with_heads(32);
static LLAMA_31_70B: Profile = shape("llama-3.1-70b", 70.6, 70.6, 2.0, 80, 8, 4).with_heads(64);
static LLAMA_33_70B_FP8: Profile = shape("llama-3.3-70b-fp8", 70.6, 70.6, 1.0, 80, 8, 2).with_heads(64);
static QWEN_25_7B: Profile = shape("qwen2.5-7b", 7.62, 7.62, 2.0, 28, 4, 1).with_heads(28);
static MISTRAL_7B: Profile = shape("mistral-7b", 7.25, 7.25, 2.0, 32, 8, 1).with_heads(32);
static MIXTRAL_8X7B: Profile = shape("mixtral-8x7b", 46.7, 12.9, 2.0, 32, 8, 2).with_heads(32);
static QWEN3_30B_A3B: Profile = shape("qwen3-30b-a3b", 30.5, 3.3, 2.0, 48, 4, 1).with_heads(32);

impl Profile {
    /// Weights, bytes.
    pub fn weight_bytes(&self) -> f64 {
        self.params_b * 1e9 * self.weight_dtype_bytes
    }

    /// KV-cache bytes per token over the whole group (K and V, every layer).
    pub fn kv_bytes_per_token(&self) -> f64 {
        2.0 * f64::from(self.layers) * f64::from(self.kv_heads) * f64::from(self.head_dim) * self.kv_dtype_bytes
    }

    /// The size the fake GPUs scale their capacity by.
    pub fn size(&self) -> ModelSize {
        ModelSize { params_b: self.active_params_b }
    }

    /// KV blocks of `block_size` tokens that fit in a group of `tp` GPUs of `spec` at
    /// `utilisation`, or why none do.
    pub fn num_gpu_blocks(&self, spec: &Spec, tp: u32, utilisation: f64, block_size: u64) -> Result<u64, String> {
        let budget = f64::from(tp) * (utilisation * spec.memory_mib as f64 * MIB - ACTIVATION_BYTES);
        let left = budget - self.weight_bytes();
        let blocks = (left / (block_size.max(1) as f64 * self.kv_bytes_per_token())).floor();
        if blocks < 1.0 {
            return Err(format!(
                "--model-profile {}: {:.1} GB of weights leave no room for the KV cache on {tp} × {} at \
                 --gpu-memory-utilization {utilisation} (raise --tensor-parallel-size)",
                self.name,
                self.weight_bytes() / 1e9,
                spec.name
            ));
        }
        Ok(blocks as u64)
    }

    /// The step-time coefficients of a group of `tp` GPUs of `kind`: fitted ones where
    /// published measurements exist, else the module's formula.
    pub fn step_time(&self, kind: GpuKind, tp: u32) -> StepTime {
        self.fitted(kind, tp).unwrap_or_else(|| self.derived_step_time(kind.spec(), tp))
    }

    /// The module's formula for a group of `tp` GPUs of `spec`.
    pub fn derived_step_time(&self, spec: &Spec, tp: u32) -> StepTime {
        let tp = f64::from(tp.max(1));
        let bandwidth = tp * spec.mem_bandwidth * ETA;
        let fp8 = self.weight_dtype_bytes < 2.0 && spec.fp8;
        let flops = tp * spec.bf16_flops * if fp8 { 2.0 } else { 1.0 } * MFU;
        let allreduce = if tp > 1.0 { ALLREDUCE_US * f64::from(self.layers) } else { 0.0 };
        StepTime {
            a: STEP_OVERHEAD_US + self.weight_bytes() / bandwidth * 1e6 + allreduce,
            b: 2.0 * self.active_params_b * 1e9 / flops * 1e6,
            c: SEQ_US * 3.35e12 / spec.mem_bandwidth,
            d: self.kv_bytes_per_token() / bandwidth * 1e6,
        }
    }

    /// Coefficients fitted to published measurements of this profile on `tp` GPUs of `kind`
    /// (tools/fit_step_time.py; inputs and citations in tools/data/).
    pub fn fitted(&self, kind: GpuKind, tp: u32) -> Option<StepTime> {
        FITTED.iter().find(|(n, k, t, _)| *n == self.name && *k == kind && *t == tp).map(|(.., s)| *s)
    }
}

/// (profile, GPU, TP, coefficients) fitted by tools/fit_step_time.py: `a` and `b` fitted, `c`
/// and `d` the formula's (one prompt length cannot tell them apart from `b`).
const FITTED: &[(&str, GpuKind, u32, StepTime)] = &[
    // NVIDIA NIM 1.8.0, Llama-3.3-70B-Instruct, 2 × H100 80G, FP8, TP2, 5000 in / 500 out:
    // tools/data/nim_llama33_70b_fp8_2xh100.csv. The fit's closed form is within 4 % of the
    // published ITL; the simulator runs 6–14 % low on ITL and 50–107 % high on TTFT at 5–50
    // clients (PERFORMANCE.md, "Engine validation (issue 18)").
    ("llama-3.3-70b-fp8", GpuKind::H100, 2, StepTime { a: 17_216.6, b: 68.262, c: 50.0, d: 0.0306 }),
];

impl std::str::FromStr for ModelProfile {
    type Err = String;

    /// The profile's `--model-profile` name, any case.
    fn from_str(s: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(s.trim(), true).map_err(|_| format!("unknown model profile {s:?}"))
    }
}

/// Fills in what `args.model_profile` derives and the flags left unset: `num_gpu_blocks` (of
/// one tensor-parallel group) and `step_time`. Nothing without a profile.
pub fn apply(args: &mut crate::config::ServerArgs) -> Result<(), String> {
    let Some(profile) = args.model_profile else { return Ok(()) };
    let u = args.gpu_memory_utilization;
    if !(u > 0.0 && u <= 1.0) {
        return Err(format!("gpu_memory_utilization {u} is not a share in (0, 1]"));
    }
    let p = profile.profile();
    let tp = args.tensor_parallel_size.unwrap_or(p.default_tp).max(1);
    if args.num_gpu_blocks.is_none() {
        let blocks = p.num_gpu_blocks(args.gpu.spec(), tp, u, args.kv_cache_block_size)?;
        args.num_gpu_blocks = Some(u32::try_from(blocks).unwrap_or(u32::MAX));
    }
    args.step_time.get_or_insert_with(|| p.step_time(args.gpu, tp));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_8b_on_an_h100_matches_the_preset_it_replaces() {
        let p = ModelProfile::Llama31_8b.profile();
        assert_eq!(p.kv_bytes_per_token(), 131_072.0);
        let t = p.derived_step_time(GpuKind::H100.spec(), 1);
        let preset = StepTime::preset(GpuKind::H100);
        for (got, want) in [(t.a, preset.a), (t.b, preset.b), (t.c, preset.c), (t.d, preset.d)] {
            assert!((got / want - 1.0).abs() < 0.25, "{t:?} vs {preset:?}");
        }
        // 0.9 × 80 GB − 2 GiB − 16 GB of weights, in blocks of 16 × 128 KiB.
        let blocks = p.num_gpu_blocks(GpuKind::H100.spec(), 1, 0.9, 16).unwrap();
        assert!((26_000..29_000).contains(&blocks), "{blocks}");
    }

    #[test]
    fn bigger_models_and_slower_parts_take_longer_and_hold_fewer_blocks() {
        let step =
            |p: ModelProfile, g: GpuKind, tp| p.profile().derived_step_time(g.spec(), tp).duration(512, 64, 65_536);
        assert!(step(ModelProfile::Llama31_70b, GpuKind::H100, 4) > step(ModelProfile::Llama31_8b, GpuKind::H100, 1));
        assert!(step(ModelProfile::Llama31_8b, GpuKind::A100, 1) > step(ModelProfile::Llama31_8b, GpuKind::H100, 1));
        assert!(step(ModelProfile::Qwen3_30bA3b, GpuKind::H100, 1) < step(ModelProfile::Llama31_70b, GpuKind::H100, 4));
        let blocks = |p: ModelProfile, tp| p.profile().num_gpu_blocks(GpuKind::H100.spec(), tp, 0.9, 16);
        assert!(blocks(ModelProfile::Llama31_70b, 4).unwrap() < blocks(ModelProfile::Llama31_8b, 1).unwrap() * 4);
        assert!(blocks(ModelProfile::Llama31_70b, 8).unwrap() > blocks(ModelProfile::Llama31_70b, 4).unwrap());
    }

    #[test]
    fn the_fitted_profile_uses_its_fit_and_stays_near_the_formula() {
        let p = ModelProfile::Llama33_70bFp8.profile();
        let fitted = p.step_time(GpuKind::H100, 2);
        assert_eq!(fitted.a, 17_216.6);
        let formula = p.derived_step_time(GpuKind::H100.spec(), 2);
        assert!((fitted.a / formula.a - 1.0).abs() < 0.3 && (fitted.b / formula.b - 1.0).abs() < 0.3, "{formula:?}");
        assert!((fitted.d / formula.d - 1.0).abs() < 0.01);
        assert_eq!(p.step_time(GpuKind::H100, 4), p.derived_step_time(GpuKind::H100.spec(), 4), "fit is per TP");
        // ~87 sequences of 5,500 tokens fit in the KV cache: the published ITL plateaus there.
        let tokens = p.num_gpu_blocks(GpuKind::H100.spec(), 2, 0.9, 16).unwrap() * 16;
        assert_eq!(tokens / 5_500, 87);
    }

    #[test]
    fn a_model_too_big_for_its_group_is_refused_with_a_reason() {
        let p = ModelProfile::Llama31_70b.profile();
        let err = p.num_gpu_blocks(GpuKind::H100.spec(), 1, 0.9, 16).unwrap_err();
        assert!(err.contains("--tensor-parallel-size"), "{err}");
        assert!(p.num_gpu_blocks(GpuKind::H100.spec(), p.default_tp, 0.9, 16).is_ok());
        assert_eq!("Llama-3.1-70B".parse::<ModelProfile>(), Ok(ModelProfile::Llama31_70b));
    }
}
