//! Batches: OpenAI's `Batch` object, its lifecycle, counts and usage.

use super::store::Object;

/// How long a batch may take (the only window OpenAI offers).
pub const COMPLETION_WINDOW: &str = "24h";

/// The window in seconds.
pub const WINDOW_SECONDS: u64 = 24 * 3600;

/// Where a batch stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BatchStatus {
    /// Its input file is being checked.
    Validating,
    /// The input file was refused (see `errors`).
    Failed,
    /// Lines are running.
    InProgress,
    /// Output files are being written.
    Finalizing,
    /// Done.
    Completed,
    /// The window passed before every line ran.
    Expired,
    /// Cancel requested; the running line finishes.
    Cancelling,
    /// Cancelled.
    Cancelled,
}

impl BatchStatus {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            BatchStatus::Validating => "validating",
            BatchStatus::Failed => "failed",
            BatchStatus::InProgress => "in_progress",
            BatchStatus::Finalizing => "finalizing",
            BatchStatus::Completed => "completed",
            BatchStatus::Expired => "expired",
            BatchStatus::Cancelling => "cancelling",
            BatchStatus::Cancelled => "cancelled",
        }
    }

    /// No further change will happen.
    pub fn is_final(self) -> bool {
        matches!(self, BatchStatus::Failed | BatchStatus::Completed | BatchStatus::Expired | BatchStatus::Cancelled)
    }
}

/// One problem with a batch's input, as `errors.data` lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LineError {
    /// `invalid_json_line`, `duplicate_custom_id`, `url_mismatch`, `empty_file`, …
    #[serde(deserialize_with = "crate::state::persist::codec::interned")]
    pub code: crate::state::persist::codec::Interned,
    /// 1-based line in the input file, if the problem is one line's.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// The field at fault.
    #[serde(deserialize_with = "crate::state::persist::codec::interned_opt")]
    pub param: Option<crate::state::persist::codec::Interned>,
}

impl LineError {
    /// `errors.data[]`'s shape.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({"code": self.code, "line": self.line, "message": self.message, "param": self.param})
    }
}

/// Token usage summed over a batch's successful lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BatchUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Of which cached.
    pub cached_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Of which reasoning.
    pub reasoning_tokens: u64,
    /// Input plus output.
    pub total_tokens: u64,
}

impl BatchUsage {
    /// Adds one response body's `usage` (Chat/Completions' or Responses' names; embeddings
    /// have only prompt and total tokens).
    pub fn add(&mut self, usage: &serde_json::Value) {
        let n = |v: &serde_json::Value| v.as_u64().unwrap_or(0);
        let input = n(&usage["prompt_tokens"]) + n(&usage["input_tokens"]);
        let output = n(&usage["completion_tokens"]) + n(&usage["output_tokens"]);
        self.input_tokens += input;
        self.output_tokens += output;
        self.cached_tokens +=
            n(&usage["prompt_tokens_details"]["cached_tokens"]) + n(&usage["input_tokens_details"]["cached_tokens"]);
        self.reasoning_tokens += n(&usage["completion_tokens_details"]["reasoning_tokens"])
            + n(&usage["output_tokens_details"]["reasoning_tokens"]);
        self.total_tokens += usage["total_tokens"].as_u64().unwrap_or(input + output);
    }

    /// The batch's `usage` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "input_tokens": self.input_tokens,
            "input_tokens_details": {"cached_tokens": self.cached_tokens},
            "output_tokens": self.output_tokens,
            "output_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "total_tokens": self.total_tokens,
        })
    }
}

/// Lines by outcome.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RequestCounts {
    /// Lines in the input.
    pub total: u64,
    /// Answered with a 2xx.
    pub completed: u64,
    /// Answered with an error, or not run.
    pub failed: u64,
}

