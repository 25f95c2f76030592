//! OpenAI's Conversations API: conversations and their items (see [`crate::openai::conversations`]).

use super::{
    Ctx, Full, Outcome, Request,
    common::{self, ListSpec},
    generate,
};
use crate::{
    app::App,
    openai::conversations::{self, Env},
    router::Route,
    state::store::Order,
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/conversations", create)
        .prepare(|app, body| Box::new(conversations::read_create(body, app.encoding))),
    Route::get("/v1/conversations/{id}", retrieve),
    Route::post("/v1/conversations/{id}", update),
    Route::delete("/v1/conversations/{id}", delete),
    Route::get("/v1/conversations/{id}/items", list_items),
    Route::post("/v1/conversations/{id}/items", add_items)
        .prepare(|app, body| Box::new(conversations::read_items(body, app.encoding))),
    Route::get("/v1/conversations/{id}/items/{item_id}", item),
    Route::delete("/v1/conversations/{id}/items/{item_id}", delete_item),
];

fn env<'a>(app: &App, ctx: &'a mut Ctx<'_>) -> Env<'a> {
    Env { rng: ctx.rng, now: ctx.unix_now.0, encoding: app.encoding }
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let body = req.prepared_or(|| conversations::read_create(req.body, app.encoding))?;
    Ok(Full::value(&conversations::create(&app.stores.conversations, &mut env(app, ctx), body)?).into())
}

fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&conversations::retrieve(&app.stores.conversations, req.param("id"))?).into())
}

fn update(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&conversations::update(&app.stores.conversations, req.param("id"), req.body)?).into())
}

fn delete(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(Full::value(&conversations::delete(&app.stores.conversations, req.param("id"))?).into())
}

fn list_items(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let page = common::page_query(req, ListSpec::after_only(Order::Desc))?;
    let items = conversations::list_items(&app.stores.conversations, req.param("id"), &page)?;
    Ok(Full::value(&items).into())
}

fn add_items(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let items = req.prepared_or(|| conversations::read_items(req.body, app.encoding))?;
    let env = &mut env(app, ctx);
    Ok(Full::value(&conversations::add_items(&app.stores.conversations, env, req.param("id"), items)?).into())
}

fn item(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let found = conversations::item(&app.stores.conversations, req.param("id"), req.param("item_id"))?;
    Ok(Full::value(&found).into())
}

fn delete_item(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let conversation = conversations::delete_item(&app.stores.conversations, req.param("id"), req.param("item_id"))?;
    Ok(Full::value(&conversation).into())
}
