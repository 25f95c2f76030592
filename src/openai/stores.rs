//! Every store of generated and user-created objects, shared by all workers (control plane only),
//! and what a generation reads from and leaves in them.

use serde_json::Value;

use super::{
    chunks::Flavor,
    conversations::{self, ConversationStore},
    request::GenRequest,
    responses::{
        items,
        object::Params,
        stored::{Background, ResponseStore, Stored},
    },
    stored_chat::{self, ChatStore},
};
use crate::{
    error::Error,
    state::store::{Limits, Store, StoreError, UNDATED},
    tokens::Encoding,
};

/// The stores, each bounded by a count.
#[derive(Debug)]
pub struct Stores {
    /// Responses API responses, for `previous_response_id` and retrieval.
    pub responses: ResponseStore,
    /// Chat completions created with `store: true`.
    pub chats: ChatStore,
    /// Conversations and their items.
    pub conversations: ConversationStore,
}

/// A generated object on its way to the stores.
#[derive(Debug, Clone, Copy)]
pub struct Generated<'a> {
    /// Its endpoint.
    pub flavor: Flavor,
    /// Its id.
    pub id: &'a str,
    /// Tokens a continuation inherits (prompt and output).
    pub context_tokens: u64,
    /// When its generation ends, in unix microseconds.
    pub done_at: u64,
    /// Responses API: the request's settings.
    pub params: Option<&'a Params>,
    /// The request as JSON.
    pub request: &'a [u8],
    /// The finished object as JSON.
    pub full: &'a [u8],
}

impl Stores {
    /// Stores keeping `responses` responses and `objects` objects of each other kind.
    pub fn new(responses: usize, objects: usize) -> Self {
        Stores {
            responses: Store::new(Limits::rolling(responses)),
            chats: Store::new(Limits::rolling(objects)),
            conversations: Store::new(Limits::rolling(objects)),
        }
    }

    /// Prompt tokens `req` inherits from its previous response and its conversation; a 400 or
    /// 404 when either is unknown.
    pub fn inherited_tokens(&self, req: &GenRequest) -> Result<u64, Error> {
        let previous = match &req.previous_response_id {
            None => 0,
            Some(id) => self.responses.with(id, UNDATED, |s| s.context_tokens).ok_or_else(|| {
                let message = format!("Previous response with id '{id}' not found.");
                Error::invalid_param("previous_response_id", message).with_code("previous_response_not_found")
            })?,
        };
        let conversation = match req.responses.as_deref().and_then(Params::conversation_id) {
            None => 0,
            Some(id) => conversations::tokens(&self.conversations, id)?,
        };
        Ok(previous + conversation)
    }

    /// Whether a generation of `flavor` for `req` leaves anything in a store.
    pub fn keeps(&self, flavor: Flavor, req: &GenRequest) -> bool {
        match flavor {
            Flavor::Responses => {
                let in_conversation = req.responses.as_deref().and_then(Params::conversation_id).is_some();
                (req.store && self.responses.enabled()) || in_conversation
            }
            Flavor::Chat => req.store && self.chats.enabled(),
            Flavor::Completion | Flavor::Messages | Flavor::Tgi | Flavor::TokenIds(_) => false,
        }
    }

    /// Keeps `g` where its request asked: the response or chat completion store, and the
    /// conversation its input and output join (item tokens counted with `encoding`).
    pub fn keep(&self, g: Generated<'_>, encoding: Encoding) {
        match (g.flavor, g.params) {
            (Flavor::Responses, Some(params)) => self.keep_response(g, params, encoding),
            (Flavor::Chat, _) => stored_chat::keep(&self.chats, g.request, g.full),
            _ => {}
        }
    }

    fn keep_response(&self, g: Generated<'_>, params: &Params, encoding: Encoding) {
        if params.store {
            let stored = Stored {
                id: g.id.to_owned(),
                context_tokens: g.context_tokens,
                body: g.full.into(),
                request: g.request.into(),
                background: params.background.then_some(Background { done_at: g.done_at, cancelled: false }),
            };
            // A rolling in-memory store makes room rather than refuse.
            let _ = self.responses.insert(stored, UNDATED);
        }
        if let Some(conversation) = params.conversation_id() {
            let request: Value = serde_json::from_slice(g.request).unwrap_or_default();
            let full: Value = serde_json::from_slice(g.full).unwrap_or_default();
            let suffix = g.id.split_once('_').map_or(g.id, |(_, s)| s);
            let mut added = items::from_input(&request["input"], |i| format!("msg_{suffix}_{i}"));
            added.extend(full["output"].as_array().into_iter().flatten().cloned());
            conversations::append(&self.conversations, conversation, added, encoding);
        }
    }
}

/// A refused list of stored generations or of their items as an error: a cursor naming nothing
/// is a 400 on these lists (the Files and Batches lists answer 404, as theirs always have).
pub fn list_error(e: StoreError) -> Error {
    match e {
        StoreError::UnknownCursor { param, .. } => Error::invalid_param(param, e.to_string()),
        e => e.into(),
    }
}
