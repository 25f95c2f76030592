//! Routing: a parsed request in, a reply out. Runtime-free: the connection loop decides
//! when and how the reply's bytes go out.

use std::time::{Duration, Instant};

use crate::{
    app::App,
    error::Error,
    generation::{Choice, GenSummary, Plan},
    http1::{Method, RequestHead},
    metrics::{
        self, Snapshot,
        prometheus::{self, Dialect, KvCache},
        window::{Rates, Totals},
    },
    openai::{
        chunks::Flavor,
        conversations,
        logprobs::Logprobs,
        request,
        response::{ChoiceText, completion_json, responses_json},
        responses, stored_chat,
        stores::Generated,
    },
    rng::Rng,
    sse::TokenStream,
    tokens::Encoding,
};

/// A complete response body with its status and headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Full {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Body bytes.
    pub body: Vec<u8>,
    /// Extra headers.
    pub extra: Vec<(&'static str, String)>,
    /// The OpenAI error type when this is an error envelope.
    pub error_type: Option<&'static str>,
}

impl Full {
    /// A 200 response of `content_type`.
    pub fn text(content_type: &'static str, body: Vec<u8>) -> Full {
        Full { status: 200, content_type, body, extra: Vec::new(), error_type: None }
    }

    /// A 200 JSON response.
    pub fn json(body: Vec<u8>) -> Full {
        Full::text(JSON, body)
    }
}

impl From<Error> for Full {
    fn from(e: Error) -> Full {
        Full { status: e.status, error_type: Some(e.kind), ..Full::text(JSON, e.to_json()) }
    }
}

/// What to send.
#[derive(Debug)]
pub enum Reply {
    /// Send now.
    Now(Full),
    /// A non-streaming generation: send once `after` has passed since the request arrived.
    Generated {
        /// Delay from arrival.
        after: Duration,
        /// The response.
        full: Full,
        /// What metrics record once it is sent.
        summary: GenSummary,
    },
    /// Stream SSE events on the stream's schedule.
    Stream(Box<TokenStream>),
}

/// Per-request context from the worker.
#[derive(Debug)]
pub struct Ctx<'a> {
    /// The worker's random source.
    pub rng: &'a mut Rng,
    /// Wall clock, unix seconds and microseconds.
    pub unix_now: (u64, u32),
}

