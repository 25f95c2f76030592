//! Vector stores, the files attached to them (chunked and embedded when attached) and file
//! batches. A file's status is not stored but read off the clock: it is `in_progress` until its
//! `ready_at` (attach time + `--vector-store-processing-ms`, instant by default), then
//! `completed`, unless cancelled or failed first. So nothing runs in the background and every
//! count and status is consistent at each read.

use std::sync::Arc;

use serde_json::{Value, json};

use super::store::Object;

/// The embedding model whose vectors the chunks get: the same as `/v1/embeddings` returns for
/// a chunk's text with this model.
pub const EMBEDDING_MODEL: &str = "text-embedding-3-small";

/// A vector store.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VectorStore {
    /// `vs_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Its name (empty when none was given).
    pub name: String,
    /// The `metadata` object, if any.
    pub metadata: Option<Value>,
    /// `expires_after.days`, anchored at `last_active_at`.
    pub expires_after_days: Option<u64>,
    /// Last creation, file change or search (unix seconds).
    pub last_active_at: u64,
}

impl Object for VectorStore {
    const KIND: &'static str = "VectorStore";
    fn id(&self) -> &str {
        &self.id
    }
    fn expires_at(&self) -> Option<u64> {
        self.expires_after_days.map(|d| self.last_active_at + d * 86_400)
    }
}

/// Counts of files by status, as `file_counts` shows them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileCounts {
    /// Still being processed.
    pub in_progress: u64,
    /// Ready for search.
    pub completed: u64,
    /// Could not be processed.
    pub failed: u64,
    /// Cancelled before they were ready.
    pub cancelled: u64,
}

impl FileCounts {
    /// Counts `files` at `now_ms`.
    pub fn of<'a>(files: impl IntoIterator<Item = &'a VsFile>, now_ms: u64) -> FileCounts {
        let mut c = FileCounts::default();
        for f in files {
            match f.status(now_ms) {
                FileStatus::InProgress => c.in_progress += 1,
                FileStatus::Completed => c.completed += 1,
                FileStatus::Failed => c.failed += 1,
                FileStatus::Cancelled => c.cancelled += 1,
            }
        }
        c
    }

    /// OpenAI's `file_counts` object.
    pub fn to_json(self) -> Value {
        json!({
            "in_progress": self.in_progress,
            "completed": self.completed,
            "failed": self.failed,
            "cancelled": self.cancelled,
            "total": self.in_progress + self.completed + self.failed + self.cancelled,
        })
    }
}

impl VectorStore {
    /// OpenAI's `VectorStore` object, given its files' counts and bytes.
    pub fn to_json(&self, counts: FileCounts, usage_bytes: u64) -> Value {
        let status = if counts.in_progress > 0 { "in_progress" } else { "completed" };
        json!({
            "id": self.id,
            "object": "vector_store",
            "created_at": self.created_at,
            "name": self.name,
            "usage_bytes": usage_bytes,
            "file_counts": counts.to_json(),
            "status": status,
            "expires_after": self.expires_after_days.map(|d| json!({"anchor": "last_active_at", "days": d})),
            "expires_at": self.expires_at(),
            "last_active_at": self.last_active_at,
            "metadata": self.metadata.clone().unwrap_or_else(|| json!({})),
        })
    }
}

/// How a file is cut into chunks (OpenAI's `static` strategy; `auto` is 800 and 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Chunking {
    /// Most tokens in a chunk.
    pub max_tokens: usize,
    /// Tokens a chunk shares with the one before.
    pub overlap_tokens: usize,
}

impl Chunking {
    /// OpenAI's `auto` strategy.
    pub const AUTO: Chunking = Chunking { max_tokens: 800, overlap_tokens: 400 };

    /// The `chunking_strategy` object a file reports.
    pub fn to_json(self) -> Value {
        json!({"type": "static", "static": {
            "max_chunk_size_tokens": self.max_tokens, "chunk_overlap_tokens": self.overlap_tokens}})
    }
}

/// One chunk of a file and its embedding.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chunk {
    /// The chunk's text.
    pub text: String,
    /// Its unit-length embedding.
    pub vector: Vec<f32>,
}

/// Where a vector store file stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FileStatus {
    /// Being processed.
    InProgress,
    /// Searchable.
    Completed,
    /// Not processable (see `last_error`).
    Failed,
    /// Cancelled while in progress.
    Cancelled,
}

impl FileStatus {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::InProgress => "in_progress",
            FileStatus::Completed => "completed",
            FileStatus::Failed => "failed",
            FileStatus::Cancelled => "cancelled",
        }
    }

    /// The status named `s` (a list's `filter`).
    pub fn parse(s: &str) -> Option<FileStatus> {
        [FileStatus::InProgress, FileStatus::Completed, FileStatus::Failed, FileStatus::Cancelled]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
}

