//! Every store of generated and user-created objects, shared by all workers (control plane only).

use super::{
    chunks::Flavor,
    store::{ResponseStore, Stored},
    stored_chat::{self, ChatStore},
};

/// The stores, each bounded by a count.
#[derive(Debug)]
pub struct Stores {
    /// Responses API responses, for `previous_response_id` and retrieval.
    pub responses: ResponseStore,
    /// Chat completions created with `store: true`.
    pub chats: ChatStore,
}

impl Stores {
    /// Stores keeping `responses` responses and `objects` objects of each other kind.
    pub fn new(responses: usize, objects: usize) -> Self {
        Stores { responses: ResponseStore::new(responses), chats: ChatStore::new(objects) }
    }

    /// Whether a generation of `flavor` whose request said `store` is kept.
    pub fn keeps(&self, flavor: Flavor, store: bool) -> bool {
        store
            && match flavor {
                Flavor::Responses => self.responses.enabled(),
                Flavor::Chat => self.chats.enabled(),
                Flavor::Completion | Flavor::Messages | Flavor::Tgi => false,
            }
    }

    /// Keeps the generated object `full` (JSON) with id `id` that answered `request`;
    /// `context_tokens` are the tokens a continuation inherits.
    pub fn keep(&self, flavor: Flavor, id: &str, context_tokens: u64, request: &[u8], full: &[u8]) {
        match flavor {
            Flavor::Responses => self.responses.put(id.to_owned(), Stored { context_tokens, body: full.into() }),
            Flavor::Chat => stored_chat::keep(&self.chats, request, full),
            Flavor::Completion | Flavor::Messages | Flavor::Tgi => {}
        }
    }
}
