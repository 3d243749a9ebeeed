//! Preference pairs from scored responses of one prompt: the paper's random disjoint pairs by
//! score gap, and DivPO's pair by deviation within the top and bottom quartiles.

use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// One preference pair: indices into the prompt's responses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pair {
    pub chosen: usize,
    pub rejected: usize,
}

/// A uniform index below `n` (n > 0), from 64 random bits.
fn below(rng: &mut impl RngCore, n: usize) -> usize {
    ((rng.next_u64() as u128 * n as u128) >> 64) as usize
}

/// The paper's pairs: with the responses sorted by score, repeatedly draw (seeded) a random
/// pair of still-unused responses whose scores differ by at least `gap`, falling back to any
/// pair with different scores when none does; the higher score is chosen. Pairs are disjoint.
pub fn score_pairs(scores: &[f64], gap: f64, seed: u64) -> Vec<Pair> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let mut free = vec![true; scores.len()];
    let mut pairs = Vec::new();
    loop {
        let candidates = |min_gap: f64| -> Vec<(usize, usize)> {
            let mut out = Vec::new();
            for (x, &i) in order.iter().enumerate() {
                for &j in &order[x + 1..] {
                    let diff = scores[i] - scores[j];
                    if free[i] && free[j] && diff > 0.0 && diff >= min_gap {
                        out.push((i, j));
                    }
                }
            }
            out
        };
        let mut options = candidates(gap);
        if options.is_empty() {
            options = candidates(0.0);
        }
        if options.is_empty() {
            return pairs;
        }
        let (chosen, rejected) = options[below(&mut rng, options.len())];
        free[chosen] = false;
        free[rejected] = false;
        pairs.push(Pair { chosen, rejected });
    }
}

/// DivPO's pair: chosen = the most deviating response of the top quartile by score, rejected =
/// the least deviating of the bottom quartile (quartile = ⌈N/4⌉ responses). `None` when they
/// coincide or score the same.
pub fn divpo_pair(scores: &[f64], deviation: &[f64]) -> Option<Pair> {
    let n = scores.len();
    if n < 2 || deviation.len() != n {
        return None;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    let quartile = n.div_ceil(4);
    let chosen = *order[..quartile].iter().max_by(|&&a, &&b| deviation[a].total_cmp(&deviation[b]).then(b.cmp(&a)))?;
    let rejected = *order[n - quartile..].iter().min_by(|&&a, &&b| deviation[a].total_cmp(&deviation[b]).then(a.cmp(&b)))?;
    (chosen != rejected && scores[chosen] > scores[rejected]).then_some(Pair { chosen, rejected })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_disjoint_ordered_and_respect_the_gap() {
        let scores = [5.0, 1.0, 4.0, 2.0, 3.0, 5.0, 1.0];
        for seed in 0..50 {
            let pairs = score_pairs(&scores, 2.0, seed);
            let mut used = std::collections::HashSet::new();
            for p in &pairs {
                assert!(scores[p.chosen] > scores[p.rejected], "{p:?}");
                assert!(used.insert(p.chosen) && used.insert(p.rejected), "not disjoint: {pairs:?}");
            }
            // 7 responses: at most 3 pairs, and the first draw always meets the gap.
            assert!(!pairs.is_empty() && pairs.len() <= 3);
            assert!(scores[pairs[0].chosen] - scores[pairs[0].rejected] >= 2.0);
        }
    }

    #[test]
    fn pairs_are_seeded() {
        let scores = [5.0, 1.0, 4.0, 2.0, 3.0, 5.0, 1.0, 2.5];
        assert_eq!(score_pairs(&scores, 1.0, 9), score_pairs(&scores, 1.0, 9));
        let distinct: std::collections::HashSet<_> = (0..20).map(|s| format!("{:?}", score_pairs(&scores, 1.0, s))).collect();
        assert!(distinct.len() > 1, "every seed gave the same pairs");
    }

    #[test]
    fn falls_back_to_any_score_difference_and_stops_on_ties() {
        // No pair reaches a gap of 10: the fallback pairs different scores.
        let pairs = score_pairs(&[3.0, 2.0, 1.0], 10.0, 0);
        assert_eq!(pairs.len(), 1);
        assert!(score_pairs(&[2.0, 2.0, 2.0], 0.5, 0).is_empty());
    }

    #[test]
    fn divpo_takes_the_deviating_top_and_the_typical_bottom() {
        // Top quartile (2 of 8) by score: 0 and 3; 3 deviates more. Bottom: 6 and 7; 7 deviates less.
        let scores = [9.0, 5.0, 5.0, 8.0, 4.0, 4.0, 1.0, 2.0];
        let deviation = [0.2, 0.9, 0.9, 0.6, 0.1, 0.1, 0.5, 0.3];
        assert_eq!(divpo_pair(&scores, &deviation), Some(Pair { chosen: 3, rejected: 7 }));
        assert_eq!(divpo_pair(&[1.0, 1.0], &[0.1, 0.2]), None);
    }
}
