//! Vector stores over HTTP against the real binary: files on distinct topics are chunked and
//! embedded, search ranks the right file first, attribute filters and pagination work, and
//! deletes, batches and processing delays behave as OpenAI's do.

mod common;

use common::{Response, Server};
use serde_json::{Value, json};

fn upload(s: &Server, filename: &str, bytes: &[u8]) -> String {
    let r = s.upload("assistants", filename, bytes);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["id"].as_str().unwrap().to_owned()
}

fn post(s: &Server, path: &str, body: Value) -> Response {
    s.post(path, &body.to_string())
}

fn ok(r: Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

const BREAD: &str = "Sourdough bread needs a lively starter. Feed the starter flour and water, let the dough \
    rise overnight, shape the loaf and bake the bread in a hot Dutch oven until the crust is dark.";
const CHIPS: &str = "Semiconductor fabs etch transistors onto silicon wafers. Chip makers reported quarterly \
    earnings as demand for GPUs and memory chips rose across the semiconductor industry.";
const SAILING: &str = "Sailing a yacht upwind means trimming the mainsail and jib, tacking through the wind, \
    and reading the waves and the weather forecast before leaving the harbour.";

/// A store holding the three topics, each file with a `topic` and a `year` attribute.
fn three_topics(s: &Server) -> (String, [String; 3]) {
    let vs = ok(post(s, "/v1/vector_stores", json!({"name": "topics"})));
    let vs_id = vs["id"].as_str().unwrap().to_owned();
    assert!(vs_id.starts_with("vs_"));
    let mut ids = Vec::new();
    for (name, text, topic, year) in [
        ("bread.txt", BREAD, "food", 2021),
        ("chips.txt", CHIPS, "tech", 2023),
        ("sailing.txt", SAILING, "sport", 2024),
    ] {
        let file_id = upload(s, name, text.as_bytes());
        let body = json!({"file_id": file_id, "attributes": {"topic": topic, "year": year}});
        let f = ok(post(s, &format!("/v1/vector_stores/{vs_id}/files"), body));
        assert_eq!((f["id"].as_str(), f["status"].as_str()), (Some(file_id.as_str()), Some("completed")));
        assert_eq!(f["usage_bytes"], text.len());
        assert_eq!(
            f["chunking_strategy"]["static"],
            json!({"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400})
        );
        ids.push(file_id);
    }
    (vs_id, ids.try_into().unwrap())
}

fn search(s: &Server, vs_id: &str, body: Value) -> Vec<Value> {
    let page = ok(post(s, &format!("/v1/vector_stores/{vs_id}/search"), body));
    assert_eq!(page["object"], "vector_store.search_results.page");
    page["data"].as_array().unwrap().clone()
}

#[test]
fn search_ranks_the_matching_file_first_and_filters_on_attributes() {
    let s = Server::start(&[]);
    let (vs, [bread, chips, sailing]) = three_topics(&s);
    let store = ok(s.request("GET", &format!("/v1/vector_stores/{vs}"), None));
    assert_eq!(
        store["file_counts"],
        json!({"in_progress": 0, "completed": 3, "failed": 0, "cancelled": 0, "total": 3})
    );
    assert_eq!(store["usage_bytes"], BREAD.len() + CHIPS.len() + SAILING.len());
    assert_eq!(store["status"], "completed");

    for (query, want) in
        [("how do I bake sourdough bread", &bread), ("GPU chip earnings", &chips), ("tacking a yacht", &sailing)]
    {
        let hits = search(&s, &vs, json!({"query": query}));
        assert_eq!(hits.len(), 3, "every chunk scored");
        assert_eq!(hits[0]["file_id"], **want, "{query}: {hits:?}");
        assert!(hits[0]["score"].as_f64().unwrap() > hits[1]["score"].as_f64().unwrap() + 0.1, "{query}: {hits:?}");
        assert!(hits.iter().all(|h| (0.0..=1.0).contains(&h["score"].as_f64().unwrap())));
    }
    let top = &search(&s, &vs, json!({"query": "sourdough starter", "max_num_results": 1}))[0];
    assert_eq!((top["filename"].as_str(), top["content"][0]["type"].as_str()), (Some("bread.txt"), Some("text")));
    assert_eq!(top["content"][0]["text"], BREAD);
    assert_eq!(top["attributes"], json!({"topic": "food", "year": 2021}));

    // Filters: the bread query restricted to other topics finds the best of the rest.
    let not_food = json!({"type": "ne", "key": "topic", "value": "food"});
    let hits = search(&s, &vs, json!({"query": "bread", "filters": not_food}));
    assert!(hits.len() == 2 && hits.iter().all(|h| h["file_id"] != *bread));
    let recent = json!({"type": "and", "filters": [
        {"type": "gte", "key": "year", "value": 2023}, {"type": "in", "key": "topic", "value": ["sport", "food"]}]});
    let hits = search(&s, &vs, json!({"query": ["wind", "waves"], "filters": recent}));
    assert_eq!(hits.iter().map(|h| h["file_id"].clone()).collect::<Vec<_>>(), vec![json!(sailing)]);
    let threshold = search(&s, &vs, json!({"query": "sourdough bread", "ranking_options": {"score_threshold": 0.3}}));
    assert_eq!(threshold.len(), 1, "unrelated chunks score below the threshold: {threshold:?}");

    // Updating attributes changes what a filter sees.
    let path = format!("/v1/vector_stores/{vs}/files/{chips}");
    ok(post(&s, &path, json!({"attributes": {"topic": "food", "year": 2023}})));
    let food = search(&s, &vs, json!({"query": "chips", "filters": {"type": "eq", "key": "topic", "value": "food"}}));
    assert_eq!(food[0]["file_id"], *chips);

    for (body, param) in [
        (json!({"query": "x", "max_num_results": 51}), "max_num_results"),
        (json!({"query": "x", "filters": {"type": "like", "key": "a", "value": 1}}), "filters"),
        (json!({"query": "x", "ranking_options": {"score_threshold": 2}}), "ranking_options.score_threshold"),
        (json!({"max_num_results": 5}), "query"),
    ] {
        let r = post(&s, &format!("/v1/vector_stores/{vs}/search"), body);
        assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some(param)));
    }
}

#[test]
fn files_chunk_by_tokens_paginate_and_delete() {
    let s = Server::start(&[]);
    let (vs, [bread, chips, sailing]) = three_topics(&s);
    // A long file cut into 100-token chunks overlapping 20: search returns the chunk that matches.
    let long: String = (0..60).map(|i| format!("Paragraph {i} talks about nothing much at all. ")).collect::<String>()
        + "The secret ingredient is cardamom. "
        + &(0..60).map(|i| format!("Filler sentence number {i} follows. ")).collect::<String>();
    let long_id = upload(&s, "long.txt", long.as_bytes());
    let strategy = json!({"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 20}});
    let f = ok(post(
        &s,
        &format!("/v1/vector_stores/{vs}/files"),
        json!({"file_id": long_id, "chunking_strategy": strategy}),
    ));
    assert_eq!(f["chunking_strategy"], strategy);
    let hit = &search(&s, &vs, json!({"query": "secret ingredient cardamom", "max_num_results": 2}))[0];
    let text = hit["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("cardamom") && text.len() < long.len() / 3, "one chunk, not the file: {}", text.len());
    let bad = json!({"type": "static", "static": {"max_chunk_size_tokens": 100, "chunk_overlap_tokens": 60}});
    let r = post(&s, &format!("/v1/vector_stores/{vs}/files"), json!({"file_id": long_id, "chunking_strategy": bad}));
    assert_eq!(r.status, 400);

    // Pagination: newest first, cursors are file ids.
    let page = ok(s.request("GET", &format!("/v1/vector_stores/{vs}/files?limit=2"), None));
    let ids: Vec<&str> = page["data"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!((ids, page["has_more"].as_bool()), (vec![long_id.as_str(), sailing.as_str()], Some(true)));
    let next = ok(s.request("GET", &format!("/v1/vector_stores/{vs}/files?limit=2&after={sailing}"), None));
    assert_eq!(
        next["data"].as_array().unwrap().iter().map(|f| f["id"].clone()).collect::<Vec<_>>(),
        vec![json!(chips), json!(bread)]
    );
    assert_eq!(next["has_more"], false);
    let asc = ok(s.request("GET", &format!("/v1/vector_stores/{vs}/files?order=asc&limit=1&filter=completed"), None));
    assert_eq!(asc["data"][0]["id"], *bread);
    assert_eq!(s.request("GET", &format!("/v1/vector_stores/{vs}/files?after=file-nope"), None).status, 404);
    assert_eq!(s.request("GET", &format!("/v1/vector_stores/{vs}/files?filter=done"), None).status, 400);
    let content = ok(s.request("GET", &format!("/v1/vector_stores/{vs}/files/{bread}/content"), None));
    assert_eq!(content["data"][0]["text"], BREAD);

    // Deleting a file removes it from search; deleting the store removes it.
    let del = ok(s.request("DELETE", &format!("/v1/vector_stores/{vs}/files/{bread}"), None));
    assert_eq!(del, json!({"id": bread, "object": "vector_store.file.deleted", "deleted": true}));
    assert!(search(&s, &vs, json!({"query": "sourdough bread"})).iter().all(|h| h["file_id"] != *bread));
    assert_eq!(s.request("GET", &format!("/v1/vector_stores/{vs}/files/{bread}"), None).status, 404);
    assert_eq!(s.request("GET", &format!("/v1/files/{bread}"), None).status, 200, "the file itself stays");
    let del = ok(s.request("DELETE", &format!("/v1/vector_stores/{vs}"), None));
    assert_eq!(del, json!({"id": vs, "object": "vector_store.deleted", "deleted": true}));
    assert_eq!(s.request("GET", &format!("/v1/vector_stores/{vs}"), None).status, 404);
    assert_eq!(post(&s, &format!("/v1/vector_stores/{vs}/search"), json!({"query": "x"})).status, 404);
}

#[test]
fn stores_list_update_and_expire_settings() {
    let s = Server::start(&[]);
    let a = ok(post(&s, "/v1/vector_stores", json!({"name": "a", "metadata": {"team": "x"}})));
    let b = ok(post(&s, "/v1/vector_stores", json!({"expires_after": {"anchor": "last_active_at", "days": 7}})));
    assert_eq!(b["expires_at"], b["last_active_at"].as_u64().unwrap() + 7 * 86_400);
    assert_eq!((a["metadata"]["team"].as_str(), a["expires_at"].is_null()), (Some("x"), true));
    let list = ok(s.request("GET", "/v1/vector_stores?limit=1", None));
    assert_eq!((list["data"][0]["id"].clone(), list["has_more"].as_bool()), (b["id"].clone(), Some(true)));
    let id = a["id"].as_str().unwrap();
    let renamed = ok(post(&s, &format!("/v1/vector_stores/{id}"), json!({"name": "renamed"})));
    assert_eq!((renamed["name"].as_str(), renamed["metadata"]["team"].as_str()), (Some("renamed"), Some("x")));
    for bad in [
        json!({"expires_after": {"anchor": "created_at", "days": 7}}),
        json!({"expires_after": {"anchor": "last_active_at", "days": 0}}),
    ] {
        assert_eq!(post(&s, "/v1/vector_stores", bad).status, 400);
    }
    let r = post(&s, "/v1/vector_stores", json!({"file_ids": ["file-missing"]}));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("file_ids")));
    assert_eq!(s.request("GET", "/v1/vector_stores/vs_nope", None).status, 404);
}

#[test]
fn processing_takes_the_configured_time_and_batches_cancel() {
    let s = Server::start(&["--vector-store-processing-ms", "1500"]);
    let ids: Vec<String> =
        [BREAD, CHIPS].iter().enumerate().map(|(i, t)| upload(&s, &format!("{i}.txt"), t.as_bytes())).collect();
    let vs = ok(post(&s, "/v1/vector_stores", json!({})));
    let vs = vs["id"].as_str().unwrap();
    let batch = ok(post(
        &s,
        &format!("/v1/vector_stores/{vs}/file_batches"),
        json!({"file_ids": ids, "attributes": {"k": "v"}}),
    ));
    assert_eq!(
        (batch["object"].as_str(), batch["status"].as_str()),
        (Some("vector_store.files_batch"), Some("in_progress"))
    );
    assert_eq!(batch["file_counts"]["in_progress"], 2);
    assert_eq!(ok(s.request("GET", &format!("/v1/vector_stores/{vs}"), None))["status"], "in_progress");
    assert!(search(&s, vs, json!({"query": "bread"})).is_empty(), "nothing is searchable while in progress");
    let batch_id = batch["id"].as_str().unwrap();
    let cancelled = ok(post(&s, &format!("/v1/vector_stores/{vs}/file_batches/{batch_id}/cancel"), json!({})));
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["file_counts"]["cancelled"].as_u64()),
        (Some("cancelled"), Some(2))
    );
    let files =
        ok(s.request("GET", &format!("/v1/vector_stores/{vs}/file_batches/{batch_id}/files?filter=cancelled"), None));
    assert_eq!(files["data"].as_array().unwrap().len(), 2);

    // A second batch (each file its own attributes) completes after the delay.
    let files = json!([{"file_id": ids[0], "attributes": {"n": 1}}, {"file_id": ids[1], "attributes": {"n": 2}}]);
    let batch = ok(post(&s, &format!("/v1/vector_stores/{vs}/file_batches"), json!({"files": files})));
    let path = format!("/v1/vector_stores/{vs}/file_batches/{}", batch["id"].as_str().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(1600));
    let done = ok(s.request("GET", &path, None));
    assert_eq!((done["status"].as_str(), done["file_counts"]["completed"].as_u64()), (Some("completed"), Some(2)));
    let hits = search(&s, vs, json!({"query": "bread", "filters": {"type": "eq", "key": "n", "value": 1}}));
    assert_eq!(hits[0]["file_id"], ids[0]);
    let both = json!({"file_ids": [ids[0]], "files": [{"file_id": ids[1]}]});
    assert_eq!(post(&s, &format!("/v1/vector_stores/{vs}/file_batches"), both).status, 400);
}

#[test]
fn the_openai_sdk_drives_vector_stores() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = Server::start(&["--vector-store-processing-ms", "300"]);
    common::run_sdk_script("vector_stores_check.py", &[&format!("http://{}/v1", s.addr)]);
}
