//! The official `openai` Python SDK against the real server. Needs a Python with `openai`
//! installed, named by FAKEAI_SDK_PYTHON (`.ci/run` creates one); without it the test says
//! so and does nothing, so a plain `cargo test` works offline.

mod common;

use std::process::Command;

use common::Server;

#[test]
fn openai_python_sdk_round_trip() {
    let Ok(python) = std::env::var("FAKEAI_SDK_PYTHON") else {
        eprintln!("skipping: set FAKEAI_SDK_PYTHON to a python with `openai` installed (.ci/run does)");
        return;
    };
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0"]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/openai_sdk_check.py");
    let out = Command::new(python).arg(script).arg(format!("http://{}/v1", s.addr)).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "SDK check failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("checks passed"), "{stdout}");
    eprintln!("{stdout}");
}
