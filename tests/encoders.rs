//! Embeddings, rerankers and moderation over HTTP against the real binary: shapes, OpenAI's
//! 400s with `param`, determinism, similarity ordering, exact usage (checked with tiktoken-rs),
//! latency and metrics.

mod common;

use std::{
    thread,
    time::{Duration, Instant},
};

use base64::Engine as _;
use common::{Response, Server};
use serde_json::{Value, json};

fn fast() -> Server {
    Server::start(&["--embedding-latency", "0", "--ranking-latency", "0", "--workers", "1"])
}

fn tokens(text: &str) -> u64 {
    tiktoken_rs::cl100k_base().unwrap().encode_ordinary(text).len() as u64
}

fn post(s: &Server, path: &str, body: Value) -> Response {
    s.post(path, &body.to_string())
}

fn ok(s: &Server, path: &str, body: Value) -> Value {
    let r = post(s, path, body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The 400's `error.param`.
fn bad_param(s: &Server, path: &str, body: Value) -> String {
    let r = post(s, path, body.clone());
    assert_eq!(r.status, 400, "{body} → {}", r.text());
    let e = r.json()["error"].clone();
    assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()) && e["type"] == "invalid_request_error", "{e}");
    e["param"].as_str().unwrap_or_else(|| panic!("no param: {e}")).to_owned()
}

