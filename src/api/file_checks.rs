//! What a file's purpose demands of its contents: a `batch` file is JSONL of request lines
//! (`custom_id` unique, `method` POST, `url` a batch endpoint fakeai serves, `body` an object);
//! a `fine-tune` file is JSONL of chat examples (or preference pairs).

use std::collections::HashSet;

use crate::{
    error::Error,
    proto::http1::Method,
    router::{Found, table::router},
    state::batches::LineError,
};

/// The endpoints a batch may call (OpenAI's list, as far as fakeai serves them).
pub const BATCH_ENDPOINTS: &[&str] =
    &["/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses", "/v1/moderations"];

/// Most lines one batch may hold (OpenAI's limit).
pub const MAX_BATCH_LINES: usize = 50_000;

/// Whether a batch may call `url`: one of [`BATCH_ENDPOINTS`] that this build routes.
pub fn batch_endpoint(url: &str) -> bool {
    BATCH_ENDPOINTS.contains(&url) && matches!(router().find(Method::Post, url), Found::Route { .. })
}

/// The batch endpoints this build serves, for error messages.
pub fn served_batch_endpoints() -> Vec<&'static str> {
    BATCH_ENDPOINTS.iter().copied().filter(|u| batch_endpoint(u)).collect()
}

/// One request line of a batch input file.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchLine {
    /// 1-based line number in the file.
    pub line: usize,
    /// The client's id for it.
    pub custom_id: String,
    /// The endpoint it calls.
    pub url: String,
    /// The request body.
    pub body: serde_json::Value,
}

