//! The model registry: FakeAI's 29 models, and any other name served without being stored.

use serde::Serialize;

/// `created` timestamp shown for every model.
const CREATED: u64 = 1_700_000_000;

/// Pricing in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pricing {
    /// Input tokens.
    pub input_per_million: f64,
    /// Output tokens.
    pub output_per_million: f64,
    /// Cached input tokens.
    pub cached_input_per_million: f64,
}

/// What the server knows about a model.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Owner shown in `/v1/models`.
    pub owned_by: String,
    /// Context window in tokens.
    pub context_window: u64,
    /// Most output tokens per response.
    pub max_output_tokens: u64,
    /// Accepts images.
    pub vision: bool,
    /// Accepts audio.
    pub audio: bool,
    /// Supports tool calls.
    pub tools: bool,
    /// Prices.
    pub pricing: Pricing,
    /// The base model of a fine-tune.
    pub parent: Option<String>,
}

type Row = (&'static str, &'static str, u64, u64, bool, bool, bool, f64, f64, f64);

/// (id, owner, ctx, max out, vision, audio, tools, $in/M, $out/M, $cached/M)
const REGISTRY: &[Row] = &[
    ("TinyLlama/TinyLlama-1.1B-Chat-v1.0", "openai", 1024, 1024, false, false, false, 0.0, 0.0, 0.0),
    ("meta-llama/Llama-3.1-8B-Instruct", "openai", 16385, 4096, false, false, true, 0.5, 1.5, 0.25),
    ("openai/gpt-oss-120b", "openai", 128_000, 16384, true, true, true, 2.5, 10.0, 1.25),
    ("openai/gpt-oss-20b", "openai", 128_000, 16384, true, true, true, 0.15, 0.6, 0.075),
    ("openai/gpt-oss-120b-realtime", "openai", 128_000, 4096, false, true, true, 5.0, 20.0, 2.5),
    ("deepseek-ai/DeepSeek-R1", "openai", 128_000, 32768, false, false, false, 15.0, 60.0, 7.5),
    ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "openai", 128_000, 65536, false, false, false, 3.0, 12.0, 1.5),
    ("gpt-oss-120b", "openai", 200_000, 100_000, false, false, true, 0.0, 0.0, 0.0),
    ("gpt-oss-20b", "openai", 200_000, 100_000, false, false, true, 0.0, 0.0, 0.0),
    ("claude-3-opus", "anthropic", 200_000, 4096, true, false, true, 15.0, 75.0, 7.5),
    ("claude-3-sonnet", "anthropic", 200_000, 4096, true, false, true, 3.0, 15.0, 1.5),
    ("claude-3-haiku", "anthropic", 200_000, 4096, true, false, true, 0.25, 1.25, 0.125),
    ("gemini-1.5-pro", "google", 2_000_000, 8192, true, true, true, 1.25, 5.0, 0.625),
    ("gemini-1.5-flash", "google", 1_000_000, 8192, true, true, true, 0.075, 0.3, 0.0375),
    ("mixtral-8x7b", "mistralai", 32768, 8192, false, false, true, 0.5, 1.5, 0.25),
    ("mixtral-8x22b", "mistralai", 65536, 16384, false, false, true, 2.0, 6.0, 1.0),
    ("mistral-large", "mistralai", 128_000, 8192, false, false, true, 4.0, 12.0, 2.0),
    ("deepseek-v3", "deepseek-ai", 128_000, 8192, false, false, true, 0.27, 1.1, 0.135),
    ("deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "deepseek-ai", 128_000, 8192, false, false, true, 0.0, 0.0, 0.0),
    ("llama-3.1-405b", "meta", 128_000, 4096, false, false, true, 3.0, 3.0, 1.5),
    ("llama-3.1-70b", "meta", 128_000, 4096, false, false, true, 0.88, 0.88, 0.44),
    ("llama-3.1-8b", "meta", 128_000, 4096, false, false, true, 0.2, 0.2, 0.1),
    ("sentence-transformers/all-mpnet-base-v2", "openai", 8191, 0, false, false, false, 0.1, 0.0, 0.0),
    ("nomic-ai/nomic-embed-text-v1.5", "openai", 8191, 0, false, false, false, 0.02, 0.0, 0.0),
    ("BAAI/bge-m3", "openai", 8191, 0, false, false, false, 0.13, 0.0, 0.0),
    ("stabilityai/stable-diffusion-2-1", "openai", 77, 0, false, false, false, 0.0, 0.0, 0.0),
    ("stabilityai/stable-diffusion-xl-base-1.0", "openai", 77, 0, false, false, false, 0.0, 0.0, 0.0),
    ("tts-1", "openai", 4096, 0, false, false, false, 0.0, 0.0, 0.0),
    ("tts-1-hd", "openai", 4096, 0, false, false, false, 0.0, 0.0, 0.0),
];

/// Defaults for a model the registry does not list.
#[derive(Debug, Clone, Copy)]
pub struct UnknownModelDefaults {
    /// Context window.
    pub context_window: u64,
    /// Most output tokens.
    pub max_output_tokens: u64,
}

/// The model table, plus the rule for names it does not list.
#[derive(Debug, Clone)]
pub struct Registry {
    models: Vec<ModelInfo>,
    defaults: UnknownModelDefaults,
    list_json: std::sync::Arc<[u8]>,
}

