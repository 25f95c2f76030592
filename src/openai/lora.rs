//! LoRA adapters loaded at run time, as vLLM's `/v1/load_lora_adapter` and
//! `/v1/unload_lora_adapter`: listed in `/v1/models` under their base model, served under their
//! own name (so every per-model metric counts them apart), and reported by
//! `vllm:lora_requests_info`.

use std::{
    fmt::Write,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
};

use serde::Deserialize;

use super::models::{ModelInfo, Registry, Resolved};
use crate::{
    api::Full,
    error::Error,
    metrics::{model_stats::ModelStats, model_text::escape},
};

/// One loaded adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Adapter {
    /// The name requests use as their `model`.
    pub name: String,
    /// Where it was loaded from (`root` in `/v1/models`).
    pub path: String,
    /// The model it adapts (`parent`).
    pub base: String,
}

/// The loaded adapters, in load order; shared by every worker. Every generation request asks
/// it for its model, so the count is kept apart: with no adapter loaded (the usual case) no core
/// touches the lock.
#[derive(Debug, Default)]
pub struct Adapters {
    list: Mutex<Vec<Adapter>>,
    count: AtomicUsize,
}

impl Adapters {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Adapter>> {
        self.list.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Publishes the list's new length (called with the lock held).
    fn recount(&self, list: &[Adapter]) {
        self.count.store(list.len(), Ordering::Release);
    }

    /// The adapters loaded now.
    pub fn list(&self) -> Vec<Adapter> {
        if self.count.load(Ordering::Acquire) == 0 {
            return Vec::new();
        }
        self.lock().clone()
    }

    /// The model a request for `name` is served by: an adapter runs on its base model's
    /// limits under its own name; anything else as the registry says.
    pub fn resolve<'r>(&self, registry: &'r Registry, name: &str) -> Resolved<'r> {
        if self.count.load(Ordering::Acquire) == 0 {
            return registry.resolve(name);
        }
        let base = self.lock().iter().find(|a| a.name == name).map(|a| a.base.clone());
        match base {
            Some(base) => {
                Resolved::Derived(Arc::new(ModelInfo { id: name.to_owned(), ..(*registry.resolve(&base)).clone() }))
            }
            None => registry.resolve(name),
        }
    }
}

/// `POST /v1/load_lora_adapter` (vLLM's body plus fakeai's optional `base_model_name`).
#[derive(Debug, Deserialize)]
struct LoadBody {
    lora_name: Option<String>,
    lora_path: Option<String>,
    #[serde(default)]
    load_inplace: bool,
    base_model_name: Option<String>,
}

/// `POST /v1/unload_lora_adapter`.
#[derive(Debug, Deserialize)]
struct UnloadBody {
    lora_name: Option<String>,
}

/// Loads an adapter; its base is `base_model_name` or else the first listed model (the one
/// `/v1/models` shows first, as vLLM shows its served model).
pub fn load(adapters: &Adapters, registry: &Registry, body: &[u8]) -> Result<Full, Error> {
    let req: LoadBody = serde_json::from_slice(body).map_err(invalid_body)?;
    let (Some(name), Some(path)) = (req.lora_name.filter(|n| !n.is_empty()), req.lora_path.filter(|p| !p.is_empty()))
    else {
        return Err(invalid_input("Both 'lora_name' and 'lora_path' must be provided."));
    };
    let base = req.base_model_name.unwrap_or_else(|| registry.first_id().to_owned());
    let mut list = adapters.lock();
    let adapter = Adapter { name: name.clone(), path, base };
    match list.iter_mut().find(|a| a.name == name) {
        Some(_) if !req.load_inplace => {
            let message = format!(
                "The lora adapter '{name}' has already been loaded. If you want to load the adapter in place, set \
                 'load_inplace' to True."
            );
            return Err(invalid_input(message));
        }
        Some(existing) => *existing = adapter,
        None => list.push(adapter),
    }
    adapters.recount(&list);
    Ok(success(format!("Success: LoRA adapter '{name}' added successfully.")))
}

/// Unloads an adapter.
pub fn unload(adapters: &Adapters, body: &[u8]) -> Result<Full, Error> {
    let req: UnloadBody = serde_json::from_slice(body).map_err(invalid_body)?;
    let Some(name) = req.lora_name.filter(|n| !n.is_empty()) else {
        return Err(invalid_input("'lora_name' needs to be provided to unload a LoRA adapter."));
    };
    let mut list = adapters.lock();
    let Some(at) = list.iter().position(|a| a.name == name) else {
        return Err(Error::new(404, "NotFoundError", format!("The lora adapter '{name}' cannot be found.")));
    };
    list.remove(at);
    adapters.recount(&list);
    Ok(success(format!("Success: LoRA adapter '{name}' removed successfully.")))
}

