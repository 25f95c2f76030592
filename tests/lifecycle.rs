//! Process-level behaviour: graceful shutdown, configuration precedence, CLI exit codes.

mod common;

use std::{
    process::Command,
    thread,
    time::{Duration, Instant},
};

use common::{Server, chat};

fn fakeai() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fakeai"))
}

#[test]
fn sigterm_drains_in_flight_streams_then_exits_zero() {
    let mut s = Server::start(&["--ttft", "0:0", "--itl", "10:0"]);
    let addr = s.addr;
    let streamer = common::spawn_post(
        addr,
        "/v1/chat/completions",
        chat("m", "x", r#""max_tokens":50,"ignore_eos":true,"stream":true"#),
    );
    thread::sleep(Duration::from_millis(150));
    s.terminate();
    let r = streamer.join().unwrap();
    assert_eq!(r.content_events(), 50, "the in-flight stream finished");
    let t = Instant::now();
    let status = loop {
        if let Some(st) = s.child.try_wait().unwrap() {
            break st;
        }
        assert!(t.elapsed() < Duration::from_secs(10), "server did not exit");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    assert!(std::net::TcpStream::connect(addr).is_err(), "no longer accepting");
}

/// A server process that a failing assertion does not leave running.
struct KilledOnDrop(std::process::Child);

impl Drop for KilledOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Two ports free right now.
fn free_ports() -> (u16, u16) {
    let a = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let b = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    (a.local_addr().unwrap().port(), b.local_addr().unwrap().port())
}

#[test]
fn a_server_restarted_at_once_on_the_same_ports_binds_them() {
    // Scripts stop fakeai, wait for it and start the next one on the same ports. Under io_uring a
    // listener with a pending accept outlived the process briefly: about 1 restart in 20 failed
    // with "Address already in use" before shutdown released the ports itself.
    let (a, b) = free_ports();
    for round in 0..12 {
        let (port, dcgm) = if round % 2 == 0 { (a, b) } else { (b, a) };
        let mut child = KilledOnDrop(
            fakeai()
                .args(["server", "--host", "127.0.0.1", "--workers", "1"])
                .args(["--port", &port.to_string(), "--dcgm-port", &dcgm.to_string()])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let child = &mut child.0;
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let t = Instant::now();
        while !common::answers_200(addr, "/health") {
            if let Some(status) = child.try_wait().unwrap() {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                panic!("round {round}: the server exited with {status}: {err}");
            }
            assert!(t.elapsed() < Duration::from_secs(10), "round {round}: never ready");
            thread::sleep(Duration::from_millis(2));
        }
        let dcgm_addr = std::net::SocketAddr::from(([127, 0, 0, 1], dcgm));
        assert!(common::answers_200(dcgm_addr, "/metrics"), "round {round}: DCGM port served");
        let _ = Command::new("kill").arg(child.id().to_string()).status();
        assert!(child.wait().unwrap().success());
    }
}

fn completion_tokens(s: &Server) -> u64 {
    let v = s.post("/v1/chat/completions", &chat("m", "x", "")).json();
    v["usage"]["completion_tokens"].as_u64().unwrap()
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let dir = std::env::temp_dir().join(format!("fakeai-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("fakeai.toml");
    std::fs::write(&toml, "output-len = \"11\"\nttft = \"0:0\"\n[generation]\nitl_ms = 0\n").unwrap();
    let file = toml.to_str().unwrap();

    let s = Server::start(&["--config-file", file]);
    assert_eq!(completion_tokens(&s), 11);
    let s = Server::start_with_env(&["--config-file", file], &[("FAKEAI_OUTPUT_LEN", "22")]);
    assert_eq!(completion_tokens(&s), 22);
    let s = Server::start_with_env(&["--config-file", file, "--output-len", "33"], &[("FAKEAI_OUTPUT_LEN", "22")]);
    assert_eq!(completion_tokens(&s), 33);

    let yaml = dir.join("fakeai.yaml");
    std::fs::write(&yaml, "output_len: '7'\nttft: '0:0'\nitl: '0:0'\n").unwrap();
    let s = Server::start_with_env(&[], &[("FAKEAI_CONFIG_FILE", yaml.to_str().unwrap())]);
    assert_eq!(completion_tokens(&s), 7);

    let json = dir.join("fakeai.json");
    std::fs::write(&json, r#"{"server": {"workers": 1}, "output_len": "5", "ttft": "0:0", "itl": "0:0"}"#).unwrap();
    let s = Server::start(&["--config-file", json.to_str().unwrap()]);
    assert!(s.startup_line.contains("workers=1"), "{}", s.startup_line);
    assert_eq!(completion_tokens(&s), 5);
}

#[test]
fn fakeai_nested_and_flat_env_names_work() {
    let s = Server::start_with_env(
        &[],
        &[
            ("FAKEAI_GENERATION__TTFT_MS", "250"),
            ("FAKEAI_GENERATION__TTFT_VARIANCE_PERCENT", "0"),
            ("FAKEAI_ITL_MS", "0"),
        ],
    );
    let t = Instant::now();
    s.post("/v1/chat/completions", &chat("m", "x", r#""max_tokens":3,"ignore_eos":true"#));
    let ms = t.elapsed().as_secs_f64() * 1e3;
    assert!((249.0..400.0).contains(&ms), "nested TTFT applied: {ms} ms");
}

#[test]
fn invalid_settings_exit_2_with_a_message() {
    for args in [
        vec!["server", "--ttft", "fast"],
        vec!["server", "--itl", "5:200"],
        vec!["server", "--driver", "kqueue"],
        vec!["server", "--max-body-size", "lots"],
        vec!["server", "--tokenizer", "gpt2"],
    ] {
        let out = fakeai().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
    let dir = std::env::temp_dir().join(format!("fakeai-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "no_such_setting = 1\n").unwrap();
    let out = fakeai().args(["server", "--config-file", bad.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no_such_setting"), "names the bad key");
    let out = fakeai().args(["server"]).env("FAKEAI_PORT", "notaport").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    // A bad value names its key as written and where it came from.
    let out = fakeai().args(["server"]).env("FAKEAI_SERVER__PORT", "notaport").output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("FAKEAI_SERVER__PORT in the environment") && stderr.contains("notaport"), "{stderr}");
    std::fs::write(&bad, "[kv_cache]\nblock_size = 500\n").unwrap();
    let out = fakeai().args(["server", "--config-file", bad.to_str().unwrap()]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr.contains("kv_cache.block_size in config file") && stderr.contains("bad.toml"), "{stderr}");
}

#[test]
fn config_file_env_and_flags_layer_key_by_key_for_scalars_and_lists() {
    let dir = std::env::temp_dir().join(format!("fakeai-layers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let toml = dir.join("layers.toml");
    let text = "output_len = 11\n[generation]\nttft_ms = 0\nitl = \"0:0\"\nreasoning_models = [\"alpha\"]\n";
    std::fs::write(&toml, text).unwrap();
    let file = toml.to_str().unwrap();
    let reasoning_tokens = |s: &Server, model: &str| {
        let v = s.post("/v1/chat/completions", &chat(model, "x", r#""max_tokens":10,"ignore_eos":true"#)).json();
        v["usage"]["completion_tokens_details"]["reasoning_tokens"].as_u64().unwrap()
    };
    let env = [("FAKEAI_OUTPUT_LEN", "22"), ("FAKEAI_GENERATION__REASONING_MODELS", r#"["beta"]"#)];

    let s = Server::start_with_env(&["--config-file", file], &[]);
    assert_eq!(completion_tokens(&s), 11);
    assert_eq!(reasoning_tokens(&s, "alpha-1"), 5, "the file's list");
    assert_eq!(reasoning_tokens(&s, "openai/gpt-oss-20b"), 0, "the file's list replaces the default");

    let s = Server::start_with_env(&["--config-file", file, "--output-len", "33"], &env);
    assert_eq!(completion_tokens(&s), 33, "the flag beats the environment");
    assert_eq!(reasoning_tokens(&s, "beta-1"), 5, "FakeAI's JSON list in the environment beats the file");
    assert_eq!(reasoning_tokens(&s, "alpha-1"), 0, "a list is replaced whole");
    let t = std::time::Instant::now();
    completion_tokens(&s);
    // 33 tokens at the default 20 ms + 32 × 5 ms (±10 %) would take at least 162 ms.
    assert!(t.elapsed() < Duration::from_millis(120), "the file's zero timing holds under env and flags");

    let s = Server::start_with_env(&["--config-file", file, "--reasoning-models", "alpha,gamma"], &env);
    assert_eq!(completion_tokens(&s), 22, "the environment beats the file");
    assert_eq!((reasoning_tokens(&s, "alpha-1"), reasoning_tokens(&s, "gamma-1")), (5, 5), "the flag's list");
    assert_eq!(reasoning_tokens(&s, "beta-1"), 0);
}

#[test]
fn client_commands_and_version() {
    let out = fakeai().arg("--version").output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap().trim(), format!("fakeai {}", env!("CARGO_PKG_VERSION")));
    let s = Server::start(&[]);
    let out = fakeai().args(["status", "--port", &s.addr.port().to_string()]).output().unwrap();
    assert!(out.status.success());
    let health: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(health["status"], "healthy");
    let out =
        fakeai().args(["metrics", "--format", "prometheus", "--port", &s.addr.port().to_string()]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().contains("fakeai_requests_total"));
    let port = s.addr.port().to_string();
    let out = fakeai().args(["metrics", "--port", &port]).output().unwrap();
    let pretty = String::from_utf8(out.stdout).unwrap();
    assert!(pretty.lines().any(|l| l.starts_with("totals.requests ")), "{pretty}");
    let out = fakeai().args(["metrics", "--format", "csv", "--port", &port]).output().unwrap();
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("metric,value\n") && csv.contains("\ntokens.completion.total,"), "{csv}");
    let out = fakeai()
        .args(["metrics", "--format", "json", "--watch", "--interval", "0.1", "--count", "2", "--port", &port])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("\"window_seconds\"").count(), 2, "two refreshes: {text}");
    let out = fakeai().args(["status", "--port", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn startup_line_names_address_workers_driver_tokenizer() {
    let s = Server::start(&["--workers", "2", "--tokenizer", "o200k_base"]);
    let line = &s.startup_line;
    for want in ["listening on http://127.0.0.1:", "workers=2", "tokenizer=o200k_base", "ready in"] {
        assert!(line.contains(want), "{line}");
    }
    let forced_legacy = std::env::var("MONOIO_FORCE_LEGACY_DRIVER").is_ok_and(|v| v == "1");
    assert!(line.contains(if forced_legacy { "driver=epoll" } else { "driver=" }), "{line}");
    let s = Server::start(&["--driver", "epoll", "--workers", "1"]);
    assert!(s.startup_line.contains("driver=epoll"));
}
