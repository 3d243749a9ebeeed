//! Token-Jaccard similarity: a lexical similarity that needs no model.

use std::collections::BTreeSet;

use super::deviation::DistanceMatrix;

/// The token set of a text: the words obtained by splitting on every char that is not
/// alphanumeric (Unicode), each lowercased, empty strings dropped.
pub fn tokens(text: &str) -> BTreeSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|word| !word.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// J(A, B) = |A ∩ B| / |A ∪ B|, and 1 when both sets are empty, from the set sizes and the
/// size of their intersection.
pub fn jaccard_from_counts(size_a: usize, size_b: usize, intersection: usize) -> f64 {
    let union = size_a + size_b - intersection;
    if union == 0 { 1.0 } else { intersection as f64 / union as f64 }
}

/// J(A, B) of two token sets.
pub fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    jaccard_from_counts(a.len(), b.len(), a.intersection(b).count())
}

/// Jaccard distances D_ij = 1 − J(tokens(t_i), tokens(t_j)).
pub fn jaccard_distances<S: AsRef<str>>(texts: &[S]) -> DistanceMatrix {
    let sets: Vec<_> = texts.iter().map(|t| tokens(t.as_ref())).collect();
    DistanceMatrix::from_fn(sets.len(), |i, j| 1.0 - jaccard(&sets[i], &sets[j]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_split_on_non_alphanumerics_and_lowercase() {
        let t = tokens("The cat's HAT, the café—naïve 42x!");
        let want: BTreeSet<String> =
            ["the", "cat", "s", "hat", "café", "naïve", "42x"].iter().map(|s| s.to_string()).collect();
        assert_eq!(t, want);
        assert!(tokens(" ,.;!? ").is_empty());
    }

    #[test]
    fn jaccard_of_known_sets() {
        assert_eq!(jaccard(&tokens("a b c"), &tokens("b c d")), 0.5);
        assert_eq!(jaccard(&tokens("a"), &tokens("b")), 0.0);
        assert_eq!(jaccard(&tokens("Same words"), &tokens("words, same.")), 1.0);
        assert_eq!(jaccard(&tokens(""), &tokens("...")), 1.0);
        assert_eq!(jaccard(&tokens(""), &tokens("x")), 0.0);
    }

    #[test]
    fn jaccard_distance_matrix_is_symmetric_with_zero_diagonal() {
        let d = jaccard_distances(&["a b c", "b c d", "x"]);
        assert_eq!(d.len(), 3);
        assert_eq!(d.get(0, 1), 0.5);
        assert_eq!(d.get(1, 0), 0.5);
        assert_eq!(d.get(0, 2), 1.0);
        assert_eq!(d.get(1, 1), 0.0);
    }
}
