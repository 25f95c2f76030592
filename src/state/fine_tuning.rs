//! Fine-tuning: OpenAI's `fine_tuning.job` with its events and checkpoints, and the `ft:` models
//! jobs produce (served by the generation endpoints, listed in `/v1/models`, deletable).

use std::sync::Arc;

use serde_json::{Value, json};

use super::store::Object;
use crate::openai::models::ModelInfo;

/// The organization that owns every job (`organization_id`).
pub const ORGANIZATION_ID: &str = "org-fakeai";

/// The organization's name as `ft:` model ids carry it.
pub const ORGANIZATION_NAME: &str = "fakeai";

/// Where a job stands (OpenAI's six statuses; a paused job shows `queued`, the SDK knowing no other).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum JobStatus {
    /// The training and validation files are being checked.
    ValidatingFiles,
    /// Waiting to train (or paused).
    Queued,
    /// Training.
    Running,
    /// Done: the model is served.
    Succeeded,
    /// Refused (see `error`).
    Failed,
    /// Cancelled.
    Cancelled,
}

impl JobStatus {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::ValidatingFiles => "validating_files",
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }

    /// No further change will happen.
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed | JobStatus::Cancelled)
    }
}

/// The fine-tuning method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Method {
    /// Supervised fine-tuning on chat examples.
    Supervised,
    /// Direct preference optimization on preference pairs.
    Dpo,
    /// Reinforcement fine-tuning with a grader.
    Reinforcement,
}

impl Method {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Supervised => "supervised",
            Method::Dpo => "dpo",
            Method::Reinforcement => "reinforcement",
        }
    }

    /// The method named `name`.
    pub fn named(name: &str) -> Option<Method> {
        [Method::Supervised, Method::Dpo, Method::Reinforcement].into_iter().find(|m| m.as_str() == name)
    }
}

/// Hyperparameters as asked (`None`: `auto`) or, once the files are read, as resolved.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Hyperparameters {
    /// Examples per step.
    pub batch_size: Option<u64>,
    /// Learning rate scale.
    pub learning_rate_multiplier: Option<f64>,
    /// Passes over the training file.
    pub n_epochs: Option<u64>,
    /// DPO's penalty weight.
    pub beta: Option<f64>,
}

impl Hyperparameters {
    /// The three every method shares, `"auto"` where unresolved.
    fn common_json(&self) -> serde_json::Map<String, Value> {
        let auto = |v: Option<Value>| v.unwrap_or_else(|| "auto".into());
        let mut out = serde_json::Map::new();
        out.insert("batch_size".into(), auto(self.batch_size.map(Value::from)));
        out.insert("learning_rate_multiplier".into(), auto(self.learning_rate_multiplier.map(Value::from)));
        out.insert("n_epochs".into(), auto(self.n_epochs.map(Value::from)));
        out
    }
}

/// Why a job failed: `error` on the job.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JobError {
    /// Machine-readable code (`invalid_n_examples`, `invalid_training_file`, …).
    #[serde(deserialize_with = "crate::state::persist::codec::interned")]
    pub code: crate::state::persist::codec::Interned,
    /// What is wrong.
    pub message: String,
    /// The parameter at fault.
    #[serde(deserialize_with = "crate::state::persist::codec::interned_opt")]
    pub param: Option<crate::state::persist::codec::Interned>,
}

/// One `fine_tuning.job.event`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Event {
    /// `ftevent-…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// `info`, `warn` or `error`.
    #[serde(deserialize_with = "crate::state::persist::codec::interned")]
    pub level: crate::state::persist::codec::Interned,
    /// What happened.
    pub message: String,
    /// Metrics (`step`, `train_loss`, …) of a `metrics` event.
    pub data: Option<Value>,
}

impl Event {
    /// OpenAI's `fine_tuning.job.event` object.
    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "fine_tuning.job.event",
            "created_at": self.created_at,
            "level": self.level,
            "message": self.message,
            "data": self.data.clone().unwrap_or_else(|| json!({})),
            "type": if self.data.is_some() { "metrics" } else { "message" },
        })
    }
}

/// One `fine_tuning.job.checkpoint`: a model saved at the end of an epoch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    /// `ftckpt_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The checkpoint's model, `ft:…:ckpt-step-N`.
    pub model: String,
    /// The step it was saved at.
    pub step: u64,
    /// Its metrics (`train_loss`, `valid_loss`, …).
    pub metrics: Value,
}

impl Checkpoint {
    /// OpenAI's `fine_tuning.job.checkpoint` object of job `job_id`.
    pub fn to_json(&self, job_id: &str) -> Value {
        json!({
            "id": self.id,
            "object": "fine_tuning.job.checkpoint",
            "created_at": self.created_at,
            "fine_tuned_model_checkpoint": self.model,
            "fine_tuning_job_id": job_id,
            "metrics": self.metrics,
            "step_number": self.step,
        })
    }
}

/// What the training file holds, read once the job is validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Training {
    /// Examples in the training file.
    pub examples: u64,
    /// BPE tokens of one pass over it.
    pub tokens_per_epoch: u64,
    /// Optimizer steps in all.
    pub total_steps: u64,
    /// Steps per epoch.
    pub steps_per_epoch: u64,
    /// Steps done.
    pub step: u64,
}