/// The non-blank lines of `content` with their 1-based numbers.
fn numbered_lines(content: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    content
        .split(|b| *b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// Parses a batch input file; the first problem found is returned as `errors.data` names it.
pub fn batch_lines(content: &[u8]) -> Result<Vec<BatchLine>, LineError> {
    let mut seen = HashSet::new();
    let mut lines = Vec::new();
    for (line, text) in numbered_lines(content) {
        let parsed = batch_line(line, text)?;
        if !seen.insert(parsed.custom_id.clone()) {
            let message = format!("The custom_id '{}' is used by more than one request.", parsed.custom_id);
            return Err(LineError { code: "duplicate_custom_id", line: Some(line), message, param: Some("custom_id") });
        }
        lines.push(parsed);
    }
    if lines.is_empty() {
        let message = "The input file is empty: it must hold at least one request line.".to_owned();
        return Err(LineError { code: "empty_file", line: None, message, param: None });
    }
    if lines.len() > MAX_BATCH_LINES {
        let message = format!("The input file holds {} requests; at most {MAX_BATCH_LINES} are allowed.", lines.len());
        return Err(LineError { code: "too_many_tasks", line: None, message, param: None });
    }
    Ok(lines)
}

fn batch_line(line: usize, text: &[u8]) -> Result<BatchLine, LineError> {
    let error = |code, param, message: String| LineError { code, line: Some(line), message, param };
    let Ok(serde_json::Value::Object(mut obj)) = serde_json::from_slice::<serde_json::Value>(text) else {
        return Err(error("invalid_json_line", None, "This line is not parseable as valid JSON.".into()));
    };
    let missing =
        |param| error("missing_required_parameter", Some(param), format!("Missing required parameter: '{param}'."));
    let custom_id = match obj.remove("custom_id") {
        Some(serde_json::Value::String(id)) if !id.is_empty() => id,
        Some(_) => {
            return Err(error("invalid_request", Some("custom_id"), "'custom_id' must be a non-empty string.".into()));
        }
        None => return Err(missing("custom_id")),
    };
    match obj.get("method") {
        Some(m) if m == "POST" => {}
        Some(m) => {
            return Err(error(
                "invalid_request",
                Some("method"),
                format!("Invalid method {m}: only 'POST' is supported."),
            ));
        }
        None => return Err(missing("method")),
    }
    let url = match obj.remove("url") {
        Some(serde_json::Value::String(url)) if batch_endpoint(&url) => url,
        Some(url) => {
            let allowed = served_batch_endpoints().join(", ");
            return Err(error("invalid_url", Some("url"), format!("Invalid URL {url}: supported are {allowed}.")));
        }
        None => return Err(missing("url")),
    };
    let body = match obj.remove("body") {
        Some(body @ serde_json::Value::Object(_)) => body,
        Some(_) => return Err(error("invalid_request", Some("body"), "'body' must be a JSON object.".into())),
        None => return Err(missing("body")),
    };
    Ok(BatchLine { line, custom_id, url, body })
}

/// The 400 for an uploaded file `purpose` refuses.
fn invalid_file(api: &str, e: &LineError) -> Error {
    let at = e.line.map(|l| format!(" Line {l}:")).unwrap_or_default();
    Error::invalid_param("file", format!("Invalid file format for {api}.{at} {}", e.message)).with_code(e.code)
}

/// Checks an uploaded file's contents against what its `purpose` demands.
pub fn check_upload(purpose: &str, content: &[u8]) -> Result<(), Error> {
    match purpose {
        "batch" => batch_lines(content).map(drop).map_err(|e| invalid_file("Batch API", &e)),
        "fine-tune" => fine_tune_examples(content).map_err(|e| invalid_file("Fine-Tuning API", &e)),
        _ => Ok(()),
    }
}

/// Roles a chat example's message may have.
const ROLES: &[&str] = &["system", "developer", "user", "assistant", "tool", "function"];

/// Checks a fine-tuning file: every line a chat example (`messages` with an assistant turn) or a
/// preference pair (`input.messages`, `preferred_output`, `non_preferred_output`).
pub fn fine_tune_examples(content: &[u8]) -> Result<(), LineError> {
    let mut count = 0;
    for (line, text) in numbered_lines(content) {
        let error =
            |code, message: &str| LineError { code, line: Some(line), message: message.to_owned(), param: None };
        let Ok(example) = serde_json::from_slice::<serde_json::Value>(text) else {
            return Err(error("invalid_json_line", "This line is not parseable as valid JSON."));
        };
        let messages = match (&example["messages"], &example["input"]["messages"]) {
            (serde_json::Value::Array(m), _) => m,
            (_, serde_json::Value::Array(m)) if example["preferred_output"].is_array() => m,
            _ => {
                return Err(error("invalid_example", "Each line must have a 'messages' array (or a preference pair)."));
            }
        };
        if let Some(bad) = messages.iter().find(|m| !m["role"].as_str().is_some_and(|r| ROLES.contains(&r))) {
            return Err(error("invalid_example", &format!("A message has no valid role: {bad}.")));
        }
        let answered = messages.iter().any(|m| m["role"] == "assistant") || example["preferred_output"].is_array();
        if !answered {
            return Err(error("invalid_example", "An example needs at least one assistant message."));
        }
        count += 1;
    }
    if count == 0 {
        return Err(LineError {
            code: "empty_file",
            line: None,
            message: "The file holds no examples.".into(),
            param: None,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str =
        r#"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"m","messages":[]}}"#;

    fn first_error(text: &str) -> LineError {
        batch_lines(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn good_batch_lines_parse_with_their_numbers() {
        let text = format!("{GOOD}\n\n{}\n", GOOD.replace("\"a\"", "\"b\""));
        let lines = batch_lines(text.as_bytes()).unwrap();
        assert_eq!(lines.iter().map(|l| (l.line, l.custom_id.as_str())).collect::<Vec<_>>(), [(1, "a"), (3, "b")]);
        assert_eq!(lines[0].body["model"], "m");
    }

    #[test]
    fn bad_batch_lines_are_named_by_code_and_line() {
        let dup = format!("{GOOD}\n{GOOD}");
        let cases = [
            ("{nope", "invalid_json_line", Some(1)),
            (dup.as_str(), "duplicate_custom_id", Some(2)),
            (r#"{"method":"POST","url":"/v1/completions","body":{}}"#, "missing_required_parameter", Some(1)),
            (&GOOD.replace("POST", "GET"), "invalid_request", Some(1)),
            (&GOOD.replace("/v1/chat/completions", "/v1/files"), "invalid_url", Some(1)),
            (&GOOD.replace(r#"{"model":"m","messages":[]}"#, "[]"), "invalid_request", Some(1)),
            ("\n \n", "empty_file", None),
        ];
        for (text, code, line) in cases {
            let e = first_error(text);
            assert_eq!((e.code, e.line), (code, line), "{text}");
        }
        let e = check_upload("batch", b"{nope").unwrap_err();
        assert_eq!((e.status, e.code), (400, Some("invalid_json_line")));
        assert!(e.message.contains("Line 1:"), "{}", e.message);
    }

    #[test]
    fn fine_tune_files_hold_chat_examples() {
        let chat = r#"{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}"#;
        let pair = r#"{"input":{"messages":[{"role":"user","content":"hi"}]},"preferred_output":[{"role":"assistant","content":"a"}],"non_preferred_output":[{"role":"assistant","content":"b"}]}"#;
        assert!(fine_tune_examples(format!("{chat}\n{pair}\n").as_bytes()).is_ok());
        let unanswered = r#"{"messages":[{"role":"user","content":"hi"}]}"#;
        assert_eq!(fine_tune_examples(format!("{chat}\n{unanswered}").as_bytes()).unwrap_err().line, Some(2));
        assert_eq!(fine_tune_examples(br#"{"prompt":"x"}"#).unwrap_err().code, "invalid_example");
        assert!(check_upload("fine-tune", b"").is_err());
        assert!(check_upload("user_data", b"anything").is_ok());
    }
}
