//! A create request's parameters, checked as OpenAI checks them: the method and its
//! hyperparameters (`auto` or a value in range), the deprecated top-level `hyperparameters`,
//! `suffix`, `seed` and `integrations`.

use serde_json::{Map, Value, json};

use crate::{
    error::Error,
    state::fine_tuning::{Hyperparameters, Method},
};

/// The method, its `method` object as sent (normalized to `{type, <type>: {…}}`), and the
/// hyperparameters it asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodParams {
    /// The method.
    pub method: Method,
    /// The `method` object to echo.
    pub body: Value,
    /// Hyperparameters asked (`None`: auto).
    pub hyperparameters: Hyperparameters,
}

/// Graders a reinforcement job may name.
const GRADERS: &[&str] = &["string_check", "text_similarity", "python", "score_model", "multi"];

/// Reads `method` (or, without it, the deprecated `hyperparameters`: a supervised job).
pub fn method(body: &Value) -> Result<MethodParams, Error> {
    let legacy = body.get("hyperparameters").filter(|h| !h.is_null());
    let Some(method) = body.get("method").filter(|m| !m.is_null()) else {
        let hyperparameters = hyperparameters(legacy, "hyperparameters", Method::Supervised)?;
        let echoed =
            json!({"type": "supervised", "supervised": {"hyperparameters": legacy.cloned().unwrap_or(json!({}))}});
        return Ok(MethodParams { method: Method::Supervised, body: echoed, hyperparameters });
    };
    if legacy.is_some() {
        let message = "'hyperparameters' is deprecated: give them in 'method' only, not in both.";
        return Err(Error::invalid_param("hyperparameters", message));
    }
    let kind = method["type"].as_str().ok_or_else(|| super::super::common::missing("method.type"))?;
    let Some(m) = Method::named(kind) else {
        let message =
            format!("Invalid value: '{kind}'. Supported values are: 'supervised', 'dpo' and 'reinforcement'.");
        return Err(Error::invalid_param("method.type", message).with_code("invalid_value"));
    };
    let settings = match method.get(kind) {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return Err(Error::invalid_param(&format!("method.{kind}"), format!("'method.{kind}' must be an object.")));
        }
    };
    if m == Method::Reinforcement {
        check_grader(&settings["grader"])?;
    }
    let param = format!("method.{kind}.hyperparameters");
    let hyperparameters = hyperparameters(settings.get("hyperparameters"), &param, m)?;
    Ok(MethodParams { method: m, body: json!({"type": kind, kind: settings}), hyperparameters })
}

fn check_grader(grader: &Value) -> Result<(), Error> {
    let param = "method.reinforcement.grader";
    match grader["type"].as_str() {
        Some(t) if GRADERS.contains(&t) => Ok(()),
        Some(t) => Err(Error::invalid_param(param, format!("Invalid grader type '{t}'. Supported: {GRADERS:?}."))),
        None if grader.is_null() => Err(super::super::common::missing(param)),
        None => Err(Error::invalid_param(param, "A grader must be an object with a 'type'.")),
    }
}

/// What a hyperparameter may be.
#[derive(Clone, Copy)]
enum Range {
    /// An integer in `min..=max`.
    Int(u64, u64),
    /// A number above 0 and at most `max`.
    Positive(f64),
    /// One of these strings.
    Choice(&'static [&'static str]),
}

/// The hyperparameters each method takes, with their ranges.
fn allowed(method: Method) -> &'static [(&'static str, Range)] {
    const COMMON: [(&str, Range); 3] = [
        ("batch_size", Range::Int(1, 256)),
        ("learning_rate_multiplier", Range::Positive(10.0)),
        ("n_epochs", Range::Int(1, 50)),
    ];
    static SUPERVISED: [(&str, Range); 3] = COMMON;
    static DPO: [(&str, Range); 4] = [COMMON[0], COMMON[1], COMMON[2], ("beta", Range::Positive(2.0))];
    static REINFORCEMENT: [(&str, Range); 7] = [
        COMMON[0],
        COMMON[1],
        COMMON[2],
        ("compute_multiplier", Range::Positive(10.0)),
        ("eval_interval", Range::Int(1, 1_000_000)),
        ("eval_samples", Range::Int(1, 1_000_000)),
        ("reasoning_effort", Range::Choice(&["default", "low", "medium", "high"])),
    ];
    match method {
        Method::Supervised => &SUPERVISED,
        Method::Dpo => &DPO,
        Method::Reinforcement => &REINFORCEMENT,
    }
}

