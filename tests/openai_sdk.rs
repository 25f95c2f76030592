//! The official `openai` Python SDK against the real server. Needs a Python with `openai`
//! installed, named by FAKEAI_SDK_PYTHON (`.ci/run` creates one); without it the test is skipped,
//! except under CI, where it fails.

mod common;

use common::Server;

#[test]
fn openai_python_sdk_round_trip() {
    if common::sdk_python().is_none() {
        return;
    }
    let s = Server::start(&["--ttft", "0:0", "--itl", "0:0"]);
    common::run_sdk_script("openai_sdk_check.py", &[&format!("http://{}/v1", s.addr)]);
}
