//! Stored files: OpenAI's `File` object and its exact bytes.

use std::sync::Arc;

use super::store::Object;

/// Purposes a client may upload a file for.
pub const UPLOAD_PURPOSES: &[&str] = &["assistants", "batch", "fine-tune", "vision", "user_data", "evals"];

/// A batch input file's default lifetime (OpenAI: 30 days).
pub const BATCH_FILE_LIFETIME: u64 = 30 * 24 * 3600;

/// One stored file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredFile {
    /// `file-…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The name it was uploaded under.
    pub filename: String,
    /// What it is for (`batch`, `batch_output`, `fine-tune`, …).
    pub purpose: String,
    /// When it expires, if ever.
    pub expires_at: Option<u64>,
    /// The exact bytes, served without a copy.
    #[serde(with = "crate::state::persist::codec::bytes")]
    pub content: Arc<[u8]>,
}

impl Object for StoredFile {
    const KIND: &'static str = "File";
    fn id(&self) -> &str {
        &self.id
    }
    fn content_bytes(&self) -> u64 {
        self.content.len() as u64
    }
    fn expires_at(&self) -> Option<u64> {
        self.expires_at
    }
}

impl StoredFile {
    /// OpenAI's `File` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": "file",
            "bytes": self.content.len(),
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
            "status_details": null,
        })
    }
}