fn vectors(v: &Value) -> Vec<Vec<f32>> {
    let data = v["data"].as_array().unwrap();
    data.iter()
        .enumerate()
        .map(|(i, d)| {
            assert_eq!((d["object"].as_str(), d["index"].as_u64()), (Some("embedding"), Some(i as u64)));
            match &d["embedding"] {
                Value::String(b64) => base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .unwrap()
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
                    .collect(),
                floats => floats.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect(),
            }
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[test]
fn embeddings_take_every_input_shape_with_exact_usage() {
    let s = fast();
    let texts = ["The quick brown fox jumps over the lazy dog.", "naïve café ☕ — ünïcödé", "x"];
    let v = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": texts}));
    assert_eq!((v["object"].as_str(), v["model"].as_str()), (Some("list"), Some("text-embedding-3-small")));
    let want: u64 = texts.iter().map(|t| tokens(t)).sum();
    assert_eq!(v["usage"], json!({"prompt_tokens": want, "total_tokens": want}));
    let vs = vectors(&v);
    assert!(vs.iter().all(|x| x.len() == 1536 && (dot(x, x) - 1.0).abs() < 1e-4));

    let single = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": texts[0]}));
    assert_eq!(vectors(&single)[0], vs[0], "deterministic, and independent of the batch");
    let ids: Vec<u32> = tiktoken_rs::cl100k_base().unwrap().encode_ordinary(texts[0]);
    let by_ids = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": ids}));
    assert_eq!(by_ids["usage"]["prompt_tokens"], ids.len());
    assert!(dot(&vectors(&by_ids)[0], &vs[0]) > 0.999, "token ids embed as their text");
    let lists = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": [[1, 2, 3], [4]]}));
    assert_eq!((vectors(&lists).len(), lists["usage"]["prompt_tokens"].as_u64()), (2, Some(4)));
    for (model, size) in [
        ("text-embedding-3-large", 3072),
        ("text-embedding-ada-002", 1536),
        ("nomic-ai/nomic-embed-text-v1.5", 768),
        ("BAAI/bge-m3", 1024),
        ("sentence-transformers/all-mpnet-base-v2", 768),
        ("some-unknown-embedder", 1536),
    ] {
        let v = ok(&s, "/v1/embeddings", json!({"model": model, "input": "hi"}));
        assert_eq!(vectors(&v)[0].len(), size, "{model}");
    }
}

#[test]
fn base64_float_and_dimensions_agree() {
    let s = fast();
    let body = |format: &str, dims: Option<u64>| {
        let mut b = json!({"model": "text-embedding-3-small", "input": "vector search", "encoding_format": format, "user": "u1"});
        if let Some(d) = dims {
            b["dimensions"] = d.into();
        }
        vectors(&ok(&s, "/v1/embeddings", b)).remove(0)
    };
    let float = body("float", None);
    assert_eq!(body("base64", None), float, "base64 is the same little-endian f32s");
    let short = body("base64", Some(256));
    assert_eq!(short.len(), 256);
    let norm = float[..256].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!(short.iter().zip(&float).all(|(s, f)| (s - f / norm).abs() < 1e-5), "renormalised prefix");
    assert_eq!(body("float", Some(1)).len(), 1);
}

#[test]
fn texts_sharing_words_are_closer() {
    let s = fast();
    let docs = [
        "How do I bake sourdough bread at home?",
        "A simple sourdough bread recipe with a starter",
        "Quarterly earnings beat expectations in the semiconductor sector",
        "The football team won the championship game",
    ];
    for format in ["float", "base64"] {
        let v = ok(
            &s,
            "/v1/embeddings",
            json!({"model": "text-embedding-3-small", "input": docs, "encoding_format": format}),
        );
        let vs = vectors(&v);
        let (near, far1, far2) = (dot(&vs[0], &vs[1]), dot(&vs[0], &vs[2]), dot(&vs[0], &vs[3]));
        assert!(near > far1 + 0.2 && near > far2 + 0.2, "{format}: near {near}, far {far1} {far2}");
    }
}

#[test]
fn embeddings_errors_name_the_param() {
    let s = fast();
    let m = "text-embedding-3-small";
    for input in [json!(""), json!([]), json!(["a", ""]), json!([[]]), json!(5), json!(["a", 1]), json!([-1])] {
        assert_eq!(bad_param(&s, "/v1/embeddings", json!({"model": m, "input": input})), "input", "{input}");
    }
    let too_many: Vec<&str> = vec!["w"; 2049];
    assert_eq!(bad_param(&s, "/v1/embeddings", json!({"model": m, "input": too_many})), "input");
    assert_eq!(bad_param(&s, "/v1/embeddings", json!({"input": "x"})), "model");
    assert_eq!(bad_param(&s, "/v1/embeddings", json!({"model": m})), "input");
    for dims in [0, -3, 1537] {
        assert_eq!(
            bad_param(&s, "/v1/embeddings", json!({"model": m, "input": "x", "dimensions": dims})),
            "dimensions"
        );
    }
    let ada = json!({"model": "text-embedding-ada-002", "input": "x", "dimensions": 512});
    assert_eq!(bad_param(&s, "/v1/embeddings", ada), "dimensions");
    let large = json!({"model": "text-embedding-3-large", "input": "x", "dimensions": 3072});
    assert_eq!(vectors(&ok(&s, "/v1/embeddings", large))[0].len(), 3072);
    let format = json!({"model": m, "input": "x", "encoding_format": "int8"});
    assert_eq!(bad_param(&s, "/v1/embeddings", format), "encoding_format");
    let long = "word ".repeat(9000);
    let r = post(&s, "/v1/embeddings", json!({"model": m, "input": long}));
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("context_length_exceeded")));
}

#[test]
fn nim_and_chat_style_requests() {
    let s = fast();
    let long = "word ".repeat(9000);
    let nim = json!({"model": "text-embedding-3-small", "input": [long, "short passage"], "input_type": "passage",
                     "truncate": "END", "encoding_format": "float"});
    let v = ok(&s, "/v1/embeddings", nim);
    assert_eq!(v["usage"]["prompt_tokens"], 8191 + tokens("short passage"), "cut to the model's 8,191 tokens");
    let bad = json!({"model": "m", "input": "x", "input_type": "document"});
    assert_eq!(bad_param(&s, "/v1/embeddings", bad), "input_type");
    assert_eq!(bad_param(&s, "/v1/embeddings", json!({"model": "m", "input": "x", "truncate": "MIDDLE"})), "truncate");

    let text = "Describe the sourdough bread recipe";
    let chat = json!({"model": "text-embedding-3-small", "messages": [{"role": "user", "content": text}],
                      "stream": false, "max_completion_tokens": 16});
    let v = ok(&s, "/v1/embeddings", chat);
    assert_eq!(v["usage"]["prompt_tokens"], tokens(text));
    let plain = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": text}));
    assert_eq!(vectors(&v), vectors(&plain), "one message embeds as its text");
}

#[test]
fn latency_is_base_plus_tokens_and_requests_are_counted() {
    let s = Server::start(&["--embedding-latency", "150:0", "--embedding-tps", "1000", "--workers", "1"]);
    let text = "word ".repeat(100);
    let t = Instant::now();
    let v = ok(&s, "/v1/embeddings", json!({"model": "text-embedding-3-small", "input": text}));
    let took = t.elapsed();
    let n = v["usage"]["prompt_tokens"].as_u64().unwrap();
    let want = Duration::from_millis(150) + Duration::from_secs_f64(n as f64 / 1000.0);
    assert!(took >= want && took < want + Duration::from_millis(150), "{took:?} for {want:?}");
    let t = Instant::now();
    loop {
        let m = s.request("GET", "/metrics", None).text();
        let line = "fakeai_responses_total{endpoint=\"/v1/embeddings\",status=\"200\"} 1";
        if m.contains(line) && m.contains("vllm:prompt_tokens_total{model_name=\"text-embedding-3-small\"}") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(3), "{m}");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn rerankers_rank_by_shared_words_in_each_dialect() {
    let s = fast();
    let query = "sourdough bread recipe";
    let docs =
        ["the stock market fell today", "bake sourdough bread with a starter", "sourdough bread recipe for beginners"];
    let nim = json!({"model": "nvidia/nv-rerankqa-mistral-4b-v3", "query": {"text": query},
                     "passages": docs.iter().map(|d| json!({"text": d})).collect::<Vec<_>>()});
    let v = ok(&s, "/v1/ranking", nim.clone());
    let order: Vec<u64> = v["rankings"].as_array().unwrap().iter().map(|r| r["index"].as_u64().unwrap()).collect();
    assert_eq!(order, [2, 1, 0]);
    assert_eq!(ok(&s, "/v1/ranking", nim), v, "deterministic");
    let logits: Vec<f64> = v["rankings"].as_array().unwrap().iter().map(|r| r["logit"].as_f64().unwrap()).collect();
    assert!(logits.windows(2).all(|w| w[0] >= w[1]) && logits[2] == -5.0);

    for path in ["/v1/rerank", "/v2/rerank"] {
        let body = json!({"model": "rerank-v3.5", "query": query, "documents": [docs[0], {"text": docs[1]}, docs[2]],
                          "top_n": 2, "return_documents": true});
        let v = ok(&s, path, body);
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 2, "top_n");
        assert_eq!((results[0]["index"].as_u64(), results[1]["index"].as_u64()), (Some(2), Some(1)));
        assert_eq!(results[0]["document"]["text"], docs[2]);
        let score = results[0]["relevance_score"].as_f64().unwrap();
        assert!(score > results[1]["relevance_score"].as_f64().unwrap() && score <= 1.0);
        assert_eq!(v["meta"]["api_version"]["version"], &path[2..3]);
        assert_eq!(v["meta"]["billed_units"]["search_units"], 1);
        let want = 3 * tokens(query) + docs.iter().map(|d| tokens(d)).sum::<u64>();
        assert_eq!(v["usage"]["total_tokens"], want);
        assert!(v["id"].as_str().is_some_and(|id| id.len() == 36));
        let plain = ok(&s, path, json!({"model": "m", "query": query, "documents": docs}));
        assert!(
            plain["results"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("document").is_none() && r["relevance_score"].as_f64().unwrap() >= 0.0)
        );
    }

    let tei = ok(&s, "/rerank", json!({"query": query, "texts": docs, "return_text": true}));
    let list = tei.as_array().unwrap();
    assert_eq!(list[0], json!({"index": 2, "score": list[0]["score"], "text": docs[2]}));
    assert!(list.iter().all(|r| (0.0..=1.0).contains(&r["score"].as_f64().unwrap())));
    let raw = ok(&s, "/rerank", json!({"query": query, "texts": docs, "raw_scores": true}));
    assert_eq!(raw[2]["score"], -5.0, "raw scores are logits");
}

#[test]
fn reranker_errors_name_the_param() {
    let s = fast();
    let q = json!({"text": "q"});
    assert_eq!(bad_param(&s, "/v1/ranking", json!({"model": "m", "query": q, "passages": []})), "passages");
    assert_eq!(bad_param(&s, "/v1/ranking", json!({"model": "m", "passages": [{"text": "a"}]})), "query");
    let truncate = json!({"model": "m", "query": q, "passages": [{"text": "a"}], "truncate": "START"});
    assert_eq!(bad_param(&s, "/v1/ranking", truncate), "truncate");
    let long = json!({"model": "m", "query": q, "passages": [{"text": "word ".repeat(9000)}]});
    assert_eq!(bad_param(&s, "/v1/ranking", long.clone()), "passages");
    let mut cut = long;
    cut["truncate"] = "END".into();
    assert_eq!(ok(&s, "/v1/ranking", cut)["rankings"].as_array().unwrap().len(), 1);
    assert_eq!(
        bad_param(&s, "/v2/rerank", json!({"model": "m", "query": "q", "documents": ["a"], "top_n": 0})),
        "top_n"
    );
    assert_eq!(bad_param(&s, "/v2/rerank", json!({"model": "m", "query": "q", "documents": [1]})), "documents");
    assert_eq!(bad_param(&s, "/v1/rerank", json!({"model": "m", "query": "q"})), "documents");
    let tei = post(&s, "/rerank", json!({"query": "q", "texts": []}));
    assert_eq!((tei.status, tei.json()["error_type"].as_str()), (400, Some("validation")), "TEI's envelope");
}

fn moderate(s: &Server, body: Value) -> Value {
    ok(s, "/v1/moderations", body)
}

#[test]
fn moderation_flags_by_keyword() {
    let s = fast();
    let v = moderate(&s, json!({"input": "I want to kill someone"}));
    assert_eq!(v["model"], "omni-moderation-latest");
    assert!(v["id"].as_str().unwrap().starts_with("modr-"));
    let r = &v["results"][0];
    assert_eq!((r["flagged"].as_bool(), r["categories"]["violence"].as_bool()), (Some(true), Some(true)));
    assert_eq!(r["categories"].as_object().unwrap().values().filter(|b| b.as_bool() == Some(true)).count(), 1);
    assert!(r["category_scores"]["violence"].as_f64().unwrap() >= 0.5);
    assert_eq!(r["category_applied_input_types"]["violence"], json!(["text"]));

    let v = moderate(
        &s,
        json!({"model": "text-moderation-latest", "input": ["What a lovely picnic", "you idiot, watch your back"]}),
    );
    let results = v["results"].as_array().unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(results[0]["flagged"], false);
    assert!(results[0]["category_scores"].as_object().unwrap().values().all(|x| x.as_f64().unwrap() < 0.001));
    assert_eq!(results[1]["categories"]["harassment/threatening"], true);
    assert_eq!(results[1]["categories"]["harassment"], true);

    let parts = json!([{"type": "text", "text": "a quiet lake"}, {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]);
    let v = moderate(&s, json!({"input": parts}));
    let applied = &v["results"][0]["category_applied_input_types"];
    assert_eq!(v["results"].as_array().unwrap().len(), 1, "parts are one input");
    assert_eq!(
        (applied["violence/graphic"].clone(), applied["hate"].clone()),
        (json!(["text", "image"]), json!(["text"]))
    );
    assert_eq!(
        moderate(&s, json!({"input": "I want to kill someone"}))["results"],
        moderate(&s, json!({"input": "I want to kill someone"}))["results"]
    );

    assert_eq!(bad_param(&s, "/v1/moderations", json!({})), "input");
    assert_eq!(bad_param(&s, "/v1/moderations", json!({"input": []})), "input");
    assert_eq!(bad_param(&s, "/v1/moderations", json!({"input": [{"type": "video"}]})), "input");
    let text_only = json!({"model": "text-moderation-latest", "input": parts});
    assert_eq!(bad_param(&s, "/v1/moderations", text_only), "input");
}

#[test]
fn official_openai_sdk_embeddings_and_moderations() {
    common::sdk_check("embeddings_check.py", "/v1", fast);
}
