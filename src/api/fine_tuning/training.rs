//! The simulated training, sans-IO: what a training file holds (examples and their real BPE
//! tokens), OpenAI's `auto` hyperparameters, the step plan, a training loss that falls with the
//! steps (from a start and a floor set by the file's size), checkpoints and the result CSV.

use serde_json::{Value, json};

use crate::{
    state::fine_tuning::{Hyperparameters, JobError, Method, Training},
    tokens::Encoding,
};

/// OpenAI's least number of training examples.
pub const MIN_EXAMPLES: u64 = 10;

/// Checkpoints are kept for this many last epochs (as OpenAI keeps them).
const CHECKPOINT_EPOCHS: u64 = 3;

/// Metrics events per job at most: one per slice of the steps.
pub const MAX_METRIC_EVENTS: u64 = 10;

/// What a training file holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Examples (lines).
    pub examples: u64,
    /// BPE tokens of all of them.
    pub tokens: u64,
}

/// Reads a training (or validation) file for `method`: every line an example of the method's
/// shape; `param` names the file in the error.
pub fn read_dataset(
    content: &[u8],
    method: Method,
    encoding: Encoding,
    param: &'static str,
) -> Result<Dataset, JobError> {
    let mut data = Dataset { examples: 0, tokens: 0 };
    let lines = content.split(|&b| b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    for (i, line) in lines.enumerate() {
        let example: Value = serde_json::from_slice(line).map_err(|_| format_error(param, i + 1, "is not JSON"))?;
        let texts = example_texts(&example, method).ok_or_else(|| format_error(param, i + 1, shape_of(method)))?;
        data.tokens += texts.iter().map(|t| encoding.count(t) as u64).sum::<u64>();
        data.examples += 1;
    }
    if data.examples < MIN_EXAMPLES && param == "training_file" {
        let message =
            format!("Training file has {} example(s), but must have at least {MIN_EXAMPLES} examples", data.examples);
        return Err(JobError { code: "invalid_n_examples", message, param: Some(param) });
    }
    Ok(data)
}

fn format_error(param: &'static str, line: usize, what: &str) -> JobError {
    let message = format!("The {} has an invalid format: line {line} {what}.", param.replace('_', " "));
    JobError { code: "invalid_file_format", message, param: Some(param) }
}

fn shape_of(method: Method) -> &'static str {
    match method {
        Method::Dpo => "is not a preference pair (input.messages, preferred_output, non_preferred_output)",
        Method::Supervised => "is not a chat example (messages with an assistant message)",
        Method::Reinforcement => "has no messages",
    }
}

/// The texts an example trains on, if it has `method`'s shape.
fn example_texts(example: &Value, method: Method) -> Option<Vec<&str>> {
    let mut texts = Vec::new();
    match method {
        Method::Supervised => {
            let messages = example["messages"].as_array()?;
            if !messages.iter().any(|m| m["role"] == "assistant") {
                return None;
            }
            messages.iter().for_each(|m| message_texts(m, &mut texts));
        }
        Method::Dpo => {
            let (preferred, other) =
                (example["preferred_output"].as_array()?, example["non_preferred_output"].as_array()?);
            let input = example["input"]["messages"].as_array()?;
            input.iter().chain(preferred).chain(other).for_each(|m| message_texts(m, &mut texts));
        }
        Method::Reinforcement => example["messages"].as_array()?.iter().for_each(|m| message_texts(m, &mut texts)),
    }
    Some(texts)
}

/// A message's text: its string content or its text parts.
fn message_texts<'a>(message: &'a Value, out: &mut Vec<&'a str>) {
    match &message["content"] {
        Value::String(s) => out.push(s),
        Value::Array(parts) => out.extend(parts.iter().filter_map(|p| p["text"].as_str())),
        _ => {}
    }
}

/// `asked` with every `auto` resolved as OpenAI resolves it for `data`: 3 epochs, more for a
/// small file (up to 25, to see ~100 examples) and fewer for a large one (~25,000); a batch
/// of 0.2% of the examples (1..=256); a learning-rate multiplier of 1.8; DPO's beta 0.1.
pub fn resolve(asked: Hyperparameters, data: Dataset, method: Method) -> Hyperparameters {
    let n = data.examples.max(1);
    let epochs = if n * 3 < 100 {
        100u64.div_ceil(n).min(25)
    } else if n * 3 > 25_000 {
        (25_000 / n).max(1)
    } else {
        3
    };
    Hyperparameters {
        batch_size: Some(asked.batch_size.unwrap_or_else(|| (n * 2).div_ceil(1000).clamp(1, 256))),
        learning_rate_multiplier: Some(asked.learning_rate_multiplier.unwrap_or(1.8)),
        n_epochs: Some(asked.n_epochs.unwrap_or(epochs)),
        beta: (method == Method::Dpo).then(|| asked.beta.unwrap_or(0.1)),
    }
}

