//! The Responses API's `file_search` tool as executed: the `file_search_call` output item with
//! its queries and (when included) results, and the `file_citation` annotations the answer
//! carries for the files it drew on.

use serde_json::{Value, json};

/// One executed file search, as the response reports it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FileSearch {
    /// The call item's id (`fs_…`).
    pub id: String,
    /// The queries searched for.
    pub queries: Vec<String>,
    /// The results in OpenAI's shape, best first, when `include` asks for them.
    pub results: Option<Vec<Value>>,
    /// The files found, best first, each once: (file id, filename).
    pub cited: Vec<(String, String)>,
}

impl FileSearch {
    /// The `file_search_call` item at `status` (results only once completed).
    pub fn item(&self, status: &str) -> Value {
        let results = match status {
            "completed" => self.results.as_ref().map_or(Value::Null, |r| Value::Array(r.clone())),
            _ => Value::Null,
        };
        json!({"id": self.id, "type": "file_search_call", "status": status, "queries": self.queries,
            "results": results})
    }

    /// The `file_citation` annotations of an answer `text`: one per file found, at its end
    /// (the index counts characters, as OpenAI's do).
    pub fn annotations(&self, text: &str) -> Vec<Value> {
        let index = text.chars().count();
        let cite = |(file_id, filename): &(String, String)| json!({"type": "file_citation", "file_id": file_id, "filename": filename, "index": index});
        self.cited.iter().map(cite).collect()
    }
}

/// One result in the shape of the SDK's `ResponseFileSearchToolCall.Result`.
pub fn result(file_id: &str, filename: &str, score: f32, attributes: &Value, text: &str) -> Value {
    json!({"file_id": file_id, "filename": filename, "score": score, "attributes": attributes, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search() -> FileSearch {
        FileSearch {
            id: "fs_1".into(),
            queries: vec!["tides".into()],
            results: Some(vec![result("file-a", "a.txt", 0.5, &json!({}), "moon")]),
            cited: vec![("file-a".into(), "a.txt".into()), ("file-b".into(), "b.txt".into())],
        }
    }

    #[test]
    fn results_come_with_the_completed_item_only() {
        let s = search();
        assert!(s.item("in_progress")["results"].is_null());
        assert_eq!(s.item("completed")["results"][0]["filename"], "a.txt");
        assert_eq!(s.item("completed")["queries"], json!(["tides"]));
        let without = FileSearch { results: None, ..search() };
        assert!(without.item("completed")["results"].is_null());
    }

    #[test]
    fn every_file_found_is_cited_at_the_end_of_the_answer() {
        let a = search().annotations("héllo");
        assert_eq!(a.len(), 2);
        assert_eq!((a[0]["index"].as_u64(), a[1]["file_id"].as_str()), (Some(5), Some("file-b")));
        assert_eq!(a[0]["type"], "file_citation");
    }
}
