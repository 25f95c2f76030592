//! The events a mid-stream fault writes, in each dialect: the provider's `error` event, and a
//! chunk of broken JSON.

use super::{ChunkWriter, Flavor};

/// The message of an injected stream error (OpenAI's for a failed generation).
const MESSAGE: &str = "The server had an error while processing your request. Sorry about that!";

impl ChunkWriter {
    /// The `error` event that ends a failed stream: OpenAI's `data: {"error":{…}}` (which its
    /// SDK raises as an `APIError`), Anthropic's `event: error` (`overloaded_error`, as it sends
    /// mid-stream), the Responses API's `error` event, TGI's `{"error","error_type"}`.
    pub fn error_event(&self, out: &mut Vec<u8>) {
        let (event, body) = match self.flavor {
            Flavor::Messages => (
                Some("error"),
                serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            ),
            Flavor::Responses => {
                let seq = self.tokens.get();
                self.tokens.set(seq + 1);
                let body = serde_json::json!({
                    "type": "error", "code": "server_error", "message": MESSAGE, "param": null, "sequence_number": seq,
                });
                (Some("error"), body)
            }
            Flavor::Tgi => (None, serde_json::json!({"error": MESSAGE, "error_type": "generation"})),
            Flavor::Chat | Flavor::Completion | Flavor::TokenIds(_) => (
                None,
                serde_json::json!({"error": {"message": MESSAGE, "type": "server_error", "param": null, "code": null}}),
            ),
        };
        if let Some(event) = event {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.push(b'\n');
        }
        out.extend_from_slice(b"data: ");
        out.extend_from_slice(body.to_string().as_bytes());
        out.extend_from_slice(super::END);
    }

    /// A chunk whose JSON breaks off, as a buggy proxy might pass one on.
    pub fn malformed(&self, out: &mut Vec<u8>) {
        if self.flavor == Flavor::Messages {
            out.extend_from_slice(b"event: content_block_delta\n");
        }
        out.extend_from_slice(b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"");
        out.extend_from_slice(super::END);
    }
}
