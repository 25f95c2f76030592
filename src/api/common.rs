//! Helpers every stateful API shares: OpenAI's list pagination (`limit`, `after`, `before`,
//! `order` in, `{object:"list", data, first_id, last_id, has_more}` out), ids, and the store's
//! errors in OpenAI's envelope.

use super::{Full, Request};
use crate::{
    error::Error,
    rng::Rng,
    state::store::{Order, Page, PageQuery, StoreError},
};

/// An endpoint's pagination: its default and largest `limit`, its default order, and whether
/// it takes `order` and `before` at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSpec {
    /// `limit` when absent.
    pub default_limit: usize,
    /// Largest `limit`.
    pub max_limit: usize,
    /// Order when absent (or not taken).
    pub order: Order,
    /// Whether `order` is a parameter of this endpoint.
    pub orderable: bool,
    /// Whether `before` is a parameter of this endpoint.
    pub before: bool,
}

impl ListSpec {
    /// OpenAI's usual pagination: `limit` 1..=100 (default 20), `order` (default desc), `after`, `before`.
    pub const STANDARD: ListSpec =
        ListSpec { default_limit: 20, max_limit: 100, order: Order::Desc, orderable: true, before: true };

    /// `limit` 1..=100 (default 20), `order` (default `order`) and `after`: the lists of stored
    /// generations and of the items inside one object.
    pub const fn after_only(order: Order) -> ListSpec {
        ListSpec { order, before: false, ..ListSpec::STANDARD }
    }
}

/// Reads a list request's pagination as `spec` allows it (OpenAI's 400s for a bad `limit` or `order`).
pub fn page_query(req: &Request<'_>, spec: ListSpec) -> Result<PageQuery, Error> {
    let limit = match req.query("limit") {
        None => spec.default_limit,
        Some(raw) => parse_limit(&raw, spec.max_limit)?,
    };
    let order = match req.query("order").filter(|_| spec.orderable).as_deref() {
        None => spec.order,
        Some("asc") => Order::Asc,
        Some("desc") => Order::Desc,
        Some(other) => {
            return Err(Error::invalid_param(
                "order",
                format!("Invalid value: '{other}'. Supported values are: 'asc' and 'desc'."),
            )
            .with_code("invalid_value"));
        }
    };
    let cursor = |name| req.query(name).filter(|id| !id.is_empty());
    Ok(PageQuery { limit, after: cursor("after"), before: cursor("before").filter(|_| spec.before), order })
}

fn parse_limit(raw: &str, max: usize) -> Result<usize, Error> {
    let invalid = |message: String, code| Err(Error::invalid_param("limit", message).with_code(code));
    match raw.trim().parse::<i64>() {
        Err(_) => invalid(format!("Invalid 'limit': expected an integer, but got '{raw}' instead."), "invalid_type"),
        Ok(n) if n < 1 => invalid(
            format!("Invalid 'limit': integer below minimum value. Expected a value >= 1, but got {n} instead."),
            "integer_below_min_value",
        ),
        Ok(n) if n as u64 > max as u64 => invalid(
            format!("Invalid 'limit': integer above maximum value. Expected a value <= {max}, but got {n} instead."),
            "integer_above_max_value",
        ),
        Ok(n) => Ok(n as usize),
    }
}

/// The list reply of `page`.
pub fn list_reply<T>(page: &Page<T>, json: impl Fn(&T) -> serde_json::Value) -> Full {
    Full::value(&page.to_json(json))
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Error {
        let message = e.to_string();
        match e {
            StoreError::TooMany { .. } => Error::bad_request(message).with_code("object_limit_reached"),
            StoreError::OverBudget { .. } => Error::bad_request(message).with_code("storage_limit_reached"),
            StoreError::UnknownCursor { param, .. } => {
                Error::new(404, "invalid_request_error", message).with_param(param).with_code("not_found")
            }
            StoreError::Journal(_) => Error::new(503, "server_error", message),
        }
    }
}

/// Mixed into every id once a data directory has been opened before: with `--seed`, each boot
/// would otherwise draw the ids of the last one again and replace what they name.
static ID_SALT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Makes ids of boot `boot` of a data directory differ from those of earlier boots (the first
/// boot keeps the ids a seed gives).
pub fn salt_ids(boot: u64) {
    let salt = if boot <= 1 { 0 } else { Rng::new(boot).next_u64() | 1 };
    ID_SALT.store(salt, std::sync::atomic::Ordering::Relaxed);
}

/// A new id: `prefix` and `len` alphanumerics (OpenAI's `file-…`, `batch_…` shapes).
pub fn new_id(rng: &mut Rng, prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let salt = ID_SALT.load(std::sync::atomic::Ordering::Relaxed);
    let mut salted;
    let rng = match salt {
        0 => rng,
        salt => {
            salted = Rng::new(rng.next_u64() ^ salt);
            &mut salted
        }
    };
    let mut id = String::with_capacity(prefix.len() + len);
    id.push_str(prefix);
    id.extend((0..len).map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize] as char));
    id
}

