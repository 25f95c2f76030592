//! Exact token accounting, checked against an independent tokenizer (tiktoken-rs): a client
//! that re-tokenizes the streamed text counts exactly `usage.completion_tokens`.

mod common;

use common::{Server, chat};
use fakeai::tokens::vocab::{CAPITAL, CAPITAL_SPACED, SPACED};
use tiktoken_rs::CoreBPE;

fn encodings() -> [(&'static str, CoreBPE); 2] {
    [("cl100k_base", tiktoken_rs::cl100k_base().unwrap()), ("o200k_base", tiktoken_rs::o200k_base().unwrap())]
}

#[test]
fn every_vocabulary_piece_is_one_token_in_both_encodings() {
    for (name, bpe) in encodings() {
        for piece in SPACED.iter().chain(&CAPITAL).chain(&CAPITAL_SPACED).chain(&[".", ","]) {
            assert_eq!(bpe.encode_ordinary(piece).len(), 1, "{piece:?} under {name}");
        }
    }
}

#[test]
fn generated_text_retokenizes_to_its_length() {
    let encs = encodings();
    for seed in 0..200u64 {
        let n = 1 + (seed * 37 % 400) as usize;
        let mut text = String::new();
        fakeai::tokens::TextGen::new(seed).push_tokens(n, &mut text);
        for (name, bpe) in &encs {
            assert_eq!(bpe.encode_ordinary(&text).len(), n, "seed {seed} under {name}: {text}");
        }
    }
}

#[test]
fn streamed_and_non_streamed_text_retokenize_to_usage() {
    for (name, bpe) in encodings() {
        let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--tokenizer", name]);
        let prompt = "The quick brown fox, it's said, jumps over 13 lazy dogs! Ünïcödé too: 日本語.";
        for max in [1, 2, 17, 256, 1000] {
            let r = s.post("/v1/chat/completions", &chat("m", prompt, &format!(r#""max_tokens":{max},"ignore_eos":true,"stream":true,"stream_options":{{"include_usage":true}}"#)));
            let text = r.streamed_text();
            let usage = r.events().last().unwrap()["usage"].clone();
            assert_eq!(usage["completion_tokens"], max);
            assert_eq!(bpe.encode_ordinary(&text).len(), max as usize, "{name}: streamed text {text:?}");
            assert_eq!(r.content_events(), max as usize);
            assert_eq!(usage["prompt_tokens"], bpe.encode_ordinary(prompt).len(), "{name} prompt count");

            let v = s
                .post(
                    "/v1/completions",
                    &format!(
                        r#"{{"model":"m","prompt":{},"max_tokens":{max},"ignore_eos":true}}"#,
                        serde_json::to_string(prompt).unwrap()
                    ),
                )
                .json();
            let text = v["choices"][0]["text"].as_str().unwrap();
            assert_eq!(bpe.encode_ordinary(text).len(), max as usize);
            assert_eq!(v["usage"]["completion_tokens"], max);
            assert_eq!(v["usage"]["prompt_tokens"], bpe.encode_ordinary(prompt).len());
        }
    }
}

#[test]
fn stop_sequences_end_generation_before_them_with_exact_usage() {
    let s = Server::start(common::FAST);
    let cl100k = tiktoken_rs::cl100k_base().unwrap();
    for (stop, stream) in [(r#"".""#, true), (r#"[" the", "."]"#, false), (r#""ing""#, true)] {
        let body = chat(
            "m",
            "x",
            &format!(
                r#""max_tokens":2000,"ignore_eos":true,"seed":3,"stop":{stop},"stream":{stream}{}"#,
                if stream { r#","stream_options":{"include_usage":true}"# } else { "" }
            ),
        );
        let r = s.post("/v1/chat/completions", &body);
        let (text, usage, finish) = if stream {
            let ev = r.events();
            let finish = ev[ev.len() - 2]["choices"][0]["finish_reason"].as_str().unwrap().to_owned();
            assert_eq!(r.content_events() as u64, ev.last().unwrap()["usage"]["completion_tokens"].as_u64().unwrap());
            (r.streamed_text(), ev.last().unwrap()["usage"]["completion_tokens"].as_u64().unwrap(), finish)
        } else {
            let v = r.json();
            let text = v["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
            (
                text,
                v["usage"]["completion_tokens"].as_u64().unwrap(),
                v["choices"][0]["finish_reason"].as_str().unwrap().to_owned(),
            )
        };
        assert_eq!(finish, "stop", "stop={stop}");
        assert!(usage < 2000, "stopped early: {usage}");
        let stops: Vec<String> = match serde_json::from_str::<serde_json::Value>(stop).unwrap() {
            serde_json::Value::String(s) => vec![s],
            serde_json::Value::Array(a) => a.iter().map(|v| v.as_str().unwrap().to_owned()).collect(),
            _ => unreachable!(),
        };
        assert!(stops.iter().all(|st| !text.contains(st.as_str())), "{stop} in {text}");
        assert_eq!(cl100k.encode_ordinary(&text).len() as u64, usage, "usage is exact after the cut");
    }
}

#[test]
fn n_choices_stream_interleaved_with_summed_usage() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "1:0", "--output-len", "20:50"]);
    let cl100k = tiktoken_rs::cl100k_base().unwrap();
    let body = chat("m", "x", r#""n":3,"max_tokens":40,"stream":true,"stream_options":{"include_usage":true}"#);
    let r = s.post("/v1/chat/completions", &body);
    let ev = r.events();
    let mut texts = vec![String::new(); 3];
    let mut finishes = [0; 3];
    for e in &ev {
        for c in e["choices"].as_array().unwrap() {
            let i = c["index"].as_u64().unwrap() as usize;
            texts[i] += c["delta"]["content"].as_str().unwrap_or("");
            if !c["finish_reason"].is_null() {
                finishes[i] += 1;
            }
        }
    }
    assert_eq!(finishes, [1, 1, 1], "one finish chunk per choice");
    assert!(texts[0] != texts[1] && texts[1] != texts[2], "distinct choices");
    let usage = ev.last().unwrap()["usage"]["completion_tokens"].as_u64().unwrap();
    let counted: usize = texts.iter().map(|t| cl100k.encode_ordinary(t).len()).sum();
    assert_eq!(counted as u64, usage, "usage sums the choices, exactly");
    assert_eq!(r.content_events() as u64, usage);

    let v = s.post("/v1/completions", r#"{"model":"m","prompt":"x","n":2,"max_tokens":5,"ignore_eos":true}"#).json();
    let choices = v["choices"].as_array().unwrap();
    assert_eq!(choices.iter().map(|c| c["index"].as_u64().unwrap()).collect::<Vec<_>>(), [0, 1]);
    assert_eq!(v["usage"]["completion_tokens"], 10);
    assert!(choices.iter().all(|c| cl100k.encode_ordinary(c["text"].as_str().unwrap()).len() == 5));
}

#[test]
fn reasoning_models_stream_reasoning_first_with_exact_counts() {
    let s = Server::start(common::FAST);
    let o200k = tiktoken_rs::o200k_base().unwrap();
    for (effort, share) in [("low", 0.25), ("medium", 0.5), ("high", 0.75)] {
        let extra = format!(
            r#""max_tokens":40,"ignore_eos":true,"reasoning_effort":"{effort}","stream":true,"stream_options":{{"include_usage":true}}"#
        );
        let r = s.post("/v1/chat/completions", &chat("openai/gpt-oss-120b", "Think first.", &extra));
        let ev = r.events();
        let (mut thought, mut answer, mut seen_answer) = (String::new(), String::new(), false);
        for e in &ev {
            let d = &e["choices"][0]["delta"];
            if let Some(t) = d["reasoning_content"].as_str() {
                assert!(!seen_answer, "all reasoning comes before the answer");
                thought += t;
            }
            if let Some(t) = d["content"].as_str().filter(|t| !t.is_empty()) {
                seen_answer = true;
                answer += t;
            }
        }
        let usage = &ev.last().unwrap()["usage"];
        let reasoning = usage["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap();
        assert_eq!(reasoning, (40.0 * share) as u64, "{effort}");
        assert_eq!(usage["completion_tokens"], 40);
        assert_eq!(o200k.encode_ordinary(&thought).len() as u64, reasoning);
        assert_eq!(o200k.encode_ordinary(&answer).len() as u64, 40 - reasoning);
    }
    let v = s
        .post("/v1/chat/completions", &chat("deepseek-ai/DeepSeek-R1", "x", r#""max_tokens":10,"ignore_eos":true"#))
        .json();
    let m = &v["choices"][0]["message"];
    assert_eq!(m["reasoning_content"], m["reasoning"], "reasoning alias");
    assert_eq!(o200k.encode_ordinary(m["reasoning_content"].as_str().unwrap()).len(), 5);
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 5);
    let plain = s.post("/v1/chat/completions", &chat("gpt-4o", "x", r#""max_tokens":10"#)).json();
    assert!(plain["choices"][0]["message"].get("reasoning_content").is_none());
    let none = s
        .post(
            "/v1/chat/completions",
            &chat("openai/gpt-oss-20b", "x", r#""max_tokens":10,"ignore_eos":true,"reasoning_effort":"none""#),
        )
        .json();
    assert_eq!(none["usage"]["completion_tokens_details"]["reasoning_tokens"], 0);
    let off = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--reasoning-models", ""]);
    let v = off
        .post("/v1/chat/completions", &chat("openai/gpt-oss-120b", "x", r#""max_tokens":10,"ignore_eos":true"#))
        .json();
    assert_eq!(v["usage"]["completion_tokens_details"]["reasoning_tokens"], 0, "configurable");
}

#[test]
fn anthropic_messages_stream_and_message() {
    let s = Server::start(common::FAST);
    let cl100k = tiktoken_rs::cl100k_base().unwrap();
    let parse = |text: &str| -> Vec<(String, serde_json::Value)> {
        text.split_terminator("\n\n")
            .map(|e| {
                let (name, data) = e.split_once("\ndata: ").expect("event + data lines");
                (name.strip_prefix("event: ").unwrap().to_owned(), serde_json::from_str(data).unwrap())
            })
            .collect()
    };
    for (model, thinking) in [("claude-3-haiku", 0u64), ("deepseek-ai/DeepSeek-R1", 10)] {
        let body = format!(
            r#"{{"model":"{model}","system":"Be brief.","messages":[{{"role":"user","content":"Hello, world!"}}],"max_tokens":20,"stream":true,"ignore_eos":true}}"#
        );
        let r = s.post("/v1/messages", &body);
        let ev = parse(&r.text());
        assert_eq!(ev.first().unwrap().0, "message_start");
        assert_eq!(ev.last().unwrap().0, "message_stop");
        assert_eq!(ev[0].1["message"]["usage"]["input_tokens"], 7, "system + messages");
        let text: String = ev.iter().filter_map(|(_, v)| v["delta"]["text"].as_str()).collect();
        let thought: String = ev.iter().filter_map(|(_, v)| v["delta"]["thinking"].as_str()).collect();
        let deltas = ev.iter().filter(|(n, v)| n == "content_block_delta" && v["delta"]["type"] != "signature_delta");
        let signatures = ev.iter().filter(|(_, v)| v["delta"]["type"] == "signature_delta").count() as u64;
        assert_eq!(signatures, thinking.min(1), "the thinking block ends with its signature");
        let deltas = deltas.count() as u64;
        let md = &ev.iter().find(|(n, _)| n == "message_delta").unwrap().1;
        assert_eq!(md["usage"]["output_tokens"], 20);
        assert_eq!(md["delta"]["stop_reason"], "max_tokens");
        assert_eq!(deltas, 20, "one delta per token");
        assert_eq!(cl100k.encode_ordinary(&thought).len() as u64, thinking);
        assert_eq!(cl100k.encode_ordinary(&text).len() as u64, 20 - thinking);
    }
    let v = s.post("/v1/messages", r#"{"model":"claude-3-opus","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":5,"ignore_eos":true}"#).json();
    assert_eq!((v["type"].as_str(), v["role"].as_str()), (Some("message"), Some("assistant")));
    assert!(v["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(cl100k.encode_ordinary(v["content"][0]["text"].as_str().unwrap()).len(), 5);
    assert_eq!(v["usage"]["output_tokens"], 5);
    // Anthropic's envelope: {"type": "error", "error": {"type", "message"}}.
    let e = s.post("/v1/messages", r#"{"model":"m","messages":[{"role":"user","content":"x"}]}"#);
    assert_eq!((e.status, e.json()["type"].as_str()), (400, Some("error")));
    assert_eq!((e.status, e.json()["error"]["message"].as_str()), (400, Some("max_tokens: Field required")));
}

#[test]
fn responses_api_streams_the_openai_event_sequence() {
    let s = Server::start(common::FAST);
    let o200k = tiktoken_rs::o200k_base().unwrap();
    let parse = |text: &str| -> Vec<serde_json::Value> {
        text.split_terminator("\n\n")
            .map(|e| {
                let (name, data) = e.split_once("\ndata: ").expect("event + data lines");
                let v: serde_json::Value = serde_json::from_str(data).unwrap();
                assert_eq!(v["type"], name.strip_prefix("event: ").unwrap());
                v
            })
            .collect()
    };
    for (model, reasoning) in [("gpt-4o", 0u64), ("openai/gpt-oss-20b", 15)] {
        let body = format!(
            r#"{{"model":"{model}","instructions":"Be brief.","input":[{{"role":"user","content":[{{"type":"input_text","text":"Hello, world!"}}]}}],"max_output_tokens":30,"stream":true,"ignore_eos":true}}"#
        );
        let ev = parse(&s.post("/v1/responses", &body).text());
        let kinds: Vec<&str> = ev.iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(&kinds[..2], ["response.created", "response.in_progress"]);
        // Cut by max_output_tokens: the stream ends as OpenAI's does.
        assert_eq!(*kinds.last().unwrap(), "response.incomplete");
        let seq: Vec<u64> = ev.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
        assert!(seq.windows(2).all(|w| w[1] == w[0] + 1), "sequence numbers count up");
        let text: String = ev
            .iter()
            .filter(|e| e["type"] == "response.output_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        let thought: String = ev
            .iter()
            .filter(|e| e["type"] == "response.reasoning_text.delta")
            .map(|e| e["delta"].as_str().unwrap())
            .collect();
        let first_text = kinds.iter().position(|k| *k == "response.output_text.delta").unwrap();
        let message_added = ev
            .iter()
            .position(|e| e["type"] == "response.output_item.added" && e["item"]["type"] == "message")
            .unwrap();
        assert!(message_added < first_text, "the message item is announced before its text");
        assert_eq!(ev[message_added]["output_index"], u64::from(reasoning > 0));
        if reasoning > 0 {
            let reasoning_done =
                kinds.iter().position(|k| *k == "response.reasoning_text.done").expect("reasoning item closes");
            assert!(reasoning_done < message_added);
            assert_eq!(ev[reasoning_done]["text"], thought.as_str());
        }
        let done = ev.iter().find(|e| e["type"] == "response.output_text.done").unwrap();
        assert_eq!(done["text"], text.as_str());
        let completed = &ev.last().unwrap()["response"];
        assert_eq!(completed["status"], "incomplete");
        assert_eq!(completed["incomplete_details"]["reason"], "max_output_tokens");
        assert_eq!(completed["output_text"], text.as_str());
        let usage = &completed["usage"];
        assert_eq!(usage["output_tokens"], 30);
        assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], reasoning);
        assert_eq!(usage["input_tokens"], 7, "instructions + input");
        assert_eq!(o200k.encode_ordinary(&text).len() as u64, 30 - reasoning);
        assert_eq!(o200k.encode_ordinary(&thought).len() as u64, reasoning);
    }
    let v =
        s.post("/v1/responses", r#"{"model":"gpt-4o","input":"Hi","max_output_tokens":6,"ignore_eos":true}"#).json();
    assert_eq!((v["object"].as_str(), v["status"].as_str()), (Some("response"), Some("incomplete")));
    assert!(v["id"].as_str().unwrap().starts_with("resp_"));
    assert_eq!(o200k.encode_ordinary(v["output_text"].as_str().unwrap()).len(), 6);
    assert_eq!(v["output"][0]["content"][0]["type"], "output_text");
    let e = s.post("/v1/responses", r#"{"model":"gpt-4o","max_output_tokens":6}"#);
    assert_eq!((e.status, e.json()["error"]["param"].as_str()), (400, Some("input")));
}
