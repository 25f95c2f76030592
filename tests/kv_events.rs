//! KV events over ZeroMQ (`--kv-events`), read by the real client: pyzmq subscribes and msgspec
//! decodes with vLLM's struct declarations (tests/sdk/kv_events_check.py), in both encodings.

mod common;

use common::Server;

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn routers_see_blocks_stored_removed_and_cleared() {
    if common::sdk_python().is_none() {
        return;
    }
    for format in ["map", "array"] {
        let endpoint = format!("tcp://127.0.0.1:{}", free_port());
        let s = Server::start(&[
            "--ttft",
            "0:0",
            "--itl",
            "0:0",
            "--num-gpu-blocks",
            "40",
            "--kv-events",
            &endpoint,
            "--kv-events-topic",
            "kv@fakeai",
            "--kv-events-format",
            format,
        ]);
        common::run_sdk_script(
            "kv_events_check.py",
            &[&format!("http://{}", s.addr), &endpoint, "kv@fakeai", format, "40"],
        );
        let view = s.request("GET", "/kv-cache/metrics", None).json();
        let events = &view["kv_events"];
        assert_eq!(events["endpoint"], endpoint.as_str());
        assert!(events["published_batches"].as_u64().unwrap() >= 5, "{events}");
        assert_eq!(events["dropped_batches"], 0, "{events}");
    }
}

#[test]
fn without_the_flag_nothing_is_published() {
    let s = Server::start(common::FAST);
    let view = s.request("GET", "/kv-cache/metrics", None).json();
    assert!(view.get("kv_events").is_none(), "{view}");
}

#[test]
fn with_the_engine_its_blocks_make_the_same_events() {
    if common::sdk_python().is_none() {
        return;
    }
    // The engine's sequences take their blocks from the one pool, caching prompts as computed.
    let endpoint = format!("tcp://127.0.0.1:{}", free_port());
    let s = Server::start(&[
        "--engine",
        "vllm",
        "--workers",
        "1",
        "--step-time",
        "1000,0,0",
        "--dcgm-port",
        "off",
        "--num-gpu-blocks",
        "40",
        "--kv-events",
        &endpoint,
    ]);
    common::run_sdk_script("kv_events_check.py", &[&format!("http://{}", s.addr), &endpoint, "", "map", "40"]);
}