/// OpenAI's 404 for an object of `kind` (`File`, `Batch`, `Upload`) that does not exist.
pub fn no_such(kind: &str, id: &str) -> Error {
    Error::new(404, "invalid_request_error", format!("No such {kind} object: {id}"))
        .with_param("id")
        .with_code("not_found")
}

/// The parts of a `multipart/form-data` request (a 400 for another content type or a broken body).
pub fn form<'a>(req: &Request<'a>) -> Result<Vec<crate::proto::multipart::Part<'a>>, Error> {
    let content_type = req.head.content_type().unwrap_or("");
    let boundary = crate::proto::multipart::boundary(content_type)?;
    Ok(crate::proto::multipart::parse(req.body, boundary)?)
}

/// The text of form field `name`, if sent (a 400 when it is not UTF-8).
pub fn form_text<'a>(
    parts: &[crate::proto::multipart::Part<'_>],
    body: &'a [u8],
    name: &str,
) -> Result<Option<&'a str>, Error> {
    parts
        .iter()
        .find(|p| p.name == name)
        .map(|p| {
            std::str::from_utf8(p.bytes(body))
                .map_err(|_| Error::invalid_param(name, format!("'{name}' is not UTF-8 text.")))
        })
        .transpose()
}

/// 400 for a required parameter that is absent.
pub fn missing(param: &str) -> Error {
    Error::invalid_param(param, format!("Missing required parameter: '{param}'."))
        .with_code("missing_required_parameter")
}

/// Reads `expires_after` (`{anchor: "created_at", seconds: 3600..=2592000}`): the lifetime in seconds.
pub fn expires_after(
    anchor: Option<&str>,
    seconds: Option<&serde_json::Value>,
    param: &str,
) -> Result<Option<u64>, Error> {
    if anchor.is_none() && seconds.is_none() {
        return Ok(None);
    }
    if anchor != Some("created_at") {
        let message = format!("Invalid '{param}.anchor': expected 'created_at'.");
        return Err(Error::invalid_param(&format!("{param}.anchor"), message).with_code("invalid_value"));
    }
    let secs = seconds.and_then(|s| s.as_u64().or_else(|| s.as_str()?.trim().parse().ok()));
    match secs {
        Some(s) if (3600..=2_592_000).contains(&s) => Ok(Some(s)),
        _ => {
            let message = format!("Invalid '{param}.seconds': expected an integer between 3600 and 2592000.");
            Err(Error::invalid_param(&format!("{param}.seconds"), message).with_code("invalid_value"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::http1::{Method, RequestHead};

    fn parse(query: &str, spec: ListSpec) -> Result<PageQuery, Error> {
        let head = RequestHead::synthetic(Method::Get, &format!("/v1/x?{query}"));
        page_query(&Request { head: &head, body: &[], params: &[], prepared: Default::default() }, spec)
    }

    #[test]
    fn defaults_and_values() {
        let q = parse("", ListSpec::STANDARD).unwrap();
        assert_eq!(q, PageQuery { limit: 20, after: None, before: None, order: Order::Desc });
        let q = parse("limit=100&after=a&before=b&order=asc", ListSpec::STANDARD).unwrap();
        assert_eq!(q, PageQuery { limit: 100, after: Some("a".into()), before: Some("b".into()), order: Order::Asc });
        let unordered = ListSpec { orderable: false, before: false, ..ListSpec::STANDARD };
        let q = parse("order=asc&before=b", unordered).unwrap();
        assert_eq!((q.order, q.before), (Order::Desc, None), "an endpoint without order ignores it");
    }

    #[test]
    fn bad_limits_and_orders_are_openais_400s() {
        for (query, code) in [
            ("limit=0", "integer_below_min_value"),
            ("limit=101", "integer_above_max_value"),
            ("limit=ten", "invalid_type"),
            ("order=up", "invalid_value"),
        ] {
            let e = parse(query, ListSpec::STANDARD).unwrap_err();
            assert_eq!((e.status, e.code), (400, Some(code)), "{query}");
        }
        let files = ListSpec { default_limit: 10_000, max_limit: 10_000, ..ListSpec::STANDARD };
        assert_eq!(parse("limit=10000", files).unwrap().limit, 10_000);
    }
}
