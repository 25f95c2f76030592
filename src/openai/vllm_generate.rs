//! vLLM's token-in/token-out `POST /inference/v1/generate`: `{"token_ids", "sampling_params",
//! "stream"?}` in, generated token ids out (the configured tokenizer's ids of the generated text,
//! so `/detokenize` reads them back), as one `GenerateResponse` or a stream of
//! `GenerateStreamResponse` chunks, one per token, ending `data: [DONE]`.

use serde::Deserialize;
use serde_json::json;

use super::{
    chunks::{Flavor, Usage, push_json_str},
    request::{GenRequest, StreamOptions},
};
use crate::{
    api::{Ctx, Outcome, Reply, generate::non_streaming},
    app::App,
    error::Error,
    sse::TokenStream,
};

/// The model a request that names none is served as (unlisted: the default limits apply).
const DEFAULT_MODEL: &str = "default";

/// The request body.
#[derive(Debug, Deserialize)]
struct Body {
    request_id: Option<String>,
    token_ids: Vec<i64>,
    sampling_params: SamplingParams,
    model: Option<String>,
    stream: Option<bool>,
    stream_options: Option<StreamOptions>,
}

/// The `SamplingParams` fields that shape the output (the rest are accepted and ignored).
#[derive(Debug, Deserialize)]
struct SamplingParams {
    max_tokens: Option<u64>,
    min_tokens: Option<u64>,
    ignore_eos: Option<bool>,
    seed: Option<u64>,
    stop: Option<Vec<String>>,
    n: Option<u64>,
}

/// A validated request and the caller's `request_id`.
pub type Planned = (GenRequest, Option<String>);

/// Serves `POST /inference/v1/generate`; `parsed` gives the body's [`plan_request`] (made off the
/// event loop for a large body), taken once the server is known to be awake.
pub fn generate(app: &App, ctx: &mut Ctx<'_>, parsed: impl FnOnce() -> Result<Planned, Error>) -> Outcome {
    app.vllm.check_awake()?;
    let (req, request_id) = parsed()?;
    let model = super::fine_tuned::resolve(app, &req.model)?;
    check_length(&req, model.context_window)?;
    let mut plan = app.sim.get().plan(Flavor::TokenIds(app.encoding), &req, &model, ctx.rng, ctx.unix_now.0);
    super::prefix::admit(app, &req, 0, &mut plan)?;
    if let Some(id) = request_id {
        plan.meta.id = format!("generate-tokens-{id}");
    }
    if req.stream {
        return Ok(Reply::Stream(Box::new(TokenStream::new(plan))));
    }
    let body = response_json(app, &plan);
    Ok(non_streaming(app, plan, body))
}

/// The validated request and the caller's `request_id`.
pub fn plan_request(app: &App, body: &[u8]) -> Result<Planned, Error> {
    let bad = |message: String| Error::new(400, "BadRequestError", message);
    let body: Body = serde_json::from_slice(body).map_err(|e| bad(format!("Invalid request: {e}")))?;
    if body.token_ids.is_empty() {
        return Err(bad("token_ids: List should have at least 1 item after validation, not 0".into()));
    }
    let vocab = app.encoding.vocab_size();
    if let Some(&id) = body.token_ids.iter().find(|&&id| id < 0 || id as u64 >= u64::from(vocab)) {
        return Err(bad(format!("Token id {id} is out of vocabulary")));
    }
    let p = body.sampling_params;
    if p.max_tokens == Some(0) {
        return Err(bad("max_tokens must be at least 1, got 0.".into()));
    }
    let n = p.n.unwrap_or(1);
    if !(1..=128).contains(&n) {
        return Err(bad(format!("n must be between 1 and 128, got {n}.")));
    }
    let model = body.model.unwrap_or_else(|| DEFAULT_MODEL.to_owned());
    let include_usage = body.stream_options.and_then(|o| o.include_usage).unwrap_or(false);
    let req = GenRequest {
        model,
        stream: body.stream.unwrap_or(false),
        include_usage,
        prompt_tokens: body.token_ids.len() as u64,
        max_tokens: p.max_tokens,
        min_tokens: p.min_tokens.unwrap_or(0),
        ignore_eos: p.ignore_eos.unwrap_or(false),
        seed: p.seed,
        stop: p.stop.unwrap_or_default(),
        n,
        ..GenRequest::default()
    };
    Ok((req, body.request_id))
}

