//! OpenAI's Responses API: the response object, its SSE events, and the stored objects around
//! it (background responses, input items, conversations).

pub mod events;
pub mod file_search;
pub mod input_tokens;
pub mod items;
pub mod object;
pub mod stored;
