//! `GET/PATCH /admin/config`: the settings that change without a restart — timing (`ttft`,
//! `itl`), output length and fault rates. A change applies to requests admitted afterwards;
//! a stream in flight keeps the plan it was admitted with.

use serde_json::{Map, Value, json};

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    generation::SimConfig,
    router::Route,
    sim::{Latency, LengthDist},
    state::faults::Rule,
};

/// The routes (an admin key once `--admin-key` is set).
pub static ROUTES: &[Route] =
    &[Route::get("/admin/config", current).admin(), Route::patch("/admin/config", patch).admin()];

/// The runtime settings as they stand.
fn view(app: &App) -> Value {
    let sim = app.sim.get();
    let rates: Vec<String> = app.state.faults.rules().iter().map(|r| r.text.clone()).collect();
    json!({
        "ttft": sim.ttft.map(|l| l.to_string()),
        "itl": sim.itl.map(|l| l.to_string()),
        "output_len": sim.output_len.to_string(),
        "fault_rates": rates,
    })
}

fn current(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&view(app)).into())
}

/// Applies the settings the body names (all or none: a bad one is a 400 and changes nothing)
/// and answers the settings now in force.
fn patch(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let Value::Object(body) = Error::json_object(req.body)? else { unreachable!("json_object gives an object") };
    let mut sim = (*app.sim.get()).clone();
    let rules = apply(&mut sim, &body)?;
    app.sim.set(sim);
    if let Some(rules) = rules {
        app.state.faults.set_rules(rules);
    }
    Ok(Full::value(&view(app)).into())
}

/// Sets `body`'s settings on `sim`; the new fault rules, when it names them.
fn apply(sim: &mut SimConfig, body: &Map<String, Value>) -> Result<Option<Vec<Rule>>, Error> {
    let mut rules = None;
    for (key, value) in body {
        let invalid = |why: String| Error::invalid_param(key, format!("Invalid {key}: {why}"));
        match key.as_str() {
            "ttft" | "itl" => {
                let latency = match value {
                    Value::Null => None,
                    v => Some(
                        text(v)
                            .ok_or_else(|| invalid("expected \"ms[:variance%]\"".into()))?
                            .parse::<Latency>()
                            .map_err(invalid)?,
                    ),
                };
                *if key == "ttft" { &mut sim.ttft } else { &mut sim.itl } = latency;
            }
            "output_len" => {
                let t = text(value).ok_or_else(|| invalid("expected N, MEAN:PCT or normal:MEAN:SD".into()))?;
                sim.output_len = t.parse::<LengthDist>().map_err(invalid)?;
            }
            "fault_rates" => {
                let list = value.as_array().ok_or_else(|| invalid("expected a list of KIND=RATE".into()))?;
                let parsed: Result<Vec<Rule>, String> =
                    list.iter().map(|v| text(v).ok_or("expected a string".to_owned())?.parse()).collect();
                rules = Some(parsed.map_err(invalid)?);
            }
            _ => {
                return Err(Error::invalid_param(
                    key,
                    format!("Unknown setting {key:?}: expected ttft, itl, output_len or fault_rates."),
                ));
            }
        }
    }
    Ok(rules)
}

/// A string, or a number as text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
