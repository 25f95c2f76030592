//! OpenAI's Realtime API over WebSocket, `GET /v1/realtime?model=…`: a sans-IO session
//! ([`session::Session`]) that the connection feeds client messages and polls for server
//! events at their due times. Text and audio responses follow chat's TTFT/ITL schedule;
//! input audio (pcm16 24 kHz) runs through a simulated server VAD ([`vad`]).

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    router::{BodyKind, Route, Upgrade},
};

pub mod response;
pub mod session;
pub mod vad;

/// The model a connection without `?model=` gets.
pub const DEFAULT_MODEL: &str = "gpt-realtime";

/// The routes.
pub static ROUTES: &[Route] = &[Route::get("/v1/realtime", upgrade_only).body(BodyKind::Upgrade(Upgrade::Realtime))];

/// `/v1/realtime` without `Upgrade`: 426 (the connection serves the upgrade itself).
fn upgrade_only(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let e = Error::new(426, "invalid_request_error", "/v1/realtime is a WebSocket: send Upgrade")
        .with_code("upgrade_required");
    Ok(Full::from(e).with_header("Upgrade", "websocket").into())
}

/// The session settings the server's configuration gives.
pub fn config(app: &App) -> session::Config {
    session::Config { sim: (*app.sim.get()).clone(), encoding: app.encoding }
}
