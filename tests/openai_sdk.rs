//! The official `openai` Python SDK against the real server. Needs a Python with `openai`
//! installed, named by FAKEAI_SDK_PYTHON (`.ci/run` creates one); without it the test is skipped,
//! except under CI, where it fails.

mod common;

use common::Server;

#[test]
fn openai_python_sdk_round_trip() {
    common::sdk_check("openai_sdk_check.py", "/v1", || Server::start(common::FAST));
}
