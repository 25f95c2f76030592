//! The model catalogue: `/v1/models` and one model (ids may contain `/`).

use super::{Ctx, Full, Outcome, Request};
use crate::{app::App, error::Error, router::Route};

/// The routes.
pub static ROUTES: &[Route] =
    &[Route::get("/v1/models", list), Route::get("/v1/models/{*id}", retrieve).label("/v1/models/{id}")];

fn list(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::json(crate::openai::lora::models_list(&app.vllm.adapters, &app.registry)).into())
}

/// `/v1/models/{id}` or FakeAI's `/v1/models/{id}/capabilities`.
fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let rest = req.param("id");
    let (id, capabilities) = match rest.strip_suffix("/capabilities") {
        Some(id) => (id, true),
        None => (rest, false),
    };
    if id.is_empty() {
        return Err(Error::not_found("/v1/models/"));
    }
    let m = app.registry.describe(id);
    Ok(Full::value(&if capabilities { m.capabilities_json() } else { m.to_json() }).into())
}
