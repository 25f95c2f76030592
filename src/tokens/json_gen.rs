//! JSON values that satisfy a JSON Schema: tool-call arguments and `json_schema` outputs.
//! Deterministic for a seed; strings are words of the output vocabulary, so the text stays ASCII
//! (every token boundary is a character boundary).

use serde_json::{Map, Number, Value, json};

use super::vocab::SPACED;
use crate::rng::Rng;

/// Deepest nesting followed through `$ref`, `items` and `properties` before a generator settles for
/// the smallest valid value (recursive schemas must end).
const MAX_DEPTH: usize = 12;

/// Builds instances of one schema.
pub struct JsonGen<'a> {
    root: &'a Value,
    rng: Rng,
}

impl<'a> JsonGen<'a> {
    /// A generator for `schema` (the root that `#/...` references resolve against).
    pub fn new(schema: &'a Value, seed: u64) -> Self {
        JsonGen { root: schema, rng: Rng::new(seed) }
    }

    /// One instance of the root schema.
    pub fn instance(&mut self) -> Value {
        self.value(self.root, 0)
    }

    fn value(&mut self, schema: &'a Value, depth: usize) -> Value {
        let Some(s) = schema.as_object() else { return json!({}) };
        if let Some(target) = s.get("$ref").and_then(Value::as_str) {
            return match self.resolve(target) {
                Some(t) if depth < MAX_DEPTH => self.value(t, depth + 1),
                _ => Value::Null,
            };
        }
        if let Some(c) = s.get("const") {
            return c.clone();
        }
        if let Some(options) = s.get("enum").and_then(Value::as_array).filter(|o| !o.is_empty()) {
            return options[self.rng.below(options.len() as u64) as usize].clone();
        }
        for key in ["anyOf", "oneOf"] {
            if let Some(branches) = s.get(key).and_then(Value::as_array).filter(|b| !b.is_empty()) {
                // The first branch that is not bare null, unless nesting is too deep to afford it.
                let non_null = branches.iter().find(|b| b.get("type").and_then(Value::as_str) != Some("null"));
                let null = branches.iter().find(|b| b.get("type").and_then(Value::as_str) == Some("null"));
                let pick = if depth >= MAX_DEPTH { null.or(non_null) } else { non_null.or(null) };
                return self.value(pick.unwrap_or(&branches[0]), depth + 1);
            }
        }
        if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
            return self.all_of(s, parts, depth);
        }
        match type_of(s) {
            "object" => self.object(s, depth),
            "array" => self.array(s, depth),
            "integer" => self.integer(s),
            "number" => self.number(s),
            "boolean" => Value::Bool(self.rng.below(2) == 1),
            "null" => Value::Null,
            _ => Value::String(self.string(s)),
        }
    }

    fn resolve(&self, target: &str) -> Option<&'a Value> {
        let pointer = target.strip_prefix('#')?;
        self.root.pointer(pointer)
    }

    /// `allOf`: the union of the parts' properties (the shape pydantic and zod emit).
    fn all_of(&mut self, s: &'a Map<String, Value>, parts: &'a [Value], depth: usize) -> Value {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(obj) = self.value(part, depth + 1) {
                merged.extend(obj);
            }
        }
        if let Value::Object(own) = self.object(s, depth) {
            merged.extend(own);
        }
        Value::Object(merged)
    }

    fn object(&mut self, s: &'a Map<String, Value>, depth: usize) -> Value {
        let mut out = Map::new();
        let Some(props) = s.get("properties").and_then(Value::as_object) else { return Value::Object(out) };
        let required: Vec<&str> =
            s.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str).collect();
        for (name, prop) in props {
            // Past the depth limit only what must be there is generated.
            if depth >= MAX_DEPTH && !required.contains(&name.as_str()) {
                continue;
            }
            out.insert(name.clone(), self.value(prop, depth + 1));
        }
        Value::Object(out)
    }

    fn array(&mut self, s: &'a Map<String, Value>, depth: usize) -> Value {
        let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(if depth >= MAX_DEPTH { 0 } else { 1 });
        let max = s.get("maxItems").and_then(Value::as_u64).unwrap_or(min.max(3)).max(min);
        let count = if depth >= MAX_DEPTH { min } else { min + self.rng.below(max.min(min + 4) - min + 1) };
        let items = s.get("items").unwrap_or(&Value::Null);
        Value::Array((0..count).map(|_| self.value(items, depth + 1)).collect())
    }

    fn integer(&mut self, s: &Map<String, Value>) -> Value {
        let num = |k: &str| s.get(k).and_then(Value::as_f64);
        let lo = num("minimum").map(f64::ceil).or(num("exclusiveMinimum").map(|m| m.floor() + 1.0)).unwrap_or(0.0);
        let hi =
            num("maximum").map(f64::floor).or(num("exclusiveMaximum").map(|m| m.ceil() - 1.0)).unwrap_or(lo + 100.0);
        let step = num("multipleOf").filter(|m| *m >= 1.0).unwrap_or(1.0);
        let (lo, hi) = ((lo / step).ceil() as i64, ((hi / step).floor() as i64).max((lo / step).ceil() as i64));
        let k = lo + self.rng.below((hi - lo) as u64 + 1) as i64;
        Value::Number(Number::from((k as f64 * step) as i64))
    }

    fn number(&mut self, s: &Map<String, Value>) -> Value {
        if s.get("multipleOf").is_some() {
            return self.integer(s);
        }
        let num = |k: &str| s.get(k).and_then(Value::as_f64);
        let lo = num("minimum").or(num("exclusiveMinimum").map(|m| m + 0.01)).unwrap_or(0.0);
        let hi = num("maximum").or(num("exclusiveMaximum").map(|m| m - 0.01)).unwrap_or(lo + 100.0).max(lo);
        let x = ((lo + self.rng.unit() * (hi - lo)) * 100.0).round() / 100.0;
        Number::from_f64(x.clamp(lo, hi)).map_or(Value::Null, Value::Number)
    }

    fn string(&mut self, s: &Map<String, Value>) -> String {
        let formatted = match s.get("format").and_then(Value::as_str) {
            Some("date-time") => Some(format!("2025-{:02}-{:02}T{:02}:30:00Z", self.month(), self.day(), self.hour())),
            Some("date") => Some(format!("2025-{:02}-{:02}", self.month(), self.day())),
            Some("time") => Some(format!("{:02}:30:00", self.hour())),
            Some("email") => Some(format!("{}@example.com", self.word())),
            Some("uri" | "url") => Some(format!("https://example.com/{}", self.word())),
            Some("hostname") => Some(format!("{}.example.com", self.word())),
            Some("ipv4") => Some(format!("192.0.2.{}", 1 + self.rng.below(254))),
            Some("uuid") => Some(self.uuid()),
            _ => None,
        };
        if let Some(f) = formatted {
            return f;
        }
        let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(1) as usize;
        let max = s.get("maxLength").and_then(Value::as_u64).map_or(usize::MAX, |m| m as usize).max(min);
        let mut text = String::new();
        let words = 1 + self.rng.below(4);
        for i in 0..words {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(self.word());
        }
        while text.len() < min {
            text.push(' ');
            text.push_str(self.word());
        }
        text.truncate(max);
        text
    }

    fn word(&mut self) -> &'static str {
        SPACED[self.rng.below(SPACED.len() as u64) as usize].trim_start()
    }

    fn month(&mut self) -> u64 {
        1 + self.rng.below(12)
    }

    fn day(&mut self) -> u64 {
        1 + self.rng.below(28)
    }

    fn hour(&mut self) -> u64 {
        self.rng.below(24)
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        let hex = format!("{a:016x}{b:016x}");
        format!("{}-{}-4{}-a{}-{}", &hex[..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
    }
}

/// The instance type a schema asks for: `type` (the first non-null one of a list), else what
/// its keywords imply.
fn type_of(s: &Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => t,
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or(ts.first().and_then(Value::as_str))
            .unwrap_or("null"),
        _ if s.contains_key("properties") => "object",
        _ if s.contains_key("items") => "array",
        _ => "string",
    }
}