const JSON: &str = "application/json";
const PROMETHEUS: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Dispatches one request.
pub fn route(app: &App, ctx: &mut Ctx<'_>, head: &RequestHead, body: &[u8]) -> Reply {
    let path = head.path.as_str();
    let method = match head.method {
        Method::Head => Method::Get,
        m => m,
    };
    if method == Method::Options {
        return Reply::Now(preflight());
    }
    let result = match (method, path) {
        (Method::Get, "/health") => Ok(Reply::Now(health(app, ctx))),
        (Method::Get, "/v1/models") => Ok(Reply::Now(Full::json(app.registry.list_json().to_vec()))),
        (Method::Get, p) if p.starts_with("/v1/models/") => Ok(Reply::Now(model(app, &p["/v1/models/".len()..]))),
        (Method::Get, "/metrics") if head.query.split('&').any(|kv| kv == "format=json") => {
            Ok(Reply::Now(metrics_json(app)))
        }
        (Method::Get, "/metrics") => Ok(Reply::Now(metrics(app, head, Dialect::All))),
        (Method::Get, "/vllm/metrics") => Ok(Reply::Now(metrics(app, head, Dialect::Vllm))),
        (Method::Get, "/dynamo_frontend/metrics") => Ok(Reply::Now(metrics(app, head, Dialect::DynamoFrontend))),
        (Method::Get, "/sglang/metrics") => Ok(Reply::Now(metrics(app, head, Dialect::Sglang))),
        (Method::Get, "/trtllm/metrics") => Ok(Reply::Now(metrics(app, head, Dialect::Trtllm))),
        (Method::Get, "/metrics/json") => Ok(Reply::Now(metrics_json(app))),
        (Method::Get, "/dashboard" | "/dashboard/") => Ok(Reply::Now(dashboard())),
        (Method::Get, p)
            if p.starts_with("/metrics/") || p.starts_with("/dynamo/metrics") || p == "/health/detailed" =>
        {
            Ok(Reply::Now(fakeai_view(app, ctx, p, &head.query)))
        }
        (Method::Post, "/v1/chat/completions") => generate(app, ctx, head, body, Flavor::Chat),
        (Method::Get, "/v1/chat/completions") => Ok(Reply::Now(stored_chat::list(&app.stores.chats, &head.query))),
        (m, p) if p.starts_with("/v1/chat/completions/") => {
            let rest = &p["/v1/chat/completions/".len()..];
            let reply = stored_chat::handle(&app.stores.chats, m, &percent_decode(rest), &head.query, body);
            Ok(Reply::Now(reply.unwrap_or_else(|| unrouted(p))))
        }
        (Method::Post, "/v1/completions") => generate(app, ctx, head, body, Flavor::Completion),
        (Method::Post, "/v1/messages") => generate(app, ctx, head, body, Flavor::Messages),
        (Method::Post, "/v1/responses") => generate(app, ctx, head, body, Flavor::Responses),
        (Method::Post, "/v1/responses/input_tokens") => {
            responses::input_tokens::count(&app.stores, app.encoding, body).map(Reply::Now)
        }
        (m, p) if p.starts_with("/v1/responses/") => {
            let (rest, now) = (percent_decode(&p["/v1/responses/".len()..]), unix_micros(ctx));
            let reply = responses::stored::handle(&app.stores.responses, m, &rest, &head.query, now);
            Ok(Reply::Now(reply.unwrap_or_else(|| unrouted(p))))
        }
        (Method::Post, "/v1/conversations") => Ok(Reply::Now(conversations::create(
            &app.stores.conversations,
            &mut conversations::Env { rng: ctx.rng, now: ctx.unix_now.0, encoding: app.encoding },
            body,
        ))),
        (m, p) if p.starts_with("/v1/conversations/") => {
            let rest = percent_decode(&p["/v1/conversations/".len()..]);
            let env = &mut conversations::Env { rng: ctx.rng, now: ctx.unix_now.0, encoding: app.encoding };
            let reply = conversations::handle(&app.stores.conversations, env, m, &rest, &head.query, body);
            Ok(Reply::Now(reply.unwrap_or_else(|| unrouted(p))))
        }
        (Method::Post, "/v1/text/generation") => text_generation(app, ctx, body),
        (Method::Post, "/generate") => generate(app, ctx, head, body, Flavor::Tgi),
        (Method::Post, "/generate_stream") => generate(app, ctx, head, body, Flavor::Tgi),
        _ => Ok(Reply::Now(unrouted(path))),
    };
    result.unwrap_or_else(|e| Reply::Now(e.into()))
}

