//! The reference model's summed log-prob of each completion after its prompt, log π_ref(y | x),
//! kept by the sequence's token ids. The reference is the base model (adapters off), the same
//! for every method, so one session computes each sequence once and shares it: between its
//! lanes, which train on the same batches, and with its probe, whose good responses are most
//! of the chosen completions of the first steps' pairs.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A token sequence: (prompt ids, completion ids, the end token included).
pub type Sequence = (Vec<u32>, Vec<u32>);

/// log π_ref(y | x) by sequence; clones share one cache.
#[derive(Clone, Debug, Default)]
pub struct ReferenceLogps(Arc<Mutex<HashMap<Sequence, f32>>>);

impl ReferenceLogps {
    fn known(&self) -> MutexGuard<'_, HashMap<Sequence, f32>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records log π_ref(`completion` | `prompt`) = `sum`.
    pub fn insert(&self, prompt: &[u32], completion: &[u32], sum: f32) {
        self.known().insert((prompt.to_vec(), completion.to_vec()), sum);
    }

    /// The sequences of `wanted` not known yet, each once, in the order first met.
    pub fn missing<'a>(&self, wanted: impl IntoIterator<Item = (&'a [u32], &'a [u32])>) -> Vec<Sequence> {
        let known = self.known();
        let mut out: Vec<Sequence> = Vec::new();
        for (prompt, completion) in wanted {
            let new = !known.contains_key(&(prompt.to_vec(), completion.to_vec()))
                && !out.iter().any(|(p, c)| p == prompt && c == completion);
            if new {
                out.push((prompt.to_vec(), completion.to_vec()));
            }
        }
        out
    }

    /// log π_ref(`completion` | `prompt`), if known.
    pub fn get(&self, prompt: &[u32], completion: &[u32]) -> Option<f32> {
        self.known().get(&(prompt.to_vec(), completion.to_vec())).copied()
    }

    /// How many sequences are known.
    pub fn len(&self) -> usize {
        self.known().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_cache_and_a_sequence_is_missing_once() {
        let cache = ReferenceLogps::default();
        let other = cache.clone();
        other.insert(&[1, 2], &[3, 4], -1.5);
        assert_eq!(cache.get(&[1, 2], &[3, 4]), Some(-1.5));
        // Same completion after another prompt is another sequence.
        assert_eq!(cache.get(&[1], &[3, 4]), None);
        let wanted: [(&[u32], &[u32]); 4] = [(&[1, 2], &[3, 4]), (&[1, 2], &[5]), (&[1, 2], &[5]), (&[1], &[3, 4])];
        assert_eq!(cache.missing(wanted), vec![(vec![1, 2], vec![5]), (vec![1], vec![3, 4])]);
        assert_eq!(cache.len(), 1);
    }
}
