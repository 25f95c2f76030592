//! Anthropic's Messages API over HTTP: the official `anthropic` Python SDK (FAKEAI_SDK_PYTHON;
//! skipped without it, except under CI), the exact bytes of a tool_use stream, the error
//! envelope, count_tokens and prompt caching.

mod common;

use common::Server;
use serde_json::{Value, json};

fn server() -> Server {
    Server::start(common::FAST)
}

#[test]
fn anthropic_python_sdk_round_trip() {
    common::sdk_check("anthropic_check.py", "", server);
}

const WEATHER: &str = r#"{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}"#;

fn cl100k(text: &str) -> u64 {
    tiktoken_rs::cl100k_base().unwrap().encode_ordinary(text).len() as u64
}

/// `text` with the alphanumerics after each `prefix` replaced by `*`.
fn mask_ids(text: &str, prefix: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let end = at + prefix.len();
        out.push_str(&rest[..end]);
        out.push('*');
        rest = rest[end..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
    }
    out + rest
}

#[test]
fn a_tool_use_stream_is_anthropics_event_sequence_byte_for_byte() {
    let s = server();
    let prompt = "What's the weather in Paris?";
    let body = format!(
        r#"{{"model":"claude-sonnet-4-5","max_tokens":200,"stream":true,"tools":[{WEATHER}],"messages":[{{"role":"user","content":"{prompt}"}}]}}"#
    );
    let r = s.post("/v1/messages", &body);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/event-stream; charset=utf-8"));
    let text = mask_ids(&mask_ids(&r.text(), "toolu_01"), "msg_");
    let events: Vec<&str> = text.split_terminator("\n\n").collect();
    let input = cl100k(WEATHER) + cl100k(prompt);
    assert_eq!(
        events[0],
        format!(
            "event: message_start\ndata: {{\"type\":\"message_start\",\"message\":{{\"id\":\"msg_*\",\"type\":\"message\",\
             \"role\":\"assistant\",\"content\":[],\"model\":\"claude-sonnet-4-5\",\"stop_reason\":null,\"stop_sequence\":null,\
             \"usage\":{{\"input_tokens\":{input},\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0,\
             \"cache_creation\":{{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0}},\"output_tokens\":0,\
             \"server_tool_use\":null,\"service_tier\":\"standard\"}}}}}}"
        )
    );
    assert_eq!(events[1], "event: ping\ndata: {\"type\":\"ping\"}");
    assert_eq!(
        events[2],
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":\
         {\"type\":\"tool_use\",\"id\":\"toolu_01*\",\"name\":\"get_weather\",\"input\":{}}}"
    );
    let (deltas, end) = events[3..].split_at(events.len() - 3 - 3);
    let delta_prefix = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
                        \"delta\":{\"type\":\"input_json_delta\",\"partial_json\":";
    let mut arguments = String::new();
    for d in deltas {
        let json_str = d.strip_prefix(delta_prefix).and_then(|rest| rest.strip_suffix("}}")).expect(d);
        arguments.push_str(&serde_json::from_str::<String>(json_str).unwrap());
    }
    let input_json: Value = serde_json::from_str(&arguments).expect("the deltas make the tool's input");
    assert!(input_json["city"].is_string(), "schema-valid input: {input_json}");
    let output = cl100k("get_weather") + deltas.len() as u64;
    assert_eq!(
        end,
        [
            "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}".to_owned(),
            format!(
                "event: message_delta\ndata: {{\"type\":\"message_delta\",\"delta\":{{\"stop_reason\":\"tool_use\",\
                 \"stop_sequence\":null}},\"usage\":{{\"input_tokens\":{input},\"cache_creation_input_tokens\":0,\
                 \"cache_read_input_tokens\":0,\"output_tokens\":{output},\"server_tool_use\":null}}}}"
            ),
            "event: message_stop\ndata: {\"type\":\"message_stop\"}".to_owned(),
        ]
    );
}

/// POSTs `body` to `path` with `headers`.
fn post(s: &Server, path: &str, body: &str, headers: &[(&str, &str)]) -> common::Response {
    let mut c = s.connect();
    c.send("POST", path, Some(body), headers);
    c.response()
}

