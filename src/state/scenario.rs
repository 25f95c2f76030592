//! `--scenario FILE`: a time-scripted list of phases, each a set of `/admin/config` changes
//! applied at an offset from the start (optionally looping), so a soak test can walk a client
//! through slow tokens, error bursts and throttling. Sans-IO: this module parses the script and
//! says which phase holds at a time; a background thread (`api::admin::spawn_scenario`) sleeps
//! until each phase and applies it, far from the per-token path.
//!
//! The file is TOML (or YAML or JSON, by extension, as the config file):
//!
//! ```toml
//! loop_every = "90s"              # optional: start over every 90 s
//! [[phase]]
//! name = "calm"
//! at = "0s"
//! set = { itl = "20", fault_rates = [] }
//! [[phase]]
//! name = "slow"
//! at = "30s"
//! set = { itl = "60" }
//! ```

use std::{
    path::Path,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use serde_json::{Map, Value};

/// One phase: its name, when it starts and the settings it changes.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// Its name, in the metric and `/admin/config`.
    pub name: String,
    /// Its offset from the start (of the script, or of each loop).
    pub at: Duration,
    /// The `/admin/config` changes it applies (a PATCH body).
    pub set: Map<String, Value>,
}

/// A parsed scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Script {
    /// The phases, by start time.
    pub phases: Vec<Phase>,
    /// When set, the script starts over at this offset.
    pub loop_every: Option<Duration>,
}

/// Where a script stands at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// The loop it is in (0 without looping).
    pub round: u64,
    /// The phase in force, if the first has begun.
    pub phase: Option<usize>,
}

impl Script {
    /// Reads a scenario file (`.toml`, `.yaml`/`.yml` or `.json`).
    pub fn load(path: &Path) -> Result<Script, String> {
        let shown = path.display();
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read scenario {shown}: {e}"))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
        let value: Value = match ext.as_str() {
            "toml" => toml::from_str(&text).map_err(|e| format!("invalid TOML in scenario {shown}: {e}"))?,
            "yaml" | "yml" => {
                serde_yaml_ng::from_str(&text).map_err(|e| format!("invalid YAML in scenario {shown}: {e}"))?
            }
            "json" => serde_json::from_str(&text).map_err(|e| format!("invalid JSON in scenario {shown}: {e}"))?,
            _ => return Err(format!("scenario {shown} must end in .toml, .yaml, .yml or .json")),
        };
        Script::from_value(&value).map_err(|e| format!("scenario {shown}: {e}"))
    }

    /// A script from its parsed document.
    pub fn from_value(value: &Value) -> Result<Script, String> {
        let top = value.as_object().ok_or("expected a table with [[phase]] entries")?;
        for key in top.keys() {
            if !matches!(key.as_str(), "phase" | "loop_every") {
                return Err(format!("unknown key {key:?}: expected phase or loop_every"));
            }
        }
        let list = top.get("phase").and_then(Value::as_array).ok_or("expected at least one [[phase]]")?;
        let phases = list.iter().enumerate().map(|(i, p)| phase(i, p)).collect::<Result<Vec<_>, _>>()?;
        if phases.is_empty() {
            return Err("expected at least one [[phase]]".into());
        }
        if let Some(w) = phases.windows(2).find(|w| w[1].at <= w[0].at) {
            return Err(format!("phase {:?} must start after phase {:?}", w[1].name, w[0].name));
        }
        let loop_every =
            top.get("loop_every").map(|v| duration(v).map_err(|e| format!("loop_every: {e}"))).transpose()?;
        if let Some(every) = loop_every {
            let last = phases.last().map_or(Duration::ZERO, |p| p.at);
            if every <= last || every.is_zero() {
                return Err(format!("loop_every ({every:?}) must be later than the last phase's start ({last:?})"));
            }
        }
        Ok(Script { phases, loop_every })
    }

    /// Where the script stands `elapsed` after its start.
    pub fn position(&self, elapsed: Duration) -> Position {
        let (round, offset) = match self.loop_every {
            Some(every) => {
                let (t, every) = (elapsed.as_nanos(), every.as_nanos());
                ((t / every) as u64, Duration::from_nanos((t % every) as u64))
            }
            None => (0, elapsed),
        };
        let phase = self.phases.iter().rposition(|p| p.at <= offset);
        Position { round, phase }
    }

