//! Solido RAG, FakeAI's `POST /rag/api/prompt`: `{query, filters?, inference_model, top_k,
//! documents?, max_tokens?, stream?}` → `{content, retrieved_docs, usage}`. Retrieval is
//! deterministic ([`crate::encoders::rag_corpus`]); the answer is generated on chat's TTFT/ITL
//! schedule, the retrieved documents counting as prompt. `stream: true` (which FakeAI ignored)
//! is served as SSE: the documents first, then one `content` delta per token, then usage.

use std::time::Duration;

use serde_json::{Value, json};

use super::{
    Ctx, Full, Outcome, Reply, Request,
    events::{TimedEvents, media_summary},
    generate,
};
use crate::{
    app::App,
    encoders::{
        features,
        rag_corpus::{self, Doc},
    },
    error::Error,
    generation::GenSummary,
    openai::chunks::Usage,
    router::Route,
    tokens::TextGen,
};

/// The routes.
pub static ROUTES: &[Route] =
    &[Route::post("/rag/api/prompt", prompt).prepare(|app, body| Box::new(retrieve(app, body)))];

/// FakeAI's default generation model.
const DEFAULT_MODEL: &str = "meta-llama/Llama-3.1-70B-Instruct";
/// Most documents a request may bring.
const MAX_DOCUMENTS: usize = 1000;

/// A parsed request.
#[derive(Debug)]
struct RagRequest {
    query: String,
    filters: serde_json::Map<String, Value>,
    model: String,
    top_k: usize,
    documents: Option<Vec<Doc>>,
    max_tokens: Option<u64>,
    stream: bool,
}