/// A file attached to a vector store. Its store key joins both ids, since one file may be in
/// several stores; its `id` on the wire is the file's.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VsFile {
    /// `{vector_store_id}/{file_id}`.
    pub key: String,
    /// The file's id.
    pub file_id: String,
    /// The store's id.
    pub vector_store_id: String,
    /// The file's name (kept for search results even if the file is deleted later).
    pub filename: String,
    /// Unix seconds.
    pub created_at: u64,
    /// When processing ends (unix milliseconds).
    pub ready_at_ms: u64,
    /// Cancelled before `ready_at_ms`.
    pub cancelled: bool,
    /// Why it failed, if it did: (`code`, `message`).
    #[serde(deserialize_with = "crate::state::persist::codec::interned_pair_opt")]
    pub error: Option<(crate::state::persist::codec::Interned, String)>,
    /// Its `attributes` object (strings, numbers, booleans).
    pub attributes: serde_json::Map<String, Value>,
    /// How it was chunked.
    pub chunking: Chunking,
    /// The text's bytes.
    pub usage_bytes: u64,
    /// The file's text, chunks and vectors (shared, never copied on update).
    pub chunks: Arc<[Chunk]>,
    /// Its whole text.
    pub text: Arc<str>,
    /// The file batch that added it, if any.
    pub batch_id: Option<String>,
}

impl Object for VsFile {
    const KIND: &'static str = "VectorStoreFile";
    fn id(&self) -> &str {
        &self.key
    }
}

impl VsFile {
    /// The store key of file `file_id` in store `vector_store_id`.
    pub fn key_of(vector_store_id: &str, file_id: &str) -> String {
        format!("{vector_store_id}/{file_id}")
    }

    /// Its status at `now_ms`.
    pub fn status(&self, now_ms: u64) -> FileStatus {
        match () {
            _ if self.error.is_some() => FileStatus::Failed,
            _ if self.cancelled => FileStatus::Cancelled,
            _ if now_ms < self.ready_at_ms => FileStatus::InProgress,
            _ => FileStatus::Completed,
        }
    }

    /// OpenAI's `VectorStoreFile` object at `now_ms`.
    pub fn to_json(&self, now_ms: u64) -> Value {
        let status = self.status(now_ms);
        json!({
            "id": self.file_id,
            "object": "vector_store.file",
            "created_at": self.created_at,
            "vector_store_id": self.vector_store_id,
            "status": status.as_str(),
            "usage_bytes": if status == FileStatus::Completed { self.usage_bytes } else { 0 },
            "last_error": self.error.as_ref().map(|(code, message)| json!({"code": code, "message": message})),
            "attributes": self.attributes,
            "chunking_strategy": self.chunking.to_json(),
        })
    }
}

/// A batch of files added to a vector store at once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileBatch {
    /// `vsfb_…`.
    pub id: String,
    /// The store's id.
    pub vector_store_id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Cancel was asked for.
    pub cancelled: bool,
}

impl Object for FileBatch {
    const KIND: &'static str = "VectorStoreFileBatch";
    fn id(&self) -> &str {
        &self.id
    }
}

impl FileBatch {
    /// OpenAI's `VectorStoreFileBatch` object given its files' counts.
    pub fn to_json(&self, counts: FileCounts) -> Value {
        let status = match () {
            _ if counts.in_progress > 0 => "in_progress",
            _ if self.cancelled => "cancelled",
            _ if counts.failed > 0 && counts.completed == 0 => "failed",
            _ => "completed",
        };
        json!({
            "id": self.id,
            "object": "vector_store.files_batch",
            "created_at": self.created_at,
            "vector_store_id": self.vector_store_id,
            "status": status,
            "file_counts": counts.to_json(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(ready_at_ms: u64) -> VsFile {
        VsFile {
            key: VsFile::key_of("vs_1", "file-1"),
            file_id: "file-1".into(),
            vector_store_id: "vs_1".into(),
            filename: "a.txt".into(),
            created_at: 1,
            ready_at_ms,
            cancelled: false,
            error: None,
            attributes: Default::default(),
            chunking: Chunking::AUTO,
            usage_bytes: 10,
            chunks: Arc::from(Vec::new()),
            text: Arc::from(""),
            batch_id: None,
        }
    }

    #[test]
    fn status_follows_the_clock_until_cancelled_or_failed() {
        let mut f = file(1000);
        assert_eq!(f.status(999), FileStatus::InProgress);
        assert_eq!(f.status(1000), FileStatus::Completed);
        assert_eq!(f.to_json(999)["usage_bytes"], 0, "bytes count once processed");
        f.cancelled = true;
        assert_eq!(f.status(999), FileStatus::Cancelled);
        f.error = Some(("unsupported_file", "not text".into()));
        assert_eq!(f.status(2000), FileStatus::Failed);
        let counts = FileCounts::of([&file(5), &file(50), &f], 10);
        assert_eq!(
            counts.to_json(),
            json!({"in_progress": 1, "completed": 1, "failed": 1, "cancelled": 0, "total": 3})
        );
    }
}
