//! OpenAI's generation endpoints: chat completions (with stored completions), legacy
//! completions, the Responses API with its store (background responses, input items, input
//! token counts), and FakeAI's Azure-style text generation.

use super::{
    Body, Ctx, Error, Full, Outcome, Request,
    common::{self, ListSpec},
    generate,
};
use crate::{
    app::App,
    openai::{
        chunks::Flavor,
        request::{self, GenRequest},
        responses, stored_chat,
    },
    router::{BodyKind, Route},
    state::store::Order,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/chat/completions", chat).prepare(|app, body| Box::new(parse_chat(app, body))),
    Route::get("/v1/chat/completions", list_chats),
    Route::get("/v1/chat/completions/{id}", get_chat),
    Route::post("/v1/chat/completions/{id}", update_chat),
    Route::delete("/v1/chat/completions/{id}", delete_chat),
    Route::get("/v1/chat/completions/{id}/messages", chat_messages),
    Route::post("/v1/completions", completions).prepare(|app, body| Box::new(parse_completion(app, body))),
    Route::post("/v1/responses", responses).prepare(|app, body| Box::new(parse_responses(app, body))),
    Route::post("/v1/responses/input_tokens", input_tokens).prepare(|app, body| Box::new(count_input(app, body))),
    Route::get("/v1/responses/{id}", get_response),
    Route::delete("/v1/responses/{id}", delete_response),
    Route::post("/v1/responses/{id}/cancel", cancel_response).body(BodyKind::None),
    Route::get("/v1/responses/{id}/input_items", input_items),
    Route::post("/v1/text/generation", text_generation)
        .prepare(|app, body| Box::new(request::parse_text_generation(body, app.encoding))),
];

fn chat(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let parsed = req.prepared_or(|| parse_chat(app, req.body))?;
    generate::generate(app, ctx, parsed, Flavor::Chat, req.body)
}

fn parse_chat(app: &App, body: &[u8]) -> Result<GenRequest, Error> {
    request::parse_chat_within(body, app.encoding, &generate::window(app))
}

fn completions(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let parsed = req.prepared_or(|| parse_completion(app, req.body))?;
    generate::generate(app, ctx, parsed, Flavor::Completion, req.body)
}

fn parse_completion(app: &App, body: &[u8]) -> Result<GenRequest, Error> {
    request::parse_completion_within(body, app.encoding, &generate::window(app))
}

fn responses(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let mut parsed = req.prepared_or(|| parse_responses(app, req.body))?;
    super::file_search::for_response(app, ctx, req.body, &mut parsed)?;
    generate::generate(app, ctx, parsed, Flavor::Responses, req.body)
}

fn parse_responses(app: &App, body: &[u8]) -> Result<GenRequest, Error> {
    request::parse_responses_within(body, app.encoding, &generate::window(app))
}

/// Stored chat completions and their messages list oldest first.
const STORED_CHATS: ListSpec = ListSpec::after_only(Order::Asc);

fn list_chats(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let page = common::page_query(req, STORED_CHATS)?;
    Ok(Full::value(&stored_chat::list(&app.stores.chats, &page, req.head.query())?).into())
}

fn get_chat(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&stored_chat::retrieve(&app.stores.chats, req.param("id"))?).into())
}

fn update_chat(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&stored_chat::update(&app.stores.chats, req.param("id"), req.body)?).into())
}

fn delete_chat(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&stored_chat::delete(&app.stores.chats, req.param("id"))?).into())
}

fn chat_messages(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let page = common::page_query(req, STORED_CHATS)?;
    Ok(Full::value(&stored_chat::messages(&app.stores.chats, req.param("id"), &page)?).into())
}

fn input_tokens(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    Ok(Full::value(&req.prepared_or(|| count_input(app, req.body))?).into())
}

fn count_input(app: &App, body: &[u8]) -> Result<serde_json::Value, Error> {
    responses::input_tokens::count(&app.stores, app.encoding, body)
}

fn get_response(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let now = generate::unix_micros(ctx);
    let body = responses::stored::retrieve(&app.stores.responses, req.param("id"), now)?;
    Ok(Full::json(Body::Shared(body)).into())
}

fn delete_response(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&responses::stored::delete(&app.stores.responses, req.param("id"))?).into())
}

fn cancel_response(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let now = generate::unix_micros(ctx);
    let (body, cancelled) = responses::stored::cancel(&app.stores.responses, req.param("id"), now)?;
    if cancelled {
        app.state.webhooks.emit("response.cancelled", req.param("id"));
    }
    Ok(Full::json(Body::Shared(body)).into())
}

fn input_items(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let page = common::page_query(req, ListSpec::after_only(Order::Desc))?;
    let items = responses::stored::input_items(&app.stores.responses, req.param("id"), &page)?;
    Ok(Full::value(&items).into())
}

/// FakeAI's Azure-style `POST /v1/text/generation`: `input` (or `prompt`), `max_output_tokens`
/// (default 100); answered as `{"id":"txtgen-…","created","output","model","usage"}`.
fn text_generation(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    app.vllm.check_awake()?;
    let gen_req = req.prepared_or(|| request::parse_text_generation(req.body, app.encoding))?;
    let model = crate::openai::fine_tuned::resolve(app, &gen_req.model)?;
    generate::check_context_length(&gen_req, model.context_window, Flavor::Completion)?;
    let mut plan = app.sim.get().plan(Flavor::Completion, &gen_req, &model, ctx.rng, ctx.unix_now.0);
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
