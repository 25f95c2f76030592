//! `/v1/conversations`: create, retrieve, update the metadata of and delete a conversation, and
//! list, add, retrieve and delete its items. A response created with `conversation` reads the
//! conversation's items as its prompt and appends its input and output to them.

use serde_json::{Map, Value, json};

use super::{metadata, responses::items, stores::list_error};
use crate::{
    error::Error,
    rng::Rng,
    state::store::{Object, Page, PageQuery, Store, UNDATED, json_id, page_of},
    tokens::Encoding,
};

/// Items one conversation keeps; the oldest go first beyond it (a bound, not an OpenAI rule).
const MAX_ITEMS: usize = 10_000;
/// Items one request may add (OpenAI's limit).
const MAX_ITEMS_PER_REQUEST: usize = 20;

/// One conversation.
#[derive(Debug, Clone)]
pub struct Conversation {
    id: String,
    created_at: u64,
    metadata: Map<String, Value>,
    /// Its items, oldest first, each with the tokens it adds to a prompt.
    items: Vec<(Value, u64)>,
}

impl Object for Conversation {
    const KIND: &'static str = "Conversation";
    fn id(&self) -> &str {
        &self.id
    }
}

/// The store of conversations.
pub type ConversationStore = Store<Conversation>;

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
    fn to_json(&self) -> Value {
        json!({"id": self.id, "object": "conversation", "created_at": self.created_at, "metadata": self.metadata})
    }

    /// Tokens its items add to a prompt.
    pub fn tokens(&self) -> u64 {
        self.items.iter().map(|(_, t)| t).sum()
    }

    fn push(&mut self, items: impl IntoIterator<Item = Value>, encoding: Encoding) {
        self.push_counted(items.into_iter().map(|item| {
            let tokens = items::tokens(encoding, &item);
            (item, tokens)
        }));
    }

    /// Appends items whose tokens are counted already.
    fn push_counted(&mut self, items: impl IntoIterator<Item = (Value, u64)>) {
        self.items.extend(items);
        let over = self.items.len().saturating_sub(MAX_ITEMS);
        self.items.drain(..over);
    }
}

/// A body's new items, listed and counted (off the event loop for a large body); the items
/// at `fresh` get their ids drawn when they are added.
#[derive(Debug)]
pub struct NewItems {
    items: Vec<(Value, u64)>,
    fresh: Vec<usize>,
}

impl NewItems {
    /// The items with fresh ids drawn from `rng`, in item order.
    fn drawn(mut self, rng: &mut Rng) -> Vec<(Value, u64)> {
        for i in self.fresh {
            self.items[i].0["id"] = json!(format!("msg_{}", hex_id(rng, 2)));
        }
        self.items
    }
}

/// A create body read: its metadata and items.
#[derive(Debug)]
pub struct CreateBody {
    metadata: Map<String, Value>,
    items: NewItems,
}

/// Reads a `POST /v1/conversations` body, `{items?, metadata?}`.
pub fn read_create(body: &[u8], encoding: Encoding) -> Result<CreateBody, Error> {
    let v = parse_body(body)?;
    let metadata = metadata::parse(v.get("metadata"))?;
    Ok(CreateBody { metadata, items: new_items(&v, encoding, false)? })
}

/// Reads a `POST /v1/conversations/{id}/items` body, `{items}`.
pub fn read_items(body: &[u8], encoding: Encoding) -> Result<NewItems, Error> {
    new_items(&parse_body(body)?, encoding, true)
}

/// `POST /v1/conversations` of a body [`read_create`] read.
pub fn create(store: &ConversationStore, env: &mut Env<'_>, body: CreateBody) -> Result<Value, Error> {
    let items = body.items.drawn(env.rng);
    let id = format!("conv_{}", hex_id(env.rng, 3));
    let mut conversation = Conversation { id, created_at: env.now, metadata: body.metadata, items: Vec::new() };
    conversation.push_counted(items);
    let created = conversation.to_json();
    store.insert(conversation, env.now)?;
    Ok(created)
}

