//! Sans-IO HTTP/1.1: request-head parsing, chunked body decoding and response encoding,
//! all pure functions over byte buffers.

mod chunked;
mod error;
mod request;
mod response;

pub use chunked::ChunkedDecoder;
pub use error::HttpError;
pub use request::{BodyFraming, Field, Method, RequestHead, parse_head};
pub use response::{ResponseHead, frame_chunk, http_date, reason_phrase};
