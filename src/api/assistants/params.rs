//! Validation of the Assistants API's request fields, each a 400 naming its `param` when wrong.

use serde_json::{Map, Value, json};

use super::super::{Ctx, Request, common, vector_stores::files};
use crate::{
    app::App,
    error::Error,
    openai::tools::RawStructure,
    state::{store::UNDATED, vector_stores::VectorStore},
};

/// The request body as a JSON object (400 otherwise).
pub fn json_body(req: &Request<'_>) -> Result<Map<String, Value>, Error> {
    super::super::generate::require_json(req)?;
    match serde_json::from_slice(req.body) {
        Ok(Value::Object(body)) => Ok(body),
        _ => Err(Error::bad_request("The request body must be a JSON object.")),
    }
}

/// A string of at most `max` characters, or null.
pub fn text(v: &Value, param: &str, max: usize) -> Result<Value, Error> {
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) if s.chars().count() <= max => Ok(v.clone()),
        Value::String(_) => Err(Error::invalid_param(
            param,
            format!("Invalid '{param}': string too long. Expected a string with maximum length {max}."),
        )
        .with_code("string_above_max_length")),
        _ => Err(Error::invalid_param(param, format!("Invalid type for '{param}': expected a string."))
            .with_code("invalid_type")),
    }
}

/// A model name that exists (a 404 for an unknown fine-tuned model, as chat answers).
pub fn model(app: &App, v: &Value) -> Result<String, Error> {
    let name = v
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::invalid_param("model", "Invalid type for 'model': expected a string."))?;
    crate::openai::fine_tuned::resolve(app, name)?;
    Ok(name.to_owned())
}

/// A number in `0..=max`, or null.
pub fn number(v: &Value, param: &str, max: f64) -> Result<Option<f64>, Error> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_f64().filter(|x| (0.0..=max).contains(x)) {
            Some(x) => Ok(Some(x)),
            None => {
                Err(Error::invalid_param(param, format!("Invalid '{param}': expected a number between 0 and {max}."))
                    .with_code("invalid_value"))
            }
        },
        _ => Err(Error::invalid_param(param, format!("Invalid type for '{param}': expected a number."))
            .with_code("invalid_type")),
    }
}

/// A positive integer, or null.
pub fn count(v: Option<&Value>, param: &str) -> Result<Option<u64>, Error> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|n| *n >= 1) {
            Some(n) => Ok(Some(n)),
            None => Err(Error::invalid_param(param, format!("Invalid '{param}': expected a positive integer."))
                .with_code("invalid_value")),
        },
    }
}

/// `tools`: at most 128 of `code_interpreter`, `file_search` or `function` (a valid function).
pub fn tools(v: &Value, param: &str) -> Result<Vec<Value>, Error> {
    let list = match v {
        Value::Null => return Ok(Vec::new()),
        Value::Array(list) if list.len() <= 128 => list,
        _ => return Err(Error::invalid_param(param, format!("'{param}' must be an array of at most 128 tools."))),
    };
    list.iter()
        .enumerate()
        .map(|(i, tool)| {
            let at = format!("{param}[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                Some("code_interpreter") => Ok(json!({"type": "code_interpreter"})),
                Some("file_search") => Ok(tool.clone()),
                Some("function") => {
                    // Checked as chat checks a function tool (name pattern, schema, strict).
                    let one = json!([tool]);
                    RawStructure { tools: Some(&one), ..RawStructure::default() }
                        .parse(None)
                        .map_err(|e| Error { param: e.param.map(|p| p.replacen("tools[0]", &at, 1)), ..e })?;
                    Ok(tool.clone())
                }
                other => Err(Error::invalid_param(
                    &format!("{at}.type"),
                    format!(
                        "Invalid value for '{at}.type': expected one of 'code_interpreter', 'file_search' or \
                         'function', got {other:?}."
                    ),
                )
                .with_code("invalid_value")),
            }
        })
        .collect()
}

