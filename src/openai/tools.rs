//! `tools`/`tool_choice` (and legacy `functions`/`function_call`) and `response_format`:
//! validated into what the output must be, and which tools a prompt asks for.

use serde_json::Value;

use crate::{error::Error, tokens::json_gen::strict_violation};

/// A function the model may call.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    /// Its name.
    pub name: String,
    /// JSON Schema of its arguments (`{}` when absent).
    pub parameters: Value,
}

/// `tool_choice`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolChoice {
    /// Never call a tool.
    None,
    /// Call a tool when the prompt asks for one (see `--auto-tool-calls`).
    #[default]
    Auto,
    /// Call at least one tool.
    Required,
    /// Call this function.
    Named(String),
}

/// `response_format`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Format {
    /// Free text.
    #[default]
    Text,
    /// Any JSON object.
    JsonObject,
    /// An instance of this schema.
    JsonSchema(Value),
}

/// How `auto` tool choice decides (`--auto-tool-calls`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum AutoToolCalls {
    /// Call the tools the last user message mentions (by a significant word of the name).
    #[default]
    Match,
    /// Always call: the mentioned tools, else the first.
    Always,
    /// Never call; answer in text.
    Never,
}

/// What shape the output takes: tool calls, JSON, or text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Structure {
    /// The callable functions.
    pub tools: Vec<FunctionDef>,
    /// `tool_choice` (or `function_call`).
    pub choice: ToolChoice,
    /// Several calls may be made at once.
    pub parallel: bool,
    /// Legacy `functions`: answer with `function_call`.
    pub legacy: bool,
    /// Indexes of the tools the last user message mentions.
    pub mentioned: Vec<usize>,
    /// `response_format`.
    pub format: Format,
}

impl Structure {
    /// Indexes of the tools to call under `policy`; empty for a text answer.
    pub fn calls(&self, policy: AutoToolCalls) -> Vec<usize> {
        if self.tools.is_empty() {
            return Vec::new();
        }
        let first_or_mentioned = || if self.mentioned.is_empty() { vec![0] } else { self.mentioned.clone() };
        let mut calls = match &self.choice {
            ToolChoice::None => Vec::new(),
            ToolChoice::Named(name) => self.tools.iter().position(|t| &t.name == name).into_iter().collect(),
            ToolChoice::Required => first_or_mentioned(),
            ToolChoice::Auto => match policy {
                AutoToolCalls::Match => self.mentioned.clone(),
                AutoToolCalls::Always => first_or_mentioned(),
                AutoToolCalls::Never => Vec::new(),
            },
        };
        if !self.parallel || self.legacy {
            calls.truncate(1);
        }
        calls
    }
}

/// The raw fields, as sent.
#[derive(Debug, Default)]
pub struct RawStructure<'a> {
    /// `tools`.
    pub tools: Option<&'a Value>,
    /// `tool_choice`.
    pub tool_choice: Option<&'a Value>,
    /// `parallel_tool_calls`.
    pub parallel_tool_calls: Option<bool>,
    /// `functions`.
    pub functions: Option<&'a Value>,
    /// `function_call`.
    pub function_call: Option<&'a Value>,
    /// `response_format`.
    pub response_format: Option<&'a Value>,
}

impl RawStructure<'_> {
    /// Validates the fields; `last_user` is the text of the last message when a user sent it.
    pub fn parse(&self, last_user: Option<&str>) -> Result<Structure, Error> {
        let (tools, legacy) = match (self.tools.filter(|v| !v.is_null()), self.functions.filter(|v| !v.is_null())) {
            (Some(t), _) => (parse_tools(t)?, false),
            (None, Some(f)) => (parse_functions(f)?, true),
            (None, None) => (Vec::new(), false),
        };
        let choice = match legacy {
            false => parse_choice(self.tool_choice, "tool_choice", &tools)?,
            true => parse_choice(self.function_call, "function_call", &tools)?,
        };
        let mentioned = last_user.map(|text| mentioned_tools(&tools, text)).unwrap_or_default();
        let format = parse_format(self.response_format)?;
        Ok(Structure { tools, choice, parallel: self.parallel_tool_calls.unwrap_or(true), legacy, mentioned, format })
    }
}

fn parse_tools(v: &Value) -> Result<Vec<FunctionDef>, Error> {
    let list =
        v.as_array().ok_or_else(|| Error::invalid_param("tools", "Invalid type for 'tools': expected an array."))?;
    list.iter()
        .enumerate()
        .map(|(i, tool)| {
            let param = format!("tools[{i}]");
            match tool.get("type").and_then(Value::as_str) {
                Some("function") => {}
                other => {
                    let message = format!("Invalid value for '{param}.type': expected 'function', got {other:?}.");
                    return Err(Error::invalid_param(&format!("{param}.type"), message));
                }
            }
            let function = tool.get("function").ok_or_else(|| {
                Error::invalid_param(
                    &format!("{param}.function"),
                    format!("Missing required parameter: '{param}.function'."),
                )
            })?;
            function_def(function, &format!("{param}.function"))
        })
        .collect()
}

