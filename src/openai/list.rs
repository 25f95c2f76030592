//! OpenAI's cursor pagination: `limit`, `order` and `after` in; `{"object": "list", "data",
//! "first_id", "last_id", "has_more"}` out.

use serde_json::{Value, json};

use crate::error::Error;

/// `order`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// Oldest first.
    Asc,
    /// Newest first.
    Desc,
}

/// A list request's query.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    /// Items per page, 1–100 (default 20).
    pub limit: usize,
    /// Sort order.
    pub order: Order,
    /// The page starts after the item with this id.
    pub after: Option<String>,
    /// Every (decoded) query pair, for the endpoint's own filters.
    pub pairs: Vec<(String, String)>,
}

impl ListQuery {
    /// Parses `query`; `order` defaults to `default_order`, as each endpoint's does.
    pub fn parse(query: &str, default_order: Order) -> Result<Self, Error> {
        let pairs: Vec<(String, String)> =
            crate::proto::query::pairs(query).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let get = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let limit = match get("limit") {
            None => 20,
            Some(l) => l.parse().ok().filter(|l| (1..=100).contains(l)).ok_or_else(|| {
                Error::invalid_param("limit", format!("limit must be an integer from 1 to 100, got '{l}'."))
            })?,
        };
        let order = match get("order") {
            None => default_order,
            Some("asc") => Order::Asc,
            Some("desc") => Order::Desc,
            Some(o) => return Err(Error::invalid_param("order", format!("order must be asc or desc, got '{o}'."))),
        };
        let after = get("after").filter(|a| !a.is_empty()).map(str::to_owned);
        Ok(ListQuery { limit, order, after, pairs })
    }

    /// The value of query parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The `metadata[key]=value` filters.
    pub fn metadata(&self) -> impl Iterator<Item = (&str, &str)> {
        fn key(k: &str) -> Option<&str> {
            k.strip_prefix("metadata[")?.strip_suffix(']')
        }
        self.pairs.iter().filter_map(|(k, v)| Some((key(k)?, v.as_str())))
    }
}

/// One page of a list, each item with its id.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The items, in the requested order.
    pub data: Vec<(String, T)>,
    /// More items follow this page.
    pub has_more: bool,
}

impl Page<Value> {
    /// The list object.
    pub fn to_json(&self) -> Value {
        json!({
            "object": "list",
            "data": self.data.iter().map(|(_, v)| v).collect::<Vec<_>>(),
            "first_id": self.data.first().map(|(id, _)| id),
            "last_id": self.data.last().map(|(id, _)| id),
            "has_more": self.has_more,
        })
    }
}

impl<T> Page<T> {
    /// Each item mapped by `f`.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> Page<U> {
        Page { data: self.data.into_iter().map(|(id, t)| (id, f(t))).collect(), has_more: self.has_more }
    }
}

/// The page `q` asks for of `items` (given oldest first, each with its id).
pub fn paginate<'a, T>(items: impl DoubleEndedIterator<Item = (&'a str, T)>, q: &ListQuery) -> Result<Page<T>, Error> {
    let mut ordered: Box<dyn Iterator<Item = (&'a str, T)>> = match q.order {
        Order::Asc => Box::new(items),
        Order::Desc => Box::new(items.rev()),
    };
    if let Some(after) = &q.after {
        // A cursor from another list (or an item since deleted) is a clear 400, not an empty page.
        if !ordered.by_ref().any(|(id, _)| id == after) {
            return Err(Error::invalid_param("after", format!("No item with id '{after}' in this list.")));
        }
    }
    let data: Vec<(String, T)> = ordered.by_ref().take(q.limit).map(|(id, t)| (id.to_owned(), t)).collect();
    Ok(Page { data, has_more: ordered.next().is_some() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(query: &str, default_order: Order) -> Result<(Vec<String>, bool), Error> {
        let items = ["a", "b", "c", "d", "e"];
        let page = paginate(items.iter().map(|id| (*id, ())), &ListQuery::parse(query, default_order)?)?;
        Ok((page.data.into_iter().map(|(id, _)| id).collect(), page.has_more))
    }

    #[test]
    fn pages_in_either_order_after_a_cursor() {
        assert_eq!(ids("limit=2", Order::Asc).unwrap(), (vec!["a".into(), "b".into()], true));
        assert_eq!(ids("limit=2&after=b", Order::Asc).unwrap(), (vec!["c".into(), "d".into()], true));
        assert_eq!(ids("after=c&limit=2", Order::Asc).unwrap(), (vec!["d".into(), "e".into()], false));
        assert_eq!(ids("order=desc&limit=2&after=d", Order::Asc).unwrap(), (vec!["c".into(), "b".into()], true));
        assert_eq!(ids("", Order::Desc).unwrap().0[0], "e");
        assert_eq!(ids("after=zz", Order::Asc).unwrap_err().param.as_deref(), Some("after"));
        assert_eq!(ids("limit=0", Order::Asc).unwrap_err().param.as_deref(), Some("limit"));
        assert_eq!(ids("order=up", Order::Asc).unwrap_err().param.as_deref(), Some("order"));
    }

    #[test]
    fn metadata_filters_are_decoded() {
        let q = ListQuery::parse("metadata%5Bteam%5D=red+sox&metadata[k]=v%2Fw&model=gpt-4o", Order::Asc).unwrap();
        assert_eq!(q.metadata().collect::<Vec<_>>(), [("team", "red sox"), ("k", "v/w")]);
        assert_eq!(q.get("model"), Some("gpt-4o"));
        let empty = Page::<Value> { data: Vec::new(), has_more: false }.to_json();
        assert!(empty["first_id"].is_null() && empty["data"] == json!([]));
    }
}
