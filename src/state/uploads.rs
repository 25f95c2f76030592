//! The Uploads API's objects: an upload, the parts it has received, and the file it became.

use std::sync::Arc;

use super::store::Object;

/// How long an upload accepts parts (OpenAI: an hour).
pub const UPLOAD_LIFETIME: u64 = 3600;

/// Largest upload OpenAI accepts (8 GB).
pub const MAX_UPLOAD_BYTES: u64 = 8_000_000_000;

/// One received part.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Part {
    /// `part_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// Its bytes.
    #[serde(with = "crate::state::persist::codec::bytes")]
    pub data: Arc<[u8]>,
}

/// Where an upload stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum UploadStatus {
    /// Accepting parts.
    Pending,
    /// Became a file.
    Completed,
    /// Cancelled by the client.
    Cancelled,
}

impl UploadStatus {
    /// OpenAI's name.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadStatus::Pending => "pending",
            UploadStatus::Completed => "completed",
            UploadStatus::Cancelled => "cancelled",
        }
    }
}

/// One upload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Upload {
    /// `upload_…`.
    pub id: String,
    /// Unix seconds.
    pub created_at: u64,
    /// The file's name.
    pub filename: String,
    /// The file's purpose.
    pub purpose: String,
    /// The MIME type declared.
    pub mime_type: String,
    /// The bytes announced.
    pub bytes: u64,
    /// Seconds the resulting file lives, if it expires.
    pub file_expires_after: Option<u64>,
    /// Where it stands.
    pub status: UploadStatus,
    /// Parts received, in arrival order (the completion names the order).
    pub parts: Vec<Part>,
    /// The `File` object it became (not the file itself: deleting the file frees its bytes).
    pub file: Option<serde_json::Value>,
}

impl Object for Upload {
    const KIND: &'static str = "Upload";
    fn id(&self) -> &str {
        &self.id
    }
    fn content_bytes(&self) -> u64 {
        self.parts.iter().map(|p| p.data.len() as u64).sum()
    }
    fn expires_at(&self) -> Option<u64> {
        Some(self.created_at + UPLOAD_LIFETIME)
    }
}

impl Upload {
    /// OpenAI's `Upload` object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "object": "upload",
            "bytes": self.bytes,
            "created_at": self.created_at,
            "expires_at": self.created_at + UPLOAD_LIFETIME,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": self.status.as_str(),
            "file": self.file,
        })
    }
}

impl Part {
    /// OpenAI's `UploadPart` object.
    pub fn to_json(&self, upload_id: &str) -> serde_json::Value {
        serde_json::json!({"id": self.id, "object": "upload.part", "created_at": self.created_at, "upload_id": upload_id})
    }
}