    /// When the next phase after `elapsed` starts (from the script's start), if one does.
    pub fn next_change(&self, elapsed: Duration) -> Option<Duration> {
        let pos = self.position(elapsed);
        let round_start = self
            .loop_every
            .map_or(Duration::ZERO, |every| Duration::from_nanos((every.as_nanos() * u128::from(pos.round)) as u64));
        let next = pos.phase.map_or(0, |i| i + 1);
        match (self.phases.get(next), self.loop_every) {
            (Some(p), _) => Some(round_start + p.at),
            (None, Some(every)) => Some(round_start + every + self.phases[0].at),
            (None, None) => None,
        }
    }
}

fn phase(i: usize, value: &Value) -> Result<Phase, String> {
    let at_index = || format!("phase {}", i + 1);
    let table = value.as_object().ok_or_else(|| format!("{}: expected a table", at_index()))?;
    for key in table.keys() {
        if !matches!(key.as_str(), "name" | "at" | "set") {
            return Err(format!("{}: unknown key {key:?}: expected name, at or set", at_index()));
        }
    }
    let name = match table.get("name") {
        // Names are metric label values: plain characters only.
        Some(Value::String(s))
            if (1..=64).contains(&s.len())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ')) =>
        {
            s.clone()
        }
        None => format!("phase-{}", i + 1),
        Some(_) => {
            return Err(format!("{}: name must be 1-64 letters, digits, spaces, '-', '_' or '.'", at_index()));
        }
    };
    let at = table.get("at").ok_or_else(|| format!("phase {name:?}: at is required"))?;
    let at = duration(at).map_err(|e| format!("phase {name:?}: at: {e}"))?;
    let set = match table.get("set") {
        Some(Value::Object(set)) => set.clone(),
        None => Map::new(),
        Some(_) => return Err(format!("phase {name:?}: set must be a table of /admin/config settings")),
    };
    Ok(Phase { name, at, set })
}

/// A duration: `"500ms"`, `"30s"`, `"2m"`, `"1h"`, or a number of seconds.
pub fn duration(value: &Value) -> Result<Duration, String> {
    let bad = || format!("expected a duration such as \"500ms\", \"30s\", \"2m\" or seconds, not {value}");
    let seconds = |s: f64| (0.0..1e9).contains(&s).then(|| Duration::from_secs_f64(s)).ok_or_else(bad);
    match value {
        Value::Number(n) => seconds(n.as_f64().ok_or_else(bad)?),
        Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
            let n: f64 = s[..split].trim().parse().map_err(|_| bad())?;
            let scale = match &s[split..] {
                "ms" => 1e-3,
                "" | "s" => 1.0,
                "m" => 60.0,
                "h" => 3600.0,
                _ => return Err(bad()),
            };
            seconds(n * scale)
        }
        _ => Err(bad()),
    }
}

/// The scenario as it runs: its script and the phase in force, for the metric and the view.
#[derive(Debug, Default)]
pub struct Progress {
    script: Mutex<Option<Script>>,
    /// The phase in force plus one (0: none yet).
    phase: AtomicU64,
    /// Loops completed.
    round: AtomicU64,
    /// Phase changes applied.
    changes: AtomicU64,
}

impl Progress {
    /// Starts tracking `script`.
    pub fn begin(&self, script: Script) {
        *self.script.lock().unwrap_or_else(|e| e.into_inner()) = Some(script);
    }

    /// Records that `pos` is now in force.
    pub fn record(&self, pos: Position) {
        self.phase.store(pos.phase.map_or(0, |i| i as u64 + 1), Ordering::Relaxed);
        self.round.store(pos.round, Ordering::Relaxed);
        self.changes.fetch_add(1, Ordering::Relaxed);
    }

