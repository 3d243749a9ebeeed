//! Shared inputs for the integration tests.

/// Texts that exercise the Jaccard tokeniser: repeats, case, punctuation, Unicode, empties.
pub fn tricky_texts() -> Vec<String> {
    [
        "The lighthouse keeper climbed the stairs at dusk.",
        "At dusk, the KEEPER climbed the lighthouse stairs!",
        "Ein Leuchtturmwärter stieg in der Dämmerung die Treppe hinauf.",
        "",
        "...",
        "naïve café, naïve CAFÉ",
        "42 gulls; 42 GULLS; forty-two gulls",
        "The lighthouse keeper climbed the stairs at dusk.",
        "日本語 の テキスト も 単語 に 分かれる",
    ]
    .into_iter()
    .map(String::from)
    .collect()
}
