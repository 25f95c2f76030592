//! `POST /v1/vector_stores/{id}/search`: the completed files' chunks ranked by cosine to the
//! query's embedding, filtered on attributes, as `vector_store.search_results.page`.

use serde_json::{Map, Value, json};

use super::{Ctx, Full, Outcome, Request, files_of, get, json_object, now_ms, touch};
use crate::{
    app::App,
    encoders::retrieval::{self, Filter},
    error::Error,
    state::vector_stores::{FileStatus, VsFile},
};

/// A search's parameters, validated.
#[derive(Debug, Clone)]
pub struct Query {
    /// The text searched for (after `rewrite_query`).
    pub text: String,
    /// Most results.
    pub max_results: usize,
    /// Attribute filter.
    pub filter: Option<Filter>,
    /// Results scoring below it are dropped.
    pub score_threshold: f32,
}

impl Query {
    /// Reads `query`, `max_num_results` (1..=50, default 10), `filters`, `ranking_options` and
    /// `rewrite_query` from `body` (fields named as the search endpoint and `file_search` name them).
    pub fn parse(body: &Map<String, Value>, max_param: &str) -> Result<Query, Error> {
        let mut text = retrieval::query_text(body.get("query").unwrap_or(&Value::Null))?;
        if body.get("rewrite_query").and_then(Value::as_bool).unwrap_or(false) {
            text = retrieval::rewrite(&text);
        }
        let max_results = match body.get(max_param) {
            None | Some(Value::Null) => 10,
            Some(v) => match v.as_u64() {
                Some(n @ 1..=50) => n as usize,
                _ => {
                    let message = format!("Invalid '{max_param}': expected an integer between 1 and 50.");
                    return Err(Error::invalid_param(max_param, message).with_code("invalid_value"));
                }
            },
        };
        let filter = match body.get("filters") {
            None | Some(Value::Null) => None,
            Some(f) => Some(Filter::parse(f, "filters")?),
        };
        let ranking = body.get("ranking_options").unwrap_or(&Value::Null);
        if let Some(r) = ranking.get("ranker").filter(|r| !r.is_null())
            && !matches!(r.as_str(), Some("none" | "auto" | "default-2024-11-15"))
        {
            let message = "Invalid 'ranking_options.ranker': expected 'none', 'auto' or 'default-2024-11-15'.";
            return Err(Error::invalid_param("ranking_options.ranker", message).with_code("invalid_value"));
        }
        let score_threshold = match ranking.get("score_threshold") {
            None | Some(Value::Null) => 0.0,
            Some(v) => match v.as_f64() {
                Some(t) if (0.0..=1.0).contains(&t) => t as f32,
                _ => {
                    let message = "Invalid 'ranking_options.score_threshold': expected a number between 0 and 1.";
                    return Err(
                        Error::invalid_param("ranking_options.score_threshold", message).with_code("invalid_value")
                    );
                }
            },
        };
        Ok(Query { text, max_results, filter, score_threshold })
    }
}

/// One chunk found.
#[derive(Debug, Clone)]
pub struct Hit {
    /// The file's id.
    pub file_id: String,
    /// Its name.
    pub filename: String,
    /// Cosine to the query, in `[0, 1]`.
    pub score: f32,
    /// The file's attributes.
    pub attributes: Map<String, Value>,
    /// The chunk's text.
    pub text: String,
}

impl Hit {
    /// OpenAI's `VectorStoreSearchResponse`.
    pub fn to_json(&self) -> Value {
        json!({
            "file_id": self.file_id,
            "filename": self.filename,
            "score": self.score,
            "attributes": self.attributes,
            "content": [{"type": "text", "text": self.text}],
        })
    }
}

/// The best chunks of the completed `files` for `q`, best first (ties: file then chunk order).
pub fn rank(files: &[VsFile], q: &Query, query: &[f32], now_ms: u64) -> Vec<Hit> {
    let mut scored: Vec<(f32, &VsFile, usize)> = files
        .iter()
        .filter(|f| f.status(now_ms) == FileStatus::Completed)
        .filter(|f| q.filter.as_ref().is_none_or(|flt| flt.matches(&f.attributes)))
        .flat_map(|f| f.chunks.iter().enumerate().map(move |(i, c)| (retrieval::score(query, &c.vector), f, i)))
        .filter(|(s, _, _)| *s >= q.score_threshold)
        .collect();
    // Stable: equal scores keep file and chunk order.
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.truncate(q.max_results);
    scored
        .into_iter()
        .map(|(score, f, i)| Hit {
            file_id: f.file_id.clone(),
            filename: f.filename.clone(),
            score,
            attributes: f.attributes.clone(),
            text: f.chunks[i].text.clone(),
        })
        .collect()
}

/// The embedding `q`'s text is searched with.
fn embed(q: &Query) -> Vec<f32> {
    retrieval::projector().embed_text(&q.text, retrieval::DIMS)
}

/// The hits for `q` over vector stores `ids` together (each must exist).
pub fn search_stores(app: &App, ctx: &Ctx<'_>, ids: &[String], q: &Query) -> Result<Vec<Hit>, Error> {
    search_embedded(app, ctx, ids, q, &embed(q))
}

/// [`search_stores`] with `q`'s text already embedded.
fn search_embedded(app: &App, ctx: &Ctx<'_>, ids: &[String], q: &Query, query: &[f32]) -> Result<Vec<Hit>, Error> {
    let mut files = Vec::new();
    for id in ids {
        if app.state.vector_stores.get(id, ctx.unix_now.0).is_none() {
            return Err(crate::api::common::no_such("VectorStore", id));
        }
        files.extend(files_of(app, ctx, id));
        touch(app, ctx, id)?;
    }
    Ok(rank(&files, q, query, now_ms(ctx)))
}

/// A search body read and its query embedded (off the event loop for a large body): the query
/// and its embedding, or the error that refuses it once the store is known to exist.
pub(super) struct Read(Result<(Query, Vec<f32>), Error>);

/// Reads a search body: a 400 if it is no JSON object, else its query, embedded.
pub(super) fn read(body: &[u8]) -> Result<Read, Error> {
    let body = json_object(body)?;
    Ok(Read(Query::parse(&body, "max_num_results").map(|q| {
        let embedded = embed(&q);
        (q, embedded)
    })))
}

pub(super) fn search(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    crate::api::generate::require_json(req)?;
    let Read(query) = req.prepared_or(|| read(req.body))?;
    let vs = get(app, ctx, req)?;
    let (q, embedded) = query?;
    let hits = search_embedded(app, ctx, std::slice::from_ref(&vs.id), &q, &embedded)?;
    let data: Vec<Value> = hits.iter().map(Hit::to_json).collect();
    let page = json!({
        "object": "vector_store.search_results.page",
        "search_query": [q.text],
        "data": data,
        "has_more": false,
        "next_page": null,
    });
    Ok(Full::value(&page).into())
}
