//! Rerankers: NIM's `POST /v1/ranking`, Cohere's and Jina's `POST /v1/rerank` and
//! `/v2/rerank`, Hugging Face TEI's `POST /rerank`. A document's relevance is the cosine of its
//! bag of features with the query's ([`Features::cosine`], in `[0, 1]`: more shared words score
//! higher); a raw logit (NIM's `logit`, TEI's `raw_scores`) is `10·relevance − 5`, FakeAI's
//! range without its noise.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    features::Features,
    fields::{Field, decode, is_int, is_strings, is_text_item, is_text_items},
};
use crate::{error::Error, tokens::Encoding};

/// Most tokens of one query–passage pair (NIM's `llama-3.2-nv-rerankqa-1b-v2` window): with
/// NIM's `truncate: "END"` a longer passage is cut to fit, otherwise the request is refused.
pub const PAIR_MAX_TOKENS: u64 = 8192;

/// A document and its relevance.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ranked {
    /// Its position in the request.
    pub index: usize,
    /// Relevance in `[0, 1]`.
    pub score: f32,
}

/// A logit for relevance `score`.
pub fn logit(score: f32) -> f32 {
    10.0 * score - 5.0
}

/// Scored documents, most relevant first (ties in request order), and the tokens a
/// cross-encoder reads: the query once per document plus each document.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// The ranking.
    pub ranked: Vec<Ranked>,
    /// Prompt tokens.
    pub tokens: u64,
}

/// Whether a pair longer than [`PAIR_MAX_TOKENS`] is refused or cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// No limit (Cohere, Jina, TEI).
    Ignore,
    /// 400 naming the documents' parameter.
    Refuse(&'static str),
    /// The passage keeps its first tokens (NIM `truncate: "END"`).
    Cut,
}

/// Ranks `docs` against `query`.
pub fn score(query: &str, docs: &[String], encoding: Encoding, overflow: Overflow) -> Result<Scored, Error> {
    let q = Features::of_text(query);
    let q_tokens = encoding.count(query) as u64;
    let mut tokens = 0;
    let mut ranked = Vec::with_capacity(docs.len());
    for (index, doc) in docs.iter().enumerate() {
        let mut d_tokens = encoding.count(doc) as u64;
        let mut doc = doc.as_str();
        if q_tokens + d_tokens > PAIR_MAX_TOKENS {
            match overflow {
                Overflow::Ignore => {}
                Overflow::Refuse(param) => {
                    let message = format!(
                        "Input length {} exceeds the maximum of {PAIR_MAX_TOKENS} tokens for the query and passage \
                         {index}; set 'truncate' to 'END' to cut long passages.",
                        q_tokens + d_tokens
                    );
                    return Err(Error::invalid_param(param, message));
                }
                Overflow::Cut => {
                    let keep = PAIR_MAX_TOKENS.saturating_sub(q_tokens) as usize;
                    let ends = encoding.token_ends(doc);
                    doc = &doc[..keep.checked_sub(1).and_then(|i| ends.get(i).copied()).unwrap_or(0)];
                    d_tokens = encoding.count(doc) as u64;
                }
            }
        }
        tokens += q_tokens + d_tokens;
        ranked.push(Ranked { index, score: q.cosine(&Features::of_text(doc)) });
    }
    ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.index.cmp(&b.index)));
    Ok(Scored { ranked, tokens })
}

/// A short decimal for an f32 (its shortest text read as f64), so 0.3f32 is written `0.3`.
pub fn short(x: f32) -> f64 {
    x.to_string().parse().unwrap_or(0.0)
}

/// A text given as a string or as an object with `text`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum TextItem {
    Text(String),
    Object { text: String },
}

impl TextItem {
    fn into_text(self) -> String {
        match self {
            TextItem::Text(t) | TextItem::Object { text: t } => t,
        }
    }
}

fn required<T>(value: Option<T>, param: &str) -> Result<T, Error> {
    value.ok_or_else(|| {
        Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
            .with_code("missing_required_parameter")
    })
}

fn non_empty(docs: Vec<String>, param: &str) -> Result<Vec<String>, Error> {
    match docs.is_empty() {
        true => Err(Error::invalid_param(param, format!("Invalid '{param}': expected at least one document."))),
        false => Ok(docs),
    }
}

/// A parsed rerank request of any dialect.
#[derive(Debug, Clone, PartialEq)]
pub struct RerankRequest {
    /// The model (TEI's requests name none: empty).
    pub model: String,
    /// The query.
    pub query: String,
    /// The documents, in order.
    pub documents: Vec<String>,
    /// Cohere's and Jina's `top_n`.
    pub top_n: Option<usize>,
    /// Cohere's and Jina's `return_documents`, TEI's `return_text`.
    pub return_documents: bool,
    /// TEI's `raw_scores`.
    pub raw_scores: bool,
    /// How a pair over [`PAIR_MAX_TOKENS`] is handled.
    pub overflow: Overflow,
}