impl Registry {
    /// The built-in registry.
    pub fn new(defaults: UnknownModelDefaults) -> Self {
        let models: Vec<ModelInfo> = REGISTRY.iter().map(from_row).collect();
        let list = serde_json::json!({
            "object": "list",
            "data": models.iter().map(ModelInfo::to_json).collect::<Vec<_>>(),
        });
        let list_json = serde_json::to_vec(&list).expect("model list serializes").into();
        Registry { models, defaults, list_json }
    }

    /// The `/v1/models` body, encoded once and shared by every reply.
    pub fn list_json(&self) -> std::sync::Arc<[u8]> {
        self.list_json.clone()
    }

    /// The listed model named `id`.
    pub fn get(&self, id: &str) -> Option<&ModelInfo> {
        self.models.iter().find(|m| m.id == id)
    }

    /// The model named `id`, listed or not: any name is served, but only listed ones are
    /// stored, so lookups never grow the table.
    pub fn resolve(&self, id: &str) -> ModelInfo {
        if let Some(m) = self.get(id) {
            return m.clone();
        }
        let parent = id.strip_prefix("ft:").and_then(|rest| rest.split(':').next()).map(str::to_owned);
        let base = parent.as_ref().and_then(|p| self.get(p));
        ModelInfo {
            id: id.to_owned(),
            owned_by: owner_of(id),
            context_window: base.map_or(self.defaults.context_window, |b| b.context_window),
            max_output_tokens: base.map_or(self.defaults.max_output_tokens, |b| b.max_output_tokens),
            vision: base.is_some_and(|b| b.vision),
            audio: base.is_some_and(|b| b.audio),
            tools: base.is_none_or(|b| b.tools),
            pricing: base.map_or(Pricing::ZERO, |b| b.pricing),
            parent,
        }
    }
}

impl Pricing {
    const ZERO: Pricing = Pricing { input_per_million: 0.0, output_per_million: 0.0, cached_input_per_million: 0.0 };
}

fn from_row(r: &Row) -> ModelInfo {
    let &(id, owner, ctx, out, vision, audio, tools, input, output, cached) = r;
    ModelInfo {
        id: id.to_owned(),
        owned_by: owner.to_owned(),
        context_window: ctx,
        max_output_tokens: out,
        vision,
        audio,
        tools,
        pricing: Pricing { input_per_million: input, output_per_million: output, cached_input_per_million: cached },
        parent: None,
    }
}

/// FakeAI's owner rule for unlisted ids.
fn owner_of(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    if let Some(org) = id.strip_prefix("ft:").and_then(|r| r.split(':').nth(1)).filter(|o| !o.is_empty()) {
        org.to_owned()
    } else if lower.contains("mixtral") {
        "mistralai".into()
    } else if lower.contains("deepseek") {
        "deepseek-ai".into()
    } else if lower.starts_with("gpt-oss") || lower.starts_with("openai/") {
        "openai".into()
    } else {
        "custom".into()
    }
}

impl ModelInfo {
    /// The model object as `/v1/models` shows it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": "model",
            "created": CREATED,
            "owned_by": self.owned_by,
            "permission": [],
            "root": self.parent.as_deref().unwrap_or(&self.id),
            "parent": self.parent,
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "supports_vision": self.vision,
            "supports_audio": self.audio,
            "supports_tools": self.tools,
            "training_cutoff": "2024-10",
            "pricing": self.pricing,
        })
    }

    /// The `/v1/models/{id}/capabilities` object.
    pub fn capabilities_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": "model.capabilities",
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "supports_chat": self.max_output_tokens > 0,
            "supports_completions": self.max_output_tokens > 0,
            "supports_streaming": self.max_output_tokens > 0,
            "supports_vision": self.vision,
            "supports_audio": self.audio,
            "supports_tools": self.tools,
            "supports_function_calling": self.tools,
            "supports_json_mode": self.max_output_tokens > 0,
            "pricing": self.pricing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> Registry {
        Registry::new(UnknownModelDefaults { context_window: 8192, max_output_tokens: 4096 })
    }

    #[test]
    fn lists_the_fakeai_models() {
        let r = registry();
        let v: serde_json::Value = serde_json::from_slice(&r.list_json()).unwrap();
        let data = v["data"].as_array().unwrap();
        assert_eq!(data.len(), 29);
        assert!(data.iter().any(|m| m["id"] == "openai/gpt-oss-120b" && m["context_window"] == 128_000));
        assert_eq!(v["object"], "list");
    }

    #[test]
    fn unknown_names_are_served_not_stored() {
        let r = registry();
        let m = r.resolve("acme/my-model");
        assert_eq!((m.owned_by.as_str(), m.context_window), ("custom", 8192));
        let ft = r.resolve("ft:mixtral-8x7b:acme:v1:123");
        assert_eq!((ft.owned_by.as_str(), ft.context_window), ("acme", 32768));
        assert_eq!(ft.to_json()["root"], "mixtral-8x7b");
        assert_eq!(r.resolve("deepseek-x").owned_by, "deepseek-ai");
        assert!(r.get("acme/my-model").is_none());
    }
}