/// Reads a hyperparameters object at `param`: each `"auto"` or a value in its range.
fn hyperparameters(v: Option<&Value>, param: &str, method: Method) -> Result<Hyperparameters, Error> {
    let fields = match v {
        None | Some(Value::Null) => return Ok(Hyperparameters::default()),
        Some(Value::Object(fields)) => fields,
        Some(_) => return Err(Error::invalid_param(param, format!("'{param}' must be an object."))),
    };
    let ranges = allowed(method);
    for (name, value) in fields {
        let at = format!("{param}.{name}");
        let Some((_, range)) = ranges.iter().find(|(n, _)| n == name) else {
            return Err(Error::invalid_param(&at, format!("Unknown parameter: '{at}'.")).with_code("unknown_parameter"));
        };
        check_value(value, range, &at)?;
    }
    let int = |name| fields.get(name).and_then(Value::as_u64);
    let float = |name| fields.get(name).and_then(Value::as_f64);
    Ok(Hyperparameters {
        batch_size: int("batch_size"),
        learning_rate_multiplier: float("learning_rate_multiplier"),
        n_epochs: int("n_epochs"),
        beta: float("beta"),
    })
}

fn check_value(value: &Value, range: &Range, at: &str) -> Result<(), Error> {
    let ok = match (range, value) {
        (Range::Choice(choices), Value::String(s)) => choices.contains(&s.as_str()),
        (_, Value::String(s)) => s == "auto",
        (Range::Int(min, max), v) => v.as_u64().is_some_and(|n| (*min..=*max).contains(&n)),
        (Range::Positive(max), v) => v.as_f64().is_some_and(|x| x > 0.0 && x <= *max),
        (Range::Choice(_), _) => false,
    };
    if ok {
        return Ok(());
    }
    let expected = match range {
        Range::Int(min, max) => format!("'auto' or an integer from {min} to {max}"),
        Range::Positive(max) => format!("'auto' or a number above 0 and at most {max}"),
        Range::Choice(choices) => format!("one of {choices:?}"),
    };
    Err(Error::invalid_param(at, format!("Invalid '{at}': expected {expected}, got {value}."))
        .with_code("invalid_value"))
}

/// `suffix`: up to 64 characters, none of them `:` or whitespace (they would break the model id).
pub fn suffix(body: &Value) -> Result<String, Error> {
    let suffix = match body.get("suffix") {
        None | Some(Value::Null) => return Ok(String::new()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(Error::invalid_param("suffix", "'suffix' must be a string.")),
    };
    if suffix.chars().count() > 64 || suffix.chars().any(|c| c == ':' || c.is_whitespace()) {
        let message = format!("Invalid 'suffix' {suffix:?}: up to 64 characters, without ':' or spaces.");
        return Err(Error::invalid_param("suffix", message).with_code("invalid_value"));
    }
    Ok(suffix.clone())
}

/// `seed`: an integer from 0 to 2147483647, if given.
pub fn seed(body: &Value) -> Result<Option<u64>, Error> {
    match body.get("seed") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|s| *s <= i32::MAX as u64) {
            Some(seed) => Ok(Some(seed)),
            None => Err(Error::invalid_param("seed", "'seed' must be an integer from 0 to 2147483647.")
                .with_code("invalid_value")),
        },
    }
}

/// `integrations`: a list of `{type: "wandb", wandb: {project, name?, entity?, tags?}}`, echoed.
pub fn integrations(body: &Value) -> Result<Option<Value>, Error> {
    let list = match body.get("integrations") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(Error::invalid_param("integrations", "'integrations' must be an array.")),
    };
    for (i, item) in list.iter().enumerate() {
        let wandb = &item["wandb"];
        let strings = |k: &str| wandb.get(k).is_none_or(|v| v.is_null() || v.is_string());
        let tags = wandb
            .get("tags")
            .is_none_or(|t| t.is_null() || t.as_array().is_some_and(|t| t.iter().all(Value::is_string)));
        if item["type"] != "wandb" || !wandb["project"].is_string() || !strings("name") || !strings("entity") || !tags {
            let message = "Each integration must be {\"type\": \"wandb\", \"wandb\": {\"project\": …, \"name\"?, \
                           \"entity\"?, \"tags\"?}}.";
            return Err(Error::invalid_param(&format!("integrations[{i}]"), message));
        }
    }
    Ok(Some(Value::Array(list.clone())))
}