/// `GET /v1/conversations/{id}`.
pub fn retrieve(store: &ConversationStore, id: &str) -> Result<Value, Error> {
    store.with(id, UNDATED, Conversation::to_json).ok_or_else(|| not_found(id))
}

/// `POST /v1/conversations/{id}`: `{"metadata": {...} | null}` replaces the metadata.
pub fn update(store: &ConversationStore, id: &str, body: &[u8]) -> Result<Value, Error> {
    let metadata = metadata::from_update(body)?;
    let updated = store.update(id, |c| c.metadata = metadata)?;
    updated.map(|(c, ())| c.to_json()).ok_or_else(|| not_found(id))
}

/// `DELETE /v1/conversations/{id}`.
pub fn delete(store: &ConversationStore, id: &str) -> Result<Value, Error> {
    store.remove(id)?.ok_or_else(|| not_found(id))?;
    Ok(json!({"id": id, "object": "conversation.deleted", "deleted": true}))
}

/// `GET /v1/conversations/{id}/items`: the `page` of its items.
pub fn list_items(store: &ConversationStore, id: &str, page: &PageQuery) -> Result<Value, Error> {
    let items = store.with(id, UNDATED, |c| page_of(&c.items, |(item, _)| json_id(item), "item", page));
    Ok(items.ok_or_else(|| not_found(id))?.map_err(list_error)?.to_json(|(item, _)| item.clone()))
}

/// `POST /v1/conversations/{id}/items`: `{"items": [...]}` (up to 20); answers the added items.
pub fn add_items(store: &ConversationStore, env: &mut Env<'_>, id: &str, items: NewItems) -> Result<Value, Error> {
    let added = items.drawn(env.rng);
    store.update(id, |c| c.push_counted(added.iter().cloned()))?.ok_or_else(|| not_found(id))?;
    let data = added.into_iter().map(|(item, _)| item).collect();
    Ok(Page { data, has_more: false }.to_json(Value::clone))
}

/// `GET /v1/conversations/{id}/items/{item}`.
pub fn item(store: &ConversationStore, id: &str, item: &str) -> Result<Value, Error> {
    let found = store.with(id, UNDATED, |c| find(c, item).map(|i| c.items[i].0.clone()));
    found.ok_or_else(|| not_found(id))?.ok_or_else(|| item_not_found(item))
}

/// `DELETE /v1/conversations/{id}/items/{item}`: answers the conversation.
pub fn delete_item(store: &ConversationStore, id: &str, item: &str) -> Result<Value, Error> {
    let deleted = store.update(id, |c| {
        let i = find(c, item).ok_or_else(|| item_not_found(item))?;
        c.items.remove(i);
        Ok(c.to_json())
    })?;
    deleted.map(|(_, json)| json).ok_or_else(|| not_found(id))?
}

/// Tokens the items of conversation `id` add to a prompt, or a 404 naming `conversation`.
pub fn tokens(store: &ConversationStore, id: &str) -> Result<u64, Error> {
    store.with(id, UNDATED, Conversation::tokens).ok_or_else(|| {
        let message = format!("Conversation with id '{id}' not found.");
        Error::new(404, "invalid_request_error", message).with_param("conversation").with_code("not_found")
    })
}

/// Appends a response's input and output items to conversation `id` (if it still exists).
pub fn append(store: &ConversationStore, id: &str, items: Vec<Value>, encoding: Encoding) {
    // The conversation may have been deleted meanwhile; an in-memory store refuses nothing else.
    let _ = store.update(id, |c| c.push(items, encoding));
}

fn find(c: &Conversation, item: &str) -> Option<usize> {
    c.items.iter().position(|(v, _)| json_id(v) == item)
}

