//! Hugging Face TGI over HTTP: the raw SSE bytes of `/generate_stream` and `POST /`, the bodies of
//! `/generate`, `/info`, TGI's error envelope, and `huggingface_hub.InferenceClient` in all four
//! stream × details combinations (tests/sdk/tgi_check.py).

mod common;

use common::Server;
use serde_json::Value;

/// A server whose generations stop on their own after 20 tokens.
fn server() -> Server {
    Server::start(&["--ttft", "0:0", "--itl", "0:0", "--output-len", "20"])
}

/// The events of a TGI stream: `data:{json}\n\n` each, and nothing else (no `[DONE]`).
fn tgi_events(r: &common::Response) -> Vec<Value> {
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let text = r.text();
    assert!(text.ends_with("}\n\n") && !text.contains("[DONE]"), "TGI framing: {text}");
    text.split_terminator("\n\n")
        .map(|e| serde_json::from_str(e.strip_prefix("data:").expect("a data: line")).expect("event JSON"))
        .collect()
}

fn cl100k_len(text: &str) -> usize {
    tiktoken_rs::cl100k_base().unwrap().encode_ordinary(text).len()
}

#[test]
fn huggingface_hub_inference_client() {
    common::sdk_check("tgi_check.py", "", server);
}

#[test]
fn a_length_cut_stream_is_one_event_per_token_and_no_more() {
    let s = server();
    let r = s.post("/generate_stream", r#"{"inputs":"Hello, world!","parameters":{"max_new_tokens":12}}"#);
    let events = tgi_events(&r);
    assert_eq!(events.len(), 12, "12 tokens, 12 events");
    let texts: Vec<&str> = events.iter().map(|e| e["token"]["text"].as_str().unwrap()).collect();
    assert_eq!(cl100k_len(&texts.concat()), 12);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e["index"], i + 1);
        assert_eq!(e["token"]["special"], false);
        assert_eq!(e["details"], Value::Null, "details only when asked");
        assert!(e.get("top_tokens").is_none(), "TGI omits empty top_tokens");
    }
    assert!(events[..11].iter().all(|e| e["generated_text"].is_null()));
    assert_eq!(events[11]["generated_text"], texts.concat());
    let last = r.text().rsplit_terminator("\n\n").next().unwrap().to_owned();
    assert!(last.ends_with(&format!(",\"generated_text\":{},\"details\":null}}", events[11]["generated_text"])));
}

