//! The API error type: an HTTP status plus what each dialect's error envelope needs.

use std::fmt;

/// The error envelope of an API dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// OpenAI's `{"error":{"message","type","param","code"}}` (FakeAI's own paths too).
    OpenAi,
    /// Anthropic's `{"type":"error","error":{"type","message"}}`.
    Anthropic,
    /// Hugging Face TGI's `{"error","error_type"}`.
    Tgi,
    /// vLLM's `{"error":{"message","type","param","code"}}`, `code` the HTTP status.
    Vllm,
}

/// An error that becomes an HTTP response with the OpenAI envelope
/// `{"error":{"message","type","param","code"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// HTTP status code.
    pub status: u16,
    /// OpenAI `error.type`, e.g. `invalid_request_error`.
    pub kind: &'static str,
    /// Human-readable `error.message`.
    pub message: String,
    /// The request parameter at fault, if any.
    pub param: Option<String>,
    /// Machine-readable `error.code`, if any.
    pub code: Option<&'static str>,
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error with no param and no code.
    pub fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Error { status, kind, message: message.into(), param: None, code: None }
    }

    /// 400 `invalid_request_error` naming the offending parameter.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Error::new(400, "invalid_request_error", message).with_param(param)
    }

    /// 400 `array_above_max_length`: OpenAI's answer to an array `param` of `len` items past `max`.
    pub fn array_too_long(param: &str, max: usize, len: usize) -> Self {
        let message = format!(
            "Invalid '{param}': array too long. Expected an array with maximum length {max}, but got an array \
             with length {len} instead."
        );
        Error::invalid_param(param, message).with_code("array_above_max_length")
    }

    /// 400 `invalid_request_error` without a parameter.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Error::new(400, "invalid_request_error", message)
    }

    /// The JSON object a request `body` holds, or OpenAI's 400 for one that is not JSON or not
    /// an object.
    pub fn json_object(body: &[u8]) -> Result<serde_json::Value, Error> {
        match serde_json::from_slice(body) {
            Ok(v @ serde_json::Value::Object(_)) => Ok(v),
            Ok(_) => Err(Error::bad_request("The request body must be a JSON object.")),
            Err(e) => Err(Error::bad_request(format!("We could not parse the JSON body of your request. ({e})"))),
        }
    }

    /// 404 for an unknown route.
    pub fn not_found(path: &str) -> Self {
        Error::new(404, "invalid_request_error", format!("Unknown request URL: {path}")).with_code("unknown_url")
    }

    /// Sets `error.param`.
    pub fn with_param(mut self, param: &str) -> Self {
        self.param = Some(param.to_owned());
        self
    }

    /// Sets `error.code`.
    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    /// Renders the error in `dialect`'s envelope as JSON bytes.
    pub fn to_json_in(&self, dialect: Dialect) -> Vec<u8> {
        let body = match dialect {
            Dialect::OpenAi => return self.to_json(),
            Dialect::Anthropic => serde_json::json!({
                "type": "error",
                "error": {"type": self.anthropic_type(), "message": self.message},
            }),
            Dialect::Tgi => serde_json::json!({"error": self.message, "error_type": self.tgi_type()}),
            Dialect::Vllm => serde_json::json!({
                "error": {"message": self.message, "type": self.vllm_type(), "param": self.param, "code": self.status},
            }),
        };
        serde_json::to_vec(&body).expect("error envelope serializes")
    }

    /// Anthropic's `error.type` for this status.
    pub fn anthropic_type(&self) -> &'static str {
        match self.status {
            401 => "authentication_error",
            402 => "billing_error",
            403 => "permission_error",
            404 => "not_found_error",
            408 | 504 => "timeout_error",
            413 => "request_too_large",
            429 => "rate_limit_error",
            503 | 529 => "overloaded_error",
            s if s >= 500 => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// vLLM's `error.type`: its own CamelCase names (`InvalidUserInput`, `NotFoundError`) as
    /// given, OpenAI-style kinds by status.
    fn vllm_type(&self) -> &'static str {
        if self.kind.starts_with(|c: char| c.is_ascii_uppercase()) {
            return self.kind;
        }
        match self.status {
            404 => "NotFoundError",
            503 => "ServiceUnavailableError",
            s if s >= 500 => "InternalServerError",
            _ => "BadRequestError",
        }
    }

    /// TGI's `error_type` for this status.
    fn tgi_type(&self) -> &'static str {
        match self.status {
            429 | 503 => "overloaded",
            s if s >= 500 => "generation",
            _ => "validation",
        }
    }

    /// Renders the OpenAI error envelope as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": self.kind,
                "param": self.param,
                "code": self.code,
            }
        });
        serde_json::to_vec(&body).expect("error envelope serializes")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.kind, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_all_four_fields() {
        let e = Error::invalid_param("max_tokens", "must be >= 1").with_code("invalid_value");
        let v: serde_json::Value = serde_json::from_slice(&e.to_json()).unwrap();
        assert_eq!(v["error"]["message"], "must be >= 1");
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert_eq!(v["error"]["param"], "max_tokens");
        assert_eq!(v["error"]["code"], "invalid_value");
        let bare: serde_json::Value = serde_json::from_slice(&Error::bad_request("x").to_json()).unwrap();
        assert!(bare["error"]["param"].is_null() && bare["error"]["code"].is_null());
    }

    #[test]
    fn dialects_have_their_own_envelopes() {
        let parse = |e: &Error, d| serde_json::from_slice::<serde_json::Value>(&e.to_json_in(d)).unwrap();
        let missing = Error::new(404, "invalid_request_error", "no such model");
        assert_eq!(
            parse(&missing, Dialect::Anthropic),
            serde_json::json!({"type": "error", "error": {"type": "not_found_error", "message": "no such model"}})
        );
        let bad = Error::invalid_param("max_new_tokens", "must be positive");
        assert_eq!(
            parse(&bad, Dialect::Tgi),
            serde_json::json!({"error": "must be positive", "error_type": "validation"})
        );
        assert_eq!(parse(&bad, Dialect::OpenAi)["error"]["param"], "max_new_tokens");
        assert_eq!(
            parse(&Error::new(529, "server_error", "busy"), Dialect::Anthropic)["error"]["type"],
            "overloaded_error"
        );
    }
}