/// One fine-tuning job.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Job {
    /// `ftjob-…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The base model as asked.
    pub model: String,
    /// The training file.
    pub training_file: String,
    /// The validation file.
    pub validation_file: Option<String>,
    /// The seed (given or drawn).
    pub seed: u64,
    /// The method.
    pub method: Method,
    /// The `method` object as sent (its hyperparameters are rendered from `hyperparameters`).
    pub method_body: Value,
    /// Hyperparameters as asked, then as resolved.
    pub hyperparameters: Hyperparameters,
    /// Integrations as sent (`null` if none).
    pub integrations: Option<Value>,
    /// Client metadata.
    pub metadata: Option<Value>,
    /// Where it stands.
    pub status: JobStatus,
    /// Held by `pause` until `resume`.
    pub paused: bool,
    /// The model it produces once it succeeds (`fine_tuned_model` only then).
    pub model_name: String,
    /// Tokens trained on, once it succeeded.
    pub trained_tokens: Option<u64>,
    /// Unix seconds it should be done by, while it is queued or running.
    pub estimated_finish: Option<u64>,
    /// When it reached a final status.
    pub finished_at: Option<u64>,
    /// Its result files.
    pub result_files: Vec<String>,
    /// Why it failed.
    pub error: Option<JobError>,
    /// Progress of the training.
    pub training: Training,
    /// Events, oldest first.
    pub events: Vec<Event>,
    /// Checkpoints, oldest first.
    pub checkpoints: Vec<Checkpoint>,
}

impl Object for Job {
    const KIND: &'static str = "FineTuningJob";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Job {
    /// The `fine_tuned_model` it names: its model once it succeeded.
    pub fn fine_tuned_model(&self) -> Option<&str> {
        (self.status == JobStatus::Succeeded).then_some(self.model_name.as_str())
    }

    /// The `method` object with its hyperparameters as they stand.
    fn method_json(&self) -> Value {
        let mut method = self.method_body.clone();
        let kind = self.method.as_str();
        method["type"] = kind.into();
        if !method[kind].is_object() {
            method[kind] = json!({});
        }
        let mut hyper = method[kind]["hyperparameters"].as_object().cloned().unwrap_or_default();
        hyper.extend(self.hyperparameters.common_json());
        if self.method == Method::Dpo {
            hyper.insert("beta".into(), self.hyperparameters.beta.map_or_else(|| "auto".into(), Value::from));
        }
        method[kind]["hyperparameters"] = Value::Object(hyper);
        method
    }

    /// OpenAI's `fine_tuning.job` object.
    pub fn to_json(&self) -> Value {
        let error = self.error.as_ref().map(|e| json!({"code": e.code, "message": e.message, "param": e.param}));
        json!({
            "id": self.id,
            "object": "fine_tuning.job",
            "created_at": self.created_at,
            "error": error,
            "fine_tuned_model": self.fine_tuned_model(),
            "finished_at": self.finished_at,
            "hyperparameters": Value::Object(self.hyperparameters.common_json()),
            "model": self.model,
            "organization_id": ORGANIZATION_ID,
            "result_files": self.result_files,
            "seed": self.seed,
            "status": self.status.as_str(),
            "trained_tokens": self.trained_tokens,
            "training_file": self.training_file,
            "validation_file": self.validation_file,
            "estimated_finish": self.estimated_finish,
            "integrations": self.integrations,
            "metadata": self.metadata,
            "method": self.method_json(),
        })
    }
}

/// A model a job produced (its final model or a checkpoint's), served until deleted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FineTunedModel {
    /// Unix seconds it was created.
    pub created: u64,
    /// The job that made it.
    pub job_id: String,
    /// Whether it is a checkpoint's (listed only through the job's checkpoints).
    pub checkpoint: bool,
    /// How it is served: its base model's properties under its own id.
    pub info: Arc<ModelInfo>,
}

impl Object for FineTunedModel {
    const KIND: &'static str = "Model";
    fn id(&self) -> &str {
        &self.info.id
    }
}

impl FineTunedModel {
    /// The model object `/v1/models` shows.
    pub fn to_json(&self) -> Value {
        let mut card = self.info.to_json();
        card["created"] = self.created.into();
        card
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(method: Method, method_body: Value) -> Job {
        Job {
            id: "ftjob-1".into(),
            created_at: 5,
            model: "gpt-4o-mini".into(),
            training_file: "file-1".into(),
            validation_file: None,
            seed: 7,
            method,
            method_body,
            hyperparameters: Hyperparameters { n_epochs: Some(2), ..Hyperparameters::default() },
            integrations: None,
            metadata: None,
            status: JobStatus::Running,
            paused: false,
            model_name: "ft:gpt-4o-mini:fakeai::abc".into(),
            trained_tokens: None,
            estimated_finish: Some(9),
            finished_at: None,
            result_files: Vec::new(),
            error: None,
            training: Training::default(),
            events: Vec::new(),
            checkpoints: Vec::new(),
        }
    }

    #[test]
    fn the_job_renders_autos_and_its_methods_hyperparameters() {
        let j = job(Method::Supervised, json!({"type": "supervised"})).to_json();
        assert_eq!(
            j["hyperparameters"],
            json!({"batch_size": "auto", "learning_rate_multiplier": "auto", "n_epochs": 2})
        );
        assert_eq!(j["method"]["supervised"]["hyperparameters"], j["hyperparameters"]);
        assert!(j["fine_tuned_model"].is_null(), "named only once it succeeded");
        let grader = json!({"type": "string_check", "name": "g", "input": "x", "reference": "y", "operation": "eq"});
        let body = json!({"type": "reinforcement", "reinforcement": {"grader": grader,
            "hyperparameters": {"reasoning_effort": "low"}}});
        let j = job(Method::Reinforcement, body).to_json();
        assert_eq!(j["method"]["reinforcement"]["grader"], grader);
        assert_eq!(j["method"]["reinforcement"]["hyperparameters"]["reasoning_effort"], "low");
        assert_eq!(j["method"]["reinforcement"]["hyperparameters"]["n_epochs"], 2);
        let j = job(Method::Dpo, json!({"type": "dpo"})).to_json();
        assert_eq!(j["method"]["dpo"]["hyperparameters"]["beta"], "auto");
    }
}
