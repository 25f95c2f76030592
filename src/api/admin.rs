//! `GET/PATCH /admin/config`: the settings that change without a restart — timing (`ttft`,
//! `itl`), output length, fault rates and rate limits. A change applies to requests admitted
//! afterwards; a stream in flight keeps the plan it was admitted with.

use std::{sync::Arc, time::Instant};

use serde_json::{Map, Value, json};

use super::{Ctx, Full, Outcome, Request};
use crate::{
    app::App,
    error::Error,
    generation::SimConfig,
    router::Route,
    sim::{Latency, LengthDist},
    state::{
        faults::Rule,
        ratelimit::Limits,
        scenario::{Progress, Script},
    },
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
        "rate_limits": limits_json(app.state.auth.limits()),
        "scenario": app.state.scenario.snapshot().map(|s| json!({
            "phase": s.phase.map(|i| s.names[i].clone()),
            "index": s.phase,
            "round": s.round,
            "changes": s.changes,
            "loop": s.looping,
        })),
    })
}

fn limits_json(l: Limits) -> Value {
    json!({"rpm": l.rpm, "tpm": l.tpm, "rpd": l.rpd, "tpd": l.tpd})
}

fn current(app: &App, _: &mut Ctx<'_>, _: &Request<'_>) -> Outcome {
    Ok(Full::value(&view(app)).into())
}

/// Applies the settings the body names (all or none: a bad one is a 400 and changes nothing)
/// and answers the settings now in force.
fn patch(app: &App, _: &mut Ctx<'_>, req: &Request<'_>) -> Outcome {
    let Value::Object(body) = Error::json_object(req.body)? else { unreachable!("json_object gives an object") };
    reconfigure(app, &body)?;
    Ok(Full::value(&view(app)).into())
}

/// Applies the settings `body` names, as `PATCH /admin/config` does: all of them, or none
/// when one is invalid (a 400 naming it).
pub fn reconfigure(app: &App, body: &Map<String, Value>) -> Result<(), Error> {
    let mut sim = (*app.sim.get()).clone();
    let changes = apply(&mut sim, app.state.auth.limits(), body)?;
    app.sim.set(sim);
    if let Some(rules) = changes.rules {
        app.state.faults.set_rules(rules);
    }
    if let Some(limits) = changes.limits {
        app.state.auth.set_limits(limits);
    }
    Ok(())
}

/// The settings a body changes besides the simulation's.
#[derive(Default)]
struct Changes {
    rules: Option<Vec<Rule>>,
    limits: Option<Limits>,
}

/// Sets `body`'s settings on `sim`; the new fault rules and rate limits, when it names them
/// (`limits` being those in force).
fn apply(sim: &mut SimConfig, limits: Limits, body: &Map<String, Value>) -> Result<Changes, Error> {
    let mut changes = Changes::default();
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
                changes.rules = Some(parsed.map_err(invalid)?);
            }
            "rate_limits" => changes.limits = Some(rate_limits(limits, value).map_err(invalid)?),
            _ => {
                return Err(Error::invalid_param(
                    key,
                    format!("Unknown setting {key:?}: expected ttft, itl, output_len, fault_rates or rate_limits."),
                ));
            }
        }
    }
    Ok(changes)
}

