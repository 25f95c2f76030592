//! OpenAI's generation endpoints: chat completions, legacy completions, the Responses API
//! with its store, and FakeAI's Azure-style text generation.

use super::{Ctx, Full, Outcome, Request, generate};
use crate::{
    app::App,
    error::Error,
    openai::{chunks::Flavor, request},
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/chat/completions", chat),
    Route::post("/v1/completions", completions),
    Route::post("/v1/responses", responses),
    Route::get("/v1/responses/{id}", get_response),
    Route::delete("/v1/responses/{id}", delete_response),
    Route::post("/v1/text/generation", text_generation),
];

fn chat(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_chat(req.body, app.encoding)?, Flavor::Chat)
}

fn completions(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_completion(req.body, app.encoding)?, Flavor::Completion)
}

fn responses(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    generate::generate(app, ctx, request::parse_responses(req.body, app.encoding)?, Flavor::Responses)
}

/// 404 for a response id not in the store.
fn response_not_found(id: &str) -> Error {
    Error::new(404, "invalid_request_error", format!("Response with id '{id}' not found."))
        .with_param("response_id")
        .with_code("not_found")
}

fn get_response(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    let stored = app.responses.get(id).ok_or_else(|| response_not_found(id))?;
    Ok(Full::json(super::Body::Shared(stored.body)).into())
}

fn delete_response(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    if !app.responses.delete(id) {
        return Err(response_not_found(id));
    }
    Ok(Full::value(&serde_json::json!({"id": id, "object": "response", "deleted": true})).into())
}

/// FakeAI's Azure-style `POST /v1/text/generation`: `input` (or `prompt`), `max_output_tokens`
/// (default 100); answered as `{"id":"txtgen-…","created","output","model","usage"}`.
fn text_generation(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    app.vllm.check_awake()?;
    let gen_req = request::parse_text_generation(req.body, app.encoding)?;
    let model = app.vllm.adapters.resolve(&app.registry, &gen_req.model);
    generate::check_context_length(&gen_req, model.context_window, Flavor::Completion)?;
    let mut plan = app.sim.plan(Flavor::Completion, &gen_req, &model, ctx.rng, ctx.unix_now.0);
    plan.meta.id = format!("txtgen-{}", &plan.meta.id["cmpl-".len()..]);
    let body = serde_json::json!({
        "id": plan.meta.id,
        "created": plan.meta.created,
        "output": plan.choices[0].answer_text(),
        "model": plan.meta.model,
        "usage": plan.usage.to_json(),
    });
    Ok(generate::non_streaming(app, plan, body.to_string().into_bytes()))
}