/// The `items` of a body as listed items, counted, their fresh ids still to draw (`required`:
/// must be there).
fn new_items(v: &Value, encoding: Encoding, required: bool) -> Result<NewItems, Error> {
    let items = match v.get("items") {
        None | Some(Value::Null) if !required => return Ok(NewItems { items: Vec::new(), fresh: Vec::new() }),
        Some(Value::Array(items)) if items.len() <= MAX_ITEMS_PER_REQUEST => items,
        _ => {
            let message = format!("'items' must be a list of at most {MAX_ITEMS_PER_REQUEST} items.");
            return Err(Error::invalid_param("items", message));
        }
    };
    let mut fresh = Vec::new();
    let listed = items::from_input(&Value::Array(items.clone()), |i| {
        fresh.push(i);
        String::new()
    });
    let counted = listed.into_iter().map(|item| {
        let tokens = items::tokens(encoding, &item);
        (item, tokens)
    });
    Ok(NewItems { items: counted.collect(), fresh })
}

/// The JSON object of a body (an empty body is `{}`).
fn parse_body(body: &[u8]) -> Result<Value, Error> {
    match body.iter().all(u8::is_ascii_whitespace) {
        true => Ok(json!({})),
        false => Error::json_object(body),
    }
}

/// `words` random 64-bit words in hex.
fn hex_id(rng: &mut Rng, words: usize) -> String {
    (0..words).map(|_| format!("{:016x}", rng.next_u64())).collect()
}

fn not_found(id: &str) -> Error {
    let message = format!("Conversation with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("conversation_id").with_code("not_found")
}

fn item_not_found(id: &str) -> Error {
    let message = format!("Item with id '{id}' not found.");
    Error::new(404, "invalid_request_error", message).with_param("item_id").with_code("not_found")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::store::{Limits, Order};

    #[test]
    fn conversations_and_their_items() {
        let store = ConversationStore::new(Limits::rolling(4));
        let mut rng = Rng::new(1);
        let env = &mut Env { rng: &mut rng, now: 7, encoding: Encoding::Cl100kBase };
        let body = br#"{"items":[{"role":"user","content":"Hello, world!"}],"metadata":{"a":"b"}}"#;
        let conv = create(&store, env, read_create(body, env.encoding).unwrap()).unwrap();
        let id = conv["id"].as_str().unwrap().to_owned();
        assert_eq!((conv["object"].as_str(), conv["created_at"].as_u64()), (Some("conversation"), Some(7)));
        assert_eq!(tokens(&store, &id).unwrap(), 4);
        let items = read_items(br#"{"items":[{"role":"assistant","content":"Hi"}]}"#, env.encoding).unwrap();
        let added = add_items(&store, env, &id, items).unwrap();
        assert_eq!((added["object"].as_str(), added["has_more"].as_bool()), (Some("list"), Some(false)));
        let new = added["first_id"].as_str().unwrap().to_owned();
        assert_eq!(
            list_items(&store, &id, &PageQuery { limit: 20, after: None, before: None, order: Order::Desc }).unwrap()["first_id"],
            new.as_str(),
            "newest first"
        );
        assert_eq!(item(&store, &id, &new).unwrap()["content"][0]["type"], "output_text");
        assert_eq!(delete_item(&store, &id, &new).unwrap()["id"], id.as_str());
        assert_eq!(item(&store, &id, &new).unwrap_err().param.as_deref(), Some("item_id"));
        assert_eq!(update(&store, &id, br#"{"metadata":{"x":"y"}}"#).unwrap()["metadata"], json!({"x": "y"}));
        assert_eq!(delete(&store, &id).unwrap()["deleted"], true);
        assert_eq!(tokens(&store, &id).unwrap_err().status, 404);
        assert_eq!(retrieve(&store, &id).unwrap_err().param.as_deref(), Some("conversation_id"));
        let too_many = json!({"items": vec![json!({"role": "user", "content": "x"}); 21]}).to_string();
        assert_eq!(read_create(too_many.as_bytes(), env.encoding).unwrap_err().status, 400);
    }
}
