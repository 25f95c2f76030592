//! The Realtime API over a raw WebSocket against the real binary: the session's opening,
//! text responses paced by the TTFT/ITL schedule, cancellation and error events; then the
//! official `openai` SDK's realtime client (tests/sdk/realtime_check.py).

mod common;

use std::{
    io::{Read, Write},
    net::TcpStream,
    time::{Duration, Instant},
};

use common::Server;
use serde_json::Value;

/// A masked client text frame (any length).
fn ws_text(payload: &str) -> Vec<u8> {
    let mask = [9u8, 8, 7, 6];
    let mut out = vec![0x81];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The next server event.
fn event(sock: &mut TcpStream) -> Value {
    let (op, payload) = common::ws_read(sock);
    assert_eq!(op, 1, "a text frame");
    serde_json::from_slice(&payload).unwrap()
}

/// Events, each with when it arrived, up to and including the first of `kind`.
fn until(sock: &mut TcpStream, kind: &str) -> Vec<(Instant, Value)> {
    let mut out = Vec::new();
    loop {
        let e = event(sock);
        let last = e["type"] == kind;
        out.push((Instant::now(), e));
        if last {
            return out;
        }
    }
}

/// Opens a Realtime session on `s`; returns the socket after `session.created`.
fn open(s: &Server, model: &str) -> (TcpStream, Value) {
    let mut sock = handshake(s, model, "");
    let created = event(&mut sock);
    (sock, created)
}

/// Upgrades a connection to a Realtime WebSocket for `model` with extra `headers`; the socket
/// after the 101 (whose accept key is checked).
fn handshake(s: &Server, model: &str, headers: &str) -> TcpStream {
    let mut sock = TcpStream::connect(s.addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let handshake = format!(
        "GET /v1/realtime?model={model} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{headers}\r\n"
    );
    sock.write_all(handshake.as_bytes()).unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8];
        sock.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    sock
}

fn send(sock: &mut TcpStream, json: &str) {
    sock.write_all(&ws_text(json)).unwrap();
}

#[test]
fn session_opens_and_text_responses_follow_the_chat_schedule() {
    let s = Server::start(&["--ttft", "150:0", "--itl", "40:0", "--output-len", "6"]);
    assert_eq!(s.request("GET", "/v1/realtime", None).status, 426, "plain GET: upgrade required");
    let (mut sock, created) = open(&s, "gpt-realtime-mini");
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["session"]["model"], "gpt-realtime-mini");
    assert_eq!(created["session"]["audio"]["input"]["turn_detection"]["type"], "server_vad");
    send(&mut sock, r#"{"type":"session.update","session":{"type":"realtime","output_modalities":["text"]}}"#);
    let updated = event(&mut sock);
    assert_eq!(
        (updated["type"].as_str(), &updated["session"]["output_modalities"][0]),
        (Some("session.updated"), &Value::from("text"))
    );
    let item = r#"{"type":"conversation.item.create","item":{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi there, how are you?"}]}}"#;
    send(&mut sock, item);
    let added = until(&mut sock, "conversation.item.done");
    assert_eq!(added[0].1["type"], "conversation.item.added");

    let sent = Instant::now();
    send(&mut sock, r#"{"type":"response.create"}"#);
    let events = until(&mut sock, "response.done");
    let kinds: Vec<&str> = events.iter().map(|(_, e)| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        &kinds[..4],
        ["response.created", "response.output_item.added", "conversation.item.added", "response.content_part.added"]
    );
    assert_eq!(
        &kinds[kinds.len() - 5..],
        [
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done"
        ]
    );
    let deltas: Vec<&(Instant, Value)> =
        events.iter().filter(|(_, e)| e["type"] == "response.output_text.delta").collect();
    assert_eq!(deltas.len(), 6, "--output-len 6");
    let first = deltas[0].0 - sent;
    assert!(first >= Duration::from_millis(140) && first < Duration::from_millis(600), "TTFT {first:?}");
    // Judged by deadline, not by gap: a read the loaded client makes late shortens the next gap,
    // but no delta can arrive before its deadline (150 ms + 40 ms per delta after the first).
    for (i, (at, _)) in deltas.iter().enumerate() {
        let since = *at - sent;
        let due = Duration::from_millis(150 + 40 * i as u64);
        assert!(since >= due && since < due + Duration::from_millis(400), "delta {i} at {since:?}, due {due:?}");
    }
    let text: String = deltas.iter().map(|(_, e)| e["delta"].as_str().unwrap()).collect();
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"][0]["content"][0]["text"], text.as_str());
    assert_eq!(done["usage"]["output_tokens"], 6);
    assert!(done["usage"]["input_tokens"].as_u64().unwrap() >= 6, "the user's words count: {done}");
    assert_eq!(done["usage"]["total_tokens"], done["usage"]["input_tokens"].as_u64().unwrap() + 6);
}

#[test]
fn cancel_ends_a_response_early_and_bad_input_gets_error_events() {
    let s = Server::start(&["--ttft", "20:0", "--itl", "50:0", "--output-len", "200"]);
    let (mut sock, _) = open(&s, "gpt-realtime");
    send(&mut sock, r#"{"type":"response.create","response":{"output_modalities":["text"]}}"#);
    until(&mut sock, "response.output_text.delta");
    send(&mut sock, r#"{"type":"response.create","event_id":"evt_2"}"#);
    let busy = until(&mut sock, "error");
    let error = &busy.last().unwrap().1["error"];
    assert_eq!(
        (error["code"].as_str(), error["event_id"].as_str()),
        (Some("conversation_already_has_active_response"), Some("evt_2"))
    );
    let cancelled_at = Instant::now();
    send(&mut sock, r#"{"type":"response.cancel"}"#);
    let events = until(&mut sock, "response.done");
    assert!(cancelled_at.elapsed() < Duration::from_secs(2), "cancel answered at once, not after 200 tokens");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(
        (done["status"].as_str(), done["status_details"]["reason"].as_str()),
        (Some("cancelled"), Some("client_cancelled"))
    );
    assert!(done["usage"]["output_tokens"].as_u64().unwrap() < 200);

    send(&mut sock, "{not json");
    let e = event(&mut sock);
    assert_eq!((e["type"].as_str(), e["error"]["code"].as_str()), (Some("error"), Some("invalid_json")));
    send(&mut sock, r#"{"type":"session.nonsense"}"#);
    let e = event(&mut sock);
    assert_eq!((e["error"]["code"].as_str(), e["error"]["param"].as_str()), (Some("invalid_value"), Some("type")));
    assert!(e["error"]["message"].as_str().unwrap().contains("'response.create'"), "names what is supported: {e}");
    send(&mut sock, r#"{"type":"response.cancel"}"#);
    assert_eq!(event(&mut sock)["error"]["code"], "response_cancel_not_active");
    send(&mut sock, r#"{"type":"input_audio_buffer.commit"}"#);
    assert_eq!(event(&mut sock)["error"]["code"], "input_audio_buffer_commit_empty");
    send(&mut sock, r#"{"type":"conversation.item.truncate","item_id":"item_x","content_index":0,"audio_end_ms":5}"#);
    assert_eq!(event(&mut sock)["error"]["code"], "item_truncate_invalid_item_id");
    // A large append (2 s of silence, 128 KiB of base64) is one message; the buffer clears.
    use base64::Engine as _;
    let silence = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 96_000]);
    send(&mut sock, &format!(r#"{{"type":"input_audio_buffer.append","audio":"{silence}"}}"#));
    send(&mut sock, r#"{"type":"input_audio_buffer.clear"}"#);
    assert_eq!(event(&mut sock)["type"], "input_audio_buffer.cleared", "silence is not speech");
    sock.write_all(&[0x88, 0x82, 0, 0, 0, 0, 0x03, 0xE8]).unwrap();
    assert_eq!(common::ws_read(&mut sock), (8, vec![0x03, 0xE8]), "close answered with 1000");
}

#[test]
fn openai_sdk_realtime_client() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = Server::start(&["--ttft", "10:0", "--itl", "2:0"]);
    common::run_sdk_script("realtime_check.py", &[&format!("http://{}/v1", s.addr)]);
}

/// Opens a Realtime session with `headers` on the handshake; the socket after the 101.
fn open_with(s: &Server, headers: &str) -> TcpStream {
    handshake(s, "gpt-realtime", headers)
}

/// A close frame's code.
fn close_code(sock: &mut TcpStream) -> u16 {
    let (op, payload) = common::ws_read(sock);
    assert_eq!(op, 8, "a close frame: {}", String::from_utf8_lossy(&payload));
    u16::from_be_bytes([payload[0], payload[1]])
}

fn injected(s: &Server, kind: &str) -> u64 {
    let text = s.request("GET", "/metrics", None).text();
    let line = format!("fakeai_faults_injected_total{{kind=\"{kind}\"}} ");
    text.lines().find_map(|l| l.strip_prefix(&line)).unwrap().parse().unwrap()
}

#[test]
fn mid_session_faults_by_header_and_by_rate() {
    let s = Server::start(common::FAST);
    let fault = |kind: &str| {
        let mut sock = open_with(&s, &format!("X-Fakeai-Fault: {kind}\r\n"));
        assert_eq!(event(&mut sock)["type"], "session.created");
        sock
    };
    // An error event as OpenAI sends it, then close 1011.
    let mut sock = fault("error_event");
    let e = event(&mut sock);
    assert_eq!((e["type"].as_str(), e["error"]["type"].as_str()), (Some("error"), Some("server_error")));
    assert_eq!(close_code(&mut sock), 1011);
    // Truncated: a clean close, early.
    assert_eq!(close_code(&mut fault("truncate")), 1000);
    // Abrupt: the TCP connection ends without a close frame.
    let mut rest = Vec::new();
    fault("close;after=1").read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "no close frame: {rest:?}");
    // A broken message, then the session goes on.
    let mut sock = fault("malformed");
    let (op, payload) = common::ws_read(&mut sock);
    assert!(op == 1 && serde_json::from_slice::<Value>(&payload).is_err());
    send(&mut sock, r#"{"type":"session.update","session":{"instructions":"Be brief."}}"#);
    assert_eq!(event(&mut sock)["type"], "session.updated");
    // A stall: nothing is answered for 300 ms.
    let mut sock = fault("stall;ms=300");
    let t = Instant::now();
    send(&mut sock, r#"{"type":"session.update","session":{"instructions":"Be brief."}}"#);
    assert_eq!(event(&mut sock)["type"], "session.updated");
    assert!(t.elapsed() >= Duration::from_millis(250), "{:?}", t.elapsed());
    for kind in ["error_event", "truncate", "close", "malformed", "stall"] {
        assert_eq!(injected(&s, kind), 1, "{kind}");
    }

    // By rate, scoped to the endpoint.
    let rated = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--fault-rate", "truncate=1@/v1/realtime"]);
    for _ in 0..2 {
        let mut sock = open_with(&rated, "");
        assert_eq!(event(&mut sock)["type"], "session.created");
        assert_eq!(close_code(&mut sock), 1000);
    }
    assert_eq!(injected(&rated, "truncate"), 2);
}
