//! The model registry: the built-in catalogue (FakeAI's 29 models and more), and any other name
//! served as FakeAI does — `ft:` fine-tunes and prefixed ids take their base model's properties
//! under their own id — and listed in `/v1/models` once used, up to a bound.

use std::{collections::HashMap, ops::Deref, sync::Arc};

use serde::Serialize;

use super::{
    catalogue::{ROWS, Row},
    recent::Recent,
};

/// `created` timestamp shown for every model.
const CREATED: u64 = 1_700_000_000;

/// Pricing in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Pricing {
    /// Input tokens.
    pub input_per_million: f64,
    /// Output tokens.
    pub output_per_million: f64,
    /// Cached input tokens.
    pub cached_input_per_million: f64,
}

impl Pricing {
    /// FakeAI's price for models it does not know ($0.001 / $0.002 per 1K tokens).
    pub const UNKNOWN: Pricing =
        Pricing { input_per_million: 1.0, output_per_million: 2.0, cached_input_per_million: 0.5 };
}

/// What a model serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// Text generation: chat, completions, responses, messages.
    Chat,
    /// `/v1/embeddings`.
    Embedding,
    /// `/v1/images/generations`.
    Image,
    /// `/v1/audio/speech`.
    Speech,
    /// `/v1/audio/transcriptions`.
    Transcription,
    /// `/v1/moderations`.
    Moderation,
}

impl Kind {
    /// The endpoints a model of this kind serves.
    pub fn endpoints(self) -> &'static [&'static str] {
        match self {
            Kind::Chat => &["/v1/chat/completions", "/v1/completions", "/v1/responses", "/v1/messages"],
            Kind::Embedding => &["/v1/embeddings"],
            Kind::Image => &["/v1/images/generations"],
            Kind::Speech => &["/v1/audio/speech"],
            Kind::Transcription => &["/v1/audio/transcriptions", "/v1/audio/translations"],
            Kind::Moderation => &["/v1/moderations"],
        }
    }
}

/// What the server knows about a model.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelInfo {
    /// Model id.
    pub id: String,
    /// Owner shown in `/v1/models`.
    pub owned_by: String,
    /// What it serves.
    pub kind: Kind,
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

/// Defaults for a model the registry does not list.
#[derive(Debug, Clone, Copy)]
pub struct UnknownModelDefaults {
    /// Context window.
    pub context_window: u64,
    /// Most output tokens.
    pub max_output_tokens: u64,
}

/// How many models first seen in requests `/v1/models` lists unless told otherwise.
pub const DEFAULT_RECENT: usize = 100;

/// A resolved model: borrowed from the catalogue, or shared with the recent-models set.
#[derive(Debug, Clone)]
pub enum Resolved<'a> {
    /// A catalogued model.
    Listed(&'a ModelInfo),
    /// A model derived from its name.
    Derived(Arc<ModelInfo>),
}

impl Deref for Resolved<'_> {
    type Target = ModelInfo;
    fn deref(&self) -> &ModelInfo {
        match self {
            Resolved::Listed(m) => m,
            Resolved::Derived(m) => m,
        }
    }
}

/// The catalogue, the models first seen in requests, and the rule for names neither holds.
#[derive(Debug)]
pub struct Registry {
    models: Vec<ModelInfo>,
    by_id: HashMap<&'static str, usize>,
    defaults: UnknownModelDefaults,
    recent: Recent,
}

impl Registry {
    /// The built-in catalogue, remembering up to [`DEFAULT_RECENT`] models first seen in requests.
    pub fn new(defaults: UnknownModelDefaults) -> Self {
        let models: Vec<ModelInfo> = ROWS.iter().map(from_row).collect();
        let by_id = ROWS.iter().enumerate().map(|(i, r)| (r.id, i)).collect();
        Registry { models, by_id, defaults, recent: Recent::new(DEFAULT_RECENT) }
    }

    /// The same registry remembering up to `n` models first seen in requests (0: none).
    pub fn remembering(self, n: usize) -> Self {
        Registry { recent: Recent::new(n), ..self }
    }

