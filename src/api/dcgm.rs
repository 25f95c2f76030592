//! The fake GPUs' telemetry: DCGM-exporter text at `/dcgm/metrics` (and at `/metrics` on the
//! DCGM port, which serves only [`exporter_path`]'s paths) and FakeAI's JSON at
//! `/dcgm/metrics/json`. See [`crate::metrics::dcgm`] for how the values follow the load.

use std::time::Instant;

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    metrics::{Snapshot, dcgm::Telemetry},
    router::Route,
    sim::gpu::Reading,
};

const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The routes: counted with the other metrics paths.
pub static ROUTES: &[Route] = &[
    Route::get("/dcgm/metrics", text).scrape().label("/metrics"),
    Route::get("/dcgm/metrics/json", json).scrape().label("/metrics"),
];

/// The route a request to the DCGM port reaches: its `/metrics` is the exporter text and
/// `/health` the server's; nothing else is served there.
pub fn exporter_path(path: &str) -> Option<&'static str> {
    match path {
        "/metrics" => Some("/dcgm/metrics"),
        "/health" => Some("/health"),
        _ => None,
    }
}

/// The GPUs brought up to now.
fn readings(app: &App) -> (&Telemetry, Vec<Reading>) {
    let snap = Snapshot::merge(&app.shards);
    (&app.gpus, app.gpus.observe(Instant::now(), &app.window, &snap))
}

fn text(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (gpus, readings) = readings(app);
    Ok(Full::text(PROMETHEUS, gpus.text(&readings).into_bytes()).into())
}

fn json(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    let (gpus, readings) = readings(app);
    Ok(Full::value(&gpus.json(&readings, app.args.gpu)).into())
}

#[cfg(test)]
mod tests {
    use super::exporter_path;

    #[test]
    fn the_dcgm_port_serves_only_the_exporter_paths() {
        assert_eq!(exporter_path("/metrics"), Some("/dcgm/metrics"));
        assert_eq!(exporter_path("/health"), Some("/health"));
        for other in ["/v1/chat/completions", "/metrics/json", "/dcgm/metrics", "/"] {
            assert_eq!(exporter_path(other), None, "{other}");
        }
    }
}
