//! Tools, structured output, logprobs, multimodal prompts, predicted outputs and parameter
//! validation, over HTTP; token counts checked against tiktoken-rs.

mod common;

use common::{Response, Server, chat};
use serde_json::{Value, json};

fn server() -> Server {
    Server::start(common::FAST)
}

fn cl100k(text: &str) -> usize {
    tiktoken_rs::cl100k_base().unwrap().encode_ordinary(text).len()
}

fn weather_tools() -> Value {
    json!([
        {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 10}
            }, "required": ["city", "unit", "days"], "additionalProperties": false}, "strict": true}},
        {"type": "function", "function": {"name": "book_flight", "parameters": {"type": "object", "properties": {
            "to": {"type": "string"}, "seats": {"type": "integer", "minimum": 1}}, "required": ["to"]}}}
    ])
}

fn post_json(s: &Server, path: &str, body: Value) -> Response {
    s.post(path, &body.to_string())
}

fn ask(content: &str, extra: Value) -> Value {
    let mut body =
        json!({"model": "gpt-4o", "messages": [{"role": "user", "content": content}], "tools": weather_tools()});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body
}

/// Tool calls streamed as OpenAI deltas, reassembled per index.
fn streamed_calls(r: &Response) -> (Vec<(String, String, String)>, Option<String>, usize) {
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut finish = None;
    let mut arg_chunks = 0;
    for e in r.events() {
        let Some(c) = e["choices"].get(0) else { continue };
        if let Some(f) = c["finish_reason"].as_str() {
            finish = Some(f.to_owned());
        }
        for tc in c["delta"]["tool_calls"].as_array().into_iter().flatten() {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(i, calls.len(), "calls start in index order");
                assert_eq!(tc["type"], "function");
                calls.push((id.to_owned(), tc["function"]["name"].as_str().unwrap().to_owned(), String::new()));
                assert_eq!(tc["function"]["arguments"], "");
            } else {
                arg_chunks += 1;
                calls[i].2.push_str(tc["function"]["arguments"].as_str().unwrap());
            }
        }
    }
    (calls, finish, arg_chunks)
}