/// The step plan of `data` trained with `resolved` hyperparameters.
pub fn plan(data: Dataset, resolved: Hyperparameters) -> Training {
    let steps_per_epoch = data.examples.div_ceil(resolved.batch_size.unwrap_or(1).max(1)).max(1);
    Training {
        examples: data.examples,
        tokens_per_epoch: data.tokens,
        steps_per_epoch,
        total_steps: steps_per_epoch * resolved.n_epochs.unwrap_or(1).max(1),
        step: 0,
    }
}

/// The training loss at `step`: from a start that grows with the examples' length down
/// towards a floor that falls as the file grows, strictly decreasing.
pub fn train_loss(t: &Training, step: u64) -> f64 {
    let (start, floor) = loss_bounds(t);
    let progress = step as f64 / t.total_steps.max(1) as f64;
    round(floor + (start - floor) * (-3.0 * progress).exp())
}

/// Start and floor of the loss curve.
fn loss_bounds(t: &Training) -> (f64, f64) {
    let per_example = (t.tokens_per_epoch / t.examples.max(1)).max(1) as f64;
    let start = 1.5 + per_example.ln() / 4.0;
    let floor = 0.9 / (1.0 + (1.0 + t.tokens_per_epoch as f64).log10());
    (start, floor)
}

/// The share of tokens predicted right at `step`, rising as the loss falls.
pub fn train_accuracy(t: &Training, step: u64) -> f64 {
    let (start, _) = loss_bounds(t);
    round(1.0 - train_loss(t, step) / (2.0 * start))
}

/// The loss on the validation file: a little above the training loss.
fn valid_loss(t: &Training, step: u64) -> f64 {
    round(train_loss(t, step) * 1.08 + 0.01)
}

fn valid_accuracy(t: &Training, step: u64) -> f64 {
    round(train_accuracy(t, step) * 0.97)
}

fn round(x: f64) -> f64 {
    (x * 1e5).round() / 1e5
}

/// The step reached after slice `slice` of [`slices`].
pub fn step_after(t: &Training, slice: u64) -> u64 {
    t.total_steps * slice / slices(t)
}

/// How many slices the training runs in (one metrics event each).
pub fn slices(t: &Training) -> u64 {
    t.total_steps.clamp(1, MAX_METRIC_EVENTS)
}

/// A metrics event's `data` and message at `step`.
pub fn metrics_event(t: &Training, step: u64, validated: bool) -> (String, Value) {
    let loss = train_loss(t, step);
    let mut data = json!({
        "step": step,
        "train_loss": loss,
        "train_mean_token_accuracy": train_accuracy(t, step),
        "total_steps": t.total_steps,
    });
    let mut message = format!("Step {step}/{}: training loss={loss:.2}", t.total_steps);
    if validated {
        data["valid_loss"] = valid_loss(t, step).into();
        data["valid_mean_token_accuracy"] = valid_accuracy(t, step).into();
        message.push_str(&format!(", validation loss={:.2}", valid_loss(t, step)));
    }
    (message, data)
}

/// The steps ending the last epochs, where checkpoints are saved, between `from` (exclusive)
/// and `to` (inclusive).
pub fn checkpoint_steps(t: &Training, n_epochs: u64, from: u64, to: u64) -> impl Iterator<Item = u64> + use<> {
    let first = n_epochs.saturating_sub(CHECKPOINT_EPOCHS - 1).max(1);
    let per_epoch = t.steps_per_epoch;
    (first..=n_epochs).map(move |e| e * per_epoch).filter(move |s| *s > from && *s <= to)
}

/// A checkpoint's `metrics` at `step`.
pub fn checkpoint_metrics(t: &Training, step: u64, validated: bool) -> Value {
    let (valid, accuracy) = match validated {
        true => (Value::from(valid_loss(t, step)), Value::from(valid_accuracy(t, step))),
        false => (Value::Null, Value::Null),
    };
    json!({
        "step": step as f64,
        "train_loss": train_loss(t, step),
        "train_mean_token_accuracy": train_accuracy(t, step),
        "valid_loss": valid,
        "valid_mean_token_accuracy": accuracy,
        "full_valid_loss": valid,
        "full_valid_mean_token_accuracy": accuracy,
    })
}

