//! OpenAI's Videos API (Sora-shaped): `POST /v1/videos` starts a job that moves through
//! `queued` → `in_progress` → `completed` as time passes (`--video-latency` per second of
//! video); `GET /v1/videos/{id}/content` then answers a real MP4 of the asked seconds and size
//! ([`mp4`]); jobs are listed with cursor pagination and deleted.

use std::time::Instant;

use serde_json::{Value, json};

use super::{
    Body, Ctx, Full, Outcome, Request,
    common::{self, ListSpec},
    images::fields::Fields,
};
use crate::{
    api::images::render::{Format, Picture, encode},
    app::App,
    error::Error,
    router::Route,
    state::store::{Order, UNDATED},
};

pub mod jobs;
pub mod mp4;

use jobs::VideoJob;

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/videos", create),
    Route::get("/v1/videos", list),
    Route::get("/v1/videos/{id}", retrieve),
    Route::delete("/v1/videos/{id}", delete),
    Route::get("/v1/videos/{id}/content", content),
];

/// Sizes per model: sora-2 makes 720p; sora-2-pro also the tall and wide 1792 sizes.
const SIZES: &[&str] = &["720x1280", "1280x720", "1024x1792", "1792x1024"];
const SECONDS: &[&str] = &["4", "8", "12"];
/// How long a finished video stays downloadable (reported as `expires_at`).
const KEPT_SECS: u64 = 24 * 3600;

fn invalid_value(param: &str, value: &str, allowed: &[&str]) -> Error {
    let list: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
    Error::invalid_param(param, format!("Invalid value: '{value}'. Supported values are: {}.", list.join(", ")))
        .with_code("invalid_value")
}

fn not_found(id: &str) -> Error {
    Error::new(404, "invalid_request_error", format!("Video with id '{id}' not found."))
        .with_param("video_id")
        .with_code("not_found")
}

/// `seconds` as a form or JSON sends it: `"8"`, or the number 8.
fn seconds(f: &Fields<'_>) -> Result<u32, Error> {
    let text = match f {
        Fields::Json(m) if m.get("seconds").is_some_and(Value::is_u64) => m["seconds"].to_string(),
        _ => f.str("seconds")?.unwrap_or_else(|| "4".into()),
    };
    SECONDS
        .iter()
        .find(|s| **s == text)
        .map(|s| s.parse().expect("listed"))
        .ok_or_else(|| invalid_value("seconds", &text, SECONDS))
}

fn create(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let f = Fields::any(req)?;
    let model = f.str("model")?.unwrap_or_else(|| "sora-2".into());
    if !model.starts_with("sora-2") {
        return Err(invalid_value("model", &model, &["sora-2", "sora-2-pro"]));
    }
    let prompt =
        f.str("prompt")?.filter(|p| !p.is_empty()).ok_or_else(|| crate::api::images::request::missing("prompt"))?;
    let pro = model.starts_with("sora-2-pro");
    let allowed = if pro { SIZES } else { &SIZES[..2] };
    let size_text = f.str("size")?.unwrap_or_else(|| "720x1280".into());
    if !allowed.contains(&size_text.as_str()) {
        return Err(invalid_value("size", &size_text, allowed));
    }
    let (w, h) = size_text.split_once('x').expect("listed sizes are WxH");
    let seconds = seconds(&f)?;
    let total = app.args.video_latency.mul_f64(f64::from(seconds) * if pro { 2.0 } else { 1.0 });
    let job = VideoJob {
        id: format!("video_{:016x}{:016x}", ctx.rng.next_u64(), ctx.rng.next_u64()),
        model,
        prompt,
        seconds,
        size: (w.parse().expect("listed"), h.parse().expect("listed")),
        created_at: ctx.unix_now.0,
        started: Instant::now(),
        total,
    };
    let body = view(&job, Instant::now());
    app.media.videos.insert(job, UNDATED)?;
    Ok(Full::value(&body).into())
}

/// The job as OpenAI's `Video` object at `now`.
fn view(job: &VideoJob, now: Instant) -> Value {
    let p = job.progress(now);
    let completed_at = job.created_at + job.total.as_secs_f64().ceil() as u64;
    let done = p.status == "completed";
    json!({
        "id": job.id,
        "object": "video",
        "created_at": job.created_at,
        "completed_at": if done { Value::from(completed_at) } else { Value::Null },
        "expires_at": if done { Value::from(completed_at + KEPT_SECS) } else { Value::Null },
        "error": null,
        "model": job.model,
        "progress": p.percent,
        "prompt": job.prompt,
        "remixed_from_video_id": null,
        "seconds": job.seconds.to_string(),
        "size": format!("{}x{}", job.size.0, job.size.1),
        "status": p.status,
    })
}

fn retrieve(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    let job = app.media.videos.get(id, UNDATED).ok_or_else(|| not_found(id))?;
    Ok(Full::value(&view(&job, Instant::now())).into())
}

fn delete(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    app.media.videos.remove(id)?.ok_or_else(|| not_found(id))?;
    Ok(Full::value(&json!({"id": id, "object": "video.deleted", "deleted": true})).into())
}

/// `GET /v1/videos?limit=&after=&order=`: newest first by default, 20 a page (1–100).
fn list(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let page =
        app.media.videos.page(&common::page_query(req, ListSpec::after_only(Order::Desc))?, UNDATED, |_| true)?;
    let now = Instant::now();
    Ok(common::list_reply(&page, |j| view(j, now)).into())
}

/// `GET /v1/videos/{id}/content?variant=video|thumbnail|spritesheet`: the MP4 (or a JPEG
/// frame) once the job has completed.
fn content(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let id = req.param("id");
    let job = app.media.videos.get(id, UNDATED).ok_or_else(|| not_found(id))?;
    let p = job.progress(Instant::now());
    if p.status != "completed" {
        let message = format!("Video '{id}' is not ready: its status is {} ({} %).", p.status, p.percent);
        return Err(Error::invalid_param("video_id", message).with_code("video_not_ready"));
    }
    let variant = req.query("variant").unwrap_or_else(|| "video".into());
    let frame = |size: (u16, u16)| {
        let picture = Picture {
            prompt: &job.prompt,
            index: 0,
            size: (size.0.into(), size.1.into()),
            transparent: false,
            detail: 1.0,
        };
        encode(&picture, Format::Jpeg, 60)
    };
    match variant.as_str() {
        "video" => {
            let mp4 = mp4::mjpeg_mp4(&frame(job.size), job.seconds, job.size.0, job.size.1);
            Ok(Full::text("video/mp4", Body::Owned(mp4)).into())
        }
        "thumbnail" | "spritesheet" => {
            Ok(Full::text("image/jpeg", Body::Owned(frame((job.size.0 / 4, job.size.1 / 4)))).into())
        }
        other => Err(invalid_value("variant", other, &["video", "thumbnail", "spritesheet"])),
    }
}