#[test]
fn tool_choice_decides_and_arguments_match_the_schema() {
    let s = server();
    // auto: a call when the prompt asks for a tool, text otherwise.
    let v = post_json(&s, "/v1/chat/completions", ask("What's the weather in Paris?", json!({}))).json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert!(calls[0]["id"].as_str().unwrap().starts_with("call_"));
    assert_eq!(calls[0]["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string() && ["celsius", "fahrenheit"].contains(&args["unit"].as_str().unwrap()));
    assert!((1..=10).contains(&args["days"].as_i64().unwrap()));
    let usage = &v["usage"];
    let expected = cl100k("get_weather") + cl100k(calls[0]["function"]["arguments"].as_str().unwrap());
    assert_eq!(usage["completion_tokens"], expected as u64, "the name and arguments are the output tokens");
    let with_tools = usage["prompt_tokens"].as_u64().unwrap();
    let bare = s.post("/v1/chat/completions", &chat("gpt-4o", "What's the weather in Paris?", "")).json();
    assert!(with_tools > bare["usage"]["prompt_tokens"].as_u64().unwrap() + 50, "tool definitions count");

    let v = post_json(&s, "/v1/chat/completions", ask("Tell me a joke", json!({}))).json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"]["content"].as_str().unwrap().len() > 1);

    // Both tools mentioned: parallel calls unless parallel_tool_calls is false.
    let both = "Check the weather in Rome and book a flight there";
    let v = post_json(&s, "/v1/chat/completions", ask(both, json!({}))).json();
    assert_eq!(v["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), 2);
    let v = post_json(&s, "/v1/chat/completions", ask(both, json!({"parallel_tool_calls": false}))).json();
    assert_eq!(v["choices"][0]["message"]["tool_calls"].as_array().unwrap().len(), 1);

    // none never calls; required and named always do.
    let v = post_json(&s, "/v1/chat/completions", ask("weather please", json!({"tool_choice": "none"}))).json();
    assert!(v["choices"][0]["message"]["tool_calls"].is_null());
    let v = post_json(&s, "/v1/chat/completions", ask("a joke", json!({"tool_choice": "required"}))).json();
    assert_eq!(v["choices"][0]["finish_reason"], "tool_calls");
    let named = json!({"tool_choice": {"type": "function", "function": {"name": "book_flight"}}});
    let v = post_json(&s, "/v1/chat/completions", ask("weather please", named)).json();
    assert_eq!(v["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "book_flight");

    // After a tool result the model answers in text.
    let mut follow_up = ask("weather in Oslo?", json!({}));
    follow_up["messages"] = json!([
        {"role": "user", "content": "weather in Oslo?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "12 degrees"}
    ]);
    let v = post_json(&s, "/v1/chat/completions", follow_up).json();
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[test]
fn streamed_tool_calls_use_incremental_deltas() {
    let s = server();
    let body = ask(
        "Check the weather in Rome and book a flight there",
        json!({"stream": true, "stream_options": {"include_usage": true}}),
    );
    let r = post_json(&s, "/v1/chat/completions", body);
    let (calls, finish, arg_chunks) = streamed_calls(&r);
    assert_eq!(finish.as_deref(), Some("tool_calls"));
    assert_eq!(calls.iter().map(|c| c.1.as_str()).collect::<Vec<_>>(), ["get_weather", "book_flight"]);
    let mut tokens = 0;
    for (_, name, args) in &calls {
        serde_json::from_str::<Value>(args).expect("arguments reassemble into JSON");
        tokens += cl100k(name) + cl100k(args);
    }
    assert_eq!(arg_chunks, calls.iter().map(|c| cl100k(&c.2)).sum::<usize>(), "one argument chunk per token");
    assert_eq!(r.events().last().unwrap()["usage"]["completion_tokens"], tokens as u64);

    // Legacy functions: function_call deltas and finish_reason function_call.
    let legacy = json!({"model": "gpt-4", "stream": true, "messages": [{"role": "user", "content": "weather?"}],
        "functions": [{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        "function_call": {"name": "get_weather"}});
    let events = post_json(&s, "/v1/chat/completions", legacy).events();
    assert_eq!(events[1]["choices"][0]["delta"]["function_call"]["name"], "get_weather");
    let args: String =
        events.iter().filter_map(|e| e["choices"][0]["delta"]["function_call"]["arguments"].as_str()).collect();
    serde_json::from_str::<Value>(&args).unwrap();
    assert_eq!(events.last().unwrap()["choices"][0]["finish_reason"], "function_call");
}

#[test]
fn response_format_returns_json_in_both_modes() {
    let s = server();
    let schema = json!({"type": "object", "properties": {
        "name": {"type": "string"},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "address": {"type": "object", "properties": {"zip": {"type": "string"}}, "required": ["zip"], "additionalProperties": false}
    }, "required": ["name", "age", "tags", "address"], "additionalProperties": false});
    let format = json!({"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": schema}});
    for stream in [false, true] {
        let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "A person"}], "stream": stream,
            "stream_options": if stream { json!({"include_usage": true}) } else { Value::Null },
            "response_format": format});
        let r = post_json(&s, "/v1/chat/completions", body);
        let (text, usage) = match stream {
            true => (r.streamed_text(), r.events().last().unwrap()["usage"].clone()),
            false => {
                let v = r.json();
                (v["choices"][0]["message"]["content"].as_str().unwrap().to_owned(), v["usage"].clone())
            }
        };
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert!(v["name"].is_string() && (0..=120).contains(&v["age"].as_i64().unwrap()));
        assert!(v["address"]["zip"].is_string() && v["tags"].is_array());
        assert_eq!(usage["completion_tokens"], cl100k(&text) as u64, "stream={stream}");
        if stream {
            assert_eq!(r.content_events(), cl100k(&text), "one chunk per token");
        }
    }
    let body = chat("gpt-4o", "json please", r#""response_format":{"type":"json_object"}"#);
    let text =
        s.post("/v1/chat/completions", &body).json()["choices"][0]["message"]["content"].as_str().unwrap().to_owned();
    assert!(serde_json::from_str::<Value>(&text).unwrap().is_object());
    // max_tokens cuts JSON short, as it would a real model.
    let body = chat("gpt-4o", "x", &format!(r#""max_tokens":3,"response_format":{}"#, format));
    let v = s.post("/v1/chat/completions", &body).json();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);
}

#[test]
fn logprobs_have_one_entry_per_token() {
    let s = server();
    let body = chat("m", "hi", r#""max_tokens":12,"ignore_eos":true,"logprobs":true,"top_logprobs":3"#);
    let v = s.post("/v1/chat/completions", &body).json();
    let content = v["choices"][0]["logprobs"]["content"].as_array().unwrap();
    assert_eq!(content.len(), 12);
    let joined: String = content.iter().map(|e| e["token"].as_str().unwrap()).collect();
    assert_eq!(joined, v["choices"][0]["message"]["content"].as_str().unwrap());
    assert!(
        content
            .iter()
            .all(|e| e["top_logprobs"].as_array().unwrap().len() == 3 && e["logprob"].as_f64().unwrap() <= 0.0)
    );
    let body = chat("m", "hi", r#""max_tokens":12,"ignore_eos":true,"logprobs":true,"top_logprobs":2,"stream":true"#);
    let events = s.post("/v1/chat/completions", &body).events();
    let with = events.iter().filter(|e| e["choices"][0]["logprobs"]["content"].is_array()).count();
    assert_eq!(with, 12, "every content chunk carries its token's logprobs");

    // Completions: logprobs (0–5) and echo.
    let body = r#"{"model":"m","prompt":"Say this","max_tokens":5,"ignore_eos":true,"logprobs":2,"echo":true}"#;
    let v = s.post("/v1/completions", body).json();
    let text = v["choices"][0]["text"].as_str().unwrap();
    assert!(text.starts_with("Say this"));
    let lp = &v["choices"][0]["logprobs"];
    assert_eq!(lp["tokens"].as_array().unwrap().len(), cl100k("Say this") + 5);
    assert_eq!(lp["token_logprobs"][0], Value::Null);
    assert_eq!(lp["tokens"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect::<String>(), text);
    assert_eq!(v["usage"]["completion_tokens"], 5);
    let body =
        r#"{"model":"m","prompt":"Say this","max_tokens":4,"ignore_eos":true,"logprobs":1,"echo":true,"stream":true}"#;
    let r = s.post("/v1/completions", body);
    assert!(r.streamed_text().starts_with("Say this"));
    let offsets: Vec<u64> =
        r.events().iter().filter_map(|e| e["choices"][0]["logprobs"]["text_offset"][0].as_u64()).collect();
    assert_eq!(offsets.len(), 4);
    assert_eq!(offsets[0], "Say this".len() as u64);
}

#[test]
fn continuous_usage_stats_count_up() {
    let s = server();
    let body = chat(
        "m",
        "hi",
        r#""max_tokens":5,"ignore_eos":true,"stream":true,"stream_options":{"include_usage":true,"continuous_usage_stats":true}"#,
    );
    let events = s.post("/v1/chat/completions", &body).events();
    let running: Vec<u64> = events
        .iter()
        .filter(|e| e["choices"][0]["delta"]["content"].as_str().is_some_and(|c| !c.is_empty()))
        .map(|e| e["usage"]["completion_tokens"].as_u64().unwrap())
        .collect();
    assert_eq!(running, [1, 2, 3, 4, 5]);
}

#[test]
fn multimodal_parts_count_as_prompt_tokens() {
    let s = server();
    let parts = |part: Value| {
        json!({"model": "gpt-4o", "max_tokens": 1,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Describe"}, part]}]})
    };
    let tokens = |part: Value| post_json(&s, "/v1/chat/completions", parts(part)).json()["usage"].clone();
    let text = cl100k("Describe") as u64;
    let low = tokens(json!({"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}));
    assert_eq!(low["prompt_tokens"], text + 85);
    let high = tokens(json!({"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "high"}}));
    assert_eq!(high["prompt_tokens"], text + 765, "a remote image is taken as 1024×1024");
    let audio = tokens(json!({"type": "input_audio", "input_audio": {"data": "A".repeat(64_000), "format": "mp3"}}));
    assert_eq!(audio["prompt_tokens_details"]["audio_tokens"], 30, "48 kB of 128 kbit/s audio is 3 s");
    assert_eq!(audio["prompt_tokens"], text + 30);
    let video = tokens(json!({"type": "video_url", "video_url": {"url": "https://x/v.mp4"}}));
    assert_eq!(video["prompt_tokens"], text + 16 * 256);
    let mut streamed = parts(json!({"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}}));
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({"include_usage": true});
    let events = post_json(&s, "/v1/chat/completions", streamed).events();
    assert_eq!(events.last().unwrap()["usage"]["prompt_tokens"], text + 85, "streaming counts images too");
}

#[test]
fn predicted_outputs_report_accepted_and_rejected_tokens() {
    let s = server();
    let predicted = "fn main() { println!(\"hello\"); let x = compute(1, 2, 3); report(x); }";
    let body = json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "Rename x"}],
        "prediction": {"type": "content", "content": predicted}});
    let v = post_json(&s, "/v1/chat/completions", body).json();
    let details = &v["usage"]["completion_tokens_details"];
    let (accepted, rejected) = (
        details["accepted_prediction_tokens"].as_u64().unwrap(),
        details["rejected_prediction_tokens"].as_u64().unwrap(),
    );
    assert_eq!(accepted + rejected, cl100k(predicted) as u64);
    assert!(accepted > 0 && rejected > 0);
    let content = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(predicted.starts_with(&content[..20]), "the output reuses the prediction");
    assert_eq!(v["usage"]["completion_tokens"], cl100k(content) as u64 + rejected, "rejected tokens are billed");
}

#[test]
fn out_of_range_parameters_name_their_param() {
    let s = server();
    let cases = [
        (r#""temperature":2.5"#, "temperature"),
        (r#""top_p":-0.1"#, "top_p"),
        (r#""frequency_penalty":3"#, "frequency_penalty"),
        (r#""presence_penalty":-2.1"#, "presence_penalty"),
        (r#""logit_bias":{"50256":-101}"#, "logit_bias"),
        (r#""logit_bias":{"abc":1}"#, "logit_bias"),
        (r#""top_logprobs":21,"logprobs":true"#, "top_logprobs"),
        (r#""top_logprobs":2"#, "top_logprobs"),
        (r#""service_tier":"gold""#, "service_tier"),
        (r#""user":5"#, "user"),
        (r#""store":"yes""#, "store"),
        (r#""metadata":{"k":1}"#, "metadata"),
        (r#""stream_options":{"include_usage":true}"#, "stream_options"),
        (r#""parallel_tool_calls":"no""#, "parallel_tool_calls"),
        (r#""tool_choice":"auto""#, "tool_choice"),
        (r#""tools":[{"type":"function","function":{"name":"has space"}}]"#, "tools[0].function.name"),
        (r#""response_format":{"type":"yaml"}"#, "response_format.type"),
        (r#""prediction":{"type":"diff"}"#, "prediction.type"),
    ];
    for (extra, param) in cases {
        let r = s.post("/v1/chat/completions", &chat("m", "hi", extra));
        assert_eq!(r.status, 400, "{extra}: {}", r.text());
        let e = r.json();
        assert_eq!(e["error"]["param"], param, "{extra}");
        assert_eq!(e["error"]["type"], "invalid_request_error");
    }
    let ok = r#""temperature":0,"top_p":1,"frequency_penalty":-2,"presence_penalty":2,"logit_bias":{"50256":-100},"user":"u","metadata":{"k":"v"},"store":false,"service_tier":"auto","seed":1"#;
    assert_eq!(s.post("/v1/chat/completions", &chat("m", "hi", ok)).status, 200);
    let r = s.post("/v1/completions", r#"{"model":"m","prompt":"x","logprobs":6}"#);
    assert_eq!(r.json()["error"]["param"], "logprobs");
    let r = s.post("/v1/completions", r#"{"model":"m","prompt":"x","n":3,"best_of":2}"#);
    assert_eq!(r.json()["error"]["param"], "best_of");
}

/// The `data:` payloads of a Responses API stream, by event type.
fn response_events(r: &Response) -> Vec<Value> {
    r.text()
        .split_terminator("\n\n")
        .map(|e| {
            let (kind, data) = e.split_once('\n').unwrap();
            let v: Value = serde_json::from_str(data.strip_prefix("data: ").unwrap()).unwrap();
            assert_eq!(kind.strip_prefix("event: "), v["type"].as_str());
            v
        })
        .collect()
}

#[test]
fn responses_api_calls_functions_and_formats_text() {
    let s = server();
    let tools = json!([{"type": "function", "name": "get_weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"], "additionalProperties": false}},
        {"type": "web_search_preview"}]);
    let body = json!({"model": "gpt-4o", "input": "What's the weather in Oslo?", "tools": tools});
    let v = post_json(&s, "/v1/responses", body.clone()).json();
    let item = &v["output"][0];
    assert_eq!(item["type"], "function_call");
    assert_eq!(item["name"], "get_weather");
    assert!(item["call_id"].as_str().unwrap().starts_with("call_"));
    let args: Value = serde_json::from_str(item["arguments"].as_str().unwrap()).unwrap();
    assert!(args["city"].is_string());
    let expected = cl100k("get_weather") + cl100k(item["arguments"].as_str().unwrap());
    assert_eq!(v["usage"]["output_tokens"], expected as u64);

    let mut streaming = body;
    streaming["stream"] = json!(true);
    let events = response_events(&post_json(&s, "/v1/responses", streaming));
    let deltas: String = events
        .iter()
        .filter(|e| e["type"] == "response.function_call_arguments.delta")
        .map(|e| e["delta"].as_str().unwrap())
        .collect();
    serde_json::from_str::<Value>(&deltas).expect("argument deltas form JSON");
    let done = events.iter().find(|e| e["type"] == "response.function_call_arguments.done").unwrap();
    assert_eq!(done["arguments"].as_str().unwrap(), deltas);
    let completed = events.last().unwrap();
    assert_eq!(completed["type"], "response.completed");
    assert_eq!(completed["response"]["output"][0]["arguments"].as_str().unwrap(), deltas);
    let seqs: Vec<u64> = events.iter().map(|e| e["sequence_number"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));

    let format = json!({"format": {"type": "json_schema", "name": "city", "strict": true, "schema": {"type": "object",
        "properties": {"name": {"type": "string"}, "population": {"type": "integer"}},
        "required": ["name", "population"], "additionalProperties": false}}});
    let v = post_json(&s, "/v1/responses", json!({"model": "gpt-4o", "input": "A city", "text": format})).json();
    let out: Value = serde_json::from_str(v["output_text"].as_str().unwrap()).unwrap();
    assert!(out["name"].is_string() && out["population"].is_i64());
}

#[test]
fn previous_response_id_continues_a_stored_response() {
    let s = server();
    let first = post_json(
        &s,
        "/v1/responses",
        json!({"model": "gpt-4o", "input": "Hello there", "max_output_tokens": 20,
        "ignore_eos": true}),
    )
    .json();
    let id = first["id"].as_str().unwrap();
    let carried = first["usage"]["input_tokens"].as_u64().unwrap() + 20;
    let second = post_json(
        &s,
        "/v1/responses",
        json!({"model": "gpt-4o", "input": "And again", "previous_response_id": id,
        "stream": true}),
    );
    let events = response_events(&second);
    let usage = &events.last().unwrap()["response"]["usage"];
    assert_eq!(usage["input_tokens"].as_u64().unwrap(), carried + cl100k("And again") as u64);

    let got = s.request("GET", &format!("/v1/responses/{id}"), None);
    assert_eq!(got.status, 200);
    assert_eq!(got.json()["output_text"], first["output_text"]);
    assert_eq!(s.request("DELETE", &format!("/v1/responses/{id}"), None).json()["deleted"], true);
    assert_eq!(s.request("GET", &format!("/v1/responses/{id}"), None).status, 404);
    let r = post_json(&s, "/v1/responses", json!({"model": "gpt-4o", "input": "x", "previous_response_id": id}));
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["param"], "previous_response_id");
    let unstored = post_json(&s, "/v1/responses", json!({"model": "gpt-4o", "input": "x", "store": false})).json();
    assert_eq!(s.request("GET", &format!("/v1/responses/{}", unstored["id"].as_str().unwrap()), None).status, 404);
}

#[test]
fn text_generation_answers_in_fakeai_shape() {
    let s = server();
    let v = s
        .post(
            "/v1/text/generation",
            r#"{"model":"gpt-4","input":"Write a haiku","max_output_tokens":7,"ignore_eos":true}"#,
        )
        .json();
    assert!(v["id"].as_str().unwrap().starts_with("txtgen-"));
    assert_eq!(cl100k(v["output"].as_str().unwrap()), 7);
    assert_eq!(v["usage"]["completion_tokens"], 7);
    assert_eq!(v["usage"]["prompt_tokens"], cl100k("Write a haiku") as u64);
    let r = s.post("/v1/text/generation", r#"{"model":"gpt-4"}"#);
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("input")));
}
