//! Vector-store retrieval, sans-IO: files cut into token chunks, embedded as `/v1/embeddings`
//! embeds them ([`super::vector`]), attribute filters as OpenAI defines them, and ranking by
//! cosine.

use serde_json::Value;

use super::{features, vector::Projector};
use crate::{
    error::Error,
    state::vector_stores::{Chunk, Chunking, EMBEDDING_MODEL},
    tokens::Encoding,
};

/// The embedding size of [`EMBEDDING_MODEL`].
pub const DIMS: usize = 1536;

/// The projector every chunk and query goes through.
pub fn projector() -> Projector {
    Projector::new(EMBEDDING_MODEL, DIMS)
}

/// Reads a `chunking_strategy` (absent or `auto`: 800/400; `static`: max 100..=4096 tokens,
/// overlap at most half of it), with OpenAI's 400s otherwise.
pub fn chunking(v: Option<&Value>, param: &str) -> Result<Chunking, Error> {
    let bad = |message: String| Err(Error::invalid_param(param, message).with_code("invalid_value"));
    let v = match v {
        None | Some(Value::Null) => return Ok(Chunking::AUTO),
        Some(v) => v,
    };
    match v["type"].as_str() {
        Some("auto") => Ok(Chunking::AUTO),
        Some("static") => {
            let s = &v["static"];
            let (Some(max), Some(overlap)) = (s["max_chunk_size_tokens"].as_u64(), s["chunk_overlap_tokens"].as_u64())
            else {
                return bad(format!(
                    "'{param}.static' needs integer 'max_chunk_size_tokens' and 'chunk_overlap_tokens'."
                ));
            };
            if !(100..=4096).contains(&max) {
                return bad(format!(
                    "Invalid '{param}.static.max_chunk_size_tokens': {max}. Expected a value between 100 and 4096."
                ));
            }
            if overlap > max / 2 {
                return bad(format!(
                    "Invalid '{param}.static.chunk_overlap_tokens': {overlap}. It must not exceed half of \
                     max_chunk_size_tokens ({}).",
                    max / 2
                ));
            }
            Ok(Chunking { max_tokens: max as usize, overlap_tokens: overlap as usize })
        }
        _ => bad(format!("Invalid '{param}.type': expected 'auto' or 'static'.")),
    }
}

/// `text` cut into chunks of at most `c.max_tokens` tokens of `encoding`, each starting
/// `max - overlap` tokens after the one before (the last one ends with the text).
pub fn chunk_text(text: &str, encoding: Encoding, c: Chunking) -> Vec<&str> {
    let ends = encoding.token_ends(text);
    if ends.is_empty() {
        return Vec::new();
    }
    let stride = (c.max_tokens - c.overlap_tokens).max(1);
    let mut chunks = Vec::new();
    let mut first = 0;
    loop {
        let last = (first + c.max_tokens).min(ends.len()) - 1;
        let start = if first == 0 { 0 } else { ends[first - 1] };
        chunks.push(&text[start..ends[last]]);
        if last + 1 == ends.len() {
            return chunks;
        }
        first += stride;
    }
}

/// The chunks of `text` with their embeddings.
pub fn embed_chunks(text: &str, encoding: Encoding, c: Chunking) -> Vec<Chunk> {
    let projector = projector();
    chunk_text(text, encoding, c)
        .into_iter()
        .map(|t| Chunk { text: t.to_owned(), vector: projector.embed_text(t, DIMS) })
        .collect()
}

/// The search text of a `query` (a string or strings, joined) and whether it was valid.
pub fn query_text(v: &Value) -> Result<String, Error> {
    let bad = || Error::invalid_param("query", "'query' must be a non-empty string or array of strings.");
    match v {
        Value::String(s) if !s.trim().is_empty() => Ok(s.clone()),
        Value::Array(items) if !items.is_empty() => {
            let parts: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            Ok(parts.ok_or_else(bad)?.join("\n"))
        }
        Value::Null => Err(crate::api::common::missing("query")),
        _ => Err(bad()),
    }
}

/// `rewrite_query`'s rewrite: the query's words, lower-cased, stop words dropped.
pub fn rewrite(query: &str) -> String {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !features::is_stop_word(w.as_bytes()))
        .collect();
    if words.is_empty() { query.to_owned() } else { words.join(" ") }
}