/// 405 with `Allow` for a known path, else 404.
fn unrouted(path: &str) -> Full {
    let allow = match path {
        "/health" | "/v1/models" | "/metrics" | "/metrics/json" => "GET, HEAD, OPTIONS",
        "/vllm/metrics" | "/dynamo_frontend/metrics" | "/sglang/metrics" | "/trtllm/metrics" => "GET, HEAD, OPTIONS",
        p if p.starts_with("/v1/models/") => "GET, HEAD, OPTIONS",
        // FakeAI's JSON/CSV views and the dashboard: the whole namespace is read-only.
        "/dashboard" | "/dashboard/" | "/health/detailed" => "GET, HEAD, OPTIONS",
        p if p.starts_with("/metrics/") || p.starts_with("/dynamo/metrics") => "GET, HEAD, OPTIONS",
        "/v1/chat/completions" => "GET, POST, OPTIONS",
        p if p.starts_with("/v1/chat/completions/") && p.ends_with("/messages") => "GET, OPTIONS",
        p if p.starts_with("/v1/chat/completions/") => "GET, POST, DELETE, OPTIONS",
        "/v1/completions"
        | "/v1/messages"
        | "/v1/responses"
        | "/generate"
        | "/generate_stream"
        | "/v1/text/generation" => "POST, OPTIONS",
        "/v1/responses/input_tokens" | "/v1/conversations" => "POST, OPTIONS",
        p if p.starts_with("/v1/responses/") && p.ends_with("/cancel") => "POST, OPTIONS",
        p if p.starts_with("/v1/responses/") && p.ends_with("/input_items") => "GET, OPTIONS",
        p if p.starts_with("/v1/responses/") => "GET, DELETE, OPTIONS",
        p if p.starts_with("/v1/conversations/") => match p.matches('/').count() {
            3 => "GET, POST, DELETE, OPTIONS",
            4 => "GET, POST, OPTIONS",
            _ => "GET, DELETE, OPTIONS",
        },
        _ => return Error::not_found(path).into(),
    };
    let e = Error::new(405, "invalid_request_error", format!("Method not allowed for {path}; allowed: {allow}."))
        .with_code("method_not_allowed");
    Full { extra: vec![("Allow", allow.to_owned())], ..e.into() }
}

fn preflight() -> Full {
    Full {
        status: 204,
        extra: vec![
            ("Access-Control-Allow-Methods", "GET, POST, OPTIONS".into()),
            ("Access-Control-Allow-Headers", "*".into()),
            ("Access-Control-Max-Age", "86400".into()),
        ],
        ..Full::text("", Vec::new())
    }
}

/// The live dashboard: one self-contained page (no external assets) that polls `/metrics/json`.
fn dashboard() -> Full {
    const PAGE: &str = include_str!("dashboard.html");
    Full::text("text/html; charset=utf-8", PAGE.as_bytes().to_vec())
}

/// FakeAI's health shape; `starting` (503) until the tokenizer is built.
fn health(app: &App, ctx: &Ctx<'_>) -> Full {
    let (secs, micros) = ctx.unix_now;
    let ready = app.encoding.is_ready();
    let body = serde_json::json!({
        "status": if ready { "healthy" } else { "starting" },
        "ready": ready,
        "timestamp": crate::clock::iso8601(secs, micros),
    });
    Full { status: if ready { 200 } else { 503 }, ..Full::json(body.to_string().into_bytes()) }
}

fn model(app: &App, rest: &str) -> Full {
    let rest = percent_decode(rest);
    let (id, capabilities) = match rest.strip_suffix("/capabilities") {
        Some(id) => (id, true),
        None => (rest.as_str(), false),
    };
    if id.is_empty() {
        return Error::not_found("/v1/models/").into();
    }
    let m = app.registry.resolve(id);
    let v = if capabilities { m.capabilities_json() } else { m.to_json() };
    Full::json(v.to_string().into_bytes())
}

/// Decodes `%XX` escapes (SDKs send `openai%2Fgpt-oss-120b`); invalid escapes stay as they are.
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Prometheus text, or OpenMetrics when the `Accept` header asks for it.
fn metrics(app: &App, head: &RequestHead, dialect: Dialect) -> Full {
    let kv = KvCache { tokens: app.args.kv_cache_tokens, block_size: app.args.kv_cache_block_size };
    let text = prometheus::render_dialect(&Snapshot::merge(&app.shards), dialect, kv);
    let openmetrics = head.accept.as_deref().is_some_and(|a| a.contains("application/openmetrics-text"));
    let (content_type, body) = match openmetrics {
        true => ("application/openmetrics-text; version=1.0.0; charset=utf-8", prometheus::to_openmetrics(&text)),
        false => (PROMETHEUS, text),
    };
    Full::text(content_type, body.into_bytes())
}

fn metrics_json(app: &App) -> Full {
    let (snap, rates) = snapshot_with_rates(app);
    Full::json(metrics::json::render(&snap, &rates).to_string().into_bytes())
}