/// The result file: OpenAI's `step_metrics.csv`, a row per step (validation columns empty
/// without a validation file).
pub fn results_csv(t: &Training, validated: bool) -> Vec<u8> {
    let mut csv = String::from("step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n");
    for step in 1..=t.total_steps {
        let (loss, accuracy) = (train_loss(t, step), train_accuracy(t, step));
        match validated {
            true => {
                csv.push_str(&format!("{step},{loss},{accuracy},{},{}\n", valid_loss(t, step), valid_accuracy(t, step)))
            }
            false => csv.push_str(&format!("{step},{loss},{accuracy},,\n")),
        }
    }
    csv.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat_file(n: usize, words: usize) -> Vec<u8> {
        let text = "hello ".repeat(words);
        let line = json!({"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": "ok"}]});
        format!("{line}\n").repeat(n).into_bytes()
    }

    #[test]
    fn a_file_counts_its_examples_and_real_tokens() {
        let enc = Encoding::Cl100kBase;
        let d = read_dataset(&chat_file(12, 4), Method::Supervised, enc, "training_file").unwrap();
        let per_line = enc.count(&"hello ".repeat(4)) + enc.count("ok");
        assert_eq!(d, Dataset { examples: 12, tokens: 12 * per_line as u64 });
        let e = read_dataset(&chat_file(3, 1), Method::Supervised, enc, "training_file").unwrap_err();
        assert_eq!((e.code, e.param), ("invalid_n_examples", Some("training_file")));
        assert!(e.message.contains("has 3 example(s)"), "{}", e.message);
        let e = read_dataset(&chat_file(12, 1), Method::Dpo, enc, "training_file").unwrap_err();
        assert_eq!(e.code, "invalid_file_format", "a chat file is no DPO file");
        let pair = json!({"input": {"messages": [{"role": "user", "content": "a b"}]},
            "preferred_output": [{"role": "assistant", "content": "yes"}],
            "non_preferred_output": [{"role": "assistant", "content": "no"}]});
        let dpo = format!("{pair}\n").repeat(10);
        let d = read_dataset(dpo.as_bytes(), Method::Dpo, enc, "training_file").unwrap();
        assert_eq!(d.tokens, 10 * (enc.count("a b") + enc.count("yes") + enc.count("no")) as u64);
    }

    #[test]
    fn autos_resolve_as_openai_and_explicit_values_stay() {
        let small = resolve(Hyperparameters::default(), Dataset { examples: 10, tokens: 100 }, Method::Supervised);
        assert_eq!((small.n_epochs, small.batch_size, small.beta), (Some(10), Some(1), None));
        let mid = resolve(Hyperparameters::default(), Dataset { examples: 2000, tokens: 1 }, Method::Dpo);
        assert_eq!((mid.n_epochs, mid.batch_size, mid.beta), (Some(3), Some(4), Some(0.1)));
        let big = resolve(Hyperparameters::default(), Dataset { examples: 20_000, tokens: 1 }, Method::Supervised);
        assert_eq!(big.n_epochs, Some(1));
        let asked = Hyperparameters { n_epochs: Some(2), batch_size: Some(3), ..Hyperparameters::default() };
        let r = resolve(asked, Dataset { examples: 10, tokens: 1 }, Method::Supervised);
        assert_eq!((r.n_epochs, r.batch_size, r.learning_rate_multiplier), (Some(2), Some(3), Some(1.8)));
        let t = plan(Dataset { examples: 10, tokens: 1 }, r);
        assert_eq!((t.steps_per_epoch, t.total_steps), (4, 8));
    }

    #[test]
    fn the_loss_falls_every_step_and_lower_for_a_bigger_file() {
        let t = plan(
            Dataset { examples: 50, tokens: 5000 },
            resolve(Hyperparameters::default(), Dataset { examples: 50, tokens: 5000 }, Method::Supervised),
        );
        let losses: Vec<f64> = (0..=t.total_steps).map(|s| train_loss(&t, s)).collect();
        assert!(losses.windows(2).all(|w| w[1] < w[0]), "{losses:?}");
        assert!((0..t.total_steps).all(|s| train_accuracy(&t, s + 1) > train_accuracy(&t, s)));
        let bigger = Training { tokens_per_epoch: 5_000_000, examples: 50_000, ..t };
        assert!(train_loss(&bigger, t.total_steps) < train_loss(&t, t.total_steps));
        let csv = String::from_utf8(results_csv(&t, false)).unwrap();
        assert_eq!(csv.lines().count() as u64, t.total_steps + 1);
        assert!(csv.lines().nth(1).unwrap().starts_with(&format!("1,{}", train_loss(&t, 1))));
    }

    #[test]
    fn slices_and_checkpoints_cover_the_last_epochs() {
        let t = Training { examples: 10, tokens_per_epoch: 100, steps_per_epoch: 10, total_steps: 50, step: 0 };
        assert_eq!(slices(&t), MAX_METRIC_EVENTS);
        assert_eq!((step_after(&t, 1), step_after(&t, slices(&t))), (5, 50));
        assert_eq!(checkpoint_steps(&t, 5, 0, 50).collect::<Vec<_>>(), [30, 40, 50]);
        assert_eq!(checkpoint_steps(&t, 5, 30, 45).collect::<Vec<_>>(), [40]);
        let one = Training { total_steps: 3, steps_per_epoch: 3, ..t };
        assert_eq!((slices(&one), checkpoint_steps(&one, 1, 0, 3).collect::<Vec<_>>()), (3, vec![3]));
    }
}