    /// The running scenario's phase names, the phase in force, the loop and the changes
    /// applied; `None` without a scenario.
    pub fn snapshot(&self) -> Option<Snapshot> {
        let script = self.script.lock().unwrap_or_else(|e| e.into_inner());
        let script = script.as_ref()?;
        let phase = self.phase.load(Ordering::Relaxed).checked_sub(1).map(|i| i as usize);
        Some(Snapshot {
            names: script.phases.iter().map(|p| p.name.clone()).collect(),
            phase,
            round: self.round.load(Ordering::Relaxed),
            changes: self.changes.load(Ordering::Relaxed),
            looping: script.loop_every.is_some(),
        })
    }
}

/// A running scenario as the metric and `/admin/config` show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// Every phase's name, in order.
    pub names: Vec<String>,
    /// The phase in force.
    pub phase: Option<usize>,
    /// The loop it is in.
    pub round: u64,
    /// Phase changes applied so far.
    pub changes: u64,
    /// Whether it loops.
    pub looping: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(toml_text: &str) -> Result<Script, String> {
        Script::from_value(&toml::from_str::<Value>(toml_text).unwrap())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn durations_in_units_or_seconds() {
        assert_eq!(duration(&"500ms".into()), Ok(ms(500)));
        assert_eq!(duration(&"30s".into()), Ok(ms(30_000)));
        assert_eq!(duration(&" 1.5m".into()), Ok(ms(90_000)));
        assert_eq!(duration(&serde_json::json!(2)), Ok(ms(2000)));
        assert!(duration(&"-1s".into()).is_err());
        assert!(duration(&"5 parsecs".into()).is_err());
        assert!(duration(&serde_json::json!(true)).is_err());
    }

    #[test]
    fn phases_by_offset_and_looping() {
        let s = script(
            "loop_every = \"1s\"\n[[phase]]\nname = \"a\"\nat = \"100ms\"\nset = { itl = \"5\" }\n\
             [[phase]]\nname = \"b\"\nat = \"400ms\"\n",
        )
        .unwrap();
        assert_eq!(s.phases[0].set["itl"], "5");
        assert_eq!(s.position(ms(50)), Position { round: 0, phase: None });
        assert_eq!(s.position(ms(100)), Position { round: 0, phase: Some(0) });
        assert_eq!(s.position(ms(999)), Position { round: 0, phase: Some(1) });
        assert_eq!(s.position(ms(1050)), Position { round: 1, phase: None }, "a new round before its first phase");
        assert_eq!(s.position(ms(2500)), Position { round: 2, phase: Some(1) });
        assert_eq!(s.next_change(ms(0)), Some(ms(100)));
        assert_eq!(s.next_change(ms(100)), Some(ms(400)));
        assert_eq!(s.next_change(ms(450)), Some(ms(1100)), "the next round's first phase");
        let once = script("[[phase]]\nat = 0\n[[phase]]\nat = \"2s\"\n").unwrap();
        assert_eq!(once.phases[1].name, "phase-2");
        assert_eq!(once.next_change(ms(2000)), None, "no loop: the last phase stays");
        assert_eq!(once.position(ms(60_000)).phase, Some(1));
    }

    #[test]
    fn the_example_parses() {
        let s =
            Script::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/scenario/retry-soak.toml"))).unwrap();
        assert_eq!(s.phases.len(), 5);
        assert_eq!(s.loop_every, Some(ms(90_000)));
    }

    #[test]
    fn bad_scripts_say_why() {
        let e = |t: &str| script(t).unwrap_err();
        assert!(e("").contains("at least one"));
        assert!(e("[[phase]]\nname = \"x\"\n").contains("at is required"));
        assert!(e("[[phase]]\nat = \"2s\"\n[[phase]]\nat = \"1s\"\n").contains("must start after"));
        assert!(e("loop_every = \"1s\"\n[[phase]]\nat = \"2s\"\n").contains("later than"));
        assert!(e("[[phase]]\nat = 0\nwhen = 3\n").contains("unknown key \"when\""));
        assert!(e("loops = 3\n[[phase]]\nat = 0\n").contains("unknown key"));
        assert!(e("[[phase]]\nat = 0\nname = \"a\\\"}\"\n").contains("name must be"), "a label value");
    }
}