    /// The first catalogued model's id.
    pub fn first_id(&self) -> &str {
        &self.models[0].id
    }

    /// The `/v1/models` body: the catalogue, then the remembered models, oldest first.
    pub fn list_json(&self) -> Vec<u8> {
        let recent = self.recent.all();
        let data: Vec<serde_json::Value> =
            self.models.iter().chain(recent.iter().map(|m| &**m)).map(ModelInfo::to_json).collect();
        serde_json::to_vec(&serde_json::json!({"object": "list", "data": data})).expect("model list serializes")
    }

    /// The catalogued model named `id`.
    pub fn get(&self, id: &str) -> Option<&ModelInfo> {
        self.by_id.get(id).map(|&i| &self.models[i])
    }

    /// The model a request names: any name is served; one not catalogued is remembered for
    /// `/v1/models`. A catalogued or remembered name costs one hash lookup and no allocation.
    pub fn resolve(&self, id: &str) -> Resolved<'_> {
        if let Some(m) = self.get(id) {
            return Resolved::Listed(m);
        }
        // A fine-tune is listed while its job's model exists (`state::fine_tuning`), not once named.
        if id.starts_with("ft:") {
            return self.describe(id);
        }
        match self.recent.get(id) {
            Some(m) => Resolved::Derived(m),
            None => Resolved::Derived(self.recent.insert(Arc::new(self.derive(id)))),
        }
    }

    /// The model named `id`, as [`Registry::resolve`] would serve it, without remembering it
    /// (a lookup such as `GET /v1/models/{id}` does not create a model).
    pub fn describe(&self, id: &str) -> Resolved<'_> {
        if let Some(m) = self.get(id) {
            return Resolved::Listed(m);
        }
        match self.recent.get(id) {
            Some(m) => Resolved::Derived(m),
            None => Resolved::Derived(Arc::new(self.derive(id))),
        }
    }

    /// Whether `name` is a catalogued chat model (directly, by its last `/` part, or as a dated
    /// snapshot) that a fine-tuning job may start from.
    pub fn fine_tunable(&self, name: &str) -> bool {
        self.base(name).is_some_and(|b| b.kind == Kind::Chat)
    }

    /// FakeAI's rule for a name not catalogued: `ft:BASE:org:…` and `prefix/BASE` take the
    /// properties of BASE (dated snapshots such as `gpt-4o-mini-2024-07-18` resolve to
    /// `gpt-4o-mini`); anything else the configured defaults and FakeAI's default prices.
    fn derive(&self, id: &str) -> ModelInfo {
        let fine_tuned = id.strip_prefix("ft:").and_then(|rest| rest.split(':').next());
        let base_name = fine_tuned.or_else(|| id.rsplit_once('/').map(|(_, last)| last));
        let base = base_name.and_then(|b| self.base(b));
        ModelInfo {
            id: id.to_owned(),
            owned_by: owner_of(id),
            kind: base.map_or(Kind::Chat, |b| b.kind),
            context_window: base.map_or(self.defaults.context_window, |b| b.context_window),
            max_output_tokens: base.map_or(self.defaults.max_output_tokens, |b| b.max_output_tokens),
            vision: base.is_some_and(|b| b.vision),
            audio: base.is_some_and(|b| b.audio),
            tools: base.is_none_or(|b| b.tools),
            pricing: base.map_or(Pricing::UNKNOWN, |b| b.pricing),
            parent: fine_tuned.map(str::to_owned),
        }
    }

    /// The catalogued model `name` names, directly, by its last `/` part, or without a snapshot
    /// suffix (`-2024-07-18`, `-0613`).
    fn base(&self, name: &str) -> Option<&ModelInfo> {
        let last = name.rsplit_once('/').map_or(name, |(_, l)| l);
        [name, last].into_iter().find_map(|n| self.get(n).or_else(|| without_snapshot(n).and_then(|b| self.get(b))))
    }
}