/// The prompt plus the requested output must fit the model, in vLLM's words.
fn check_length(req: &GenRequest, window: u64) -> Result<(), Error> {
    let total = req.prompt_tokens + req.max_tokens.unwrap_or(0);
    if total <= window {
        return Ok(());
    }
    let message = format!(
        "This model's maximum context length is {window} tokens. However, you requested {total} tokens ({} in the \
         messages, {} in the completion). Please reduce the length of the messages or completion.",
        req.prompt_tokens,
        req.max_tokens.unwrap_or(0)
    );
    Err(Error::new(400, "BadRequestError", message))
}

/// vLLM's `GenerateResponse`.
fn response_json(app: &App, plan: &crate::generation::Plan) -> Vec<u8> {
    let choices: Vec<_> = plan
        .choices
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let ids: Vec<u32> = c.answer_tokens().iter().map(|t| app.encoding.piece_id(t)).collect();
            json!({"index": index, "logprobs": null, "finish_reason": c.finish_reason, "token_ids": ids, "routed_experts": null})
        })
        .collect();
    let body = json!({
        "request_id": plan.meta.id,
        "model": plan.meta.model,
        "created": plan.meta.created,
        "choices": choices,
        "usage": usage_json(plan.usage),
        "prompt_logprobs": null,
        "kv_transfer_params": null,
    });
    serde_json::to_vec(&body).expect("serializes")
}

fn usage_json(u: Usage) -> serde_json::Value {
    json!({
        "prompt_tokens": u.prompt_tokens,
        "total_tokens": u.prompt_tokens + u.completion_tokens,
        "completion_tokens": u.completion_tokens,
        "prompt_tokens_details": null,
    })
}

/// What every chunk of stream `request_id` starts with, up to its choice's index.
pub fn chunk_head(request_id: &str) -> Vec<u8> {
    let mut head = b"data: {\"request_id\":".to_vec();
    push_json_str(&mut head, request_id);
    head.extend_from_slice(b",\"choices\":[{\"index\":");
    head
}

/// Names `reason` on the chunk that ends `out` (a choice's last token, just written).
pub fn finish_last_chunk(reason: &str, out: &mut Vec<u8>) {
    const OPEN: &[u8] = b"\"finish_reason\":null";
    let Some(at) = out.windows(OPEN.len()).rposition(|w| w == OPEN) else { return };
    let mut named = b"\"finish_reason\":".to_vec();
    push_json_str(&mut named, reason);
    out.splice(at..at + OPEN.len(), named);
}

/// The stream's end: the usage chunk when `stream_options.include_usage` asked, then `[DONE]`.
pub fn close(request_id: &str, usage: Option<Usage>, out: &mut Vec<u8>) {
    if let Some(usage) = usage {
        let chunk = json!({"request_id": request_id, "choices": [], "usage": {
            "prompt_tokens": usage.prompt_tokens,
            "total_tokens": usage.prompt_tokens + usage.completion_tokens,
            "completion_tokens": usage.completion_tokens,
        }});
        out.extend_from_slice(format!("data: {chunk}\n\n").as_bytes());
    }
    out.extend_from_slice(b"data: [DONE]\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_chunk_gets_its_finish_reason() {
        let mut out = b"data: {\"finish_reason\":null}\n\ndata: {\"finish_reason\":null,\"x\":1}\n\n".to_vec();
        finish_last_chunk("length", &mut out);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "data: {\"finish_reason\":null}\n\ndata: {\"finish_reason\":\"length\",\"x\":1}\n\n");
    }
}
