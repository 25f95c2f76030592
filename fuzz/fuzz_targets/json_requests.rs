//! Request bodies of the generation dialects (chat, completions, responses, Anthropic
//! messages): any bytes parse to a request or a 4xx, never a panic or a 5xx.
#![no_main]

use fakeai::{openai::request, tokens::Encoding};
use libfuzzer_sys::fuzz_target;

const ENC: Encoding = Encoding::Cl100kBase;
/// A small window, so that the capped counting is exercised too.
const WINDOW: &dyn Fn(&str) -> u64 = &|_| 64;

fuzz_target!(|data: &[u8]| {
    let Some((&which, body)) = data.split_first() else { return };
    let status = match which % 5 {
        0 => request::parse_chat(body, ENC).err(),
        1 => request::parse_chat_within(body, ENC, WINDOW).err(),
        2 => request::parse_completion_within(body, ENC, WINDOW).err(),
        3 => request::parse_responses_within(body, ENC, WINDOW).err(),
        _ => fakeai::openai::anthropic::request::parse(body, ENC, false).err(),
    }
    .map(|e| e.status);
    if let Some(status) = status {
        assert!((400..500).contains(&status), "{status}");
    }
});
