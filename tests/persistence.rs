//! `--data-dir`: a workflow survives `kill -9` (every object, file bytes, batch output, vector
//! store search results and list pages read back identical; a fine-tune under way finishes after
//! the restart), and every upload acknowledged during a burst cut short by `kill -9` is there
//! after the restart, under both I/O drivers.

mod common;

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use common::{Response, Server};
use serde_json::{Value, json};

/// A fresh data directory for one test.
fn data_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fakeai-persistence-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn start(dir: &Path, env: &[(&str, &str)]) -> Server {
    let args = [common::FAST, &["--data-dir", dir.to_str().unwrap(), "--fine-tuning-ms", "1500"]].concat();
    Server::start_with_env(&args, env)
}

/// Kills the server at once: no drain, no snapshot.
fn kill_9(mut s: Server) {
    s.child.kill().unwrap();
    s.child.wait().unwrap();
}

fn ok(r: Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn get(s: &Server, path: &str) -> Response {
    s.request("GET", path, None)
}

fn post(s: &Server, path: &str, body: Value) -> Value {
    ok(s.post(path, &body.to_string()))
}

fn uploaded(s: &Server, purpose: &str, name: &str, bytes: &[u8]) -> String {
    ok(s.upload(purpose, name, bytes))["id"].as_str().unwrap().to_owned()
}

const DOC: &str = "Sourdough bread needs a lively starter. Feed the starter flour and water, let the dough rise \
    overnight, shape the loaf and bake it in a hot Dutch oven until the crust is dark.";

/// Everything a client can read about the objects `ids` names, as raw bodies.
/// `body` without a vector store's `last_active_at`: each observation ends with a search, which
/// makes the store active then, so the second observation may see a later second than the first.
fn without_activity(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(mut o)) if o.get("object") == Some(&json!("vector_store")) => {
            o.remove("last_active_at");
            Value::Object(o).to_string().into_bytes()
        }
        _ => body.to_vec(),
    }
}

fn observe(s: &Server, ids: &Value) -> Vec<(String, Vec<u8>)> {
    let id = |k: &str| ids[k].as_str().unwrap().to_owned();
    let mut paths = vec![
        format!("/v1/files/{}", id("batch_file")),
        format!("/v1/files/{}/content", id("batch_file")),
        format!("/v1/files/{}/content", id("doc")),
        format!("/v1/files/{}/content", id("training")),
        format!("/v1/batches/{}", id("batch")),
        format!("/v1/files/{}/content", id("output")),
        format!("/v1/vector_stores/{}", id("vs")),
        format!("/v1/vector_stores/{}/files", id("vs")),
        format!("/v1/assistants/{}", id("assistant")),
        "/v1/assistants?limit=2".into(),
        "/v1/batches".into(),
        "/v1/organization/projects".into(),
        format!("/v1/organization/projects/{}", id("project")),
    ];
    // Every page of the file list, two at a time, in both orders.
    for order in ["asc", "desc"] {
        let mut after = String::new();
        loop {
            let path = format!("/v1/files?limit=2&order={order}{after}");
            let page = ok(get(s, &path));
            paths.push(path);
            if page["has_more"] != true {
                break;
            }
            after = format!("&after={}", page["last_id"].as_str().unwrap());
        }
    }
    let mut seen: Vec<(String, Vec<u8>)> = paths
        .into_iter()
        .map(|p| {
            let r = get(s, &p);
            assert_eq!(r.status, 200, "{p}: {}", r.text());
            (p, r.body)
        })
        .collect();
    let search =
        s.post(&format!("/v1/vector_stores/{}/search", id("vs")), &json!({"query": "bread starter"}).to_string());
    seen.push(("search".into(), ok(search).to_string().into_bytes()));
    seen
}

