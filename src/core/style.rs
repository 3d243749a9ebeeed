//! A cheap style signal that needs no model: how a text is written rather than what it says.
//!
//! The profile of a text is a vector of
//! - the rate of each of [`FUNCTION_WORDS`] per word (what Burrows' Delta and most stylometry use),
//! - the rate of each of [`PUNCTUATION`] per word,
//! - mean sentence length in words / 25, mean word length in chars / 10, and the type-token ratio,
//!
//! and the style distance of two texts is 1 − the cosine of their profiles (1 − 1 = 0 for two
//! empty texts, 1 when only one is empty).

use super::deviation::DistanceMatrix;

/// Common English function words (articles, pronouns, prepositions, conjunctions, auxiliaries).
pub const FUNCTION_WORDS: [&str; 48] = [
    "the", "a", "an", "and", "but", "or", "so", "if", "then", "of", "to", "in", "on", "at", "by", "for",
    "with", "from", "as", "into", "i", "you", "he", "she", "it", "we", "they", "me", "him", "her", "them",
    "my", "his", "its", "their", "this", "that", "is", "was", "were", "be", "been", "had", "has", "have",
    "not", "no", "all",
];

/// Punctuation whose rate is part of the profile.
pub const PUNCTUATION: [char; 10] = [',', '.', ';', ':', '!', '?', '"', '\'', '-', '—'];

/// The style profile of `text` (see the module documentation).
pub fn profile(text: &str) -> Vec<f64> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .map(|w| w.trim_matches('\'').to_lowercase())
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = Vec::with_capacity(FUNCTION_WORDS.len() + PUNCTUATION.len() + 3);
    if words.is_empty() {
        out.resize(FUNCTION_WORDS.len() + PUNCTUATION.len() + 3, 0.0);
        return out;
    }
    let n = words.len() as f64;
    out.extend(FUNCTION_WORDS.iter().map(|f| words.iter().filter(|w| w == f).count() as f64 / n));
    out.extend(PUNCTUATION.iter().map(|p| text.chars().filter(|c| c == p).count() as f64 / n));
    let sentences = text.split(['.', '!', '?']).filter(|s| s.chars().any(char::is_alphanumeric)).count().max(1);
    out.push(n / sentences as f64 / 25.0);
    out.push(words.iter().map(|w| w.chars().count()).sum::<usize>() as f64 / n / 10.0);
    let mut distinct = words.clone();
    distinct.sort();
    distinct.dedup();
    out.push(distinct.len() as f64 / n);
    out
}

/// Style distances D_ij = 1 − cos(profile(t_i), profile(t_j)).
pub fn style_distances<S: AsRef<str>>(texts: &[S]) -> DistanceMatrix {
    let profiles: Vec<Vec<f64>> = texts.iter().map(|t| profile(t.as_ref())).collect();
    let norms: Vec<f64> = profiles.iter().map(|p| p.iter().map(|x| x * x).sum::<f64>().sqrt()).collect();
    DistanceMatrix::from_fn(profiles.len(), |i, j| match (norms[i] == 0.0, norms[j] == 0.0) {
        (true, true) => 0.0,
        (true, false) | (false, true) => 1.0,
        _ => 1.0 - profiles[i].iter().zip(&profiles[j]).map(|(a, b)| a * b).sum::<f64>() / (norms[i] * norms[j]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_counts_function_words_punctuation_and_lengths() {
        let p = profile("The cat sat. The dog ran!");
        let the = FUNCTION_WORDS.iter().position(|w| *w == "the").unwrap();
        assert_eq!(p[the], 2.0 / 6.0);
        let dot = FUNCTION_WORDS.len() + PUNCTUATION.iter().position(|c| *c == '.').unwrap();
        assert_eq!(p[dot], 1.0 / 6.0);
        let tail = &p[p.len() - 3..];
        assert_eq!(tail, &[3.0 / 25.0, 3.0 / 10.0, 5.0 / 6.0]);
    }

    #[test]
    fn same_style_is_closer_than_different_style() {
        let d = style_distances(&[
            "The cat sat on the mat, and the dog lay by the door.",
            "The owl sat on the roof, and the fox lay by the gate.",
            "Stop! Run!! Now?! Go; go; GO—quick!",
        ]);
        assert!(d.get(0, 1) < 0.05, "{}", d.get(0, 1));
        assert!(d.get(0, 2) > 0.3, "{}", d.get(0, 2));
    }

    #[test]
    fn empty_texts_have_defined_distances() {
        let d = style_distances(&["", "...", "Words here."]);
        assert_eq!(d.get(0, 1), 0.0);
        assert_eq!(d.get(0, 2), 1.0);
    }
}
