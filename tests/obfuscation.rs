//! `ChatCompletionChunk.obfuscation`: off by default (the bytes of a stream do not change), and
//! with `--stream-obfuscation` on every chat chunk unless the request turns it off.

mod common;

use common::Server;
use serde_json::{Value, json};

use common::FAST;

fn stream(s: &Server, extra: Value) -> (String, Vec<Value>) {
    let mut body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Hi"}], "stream": true,
        "max_tokens": 5, "ignore_eos": true, "seed": 9});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let r = s.post("/v1/chat/completions", &body.to_string());
    (r.text(), r.events())
}

/// A chunk without what differs between two runs of one seed: its id, time and padding.
fn comparable(chunk: &Value) -> Value {
    let mut c = chunk.clone();
    for field in ["id", "created", "obfuscation"] {
        c.as_object_mut().unwrap().remove(field);
    }
    c
}

#[test]
fn obfuscation_pads_chat_chunks_only_when_on() {
    let plain = Server::start(FAST);
    let mut args = FAST.to_vec();
    args.push("--stream-obfuscation");
    let padded = Server::start(&args);
    let usage = json!({"stream_options": {"include_usage": true}});

    let (text, off) = stream(&plain, usage.clone());
    assert!(!text.contains("obfuscation"), "off by default");
    let (_, on) = stream(&padded, usage);
    assert_eq!(on.len(), off.len());
    for (a, b) in off.iter().zip(&on) {
        let pad = b["obfuscation"].as_str().expect("every chunk padded");
        assert!((1..=16).contains(&pad.len()) && pad.bytes().all(|c| c.is_ascii_alphanumeric()), "{pad:?}");
        assert_eq!(comparable(b), comparable(a), "the padding is the only difference");
    }
    let (_, two) = stream(&padded, json!({"n": 2, "logprobs": true}));
    assert!(two.iter().all(|c| c["obfuscation"].is_string()));

    let opted_out = json!({"stream_options": {"include_usage": true, "include_obfuscation": false}});
    let (text, events) = stream(&padded, opted_out);
    assert!(!text.contains("obfuscation"), "include_obfuscation: false turns it off");
    assert_eq!(events.iter().map(comparable).collect::<Vec<_>>(), off.iter().map(comparable).collect::<Vec<_>>());
}

#[test]
fn the_openai_sdk_validates_padded_chunks() {
    let args = [FAST, &["--stream-obfuscation"]].concat();
    common::sdk_check("obfuscation_check.py", "/v1", || Server::start(&args));
}