fn parse_functions(v: &Value) -> Result<Vec<FunctionDef>, Error> {
    let list = v
        .as_array()
        .ok_or_else(|| Error::invalid_param("functions", "Invalid type for 'functions': expected an array."))?;
    list.iter().enumerate().map(|(i, f)| function_def(f, &format!("functions[{i}]"))).collect()
}

/// A function definition: a valid name (`^[a-zA-Z0-9_-]{1,64}$`) and an object schema.
fn function_def(f: &Value, param: &str) -> Result<FunctionDef, Error> {
    let name = f.get("name").and_then(Value::as_str).unwrap_or("");
    let valid =
        (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !valid {
        let message = format!(
            "Invalid '{param}.name': string does not match pattern. Expected a string that matches the pattern '^[a-zA-Z0-9_-]+$' (1 to 64 characters), got {name:?}."
        );
        return Err(Error::invalid_param(&format!("{param}.name"), message).with_code("invalid_value"));
    }
    let parameters = f.get("parameters").cloned().unwrap_or_else(|| serde_json::json!({}));
    if !parameters.is_object() {
        let message = format!("Invalid type for '{param}.parameters': expected an object.");
        return Err(Error::invalid_param(&format!("{param}.parameters"), message));
    }
    let strict = f.get("strict") == Some(&Value::Bool(true));
    if let Some(why) = strict.then(|| strict_violation(&parameters)).flatten() {
        let message = format!("Invalid schema for function '{name}': {why}");
        let param = format!("{param}.parameters");
        return Err(Error::invalid_param(&param, message).with_code("invalid_function_parameters"));
    }
    Ok(FunctionDef { name: name.to_owned(), parameters })
}

fn parse_choice(v: Option<&Value>, param: &str, tools: &[FunctionDef]) -> Result<ToolChoice, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(ToolChoice::Auto) };
    if tools.is_empty() {
        let list = if param == "tool_choice" { "tools" } else { "functions" };
        let message = format!("Invalid value for '{param}': '{param}' is only allowed when '{list}' are specified.");
        return Err(Error::invalid_param(param, message));
    }
    let choice = match v {
        Value::String(s) => match s.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" if param == "tool_choice" => ToolChoice::Required,
            other => {
                let message = format!(
                    "Invalid value for '{param}': {other:?}; expected 'none', 'auto', 'required' or a named function."
                );
                return Err(Error::invalid_param(param, message));
            }
        },
        Value::Object(o) => {
            let name = o.get("function").unwrap_or(v).get("name").and_then(Value::as_str);
            let name = name.ok_or_else(|| {
                Error::invalid_param(param, format!("Missing required parameter: '{param}.function.name'."))
            })?;
            if !tools.iter().any(|t| t.name == name) {
                let message = format!("Invalid value for '{param}': no function named {name:?} was specified.");
                return Err(Error::invalid_param(param, message));
            }
            ToolChoice::Named(name.to_owned())
        }
        _ => {
            return Err(Error::invalid_param(
                param,
                format!("Invalid type for '{param}': expected a string or an object."),
            ));
        }
    };
    Ok(choice)
}

fn parse_format(v: Option<&Value>) -> Result<Format, Error> {
    let Some(v) = v.filter(|v| !v.is_null()) else { return Ok(Format::Text) };
    let kind = v.get("type").and_then(Value::as_str);
    match kind {
        Some("text") => Ok(Format::Text),
        Some("json_object") => Ok(Format::JsonObject),
        Some("json_schema") => {
            let spec = v.get("json_schema").filter(|s| s.is_object()).ok_or_else(|| {
                Error::invalid_param(
                    "response_format.json_schema",
                    "Missing required parameter: 'response_format.json_schema'.",
                )
            })?;
            if spec.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
                return Err(Error::invalid_param(
                    "response_format.json_schema.name",
                    "Missing required parameter: 'response_format.json_schema.name'.",
                ));
            }
            let schema = spec.get("schema").cloned().unwrap_or_else(|| serde_json::json!({"type": "object"}));
            if !schema.is_object() {
                let message = "Invalid type for 'response_format.json_schema.schema': expected an object.";
                return Err(Error::invalid_param("response_format.json_schema.schema", message));
            }
            let strict = spec.get("strict") == Some(&Value::Bool(true));
            if let Some(why) = strict.then(|| strict_violation(&schema)).flatten() {
                let name = spec["name"].as_str().unwrap_or_default();
                let message = format!("Invalid schema for response_format '{name}': {why}");
                return Err(Error::invalid_param("response_format", message).with_code("invalid_json_schema"));
            }
            Ok(Format::JsonSchema(schema))
        }
        other => Err(Error::invalid_param(
            "response_format.type",
            format!(
                "Invalid value for 'response_format.type': {other:?}; expected 'text', 'json_object' or 'json_schema'."
            ),
        )),
    }
}

