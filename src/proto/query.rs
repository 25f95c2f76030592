//! Query strings and path segments: `application/x-www-form-urlencoded` as browsers and SDKs
//! send them (`+` is a space in a query, not in a path).

use std::borrow::Cow;

/// The first value of `name` in `query`, decoded.
pub fn param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Every `(name, value)` pair of `query`, decoded, in order.
pub fn pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.as_bytes())
}

/// A path segment with its `%XX` escapes decoded (SDKs send `openai%2Fgpt-oss-120b`); a
/// malformed escape stays as it is and invalid UTF-8 is replaced.
pub fn decode_path(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_paths_without_plus_as_space() {
        assert_eq!(decode_path("openai%2Fgpt-oss-120b"), "openai/gpt-oss-120b");
        assert_eq!(decode_path("a%2fb%20c+d"), "a/b c+d");
        assert_eq!(decode_path("100%"), "100%");
        assert_eq!(decode_path("%zz"), "%zz");
    }

    #[test]
    fn queries_decode_plus_and_escapes() {
        let q = "metric=avg+latency&limit=5&model1=openai%2Fgpt&limit=9&flag";
        assert_eq!(param(q, "metric").as_deref(), Some("avg latency"));
        assert_eq!(param(q, "limit").as_deref(), Some("5"), "the first of repeated names");
        assert_eq!(param(q, "model1").as_deref(), Some("openai/gpt"));
        assert_eq!(param(q, "flag").as_deref(), Some(""));
        assert_eq!(param(q, "absent"), None);
        assert_eq!(pairs("a=1&b=2").count(), 2);
    }
}
