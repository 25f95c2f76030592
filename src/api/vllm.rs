//! vLLM's (SGLang's, AIPerf's) utility endpoints, LoRA adapters and token-in/token-out
//! generation; errors in vLLM's envelope. The logic lives in [`crate::openai::vllm_utility`],
//! [`crate::openai::lora`] and [`crate::openai::vllm_generate`].

use super::{Ctx, Dialect, Outcome, Request};
use crate::{
    app::App,
    openai::{lora, vllm_generate, vllm_utility as utility},
    router::{BodyKind, Route},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/tokenize", tokenize)
        .dialect(Dialect::Vllm)
        .prepare(|app, body| Box::new(utility::tokenize(app, body))),
    Route::post("/detokenize", detokenize)
        .dialect(Dialect::Vllm)
        .prepare(|app, body| Box::new(utility::detokenize(app, body))),
    Route::get("/version", version).dialect(Dialect::Vllm).open(),
    Route::get("/ping", ping).dialect(Dialect::Vllm).open(),
    Route::post("/ping", ping).dialect(Dialect::Vllm).open().body(BodyKind::None),
    Route::post("/reset_prefix_cache", reset_prefix_cache).dialect(Dialect::Vllm).body(BodyKind::None),
    Route::post("/start_profile", start_profile).dialect(Dialect::Vllm).body(BodyKind::None),
    Route::post("/stop_profile", stop_profile).dialect(Dialect::Vllm).body(BodyKind::None),
    Route::post("/sleep", sleep).dialect(Dialect::Vllm).body(BodyKind::None),
    Route::post("/wake_up", wake_up).dialect(Dialect::Vllm).body(BodyKind::None),
    Route::get("/is_sleeping", is_sleeping).dialect(Dialect::Vllm),
    Route::post("/v1/load_lora_adapter", load_lora_adapter).dialect(Dialect::Vllm),
    Route::post("/v1/unload_lora_adapter", unload_lora_adapter).dialect(Dialect::Vllm),
    Route::post("/inference/v1/generate", generate)
        .dialect(Dialect::Vllm)
        .prepare(|app, body| Box::new(vllm_generate::plan_request(app, body))),
];

fn tokenize(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(req.prepared_or(|| utility::tokenize(app, req.body))?.into())
}

fn detokenize(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(req.prepared_or(|| utility::detokenize(app, req.body))?.into())
}

fn version(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::version().into())
}

fn ping(_: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::ok().into())
}

/// Forgets every cached prefix, as vLLM does: refused while requests hold blocks unless
/// `reset_running_requests=true`, and answered 200 either way (vLLM does not report a refusal;
/// AIPerf, which resets before a run, needs the 200).
fn reset_prefix_cache(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let running_too = req.query("reset_running_requests").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    app.state.kv.reset(running_too);
    Ok(utility::ok().into())
}

fn start_profile(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::profile(app, true).into())
}

fn stop_profile(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::profile(app, false).into())
}

fn sleep(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(utility::sleep(app, req.query("level").as_deref())?.into())
}

fn wake_up(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::wake_up(app).into())
}

fn is_sleeping(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(utility::is_sleeping(app).into())
}

fn load_lora_adapter(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(lora::load(&app.vllm.adapters, &app.registry, req.body)?.into())
}

fn unload_lora_adapter(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    Ok(lora::unload(&app.vllm.adapters, req.body)?.into())
}

fn generate(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    vllm_generate::generate(app, ctx, || req.prepared_or(|| vllm_generate::plan_request(app, req.body)))
}