/// One batch.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Batch {
    /// `batch_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The endpoint every line calls.
    pub endpoint: String,
    /// The input file.
    pub input_file_id: String,
    /// Client metadata (up to 16 string pairs).
    pub metadata: Option<serde_json::Value>,
    /// The model the lines name (the first line's).
    pub model: Option<String>,
    /// Lifetime of the output and error files, if they expire.
    pub output_expires_after: Option<u64>,
    /// Where it stands.
    pub status: BatchStatus,
    /// Timestamps of each status reached.
    pub in_progress_at: Option<u64>,
    /// When finalizing began.
    pub finalizing_at: Option<u64>,
    /// When it completed.
    pub completed_at: Option<u64>,
    /// When validation failed.
    pub failed_at: Option<u64>,
    /// When it expired.
    pub expired_at: Option<u64>,
    /// When cancelling was asked.
    pub cancelling_at: Option<u64>,
    /// When it was cancelled.
    pub cancelled_at: Option<u64>,
    /// The successful lines' file.
    pub output_file_id: Option<String>,
    /// The failed lines' file.
    pub error_file_id: Option<String>,
    /// Why validation failed.
    pub errors: Vec<LineError>,
    /// Lines by outcome.
    pub counts: RequestCounts,
    /// Tokens used.
    pub usage: BatchUsage,
    /// Who its lines are billed to (its creator's key and project, at the batch discount).
    pub payer: std::sync::Arc<super::usage::Payer>,
}

impl Object for Batch {
    const KIND: &'static str = "Batch";
    fn id(&self) -> &str {
        &self.id
    }
}

impl Batch {
    /// A batch just created, validating.
    pub fn new(id: String, created_at: u64, endpoint: String, input_file_id: String) -> Batch {
        Batch {
            id,
            created_at,
            endpoint,
            input_file_id,
            metadata: None,
            model: None,
            output_expires_after: None,
            status: BatchStatus::Validating,
            in_progress_at: None,
            finalizing_at: None,
            completed_at: None,
            failed_at: None,
            expired_at: None,
            cancelling_at: None,
            cancelled_at: None,
            output_file_id: None,
            error_file_id: None,
            errors: Vec::new(),
            payer: super::usage::payer().in_batch(),
            counts: RequestCounts::default(),
            usage: BatchUsage::default(),
        }
    }

    /// When the completion window closes.
    pub fn expires_at(&self) -> u64 {
        self.created_at + WINDOW_SECONDS
    }

    /// OpenAI's `Batch` object.
    pub fn to_json(&self) -> serde_json::Value {
        let errors = (!self.errors.is_empty()).then(|| {
            serde_json::json!({"object": "list", "data": self.errors.iter().map(LineError::to_json).collect::<Vec<_>>()})
        });
        serde_json::json!({
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "model": self.model,
            "errors": errors,
            "input_file_id": self.input_file_id,
            "completion_window": COMPLETION_WINDOW,
            "status": self.status.as_str(),
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            "in_progress_at": self.in_progress_at,
            "expires_at": self.expires_at(),
            "finalizing_at": self.finalizing_at,
            "completed_at": self.completed_at,
            "failed_at": self.failed_at,
            "expired_at": self.expired_at,
            "cancelling_at": self.cancelling_at,
            "cancelled_at": self.cancelled_at,
            "request_counts": {
                "total": self.counts.total,
                "completed": self.counts.completed,
                "failed": self.counts.failed,
            },
            "usage": self.usage.to_json(),
            "metadata": self.metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_sums_every_endpoints_names() {
        let mut u = BatchUsage::default();
        u.add(&serde_json::json!({"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
            "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 2}}));
        u.add(&serde_json::json!({"input_tokens": 7, "output_tokens": 3, "total_tokens": 10,
            "input_tokens_details": {"cached_tokens": 1}, "output_tokens_details": {"reasoning_tokens": 1}}));
        u.add(&serde_json::json!({"prompt_tokens": 6, "total_tokens": 6}));
        let want =
            BatchUsage { input_tokens: 23, cached_tokens: 5, output_tokens: 8, reasoning_tokens: 3, total_tokens: 31 };
        assert_eq!(u, want);
    }
}