/// Why `schema` breaks OpenAI's strict-mode rules (every object closes `additionalProperties` and
/// requires all its properties), naming the path; `None` when it follows them.
pub fn strict_violation(schema: &Value) -> Option<String> {
    fn walk(v: &Value, path: &mut Vec<String>) -> Option<String> {
        match v {
            Value::Object(s) => {
                let is_object = s.get("type").and_then(Value::as_str) == Some("object") || s.contains_key("properties");
                if is_object {
                    let at = || format!("context=({})", path.join(", "));
                    if s.get("additionalProperties") != Some(&Value::Bool(false)) {
                        return Some(format!(
                            "In {}, 'additionalProperties' is required to be supplied and to be false.",
                            at()
                        ));
                    }
                    let props = s.get("properties").and_then(Value::as_object);
                    let required: Vec<&str> = s
                        .get("required")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str)
                        .collect();
                    if let Some(missing) =
                        props.into_iter().flatten().map(|(k, _)| k).find(|k| !required.contains(&k.as_str()))
                    {
                        return Some(format!(
                            "In {}, 'required' is required to be supplied and to be an array including every key in properties. Missing '{missing}'.",
                            at()
                        ));
                    }
                }
                s.iter().find_map(|(k, child)| {
                    path.push(k.clone());
                    let found = walk(child, path);
                    path.pop();
                    found
                })
            }
            Value::Array(items) => items.iter().find_map(|child| walk(child, path)),
            _ => None,
        }
    }
    walk(schema, &mut Vec::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gen_(schema: Value, seed: u64) -> Value {
        JsonGen::new(&schema, seed).instance()
    }

    #[test]
    fn follows_types_bounds_enums_and_formats() {
        let schema = json!({
            "type": "object",
            "properties": {
                "city": {"type": "string", "minLength": 3, "maxLength": 12},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
                "days": {"type": "integer", "minimum": 1, "maximum": 7},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "when": {"type": "string", "format": "date-time"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "maxItems": 4},
                "flag": {"type": ["boolean", "null"]},
                "kind": {"const": "fixed"}
            },
            "required": ["city"]
        });
        for seed in 0..50 {
            let v = gen_(schema.clone(), seed);
            let city = v["city"].as_str().unwrap();
            assert!((3..=12).contains(&city.len()), "{city:?}");
            assert!(["celsius", "fahrenheit"].contains(&v["unit"].as_str().unwrap()));
            assert!((1..=7).contains(&v["days"].as_i64().unwrap()));
            let r = v["ratio"].as_f64().unwrap();
            assert!(r > 0.0 && r <= 1.0, "{r}");
            assert_eq!(v["when"].as_str().unwrap().len(), 20);
            assert!((2..=4).contains(&v["tags"].as_array().unwrap().len()));
            assert!(v["flag"].is_boolean());
            assert_eq!(v["kind"], "fixed");
            assert!(serde_json::to_string(&v).unwrap().is_ascii());
        }
        assert_eq!(gen_(schema.clone(), 3), gen_(schema, 3), "seeded");
    }

    #[test]
    fn follows_refs_and_ends_recursion() {
        let schema = json!({
            "$defs": {"Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
            }, "required": ["name", "children"], "additionalProperties": false}},
            "$ref": "#/$defs/Node"
        });
        let v = gen_(schema, 1);
        assert!(v["name"].is_string() && v["children"].is_array());
        let union = json!({"anyOf": [{"type": "null"}, {"type": "integer", "minimum": 5, "maximum": 5}]});
        assert_eq!(gen_(union, 0), json!(5));
    }

    #[test]
    fn strict_rules() {
        let ok = json!({"type": "object", "properties": {"a": {"type": "object", "properties": {},
            "additionalProperties": false, "required": []}}, "required": ["a"], "additionalProperties": false});
        assert_eq!(strict_violation(&ok), None);
        let open = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]});
        assert!(strict_violation(&open).unwrap().contains("additionalProperties"));
        let partial = json!({"type": "object", "properties": {"a": {}, "b": {}}, "required": ["a"], "additionalProperties": false});
        assert!(strict_violation(&partial).unwrap().contains("Missing 'b'"));
    }
}
