//! Every route fakeai serves: each API module's `ROUTES`, in one list. The order fixes the
//! order of metrics labels; a new API module adds its table here and nowhere else.

use std::sync::LazyLock;

use super::{Route, Router};
use crate::api;

/// The API modules' route tables.
pub static TABLES: &[&[Route]] = &[
    api::openai::ROUTES,
    api::conversations::ROUTES,
    api::images::ROUTES,
    api::videos::ROUTES,
    api::embeddings::ROUTES,
    api::rankings::ROUTES,
    api::moderation::ROUTES,
    api::anthropic::ROUTES,
    api::audio::ROUTES,
    api::realtime::ROUTES,
    api::rag::ROUTES,
    api::tgi::ROUTES,
    api::vllm::ROUTES,
    api::models::ROUTES,
    api::files::ROUTES,
    api::uploads::ROUTES,
    api::batches::ROUTES,
    api::fine_tuning::ROUTES,
    api::vector_stores::ROUTES,
    api::assistants::ROUTES,
    api::usage::ROUTES,
    api::organization::ROUTES,
    api::health::ROUTES,
    api::observability::ROUTES,
    api::dcgm::ROUTES,
    api::rate_limits::ROUTES,
    api::admin::ROUTES,
];

/// Every route, in table order.
pub fn routes() -> impl Iterator<Item = &'static Route> {
    TABLES.iter().flat_map(|t| t.iter())
}

static ROUTER: LazyLock<Router> =
    LazyLock::new(|| Router::new(routes()).unwrap_or_else(|e| panic!("the route table conflicts: {e}")));