/// The `metadata[key]=value` filter of a list request (`metadata=null`: jobs without metadata).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataFilter {
    /// Every job.
    Any,
    /// Jobs without metadata.
    Null,
    /// Jobs whose metadata holds every pair.
    Pairs(Map<String, Value>),
}

impl MetadataFilter {
    /// The filter in `query`.
    pub fn parse(query: &str) -> MetadataFilter {
        let mut pairs = Map::new();
        for (k, v) in crate::proto::query::pairs(query) {
            if k == "metadata" && v == "null" {
                return MetadataFilter::Null;
            }
            if let Some(key) = k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
                pairs.insert(key.to_owned(), Value::String(v.into_owned()));
            }
        }
        if pairs.is_empty() { MetadataFilter::Any } else { MetadataFilter::Pairs(pairs) }
    }

    /// Whether a job with `metadata` passes.
    pub fn accepts(&self, metadata: Option<&Value>) -> bool {
        match self {
            MetadataFilter::Any => true,
            MetadataFilter::Null => metadata.is_none_or(Value::is_null),
            MetadataFilter::Pairs(pairs) => metadata.is_some_and(|m| pairs.iter().all(|(k, v)| m.get(k) == Some(v))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_and_their_hyperparameters() {
        let m = method(&json!({"hyperparameters": {"n_epochs": 2, "batch_size": "auto"}})).unwrap();
        assert_eq!(
            (m.method, m.hyperparameters.n_epochs, m.hyperparameters.batch_size),
            (Method::Supervised, Some(2), None)
        );
        let m = method(&json!({"method": {"type": "dpo", "dpo": {"hyperparameters": {"beta": 0.2}}}})).unwrap();
        assert_eq!((m.method, m.hyperparameters.beta), (Method::Dpo, Some(0.2)));
        let bad = |body: Value| method(&body).unwrap_err().param.unwrap();
        assert_eq!(
            bad(json!({"method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 0}}}})),
            "method.supervised.hyperparameters.n_epochs"
        );
        assert_eq!(
            bad(json!({"method": {"type": "supervised", "supervised": {"hyperparameters": {"beta": 1}}}})),
            "method.supervised.hyperparameters.beta",
            "beta is DPO's"
        );
        assert_eq!(bad(json!({"method": {"type": "rl"}})), "method.type");
        assert_eq!(bad(json!({"method": {"type": "reinforcement"}})), "method.reinforcement.grader");
        assert_eq!(bad(json!({"method": {"type": "dpo"}, "hyperparameters": {}})), "hyperparameters");
        let rl = json!({"method": {"type": "reinforcement", "reinforcement": {"grader": {"type": "python", "source": "x"},
            "hyperparameters": {"reasoning_effort": "high", "eval_samples": 3}}}});
        assert_eq!(method(&rl).unwrap().method, Method::Reinforcement);
    }

    #[test]
    fn suffix_seed_integrations_and_the_metadata_filter() {
        assert_eq!(suffix(&json!({"suffix": "my-model_2"})).unwrap(), "my-model_2");
        assert!(suffix(&json!({"suffix": "a:b"})).is_err() && suffix(&json!({"suffix": "x".repeat(65)})).is_err());
        assert_eq!(seed(&json!({"seed": 42})).unwrap(), Some(42));
        assert!(seed(&json!({"seed": -1})).is_err());
        let wandb = json!({"integrations": [{"type": "wandb", "wandb": {"project": "p", "tags": ["a"]}}]});
        assert!(integrations(&wandb).unwrap().is_some());
        assert!(integrations(&json!({"integrations": [{"type": "comet"}]})).is_err());
        let f = MetadataFilter::parse("limit=2&metadata%5Bteam%5D=a&metadata[env]=prod");
        assert!(f.accepts(Some(&json!({"team": "a", "env": "prod", "x": "y"}))));
        assert!(!f.accepts(Some(&json!({"team": "a"}))) && !f.accepts(None));
        assert!(MetadataFilter::parse("metadata=null").accepts(None));
        assert_eq!(MetadataFilter::parse("after=x"), MetadataFilter::Any);
    }
}
