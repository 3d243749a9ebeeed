//! The engine's burn Jaccard (Flex CPU backend) gives exactly the numbers of the pure core.

mod common;

use burn::tensor::Device;
use deviate::core::jaccard::jaccard_distances as core_jaccard;
use deviate::engine::similarity::jaccard_distances;

#[test]
fn flex_jaccard_equals_core_jaccard_exactly() {
    let texts = common::tricky_texts();
    let device = Device::flex();
    let engine = pollster::block_on(jaccard_distances(&device, &texts)).unwrap();
    let core = core_jaccard(&texts);
    assert_eq!(engine, core);
    // Spot-check values that follow from the definition.
    assert_eq!(engine.get(0, 7), 0.0, "identical texts");
    assert_eq!(engine.get(3, 4), 0.0, "two empty token sets have J = 1");
    assert_eq!(engine.get(0, 3), 1.0, "empty vs non-empty has J = 0");
}

#[test]
fn flex_jaccard_handles_no_tokens_at_all() {
    let device = Device::flex();
    let engine = pollster::block_on(jaccard_distances(&device, &["", "!!"])).unwrap();
    assert_eq!(engine, core_jaccard(&["", "!!"]));
    assert_eq!(engine.get(0, 1), 0.0);
}