/// An attribute filter: OpenAI's comparison and compound filters.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `{type: eq|ne|gt|gte|lt|lte|in|nin, key, value}`.
    Compare {
        /// The operator.
        op: Op,
        /// The attribute.
        key: String,
        /// The value compared with (an array for `in`/`nin`).
        value: Value,
    },
    /// `{type: and|or, filters}`.
    Compound {
        /// `and` (true) or `or` (false).
        all: bool,
        /// The parts.
        filters: Vec<Filter>,
    },
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Greater.
    Gt,
    /// Greater or equal.
    Gte,
    /// Less.
    Lt,
    /// Less or equal.
    Lte,
    /// One of.
    In,
    /// None of.
    Nin,
}

impl Filter {
    /// Reads a filter at `path` (`filters`, `filters.filters[0]`, …), 400 naming what is wrong.
    pub fn parse(v: &Value, path: &str) -> Result<Filter, Error> {
        let bad = |what: &str| Err(Error::invalid_param(path, format!("Invalid '{path}': {what}.")));
        let op = match v["type"].as_str() {
            Some("and" | "or") => {
                let Some(parts) = v["filters"].as_array() else { return bad("'filters' must be an array") };
                let filters = parts
                    .iter()
                    .enumerate()
                    .map(|(i, p)| Filter::parse(p, &format!("{path}.filters[{i}]")))
                    .collect::<Result<_, _>>()?;
                return Ok(Filter::Compound { all: v["type"] == "and", filters });
            }
            Some("eq") => Op::Eq,
            Some("ne") => Op::Ne,
            Some("gt") => Op::Gt,
            Some("gte") => Op::Gte,
            Some("lt") => Op::Lt,
            Some("lte") => Op::Lte,
            Some("in") => Op::In,
            Some("nin") => Op::Nin,
            _ => return bad("'type' must be one of eq, ne, gt, gte, lt, lte, in, nin, and, or"),
        };
        let Some(key) = v["key"].as_str() else { return bad("'key' must be a string") };
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        let scalar = |x: &Value| x.is_string() || x.is_number() || x.is_boolean();
        let ok = match op {
            Op::In | Op::Nin => value.as_array().is_some_and(|a| a.iter().all(scalar)),
            _ => scalar(&value),
        };
        if !ok {
            return bad("'value' must be a string, number or boolean (an array of them for in and nin)");
        }
        Ok(Filter::Compare { op, key: key.to_owned(), value })
    }