/// The function tools of `tools` in chat's shape.
pub fn function_tools(tools: &[Value]) -> Vec<Value> {
    tools.iter().filter(|t| t["type"] == "function").cloned().collect()
}

/// `tool_resources`: `code_interpreter.file_ids` (files that exist, at most 20) and
/// `file_search.vector_store_ids` (at most one, existing) or `file_search.vector_stores` (made now
/// from `file_ids`, as the API does).
pub fn tool_resources(app: &App, ctx: &mut Ctx<'_>, v: &Value, param: &str) -> Result<Value, Error> {
    let mut out = Map::new();
    match v {
        Value::Null => return Ok(json!({})),
        Value::Object(_) => {}
        _ => return Err(Error::invalid_param(param, format!("Invalid type for '{param}': expected an object."))),
    }
    if let Some(ci) = v.get("code_interpreter").filter(|c| !c.is_null()) {
        let at = format!("{param}.code_interpreter.file_ids");
        let ids = files::id_list(ci.get("file_ids"), &at)?;
        if ids.len() > 20 {
            return Err(Error::invalid_param(&at, format!("'{at}' holds at most 20 files.")));
        }
        files::sources(app, ctx, &ids, &at)?;
        out.insert("code_interpreter".into(), json!({"file_ids": ids}));
    }
    if let Some(fs) = v.get("file_search").filter(|f| !f.is_null()) {
        let at = format!("{param}.file_search.vector_store_ids");
        let mut ids = files::id_list(fs.get("vector_store_ids"), &at)?;
        for id in &ids {
            if app.state.vector_stores.get(id, ctx.unix_now.0).is_none() {
                return Err(common::no_such("VectorStore", id).with_param(&at));
            }
        }
        ids.extend(new_vector_stores(
            app,
            ctx,
            fs.get("vector_stores"),
            &format!("{param}.file_search.vector_stores"),
        )?);
        if ids.len() > 1 {
            return Err(Error::invalid_param(&at, "A maximum of 1 vector store may be attached to file_search."));
        }
        out.insert("file_search".into(), json!({"vector_store_ids": ids}));
    }
    Ok(Value::Object(out))
}

/// The vector stores `file_search.vector_stores` asks to create, made with their files.
fn new_vector_stores(app: &App, ctx: &mut Ctx<'_>, v: Option<&Value>, param: &str) -> Result<Vec<String>, Error> {
    let Some(list) = v.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| Error::invalid_param(param, format!("'{param}' must be an array.")))?;
    let mut ids = Vec::new();
    for (i, spec) in list.iter().enumerate() {
        let at = format!("{param}[{i}]");
        let file_ids = files::id_list(spec.get("file_ids"), &format!("{at}.file_ids"))?;
        let sources = files::sources(app, ctx, &file_ids, &format!("{at}.file_ids"))?;
        let chunking =
            crate::encoders::retrieval::chunking(spec.get("chunking_strategy"), &format!("{at}.chunking_strategy"))?;
        let vs = VectorStore {
            id: common::new_id(ctx.rng, "vs_", 24),
            created_at: ctx.unix_now.0,
            name: String::new(),
            metadata: super::super::batches::check_metadata(spec.get("metadata"))?,
            expires_after_days: None,
            last_active_at: ctx.unix_now.0,
        };
        app.state.vector_stores.insert(vs.clone(), ctx.unix_now.0)?;
        for file in &sources {
            files::attach(app, ctx, &vs.id, file, Map::new(), chunking, None)?;
        }
        ids.push(vs.id);
    }
    Ok(ids)
}

/// `response_format`: `"auto"`, or a format chat accepts.
pub fn response_format(v: &Value) -> Result<Value, Error> {
    match v {
        Value::Null => Ok(json!("auto")),
        Value::String(s) if s == "auto" => Ok(v.clone()),
        Value::Object(_) => {
            RawStructure { response_format: Some(v), ..RawStructure::default() }.parse(None)?;
            Ok(v.clone())
        }
        _ => Err(Error::invalid_param("response_format", "Invalid 'response_format': expected 'auto' or an object.")
            .with_code("invalid_value")),
    }
}

