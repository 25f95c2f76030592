//! Routing from one table: every API module declares its routes once (see [`table`]), and
//! dispatch, the 405 `Allow` header, CORS preflight methods and the bounded metrics label of
//! each request all come from it. Matching is `matchit`'s radix tree, built once.

mod admit;
pub mod faults;
mod route;
pub mod table;

pub use admit::{Admission, Charge, Granted, admit, estimated_tokens, settle};
pub use route::{AuthKind, BodyKind, Handler, Prepare, Route, Upgrade};

use crate::{
    api::{Dialect, Error, Full},
    proto::http1::Method,
};

/// The label of requests that match no route.
pub const OTHER: &str = "other";

/// Methods in the order `Allow` lists them.
const METHOD_ORDER: [(Method, &str); 6] = [
    (Method::Get, "GET"),
    (Method::Head, "HEAD"),
    (Method::Post, "POST"),
    (Method::Put, "PUT"),
    (Method::Patch, "PATCH"),
    (Method::Delete, "DELETE"),
];

/// Every route of one path pattern.
#[derive(Debug)]
struct PathRoutes {
    /// (method, route, label index).
    routes: Vec<(Method, &'static Route, usize)>,
    /// The `Allow` header value, `OPTIONS` included.
    allow: String,
}

/// The routes by path, built once from the table.
#[derive(Debug)]
pub struct Router {
    paths: matchit::Router<usize>,
    by_path: Vec<PathRoutes>,
    labels: Vec<&'static str>,
}

/// What a request's method and path found.
#[derive(Debug)]
pub enum Found<'r> {
    /// A route, with its path parameters (percent-decoded).
    Route {
        /// The route.
        route: &'static Route,
        /// Its metrics label index.
        label: usize,
        /// Path parameters by name.
        params: Vec<(&'r str, String)>,
    },
    /// `OPTIONS` on a known path: a CORS preflight.
    Preflight {
        /// The path's methods.
        allow: &'r str,
        /// The label of the path's first route.
        label: usize,
    },
    /// A known path, another method.
    NotAllowed {
        /// The path's methods.
        allow: &'r str,
        /// The label of the path's first route.
        label: usize,
        /// The error envelope of the path's first route.
        dialect: Dialect,
    },
    /// No such path.
    NotFound,
}

impl Found<'_> {
    /// The metrics label index of the request (`other` for no route).
    pub fn label(&self, router: &Router) -> usize {
        match self {
            Found::Route { label, .. } | Found::Preflight { label, .. } | Found::NotAllowed { label, .. } => *label,
            Found::NotFound => router.other(),
        }
    }
}

impl Router {
    /// Builds the router of `routes`; a pattern that conflicts with another (or a method
    /// declared twice on one pattern) is an error naming both.
    pub fn new(routes: impl IntoIterator<Item = &'static Route>) -> Result<Router, String> {
        let mut router = Router { paths: matchit::Router::new(), by_path: Vec::new(), labels: Vec::new() };
        let mut patterns: Vec<&'static str> = Vec::new();
        for route in routes {
            let label = router.label_index(route.label);
            let at = match patterns.iter().position(|p| *p == route.pattern) {
                Some(at) => at,
                None => {
                    router
                        .paths
                        .insert(route.pattern, patterns.len())
                        .map_err(|e| format!("{}: {e}", route.pattern))?;
                    patterns.push(route.pattern);
                    router.by_path.push(PathRoutes { routes: Vec::new(), allow: String::new() });
                    patterns.len() - 1
                }
            };
            let path = &mut router.by_path[at];
            if path.routes.iter().any(|(m, _, _)| *m == route.method) {
                return Err(format!("{:?} {} is declared twice", route.method, route.pattern));
            }
            path.routes.push((route.method, route, label));
        }
        for path in &mut router.by_path {
            path.allow = allow_header(path.routes.iter().map(|(m, _, _)| *m));
        }
        router.labels.push(OTHER);
        Ok(router)
    }

    fn label_index(&mut self, label: &'static str) -> usize {
        self.labels.iter().position(|l| *l == label).unwrap_or_else(|| {
            self.labels.push(label);
            self.labels.len() - 1
        })
    }

    /// Every metrics label, `other` last.
    pub fn labels(&self) -> &[&'static str] {
        &self.labels
    }

    /// The index of [`OTHER`].
    pub fn other(&self) -> usize {
        self.labels.len() - 1
    }

    /// Finds the route of `method` on `path` (`HEAD` finds the `GET` route).
    pub fn find<'r>(&'r self, method: Method, path: &str) -> Found<'r> {
        let Ok(m) = self.paths.at(path) else {
            return Found::NotFound;
        };
        let routes = &self.by_path[*m.value];
        let (_, first, first_label) = routes.routes[0];
        let wanted = if method == Method::Head { Method::Get } else { method };
        match routes.routes.iter().find(|(m, _, _)| *m == wanted) {
            Some((_, route, label)) => {
                let params = m.params.iter().map(|(k, v)| (k, crate::proto::query::decode_path(v))).collect();
                Found::Route { route, label: *label, params }
            }
            None if method == Method::Options => Found::Preflight { allow: &routes.allow, label: first_label },
            None => Found::NotAllowed { allow: &routes.allow, label: first_label, dialect: first.dialect },
        }
    }
}

/// `Allow` for `methods`: `HEAD` with `GET`, `OPTIONS` always, in a fixed order.
fn allow_header(methods: impl Iterator<Item = Method> + Clone) -> String {
    let has = |m: Method| methods.clone().any(|x| x == m || (m == Method::Head && x == Method::Get));
    let mut names: Vec<&str> = METHOD_ORDER.iter().filter(|(m, _)| has(*m)).map(|(_, n)| *n).collect();
    names.push("OPTIONS");
    names.join(", ")
}

/// 404 for a path no route matches.
pub fn not_found(path: &str) -> Full {
    Error::not_found(path).into()
}

/// 405 naming the methods `path` allows.
pub fn not_allowed(path: &str, allow: &str, dialect: Dialect) -> Full {
    let e = Error::new(405, "invalid_request_error", format!("Method not allowed for {path}; allowed: {allow}."))
        .with_code("method_not_allowed");
    Full::error(&e, dialect).with_header("Allow", allow)
}

/// 204 answering a CORS preflight with the path's methods.
pub fn preflight(allow: &str) -> Full {
    Full { status: 204, content_type: "", ..Full::json(Vec::new()) }
        .with_header("Access-Control-Allow-Methods", allow)
        .with_header("Access-Control-Allow-Headers", "*")
        .with_header("Access-Control-Max-Age", "86400")
}