    /// Whether `attributes` pass. A missing attribute fails every comparison but `ne` and
    /// `nin`; ordering compares numbers with numbers and strings with strings.
    pub fn matches(&self, attributes: &serde_json::Map<String, Value>) -> bool {
        match self {
            Filter::Compound { all: true, filters } => filters.iter().all(|f| f.matches(attributes)),
            Filter::Compound { all: false, filters } => filters.iter().any(|f| f.matches(attributes)),
            Filter::Compare { op, key, value } => {
                let Some(have) = attributes.get(key) else { return matches!(op, Op::Ne | Op::Nin) };
                let order = || match (have, value) {
                    (Value::Number(a), Value::Number(b)) => a.as_f64()?.partial_cmp(&b.as_f64()?),
                    (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
                    _ => None,
                };
                let listed = || value.as_array().is_some_and(|a| a.iter().any(|x| same(have, x)));
                match op {
                    Op::Eq => same(have, value),
                    Op::Ne => !same(have, value),
                    Op::Gt => order().is_some_and(|o| o.is_gt()),
                    Op::Gte => order().is_some_and(|o| o.is_ge()),
                    Op::Lt => order().is_some_and(|o| o.is_lt()),
                    Op::Lte => order().is_some_and(|o| o.is_le()),
                    Op::In => listed(),
                    Op::Nin => !listed(),
                }
            }
        }
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A chunk's score for `query` (unit vectors): the cosine, clamped to `[0, 1]` as OpenAI's
/// scores are.
pub fn score(query: &[f32], chunk: &[f32]) -> f32 {
    super::vector::dot(query, chunk).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn attrs(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn chunks_hold_max_tokens_and_overlap() {
        let text: String = (0..1000).map(|i| format!("w{i} ")).collect();
        let e = Encoding::Cl100kBase;
        let c = Chunking { max_tokens: 200, overlap_tokens: 50 };
        let chunks = chunk_text(&text, e, c);
        assert!(chunks.iter().all(|ch| e.count(ch) <= 200 + 1), "at most max tokens (a merge may shift one)");
        assert_eq!(chunks.first().unwrap(), &&text[..chunks[0].len()]);
        assert!(text.ends_with(chunks.last().unwrap()), "the last chunk ends the text");
        let tokens = e.count(&text);
        assert_eq!(chunks.len(), (tokens - 50).div_ceil(150), "stride is max - overlap");
        let tail: &str = &chunks[0][chunks[0].len() - 20..];
        assert!(chunks[1].contains(tail), "neighbours overlap");
        assert_eq!(chunk_text("short text", e, Chunking::AUTO), vec!["short text"]);
        assert!(chunk_text("", e, Chunking::AUTO).is_empty());
    }

    #[test]
    fn chunking_strategies_are_validated_as_openai_does() {
        assert_eq!(chunking(None, "c").unwrap(), Chunking::AUTO);
        assert_eq!(chunking(Some(&json!({"type": "auto"})), "c").unwrap(), Chunking::AUTO);
        let s = json!({"type": "static", "static": {"max_chunk_size_tokens": 300, "chunk_overlap_tokens": 150}});
        assert_eq!(chunking(Some(&s), "c").unwrap(), Chunking { max_tokens: 300, overlap_tokens: 150 });
        for (max, overlap) in [(99, 0), (4097, 0), (300, 151)] {
            let s =
                json!({"type": "static", "static": {"max_chunk_size_tokens": max, "chunk_overlap_tokens": overlap}});
            assert_eq!(chunking(Some(&s), "c").unwrap_err().status, 400, "{max}/{overlap}");
        }
        assert!(chunking(Some(&json!({"type": "fixed"})), "c").is_err());
    }

    #[test]
    fn filters_compare_and_combine() {
        let a = attrs(json!({"topic": "bread", "year": 2023, "public": true}));
        let f = |v: Value| Filter::parse(&v, "filters").unwrap().matches(&a);
        assert!(f(json!({"type": "eq", "key": "topic", "value": "bread"})));
        assert!(!f(json!({"type": "ne", "key": "topic", "value": "bread"})));
        assert!(f(json!({"type": "gte", "key": "year", "value": 2023.0})));
        assert!(!f(json!({"type": "gt", "key": "year", "value": 2023})));
        assert!(f(json!({"type": "lt", "key": "year", "value": 2024})));
        assert!(f(json!({"type": "in", "key": "topic", "value": ["chips", "bread"]})));
        assert!(f(json!({"type": "nin", "key": "topic", "value": ["chips"]})));
        assert!(f(json!({"type": "eq", "key": "public", "value": true})));
        assert!(!f(json!({"type": "eq", "key": "missing", "value": 1})));
        assert!(f(json!({"type": "ne", "key": "missing", "value": 1})));
        assert!(!f(json!({"type": "gt", "key": "topic", "value": 1})), "no order across types");
        let and = json!({"type": "and", "filters": [
            {"type": "eq", "key": "topic", "value": "bread"}, {"type": "lt", "key": "year", "value": 2000}]});
        assert!(!f(and.clone()));
        let mut or = and;
        or["type"] = json!("or");
        assert!(f(or));
        for bad in [
            json!({"type": "like", "key": "x", "value": 1}),
            json!({"type": "in", "key": "x", "value": 1}),
            json!({"type": "eq", "value": 1}),
            json!({"type": "and", "filters": [{"type": "eq"}]}),
        ] {
            assert_eq!(Filter::parse(&bad, "filters").unwrap_err().status, 400, "{bad}");
        }
    }

    #[test]
    fn queries_and_rewrites() {
        assert_eq!(query_text(&json!("bread")).unwrap(), "bread");
        assert_eq!(query_text(&json!(["a", "b"])).unwrap(), "a\nb");
        assert!(query_text(&json!("")).is_err() && query_text(&json!([1])).is_err() && query_text(&json!([])).is_err());
        assert_eq!(rewrite("How do I bake the Sourdough?"), "how bake sourdough");
    }

    #[test]
    fn the_matching_chunk_scores_highest() {
        let p = projector();
        let q = p.embed_text("sourdough bread baking", DIMS);
        let near = p.embed_text("How to bake sourdough bread with a starter", DIMS);
        let far = p.embed_text("Semiconductor fabs and quarterly chip earnings", DIMS);
        assert!(score(&q, &near) > score(&q, &far) + 0.2);
        assert!((0.0..=1.0).contains(&score(&q, &far)));
    }
}
