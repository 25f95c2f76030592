//! `fakeai config print`: the effective configuration as a TOML file, each line saying where
//! its value came from.

use std::fmt::Write;

use super::Setting;

/// Settings whose values are secrets: shown as `***`, one per item.
const SECRETS: &[&str] = &["api_key", "admin_key"];

/// One `key = value  # source` line per setting; a setting no layer sets is a comment. The
/// result parses as a config file giving the same settings (API keys aside).
pub fn render(settings: &[Setting]) -> String {
    let mut out = String::from("# fakeai server: effective configuration (key = value  # where it came from)\n");
    for s in settings.iter().filter(|s| s.key != "config_file") {
        let Some(value) = &s.value else {
            let _ = writeln!(out, "# {} is not set", s.key);
            continue;
        };
        let value = if SECRETS.contains(&s.key) { hide(value) } else { value.clone() };
        let _ = writeln!(out, "{} = {}  # {}", s.key, toml_value(&value), origin(s));
    }
    if let Some(file) = settings.iter().find(|s| s.key == "config_file").and_then(|s| s.value.as_ref()) {
        let _ = writeln!(out, "# config file: {}", file.as_str().unwrap_or_default());
    }
    out
}

/// `default`, `flag --port`, `env FAKEAI_SERVER__PORT`, `file x.toml (server.port)`.
fn origin(s: &Setting) -> String {
    let source = s.source.as_deref().unwrap_or("");
    let written = s.written.as_deref().unwrap_or(s.key);
    match source {
        "the defaults" => "default".to_owned(),
        "the command line" => format!("flag {written}"),
        "the environment" => format!("env {written}"),
        other => match other.strip_prefix("config file ") {
            Some(path) => format!("file {path} ({written})"),
            None => other.to_owned(),
        },
    }
}

fn hide(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(|_| "***".into()).collect()),
        _ => "***".into(),
    }
}

/// A TOML literal. Text the flags hold (`"8000"`, `"false"`) is written bare when it is a
/// number or boolean, as the settings read it either way.
fn toml_value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) if is_bare(s) => s.clone(),
        serde_json::Value::Array(items) => {
            format!("[{}]", items.iter().map(toml_value).collect::<Vec<_>>().join(", "))
        }
        serde_json::Value::Null => "\"\"".into(),
        // JSON strings, numbers and booleans are valid TOML literals as written.
        other => other.to_string(),
    }
}

fn is_bare(s: &str) -> bool {
    s == "true"
        || s == "false"
        || s.parse::<i64>().is_ok()
        || (s.parse::<f64>().is_ok()
            && s.starts_with(|c: char| c.is_ascii_digit())
            && s.ends_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(key: &'static str, value: serde_json::Value, source: &str, written: &str) -> Setting {
        Setting { key, value: Some(value), source: Some(source.into()), written: Some(written.into()) }
    }

    #[test]
    fn each_line_names_its_source_and_parses_as_toml() {
        let out = render(&[
            setting("port", "9000".into(), "the command line", "--port"),
            setting("host", "0.0.0.0".into(), "the environment", "FAKEAI_SERVER__HOST"),
            setting("backlog", 7.into(), "config file /x.toml", "server.backlog"),
            setting("reasoning_models", serde_json::json!(["a", "b"]), "the defaults", "reasoning_models"),
            setting("error_injection_rate", "0.5".into(), "the defaults", "x"),
            setting("api_key", serde_json::json!(["sk-secret"]), "the environment", "FAKEAI_API_KEYS"),
            Setting { key: "seed", value: None, source: None, written: None },
        ]);
        assert!(out.contains("port = 9000  # flag --port\n"), "{out}");
        assert!(out.contains("host = \"0.0.0.0\"  # env FAKEAI_SERVER__HOST\n"), "{out}");
        assert!(out.contains("backlog = 7  # file /x.toml (server.backlog)\n"), "{out}");
        assert!(out.contains("reasoning_models = [\"a\", \"b\"]  # default\n"), "{out}");
        assert!(out.contains("# seed is not set\n"), "{out}");
        assert!(!out.contains("sk-secret") && out.contains("api_key = [\"***\"]"), "{out}");
        let parsed: toml::Table = toml::from_str(&out).expect("valid TOML");
        assert_eq!(parsed["error_injection_rate"].as_float(), Some(0.5));
    }
}