/// NIM: `{model, query: {text}, passages: [{text}], truncate?: "NONE" | "END"}`.
pub fn parse_nim(body: &[u8]) -> Result<RerankRequest, Error> {
    #[derive(Deserialize)]
    struct Nim {
        model: Option<String>,
        query: Option<TextItem>,
        passages: Option<Vec<TextItem>>,
        truncate: Option<String>,
    }
    let fields: &[Field] = &[
        ("model", Value::is_string, "a string"),
        ("query", is_text_item, "an object with 'text'"),
        ("passages", is_text_items, "an array of objects with 'text'"),
        ("truncate", Value::is_string, "'NONE' or 'END'"),
    ];
    let b: Nim = decode(body, fields)?;
    let overflow = match b.truncate.as_deref() {
        None | Some("NONE") => Overflow::Refuse("passages"),
        Some("END") => Overflow::Cut,
        Some(other) => {
            return Err(Error::invalid_param(
                "truncate",
                format!("'{other}' is not one of ['NONE', 'END'] - 'truncate'"),
            ));
        }
    };
    let passages = required(b.passages, "passages")?.into_iter().map(TextItem::into_text).collect();
    Ok(RerankRequest {
        model: required(b.model, "model")?,
        query: required(b.query, "query")?.into_text(),
        documents: non_empty(passages, "passages")?,
        top_n: None,
        return_documents: false,
        raw_scores: true,
        overflow,
    })
}

/// Cohere and Jina: `{model, query, documents: [string | {text}], top_n?, return_documents?}`.
pub fn parse_cohere(body: &[u8]) -> Result<RerankRequest, Error> {
    #[derive(Deserialize)]
    struct Cohere {
        model: Option<String>,
        query: Option<String>,
        documents: Option<Vec<TextItem>>,
        top_n: Option<i64>,
        return_documents: Option<bool>,
    }
    let fields: &[Field] = &[
        ("model", Value::is_string, "a string"),
        ("query", Value::is_string, "a string"),
        ("documents", is_text_items, "an array of strings or objects with 'text'"),
        ("top_n", is_int, "an integer"),
        ("return_documents", Value::is_boolean, "a boolean"),
    ];
    let b: Cohere = decode(body, fields)?;
    let top_n = match b.top_n {
        Some(n) if n < 1 => {
            return Err(Error::invalid_param("top_n", format!("Invalid 'top_n': {n}. Expected at least 1.")));
        }
        n => n.map(|n| n as usize),
    };
    let documents = required(b.documents, "documents")?.into_iter().map(TextItem::into_text).collect();
    Ok(RerankRequest {
        model: required(b.model, "model")?,
        query: required(b.query, "query")?,
        documents: non_empty(documents, "documents")?,
        top_n,
        return_documents: b.return_documents.unwrap_or(false),
        raw_scores: false,
        overflow: Overflow::Ignore,
    })
}

/// TEI: `{query, texts, return_text?, raw_scores?}` (`truncate` and `truncation_direction` are
/// accepted; nothing here is too long).
pub fn parse_tei(body: &[u8]) -> Result<RerankRequest, Error> {
    #[derive(Deserialize)]
    struct Tei {
        model: Option<String>,
        query: Option<String>,
        texts: Option<Vec<String>>,
        return_text: Option<bool>,
        raw_scores: Option<bool>,
    }
    let fields: &[Field] = &[
        ("query", Value::is_string, "a string"),
        ("texts", is_strings, "an array of strings"),
        ("return_text", Value::is_boolean, "a boolean"),
        ("raw_scores", Value::is_boolean, "a boolean"),
    ];
    let b: Tei = decode(body, fields)?;
    Ok(RerankRequest {
        model: b.model.unwrap_or_default(),
        query: required(b.query, "query")?,
        documents: non_empty(required(b.texts, "texts")?, "texts")?,
        top_n: None,
        return_documents: b.return_text.unwrap_or(false),
        raw_scores: b.raw_scores.unwrap_or(false),
        overflow: Overflow::Ignore,
    })
}

/// NIM's `{"rankings":[{"index","logit"}]}`.
pub fn nim_body(scored: &Scored) -> Value {
    let rankings: Vec<Value> =
        scored.ranked.iter().map(|r| json!({"index": r.index, "logit": short(logit(r.score))})).collect();
    json!({ "rankings": rankings })
}

/// Cohere's `{id, results: [{index, relevance_score, document?}], meta}` with Jina's `model`
/// and `usage`; `version` is the API version of the path.
pub fn cohere_body(req: &RerankRequest, scored: &Scored, id: &str, version: &str) -> Value {
    let top = req.top_n.unwrap_or(usize::MAX);
    let results: Vec<Value> = scored
        .ranked
        .iter()
        .take(top)
        .map(|r| {
            let mut item = Map::new();
            item.insert("index".into(), r.index.into());
            item.insert("relevance_score".into(), short(r.score).into());
            if req.return_documents {
                item.insert("document".into(), json!({"text": req.documents[r.index]}));
            }
            Value::Object(item)
        })
        .collect();
    json!({
        "id": id,
        "results": results,
        "meta": {
            "api_version": {"version": version},
            "billed_units": {"search_units": req.documents.len().div_ceil(100)},
        },
        "model": req.model,
        "usage": {"total_tokens": scored.tokens},
    })
}

