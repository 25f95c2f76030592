//! The organization's usage and costs (and its admin objects) driven by the official `openai`
//! SDK's admin client against the real server: a known mix of traffic, streams and a batch
//! included, shows in the usage buckets token for token and in the costs at list prices.

mod common;

use common::Server;

#[test]
fn usage_and_costs_match_the_traffic_exactly() {
    common::sdk_check("org_usage_check.py", "/v1", || Server::start(common::FAST));
}

#[test]
fn organization_admin_crud_and_a_service_account_key_billed_to_its_project() {
    common::sdk_check("org_admin_check.py", "/v1", || Server::start(common::FAST));
}

/// Prompt-cache reads (Anthropic `cache_control`) count as cached input, cost the cached price,
/// and show as cache savings in `/metrics/costs`.
#[test]
fn cached_input_is_billed_at_the_cached_price() {
    let s = Server::start(common::FAST);
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let system = "You are a helpful assistant. ".repeat(300);
    let body = serde_json::json!({"model": "claude-3-haiku", "max_tokens": 5,
        "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hi"}]})
    .to_string();
    let mut read = 0;
    for _ in 0..2 {
        let mut c = s.connect();
        c.send("POST", "/v1/messages", Some(&body), &[("anthropic-version", "2023-06-01")]);
        read = c.response().json()["usage"]["cache_read_input_tokens"].as_u64().unwrap();
    }
    assert!(read > 1000, "the second request reads the cached system prompt");
    let usage = s.request("GET", &format!("/v1/organization/usage/completions?start_time={start}"), None).json();
    let result = &usage["data"][0]["results"][0];
    assert_eq!(result["input_cached_tokens"], read, "{usage}");
    let costs = s.request("GET", &format!("/v1/organization/costs?start_time={start}&group_by=line_item"), None).json();
    let cached = costs["data"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["line_item"] == "claude-3-haiku, cached_input_tokens")
        .cloned()
        .unwrap_or_else(|| panic!("{costs}"));
    // claude-3-haiku: $0.25 per million input tokens, $0.125 cached.
    let want = read as f64 * 0.125e-6;
    assert!((cached["amount"]["value"].as_f64().unwrap() - want).abs() < 1e-12, "{cached}");
    let saved = s.request("GET", "/metrics/costs", None).json()["billed"]["savings_usd"]["cache"].as_f64().unwrap();
    assert!((saved - read as f64 * (0.25e-6 - 0.125e-6)).abs() < 1e-12, "cache savings {saved}");
}
