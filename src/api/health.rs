//! `/health` in FakeAI's shape.

use super::{Ctx, Full, Outcome, Request};
use crate::{app::App, router::Route};

/// The routes.
pub static ROUTES: &[Route] = &[Route::get("/health", health).open()];

/// `starting` (503) until the tokenizer is built.
fn health(app: &App, ctx: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (secs, micros) = ctx.unix_now;
    let ready = app.encoding.is_ready();
    let body = serde_json::json!({
        "status": if ready { "healthy" } else { "starting" },
        "ready": ready,
        "timestamp": crate::clock::iso8601(secs, micros),
    });
    Ok(Full { status: if ready { 200 } else { 503 }, ..Full::value(&body) }.into())
}
