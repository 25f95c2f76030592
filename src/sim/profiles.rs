//! Per-model latency presets (FakeAI's latency-profile table), used when `--ttft`/`--itl` are
//! not set explicitly.

use super::Latency;

/// A model's typical timing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
    /// Time to first token.
    pub ttft: Latency,
    /// Inter-token latency.
    pub itl: Latency,
    /// Prefill speed in prompt tokens per second, charged beyond the first 100 prompt tokens.
    pub prefill_tps: f64,
}

/// (names, TTFT ms, TTFT σ, ITL ms, ITL σ, prefill tok/s).
type Row = (&'static [&'static str], f64, f64, f64, f64, f64);

const TABLE: &[Row] = &[
    (&["gpt-4"], 800.0, 150.0, 35.0, 8.0, 500.0),
    (&["gpt-4-turbo"], 400.0, 80.0, 20.0, 5.0, 800.0),
    (&["gpt-4-turbo-preview"], 420.0, 85.0, 22.0, 5.0, 750.0),
    (&["gpt-4o"], 250.0, 50.0, 15.0, 3.0, 1200.0),
    (&["gpt-4o-mini"], 180.0, 35.0, 10.0, 2.0, 1500.0),
    (&["gpt-3.5-turbo"], 200.0, 40.0, 10.0, 2.0, 1200.0),
    (&["gpt-3.5-turbo-16k"], 220.0, 45.0, 11.0, 2.5, 1100.0),
    (&["openai/gpt-oss-120b", "gpt-oss-120b"], 600.0, 120.0, 28.0, 6.0, 600.0),
    (&["openai/gpt-oss-20b", "gpt-oss-20b"], 300.0, 60.0, 15.0, 3.0, 1000.0),
    (&["deepseek-ai/DeepSeek-R1"], 700.0, 140.0, 30.0, 7.0, 550.0),
    (&["deepseek-ai/DeepSeek-R1-Distill-Qwen-32B"], 350.0, 70.0, 16.0, 3.5, 900.0),
    (&["deepseek-v3"], 700.0, 140.0, 30.0, 7.0, 550.0),
    (&["mixtral-8x7b", "mistralai/Mixtral-8x7B-Instruct-v0.1"], 380.0, 75.0, 18.0, 4.0, 850.0),
    (&["mixtral-8x22b"], 550.0, 110.0, 25.0, 5.5, 650.0),
    (&["claude-3-opus-20240229"], 850.0, 170.0, 38.0, 8.5, 480.0),
    (&["claude-3-sonnet-20240229"], 450.0, 90.0, 22.0, 5.0, 750.0),
    (&["claude-3-haiku-20240307"], 220.0, 45.0, 12.0, 2.5, 1300.0),
    (&["meta-llama/Llama-2-7b-chat-hf"], 150.0, 30.0, 8.0, 1.5, 1800.0),
    (&["meta-llama/Llama-2-13b-chat-hf"], 220.0, 45.0, 12.0, 2.5, 1400.0),
    (&["meta-llama/Llama-2-70b-chat-hf"], 500.0, 100.0, 24.0, 5.0, 700.0),
    (&["meta-llama/Llama-3.1-8B-Instruct"], 140.0, 28.0, 7.5, 1.5, 1900.0),
    (&["meta-llama/Llama-3.1-70B-Instruct"], 480.0, 95.0, 23.0, 5.0, 720.0),
    (&["meta-llama/Llama-3.1-405B-Instruct"], 900.0, 180.0, 42.0, 9.0, 450.0),
    (&["mistralai/Mistral-7B-Instruct-v0.2"], 145.0, 30.0, 8.0, 1.5, 1850.0),
    (&["gemini-pro"], 350.0, 70.0, 17.0, 3.5, 900.0),
    (&["gemini-pro-vision"], 450.0, 90.0, 22.0, 4.5, 700.0),
    (&["command-r"], 320.0, 65.0, 16.0, 3.0, 950.0),
    (&["command-r-plus"], 480.0, 95.0, 23.0, 5.0, 720.0),
    (&["nvidia/llama-3.1-nemotron-70b-instruct"], 280.0, 55.0, 14.0, 3.0, 1100.0),
    (&["01-ai/Yi-34B-Chat"], 360.0, 72.0, 17.5, 3.5, 880.0),
    (&["Qwen/Qwen2-7B-Instruct"], 155.0, 31.0, 8.5, 1.7, 1750.0),
    (&["Qwen/Qwen2-72B-Instruct"], 490.0, 98.0, 23.5, 5.0, 710.0),
    (&["microsoft/Phi-3-mini-4k-instruct"], 90.0, 18.0, 5.0, 1.0, 2500.0),
    (&["microsoft/Phi-3-medium-4k-instruct"], 190.0, 38.0, 10.0, 2.0, 1500.0),
];

/// Version suffixes ignored when matching a model name.
const SUFFIXES: &[&str] = &["-0613", "-0125", "-1106", "-0314", "-preview"];

fn exact(name: &str) -> Option<Profile> {
    let (_, ttft, ttft_sd, itl, itl_sd, prefill_tps) = TABLE.iter().find(|row| row.0.contains(&name))?;
    let jitter = |mean: f64, sd: f64| Latency { ms: mean, variance_pct: (sd / mean * 100.0).min(100.0) };
    Some(Profile { ttft: jitter(*ttft, *ttft_sd), itl: jitter(*itl, *itl_sd), prefill_tps: *prefill_tps })
}

/// The preset for `model`, matched as FakeAI does: the base of an `ft:` id, then the exact
/// name, the part after the last `/`, the name without a version suffix, and `openai/<name>`.
pub fn profile_for(model: &str) -> Option<Profile> {
    let base = model.strip_prefix("ft:").map_or(model, |rest| rest.split(':').next().unwrap_or(rest));
    let short = base.rsplit('/').next().unwrap_or(base);
    let unversioned = SUFFIXES.iter().find_map(|s| base.strip_suffix(s));
    exact(base)
        .or_else(|| exact(short))
        .or_else(|| unversioned.and_then(exact))
        .or_else(|| exact(&format!("openai/{base}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_fakeai() {
        assert_eq!(profile_for("gpt-4").unwrap().ttft.ms, 800.0);
        assert_eq!(profile_for("ft:gpt-4o:acme:x:1").unwrap().ttft.ms, 250.0);
        assert_eq!(profile_for("gpt-4-0613").unwrap().itl.ms, 35.0);
        assert_eq!(profile_for("org/gpt-4o-mini").unwrap().ttft.ms, 180.0);
        assert_eq!(profile_for("gpt-oss-20b").unwrap().itl.ms, 15.0);
        assert!(profile_for("my-model").is_none());
        let p = profile_for("gpt-4o").unwrap();
        assert_eq!(p.ttft.variance_pct, 20.0);
    }
}
