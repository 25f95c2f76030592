//! The `file_search` tool executed: a Responses request's (or an Assistants run's) vector stores
//! searched with the user's question, the same cosine search as `POST
//! /v1/vector_stores/{id}/search`, before the answer is generated.

use serde_json::{Map, Value, json};

pub use super::vector_stores::search::search_stores;
use super::{
    Ctx,
    vector_stores::search::{Hit, Query},
};
use crate::{
    app::App,
    error::Error,
    openai::{request::GenRequest, responses::file_search::FileSearch},
};

/// Whether `tool` is the `file_search` tool.
fn is_file_search(tool: &Value) -> bool {
    tool.get("type") == Some(&json!("file_search"))
}

/// The `include` value that asks a response for the search's results.
const INCLUDE_RESULTS: &str = "file_search_call.results";

/// Runs a Responses request's `file_search` tool, if it has one and may call it, with the last
/// user input as the query: the search joins the response (as its first output item and the
/// answer's citations) and the results' text joins the prompt, as the model reads them.
pub fn for_response(app: &App, ctx: &mut Ctx<'_>, body: &[u8], req: &mut GenRequest) -> Result<(), Error> {
    // The parsed request's tools say whether there is one: a large body without it is not
    // parsed again on the worker.
    let tools = req.responses.as_deref().map(|p| p.tools.as_slice()).unwrap_or_default();
    if !tools.iter().any(is_file_search) {
        return Ok(());
    }
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else { return Ok(()) };
    let tools = body.get("tools").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let Some((index, tool)) = tools.iter().enumerate().find(|(_, t)| is_file_search(t)) else {
        return Ok(());
    };
    let at = format!("tools[{index}]");
    let ids = vector_store_ids(tool, &at)?;
    let query = search_query(tool, &at, String::new())?;
    if !may_search(body.get("tool_choice")) {
        return Ok(());
    }
    let Some(question) = body.get("input").and_then(last_user_text) else { return Ok(()) };
    let query = Query { text: question, ..query };
    let hits = search_stores(app, ctx, &ids, &query).map_err(|e| e.with_param(&format!("{at}.vector_store_ids")))?;
    let includes = body.get("include").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    let with_results = includes.iter().any(|i| i.as_str() == Some(INCLUDE_RESULTS));
    req.prompt_tokens += hits.iter().map(|h| app.encoding.count(&h.text) as u64).sum::<u64>();
    let search = FileSearch {
        id: format!("fs_{:016x}{:016x}", ctx.rng.next_u64(), ctx.rng.next_u64()),
        queries: vec![query.text],
        results: with_results.then(|| hits.iter().map(result).collect()),
        cited: cited(&hits),
    };
    if let Some(params) = req.responses.as_mut() {
        params.file_search = Some(search);
    }
    Ok(())
}

/// `vector_store_ids`: a non-empty list of ids (each must exist: checked when searched).
pub fn vector_store_ids(tool: &Value, at: &str) -> Result<Vec<String>, Error> {
    let param = format!("{at}.vector_store_ids");
    let ids = match tool.get("vector_store_ids") {
        None | Some(Value::Null) => return Err(crate::api::common::missing(&param)),
        Some(Value::Array(ids)) => ids.iter().map(|id| id.as_str().map(str::to_owned)).collect::<Option<Vec<_>>>(),
        Some(_) => None,
    };
    match ids {
        Some(ids) if !ids.is_empty() => Ok(ids),
        _ => Err(Error::invalid_param(&param, format!("Invalid '{param}': expected a non-empty array of ids."))),
    }
}

/// The tool's `max_num_results`, `filters` and `ranking_options`, validated, around `text`.
pub fn search_query(tool: &Value, at: &str, text: String) -> Result<Query, Error> {
    let mut fields: Map<String, Value> = tool.as_object().cloned().unwrap_or_default();
    fields.insert("query".into(), json!("-"));
    fields.remove("rewrite_query");
    let query = Query::parse(&fields, "max_num_results").map_err(|e| match e.param.clone() {
        Some(p) => e.with_param(&format!("{at}.{p}")),
        None => e,
    })?;
    Ok(Query { text, ..query })
}

