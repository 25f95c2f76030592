//! Retrieval for the Solido RAG endpoint: documents ranked by the cosine of their word and
//! trigram features with the query's (see [`super::features`]), deterministic, over a small
//! built-in corpus or the request's own documents.

use serde_json::{Value, json};

use super::features::Features;

/// One retrievable document.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// Its id.
    pub id: String,
    /// Its text.
    pub content: String,
    /// Where it comes from.
    pub source: String,
    /// Its metadata (filters match against it).
    pub metadata: Value,
}

/// The built-in corpus: Solido Design Environment (`family: Solido, tool: SDE`) snippets as
/// FakeAI returned them for its default filters, and a few general documents.
const CORPUS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "sde-001",
        "Solido",
        "SDE",
        "sde_user_guide.pdf",
        "Solido Design Environment runs variation-aware analysis of custom circuits: Monte Carlo, PVT corners and high-sigma verification from one setup.",
    ),
    (
        "sde-002",
        "Solido",
        "SDE",
        "sde_user_guide.pdf",
        "To start a PVT corner analysis in SDE, select the testbench, choose process corners, voltages and temperatures, then run the corner sweep.",
    ),
    (
        "sde-003",
        "Solido",
        "SDE",
        "sde_high_sigma.pdf",
        "High-Sigma Monte Carlo verifies bit cells and standard cells to six sigma with thousands of simulations instead of billions.",
    ),
    (
        "sde-004",
        "Solido",
        "SDE",
        "sde_release_notes.txt",
        "SDE release notes: faster statistical PVT, improved simulator license handling, and a new results table for measurement yield.",
    ),
    (
        "sde-005",
        "Solido",
        "SDE",
        "sde_faq.md",
        "Simulations in SDE are dispatched to the configured simulator (Spectre, HSPICE, AFS) through the job scheduler, locally or on a compute farm.",
    ),
    (
        "sde-006",
        "Solido",
        "SDE",
        "sde_faq.md",
        "Measurement yield in SDE reports the fraction of Monte Carlo samples that meet every specification, with confidence intervals.",
    ),
    (
        "gen-001",
        "General",
        "Docs",
        "inference_guide.md",
        "Time to first token measures how long a model takes to start answering; inter-token latency measures the gap between tokens.",
    ),
    (
        "gen-002",
        "General",
        "Docs",
        "inference_guide.md",
        "Retrieval-augmented generation answers a query from the documents a retriever ranks as most relevant to it.",
    ),
    (
        "gen-003",
        "General",
        "Docs",
        "serving.md",
        "Batching many requests together raises a GPU's throughput at the cost of some latency per request.",
    ),
];

/// The built-in corpus as documents.
pub fn builtin() -> Vec<Doc> {
    CORPUS
        .iter()
        .map(|(id, family, tool, source, content)| Doc {
            id: (*id).into(),
            content: (*content).into(),
            source: (*source).into(),
            metadata: json!({"family": family, "tool": tool}),
        })
        .collect()
}

/// Whether `doc`'s metadata has every key of `filters` with the same value (case-insensitive
/// for strings).
pub fn matches(doc: &Doc, filters: &serde_json::Map<String, Value>) -> bool {
    filters.iter().all(|(k, want)| match (&doc.metadata[k], want) {
        (Value::String(have), Value::String(want)) => have.eq_ignore_ascii_case(want),
        (have, want) => have == want,
    })
}

/// The `top_k` documents most similar to `query`, best first (ties by corpus order), with their scores.
pub fn rank<'a>(query: &str, docs: &'a [Doc], top_k: usize) -> Vec<(&'a Doc, f32)> {
    let q = Features::of_text(query);
    let mut scored: Vec<(usize, f32)> =
        docs.iter().enumerate().map(|(i, d)| (i, q.cosine(&Features::of_text(&d.content)))).collect();
    scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    scored.into_iter().take(top_k).map(|(i, s)| (&docs[i], s)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_by_shared_words_and_filters_by_metadata() {
        let docs = builtin();
        let top = rank("How do I run a PVT corner analysis?", &docs, 3);
        assert_eq!(top[0].0.id, "sde-002");
        assert!(top[0].1 > top[1].1 && top[1].1 >= top[2].1);
        let filters = json!({"family": "solido", "tool": "SDE"});
        let solido: Vec<Doc> = docs.iter().filter(|d| matches(d, filters.as_object().unwrap())).cloned().collect();
        assert_eq!(solido.len(), 6);
        assert_eq!(rank("time to first token", &docs, 1)[0].0.id, "gen-001");
        assert_eq!(rank("x", &docs, 100).len(), docs.len());
    }
}