/// All shards merged, and the 60-second rates up to now.
fn snapshot_with_rates(app: &App) -> (Snapshot, Rates) {
    let snap = Snapshot::merge(&app.shards);
    let rates = app.window.rates(Instant::now(), &Totals::of(&snap));
    (snap, rates)
}

/// The percent-decoded value of `name` in a query string.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name)).map(|(_, v)| percent_decode(v))
}

/// FakeAI's other metrics views: `/metrics/csv`, `/metrics/prometheus`, `/metrics/by-model…`,
/// `/metrics/costs`, `/metrics/compare`, `/metrics/ranking`, `/metrics/multi-dimensional`,
/// `/dynamo/metrics[/json]` and `/health/detailed`.
fn fakeai_view(app: &App, ctx: &Ctx<'_>, path: &str, query: &str) -> Full {
    let (snap, rates) = snapshot_with_rates(app);
    let uptime = app.started.elapsed().as_secs_f64();
    // Listed models cost their list price; others FakeAI's default of $1 / $2 per million tokens.
    let price = |model: &str| match app.registry.get(model) {
        Some(m) => (m.pricing.input_per_million, m.pricing.output_per_million),
        None => (1.0, 2.0),
    };
    let text = |content_type, body: String| Full::text(content_type, body.into_bytes());
    let json = |v: serde_json::Value| Full::json(v.to_string().into_bytes());
    match path {
        "/metrics/csv" => text("text/csv; charset=utf-8", metrics::json::csv(&snap, &rates)),
        "/metrics/prometheus" => text(PROMETHEUS, metrics::fakeai_text::rates(&snap, &rates)),
        "/metrics/by-model/prometheus" => text(PROMETHEUS, metrics::fakeai_text::by_model(&snap, &price)),
        "/metrics/by-model" => json(metrics::json::by_model(&snap, &price)),
        "/metrics/costs" => json(metrics::json::costs(&snap, &price)),
        "/metrics/multi-dimensional" => json(metrics::json::multi_dimensional(&snap, ctx.unix_now.0)),
        "/metrics/ranking" => match ranking_params(query) {
            Ok((metric, limit)) => json(metrics::json::ranking(&snap, &price, metric, limit)),
            Err(e) => e.into(),
        },
        "/metrics/compare" => {
            let find = |param: &str| -> Result<(String, &metrics::engine::ModelStats), Error> {
                let id = query_param(query, param)
                    .filter(|id| !id.is_empty())
                    .ok_or_else(|| Error::invalid_param(param, format!("Missing query parameter '{param}'.")))?;
                let found = snap.models.iter().find(|(name, _)| *name == id);
                found.map(|(name, m)| (name.clone(), m)).ok_or_else(|| model_not_found(&id, param))
            };
            match find("model1").and_then(|a| Ok((a, find("model2")?))) {
                Ok(((n1, m1), (n2, m2))) => json(metrics::json::compare(&n1, m1, &n2, m2, &price)),
                Err(e) => e.into(),
            }
        }
        "/dynamo/metrics" => text(PROMETHEUS, metrics::dynamo::text(&snap, &rates, uptime)),
        "/dynamo/metrics/json" => json(metrics::dynamo::json(&snap, &rates, uptime)),
        "/health/detailed" => {
            let (secs, micros) = ctx.unix_now;
            json(metrics::json::health_detailed(&snap, &rates, uptime, &crate::clock::iso8601(secs, micros)))
        }
        p => match p.strip_prefix("/metrics/by-model/").map(percent_decode) {
            Some(id) => match snap.models.iter().find(|(name, _)| *name == id) {
                Some((name, m)) => json(metrics::json::model_json(name, m, &price)),
                None => model_not_found(&id, "model").into(),
            },
            None => Error::not_found(p).into(),
        },
    }
}

