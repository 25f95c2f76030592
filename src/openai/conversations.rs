//! `/v1/conversations`: create, retrieve, update the metadata of and delete a conversation, and
//! list, add, retrieve and delete its items. A response created with `conversation` reads the
//! conversation's items as its prompt and appends its input and output to them.

use serde_json::{Map, Value, json};

use super::{
    list::{ListQuery, Order, paginate},
    metadata,
    object_store::ObjectStore,
    responses::items,
};
use crate::{error::Error, http1::Method, rng::Rng, route::Full, tokens::Encoding};

/// Items one conversation keeps; the oldest go first beyond it (a bound, not an OpenAI rule).
const MAX_ITEMS: usize = 10_000;
/// Items one request may add (OpenAI's limit).
const MAX_ITEMS_PER_REQUEST: usize = 20;

/// One conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    created_at: u64,
    metadata: Map<String, Value>,
    /// Its items, oldest first, each with the tokens it adds to a prompt.
    items: Vec<(Value, u64)>,
}

/// The store of conversations.
pub type ConversationStore = ObjectStore<Conversation>;

/// What the handlers need besides the store.
#[derive(Debug)]
pub struct Env<'a> {
    /// Source of new ids.
    pub rng: &'a mut Rng,
    /// Unix seconds.
    pub now: u64,
    /// Counts item tokens.
    pub encoding: Encoding,
}

impl Conversation {
    fn to_json(&self, id: &str) -> Value {
        json!({"id": id, "object": "conversation", "created_at": self.created_at, "metadata": self.metadata})
    }

    /// Tokens its items add to a prompt.
    pub fn tokens(&self) -> u64 {
        self.items.iter().map(|(_, t)| t).sum()
    }

    fn push(&mut self, items: impl IntoIterator<Item = Value>, encoding: Encoding) {
        self.items.extend(items.into_iter().map(|item| {
            let tokens = items::tokens(encoding, &item);
            (item, tokens)
        }));
        let over = self.items.len().saturating_sub(MAX_ITEMS);
        self.items.drain(..over);
    }
}

/// `POST /v1/conversations`: `{items?, metadata?}`.
pub fn create(store: &ConversationStore, env: &mut Env<'_>, body: &[u8]) -> Full {
    let created = parse_body(body).and_then(|v| {
        let metadata = metadata::parse(v.get("metadata"))?;
        let items = new_items(&v, env, false)?;
        let id = format!("conv_{}", hex_id(env.rng, 3));
        let mut conversation = Conversation { created_at: env.now, metadata, items: Vec::new() };
        conversation.push(items, env.encoding);
        let reply = json_reply(&conversation.to_json(&id));
        store.insert(id, conversation);
        Ok(reply)
    });
    created.unwrap_or_else(Full::from)
}

/// `/v1/conversations/{rest}`; `None` for a method the path does not take.
pub fn handle(
    store: &ConversationStore,
    env: &mut Env<'_>,
    method: Method,
    rest: &str,
    query: &str,
    body: &[u8],
) -> Option<Full> {
    let mut parts = rest.splitn(3, '/');
    let (id, sub, item) = (parts.next().unwrap_or(""), parts.next(), parts.next());
    let reply = match (method, sub, item) {
        (Method::Get, None, None) => store.with(id, |c| json_reply(&c.to_json(id))),
        (Method::Post, None, None) => match parse_body(body).and_then(|v| metadata_update(&v)) {
            Ok(metadata) => store.update(id, |c| {
                c.metadata = metadata;
                json_reply(&c.to_json(id))
            }),
            Err(e) => Some(e.into()),
        },
        (Method::Delete, None, None) => {
            store.remove(id).map(|_| json_reply(&json!({"id": id, "object": "conversation.deleted", "deleted": true})))
        }
        (Method::Get, Some("items"), None) => store.with(id, |c| list_items(c, query)),
        (Method::Post, Some("items"), None) => match parse_body(body).and_then(|v| new_items(&v, env, true)) {
            Ok(added) => store.update(id, |c| {
                c.push(added.iter().cloned(), env.encoding);
                let ids: Vec<&str> = added.iter().map(item_id).collect();
                let page = paginate(ids.into_iter().zip(added.iter().cloned()), &all_asc());
                page.map_or_else(Full::from, |p| json_reply(&p.to_json()))
            }),
            Err(e) => Some(e.into()),
        },
        (Method::Get, Some("items"), Some(item)) => store.with(id, |c| match find(c, item) {
            Some(i) => json_reply(&c.items[i].0),
            None => item_not_found(item),
        }),
        (Method::Delete, Some("items"), Some(item)) => store.update(id, |c| match find(c, item) {
            Some(i) => {
                c.items.remove(i);
                json_reply(&c.to_json(id))
            }
            None => item_not_found(item),
        }),
        _ => return None,
    };
    Some(reply.unwrap_or_else(|| not_found(id)))
}

/// Tokens the items of conversation `id` add to a prompt, or a 404 naming `conversation`.
pub fn tokens(store: &ConversationStore, id: &str) -> Result<u64, Error> {
    store.with(id, Conversation::tokens).ok_or_else(|| {
        let message = format!("Conversation with id '{id}' not found.");
        Error::new(404, "invalid_request_error", message).with_param("conversation").with_code("not_found")
    })
}

