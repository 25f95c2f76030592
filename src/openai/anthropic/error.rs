//! Anthropic's error envelope: `{"type":"error","error":{"type","message"},"request_id"}`, with
//! Anthropic's error type for each status.

use crate::{api::Full, error::Error};

/// `e` as an Anthropic error reply, carrying `request_id` in its body and its `request-id` header.
pub fn reply(e: &Error, request_id: &str) -> Full {
    let kind = e.anthropic_type();
    let body = serde_json::json!({
        "type": "error",
        "error": {"type": kind, "message": e.message},
        "request_id": request_id,
    });
    Full {
        status: e.status,
        error_type: Some(kind),
        extra: vec![("request-id", request_id.to_owned())],
        ..Full::value(&body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_anthropic_shape_and_types() {
        let full = reply(&Error::invalid_param("max_tokens", "max_tokens: Field required"), "req_1");
        let v: serde_json::Value = serde_json::from_slice(full.body.as_slice()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"type": "error", "request_id": "req_1",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"}})
        );
        assert_eq!((full.status, full.error_type), (400, Some("invalid_request_error")));
        assert_eq!(full.extra, [("request-id", "req_1".to_owned())]);
        let kinds: Vec<_> = [401, 403, 404, 413, 429, 500, 529].map(|s| Error::new(s, "x", "").anthropic_type()).into();
        assert_eq!(
            kinds,
            [
                "authentication_error",
                "permission_error",
                "not_found_error",
                "request_too_large",
                "rate_limit_error",
                "api_error",
                "overloaded_error"
            ]
        );
    }
}