/// vLLM's 400 for a body that does not parse.
fn invalid_body(e: serde_json::Error) -> Error {
    Error::new(400, "BadRequestError", format!("Invalid request: {e}"))
}

/// vLLM's 400 for a request its checks refuse.
fn invalid_input(message: impl Into<String>) -> Error {
    Error::new(400, "InvalidUserInput", message)
}

/// vLLM answers a load or unload with its message as a plain body.
fn success(message: String) -> Full {
    Full::text("text/plain; charset=utf-8", message.into_bytes())
}

/// The `/v1/models` body: the registry's list, then the adapters with `parent` and `root`.
pub fn models_list(adapters: &Adapters, registry: &Registry) -> Vec<u8> {
    let loaded = adapters.list();
    let listed = registry.list_json();
    if loaded.is_empty() {
        return listed;
    }
    let mut list: serde_json::Value = serde_json::from_slice(&listed).expect("the list is JSON");
    let data = list["data"].as_array_mut().expect("a data array");
    for a in loaded {
        let mut card = ModelInfo { id: a.name.clone(), ..(*registry.describe(&a.base)).clone() }.to_json();
        card["root"] = a.path.into();
        card["parent"] = a.base.into();
        data.push(card);
    }
    serde_json::to_vec(&list).expect("serializes")
}

/// Appends vLLM's `vllm:lora_requests_info` gauge when adapters are loaded: the adapters with
/// requests running (none wait here), and `max_lora` as the number loaded; its value is the
/// time of the report, as vLLM's.
pub fn render_info(adapters: &Adapters, models: &[(String, ModelStats)], unix_now: f64, out: &mut String) {
    let loaded = adapters.list();
    if loaded.is_empty() {
        return;
    }
    let running: Vec<&str> = loaded
        .iter()
        .filter(|a| models.iter().any(|(name, m)| *name == a.name && m.running > 0))
        .map(|a| a.name.as_str())
        .collect();
    let name = "vllm:lora_requests_info";
    let _ = writeln!(out, "# HELP {name} Running stats on lora requests.\n# TYPE {name} gauge");
    let _ = writeln!(
        out,
        "{name}{{max_lora=\"{}\",running_lora_adapters=\"{}\",waiting_lora_adapters=\"\"}} {unix_now}",
        loaded.len(),
        escape(&running.join(","))
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openai::models::UnknownModelDefaults;

    #[test]
    fn adapters_load_in_place_resolve_to_their_base_and_report_running() {
        let registry = Registry::new(UnknownModelDefaults { context_window: 4096, max_output_tokens: 512 });
        let adapters = Adapters::default();
        assert_eq!(adapters.resolve(&registry, "a").context_window, 4096);
        let body = br#"{"lora_name":"a","lora_path":"/p1","base_model_name":"mixtral-8x7b"}"#;
        assert_eq!(load(&adapters, &registry, body).unwrap().status, 200);
        assert_eq!(load(&adapters, &registry, body).unwrap_err().kind, "InvalidUserInput");
        let inplace = br#"{"lora_name":"a","lora_path":"/p2","base_model_name":"mixtral-8x7b","load_inplace":true}"#;
        assert_eq!(load(&adapters, &registry, inplace).unwrap().status, 200);
        assert_eq!(adapters.list().iter().map(|a| a.path.as_str()).collect::<Vec<_>>(), ["/p2"]);
        let m = adapters.resolve(&registry, "a");
        assert_eq!((m.id.as_str(), m.context_window), ("a", 32768));
        let stats = ModelStats { running: 2, ..ModelStats::new(8192) };
        let mut text = String::new();
        render_info(&adapters, &[("a".to_owned(), stats)], 5.0, &mut text);
        assert!(text.ends_with(
            "vllm:lora_requests_info{max_lora=\"1\",running_lora_adapters=\"a\",waiting_lora_adapters=\"\"} 5\n"
        ));
        assert_eq!(unload(&adapters, br#"{"lora_name":"a"}"#).unwrap().status, 200);
        assert_eq!(adapters.resolve(&registry, "a").context_window, 4096);
        let mut text = String::new();
        render_info(&adapters, &[], 5.0, &mut text);
        assert!(text.is_empty(), "no family without adapters");
    }
}