/// Appends a response's input and output items to conversation `id` (if it still exists).
pub fn append(store: &ConversationStore, id: &str, items: Vec<Value>, encoding: Encoding) {
    store.update(id, |c| c.push(items, encoding));
}

fn list_items(c: &Conversation, query: &str) -> Full {
    let page = ListQuery::parse(query, Order::Desc)
        .and_then(|q| paginate(c.items.iter().map(|(item, _)| (item_id(item), item.clone())), &q));
    page.map_or_else(Full::from, |p| json_reply(&p.to_json()))
}

fn all_asc() -> ListQuery {
    ListQuery { limit: usize::MAX, order: Order::Asc, after: None, pairs: Vec::new() }
}

fn find(c: &Conversation, item: &str) -> Option<usize> {
    c.items.iter().position(|(v, _)| item_id(v) == item)
}

fn item_id(item: &Value) -> &str {
    item["id"].as_str().unwrap_or_default()
}

/// The `items` of a create body as listed items with fresh ids (`required`: must be there).
fn new_items(v: &Value, env: &mut Env<'_>, required: bool) -> Result<Vec<Value>, Error> {
    let items = match v.get("items") {
        None | Some(Value::Null) if !required => return Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_ITEMS_PER_REQUEST => items,
        _ => {
            let message = format!("'items' must be a list of at most {MAX_ITEMS_PER_REQUEST} items.");
            return Err(Error::invalid_param("items", message));
        }
    };
    Ok(items::from_input(&Value::Array(items.clone()), |_| format!("msg_{}", hex_id(env.rng, 2))))
}

/// `{"metadata": {...} | null}`.
fn metadata_update(v: &Value) -> Result<Map<String, Value>, Error> {
    match v.get("metadata") {
        None => Err(Error::invalid_param("metadata", "Missing required parameter: 'metadata'.")),
        some => metadata::parse(some),
    }
}

/// The JSON object of a body (an empty body is `{}`).
fn parse_body(body: &[u8]) -> Result<Value, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        Ok(_) => Err(Error::bad_request("The request body must be a JSON object.")),
        Err(e) => Err(Error::bad_request(format!("We could not parse the JSON body of your request. ({e})"))),
    }
}

/// `words` random 64-bit words in hex.
fn hex_id(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

fn not_found(id: &str) -> Full {
    let message = format!("Conversation with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("conversation_id").with_code("not_found").into()
}

fn item_not_found(id: &str) -> Full {
    let message = format!("Item with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("item_id").with_code("not_found").into()
}

fn json_reply(v: &Value) -> Full {
    Full::json(v.to_string().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(full: &Full) -> Value {
        serde_json::from_slice(&full.body).unwrap()
    }

    #[test]
    fn conversations_and_their_items() {
        let store = ConversationStore::new(4);
        let mut rng = Rng::new(1);
        let mut env = Env { rng: &mut rng, now: 7, encoding: Encoding::Cl100kBase };
        let created =
            create(&store, &mut env, br#"{"items":[{"role":"user","content":"Hello, world!"}],"metadata":{"a":"b"}}"#);
        let conv = body(&created);
        let id = conv["id"].as_str().unwrap().to_owned();
        assert_eq!((conv["object"].as_str(), conv["created_at"].as_u64()), (Some("conversation"), Some(7)));
        assert_eq!(tokens(&store, &id).unwrap(), 4);
        let added = handle(
            &store,
            &mut env,
            Method::Post,
            &format!("{id}/items"),
            "",
            br#"{"items":[{"role":"assistant","content":"Hi"}]}"#,
        )
        .unwrap();
        let added = body(&added);
        assert_eq!((added["object"].as_str(), added["has_more"].as_bool()), (Some("list"), Some(false)));
        let item = added["first_id"].as_str().unwrap().to_owned();
        let listed = body(&handle(&store, &mut env, Method::Get, &format!("{id}/items"), "", b"").unwrap());
        assert_eq!(listed["first_id"], item.as_str(), "newest first");
        let got = handle(&store, &mut env, Method::Get, &format!("{id}/items/{item}"), "", b"").unwrap();
        assert_eq!(body(&got)["content"][0]["type"], "output_text");
        let after_delete = handle(&store, &mut env, Method::Delete, &format!("{id}/items/{item}"), "", b"").unwrap();
        assert_eq!(body(&after_delete)["id"], id.as_str());
        assert_eq!(handle(&store, &mut env, Method::Get, &format!("{id}/items/{item}"), "", b"").unwrap().status, 404);
        let updated = handle(&store, &mut env, Method::Post, &id, "", br#"{"metadata":{"x":"y"}}"#).unwrap();
        assert_eq!(body(&updated)["metadata"], json!({"x": "y"}));
        assert_eq!(body(&handle(&store, &mut env, Method::Delete, &id, "", b"").unwrap())["deleted"], true);
        assert_eq!(tokens(&store, &id).unwrap_err().status, 404);
        let too_many = json!({"items": vec![json!({"role": "user", "content": "x"}); 21]}).to_string();
        assert_eq!(create(&store, &mut env, too_many.as_bytes()).status, 400);
    }
}