/// The router of every route, built on first use.
pub fn router() -> &'static Router {
    &ROUTER
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        proto::http1::Method,
        router::{BodyKind, Found},
    };

    #[test]
    fn routes_that_parse_json_on_the_worker_have_the_smaller_body_limit() {
        use clap::Parser;
        let argv = ["fakeai", "server", "--max-json-body-size", "1MiB", "--max-body-size", "8MiB"];
        let crate::config::Command::Server(args) = crate::config::Cli::try_parse_from(argv).unwrap().command else {
            unreachable!()
        };
        let limit = |method, path| match router().find(method, path) {
            Found::Route { route, .. } => route.body_limit(&args),
            _ => panic!("{path} routed"),
        };
        // Generation, embeddings and rankings parse large bodies off the worker.
        for path in ["/v1/chat/completions", "/v1/embeddings", "/v1/rerank", "/generate", "/v1/moderations"] {
            assert_eq!(limit(Method::Post, path), 8 << 20, "{path}");
        }
        for path in ["/v1/vector_stores", "/v1/threads", "/v1/batches", "/v1/fine_tuning/jobs"] {
            assert_eq!(limit(Method::Post, path), 1 << 20, "{path}");
        }
        assert_eq!(limit(Method::Post, "/v1/files"), 8 << 20, "multipart uploads");
    }

    #[test]
    fn the_table_builds_without_conflicts() {
        Router::new(routes()).unwrap();
    }

    #[test]
    fn conflicts_and_duplicates_fail_the_build() {
        static TWICE: &[Route] = &[Route::get("/health", |_, _, _| unreachable!()); 2];
        assert!(Router::new(TWICE).unwrap_err().contains("declared twice"));
        static CLASH: &[Route] =
            &[Route::get("/x/{id}", |_, _, _| unreachable!()), Route::get("/x/{name}", |_, _, _| unreachable!())];
        assert!(Router::new(CLASH).is_err());
    }

    #[test]
    fn finds_routes_params_and_methods() {
        let r = router();
        let Found::Route { route, params, label } = r.find(Method::Get, "/v1/models/openai%2Fgpt-oss-120b") else {
            panic!("model route")
        };
        assert_eq!(
            (route.pattern, params[0].0, params[0].1.as_str()),
            ("/v1/models/{*id}", "id", "openai/gpt-oss-120b")
        );
        assert_eq!(r.labels()[label], "/v1/models/{id}");
        let Found::Route { params, .. } = r.find(Method::Head, "/v1/models/meta-llama/Llama-3.1-8B") else {
            panic!("HEAD finds GET")
        };
        assert_eq!(params[0].1, "meta-llama/Llama-3.1-8B", "ids with a raw / route too");
        assert!(matches!(r.find(Method::Get, "/v1/completions"), Found::NotAllowed { allow: "POST, OPTIONS", .. }));
        assert!(matches!(
            r.find(Method::Options, "/v1/responses/x"),
            Found::Preflight { allow: "GET, HEAD, DELETE, OPTIONS", .. }
        ));
        assert!(matches!(r.find(Method::Get, "/v1/chat/completions"), Found::Route { .. }), "the stored list");
        let Found::Route { route, .. } = r.find(Method::Post, "/v1/responses/input_tokens") else {
            panic!("a static segment beside {{id}}")
        };
        assert_eq!(route.pattern, "/v1/responses/input_tokens");
        assert!(matches!(r.find(Method::Get, "/v2/nothing"), Found::NotFound));
        let Found::Route { route, .. } = r.find(Method::Get, "/metrics/stream") else { panic!() };
        assert_eq!(route.body, BodyKind::Upgrade(crate::router::Upgrade::MetricsStream));
        let Found::Route { route, .. } = r.find(Method::Get, "/metrics/by-model/prometheus") else { panic!() };
        assert_eq!(route.pattern, "/metrics/by-model/prometheus", "a static segment wins over the catch-all");
    }

    /// `(method, path)` of every row of the README's endpoint table, `{name}` filled in and the
    /// query dropped (`WS` is a GET upgrade; the `OPTIONS` row covers every path).
    fn readme_endpoints() -> Vec<(Method, String)> {
        let readme = include_str!("../../README.md");
        let table = &readme[readme.find("## Endpoints").expect("an Endpoints section")..];
        let rows = table.lines().skip_while(|l| !l.starts_with("|---")).skip(1).take_while(|l| l.starts_with('|'));
        let mut out = Vec::new();
        for row in rows {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let paths: Vec<String> = cells[2]
                .split('`')
                .skip(1)
                .step_by(2)
                .map(|p| p.split('?').next().unwrap().replace("{id}", "some-id").replace("{name}", "some-name"))
                .collect();
            for method in cells[1].split(", ") {
                let method = match method {
                    "GET" | "WS" => Method::Get,
                    "POST" => Method::Post,
                    "DELETE" => Method::Delete,
                    "PUT" => Method::Put,
                    "PATCH" => Method::Patch,
                    "OPTIONS" => continue,
                    other => panic!("README row with method {other:?}: {row}"),
                };
                out.extend(paths.iter().map(|p| (method, p.clone())));
            }
        }
        out
    }

    #[test]
    fn the_readme_lists_every_route_and_nothing_else() {
        let r = router();
        let mut covered = std::collections::HashSet::new();
        for (method, path) in readme_endpoints() {
            match r.find(method, &path) {
                Found::Route { route, .. } => covered.insert((route.method as u8, route.pattern)),
                other => panic!("README lists {method:?} {path}, which no route serves: {other:?}"),
            };
        }
        for route in routes() {
            assert!(
                covered.contains(&(route.method as u8, route.pattern)),
                "{:?} {} is served but not in the README's endpoint table",
                route.method,
                route.pattern
            );
        }
    }

    #[test]
    fn labels_are_bounded_and_end_with_other() {
        let r = router();
        assert_eq!(r.labels().last(), Some(&super::super::OTHER));
        let patterns = routes().count();
        assert!(r.labels().len() <= patterns + 1);
        assert_eq!(r.labels().iter().filter(|l| **l == "/metrics").count(), 1, "every metrics path shares a label");
    }
}
