//! OpenAI's Usage and Costs APIs over the usage ledger: `/v1/organization/usage/{kind}` and
//! `/v1/organization/costs`, in time buckets (`1m`, `1h`, `1d`, aligned to UTC) from
//! `start_time` (inclusive, floored to the bucket) to `end_time` (exclusive; default now),
//! `limit` buckets a page with `next_page` for the rest, grouped and filtered as OpenAI allows
//! per endpoint. Costs price the catalogue's list prices: cached input at the cached price,
//! batch work at half price.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    openai::{catalogue::unit_price, models::Pricing},
    router::Route,
    state::usage::{Kind, Line, Tally},
};

/// The routes.
pub static ROUTES: &[Route] = &[
    Route::get("/v1/organization/usage/completions", completions),
    Route::get("/v1/organization/usage/embeddings", embeddings),
    Route::get("/v1/organization/usage/moderations", moderations),
    Route::get("/v1/organization/usage/images", images),
    Route::get("/v1/organization/usage/audio_speeches", audio_speeches),
    Route::get("/v1/organization/usage/audio_transcriptions", audio_transcriptions),
    Route::get("/v1/organization/usage/vector_stores", vector_stores),
    Route::get("/v1/organization/usage/code_interpreter_sessions", code_interpreter_sessions),
    Route::get("/v1/organization/costs", costs),
];

/// The batch discount: batch work costs this share of the list price.
pub const BATCH_SHARE: f64 = 0.5;

const KEYS: &[&str] = &["project_id", "user_id", "api_key_id", "model"];

fn completions(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let fields = &["project_id", "user_id", "api_key_id", "model", "batch", "service_tier"];
    usage(app, ctx, req, Kind::Completions, fields)
}

fn embeddings(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    usage(app, ctx, req, Kind::Embeddings, KEYS)
}

fn moderations(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    usage(app, ctx, req, Kind::Moderations, KEYS)
}

fn images(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    usage(app, ctx, req, Kind::Images, &["project_id", "user_id", "api_key_id", "model", "size", "source"])
}

fn audio_speeches(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    usage(app, ctx, req, Kind::AudioSpeeches, KEYS)
}

fn audio_transcriptions(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    usage(app, ctx, req, Kind::AudioTranscriptions, KEYS)
}

/// The bytes vector stores hold now, in the bucket that holds now (earlier buckets are empty:
/// storage is not sampled over time).
fn vector_stores(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let q = Query::parse(req, ctx.unix_now.0, &["project_id"], false)?;
    let now = ctx.unix_now.0;
    let bytes = app.state.vector_store_files.sum(now, |f| f.usage_bytes);
    let project = crate::state::usage::DEFAULT_PROJECT;
    let shown = bytes > 0 && q.project_ids.as_ref().is_none_or(|ids| ids.iter().any(|p| p == project));
    Ok(q.page(|start, end| {
        let grouped = q.group_by.iter().any(|g| g == "project_id");
        match shown && (start..end).contains(&now) {
            true => vec![json!({"object": "organization.usage.vector_stores.result", "usage_bytes": bytes,
                "project_id": grouped.then_some(project)})],
            false => Vec::new(),
        }
    }))
}

/// fakeai runs no code interpreter: every bucket is empty.
fn code_interpreter_sessions(_: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let q = Query::parse(req, ctx.unix_now.0, &["project_id"], false)?;
    Ok(q.page(|_, _| Vec::new()))
}

/// A usage endpoint over the ledger's lines of `kind`, grouped by any of `fields`.
fn usage(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>, kind: Kind, fields: &[&str]) -> Outcome {
    let q = Query::parse(req, ctx.unix_now.0, fields, kind == Kind::Completions)?;
    let lines = app.state.usage.collect(|l| l.kind == kind && q.keeps(l));
    Ok(q.page(|start, end| {
        let mut groups: BTreeMap<String, (Vec<Value>, Tally)> = BTreeMap::new();
        for (line, tally) in lines.iter().filter(|(l, _)| (start..end).contains(&(l.minute * 60))) {
            let key: Vec<Value> = q.group_by.iter().map(|g| group_value(line, g)).collect();
            let (_, t) = groups.entry(Value::from(key.clone()).to_string()).or_insert((key, Tally::default()));
            *t = sum(*t, tally);
        }
        groups.into_values().map(|(key, t)| usage_result(kind, &q.group_by, key, &t)).collect()
    }))
}

