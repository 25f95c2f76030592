//! `POST /v1/embeddings`: OpenAI's, NIM's and vLLM's chat-style requests, answered after the
//! encoder's latency (base + tokens / speed) with deterministic vectors (see
//! [`crate::encoders`]).

use std::time::Duration;

use super::{Ctx, Full, Outcome, Reply, Request, events::media_summary, generate};
use crate::{
    app::App,
    encoders::{
        body::EmbeddingsBody,
        request::{self, EmbeddingsRequest},
        vector::{self, Projector},
    },
    error::Error,
    generation::GenSummary,
    openai::chunks::Usage,
    router::Route,
    sim::Latency,
};

/// The routes.
pub static ROUTES: &[Route] =
    &[Route::post("/v1/embeddings", embeddings).prepare(|app, body| Box::new(embed(app, body)))];

fn embeddings(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let Embedded { model, user, window, tokens, full } = req.prepared_or(|| embed(app, req.body))?;
    let pace = Pace { base: app.args.embedding_latency, tokens_per_second: app.args.embedding_tps };
    crate::state::usage::record_request(
        &app.state.usage,
        crate::state::usage::Kind::Embeddings,
        &model,
        tokens,
        0,
        ctx.unix_now.0,
    );
    Ok(encoder_reply(ctx, Billed { model, context_window: window, tokens, user }, pace, full))
}

/// An embeddings request answered: its vectors rendered, its usage to bill.
struct Embedded {
    model: String,
    user: Option<String>,
    window: u64,
    tokens: u64,
    full: Full,
}

/// Parses, tokenizes and embeds a request's inputs (off the event loop for a large body).
fn embed(app: &App, body: &[u8]) -> Result<Embedded, Error> {
    let r = request::parse(body)?;
    let size = vector::model_size(&r.model);
    let dims = dimensions(&r, size)?;
    let window = app.registry.resolve(&r.model).context_window;
    let encoded = request::encode(&r, app.encoding, window)?;
    let projector = Projector::new(&r.model, size);
    let mut out = EmbeddingsBody::new(r.format, dims, encoded.len());
    for input in &encoded {
        out.push(&input.embed(&projector, dims));
    }
    let tokens = encoded.iter().map(|e| e.tokens).sum();
    let full = Full::json(out.finish(&r.model, tokens));
    drop(encoded);
    Ok(Embedded { model: r.model, user: r.user, window, tokens, full })
}

/// `dimensions`: 1 to the model's size (the size when absent); OpenAI's ada-002 takes none.
fn dimensions(r: &EmbeddingsRequest, size: usize) -> Result<usize, Error> {
    match r.dimensions {
        None => Ok(size),
        Some(_) if vector::fixed_size(&r.model) => {
            Err(Error::invalid_param("dimensions", "This model does not support specifying dimensions."))
        }
        Some(d) if d >= 1 && d as u64 <= size as u64 => Ok(d as usize),
        Some(d) => Err(Error::invalid_param(
            "dimensions",
            format!("Invalid value for 'dimensions': {d}. This model supports 1 to {size} dimensions."),
        )),
    }
}

/// How long an encoder takes: a base latency plus its input tokens at a speed.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The base latency.
    pub base: Latency,
    /// Input tokens per second (0: free).
    pub tokens_per_second: f64,
}

impl Pace {
    /// One draw for `tokens` input tokens.
    pub fn delay(&self, tokens: u64, ctx: &mut Ctx<'_>) -> Duration {
        let per_tokens = match self.tokens_per_second > 0.0 {
            true => Duration::from_secs_f64(tokens as f64 / self.tokens_per_second),
            false => Duration::ZERO,
        };
        self.base.sample(ctx.rng) + per_tokens
    }
}

/// What an encoder request counts in the per-model metrics.
#[derive(Debug)]
pub struct Billed {
    /// The model as named.
    pub model: String,
    /// Its context window (sizes the token histograms).
    pub context_window: u64,
    /// Input tokens.
    pub tokens: u64,
    /// The request's `user`.
    pub user: Option<String>,
}

/// `full`, due after `pace`'s delay, counted as a request of the model with prompt tokens and
/// no output: the server records it as a generation whose first (and only) result is the
/// whole response.
pub fn encoder_reply(ctx: &mut Ctx<'_>, billed: Billed, pace: Pace, full: Full) -> Reply {
    let after = pace.delay(billed.tokens, ctx);
    let usage = Usage { prompt_tokens: billed.tokens, ..Usage::default() };
    let summary = GenSummary { user: billed.user, ..media_summary(billed.model, billed.context_window, usage, after) };
    Reply::Generated { after, full, summary }
}