fn parse(body: &[u8]) -> Result<RagRequest, Error> {
    let Ok(Value::Object(mut m)) = serde_json::from_slice::<Value>(body) else {
        return Err(Error::bad_request("We could not parse the JSON body of your request: it must be a JSON object."));
    };
    let invalid =
        |param: &str, expected: &str| Error::invalid_param(param, format!("Invalid '{param}': expected {expected}."));
    let query = match m.remove("query") {
        Some(Value::String(q)) if !q.trim().is_empty() => q,
        Some(Value::Array(parts)) if !parts.is_empty() && parts.iter().all(Value::is_string) => {
            parts.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(" ")
        }
        None | Some(Value::Null) => {
            return Err(Error::invalid_param("query", "Missing required parameter: 'query'.")
                .with_code("missing_required_parameter"));
        }
        Some(_) => return Err(invalid("query", "a non-empty string or a non-empty array of strings")),
    };
    let filters = match m.remove("filters") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(f)) => f,
        Some(_) => return Err(invalid("filters", "an object")),
    };
    let model = match m.remove("inference_model") {
        None | Some(Value::Null) => DEFAULT_MODEL.to_owned(),
        Some(Value::String(s)) if !s.is_empty() => s,
        Some(_) => return Err(invalid("inference_model", "a model name")),
    };
    let top_k = match m.remove("top_k") {
        None | Some(Value::Null) => 5,
        Some(v) => {
            v.as_u64().filter(|k| (1..=20).contains(k)).ok_or_else(|| invalid("top_k", "an integer from 1 to 20"))?
                as usize
        }
    };
    let max_tokens = match m.remove("max_tokens") {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().filter(|n| *n >= 1).ok_or_else(|| invalid("max_tokens", "a positive integer"))?),
    };
    let stream = match m.remove("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(_) => return Err(invalid("stream", "a boolean")),
    };
    let documents = match m.remove("documents") {
        None | Some(Value::Null) => None,
        Some(Value::Array(docs)) if !docs.is_empty() && docs.len() <= MAX_DOCUMENTS => Some(
            docs.into_iter()
                .enumerate()
                .map(|(i, d)| {
                    document(i, d).ok_or_else(|| {
                        invalid(&format!("documents[{i}]"), "a string or {content, id?, source?, metadata?}")
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(invalid("documents", "an array of 1 to 1000 documents")),
    };
    Ok(RagRequest { query, filters, model, top_k, documents, max_tokens, stream })
}

/// A request document: a string, or an object with `content` (or `text`).
fn document(i: usize, v: Value) -> Option<Doc> {
    let id = format!("doc-{i}");
    match v {
        Value::String(content) => Some(Doc { id, content, source: "request".into(), metadata: json!({}) }),
        Value::Object(o) => Some(Doc {
            content: o.get("content").or(o.get("text"))?.as_str()?.to_owned(),
            id: o.get("id").and_then(Value::as_str).map_or(id, str::to_owned),
            source: o.get("source").and_then(Value::as_str).unwrap_or("request").to_owned(),
            metadata: o.get("metadata").filter(|m| m.is_object()).cloned().unwrap_or(json!({})),
        }),
        _ => None,
    }
}

/// A request with its documents retrieved (off the event loop for a large body).
struct Retrieved {
    r: RagRequest,
    /// The retrieved documents, rendered as the JSON array `retrieved_docs`.
    docs: String,
    prompt_tokens: u64,
}

/// Parses a request, retrieves its documents and counts its prompt.
fn retrieve(app: &App, body: &[u8]) -> Result<Retrieved, Error> {
    let r = parse(body)?;
    let corpus: Vec<Doc> = r.documents.clone().unwrap_or_else(rag_corpus::builtin);
    let candidates: Vec<Doc> = corpus.into_iter().filter(|d| rag_corpus::matches(d, &r.filters)).collect();
    let ranked = rag_corpus::rank(&r.query, &candidates, r.top_k);
    let retrieved: Vec<Value> = ranked
        .iter()
        .map(|(d, score)| {
            json!({"id": d.id, "content": d.content, "score": (*score as f64 * 1e4).round() / 1e4,
                   "metadata": d.metadata, "source": d.source})
        })
        .collect();
    let count = |s: &str| app.encoding.count(s) as u64;
    let prompt_tokens = count(&r.query) + ranked.iter().map(|(d, _)| count(&d.content)).sum::<u64>();
    Ok(Retrieved { docs: Value::Array(retrieved).to_string(), r, prompt_tokens })
}

fn prompt(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let Retrieved { r, docs, prompt_tokens } = req.prepared_or(|| retrieve(app, req.body))?;
    let natural = app.sim.get().output_len.sample(ctx.rng);
    let tokens = r.max_tokens.map_or(natural, |cap| natural.min(cap));
    // The same query to the same model always gets the same answer.
    let mut text = TextGen::new(features::hash(r.query.as_bytes(), features::hash(r.model.as_bytes(), 0)));
    let pieces: Vec<&str> = (0..tokens).map(|_| text.next_token()).collect();
    let due = app.sim.get().token_deadlines(&r.model, prompt_tokens, tokens, ctx.rng);
    let usage =
        json!({"prompt_tokens": prompt_tokens, "completion_tokens": tokens, "total_tokens": prompt_tokens + tokens});
    let summary = summary(app, &r.model, prompt_tokens, tokens, due[0]);
    if !r.stream {
        // As `{"content","retrieved_docs","usage"}` renders, the documents already rendered.
        let body = format!(r#"{{"content":{},"retrieved_docs":{docs},"usage":{usage}}}"#, Value::from(pieces.concat()));
        let after =
            if app.sim.get().non_streaming_delay { *due.last().unwrap_or(&Duration::ZERO) } else { Duration::ZERO };
        return Ok(Reply::Generated { after, full: Full::json(body.into_bytes()), summary });
    }
    let mut events = TimedEvents::new(summary);
    events.push(Duration::ZERO, format!("data: {{\"retrieved_docs\":{docs}}}\n\n").into_bytes());
    for (piece, at) in pieces.iter().zip(&due) {
        events.push(*at, data(&json!({"content": piece})));
    }
    let mut end = data(&json!({"content": "", "finish_reason": "stop", "usage": usage}));
    end.extend_from_slice(b"data: [DONE]\n\n");
    events.push(*due.last().unwrap_or(&Duration::ZERO), end);
    Ok(Reply::Events(Box::new(events)))
}

/// One SSE `data:` event.
fn data(v: &Value) -> Vec<u8> {
    format!("data: {v}\n\n").into_bytes()
}

/// What metrics record: a generation of `tokens` tokens.
fn summary(app: &App, model: &str, prompt: u64, tokens: u64, first: Duration) -> GenSummary {
    let context_window = app.registry.resolve(model).context_window;
    let usage = Usage { prompt_tokens: prompt, completion_tokens: tokens, ..Usage::default() };
    // A generation: billed as completions at its end, like chat.
    let bill = Some(Box::new(crate::state::usage::Bill {
        payer: crate::state::usage::payer(),
        cached_tokens: 0,
        kv: Default::default(),
    }));
    GenSummary {
        longest: tokens,
        generated: tokens,
        bill,
        ..media_summary(model.to_owned(), context_window, usage, first)
    }
}