/// 404 for a model with no recorded requests.
fn model_not_found(id: &str, param: &str) -> Error {
    Error::new(404, "invalid_request_error", format!("Model not found: {id}"))
        .with_param(param)
        .with_code("model_not_found")
}

/// `metric` (default `request_count`) and `limit` (1–100, default 10) of `/metrics/ranking`.
fn ranking_params(query: &str) -> Result<(&'static str, usize), Error> {
    let metric = query_param(query, "metric").unwrap_or_else(|| "request_count".to_owned());
    let metric = metrics::json::RANKING_METRICS.iter().find(|m| **m == metric).ok_or_else(|| {
        let known = metrics::json::RANKING_METRICS.join(", ");
        Error::invalid_param("metric", format!("Unknown metric '{metric}'; expected one of {known}."))
    })?;
    let limit = match query_param(query, "limit") {
        None => 10,
        Some(l) => l.parse().ok().filter(|l| (1..=100).contains(l)).ok_or_else(|| {
            Error::invalid_param("limit", format!("limit must be an integer from 1 to 100, got '{l}'."))
        })?,
    };
    Ok((metric, limit))
}

fn generate(app: &App, ctx: &mut Ctx<'_>, head: &RequestHead, body: &[u8], flavor: Flavor) -> Result<Reply, Error> {
    if let Some(ct) = head.content_type.as_deref().filter(|ct| !ct.to_ascii_lowercase().contains("json")) {
        return Err(Error::bad_request(format!("Invalid Content-Type {ct:?}: the body must be application/json.")));
    }
    let mut req = match flavor {
        Flavor::Chat => request::parse_chat(body, app.encoding)?,
        Flavor::Completion => request::parse_completion(body, app.encoding)?,
        Flavor::Tgi => request::parse_tgi(body, app.encoding, head.path == "/generate_stream")?,
        Flavor::Messages => request::parse_messages(body, app.encoding)?,
        Flavor::Responses => request::parse_responses(body, app.encoding)?,
    };
    req.prompt_tokens += app.stores.inherited_tokens(&req)?;
    let model = app.registry.resolve(&req.model);
    check_context_length(&req, model.context_window, flavor)?;
    let plan = app.sim.plan(flavor, &req, &model, ctx.rng, ctx.unix_now.0);
    let stores = app.stores.keeps(flavor, &req);
    // The whole object is built once: for the reply when not streaming, for the store when kept.
    let full = (stores || !req.stream).then(|| full_body(app, &plan));
    if let Some(full) = full.as_ref().filter(|_| stores) {
        let generated = Generated {
            flavor,
            id: &plan.meta.id,
            context_tokens: plan.usage.prompt_tokens + plan.usage.completion_tokens,
            done_at: unix_micros(ctx) + plan.duration().as_micros() as u64,
            params: plan.responses.as_deref(),
            request: body,
            full,
        };
        app.stores.keep(generated, app.encoding);
    }
    if let Some(queued) = responses::stored::queued(plan.responses.as_deref(), req.stream, full.as_deref()) {
        return Ok(Reply::Now(queued));
    }
    match full.filter(|_| !req.stream) {
        Some(body) => Ok(non_streaming(app, plan, body)),
        None => Ok(Reply::Stream(Box::new(TokenStream::new(plan)))),
    }
}

/// The wall clock in unix microseconds.
fn unix_micros(ctx: &Ctx<'_>) -> u64 {
    ctx.unix_now.0 * 1_000_000 + u64::from(ctx.unix_now.1)
}