#[test]
fn a_workflow_survives_kill_9() {
    let dir = data_dir("workflow");
    let s = start(&dir, &[]);
    let mut ids = json!({});
    let line = |i: usize| {
        json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": format!("hello {i}")}],
                "max_tokens": 5}})
        .to_string()
    };
    let input = (0..3).map(line).collect::<Vec<_>>().join("\n") + "\n";
    ids["batch_file"] = uploaded(&s, "batch", "in.jsonl", input.as_bytes()).into();
    let batch = post(
        &s,
        "/v1/batches",
        json!({"input_file_id": ids["batch_file"], "endpoint": "/v1/chat/completions", "completion_window": "24h"}),
    );
    ids["batch"] = batch["id"].clone();
    let t = Instant::now();
    let done = loop {
        let b = ok(get(&s, &format!("/v1/batches/{}", batch["id"].as_str().unwrap())));
        if b["status"] == "completed" {
            break b;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "batch never completed: {b}");
        std::thread::sleep(Duration::from_millis(20));
    };
    ids["output"] = done["output_file_id"].clone();
    ids["doc"] = uploaded(&s, "assistants", "bread.txt", DOC.as_bytes()).into();
    for i in 0..3 {
        uploaded(&s, "user_data", &format!("extra{i}.bin"), &[i as u8, 0, 255, 10, 13]);
    }
    let vs = post(&s, "/v1/vector_stores", json!({"name": "kb", "file_ids": [ids["doc"]]}));
    ids["vs"] = vs["id"].clone();
    for name in ["a1", "a2", "a3"] {
        ids["assistant"] = post(&s, "/v1/assistants", json!({"model": "gpt-4o", "name": name}))["id"].clone();
    }
    ids["project"] = post(&s, "/v1/organization/projects", json!({"name": "kept"}))["id"].clone();
    let example = json!({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]});
    let training = (0..10).map(|_| example.to_string()).collect::<Vec<_>>().join("\n") + "\n";
    ids["training"] = uploaded(&s, "fine-tune", "train.jsonl", training.as_bytes()).into();
    let before = observe(&s, &ids);
    let job = post(
        &s,
        "/v1/fine_tuning/jobs",
        json!({"model": "gpt-4o-mini-2024-07-18", "training_file": ids["training"], "suffix": "kept"}),
    );
    // Right after the last acknowledged reply.
    kill_9(s);

    let s = start(&dir, &[]);
    let after = observe(&s, &ids);
    for ((path, was), (_, is)) in before.iter().zip(&after) {
        let (was, is) = (without_activity(was), without_activity(is));
        assert!(was == is, "{path} changed:\n{}\n{}", String::from_utf8_lossy(&was), String::from_utf8_lossy(&is));
    }
    let output =
        String::from_utf8(before.iter().find(|(p, _)| p.contains(ids["output"].as_str().unwrap())).unwrap().1.clone());
    assert_eq!(output.unwrap().lines().count(), 3, "the batch output file has every line");
    let hits = &serde_json::from_slice::<Value>(&after.last().unwrap().1).unwrap()["data"];
    assert_eq!(hits[0]["file_id"], ids["doc"], "search finds the file after the restart");

    // The fine-tune, created just before the kill, goes on and its model serves.
    let job_id = job["id"].as_str().unwrap();
    let t = Instant::now();
    let finished = loop {
        let j = ok(get(&s, &format!("/v1/fine_tuning/jobs/{job_id}")));
        if j["status"] == "succeeded" {
            break j;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "fine-tune never finished: {j}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(finished["created_at"], job["created_at"]);
    let model = finished["fine_tuned_model"].as_str().unwrap();
    let chat = json!({"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3});
    assert_eq!(post(&s, "/v1/chat/completions", chat)["model"], model);

    // New objects get new ids and list after the old ones.
    let newer = uploaded(&s, "user_data", "new.txt", b"new");
    let files = ok(get(&s, "/v1/files?order=asc&limit=10000"));
    let listed: Vec<&str> = files["data"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(listed.last(), Some(&newer.as_str()));
    assert_eq!(listed.iter().filter(|id| **id == newer).count(), 1);
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

/// 200 uploads at once, the server killed while they are being answered: each one answered 200
/// is there after the restart, with its bytes.
fn burst_then_kill(env: &[(&str, &str)], name: &str) {
    let dir = data_dir(name);
    let s = start(&dir, env);
    let addr = s.addr;
    let answered = Arc::new(AtomicUsize::new(0));
    let uploads: Vec<_> = (0..200)
        .map(|i| {
            let answered = answered.clone();
            std::thread::spawn(move || {
                let body = format!("upload {i} {}", "x".repeat(i * 37));
                // A connection the kill cuts short panics inside the helper: not acknowledged.
                let r = std::panic::catch_unwind(|| {
                    common::upload_to(addr, "user_data", &format!("u{i}.txt"), body.as_bytes())
                });
                let acked = r.ok().filter(|r| r.status == 200).map(|r| r.json()["id"].as_str().unwrap().to_owned());
                if acked.is_some() {
                    answered.fetch_add(1, Ordering::SeqCst);
                }
                acked.map(|id| (id, body))
            })
        })
        .collect();
    let t = Instant::now();
    while answered.load(Ordering::SeqCst) < 50 && t.elapsed() < Duration::from_secs(30) {
        std::thread::yield_now();
    }
    kill_9(s);
    let acked: Vec<(String, String)> = uploads.into_iter().filter_map(|h| h.join().unwrap()).collect();
    assert!(acked.len() >= 50, "{} uploads acknowledged", acked.len());

    let s = start(&dir, env);
    for (id, body) in &acked {
        let r = get(&s, &format!("/v1/files/{id}/content"));
        assert_eq!(r.status, 200, "acknowledged upload {id} is lost");
        assert_eq!(r.text(), *body);
    }
    eprintln!("{name}: {} of 200 uploads acknowledged before kill -9, all kept", acked.len());
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn acknowledged_uploads_survive_kill_9_during_a_burst() {
    burst_then_kill(&[], "burst");
}

#[test]
fn acknowledged_uploads_survive_kill_9_on_the_epoll_driver() {
    burst_then_kill(&[("MONOIO_FORCE_LEGACY_DRIVER", "1")], "burst-epoll");
}

/// A batch under way at `kill -9` runs again after the restart and ends with every line answered
/// once; usage recorded before a SIGTERM is there after the restart.
#[test]
fn an_interrupted_batch_runs_again_and_usage_survives_sigterm() {
    let dir = data_dir("resume");
    let slow = [common::FAST, &["--data-dir", dir.to_str().unwrap(), "--batch-lines-per-second", "20"]].concat();
    let s = Server::start(&slow);
    let line = |i: usize| {
        json!({"custom_id": format!("r{i}"), "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}})
        .to_string()
    };
    let input = (0..20).map(line).collect::<Vec<_>>().join("\n");
    let file = uploaded(&s, "batch", "in.jsonl", input.as_bytes());
    let body = json!({"input_file_id": file, "endpoint": "/v1/chat/completions", "completion_window": "24h"});
    let id = post(&s, "/v1/batches", body)["id"].as_str().unwrap().to_owned();
    let t = Instant::now();
    while ok(get(&s, &format!("/v1/batches/{id}")))["request_counts"]["completed"].as_u64() < Some(3) {
        assert!(t.elapsed() < Duration::from_secs(30), "the batch never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    kill_9(s);

    let s = Server::start(&slow);
    let t = Instant::now();
    let done = loop {
        let b = ok(get(&s, &format!("/v1/batches/{id}")));
        if b["status"] == "completed" {
            break b;
        }
        // Polled between its lines: running, or writing its output files.
        assert!(b["status"] == "in_progress" || b["status"] == "finalizing", "{b}");
        assert!(t.elapsed() < Duration::from_secs(30), "the batch never finished: {b}");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(done["request_counts"], json!({"total": 20, "completed": 20, "failed": 0}));
    let output = get(&s, &format!("/v1/files/{}/content", done["output_file_id"].as_str().unwrap())).text();
    let mut ids: Vec<String> =
        output.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["custom_id"].to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 20, "each line answered once");

    post(&s, "/v1/chat/completions", json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}));
    let today = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86400 * 86400;
    let path = format!("/v1/organization/usage/completions?start_time={today}&bucket_width=1d");
    let usage = |s: &Server| ok(get(s, &path));
    let before = usage(&s);
    assert!(before.to_string().contains("\"num_model_requests\""), "{before}");
    let mut s = s;
    s.terminate();
    s.child.wait().unwrap();
    let s = Server::start(&slow);
    assert_eq!(usage(&s), before, "usage is kept across a SIGTERM");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
