//! OpenAI's audio endpoints: speech (text in, an audio file out) and, once uploads parse,
//! transcriptions and translations.

use super::{Ctx, Full, Outcome, Reply, Request, generate};
use crate::{
    app::App,
    audio::{
        Speech,
        speech::{self, SpeechRequest},
    },
    generation::GenSummary,
    openai::chunks::Usage,
    router::Route,
};

/// The routes.
pub static ROUTES: &[Route] = &[Route::post("/v1/audio/speech", speech)];

/// Synthesises the input and answers once it would have been generated: TTFT, then one ITL
/// per audio output token (20 a second of speech), as a chat answer of that many tokens.
fn speech(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let request = SpeechRequest::parse(req.body)?;
    let spoken = Speech::new(&request.input, &request.voice, request.speed);
    let audio = request.format.encode(&spoken);
    let prompt = request.instructions.as_deref().map_or(0, |i| app.encoding.count(i));
    let input_tokens = (app.encoding.count(&request.input) + prompt) as u64;
    let output_tokens = speech::audio_tokens(spoken.duration());
    let (first, itl) = app.sim.timing(&request.model, input_tokens, ctx.rng);
    let mut after = first;
    for _ in 1..output_tokens {
        after += itl.sample(ctx.rng);
    }
    if !app.sim.non_streaming_delay {
        after = std::time::Duration::ZERO;
    }
    let full = match request.sse {
        true => Full::text("text/event-stream; charset=utf-8", speech::sse_body(&audio, input_tokens, output_tokens)),
        false => Full::text(request.format.content_type(), audio),
    };
    let usage = Usage { prompt_tokens: input_tokens, completion_tokens: output_tokens, ..Usage::default() };
    let summary = GenSummary {
        model: request.model,
        usage,
        max_tokens: None,
        context_window: speech::MAX_INPUT_CHARS as u64,
        finish_reason: "stop",
        first_token: first,
        longest: output_tokens,
        generated: output_tokens,
        user: None,
    };
    Ok(Reply::Generated { after, full, summary })
}
