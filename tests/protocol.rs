//! Every number crosses the worker boundary: events that hold any f64 (NaN, ±∞, subnormals,
//! −0 included) and any f32 embedding come back from their JSON with the same values, so one
//! non-finite number never costs the page a whole event.
#![cfg(not(target_arch = "wasm32"))]

use deviate::core::deviation::DistanceMatrix;
use deviate::core::mechanism::{Gain, Mechanism};
use deviate::core::similarity::SimilarityKind;
use deviate::engine::experiment::EvalPoint;
use deviate::engine::probe::ProbePoint;
use deviate::engine::protocol::{Event, PairView};
use deviate::engine::train::{Method, StepMetrics};
use proptest::prelude::*;

/// Events holding the 17 floats `x` and the embedding value `e`.
fn events(x: &[f64], e: f32) -> Vec<Event> {
    let metrics = StepMetrics {
        step: 1,
        loss: x[0],
        rewards_chosen: x[1],
        rewards_rejected: x[2],
        rewards_margins: x[3],
        rewards_accuracies: x[4],
        grad_norm: x[5],
        per_pair: vec![(x[6], x[7])],
    };
    let pair = PairView { prompt: "p".into(), chosen: "c".into(), rejected: "r".into(), weight: x[8], deviation_chosen: x[9] };
    let mechanism = Mechanism { slope: x[10], rare_gain: x[11], common_gain: x[12], rare_minus_common: x[13] };
    let gains = vec![Gain { prompt: 0, deviation: x[14], gain: x[15], score: x[16] }];
    let point = EvalPoint {
        method: Some(Method::Ddpo),
        step: 2,
        semantic_diversity: x[0],
        jaccard_diversity: x[1],
        reference_loglik: x[2],
        relevance: x[3],
        texts: vec!["t".into()],
    };
    vec![
        Event::TrainStep { id: 1, lane: 0, metrics, batch: vec![pair], millis: x[4] },
        Event::TrainProbe { id: 1, lane: Some(1), point: ProbePoint { method: None, step: 0, mechanism, gains }, millis: x[5] },
        Event::TrainEval { id: 1, lane: None, point, millis: x[6] },
        Event::TrainIdle { id: 1, steps: 3, paused: false, memory_bytes: x[7] },
        Event::Analysis {
            id: 2,
            similarity: SimilarityKind::Semantic,
            distances: DistanceMatrix::from_fn(2, |i, j| if i == j { 0.0 } else { x[8] }),
            deviation: vec![x[9], x[10]],
            weight: vec![x[11], x[12]],
            truncated: vec![],
            millis: x[13],
        },
        Event::Embeddings { id: 3, token_ids: vec![vec![1]], vectors: vec![vec![e, x[14] as f32]], truncated: vec![false] },
        Event::ModelReady { model: deviate::engine::protocol::ModelName::Lm, cached: true, millis: x[15], memory_bytes: x[16] },
    ]
}

/// Whether `a` and `b` are the same float: the same bits, or both NaN (JSON keeps no NaN payload).
fn same(a: f64, b: f64) -> bool {
    (a.is_nan() && b.is_nan()) || a.to_bits() == b.to_bits()
}

proptest! {
    #[test]
    fn events_round_trip_any_float(x in proptest::collection::vec(any::<f64>(), 17), e in any::<f32>()) {
        for event in events(&x, e) {
            let json = event.to_json();
            let back = Event::from_json(&json).map_err(|err| TestCaseError::fail(format!("{err}: {json}")))?;
            // Writing the event read back gives the same text: every float kept its bits.
            prop_assert_eq!(back.to_json(), json);
        }
        let Event::TrainStep { metrics, .. } = Event::from_json(&events(&x, e)[0].to_json()).unwrap() else { unreachable!() };
        prop_assert!(same(metrics.loss, x[0]) && same(metrics.per_pair[0].1, x[7]), "{:?} vs {:?}", metrics, &x[..8]);
        let Event::Embeddings { vectors, .. } = Event::from_json(&events(&x, e)[5].to_json()).unwrap() else { unreachable!() };
        prop_assert!(same(f64::from(vectors[0][0]), f64::from(e)));
    }
}

#[test]
fn edge_floats_round_trip() {
    let edges = [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 0.0, f64::MIN_POSITIVE / 3.0, f64::MAX, f64::MIN, 5e-324];
    let x: Vec<f64> = (0..17).map(|i| edges[i % edges.len()]).collect();
    for event in events(&x, f32::from_bits(1)) {
        let json = event.to_json();
        assert!(json.contains("\"NaN\"") || json.contains("inf") || !json.contains("null"), "{json}");
        assert_eq!(Event::from_json(&json).expect("reads back").to_json(), json);
    }
    let json = events(&x, 0.0)[0].to_json();
    assert!(json.contains(r#""loss":"NaN""#) && json.contains(r#""rewards/chosen":"inf""#) && json.contains(r#""rewards/rejected":"-inf""#), "{json}");
}
