//! Request fields from either a JSON object or a `multipart/form-data` form, read the same
//! way: image and video requests arrive as both (generations as JSON, edits as a form, video
//! jobs as either), and their validation should not care which.

use serde_json::{Map, Value};

use crate::{
    api::Request,
    error::Error,
    proto::multipart::{self, Part},
};

/// The fields of one request.
#[derive(Debug)]
pub enum Fields<'a> {
    /// A JSON object.
    Json(Map<String, Value>),
    /// A form's parts over the body.
    Form {
        /// The body the parts point into.
        body: &'a [u8],
        /// The parts, in order.
        parts: Vec<Part<'a>>,
    },
}

/// An uploaded file.
#[derive(Debug, Clone, Copy)]
pub struct Upload<'a> {
    /// The form field it came in.
    pub field: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// `Invalid type for 'param': expected …` (OpenAI's wording).
fn invalid_type(param: &str, expected: &str) -> Error {
    Error::invalid_param(param, format!("Invalid type for '{param}': expected {expected}.")).with_code("invalid_type")
}

impl<'a> Fields<'a> {
    /// A JSON body's object (400 for anything else).
    pub fn json(body: &[u8]) -> Result<Fields<'a>, Error> {
        match serde_json::from_slice::<Value>(body) {
            Ok(Value::Object(map)) => Ok(Fields::Json(map)),
            Ok(_) => Err(Error::bad_request("The request body must be a JSON object.")),
            Err(e) => Err(Error::bad_request(format!(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.) {e}"
            ))),
        }
    }

    /// A form body, given the request's `Content-Type`.
    pub fn form(req: &Request<'a>) -> Result<Fields<'a>, Error> {
        let boundary = multipart::boundary(req.head.content_type().unwrap_or(""))?;
        Ok(Fields::Form { body: req.body, parts: multipart::parse(req.body, boundary)? })
    }

    /// A form when the request says `multipart/form-data`, else JSON.
    pub fn any(req: &Request<'a>) -> Result<Fields<'a>, Error> {
        let ct = req.head.content_type().unwrap_or("");
        if ct.trim_start().to_ascii_lowercase().starts_with("multipart/") {
            Fields::form(req)
        } else {
            Fields::json(req.body)
        }
    }

    /// Whether the request has field `name` (a JSON `null` counts as absent).
    pub fn has(&self, name: &str) -> bool {
        match self {
            Fields::Json(m) => m.get(name).is_some_and(|v| !v.is_null()),
            Fields::Form { parts, .. } => parts.iter().any(|p| p.name == name),
        }
    }

    /// Text field `name`.
    pub fn str(&self, name: &str) -> Result<Option<String>, Error> {
        match self {
            Fields::Json(m) => match m.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(invalid_type(name, "a string")),
            },
            Fields::Form { body, parts } => match parts.iter().find(|p| p.name == name && p.filename.is_none()) {
                None => Ok(None),
                Some(p) => match std::str::from_utf8(p.bytes(body)) {
                    Ok(s) => Ok(Some(s.to_owned())),
                    Err(_) => Err(invalid_type(name, "a UTF-8 string")),
                },
            },
        }
    }

    /// Integer field `name` (a form sends it as text).
    pub fn int(&self, name: &str) -> Result<Option<i64>, Error> {
        if let Fields::Json(m) = self {
            return match m.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| invalid_type(name, "an integer")),
            };
        }
        match self.str(name)? {
            None => Ok(None),
            Some(s) => s.trim().parse().map(Some).map_err(|_| invalid_type(name, "an integer")),
        }
    }

    /// Boolean field `name` (a form sends `true`/`false`).
    pub fn bool(&self, name: &str) -> Result<Option<bool>, Error> {
        if let Fields::Json(m) = self {
            return match m.get(name) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_bool().map(Some).ok_or_else(|| invalid_type(name, "a boolean")),
            };
        }
        match self.str(name)?.as_deref().map(str::trim) {
            None => Ok(None),
            Some("true" | "True" | "1") => Ok(Some(true)),
            Some("false" | "False" | "0") => Ok(Some(false)),
            Some(_) => Err(invalid_type(name, "a boolean")),
        }
    }

    /// The files uploaded under any of `names` (`image` and `image[]`, say), in order.
    pub fn files(&self, names: &[&str]) -> Vec<Upload<'_>> {
        match self {
            Fields::Json(_) => Vec::new(),
            Fields::Form { body, parts } => parts
                .iter()
                .filter(|p| names.contains(&p.name) && p.filename.is_some())
                .map(|p| Upload { field: p.name, bytes: p.bytes(body) })
                .collect(),
        }
    }
}
