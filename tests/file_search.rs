//! The `file_search` tool executed over HTTP against the real binary: a Responses call searches
//! its vector stores with the user's question (the same ranking as the search endpoint), reports
//! a `file_search_call` item and cites the matching file; the official SDK drives the whole
//! workflow, Assistants runs included (tests/sdk/file_search_check.py).

mod common;

use common::Server;
use serde_json::{Value, json};

const BREAD: &str = "Sourdough bread needs a lively starter. Feed the starter flour and water, let the dough \
    rise overnight, shape the loaf and bake the bread in a hot Dutch oven until the crust is dark.";
const SAILING: &str = "Sailing a yacht upwind means trimming the mainsail and jib, tacking through the wind, \
    and reading the waves and the weather forecast before leaving the harbour.";

fn ok(r: common::Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// A vector store holding the two files; returns (store id, bread file id).
fn store(s: &Server) -> (String, String) {
    let vs = ok(s.post("/v1/vector_stores", &json!({"name": "kb"}).to_string()))["id"].as_str().unwrap().to_owned();
    let mut bread = String::new();
    for (name, text) in [("bread.txt", BREAD), ("sailing.txt", SAILING)] {
        let id = ok(s.upload("assistants", name, text.as_bytes()))["id"].as_str().unwrap().to_owned();
        ok(s.post(&format!("/v1/vector_stores/{vs}/files"), &json!({"file_id": id}).to_string()));
        if name == "bread.txt" {
            bread = id;
        }
    }
    (vs, bread)
}

#[test]
fn the_openai_sdk_drives_file_search_end_to_end() {
    common::sdk_check("file_search_check.py", "/v1", || Server::start(common::FAST));
}

#[test]
fn a_reasoning_model_searches_first_then_reasons_then_answers_citing_the_file() {
    let s = Server::start(common::FAST);
    let (vs, bread) = store(&s);
    let body = json!({"model": "openai/gpt-oss-120b", "input": "How long should sourdough dough rise?",
        "tools": [{"type": "file_search", "vector_store_ids": [vs]}], "include": ["file_search_call.results"]});
    let v = ok(s.post("/v1/responses", &body.to_string()));
    let kinds: Vec<&str> = v["output"].as_array().unwrap().iter().map(|o| o["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["file_search_call", "reasoning", "message"]);
    assert_eq!(v["output"][0]["results"][0]["file_id"], bread.as_str());
    assert_eq!(v["output"][2]["content"][0]["annotations"][0]["file_id"], bread.as_str());

    // Streamed, every item's events carry its own output index.
    let stream = json!({"stream": true, "max_output_tokens": 4000});
    let mut body = body;
    body.as_object_mut().unwrap().extend(stream.as_object().unwrap().clone());
    let text = s.post("/v1/responses", &body.to_string()).text();
    let data = text.split_terminator("\n\n").map(|e| e.split_once("\ndata: ").expect("event and data").1);
    let events: Vec<Value> = data.map(|d| serde_json::from_str(d).unwrap()).collect();
    let index_of = |kind: &str| events.iter().find(|e| e["type"] == kind).map(|e| e["output_index"].clone());
    assert_eq!(index_of("response.file_search_call.searching"), Some(json!(0)));
    assert_eq!(index_of("response.reasoning_text.delta"), Some(json!(1)));
    assert_eq!(index_of("response.output_text.delta"), Some(json!(2)));
    assert_eq!(index_of("response.output_text.annotation.added"), Some(json!(2)));
}

#[test]
fn bad_file_search_tools_get_openais_errors() {
    let s = Server::start(common::FAST);
    let post =
        |tool: Value| s.post("/v1/responses", &json!({"model": "gpt-4o", "input": "Hi", "tools": [tool]}).to_string());
    let r = post(json!({"type": "file_search", "vector_store_ids": ["vs_missing"]}));
    assert_eq!(r.status, 404, "{}", r.text());
    assert_eq!(r.json()["error"]["param"], "tools[0].vector_store_ids");
    let (vs, _) = store(&s);
    let r = post(json!({"type": "file_search", "vector_store_ids": [vs], "max_num_results": 0}));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("tools[0].max_num_results")));
    let r = post(json!({"type": "file_search", "vector_store_ids": "vs_1"}));
    assert_eq!((r.status, r.json()["error"]["param"].as_str()), (400, Some("tools[0].vector_store_ids")));
}