#[test]
fn errors_use_anthropics_envelope_and_request_id() {
    let s = server();
    let check = |path: &str, body: &str, headers: &[(&str, &str)], message: &str| {
        let r = post(&s, path, body, headers);
        let v = r.json();
        let id = r.header("request-id").expect("request-id header");
        assert!(id.starts_with("req_011") && id.len() == 28, "{id}");
        let expected =
            json!({"type": "error", "error": {"type": "invalid_request_error", "message": message}, "request_id": id});
        assert_eq!((r.status, v), (400, expected), "{path} {body}");
    };
    let user = r#"[{"role":"user","content":"Hi"}]"#;
    let msg = |extra: &str| format!(r#"{{"model":"claude-sonnet-4-5","max_tokens":10,"messages":{user}{extra}}}"#);
    check("/v1/messages", &msg(r#","temperature":1.5"#), &[], "temperature: Input should be less than or equal to 1");
    check("/v1/messages", &msg(r#","top_k":-1"#), &[], "top_k: Input should be greater than or equal to 0");
    check("/v1/messages", &format!(r#"{{"model":"c","messages":{user}}}"#), &[], "max_tokens: Field required");
    check("/v1/messages", r#"{"max_tokens":5,"messages":[]}"#, &[], "model: Field required");
    check(
        "/v1/messages",
        r#"{"model":"c","max_tokens":5,"messages":[]}"#,
        &[],
        "messages: at least one message is required",
    );
    check("/v1/messages/count_tokens", &format!(r#"{{"messages":{user}}}"#), &[], "model: Field required");
    let version = [("anthropic-version", "latest")];
    check("/v1/messages", &msg(""), &version, "anthropic-version: \"latest\" is not a valid version");
    let long = format!(r#"{{"model":"claude-sonnet-4-5","max_tokens":100000000,"messages":{user}}}"#);
    let r = post(&s, "/v1/messages", &long, &[]);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("input length and `max_tokens` exceed context limit")
    );
    // Without the version header: Anthropic's 400 (the harness adds the header unless told).
    let body = msg("");
    let mut c = s.connect();
    c.write_raw(
        format!("POST /v1/messages HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len())
            .as_bytes(),
    );
    let r = c.response();
    assert_eq!((r.status, r.json()["error"]["message"].as_str()), (400, Some("anthropic-version: header is required")));
    assert_eq!(post(&s, "/v1/messages", &msg(""), &[("anthropic-version", "2023-06-01")]).status, 200);
}

#[test]
fn count_tokens_matches_usage_and_cache_control_is_reflected() {
    let s = server();
    let system = r#"[{"type":"text","text":"You are a weather bot. Be exact.","cache_control":{"type":"ephemeral","ttl":"1h"}}]"#;
    let body = |question: &str| {
        format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":10,"system":{system},"tools":[{WEATHER}],"messages":[{{"role":"user","content":"{question}"}}]}}"#
        )
    };
    let counted = s.post("/v1/messages/count_tokens", &body("Hi")).json()["input_tokens"].as_u64().unwrap();
    assert_eq!(counted, cl100k(WEATHER) + cl100k("You are a weather bot. Be exact.") + cl100k("Hi"));
    let first = s.post("/v1/messages", &body("Hi")).json()["usage"].clone();
    let cached = counted - cl100k("Hi");
    assert_eq!(
        (&first["input_tokens"], &first["cache_creation_input_tokens"], &first["cache_read_input_tokens"]),
        (&json!(cl100k("Hi")), &json!(cached), &json!(0))
    );
    assert_eq!(first["cache_creation"], json!({"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": cached}));
    let second = s.post("/v1/messages", &body("Hello there")).json()["usage"].clone();
    assert_eq!(
        (&second["cache_read_input_tokens"], &second["cache_creation_input_tokens"]),
        (&json!(cached), &json!(0))
    );
    assert_eq!(second["input_tokens"], cl100k("Hello there"));
}

#[test]
fn a_stop_sequence_is_named_in_stop_reason_and_stop_sequence() {
    let s = server();
    let body = |stream: bool| {
        format!(
            r#"{{"model":"claude-sonnet-4-5","max_tokens":60,"stream":{stream},"ignore_eos":true,"stop_sequences":["zzzq","."," "],"messages":[{{"role":"user","content":"Hi"}}]}}"#
        )
    };
    let v = s.post("/v1/messages", &body(false)).json();
    assert_eq!((v["stop_reason"].as_str(), v["stop_sequence"].as_str()), (Some("stop_sequence"), Some(" ")));
    assert!(!v["content"][0]["text"].as_str().unwrap().contains(' '), "the text ends before the stop sequence");
    let text = s.post("/v1/messages", &body(true)).text();
    let delta = text.split("\n\n").find(|e| e.starts_with("event: message_delta")).unwrap();
    assert!(delta.contains(r#""delta":{"stop_reason":"stop_sequence","stop_sequence":" "}"#), "{delta}");
}