/// `/v1/organization/costs`: 1-day buckets of USD amounts.
fn costs(app: &App, ctx: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let q = Query::parse_costs(req, ctx.unix_now.0)?;
    let lines = app.state.usage.collect(|l| q.keeps(l));
    let items: Vec<(&Line, Item)> =
        lines.iter().flat_map(|(l, t)| line_items(app, l, t).map(move |i| (l, i))).collect();
    Ok(q.page(|start, end| {
        let mut groups: BTreeMap<String, (Vec<Value>, Amount)> = BTreeMap::new();
        let in_bucket = items.iter().filter(|(l, _)| (start..end).contains(&(l.minute * 60)));
        for (line, item) in in_bucket.filter(|(l, i)| q.line_items.as_ref().is_none_or(|w| w.contains(&i.name(l)))) {
            let key: Vec<Value> = q
                .group_by
                .iter()
                .map(|g| if g == "line_item" { json!(item.name(line)) } else { group_value(line, g) })
                .collect();
            let (_, group) =
                groups.entry(Value::from(key.clone()).to_string()).or_insert((key, (0.0, 0.0, Some(item.unit))));
            group.0 += item.usd;
            group.1 += item.quantity as f64;
            if group.2 != Some(item.unit) {
                group.2 = None;
            }
        }
        groups
            .into_values()
            .map(|(key, (usd, quantity, unit))| {
                let mut r = json!({"object": "organization.costs.result",
                    "amount": {"value": usd, "currency": "usd"}, "line_item": null, "project_id": null,
                    "api_key_id": null, "user_id": null, "quantity": null, "quantity_unit": null});
                for (g, v) in q.group_by.iter().zip(key) {
                    r[g.as_str()] = v;
                }
                if q.group_by.iter().any(|g| g == "line_item") {
                    r["quantity"] = json!(quantity);
                    r["quantity_unit"] = json!(unit);
                }
                r
            })
            .collect()
    }))
}

