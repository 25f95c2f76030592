//! OpenAI's audio endpoints: speech (text in, an audio file out), transcriptions and
//! translations (a multipart upload in, its transcript out). All are paced like a chat answer
//! of as many tokens: TTFT, then one ITL per output token (audio tokens for speech, text
//! tokens for transcripts); streams send each event when its tokens are due.

use std::time::Duration;

use super::{
    Body, Ctx, Full, Outcome, Reply, Request,
    events::{TimedEvents, media_summary},
    generate,
};
use crate::{
    app::App,
    audio::{
        Speech,
        cache::{self, Rendered},
        speech::{self, SpeechRequest},
        transcription::{self, Task, TranscriptionRequest},
    },
    error::Error,
    generation::GenSummary,
    openai::chunks::Usage,
    router::{BodyKind, Route},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/audio/speech", speech),
    Route::post("/v1/audio/transcriptions", transcriptions).body(BodyKind::Multipart),
    Route::post("/v1/audio/translations", translations).body(BodyKind::Multipart),
];

/// What metrics record: `prompt` tokens in, `output` tokens out (generated ones, unlike other
/// media), the first due at `first`.
fn summary(model: String, prompt: u64, output: u64, first: Duration) -> GenSummary {
    let usage = Usage { prompt_tokens: prompt, completion_tokens: output, ..Usage::default() };
    GenSummary {
        longest: output,
        generated: output,
        ..media_summary(model, speech::MAX_INPUT_CHARS as u64, usage, first)
    }
}

/// A complete body, due when its last token is (or at once without the non-streaming delay).
fn answer(app: &App, due: &[Duration], full: Full, summary: GenSummary) -> Reply {
    let after = app.sim.get().whole_reply_after(due.last().copied().unwrap_or_default());
    Reply::Generated { after, full, summary }
}

/// Synthesises the input; output tokens are 20 per second of speech.
fn speech(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    generate::require_json(req)?;
    let request = SpeechRequest::parse(req.body)?;
    let rendered = cache::get_or_render(request.render_key(), || {
        let spoken = Speech::new(&request.input, &request.voice, request.speed);
        Rendered { bytes: request.format.encode(&spoken).into(), seconds: spoken.duration() }
    });
    let instructions = request.instructions.as_deref().map_or(0, |i| app.encoding.count(i));
    let input_tokens = (app.encoding.count(&request.input) + instructions) as u64;
    let output_tokens = speech::audio_tokens(rendered.seconds);
    let due = app.sim.get().token_deadlines(&request.model, input_tokens, output_tokens, ctx.rng);
    let characters = request.input.chars().count() as u64;
    crate::state::usage::record_request(
        &app.state.usage,
        crate::state::usage::Kind::AudioSpeeches,
        &request.model,
        0,
        characters,
        ctx.unix_now.0,
    );
    let summary = summary(request.model, input_tokens, output_tokens, due[0]);
    if !request.sse {
        let body = Body::Shared(rendered.bytes);
        return Ok(answer(app, &due, Full::text(request.format.content_type(), body), summary));
    }
    // Each delta is sent when the audio tokens it carries are due.
    let deltas = speech::delta_events(&rendered.bytes);
    let mut events = TimedEvents::new(summary);
    let n = deltas.len();
    for (i, delta) in deltas.into_iter().enumerate() {
        events.push(due[(i + 1) * due.len() / n - 1], delta);
    }
    let done = speech::done_event(input_tokens, output_tokens);
    events.push(*due.last().unwrap_or(&Duration::ZERO), done);
    Ok(Reply::Events(Box::new(events)))
}

fn transcriptions(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    transcribe(app, ctx, req, Task::Transcribe)
}

fn translations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    transcribe(app, ctx, req, Task::Translate)
}

/// Transcribes (or translates) the upload: the transcript follows the file's real duration.
fn transcribe(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>, task: Task) -> Outcome {
    let content_type = req.head.content_type().unwrap_or("");
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(Error::bad_request(format!(
            "Invalid Content-Type {content_type:?}: the body must be multipart/form-data with a 'file' and a 'model'."
        )));
    }
    let request = TranscriptionRequest::parse(content_type, req.body, task)?;
    let transcript = request.transcript();
    let text = transcript.text();
    let prompt_tokens = request.prompt.as_deref().map_or(0, |p| app.encoding.count(p)) as u64;
    let output_tokens = app.encoding.count(&text) as u64;
    let usage = request.usage(prompt_tokens, output_tokens);
    let input_tokens = request.audio_tokens() + prompt_tokens;
    let due = app.sim.get().token_deadlines(&request.model, input_tokens, output_tokens, ctx.rng);
    let seconds = request.duration.ceil() as u64;
    crate::state::usage::record_request(
        &app.state.usage,
        crate::state::usage::Kind::AudioTranscriptions,
        &request.model,
        0,
        seconds,
        ctx.unix_now.0,
    );
    let summary = summary(request.model.clone(), input_tokens, output_tokens, due[0]);
    if !request.stream {
        let (content_type, body) = request.body(&transcript, usage);
        return Ok(answer(app, &due, Full::text(content_type, body), summary));
    }
    // One delta per word, each when the tokens up to its end are due.
    let mut events = TimedEvents::new(summary);
    let words = transcript.words.len();
    for (i, delta) in transcript.deltas().enumerate() {
        events.push(due[(i + 1) * due.len() / words - 1], transcription::delta_event(&delta));
    }
    events.push(*due.last().unwrap_or(&Duration::ZERO), transcription::done_event(&text, &usage));
    Ok(Reply::Events(Box::new(events)))
}