/// The rate limits `value` makes of `current`: `null` or `"off"` turns them all off; an
/// object sets a `tier`'s RPM and TPM, then each of `rpm`, `tpm`, `rpd`, `tpd` it names (a
/// number, or `null` for no limit); what it does not name stays.
fn rate_limits(current: Limits, value: &Value) -> Result<Limits, String> {
    let fields = match value {
        Value::Null => return Ok(Limits::default()),
        Value::String(s) if s == "off" => return Ok(Limits::default()),
        Value::Object(fields) => fields,
        _ => return Err("expected an object of tier, rpm, tpm, rpd, tpd (or null / \"off\")".into()),
    };
    let mut limits = current;
    if let Some(tier) = fields.get("tier") {
        let name = tier.as_str().ok_or("tier must be a string")?;
        let (rpm, tpm) = crate::state::ratelimit::tier(name)
            .ok_or_else(|| format!("unknown tier {name:?}: expected free or tier-1 … tier-5"))?;
        (limits.rpm, limits.tpm) = (Some(rpm), Some(tpm));
    }
    for (name, value) in fields {
        let slot = match name.as_str() {
            "tier" => continue,
            "rpm" => &mut limits.rpm,
            "tpm" => &mut limits.tpm,
            "rpd" => &mut limits.rpd,
            "tpd" => &mut limits.tpd,
            _ => return Err(format!("unknown limit {name:?}: expected tier, rpm, tpm, rpd or tpd")),
        };
        *slot = match value {
            Value::Null => None,
            v => Some(
                v.as_u64().filter(|&n| n > 0).ok_or_else(|| format!("{name} must be a positive integer or null"))?,
            ),
        };
    }
    Ok(limits)
}

/// A string, or a number as text.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Starts `--scenario`'s runner: a thread that sleeps until each phase and applies it as a
/// PATCH would. The script is checked first, every phase's settings included: a bad one stops
/// the server from starting.
pub fn spawn_scenario(app: Arc<App>) -> std::io::Result<()> {
    let Some(path) = &app.args.scenario else { return Ok(()) };
    let script = Script::load(path).and_then(|s| check(&app, s)).map_err(std::io::Error::other)?;
    app.state.scenario.begin(script.clone());
    std::thread::Builder::new().name("fakeai-scenario".into()).spawn(move || run_scenario(&app, &script))?;
    Ok(())
}

/// `script`, once each phase's settings are known to apply.
fn check(app: &App, script: Script) -> Result<Script, String> {
    for phase in &script.phases {
        let mut sim = (*app.sim.get()).clone();
        apply(&mut sim, Limits::default(), &phase.set)
            .map_err(|e| format!("scenario phase {:?}: {}", phase.name, e.message))?;
    }
    Ok(script)
}

fn run_scenario(app: &App, script: &Script) {
    let start = Instant::now();
    let mut last = None;
    loop {
        let elapsed = start.elapsed();
        let pos = script.position(elapsed);
        if last != Some(pos) {
            if let Some(phase) = pos.phase.map(|i| &script.phases[i])
                && let Err(e) = reconfigure(app, &phase.set)
            {
                eprintln!("fakeai: scenario phase {:?}: {}", phase.name, e.message);
            }
            app.state.scenario.record(pos);
            last = Some(pos);
        }
        match script.next_change(elapsed) {
            Some(at) => std::thread::sleep(at.saturating_sub(start.elapsed())),
            None => return,
        }
    }
}

/// Appends `fakeai_scenario_phase{name}` (1 for the phase in force, 0 for the others) and the
/// loop and change counts (nothing without a scenario).
pub fn render_scenario(progress: &Progress, out: &mut String) {
    use std::fmt::Write;
    let Some(s) = progress.snapshot() else { return };
    let name = "fakeai_scenario_phase";
    let _ = writeln!(out, "# HELP {name} The --scenario phase in force (1), by name.\n# TYPE {name} gauge");
    for (i, phase) in s.names.iter().enumerate() {
        let _ = writeln!(out, "{name}{{name=\"{phase}\",index=\"{i}\"}} {}", u8::from(s.phase == Some(i)));
    }
    let _ = writeln!(out, "# HELP fakeai_scenario_round The --scenario loop in force (0 first).");
    let _ = writeln!(out, "# TYPE fakeai_scenario_round gauge\nfakeai_scenario_round {}", s.round);
    let _ = writeln!(out, "# HELP fakeai_scenario_changes_total --scenario phase changes applied.");
    let _ = writeln!(out, "# TYPE fakeai_scenario_changes_total counter\nfakeai_scenario_changes_total {}", s.changes);
}