/// Words too common in function names to show that a prompt wants that function.
const GENERIC: &[&str] = &[
    "get", "set", "list", "create", "update", "delete", "fetch", "find", "make", "run", "call", "tool", "function",
    "the", "for", "and", "current", "info", "data", "new",
];

/// Tools whose name appears in `text`, whole or by one of its significant words (split at `_`,
/// `-` and camelCase), case-insensitively: "What's the weather in Paris?" mentions `get_weather`.
pub fn mentioned_tools(tools: &[FunctionDef], text: &str) -> Vec<usize> {
    if tools.is_empty() {
        return Vec::new();
    }
    let text = text.to_ascii_lowercase();
    tools
        .iter()
        .enumerate()
        .filter(|(_, t)| {
            text.contains(&t.name.to_ascii_lowercase())
                || name_words(&t.name)
                    .iter()
                    .any(|w| w.len() >= 3 && !GENERIC.contains(&w.as_str()) && has_word_start(&text, w))
        })
        .map(|(i, _)| i)
        .collect()
}

fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut prev_lower = false;
    for c in name.chars() {
        let boundary = !c.is_ascii_alphanumeric() || (c.is_ascii_uppercase() && prev_lower);
        if boundary && !word.is_empty() {
            words.push(std::mem::take(&mut word));
        }
        if c.is_ascii_alphanumeric() {
            word.push(c.to_ascii_lowercase());
        }
        prev_lower = c.is_ascii_lowercase();
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `word` occurs in `text` at the start of a word.
fn has_word_start(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(i, _)| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn raw(v: &Value) -> RawStructure<'_> {
        RawStructure {
            tools: v.get("tools"),
            tool_choice: v.get("tool_choice"),
            parallel_tool_calls: v.get("parallel_tool_calls").and_then(Value::as_bool),
            functions: v.get("functions"),
            function_call: v.get("function_call"),
            response_format: v.get("response_format"),
        }
    }

    fn tools() -> Value {
        json!([
            {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
            {"type": "function", "function": {"name": "searchFlights"}},
        ])
    }

    #[test]
    fn choice_and_mentions_decide_the_calls() {
        let v = json!({"tools": tools()});
        let s = raw(&v).parse(Some("What's the WEATHER like, and any flights to Rome?")).unwrap();
        assert_eq!(s.mentioned, [0, 1]);
        assert_eq!(s.calls(AutoToolCalls::Match), [0, 1]);
        let s = raw(&v).parse(Some("Tell me a joke")).unwrap();
        assert!(s.calls(AutoToolCalls::Match).is_empty());
        assert_eq!(s.calls(AutoToolCalls::Always), [0]);
        let v = json!({"tools": tools(), "tool_choice": "required", "parallel_tool_calls": false});
        assert_eq!(raw(&v).parse(Some("flights and weather")).unwrap().calls(AutoToolCalls::Never), [0]);
        let v = json!({"tools": tools(), "tool_choice": {"type": "function", "function": {"name": "searchFlights"}}});
        assert_eq!(raw(&v).parse(None).unwrap().calls(AutoToolCalls::Never), [1]);
        let v = json!({"tools": tools(), "tool_choice": "none"});
        assert!(raw(&v).parse(Some("weather")).unwrap().calls(AutoToolCalls::Always).is_empty());
        let v = json!({"functions": [{"name": "get_weather"}], "function_call": {"name": "get_weather"}});
        let s = raw(&v).parse(None).unwrap();
        assert!(s.legacy);
        assert_eq!(s.calls(AutoToolCalls::Match), [0]);
    }

    #[test]
    fn invalid_fields_name_their_param() {
        let err = |v: Value| raw(&v).parse(None).unwrap_err().param.unwrap();
        assert_eq!(err(json!({"tools": [{"type": "retrieval"}]})), "tools[0].type");
        assert_eq!(
            err(json!({"tools": [{"type": "function", "function": {"name": "bad name"}}]})),
            "tools[0].function.name"
        );
        assert_eq!(err(json!({"tool_choice": "auto"})), "tool_choice");
        assert_eq!(err(json!({"tools": tools(), "tool_choice": {"function": {"name": "nope"}}})), "tool_choice");
        assert_eq!(err(json!({"tools": tools(), "tool_choice": "sometimes"})), "tool_choice");
        assert_eq!(err(json!({"response_format": {"type": "xml"}})), "response_format.type");
        assert_eq!(
            err(json!({"response_format": {"type": "json_schema", "json_schema": {"schema": {}}}})),
            "response_format.json_schema.name"
        );
        let open = json!({"type": "json_schema", "json_schema": {"name": "x", "strict": true,
            "schema": {"type": "object", "properties": {"a": {"type": "string"}}}}});
        assert_eq!(err(json!({"response_format": open})), "response_format");
    }
}