/// A group's cost: USD, quantity, and its unit while every part shares one.
type Amount = (f64, f64, Option<&'static str>);

/// One priced part of a ledger line: `model, what` at a price.
#[derive(Debug, Clone, Copy)]
pub struct Item {
    /// What is billed (`input_tokens`, `cached_input_tokens`, `output_tokens`, `images`, …).
    pub what: &'static str,
    /// How many.
    pub quantity: u64,
    /// Its CostQuantityUnit.
    pub unit: &'static str,
    /// Cost in USD, discounts applied.
    pub usd: f64,
    /// What the discounts saved: (cached price, batch discount).
    pub saved: (f64, f64),
}

impl Item {
    /// The line item's name, as OpenAI writes it: `model, what` (batch work: `model, batch_what`).
    pub fn name(&self, line: &Line) -> String {
        let batch = if line.payer.batch { "batch_" } else { "" };
        format!("{}, {batch}{}", line.model, self.what)
    }
}

/// The priced parts of one ledger line.
pub fn line_items(app: &App, line: &Line, t: &Tally) -> impl Iterator<Item = Item> {
    let share = if line.payer.batch { BATCH_SHARE } else { 1.0 };
    let token = |what, quantity: u64, per_million: f64, list: f64| {
        let full = quantity as f64 * per_million / 1e6;
        let saved_cache = quantity as f64 * (list - per_million) / 1e6;
        Item { what, quantity, unit: "tokens", usd: full * share, saved: (saved_cache * share, full * (1.0 - share)) }
    };
    let per_unit = |what, quantity: u64, unit, price: f64| {
        let full = quantity as f64 * price;
        Item { what, quantity, unit, usd: full * share, saved: (0.0, full * (1.0 - share)) }
    };
    let p: Pricing = app.registry.describe(&line.model).pricing;
    let items: Vec<Item> = match line.kind {
        Kind::Completions => vec![
            token("input_tokens", t.input - t.cached, p.input_per_million, p.input_per_million),
            token("cached_input_tokens", t.cached, p.cached_input_per_million, p.input_per_million),
            token("output_tokens", t.output, p.output_per_million, p.output_per_million),
        ],
        Kind::Embeddings | Kind::Moderations => {
            vec![token("input_tokens", t.input, p.input_per_million, p.input_per_million)]
        }
        Kind::Images => vec![per_unit("images", t.units, "images", unit_price(&line.model))],
        Kind::AudioSpeeches => vec![per_unit("characters", t.units, "characters", unit_price(&line.model) / 1e6)],
        Kind::AudioTranscriptions => {
            vec![per_unit("seconds", t.units, "duration_seconds", unit_price(&line.model) / 60.0)]
        }
    };
    items.into_iter().filter(|i| i.quantity > 0)
}

fn sum(a: Tally, b: &Tally) -> Tally {
    Tally {
        requests: a.requests + b.requests,
        input: a.input + b.input,
        cached: a.cached + b.cached,
        input_audio: a.input_audio + b.input_audio,
        output: a.output + b.output,
        output_audio: a.output_audio + b.output_audio,
        units: a.units + b.units,
    }
}

/// The value of group field `g` on `line`.
fn group_value(line: &Line, g: &str) -> Value {
    match g {
        "project_id" => json!(&*line.payer.project_id),
        "api_key_id" => json!(line.payer.api_key_id.as_deref()),
        "user_id" => json!(line.payer.user_id.as_deref()),
        "model" => json!(&*line.model),
        "batch" => json!(line.payer.batch),
        "size" => json!(line.size.as_deref()),
        "source" => json!(line.source),
        _ => Value::Null,
    }
}

/// One usage result of `kind`: the totals of a group, its group fields set.
fn usage_result(kind: Kind, group_by: &[String], key: Vec<Value>, t: &Tally) -> Value {
    let mut r = match kind {
        Kind::Completions => json!({"object": "organization.usage.completions.result",
            "input_tokens": t.input, "output_tokens": t.output, "input_cached_tokens": t.cached,
            "input_uncached_tokens": t.input - t.cached, "input_audio_tokens": t.input_audio,
            "output_audio_tokens": t.output_audio, "num_model_requests": t.requests, "batch": null,
            "service_tier": null}),
        Kind::Embeddings => json!({"object": "organization.usage.embeddings.result", "input_tokens": t.input,
            "num_model_requests": t.requests}),
        Kind::Moderations => json!({"object": "organization.usage.moderations.result", "input_tokens": t.input,
            "num_model_requests": t.requests}),
        Kind::Images => json!({"object": "organization.usage.images.result", "images": t.units,
            "num_model_requests": t.requests, "size": null, "source": null}),
        Kind::AudioSpeeches => json!({"object": "organization.usage.audio_speeches.result", "characters": t.units,
            "num_model_requests": t.requests}),
        Kind::AudioTranscriptions => json!({"object": "organization.usage.audio_transcriptions.result",
            "seconds": t.units, "num_model_requests": t.requests}),
    };
    for field in ["project_id", "user_id", "api_key_id", "model"] {
        r[field] = Value::Null;
    }
    for (g, v) in group_by.iter().zip(key) {
        r[g.as_str()] = v;
    }
    r
}

/// A usage or costs query, validated.
#[derive(Debug)]
struct Query {
    /// First bucket's start.
    start: u64,
    /// Exclusive end.
    end: u64,
    /// Bucket width in seconds.
    width: u64,
    limit: u64,
    group_by: Vec<String>,
    project_ids: Option<Vec<String>>,
    api_key_ids: Option<Vec<String>>,
    user_ids: Option<Vec<String>>,
    models: Option<Vec<String>>,
    batch: Option<bool>,
    line_items: Option<Vec<String>>,
}

impl Query {
    /// A usage endpoint's query: widths 1m/1h/1d (default 1d), `group_by` from `fields`.
    fn parse(req: &Request<'_>, now: u64, fields: &[&str], batch: bool) -> Result<Query, Error> {
        let width = match req.query("bucket_width").as_deref() {
            None | Some("1d") => 86_400,
            Some("1h") => 3600,
            Some("1m") => 60,
            Some(other) => return Err(invalid("bucket_width", other, "'1m', '1h' or '1d'")),
        };
        let (default, max) = match width {
            60 => (60, 1440),
            3600 => (24, 168),
            _ => (7, 31),
        };
        let mut q = Query::common(req, now, width, default, max, fields)?;
        if batch {
            q.batch = match req.query("batch").as_deref() {
                None => None,
                Some("true") => Some(true),
                Some("false") => Some(false),
                Some(other) => return Err(invalid("batch", other, "'true' or 'false'")),
            };
        }
        Ok(q)
    }

    /// The costs query: `1d` buckets only, `limit` 1..=180 (default 7).
    fn parse_costs(req: &Request<'_>, now: u64) -> Result<Query, Error> {
        if let Some(other) = req.query("bucket_width").filter(|w| w != "1d") {
            return Err(invalid("bucket_width", &other, "'1d'"));
        }
        let fields = &["project_id", "user_id", "line_item", "api_key_id"];
        let mut q = Query::common(req, now, 86_400, 7, 180, fields)?;
        q.line_items = list(req, "line_items");
        Ok(q)
    }

    fn common(
        req: &Request<'_>,
        now: u64,
        width: u64,
        default_limit: u64,
        max_limit: u64,
        fields: &[&str],
    ) -> Result<Query, Error> {
        let start = match req.query("start_time") {
            None => return Err(super::common::missing("start_time")),
            Some(raw) => integer("start_time", &raw)?,
        };
        let end = req.query("end_time").map(|raw| integer("end_time", &raw)).transpose()?;
        if let Some(end) = end.filter(|end| *end <= start) {
            let message = format!("'end_time' ({end}) must be after 'start_time' ({start}).");
            return Err(Error::invalid_param("end_time", message).with_code("invalid_value"));
        }
        let limit = match req.query("limit") {
            None => default_limit,
            Some(raw) => match raw.trim().parse::<u64>() {
                Ok(n) if (1..=max_limit).contains(&n) => n,
                _ => {
                    let message = format!(
                        "Invalid 'limit': expected an integer from 1 to {max_limit} for this bucket width, got '{raw}'."
                    );
                    return Err(Error::invalid_param("limit", message).with_code("invalid_value"));
                }
            },
        };
        let group_by = list(req, "group_by").unwrap_or_default();
        if let Some(bad) = group_by.iter().find(|g| !fields.contains(&g.as_str())) {
            return Err(invalid(
                "group_by",
                bad,
                &fields.iter().map(|f| format!("'{f}'")).collect::<Vec<_>>().join(", "),
            ));
        }
        let first = start - start % width;
        let start = match req.query("page") {
            None => first,
            Some(page) => page
                .strip_prefix("page_")
                .and_then(|p| p.parse::<u64>().ok())
                .filter(|p| *p >= first && (p - first).is_multiple_of(width))
                .ok_or_else(|| {
                    Error::invalid_param("page", format!("Invalid 'page': '{page}' is not a cursor of this query."))
                        .with_code("invalid_value")
                })?,
        };
        Ok(Query {
            start,
            end: end.unwrap_or(now + 1),
            width,
            limit,
            group_by,
            project_ids: list(req, "project_ids"),
            api_key_ids: list(req, "api_key_ids"),
            user_ids: list(req, "user_ids"),
            models: list(req, "models"),
            batch: None,
            line_items: None,
        })
    }

    /// Whether `line` passes the filters.
    fn keeps(&self, l: &Line) -> bool {
        let within = |ids: &Option<Vec<String>>, v: Option<&str>| {
            ids.as_ref().is_none_or(|ids| v.is_some_and(|v| ids.iter().any(|i| i == v)))
        };
        let t = l.minute * 60;
        t + 60 > self.start
            && t < self.end
            && within(&self.project_ids, Some(&l.payer.project_id))
            && within(&self.api_key_ids, l.payer.api_key_id.as_deref())
            && within(&self.user_ids, l.payer.user_id.as_deref())
            && within(&self.models, Some(&l.model))
            && self.batch.is_none_or(|b| b == l.payer.batch)
    }

    /// OpenAI's page of buckets from this query's start, each's results from `results(start, end)`.
    fn page(&self, results: impl Fn(u64, u64) -> Vec<Value>) -> super::Reply {
        let mut data = Vec::new();
        let mut at = self.start;
        while at < self.end && (data.len() as u64) < self.limit {
            let end = at + self.width;
            data.push(json!({"object": "bucket", "start_time": at, "end_time": end, "results": results(at, end)}));
            at = end;
        }
        let has_more = at < self.end;
        let body = json!({"object": "page", "data": data, "has_more": has_more,
            "next_page": has_more.then(|| format!("page_{at}"))});
        Full::value(&body).into()
    }
}

/// Every value of list parameter `name` (`name[]=a&name[]=b`, `name=a&name=b` or `name=a,b`).
fn list(req: &Request<'_>, name: &str) -> Option<Vec<String>> {
    let bracketed = format!("{name}[]");
    let values: Vec<String> = crate::proto::query::pairs(req.head.query())
        .filter(|(k, _)| *k == name || *k == bracketed.as_str())
        .flat_map(|(_, v)| v.split(',').map(str::to_owned).collect::<Vec<_>>())
        .filter(|v| !v.is_empty())
        .collect();
    (!values.is_empty()).then_some(values)
}

fn integer(param: &str, raw: &str) -> Result<u64, Error> {
    raw.trim().parse().map_err(|_| {
        Error::invalid_param(param, format!("Invalid '{param}': expected a unix time in seconds, got '{raw}'."))
            .with_code("invalid_type")
    })
}

fn invalid(param: &str, got: &str, expected: &str) -> Error {
    Error::invalid_param(param, format!("Invalid '{param}': '{got}'. Supported values are: {expected}."))
        .with_code("invalid_value")
}

/// The ledger's costs for FakeAI's `/metrics/costs` view: USD by model, project and API key,
/// and what the cached price and the batch discount saved.
pub fn cost_summary(app: &App) -> Value {
    let (mut by_model, mut by_project, mut by_key) = (Map::new(), Map::new(), Map::new());
    let (mut total, mut cache_saved, mut batch_saved) = (0.0, 0.0, 0.0);
    let add = |m: &mut Map<String, Value>, k: &str, usd: f64| {
        let v = m.entry(k.to_owned()).or_insert(json!(0.0));
        *v = json!(v.as_f64().unwrap_or(0.0) + usd);
    };
    for (line, tally) in app.state.usage.collect(|_| true) {
        for item in line_items(app, &line, &tally) {
            total += item.usd;
            cache_saved += item.saved.0;
            batch_saved += item.saved.1;
            add(&mut by_model, &line.model, item.usd);
            add(&mut by_project, &line.payer.project_id, item.usd);
            add(&mut by_key, line.payer.api_key_id.as_deref().unwrap_or("none"), item.usd);
        }
    }
    json!({"total_usd": total, "by_model": by_model, "by_project": by_project, "by_api_key": by_key,
        "savings_usd": {"cache": cache_saved, "batch": batch_saved, "total": cache_saved + batch_saved}})
}
