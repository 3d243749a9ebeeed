//! all-MiniLM-L6-v2 natively (Flex CPU backend) against tests/reference/minilm_reference.json
//! (a copy of ../shared/reference/, made by a plain numpy forward pass in float64):
//! token ids exactly, each embedding's cosine with the reference ≥ 0.99999, pairwise cosines
//! within 1e-4. Needs `make models`.

use burn::tensor::Device;
use deviate::engine::embed::Embedder;
use serde::Deserialize;

#[derive(Deserialize)]
struct Reference {
    sentences: Vec<String>,
    token_ids: Vec<Vec<u32>>,
    embeddings: Vec<Vec<f64>>,
    cosine: Vec<Vec<f64>>,
}

fn reference() -> Reference {
    serde_json::from_str(include_str!("reference/minilm_reference.json")).unwrap()
}

fn model_file(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("www/models").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()))
}

fn cosine(a: &[f64], b: &[f64]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let norm = |v: &[f64]| v.iter().map(|x| x * x).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn minilm_matches_the_numpy_reference() {
    let reference = reference();
    let device = Device::flex();
    let embedder = Embedder::from_bytes(model_file("model.safetensors"), &model_file("tokenizer.json"), &device).unwrap();

    for (sentence, ids) in reference.sentences.iter().zip(&reference.token_ids) {
        assert_eq!(&embedder.token_ids(sentence).unwrap(), ids, "token ids of {sentence:?}");
    }

    // One padded batch: the shorter sentences exercise the attention mask.
    let embedded = pollster::block_on(embedder.embed(&reference.sentences)).unwrap();
    assert!(embedded.truncated.iter().all(|t| !t));
    let ours: Vec<Vec<f64>> = embedded.vectors.iter().map(|v| v.iter().map(|&x| x as f64).collect()).collect();
    for (i, (got, want)) in ours.iter().zip(&reference.embeddings).enumerate() {
        assert_eq!(got.len(), 384);
        let c = cosine(got, want);
        eprintln!("sentence {i}: cosine with the reference 1 - {:.3e}", 1.0 - c);
        assert!(c >= 0.99999, "sentence {i}: cosine with the reference {c}");
    }
    for i in 0..3 {
        for j in 0..3 {
            let c = cosine(&ours[i], &ours[j]);
            eprintln!("cos({i},{j}) = {c:.7}, reference {:.7}", reference.cosine[i][j]);
            assert!((c - reference.cosine[i][j]).abs() <= 1e-4, "cos({i},{j}) = {c}, reference {}", reference.cosine[i][j]);
        }
    }
}

#[test]
fn many_texts_are_embedded_in_bounded_batches_in_order() {
    let device = Device::flex();
    let embedder = Embedder::from_bytes(model_file("model.safetensors"), &model_file("tokenizer.json"), &device).unwrap();
    let texts: Vec<String> = (0..40).map(|i| format!("Sentence number {i} is about {}.", ["cats", "ships", "rain"][i % 3])).collect();
    let all = pollster::block_on(embedder.embed(&texts)).unwrap();
    assert_eq!(all.vectors.len(), 40);
    for i in [0, 31, 32, 39] {
        let alone = pollster::block_on(embedder.embed(&texts[i..=i])).unwrap();
        let a: Vec<f64> = all.vectors[i].iter().map(|&x| x as f64).collect();
        let b: Vec<f64> = alone.vectors[0].iter().map(|&x| x as f64).collect();
        assert!(cosine(&a, &b) > 0.99999, "text {i} embedded in a batch differs from alone");
    }
}