/// TEI's `[{index, score, text?}]`.
pub fn tei_body(req: &RerankRequest, scored: &Scored) -> Value {
    let items = scored.ranked.iter().map(|r| {
        let score = if req.raw_scores { logit(r.score) } else { r.score };
        let mut item = Map::new();
        item.insert("index".into(), r.index.into());
        item.insert("score".into(), short(score).into());
        if req.return_documents {
            item.insert("text".into(), req.documents[r.index].clone().into());
        }
        Value::Object(item)
    });
    Value::Array(items.collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENC: Encoding = Encoding::Cl100kBase;

    fn docs() -> Vec<String> {
        ["the stock market fell today", "bake sourdough bread with a starter", "sourdough bread recipe"]
            .map(String::from)
            .to_vec()
    }

    #[test]
    fn more_shared_words_rank_higher() {
        let s = score("sourdough bread recipe", &docs(), ENC, Overflow::Ignore).unwrap();
        let order: Vec<usize> = s.ranked.iter().map(|r| r.index).collect();
        assert_eq!(order, [2, 1, 0]);
        assert!((s.ranked[0].score - 1.0).abs() < 1e-6 && s.ranked[2].score < 0.05);
        assert!(s.ranked.iter().all(|r| (0.0..=1.0).contains(&r.score)));
        let q = ENC.count("sourdough bread recipe") as u64;
        assert_eq!(s.tokens, 3 * q + docs().iter().map(|d| ENC.count(d) as u64).sum::<u64>());
    }

    #[test]
    fn long_pairs_are_refused_or_cut() {
        let long = vec!["word ".repeat(9000)];
        let refused = score("q", &long, ENC, Overflow::Refuse("passages")).unwrap_err();
        assert_eq!(refused.param.as_deref(), Some("passages"));
        assert_eq!(score("q", &long, ENC, Overflow::Cut).unwrap().tokens, PAIR_MAX_TOKENS);
    }

    #[test]
    fn dialects_parse_and_name_params() {
        let nim = parse_nim(br#"{"model":"m","query":{"text":"q"},"passages":[{"text":"a"},{"text":"b"}]}"#).unwrap();
        assert_eq!((nim.query.as_str(), nim.documents.len(), nim.overflow), ("q", 2, Overflow::Refuse("passages")));
        let cohere = parse_cohere(br#"{"model":"m","query":"q","documents":["a",{"text":"b"}],"top_n":1}"#).unwrap();
        assert_eq!((cohere.documents, cohere.top_n), (vec!["a".to_owned(), "b".to_owned()], Some(1)));
        let tei = parse_tei(br#"{"query":"q","texts":["a"],"raw_scores":true,"return_text":true}"#).unwrap();
        assert!(tei.raw_scores && tei.return_documents);
        let param = |e: Error| e.param.unwrap();
        assert_eq!(param(parse_nim(br#"{"model":"m","query":{"text":"q"},"passages":[]}"#).unwrap_err()), "passages");
        assert_eq!(
            param(parse_nim(br#"{"model":"m","query":"q","passages":[{"text":"a"}],"truncate":"X"}"#).unwrap_err()),
            "truncate"
        );
        assert_eq!(
            param(parse_cohere(br#"{"model":"m","query":"q","documents":["a"],"top_n":0}"#).unwrap_err()),
            "top_n"
        );
        assert_eq!(param(parse_cohere(br#"{"model":"m","query":"q","documents":[1]}"#).unwrap_err()), "documents");
        assert_eq!(param(parse_cohere(br#"{"model":"m","documents":["a"]}"#).unwrap_err()), "query");
        assert_eq!(param(parse_tei(br#"{"query":"q","texts":"a"}"#).unwrap_err()), "texts");
    }

    #[test]
    fn bodies_have_each_dialects_shape() {
        let req = parse_cohere(
            br#"{"model":"m","query":"sourdough","documents":["x","sourdough"],"top_n":1,"return_documents":true}"#,
        )
        .unwrap();
        let s = score(&req.query, &req.documents, ENC, req.overflow).unwrap();
        let body = cohere_body(&req, &s, "id-1", "2");
        assert_eq!(body["results"], json!([{"index": 1, "relevance_score": 1.0, "document": {"text": "sourdough"}}]));
        assert_eq!(body["meta"]["billed_units"]["search_units"], 1);
        assert_eq!(nim_body(&s)["rankings"][0], json!({"index": 1, "logit": 5.0}));
        let tei = tei_body(&RerankRequest { raw_scores: false, return_documents: false, ..req }, &s);
        assert_eq!(tei[0], json!({"index": 1, "score": 1.0}));
    }
}
