//! Rerankers: NIM's `POST /v1/ranking`, Cohere's and Jina's `POST /v1/rerank` and
//! `/v2/rerank`, Hugging Face TEI's `POST /rerank` (see [`crate::encoders::rerank`]).

use super::{
    Ctx, Dialect, Full, Outcome, Request,
    embeddings::{Billed, Pace, encoder_reply},
    generate,
};
use crate::{app::App, encoders::rerank, error::Error, router::Route};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::post("/v1/ranking", nim).prepare(|app, body| Box::new(rank(app, body, Kind::Nim))),
    Route::post("/v1/rerank", cohere_v1).prepare(|app, body| Box::new(rank(app, body, Kind::Cohere("1")))),
    Route::post("/v2/rerank", cohere_v2).prepare(|app, body| Box::new(rank(app, body, Kind::Cohere("2")))),
    Route::post("/rerank", tei).dialect(Dialect::Tgi).prepare(|app, body| Box::new(rank(app, body, Kind::Tei))),
];

/// Whose request and answer a route speaks.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Nim,
    /// Cohere's (and Jina's) of this API version.
    Cohere(&'static str),
    Tei,
}

/// A rerank request answered: its body rendered, the tokens to bill.
struct Ranking {
    model: String,
    tokens: u64,
    body: Vec<u8>,
}

/// Cohere's id as rendered before the core's generator draws it: as long as every id, so the
/// id is written in place ([`stamp`]).
const UNDRAWN_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Parses, scores and renders a request (off the event loop for a large body).
fn rank(app: &App, body: &[u8], kind: Kind) -> Result<Ranking, Error> {
    let r = match kind {
        Kind::Nim => rerank::parse_nim(body)?,
        Kind::Cohere(_) => rerank::parse_cohere(body)?,
        Kind::Tei => {
            let mut r = rerank::parse_tei(body)?;
            if r.model.is_empty() {
                // TEI serves one model and requests name none; metrics still want a name.
                r.model = "tei-reranker".into();
            }
            r
        }
    };
    let scored = rerank::score(&r.query, &r.documents, app.encoding, r.overflow)?;
    let body = match kind {
        Kind::Nim => rerank::nim_body(&scored),
        Kind::Cohere(version) => rerank::cohere_body(&r, &scored, UNDRAWN_ID, version),
        Kind::Tei => rerank::tei_body(&r, &scored),
    };
    Ok(Ranking { model: r.model, tokens: scored.tokens, body: body.to_string().into_bytes() })
}

/// Answers the body's ranking after the reranker's latency.
fn answer(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>, kind: Kind) -> Outcome {
    generate::require_json(req)?;
    let Ranking { model, tokens, mut body } = req.prepared_or(|| rank(app, req.body, kind))?;
    if let Kind::Cohere(_) = kind {
        stamp(&mut body, &uuid(ctx));
    }
    let context_window = app.registry.resolve(&model).context_window;
    let billed = Billed { model, context_window, tokens, user: None };
    let pace = Pace { base: app.args.ranking_latency, tokens_per_second: app.args.ranking_tps };
    Ok(encoder_reply(ctx, billed, pace, Full::json(body)))
}

/// Writes `id` over [`UNDRAWN_ID`], the first field of a rendered Cohere body.
fn stamp(body: &mut [u8], id: &str) {
    let at = br#"{"id":""#.len();
    let slot = body.get_mut(at..at + UNDRAWN_ID.len()).filter(|slot| *slot == UNDRAWN_ID.as_bytes());
    if let Some(slot) = slot.filter(|_| id.len() == UNDRAWN_ID.len()) {
        slot.copy_from_slice(id.as_bytes());
    }
}

fn nim(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    answer(app, ctx, req, Kind::Nim)
}

fn cohere_v1(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    answer(app, ctx, req, Kind::Cohere("1"))
}

fn cohere_v2(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    answer(app, ctx, req, Kind::Cohere("2"))
}

fn tei(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    answer(app, ctx, req, Kind::Tei)
}

/// A random UUID (version 4 layout), as Cohere's response ids are.
fn uuid(ctx: &mut Ctx<'_>) -> String {
    let (a, b) = (ctx.rng.next_u64(), ctx.rng.next_u64());
    let b = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamped_cohere_body_is_the_body_rendered_with_its_id() {
        let req = rerank::parse_cohere(br#"{"model":"m","query":"q","documents":["q","x"],"return_documents":true}"#)
            .unwrap();
        let scored =
            rerank::score(&req.query, &req.documents, crate::tokens::Encoding::Cl100kBase, req.overflow).unwrap();
        let id = "0123abcd-ef01-4234-9567-89abcdef0123";
        let mut body = rerank::cohere_body(&req, &scored, UNDRAWN_ID, "2").to_string().into_bytes();
        stamp(&mut body, id);
        assert_eq!(String::from_utf8(body).unwrap(), rerank::cohere_body(&req, &scored, id, "2").to_string());
    }
}
