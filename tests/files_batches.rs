//! Files, uploads and batches over HTTP against the real binary: exact bytes in and out,
//! OpenAI's pagination and errors, bounds that refuse with a 400, and batches whose lines are
//! answered exactly as the live endpoint answers them.

mod common;

use std::time::{Duration, Instant};

use common::{Response, Server};
use serde_json::{Value, json};

const BOUNDARY: &str = "fakeai-test-boundary-7d3f";

/// A `multipart/form-data` body of `(name, filename, bytes)` fields.
fn multipart(fields: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, bytes) in fields {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes());
        if let Some(f) = filename {
            body.extend_from_slice(format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes());
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(bytes);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn post_form(s: &Server, path: &str, fields: &[(&str, Option<&str>, &[u8])]) -> Response {
    let body = multipart(fields);
    let mut c = s.connect();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_raw(head.as_bytes());
    c.write_raw(&body);
    c.response()
}

fn upload(s: &Server, purpose: &str, filename: &str, bytes: &[u8]) -> Response {
    post_form(s, "/v1/files", &[("purpose", None, purpose.as_bytes()), ("file", Some(filename), bytes)])
}

fn get(s: &Server, path: &str) -> Response {
    s.request("GET", path, None)
}

fn ids(list: &Value) -> Vec<String> {
    list["data"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_owned()).collect()
}

fn error_of(r: &Response) -> (u16, Value) {
    (r.status, r.json()["error"].clone())
}

fn start() -> Server {
    Server::start(common::FAST)
}

#[test]
fn files_keep_their_exact_bytes_and_paginate() {
    let s = start();
    // Bytes that look like a delimiter, CRLFs and invalid UTF-8 must come back unchanged.
    let binary: Vec<u8> =
        [b"\r\n--fakeai-test-boundary-7d3\r\n".as_slice(), &[0, 0xff, 0xfe, b'\r'], &[7; 5000]].concat();
    let first = upload(&s, "user_data", "blob.bin", &binary);
    assert_eq!(first.status, 200, "{}", first.text());
    let f = first.json();
    assert_eq!((f["object"].as_str(), f["bytes"].as_u64()), (Some("file"), Some(binary.len() as u64)));
    assert_eq!(
        (f["filename"].as_str(), f["purpose"].as_str(), f["status"].as_str()),
        (Some("blob.bin"), Some("user_data"), Some("processed"))
    );
    assert!(f["id"].as_str().unwrap().starts_with("file-") && f["expires_at"].is_null());
    let id = f["id"].as_str().unwrap();
    let content = get(&s, &format!("/v1/files/{id}/content"));
    assert_eq!(content.status, 200);
    assert_eq!(content.body, binary, "the exact bytes uploaded");

    let vision = upload(&s, "vision", "a.png", b"not really a png").json()["id"].as_str().unwrap().to_owned();
    let third = upload(&s, "user_data", "c.txt", b"third").json()["id"].as_str().unwrap().to_owned();
    let all = get(&s, "/v1/files").json();
    assert_eq!(ids(&all), [third.as_str(), vision.as_str(), id], "newest first");
    assert_eq!(
        (all["first_id"].as_str(), all["last_id"].as_str(), all["has_more"].as_bool()),
        (Some(third.as_str()), Some(id), Some(false))
    );
    assert_eq!(ids(&get(&s, "/v1/files?purpose=user_data").json()), [third.as_str(), id]);
    let page = get(&s, "/v1/files?limit=1&order=asc").json();
    assert_eq!((ids(&page), page["has_more"].as_bool()), (vec![id.to_owned()], Some(true)));
    let page = get(&s, &format!("/v1/files?limit=1&order=asc&after={id}")).json();
    assert_eq!((ids(&page), page["has_more"].as_bool()), (vec![vision.clone()], Some(true)));
    let page = get(&s, &format!("/v1/files?limit=5&order=asc&after={vision}")).json();
    assert_eq!((ids(&page), page["has_more"].as_bool()), (vec![third.clone()], Some(false)));
    let empty = get(&s, &format!("/v1/files?after={id}")).json();
    assert_eq!((ids(&empty).len(), empty["first_id"].is_null()), (0, true));

    let (status, e) = error_of(&get(&s, "/v1/files?after=file-nope"));
    assert_eq!((status, e["param"].as_str(), e["type"].as_str()), (404, Some("after"), Some("invalid_request_error")));
    let (status, e) = error_of(&get(&s, "/v1/files?limit=0"));
    assert_eq!((status, e["code"].as_str()), (400, Some("integer_below_min_value")));

    let deleted = s.request("DELETE", &format!("/v1/files/{id}"), None).json();
    assert_eq!(deleted, json!({"id": id, "object": "file", "deleted": true}));
    for path in [format!("/v1/files/{id}"), format!("/v1/files/{id}/content")] {
        let (status, e) = error_of(&get(&s, &path));
        assert_eq!((status, e["message"].as_str()), (404, Some(format!("No such File object: {id}").as_str())));
    }
    assert_eq!(s.request("DELETE", &format!("/v1/files/{id}"), None).status, 404);
    assert_eq!(ids(&get(&s, "/v1/files").json()), [third.as_str(), vision.as_str()]);
}

#[test]
fn bad_uploads_are_openai_400s() {
    let s = start();
    let cases: [(Response, Option<&str>, &str); 5] = [
        (post_form(&s, "/v1/files", &[("file", Some("a"), b"x")]), Some("purpose"), "purpose"),
        (upload(&s, "homework", "a", b"x"), Some("purpose"), "homework"),
        (post_form(&s, "/v1/files", &[("purpose", None, b"batch")]), Some("file"), "file"),
        (
            upload(
                &s,
                "batch",
                "in.jsonl",
                b"{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n{oops",
            ),
            Some("file"),
            "Line 2:",
        ),
        (
            upload(&s, "fine-tune", "ft.jsonl", br#"{"messages":[{"role":"user","content":"hi"}]}"#),
            Some("file"),
            "assistant",
        ),
    ];
    for (r, param, says) in cases {
        let (status, e) = error_of(&r);
        assert_eq!((status, e["param"].as_str()), (400, param), "{e}");
        assert!(e["message"].as_str().unwrap().contains(says), "{e}");
    }
    let dup = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n".repeat(2);
    assert_eq!(error_of(&upload(&s, "batch", "d.jsonl", dup.as_bytes())).1["code"], "duplicate_custom_id");
    let (status, e) = error_of(&s.post("/v1/files", "{}"));
    assert_eq!(status, 400, "a JSON body is not a form: {e}");
    let ft = br#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#;
    assert_eq!(upload(&s, "fine-tune", "ft.jsonl", ft).status, 200);
}

#[test]
fn bounds_refuse_with_a_400_and_evict_nothing() {
    let s = Server::start(&["--max-files", "2", "--file-storage", "100"]);
    let a = upload(&s, "user_data", "a", &[1; 60]).json()["id"].as_str().unwrap().to_owned();
    let (status, e) = error_of(&upload(&s, "user_data", "b", &[2; 41]));
    assert_eq!((status, e["code"].as_str()), (400, Some("storage_limit_reached")));
    assert!(e["message"].as_str().unwrap().contains("--file-storage"), "{e}");
    let b = upload(&s, "user_data", "b", &[2; 40]).json()["id"].as_str().unwrap().to_owned();
    let (status, e) = error_of(&upload(&s, "user_data", "c", b""));
    assert_eq!((status, e["code"].as_str()), (400, Some("object_limit_reached")));
    assert!(e["message"].as_str().unwrap().contains("--max-files"), "{e}");
    assert_eq!(get(&s, &format!("/v1/files/{a}/content")).body, [1; 60], "nothing live was evicted");
    assert_eq!(get(&s, &format!("/v1/files/{b}/content")).body, [2; 40]);
    assert_eq!(s.request("DELETE", &format!("/v1/files/{a}"), None).status, 200);
    assert_eq!(upload(&s, "user_data", "c", &[3; 60]).status, 200, "deleting frees both bounds");
}

#[test]
fn uploads_join_parts_in_the_order_named() {
    let s = start();
    let create = |bytes: usize| {
        let body = json!({"bytes": bytes, "filename": "big.jsonl", "mime_type": "text/jsonl", "purpose": "user_data"});
        s.post("/v1/uploads", &body.to_string())
    };
    let u = create(11).json();
    assert_eq!(
        (u["object"].as_str(), u["status"].as_str(), u["file"].is_null()),
        (Some("upload"), Some("pending"), true)
    );
    let id = u["id"].as_str().unwrap();
    let part = |data: &[u8]| post_form(&s, &format!("/v1/uploads/{id}/parts"), &[("data", Some("blob"), data)]).json();
    let (p1, p2) = (part(b"hello "), part(b"world"));
    assert_eq!((p1["object"].as_str(), p1["upload_id"].as_str()), (Some("upload.part"), Some(id)));
    let wrong = s.post(&format!("/v1/uploads/{id}/complete"), &json!({"part_ids": [p1["id"]]}).to_string());
    assert_eq!(error_of(&wrong).0, 400, "5 bytes are not the 11 announced");
    let done =
        s.post(&format!("/v1/uploads/{id}/complete"), &json!({"part_ids": [p2["id"], p1["id"]]}).to_string()).json();
    assert_eq!(done["status"], "completed");
    let file = &done["file"];
    assert_eq!((file["bytes"].as_u64(), file["filename"].as_str()), (Some(11), Some("big.jsonl")));
    let bytes = get(&s, &format!("/v1/files/{}/content", file["id"].as_str().unwrap())).body;
    assert_eq!(bytes, b"worldhello ", "parts in part_ids order");
    assert_eq!(error_of(&s.post(&format!("/v1/uploads/{id}/cancel"), "{}")).0, 400, "completed: no more changes");

    let other = create(3).json();
    let oid = other["id"].as_str().unwrap();
    assert_eq!(s.post(&format!("/v1/uploads/{oid}/cancel"), "{}").json()["status"], "cancelled");
    let late = post_form(&s, &format!("/v1/uploads/{oid}/parts"), &[("data", Some("b"), b"abc")]);
    assert_eq!(error_of(&late).0, 400);
    assert_eq!(error_of(&s.post("/v1/uploads/upload_nope/cancel", "{}")).0, 404);
    assert_eq!(create(0).status, 200, "an empty upload is allowed");
}

/// A batch input line calling `url` with `body`.
fn line(custom_id: &str, url: &str, body: Value) -> String {
    json!({"custom_id": custom_id, "method": "POST", "url": url, "body": body}).to_string()
}

fn create_batch(s: &Server, file_id: &str, endpoint: &str) -> Value {
    let body = json!({"input_file_id": file_id, "endpoint": endpoint, "completion_window": "24h",
        "metadata": {"run": "test"}});
    let r = s.post("/v1/batches", &body.to_string());
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn wait_final(s: &Server, id: &str) -> Value {
    let t = Instant::now();
    loop {
        let b = get(s, &format!("/v1/batches/{id}")).json();
        if ["completed", "failed", "cancelled", "expired"].contains(&b["status"].as_str().unwrap()) {
            return b;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "batch never finished: {b}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn jsonl(s: &Server, file_id: &Value) -> Vec<Value> {
    let r = get(s, &format!("/v1/files/{}/content", file_id.as_str().unwrap()));
    r.text().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn keys(v: &Value) -> Vec<&String> {
    v.as_object().unwrap().keys().collect()
}

#[test]
fn a_batch_answers_each_line_as_the_live_endpoint_does() {
    let s = start();
    let chat = |n: u64| json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("line {n} says hello")}], "max_tokens": n, "ignore_eos": true});
    let bad = json!({"model": "gpt-4o-mini", "messages": "not a list"});
    let streamed = json!({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "stream": true});
    let input = [
        line("one", "/v1/chat/completions", chat(3)),
        line("two", "/v1/chat/completions", chat(8)),
        line("bad", "/v1/chat/completions", bad.clone()),
        line("stream", "/v1/chat/completions", streamed),
    ]
    .join("\n");
    let file = upload(&s, "batch", "in.jsonl", input.as_bytes()).json();
    assert!(file["expires_at"].as_u64().unwrap() >= file["created_at"].as_u64().unwrap() + 30 * 86_400 - 1);
    let created = create_batch(&s, file["id"].as_str().unwrap(), "/v1/chat/completions");
    assert_eq!((created["status"].as_str(), created["object"].as_str()), (Some("validating"), Some("batch")));
    let b = wait_final(&s, created["id"].as_str().unwrap());
    assert_eq!(b["status"], "completed", "{b}");
    assert_eq!(b["request_counts"], json!({"total": 4, "completed": 2, "failed": 2}));
    assert_eq!((b["model"].as_str(), b["metadata"]["run"].as_str()), (Some("gpt-4o-mini"), Some("test")));
    let times: Vec<u64> = ["created_at", "in_progress_at", "finalizing_at", "completed_at"]
        .iter()
        .map(|k| b[k].as_u64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    assert_eq!(b["expires_at"].as_u64(), Some(times[0] + 86_400));

    let output = jsonl(&s, &b["output_file_id"]);
    assert_eq!(output.iter().map(|l| l["custom_id"].as_str().unwrap()).collect::<Vec<_>>(), ["one", "two"]);
    let (mut input_tokens, mut output_tokens) = (0, 0);
    for (out, n) in output.iter().zip([3, 8]) {
        assert!(out["id"].as_str().unwrap().starts_with("batch_req_") && out["error"].is_null());
        assert!(out["response"]["request_id"].as_str().unwrap().starts_with("req_"));
        assert_eq!(out["response"]["status_code"], 200);
        let body = &out["response"]["body"];
        let live = s.post("/v1/chat/completions", &chat(n).to_string()).json();
        assert_eq!(keys(body), keys(&live), "the same shape as live");
        assert_eq!(body["usage"], live["usage"], "the same usage as live");
        assert_eq!(body["object"], "chat.completion");
        assert!(body["id"].as_str().unwrap().starts_with("chatcmpl-"));
        input_tokens += live["usage"]["prompt_tokens"].as_u64().unwrap();
        output_tokens += live["usage"]["completion_tokens"].as_u64().unwrap();
    }
    assert_eq!(output_tokens, 11);
    assert_eq!(
        b["usage"],
        json!({"input_tokens": input_tokens, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 11,
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": input_tokens + 11})
    );

    let errors = jsonl(&s, &b["error_file_id"]);
    assert_eq!(errors.len(), 2);
    let live_error = s.post("/v1/chat/completions", &bad.to_string());
    assert_eq!(errors[0]["custom_id"], "bad");
    assert_eq!(errors[0]["response"]["status_code"], live_error.status);
    assert_eq!(errors[0]["response"]["body"], live_error.json(), "the live error envelope");
    assert_eq!(
        (errors[1]["response"]["status_code"].as_u64(), errors[1]["response"]["body"]["error"]["param"].as_str()),
        (Some(400), Some("stream"))
    );
    let outputs = get(&s, "/v1/files?purpose=batch_output").json();
    assert_eq!(ids(&outputs).len(), 2);
    assert!(outputs["data"][0]["filename"].as_str().unwrap().ends_with(".jsonl"));
}

#[test]
fn bad_input_fails_cancel_stops_and_batches_paginate() {
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0", "--batch-lines-per-second", "20"]);
    let mixed = [
        line("a", "/v1/chat/completions", json!({"model": "m", "messages": []})),
        line("b", "/v1/completions", json!({"model": "m", "prompt": "x"})),
    ]
    .join("\n");
    let file = upload(&s, "batch", "mixed.jsonl", mixed.as_bytes()).json();
    let failed =
        wait_final(&s, create_batch(&s, file["id"].as_str().unwrap(), "/v1/chat/completions")["id"].as_str().unwrap());
    assert_eq!(failed["status"], "failed");
    assert!(failed["failed_at"].is_u64() && failed["output_file_id"].is_null());
    assert_eq!(
        failed["errors"]["data"],
        json!([{"code": "url_mismatch", "line": 2, "param": "url",
        "message": "The URL provided for this request does not match the batch endpoint /v1/chat/completions."}])
    );

    let many: Vec<String> = (0..40)
        .map(|i| line(&format!("c{i}"), "/v1/completions", json!({"model": "m", "prompt": "x", "max_tokens": 2})))
        .collect();
    let file = upload(&s, "batch", "many.jsonl", many.join("\n").as_bytes()).json();
    let slow = create_batch(&s, file["id"].as_str().unwrap(), "/v1/completions");
    let id = slow["id"].as_str().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let cancelling = s.post(&format!("/v1/batches/{id}/cancel"), "");
    assert_eq!(cancelling.status, 200, "{}", cancelling.text());
    assert!(["cancelling", "cancelled"].contains(&cancelling.json()["status"].as_str().unwrap()));
    let b = wait_final(&s, id);
    assert_eq!(b["status"], "cancelled");
    assert!(b["cancelling_at"].is_u64() && b["cancelled_at"].is_u64());
    let counts = &b["request_counts"];
    let done = counts["completed"].as_u64().unwrap();
    assert!(done > 0 && done < 40, "paced at 20 a second, some lines ran: {counts}");
    assert_eq!(done + counts["failed"].as_u64().unwrap(), 40);
    assert_eq!(jsonl(&s, &b["output_file_id"]).len() as u64, done);
    let not_run = jsonl(&s, &b["error_file_id"]);
    assert_eq!(not_run.len() as u64, 40 - done);
    assert_eq!(
        (not_run[0]["error"]["code"].as_str(), not_run[0]["response"].is_null()),
        (Some("batch_cancelled"), true)
    );
    let (status, _) = error_of(&s.post(&format!("/v1/batches/{id}/cancel"), ""));
    assert_eq!(status, 409, "a final batch cannot be cancelled");

    let page = get(&s, "/v1/batches?limit=1").json();
    assert_eq!((ids(&page), page["has_more"].as_bool()), (vec![id.to_owned()], Some(true)));
    let next = get(&s, &format!("/v1/batches?limit=1&after={id}")).json();
    assert_eq!(
        (ids(&next), next["has_more"].as_bool()),
        (vec![failed["id"].as_str().unwrap().to_owned()], Some(false))
    );
    assert_eq!(error_of(&get(&s, "/v1/batches?after=batch_nope")).0, 404);
    assert_eq!(error_of(&get(&s, "/v1/batches/batch_nope")).0, 404);
    let bad_endpoint = json!({"input_file_id": file["id"], "endpoint": "/v1/files", "completion_window": "24h"});
    assert_eq!(error_of(&s.post("/v1/batches", &bad_endpoint.to_string())).1["param"], "endpoint");
    let bad_window = json!({"input_file_id": file["id"], "endpoint": "/v1/completions", "completion_window": "1h"});
    assert_eq!(error_of(&s.post("/v1/batches", &bad_window.to_string())).1["param"], "completion_window");
    let other = upload(&s, "user_data", "u", b"x").json();
    let wrong_purpose =
        json!({"input_file_id": other["id"], "endpoint": "/v1/completions", "completion_window": "24h"});
    assert_eq!(error_of(&s.post("/v1/batches", &wrong_purpose.to_string())).0, 400);
}

/// The official `openai` SDK drives files, uploads and a batch to completion, every object
/// validated with its models (tests/sdk/files_batches_check.py).
#[test]
fn openai_sdk_files_uploads_and_batches() {
    common::sdk_check("files_batches_check.py", "/v1", start);
}
