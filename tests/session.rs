//! The session analyses a training prompt (MiniLM over its responses) only when its probe or a
//! batch first reaches it, and the pairs it weighs then are the ones analysing every prompt
//! first gives. Real models: needs `make models`.

use std::collections::BTreeSet;

use burn::tensor::Device;
use deviate::core::dataset::PreferenceSet;
use deviate::engine::embed::Embedder;
use deviate::engine::experiment::{ExperimentConfig, PreparedPair, analyse, batch, prepare_pairs};
use deviate::engine::generate::LanguageModel;
use deviate::engine::probe;
use deviate::engine::session::{Models, Session, SessionEvent};
use deviate::engine::train::Method;

fn file(path: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}; run `make models` first", path.display()))
}

fn models(device: &Device) -> (LanguageModel, Embedder, PreferenceSet) {
    let lm = LanguageModel::from_gguf_bytes(&file("www/models/SmolLM2-135M-Instruct.Q4_1.gguf"), device).unwrap();
    let embedder = Embedder::from_bytes(file("www/models/model.safetensors"), &file("www/models/tokenizer.json"), device).unwrap();
    let set = PreferenceSet::from_json(&String::from_utf8(file("www/data/toy_prefs.json")).unwrap()).unwrap();
    (lm, embedder, set)
}

/// DPO and DDPO, 4 pairs a step, the probe on the first training prompt, no evaluation.
fn config() -> ExperimentConfig {
    ExperimentConfig {
        methods: vec![Method::Dpo, Method::Ddpo],
        seed: 5,
        pairs_per_step: 4,
        probe_every: 1,
        probe_prompts: 1,
        eval_every: 0,
        eval_prompts: 0,
        ..ExperimentConfig::default()
    }
}

#[test]
fn a_session_analyses_only_the_prompts_its_probe_and_batches_reach_and_weighs_as_if_it_had_all() {
    let device = Device::flex();
    let (lm, embedder, set) = models(&device);
    let m = Models { lm: &lm, embedder: &embedder, set: &set };
    let config = config();
    let everything = pollster::block_on(analyse(&embedder, &set, &config.weighting)).unwrap();
    let eager: Vec<Vec<PreparedPair>> =
        config.methods.iter().map(|&method| prepare_pairs(&lm, &set, &everything, method, &config).unwrap()).collect();

    let mut session = pollster::block_on(Session::new(m, &config, || {})).unwrap();
    let probed: BTreeSet<usize> = probe::select(&set, config.seed, 1).into_iter().map(|(p, _)| p).collect();
    assert_eq!(session.analysed_prompts(), probed.len(), "set-up analyses the probe's prompts only");

    session.run(1);
    let mut batches = Vec::new();
    while !session.is_idle() {
        pollster::block_on(session.advance(m, &mut |event| {
            if let SessionEvent::Step { batch, .. } = event {
                batches.push(batch);
            }
        }))
        .unwrap();
    }
    let first = batch(&eager[0], 1, config.pairs_per_step);
    let reached: BTreeSet<usize> = probed.iter().copied().chain(first.iter().map(|p| p.prompt)).collect();
    assert!(reached.len() > probed.len(), "the first batch reaches a prompt the probe did not: {reached:?}");
    assert_eq!(session.analysed_prompts(), reached.len(), "one step analyses its batch's prompts, no more");
    assert!(reached.len() < set.train.len());
    for (lane, got) in batches.iter().enumerate() {
        assert_eq!(got, &batch(&eager[lane], 1, config.pairs_per_step), "lane {lane}'s first batch, weighed");
    }

    for (lane, eager) in eager.iter().enumerate() {
        assert_eq!(&pollster::block_on(session.pairs(m, lane)).unwrap(), eager, "lane {lane}'s pairs for export");
    }
    assert_eq!(session.analysed_prompts(), set.train.len(), "exporting the pairs analyses the rest");
}

#[test]
fn divpo_needs_every_prompts_deviations_to_choose_its_pairs() {
    let device = Device::flex();
    let (lm, embedder, set) = models(&device);
    let m = Models { lm: &lm, embedder: &embedder, set: &set };
    let config = ExperimentConfig { methods: vec![Method::Divpo], ..config() };
    let mut session = pollster::block_on(Session::new(m, &config, || {})).unwrap();
    assert_eq!(session.analysed_prompts(), set.train.len());
    let everything = pollster::block_on(analyse(&embedder, &set, &config.weighting)).unwrap();
    let eager = prepare_pairs(&lm, &set, &everything, Method::Divpo, &config).unwrap();
    assert_eq!(session.lanes()[0].pair_count(), eager.len());
    assert_eq!(pollster::block_on(session.pairs(m, 0)).unwrap(), eager);
}