/// `name` without a trailing `-YYYY-MM-DD` or `-NNNN` snapshot suffix, if it has one.
fn without_snapshot(name: &str) -> Option<&str> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let (rest, last) = name.rsplit_once('-')?;
    if last.len() == 4 && digits(last) {
        return Some(rest);
    }
    let mut parts = name.rsplitn(4, '-');
    let (day, month, year, rest) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let dated = [(year, 4), (month, 2), (day, 2)].iter().all(|&(p, len)| p.len() == len && digits(p));
    dated.then_some(rest)
}

fn from_row(r: &Row) -> ModelInfo {
    let (vision, audio, tools) = r.vision_audio_tools;
    let (input, output, cached) = r.prices;
    ModelInfo {
        id: r.id.to_owned(),
        owned_by: r.owner.to_owned(),
        kind: r.kind,
        context_window: r.ctx,
        max_output_tokens: r.out,
        vision,
        audio,
        tools,
        pricing: Pricing { input_per_million: input, output_per_million: output, cached_input_per_million: cached },
        parent: None,
    }
}

/// FakeAI's owner rule for ids it does not list.
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
            "endpoints": self.kind.endpoints(),
        })
    }

    /// The `/v1/models/{id}/capabilities` object.
    pub fn capabilities_json(&self) -> serde_json::Value {
        let chat = self.kind == Kind::Chat;
        serde_json::json!({
            "id": self.id,
            "object": "model.capabilities",
            "context_window": self.context_window,
            "max_output_tokens": self.max_output_tokens,
            "supports_chat": chat,
            "supports_completions": chat,
            "supports_streaming": chat,
            "supports_embeddings": self.kind == Kind::Embedding,
            "supports_image_generation": self.kind == Kind::Image,
            "supports_speech": self.kind == Kind::Speech,
            "supports_transcription": self.kind == Kind::Transcription,
            "supports_moderation": self.kind == Kind::Moderation,
            "supports_vision": self.vision,
            "supports_audio": self.audio,
            "supports_tools": self.tools,
            "supports_function_calling": self.tools,
            "supports_json_mode": chat,
            "pricing": self.pricing,
            "endpoints": self.kind.endpoints(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::catalogue::FAKEAI_LISTED;

    fn registry() -> Registry {
        Registry::new(UnknownModelDefaults { context_window: 8192, max_output_tokens: 4096 })
    }

    fn ids(r: &Registry) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_slice(&r.list_json()).unwrap();
        assert_eq!(v["object"], "list");
        v["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn lists_fakeai_models_first_then_the_rest_of_the_catalogue() {
        let r = registry();
        let ids = ids(&r);
        assert_eq!(ids.len(), ROWS.len());
        assert_eq!(ids[0], "TinyLlama/TinyLlama-1.1B-Chat-v1.0");
        assert_eq!(ids[FAKEAI_LISTED - 1], "tts-1-hd");
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "no duplicate ids");
    }

    #[test]
    fn context_windows_are_fakeai_validator_values() {
        let r = registry();
        let ctx = |id: &str| r.resolve(id).context_window;
        let want = [
            ("gpt-4", 8192),
            ("gpt-4-32k", 32768),
            ("gpt-4-turbo", 128_000),
            ("gpt-oss-120b", 128_000),
            ("gpt-oss-20b", 32768),
            ("openai/gpt-oss-20b", 32768),
            ("gpt-3.5-turbo", 16385),
            ("gpt-3.5-turbo-16k", 16385),
            ("claude-3-opus", 200_000),
            ("claude-3-sonnet", 200_000),
            ("gemini-pro", 32768),
            ("meta-llama/Llama-3.1-8B-Instruct", 131_072),
            ("meta-llama/Llama-3.1-70B-Instruct", 131_072),
            ("meta-llama/Llama-3.1-405B-Instruct", 131_072),
            ("deepseek-ai/DeepSeek-R1", 64000),
            ("mistral-7b", 32768),
            ("mixtral-8x7b", 32768),
            ("acme/unknown", 8192),
        ];
        for (id, window) in want {
            assert_eq!(ctx(id), window, "{id}");
        }
    }

    #[test]
    fn fine_tunes_and_prefixed_ids_take_their_base_models_properties() {
        let r = registry();
        let ft = r.resolve("ft:gpt-4o-mini-2024-07-18:org::abc123");
        let base = r.get("gpt-4o-mini").unwrap();
        assert_eq!(ft.id, "ft:gpt-4o-mini-2024-07-18:org::abc123");
        assert_eq!((ft.context_window, ft.max_output_tokens, ft.pricing), (128_000, 16384, base.pricing));
        assert_eq!((ft.vision, ft.tools, ft.kind), (true, true, Kind::Chat));
        assert_eq!((ft.owned_by.as_str(), ft.to_json()["root"].as_str()), ("org", Some("gpt-4o-mini-2024-07-18")));
        let ft = r.resolve("ft:mixtral-8x7b:acme:v1:123");
        assert_eq!((ft.owned_by.as_str(), ft.context_window), ("acme", 32768));
        assert_eq!(r.resolve("ft:gpt-3.5-turbo-0613:acme::x").context_window, 16385);
        let prefixed = r.resolve("azure/gpt-4");
        assert_eq!((prefixed.context_window, prefixed.pricing.input_per_million), (8192, 30.0));
        assert_eq!(prefixed.to_json()["parent"], serde_json::Value::Null);
        let embed = r.resolve("ft:text-embedding-3-small:acme::e1");
        assert_eq!(embed.to_json()["endpoints"], serde_json::json!(["/v1/embeddings"]));
        let unknown = r.resolve("acme/my-model");
        assert_eq!(
            (unknown.owned_by.as_str(), unknown.context_window, unknown.pricing),
            ("custom", 8192, Pricing::UNKNOWN)
        );
        assert_eq!(r.resolve("deepseek-x").owned_by, "deepseek-ai");
        assert_eq!(without_snapshot("gpt-4o-2024-08-06"), Some("gpt-4o"));
        assert_eq!(without_snapshot("llama-3.1-8b"), None);
    }

    #[test]
    fn media_models_say_what_they_serve() {
        let r = registry();
        let serves = |id: &str| r.get(id).unwrap().to_json()["endpoints"].clone();
        assert_eq!(serves("text-embedding-3-large"), serde_json::json!(["/v1/embeddings"]));
        assert_eq!(serves("BAAI/bge-m3"), serde_json::json!(["/v1/embeddings"]));
        assert_eq!(serves("dall-e-3"), serde_json::json!(["/v1/images/generations"]));
        assert_eq!(serves("tts-1"), serde_json::json!(["/v1/audio/speech"]));
        assert_eq!(serves("whisper-1"), serde_json::json!(["/v1/audio/transcriptions", "/v1/audio/translations"]));
        assert_eq!(serves("omni-moderation-latest"), serde_json::json!(["/v1/moderations"]));
        assert_eq!(serves("gpt-4o")[0], "/v1/chat/completions");
        let caps = r.get("text-embedding-3-small").unwrap().capabilities_json();
        assert_eq!((caps["supports_embeddings"].as_bool(), caps["supports_chat"].as_bool()), (Some(true), Some(false)));
    }

    #[test]
    fn used_names_are_listed_most_recent_n_and_lookups_add_none() {
        let r = registry().remembering(2);
        let before = ids(&r).len();
        assert_eq!(r.describe("looked-up").id, "looked-up");
        assert_eq!(ids(&r).len(), before, "a lookup does not create a model");
        for id in ["a", "b", "a", "c"] {
            r.resolve(id);
        }
        assert_eq!(ids(&r)[before..], ["b", "c"], "the 2 most recently created");
        assert!(matches!(r.resolve("gpt-4"), Resolved::Listed(_)));
        assert!(matches!(r.resolve("c"), Resolved::Derived(m) if Arc::ptr_eq(&m, &r.recent.get("c").unwrap())));
        let none = registry().remembering(0);
        none.resolve("x");
        assert_eq!(ids(&none).len(), before);
        let long = "x".repeat(crate::openai::recent::MAX_ID_LEN + 1);
        assert_eq!(r.resolve(&long).id, long, "served");
        assert!(!ids(&r).contains(&long), "not remembered");
    }
}