/// `reasoning_effort`: one chat accepts, or null.
pub fn reasoning_effort(v: &Value) -> Result<Value, Error> {
    match v.as_str() {
        None if v.is_null() => Ok(Value::Null),
        Some("none" | "minimal" | "low" | "medium" | "high") => Ok(v.clone()),
        _ => Err(Error::invalid_param(
            "reasoning_effort",
            "Invalid 'reasoning_effort': expected one of 'none', 'minimal', 'low', 'medium' or 'high'.",
        )
        .with_code("invalid_value")),
    }
}

/// A message's `content` (a string, or text, `image_file` and `image_url` parts) as content blocks.
pub fn content(v: Option<&Value>, param: &str) -> Result<Vec<Value>, Error> {
    let bad =
        |what: &str| Error::invalid_param(param, format!("Invalid '{param}': {what}.")).with_code("invalid_value");
    match v {
        None | Some(Value::Null) => Err(common::missing(param)),
        Some(Value::String(s)) => Ok(vec![crate::state::assistants::text_block(s)]),
        Some(Value::Array(parts)) if !parts.is_empty() => parts
            .iter()
            .map(|p| match p.get("type").and_then(Value::as_str) {
                Some("text") => p["text"]
                    .as_str()
                    .map(crate::state::assistants::text_block)
                    .ok_or_else(|| bad("a text part needs 'text'")),
                Some(kind @ ("image_file" | "image_url")) => {
                    let key = if kind == "image_file" { "file_id" } else { "url" };
                    let inner = &p[kind];
                    let target =
                        inner[key].as_str().ok_or_else(|| bad(&format!("an {kind} part needs '{kind}.{key}'")))?;
                    let detail = inner["detail"].as_str().unwrap_or("auto");
                    Ok(json!({"type": kind, kind: {key: target, "detail": detail}}))
                }
                _ => Err(bad("parts are of type 'text', 'image_file' or 'image_url'")),
            })
            .collect(),
        Some(_) => Err(bad("expected a string or a non-empty array of content parts")),
    }
}

/// `attachments`: files that exist, each for `code_interpreter` and/or `file_search`.
pub fn attachments(app: &App, ctx: &Ctx<'_>, v: Option<&Value>, param: &str) -> Result<Vec<Value>, Error> {
    let Some(list) = v.filter(|v| !v.is_null()) else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| Error::invalid_param(param, format!("'{param}' must be an array.")))?;
    list.iter()
        .enumerate()
        .map(|(i, a)| {
            let at = format!("{param}[{i}]");
            let id = a["file_id"].as_str().ok_or_else(|| common::missing(&format!("{at}.file_id")))?;
            files::sources(app, ctx, &[id.to_owned()], &format!("{at}.file_id"))?;
            let tools: Vec<Value> = match &a["tools"] {
                Value::Null => Vec::new(),
                Value::Array(t) => t
                    .iter()
                    .map(|t| match t["type"].as_str() {
                        Some(kind @ ("code_interpreter" | "file_search")) => Ok(json!({"type": kind})),
                        _ => Err(Error::invalid_param(
                            &format!("{at}.tools"),
                            "Attachment tools are of type 'code_interpreter' or 'file_search'.",
                        )),
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err(Error::invalid_param(&format!("{at}.tools"), "'tools' must be an array.")),
            };
            Ok(json!({"file_id": id, "tools": tools}))
        })
        .collect()
}

/// `metadata` (an object of strings), `{}` when absent.
pub fn metadata(v: Option<&Value>) -> Result<Value, Error> {
    Ok(super::super::batches::check_metadata(v)?.unwrap_or_else(|| json!({})))
}

/// Whether the thread `thread_id` exists.
pub fn thread_exists(app: &App, thread_id: &str) -> Result<(), Error> {
    app.state.threads.with(thread_id, UNDATED, |_| ()).ok_or_else(|| common::no_such("Thread", thread_id))
}
