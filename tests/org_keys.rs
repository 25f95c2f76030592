//! Keys the organization endpoints make, over HTTP with auth on: an admin API key's `value`
//! calls the organization endpoints (and only those), a service account's key calls inference
//! (and not the organization endpoints), its usage grouped by its project and key; deleted keys
//! stop working.

mod common;

use common::{Response, Server};
use serde_json::{Value, json};

fn call(s: &Server, key: &str, method: &str, path: &str, body: Option<Value>) -> Response {
    let mut c = s.connect();
    let body = body.map(|b| b.to_string());
    c.send(method, path, body.as_deref(), &[("Authorization", &format!("Bearer {key}"))]);
    c.response()
}

fn ok(r: Response) -> Value {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

const CHAT: &str = "/v1/chat/completions";

fn chat() -> Option<Value> {
    Some(json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3}))
}

#[test]
fn organization_keys_are_real_keys_scoped_as_openai_scopes_them() {
    let s = Server::start(&["--api-key", "sk-main", "--ttft", "0:0", "--itl", "0:0"]);
    let project = ok(call(&s, "sk-main", "POST", "/v1/organization/projects", Some(json!({"name": "p2"}))));
    let project = project["id"].as_str().unwrap();
    let path = format!("/v1/organization/projects/{project}/service_accounts");
    let account = ok(call(&s, "sk-main", "POST", &path, Some(json!({"name": "bot"}))));
    let (svc_key, svc_key_id) =
        (account["api_key"]["value"].as_str().unwrap(), account["api_key"]["id"].as_str().unwrap());
    let admin = ok(call(&s, "sk-main", "POST", "/v1/organization/admin_api_keys", Some(json!({"name": "adm"}))));
    let (admin_key, admin_id) = (admin["value"].as_str().unwrap(), admin["id"].as_str().unwrap());

    // The service account's key generates; the admin key manages.
    ok(call(&s, svc_key, "POST", CHAT, chat()));
    ok(call(&s, admin_key, "GET", "/v1/organization/projects", None));
    for (key, path) in [(svc_key, "/v1/organization/projects"), (admin_key, CHAT)] {
        let r = call(&s, key, if path == CHAT { "POST" } else { "GET" }, path, chat().filter(|_| path == CHAT));
        assert_eq!(r.status, 403, "{path}: {}", r.text());
        assert_eq!(r.json()["error"]["type"], "invalid_request_error");
        assert!(r.json()["error"]["message"].as_str().unwrap().contains("insufficient permissions"));
    }

    // Its usage is its project's and its key's.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let usage =
        format!("/v1/organization/usage/completions?start_time={}&group_by=project_id&group_by=api_key_id", now - 3600);
    let page = ok(call(&s, admin_key, "GET", &usage, None));
    let results: Vec<&Value> =
        page["data"].as_array().unwrap().iter().flat_map(|b| b["results"].as_array().unwrap()).collect();
    let mine: Vec<&&Value> = results.iter().filter(|r| r["api_key_id"] == svc_key_id).collect();
    assert_eq!(mine.len(), 1, "{results:?}");
    assert_eq!((mine[0]["project_id"].as_str(), mine[0]["num_model_requests"].as_u64()), (Some(project), Some(1)));

    // Deleted keys are unknown keys again; unknown keys get the 401.
    ok(call(&s, "sk-main", "DELETE", &format!("/v1/organization/admin_api_keys/{admin_id}"), None));
    let r = call(&s, admin_key, "GET", "/v1/organization/projects", None);
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (401, Some("invalid_api_key")));
    let key_path = format!("{path}/{}", account["id"].as_str().unwrap());
    ok(call(&s, "sk-main", "DELETE", &key_path, None));
    assert_eq!(call(&s, svc_key, "POST", CHAT, chat()).status, 401);
    assert_eq!(call(&s, "sk-nope", "POST", CHAT, chat()).status, 401);
}

#[test]
fn an_admin_key_stops_working_when_it_expires() {
    let s = Server::start(&["--api-key", "sk-main"]);
    let body = json!({"name": "brief", "expires_in_seconds": 1});
    let admin = ok(call(&s, "sk-main", "POST", "/v1/organization/admin_api_keys", Some(body)));
    let key = admin["value"].as_str().unwrap();
    ok(call(&s, key, "GET", "/v1/organization/projects", None));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_eq!(call(&s, key, "GET", "/v1/organization/projects", None).status, 401);
}
