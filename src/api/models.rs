//! The model catalogue: `/v1/models`, one model (ids may contain `/`), and deleting a
//! fine-tuned model.

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    openai::fine_tuned::{is_fine_tuned, model_not_found},
    router::Route,
    state::{fine_tuning::FineTunedModel, store::UNDATED},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::get("/v1/models", list),
    Route::get("/v1/models/{*id}", retrieve).label("/v1/models/{id}"),
    Route::delete("/v1/models/{*id}", delete).label("/v1/models/{id}"),
];

/// The catalogue, the models first used in requests, the LoRA adapters, then the fine-tuned
/// models (not their checkpoints, as OpenAI lists them).
fn list(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let listed = crate::openai::lora::models_list(&app.vllm.adapters, &app.registry);
    let fine_tuned = app.state.fine_tuned_models.matching(UNDATED, |m| !m.checkpoint);
    if fine_tuned.is_empty() {
        return Ok(Full::json(listed).into());
    }
    let mut list: serde_json::Value = serde_json::from_slice(&listed).expect("the list is JSON");
    let data = list["data"].as_array_mut().expect("a data array");
    data.extend(fine_tuned.iter().map(FineTunedModel::to_json));
    Ok(Full::value(&list).into())
}

/// `/v1/models/{id}` or FakeAI's `/v1/models/{id}/capabilities`; an `ft:` id only while its
/// model exists.
fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let rest = req.param("id");
    let (id, capabilities) = match rest.strip_suffix("/capabilities") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    if id.is_empty() {
        return Err(Error::not_found("/v1/models/"));
    }
    if is_fine_tuned(id) {
        let model = app.state.fine_tuned_models.get(id, UNDATED).ok_or_else(|| model_not_found(id))?;
        let json = if capabilities { model.info.capabilities_json() } else { model.to_json() };
        return Ok(Full::value(&json).into());
    }
    let m = app.registry.describe(id);
    Ok(Full::value(&if capabilities { m.capabilities_json() } else { m.to_json() }).into())
}

/// Deletes a fine-tuned model (or checkpoint): OpenAI's `{id, object: "model", deleted}`. A
/// catalogued model is not the caller's to delete (403); an unknown one is a 404.
fn delete(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    if is_fine_tuned(id) {
        let model = app.state.fine_tuned_models.remove(id)?.ok_or_else(|| model_not_found(id))?;
        let deleted = serde_json::json!({"id": model.info.id, "object": "model", "deleted": true});
        return Ok(Full::value(&deleted).into());
    }
    if app.registry.get(id).is_some() {
        let message =
            format!("You do not have permission to delete the model `{id}`: only fine-tuned models can be deleted.");
        return Err(Error::new(403, "invalid_request_error", message).with_code("model_not_deletable"));
    }
    Err(model_not_found(id))
}
