//! OpenAI's Images API: generations, edits and variations, answered with real PNG, JPEG or
//! WebP files drawn from the prompt (see [`render`]), as URLs into this server
//! (`GET /images/{id}.{ext}`, from [`store`]) or base64; GPT image models stream partial
//! images as SSE. Requests are checked by each model's rules ([`request`], [`uploads`]).

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Map, Value, json};

use super::{
    Body, Ctx, Full, Outcome, Reply, Request,
    events::{TimedEvents, media_summary, sse_event},
};
use crate::{app::App, error::Error, openai::chunks::Usage, router::BodyKind, router::Route};

pub mod fields;
pub mod render;
pub mod request;
pub mod store;
pub mod uploads;

use fields::Fields;
use render::{Picture, encode};
use request::{Family, ImageJob, Operation};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/images/generations", generations),
    Route::post("/v1/images/edits", edits).body(BodyKind::Multipart),
    Route::post("/v1/images/variations", variations).body(BodyKind::Multipart),
    Route::get("/images/{file}", stored_file).open(),
];

fn generations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    super::generate::require_json(req)?;
    let job = request::parse(&Fields::json(req.body)?, Operation::Generate)?;
    answer(app, ctx, job, 0, "image.generation")
}

fn edits(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let form = Fields::form(req)?;
    let job = request::parse(&form, Operation::Edit)?;
    let images = form.files(&["image", "image[]"]);
    let mask = form.files(&["mask"]).into_iter().next();
    let sizes = uploads::check_all(&images, mask.as_ref(), job.family, true)?;
    let image_tokens = match job.family {
        Family::GptImage => {
            sizes.iter().map(|&(w, h)| crate::openai::media::image_tokens((w.into(), h.into()), "high")).sum()
        }
        _ => 0,
    };
    answer(app, ctx, job, image_tokens, "image.edit")
}

fn variations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let form = Fields::form(req)?;
    let mut job = request::parse(&form, Operation::Variation)?;
    let images = form.files(&["image"]);
    uploads::check_all(&images, None, job.family, false)?;
    // Variations have no prompt: the picture derives from the uploaded file instead.
    job.prompt = format!("variation of {:016x}", fnv1a(images[0].bytes));
    answer(app, ctx, job, 0, "image.variation")
}

/// `GET /images/{id}.{ext}`: a generated file while it is kept.
fn stored_file(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let name = req.param("file");
    let file = app.media.files.get(name, Instant::now()).ok_or_else(|| {
        Error::new(404, "invalid_request_error", format!("Image '{name}' not found: it expired or never existed."))
            .with_code("not_found")
    })?;
    Ok(Full::text(file.content_type, Body::Shared(file.bytes)).into())
}

/// 64-bit FNV-1a: a stable digest of uploaded bytes.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// How long `job` takes: `--image-latency` per 1024×1024 image at standard/medium quality,
/// scaled by pixels, quality (low ½, high/hd 2×) and model (DALL·E 2 and Stable Diffusion ½).
pub fn latency(base: Duration, job: &ImageJob) -> Duration {
    let pixels = f64::from(job.size.0) * f64::from(job.size.1) / (1024.0 * 1024.0);
    let quality = match job.quality {
        "low" => 0.5,
        "high" | "hd" => 2.0,
        _ => 1.0,
    };
    let model = match job.family {
        Family::DallE2 | Family::StableDiffusion => 0.5,
        _ => 1.0,
    };
    base.mul_f64(f64::from(job.n) * pixels * quality * model)
}

/// GPT image token usage of `job`: the prompt's text tokens, the input images' tokens, and
/// OpenAI's output tokens per image.
fn usage(app: &App, job: &ImageJob, image_tokens: u64) -> (Usage, Value) {
    let text = app.encoding.count(&job.prompt) as u64;
    let output = request::output_tokens(job.quality, job.size) * u64::from(job.n);
    let usage = Usage { prompt_tokens: text + image_tokens, completion_tokens: output, ..Usage::default() };
    let json = json!({
        "input_tokens": text + image_tokens,
        "input_tokens_details": {"image_tokens": image_tokens, "text_tokens": text},
        "output_tokens": output,
        "total_tokens": text + image_tokens + output,
    });
    (usage, json)
}