/// Whether `tool_choice` lets the model search: not `none`, not a named function.
fn may_search(choice: Option<&Value>) -> bool {
    match choice {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s != "none",
        Some(v) => v.get("type").and_then(Value::as_str) == Some("file_search"),
    }
}

/// The text of a Responses `input`'s last user message (a string input is one).
fn last_user_text(input: &Value) -> Option<String> {
    let text = match input {
        Value::String(s) => s.clone(),
        Value::Array(items) => {
            let last = items.iter().rev().find(|i| i.get("role").and_then(Value::as_str) == Some("user"))?;
            content_text(last.get("content")?)
        }
        _ => return None,
    };
    Some(text).filter(|t| !t.trim().is_empty())
}

/// A message content's text: a string, or its text parts joined.
pub fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => {
            let texts = parts.iter().filter_map(|p| p.get("text").and_then(Value::as_str));
            texts.collect::<Vec<_>>().join("\n")
        }
        _ => String::new(),
    }
}

/// A hit as the SDK's `ResponseFileSearchToolCall.Result`.
fn result(hit: &Hit) -> Value {
    crate::openai::responses::file_search::result(
        &hit.file_id,
        &hit.filename,
        hit.score,
        &Value::Object(hit.attributes.clone()),
        &hit.text,
    )
}

/// The files an answer draws on: those among `hits` scoring at least half the best hit's score
/// (a file that merely came back last is not cited), best first, each once.
pub fn cited(hits: &[Hit]) -> Vec<(String, String)> {
    let floor = hits.first().map_or(0.0, |best| best.score / 2.0);
    let mut files: Vec<(String, String)> = Vec::new();
    for hit in hits.iter().filter(|h| h.score >= floor) {
        if !files.iter().any(|(id, _)| *id == hit.file_id) {
            files.push((hit.file_id.clone(), hit.filename.clone()));
        }
    }
    files
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_the_last_user_message() {
        assert_eq!(last_user_text(&json!("What is a tide?")).as_deref(), Some("What is a tide?"));
        let input = json!([{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "input_text", "text": "second"}]}]);
        assert_eq!(last_user_text(&input).as_deref(), Some("second"));
        assert_eq!(last_user_text(&json!([{"type": "function_call_output", "output": "1"}])), None);
        assert_eq!(last_user_text(&json!("  ")), None);
    }

    #[test]
    fn only_a_choice_that_allows_it_searches() {
        assert!(may_search(None) && may_search(Some(&json!("auto"))) && may_search(Some(&json!("required"))));
        assert!(may_search(Some(&json!({"type": "file_search"}))));
        assert!(!may_search(Some(&json!("none"))));
        assert!(!may_search(Some(&json!({"type": "function", "name": "f"}))));
    }

    #[test]
    fn the_tool_is_validated_with_its_own_parameter_names() {
        let tool = json!({"type": "file_search"});
        assert_eq!(
            vector_store_ids(&tool, "tools[1]").unwrap_err().param.as_deref(),
            Some("tools[1].vector_store_ids")
        );
        let tool = json!({"type": "file_search", "vector_store_ids": []});
        assert!(vector_store_ids(&tool, "tools[0]").is_err());
        let tool = json!({"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 99});
        assert_eq!(vector_store_ids(&tool, "tools[0]").unwrap(), vec!["vs_1".to_owned()]);
        assert_eq!(
            search_query(&tool, "tools[0]", "q".into()).unwrap_err().param.as_deref(),
            Some("tools[0].max_num_results")
        );
        let tool = json!({"type": "file_search", "vector_store_ids": ["vs_1"], "max_num_results": 2});
        assert_eq!(search_query(&tool, "tools[0]", "q".into()).unwrap().max_results, 2);
    }

    #[test]
    fn files_that_barely_match_are_not_cited() {
        let hit = |file: &str, score| Hit {
            file_id: file.into(),
            filename: format!("{file}.txt"),
            score,
            attributes: Map::new(),
            text: String::new(),
        };
        let hits = [hit("a", 0.6), hit("b", 0.4), hit("a", 0.35), hit("c", 0.1)];
        let files: Vec<String> = cited(&hits).into_iter().map(|(id, _)| id).collect();
        assert_eq!(files, ["a", "b"]);
        assert!(cited(&[]).is_empty());
    }
}