/// FakeAI's Azure-style `POST /v1/text/generation`: `input` (or `prompt`), `max_output_tokens`
/// (default 100); answered as `{"id":"txtgen-…","created","output","model","usage"}`.
fn text_generation(app: &App, ctx: &mut Ctx<'_>, body: &[u8]) -> Result<Reply, Error> {
    let req = request::parse_text_generation(body, app.encoding)?;
    let model = app.registry.resolve(&req.model);
    check_context_length(&req, model.context_window, Flavor::Completion)?;
    let mut plan = app.sim.plan(Flavor::Completion, &req, &model, ctx.rng, ctx.unix_now.0);
    plan.meta.id = format!("txtgen-{}", &plan.meta.id["cmpl-".len()..]);
    let body = serde_json::json!({
        "id": plan.meta.id,
        "created": plan.meta.created,
        "output": plan.choices[0].answer_text(),
        "model": plan.meta.model,
        "usage": plan.usage.to_json(),
    });
    Ok(non_streaming(app, plan, body.to_string().into_bytes()))
}

/// Prompt plus requested output must fit the model's context window, checked before any byte
/// of a stream is sent (FakeAI answered such streams with an empty 200).
fn check_context_length(req: &request::GenRequest, window: u64, flavor: Flavor) -> Result<(), Error> {
    let completion = req.max_tokens.unwrap_or(0).max(req.min_tokens);
    let total = req.prompt_tokens + completion;
    if total <= window {
        return Ok(());
    }
    let (param, what) = match flavor {
        Flavor::Chat | Flavor::Messages => ("messages", "messages"),
        Flavor::Completion => ("prompt", "prompt"),
        Flavor::Tgi => ("inputs", "inputs"),
        Flavor::Responses => ("input", "input"),
    };
    let message = format!(
        "This model's maximum context length is {window} tokens. However, you requested {total} tokens \
         ({} in the {what}, {completion} in the completion). Please reduce the length of the {what} or completion.",
        req.prompt_tokens
    );
    Err(Error::invalid_param(param, message).with_code("context_length_exceeded"))
}

/// A non-streaming reply of `body`, due when `plan`'s last token would have been generated.
fn non_streaming(app: &App, mut plan: Plan, body: Vec<u8>) -> Reply {
    let summary = plan.summary();
    let after = match app.sim.non_streaming_delay {
        true => plan.schedule.deadline_of(plan.longest()),
        false => Duration::ZERO,
    };
    Reply::Generated { after, full: Full::json(body), summary }
}

/// The whole response object of `plan`, in its endpoint's shape.
fn full_body(app: &App, plan: &Plan) -> Vec<u8> {
    let texts = plan.full_texts();
    let choices: Vec<ChoiceText> = texts
        .into_iter()
        .zip(&plan.choices)
        .map(|((reasoning, content), c)| ChoiceText {
            logprobs: plan.logprobs.map(|top| choice_logprobs(plan, c, top, app.encoding)),
            content: match &plan.echo {
                Some(prompt) => format!("{prompt}{content}"),
                None => content,
            },
            reasoning,
            finish_reason: c.finish_reason,
            tool_calls: c.tool_calls(),
            legacy: plan.legacy_functions,
        })
        .collect();
    match &plan.responses {
        Some(params) => responses_json(&plan.meta, params, plan.done_at(), &choices[0], plan.usage),
        None => completion_json(plan.flavor, &plan.meta, &choices, plan.usage),
    }
}

/// A non-streaming choice's `logprobs` object in its endpoint's shape (echoed prompt tokens first).
fn choice_logprobs(plan: &Plan, choice: &Choice, top: u32, encoding: Encoding) -> serde_json::Value {
    let tokens = choice.answer_tokens();
    let mut source = Logprobs::new(choice.seed, top);
    if plan.flavor != Flavor::Completion {
        return source.chat_all(tokens.iter().map(String::as_str));
    }
    let prompt = plan.echo.as_deref().unwrap_or("");
    let mut start = 0;
    let prompt_tokens = encoding.token_ends(prompt).into_iter().map(|end| {
        let token = &prompt[start..end];
        start = end;
        token
    });
    source.completion_all(prompt_tokens, tokens.iter().map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn decodes_model_ids() {
        assert_eq!(percent_decode("openai%2Fgpt-oss-120b"), "openai/gpt-oss-120b");
        assert_eq!(percent_decode("a%2fb%20c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