/// The answer to a checked request: the images, due after the job's latency; `source` is
/// what the usage API calls the operation.
fn answer(app: &App, ctx: &mut Ctx<'_>, job: ImageJob, image_tokens: u64, source: &'static str) -> Outcome {
    let (n, size) = (u64::from(job.n), job.size_label());
    crate::state::usage::record_images(&app.state.usage, &job.model, n, &size, source, ctx.unix_now.0);
    let due = latency(app.args.image_latency, &job);
    let gpt = job.family == Family::GptImage;
    let (usage, usage_json) = if gpt { usage(app, &job, image_tokens) } else { (Usage::default(), Value::Null) };
    let context_window = app.registry.resolve(&job.model).context_window;
    let summary = media_summary(job.model.clone(), context_window, usage, due);
    let created = ctx.unix_now.0;
    if job.stream {
        return Ok(Reply::Events(Box::new(stream(&job, summary, created, due, &usage_json))));
    }
    let mut data = Vec::with_capacity(job.n as usize);
    for index in 0..job.n {
        let bytes = encode(&picture(&job, index, 1.0), job.format, job.compression);
        let mut item = Map::new();
        if job.url {
            item.insert("url".into(), keep(app, ctx, &job, bytes)?.into());
        } else {
            item.insert("b64_json".into(), base64::engine::general_purpose::STANDARD.encode(&bytes).into());
        }
        if job.family == Family::DallE3 {
            item.insert("revised_prompt".into(), revised_prompt(&job).into());
        }
        data.push(Value::Object(item));
    }
    let mut body = json!({"created": created, "data": data});
    if gpt {
        let extra = json!({
            "background": job.background(),
            "output_format": job.format.name(),
            "quality": job.quality,
            "size": job.size_label(),
            "usage": usage_json,
        });
        body.as_object_mut().expect("object").extend(extra.as_object().expect("object").clone());
    }
    Ok(Reply::Generated { after: due, full: Full::value(&body), summary })
}

/// The picture of image `index` of `job`, with `detail` of the finished image.
fn picture(job: &ImageJob, index: u32, detail: f32) -> Picture<'_> {
    Picture { prompt: &job.prompt, index, size: job.size, transparent: job.transparent, detail }
}

/// Stores `bytes` for `--image-ttl` and answers its URL on this server.
fn keep(app: &App, ctx: &mut Ctx<'_>, job: &ImageJob, bytes: Vec<u8>) -> Result<String, Error> {
    let name = format!("img-{:016x}{:08x}.{}", ctx.rng.next_u64(), ctx.rng.next_u64() as u32, job.format.name());
    if !app.media.files.insert(name.clone(), bytes.into(), job.format.mime(), Instant::now()) {
        let message = "The image store cannot keep this image (see --image-store-bytes and --image-ttl); ask for b64_json instead.";
        return Err(Error::new(503, "server_error", message));
    }
    Ok(format!("{}/images/{name}", app.media.base_url))
}

/// DALL·E 3 rewrites prompts; this one says what it drew.
fn revised_prompt(job: &ImageJob) -> String {
    let style = job.style.unwrap_or("vivid");
    format!(
        "{} Rendered as a {style}, {} {} image with a smooth colour gradient and concentric rings.",
        job.prompt,
        job.quality,
        job.size_label()
    )
}

/// The SSE events of a streamed GPT image request: per image, `partial_images` partial
/// images (more detail each time) and the finished one, spread over its share of `due`.
fn stream(
    job: &ImageJob,
    summary: crate::generation::GenSummary,
    created: u64,
    due: Duration,
    usage: &Value,
) -> TimedEvents {
    let mut events = TimedEvents::new(summary);
    let b64 = |detail, index| {
        base64::engine::general_purpose::STANDARD.encode(encode(
            &picture(job, index, detail),
            job.format,
            job.compression,
        ))
    };
    let slot = due / job.n;
    let steps = job.partial_images + 1;
    let common = json!({
        "background": job.background(),
        "created_at": created,
        "output_format": job.format.name(),
        "quality": job.quality,
        "size": job.size_label(),
    });
    for index in 0..job.n {
        let start = slot * index;
        for k in 0..job.partial_images {
            let mut ev = common.clone();
            let o = ev.as_object_mut().expect("object");
            o.insert("type".into(), "image_generation.partial_image".into());
            o.insert("b64_json".into(), b64((k + 1) as f32 / steps as f32, index).into());
            o.insert("partial_image_index".into(), k.into());
            events.push(start + slot * (k + 1) / steps, sse_event("image_generation.partial_image", &ev));
        }
        let mut ev = common.clone();
        let o = ev.as_object_mut().expect("object");
        o.insert("type".into(), "image_generation.completed".into());
        o.insert("b64_json".into(), b64(1.0, index).into());
        o.insert("usage".into(), usage.clone());
        events.push(start + slot, sse_event("image_generation.completed", &ev));
    }
    events
}
