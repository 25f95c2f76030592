//! Serving fine-tuned models: an `ft:` name is served (with its base model's behaviour, under
//! its own id) only while the model or checkpoint a fine-tuning job produced exists; any other
//! name resolves as before (LoRA adapters, the catalogue, FakeAI's derivation rule).

use super::models::Resolved;
use crate::{app::App, error::Error, state::store::UNDATED};

/// Whether `name` is a fine-tuned model's id.
pub fn is_fine_tuned(name: &str) -> bool {
    name.starts_with("ft:")
}

/// The model a generation request for `name` is served by; OpenAI's 404 `model_not_found` for
/// an `ft:` model no job produced (or that was deleted). Other names cost one prefix test more.
pub fn resolve<'a>(app: &'a App, name: &str) -> Result<Resolved<'a>, Error> {
    if !is_fine_tuned(name) {
        return Ok(app.vllm.adapters.resolve(&app.registry, name));
    }
    app.state
        .fine_tuned_models
        .with(name, UNDATED, |m| Resolved::Derived(m.info.clone()))
        .ok_or_else(|| model_not_found(name))
}

/// OpenAI's 404 for a model that does not exist.
pub fn model_not_found(name: &str) -> Error {
    let message = format!("The model `{name}` does not exist or you do not have access to it.");
    Error::new(404, "invalid_request_error", message).with_code("model_not_found")
}