#[test]
fn a_natural_end_is_the_end_of_sequence_token_counted_among_the_events() {
    let s = server();
    let r = s.post("/generate_stream", r#"{"inputs":"Hi","parameters":{"max_new_tokens":100,"details":true}}"#);
    let events = tgi_events(&r);
    assert_eq!(events.len(), 20);
    let last = &events[19];
    assert_eq!(last["token"], serde_json::json!({"id":100257,"text":"<|endoftext|>","logprob":-0.1,"special":true}));
    let text: String = events[..19].iter().map(|e| e["token"]["text"].as_str().unwrap()).collect();
    assert_eq!(last["generated_text"], text, "the EOS token's text is not generated text");
    assert_eq!(
        last["details"],
        serde_json::json!({"finish_reason":"eos_token","generated_tokens":20,"seed":null,"input_length":1})
    );
    assert!(events[..19].iter().all(|e| e["token"]["special"] == false && e["details"].is_null()));
}

#[test]
fn a_stop_sequence_ends_before_it_and_says_so() {
    let s = server();
    let body = |extra: &str| format!(r#"{{"inputs":"Hi","parameters":{{"max_new_tokens":100,"seed":3{extra}}}}}"#);
    let full = s.post("/generate", &body(""));
    let text = full.json()["generated_text"].as_str().unwrap().to_owned();
    let stop = text.split(' ').nth(5).unwrap();
    let r = s.post("/generate", &body(&format!(r#","details":true,"stop":[" {stop}"]"#))).json();
    let cut = r["generated_text"].as_str().unwrap();
    assert!(text.starts_with(cut) && text[cut.len()..].starts_with(&format!(" {stop}")), "{cut:?} of {text:?}");
    assert_eq!(r["details"]["finish_reason"], "stop_sequence");
    assert_eq!(r["details"]["generated_tokens"], cl100k_len(cut));
    let events = tgi_events(&s.post("/generate_stream", &body(&format!(r#","details":true,"stop":[" {stop}"]"#))));
    assert_eq!(events.last().unwrap()["details"]["finish_reason"], "stop_sequence");
    assert_eq!(events.len(), cl100k_len(cut));
}

#[test]
fn stop_sequence_only_when_a_stop_sequence_cut_the_text() {
    let s = server();
    let (mut cut, mut natural) = (0, 0);
    for seed in 0..60 {
        let raw = s.post(
            "/v1/completions",
            &format!(r#"{{"model":"m","prompt":"Hi","max_tokens":21,"ignore_eos":true,"seed":{seed}}}"#),
        );
        let raw = raw.json()["choices"][0]["text"].as_str().unwrap().to_owned();
        let body = format!(
            r#"{{"inputs":"Hi","parameters":{{"max_new_tokens":100,"seed":{seed},"stop":["."],"details":true}}}}"#
        );
        let v = s.post("/generate", &body).json();
        let (text, d) = (v["generated_text"].as_str().unwrap(), &v["details"]);
        assert!(raw.starts_with(text) && !text.contains('.'), "seed {seed}: {text:?} of {raw:?}");
        let tokens = d["tokens"].as_array().unwrap();
        match d["finish_reason"].as_str().unwrap() {
            "stop_sequence" => {
                cut += 1;
                assert!(raw[text.len()..].starts_with('.'), "seed {seed}: cut right before the stop");
                assert!(d["generated_tokens"].as_u64().unwrap() < 20, "seed {seed}: cut before the natural end");
                assert!(tokens.iter().all(|t| t["special"] == false));
            }
            "eos_token" => {
                natural += 1;
                assert_eq!((d["generated_tokens"].as_u64(), tokens[19]["special"].as_bool()), (Some(20), Some(true)));
            }
            other => panic!("seed {seed}: {other}"),
        }
    }
    assert!(cut > 0 && natural > 0, "both kinds seen: {cut} cut, {natural} natural");
}

#[test]
fn generate_answers_details_only_when_asked() {
    let s = server();
    let r = s.post("/generate", r#"{"inputs":"Hello, world!","parameters":{"max_new_tokens":7}}"#);
    let v = r.json();
    assert_eq!(v.as_object().unwrap().keys().collect::<Vec<_>>(), ["generated_text"]);
    assert_eq!(cl100k_len(v["generated_text"].as_str().unwrap()), 7);
    assert_eq!((r.header("x-prompt-tokens"), r.header("x-generated-tokens")), (Some("4"), Some("7")));
    let v =
        s.post("/generate", r#"{"inputs":"Hello, world!","parameters":{"max_new_tokens":7,"details":true}}"#).json();
    let d = &v["details"];
    let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["finish_reason", "generated_tokens", "seed", "prefill", "tokens"], "TGI's order, no extras");
    assert_eq!((d["finish_reason"].as_str(), d["generated_tokens"].as_u64()), (Some("length"), Some(7)));
    let tokens = d["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 7);
    let joined: String = tokens.iter().map(|t| t["text"].as_str().unwrap()).collect();
    assert_eq!(v["generated_text"], joined);
    assert_eq!(tokens[0], serde_json::json!({"id":1001,"text":tokens[0]["text"],"logprob":-0.1,"special":false}));
}

#[test]
fn the_combined_route_streams_on_request_and_answers_a_list_with_the_prompt() {
    let s = server();
    let v = s.post("/", r#"{"inputs":"Hello","parameters":{"max_new_tokens":3}}"#).json();
    let text = v[0]["generated_text"].as_str().unwrap();
    assert!(text.starts_with("Hello") && cl100k_len(&text["Hello".len()..]) == 3, "return_full_text: {text}");
    let v = s.post("/", r#"{"inputs":"Hello","parameters":{"max_new_tokens":3,"return_full_text":false}}"#).json();
    assert_eq!(cl100k_len(v[0]["generated_text"].as_str().unwrap()), 3);
    let events = tgi_events(&s.post("/", r#"{"inputs":"Hello","stream":true,"parameters":{"max_new_tokens":4}}"#));
    assert_eq!(events.len(), 4);
    assert!(events[3]["generated_text"].as_str().unwrap().starts_with("Hello"));
}

#[test]
fn errors_use_tgi_envelope() {
    let s = server();
    let e = s.post("/generate", r#"{"parameters":{}}"#);
    assert_eq!(e.status, 422);
    assert_eq!(e.json()["error_type"], "validation");
    assert!(e.json()["error"].as_str().unwrap().contains("missing field `inputs`"));
    let e = s.post("/generate", r#"{"inputs":"x","parameters":{"max_new_tokens":0}}"#);
    assert_eq!(
        (e.status, e.json()),
        (422, serde_json::json!({"error":"`max_new_tokens` must be strictly positive","error_type":"validation"}))
    );
    let e = s.post("/generate", r#"{"inputs":"x","parameters":{"max_new_tokens":200000}}"#);
    assert_eq!(
        e.json()["error"],
        "`inputs` tokens + `max_new_tokens` must be <= 131072. Given: 1 `inputs` tokens and 200000 `max_new_tokens`"
    );
    // Streaming routes validate inside the stream, as TGI does: a 200 with one error event.
    let r = s.post("/generate_stream", r#"{"inputs":"x","parameters":{"best_of":2,"do_sample":true}}"#);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.text(),
        "data:{\"error\":\"`best_of` != 1 is not supported when streaming tokens\",\"error_type\":\"validation\"}\n\n"
    );
}

#[test]
fn info_and_health() {
    let s = server();
    let v = s.request("GET", "/info", None).json();
    for key in ["model_id", "max_input_tokens", "max_total_tokens", "max_best_of", "router", "version"] {
        assert!(!v[key].is_null(), "{key} in {v}");
    }
    assert_eq!((v["max_total_tokens"].as_u64(), v["max_input_tokens"].as_u64()), (Some(131_072), Some(131_071)));
    assert_eq!(v["router"], "text-generation-router");
    // TGI clients only need a 200 from /health; fakeai keeps FakeAI's JSON there.
    let h = s.request("GET", "/health", None);
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("healthy")));
    assert_eq!(s.request("GET", "/", None).header("allow"), Some("POST, OPTIONS"));
}
