//! Solido RAG (`POST /rag/api/prompt`) against the real binary: FakeAI's request and response
//! shapes, deterministic retrieval, and `stream: true` as paced SSE.

mod common;

use std::time::{Duration, Instant};

use common::Server;

const PVT: &str = r#""query":["How do I run a PVT corner analysis?"],"filters":{"family":"Solido","tool":"SDE"}"#;

#[test]
fn retrieves_deterministically_and_answers_in_fakeais_shape() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--output-len", "12"]);
    let r = s.post(
        "/rag/api/prompt",
        &format!("{{{PVT},\"inference_model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"top_k\":3}}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let body = r.json();
    let docs = body["retrieved_docs"].as_array().unwrap();
    assert_eq!(docs.len(), 3);
    assert_eq!(docs[0]["id"], "sde-002", "the PVT corner snippet ranks first: {body}");
    assert!(
        docs.iter().all(|d| d["metadata"]["family"] == "Solido" && d["metadata"]["tool"] == "SDE"),
        "filters apply"
    );
    let scores: Vec<f64> = docs.iter().map(|d| d["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]) && scores[0] > 0.0, "best first: {scores:?}");
    assert!(docs.iter().all(|d| d["content"].is_string() && d["source"].is_string()));
    let usage = &body["usage"];
    assert_eq!(usage["completion_tokens"], 12);
    assert!(usage["prompt_tokens"].as_u64().unwrap() > 30, "the retrieved context is prompt: {usage}");
    assert_eq!(usage["total_tokens"], usage["prompt_tokens"].as_u64().unwrap() + 12);
    assert!(!body["content"].as_str().unwrap().is_empty());
    let again = s
        .post(
            "/rag/api/prompt",
            &format!("{{{PVT},\"inference_model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"top_k\":3}}"),
        )
        .json();
    assert_eq!(again, body, "the same request gets the same answer");

    // The request's own documents, default top_k and model.
    let own = r#"{"query":"reset the router password","documents":["Bananas are yellow.",{"id":"kb-7","content":"To reset the router password hold the reset button.","source":"kb"}]}"#;
    let body = s.post("/rag/api/prompt", own).json();
    assert_eq!(body["retrieved_docs"][0]["id"], "kb-7");
    assert_eq!(body["retrieved_docs"][0]["source"], "kb");
    assert_eq!(body["retrieved_docs"].as_array().unwrap().len(), 2);

    for (bad, param) in [
        (r#"{"filters":{}}"#, "query"),
        (r#"{"query":"x","top_k":0}"#, "top_k"),
        (r#"{"query":"x","top_k":21}"#, "top_k"),
        (r#"{"query":[]}"#, "query"),
        (r#"{"query":"x","filters":"Solido"}"#, "filters"),
        (r#"{"query":"x","stream":"yes"}"#, "stream"),
        (r#"{"query":"x","documents":[3]}"#, "documents[0]"),
    ] {
        let r = s.post("/rag/api/prompt", bad);
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["error"]["param"], param, "{bad}");
    }
}

#[test]
fn stream_true_sends_documents_then_paced_deltas_then_usage() {
    let s = Server::start(&["--ttft", "120:0", "--itl", "30:0", "--output-len", "8"]);
    let body = format!("{{{PVT},\"stream\":true}}");
    let whole = s.post("/rag/api/prompt", &format!("{{{PVT}}}")).json();
    let r = s.post("/rag/api/prompt", &body);
    assert!(r.header("content-type").unwrap().starts_with("text/event-stream"));
    let events = r.events();
    assert_eq!(events[0]["retrieved_docs"], whole["retrieved_docs"], "retrieval comes first");
    let text: String = events.iter().filter_map(|e| e["content"].as_str()).collect();
    assert_eq!(text, whole["content"].as_str().unwrap(), "the stream spells the same answer");
    let last = events.last().unwrap();
    assert_eq!((last["finish_reason"].as_str(), &last["usage"]), (Some("stop"), &whole["usage"]));

    let mut conn = s.connect();
    let sent = Instant::now();
    conn.send("POST", "/rag/api/prompt", Some(&body), &[]);
    let timed = conn.timed_events();
    let deltas: Vec<Instant> =
        timed.iter().filter(|(_, e)| e["content"].as_str().is_some_and(|c| !c.is_empty())).map(|(t, _)| *t).collect();
    assert_eq!(deltas.len(), 8);
    assert!(timed[0].0 - sent < Duration::from_millis(100), "documents before the first token");
    let ttft = deltas[0] - sent;
    assert!(ttft >= Duration::from_millis(110) && ttft < Duration::from_millis(600), "TTFT {ttft:?}");
    for w in deltas.windows(2) {
        let gap = w[1] - w[0];
        assert!(gap >= Duration::from_millis(20) && gap < Duration::from_millis(300), "ITL {gap:?}");
    }
}
