//! Share links under attack: a million hostile tokens (mutations of real links and noise) never
//! make the decoder panic, and whatever it accepts is a usable experiment that round-trips; any
//! experiment round-trips through its link; the CLI encodes and decodes for scripts.

mod cli_support;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use deviate::core::dataset::{PreferenceSet, ScoredResponse, TrainPrompt};
use deviate::engine::link::{Experiment, LinkError, MAX_LINK_CHARS, Section};
use deviate::engine::train::Method;
use proptest::prelude::*;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

/// Hostile cases the decoder must survive (DEVIATE_FUZZ_CASES overrides).
const CASES: usize = 1_000_000;

fn corpus() -> Vec<String> {
    let mut changed = Experiment { prompt: "<img src=x onerror=\"window.pwned=1\"> a story".into(), ..Experiment::default() };
    changed.generate.sampling.seed = 7;
    changed.train.methods = vec![Method::Ddpo, Method::Dorpo, Method::Divpo];
    changed.hide = vec![Section::Model, Section::Heatmap];
    let mut with_data = Experiment::default();
    with_data.train.data = Some(PreferenceSet {
        version: 1,
        description: "rated".into(),
        train: vec![TrainPrompt {
            prompt: "A prompt".into(),
            responses: vec![ScoredResponse { text: "good".into(), score: 5.0 }, ScoredResponse { text: "bad".into(), score: 1.0 }],
        }],
        heldout: Vec::new(),
    });
    let pack = |json: &str| format!("1.{}", URL_SAFE_NO_PAD.encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6)));
    vec![
        Experiment::default().encode(),
        changed.encode(),
        with_data.encode(),
        pack(r#"{"generate":{"n":2,"temperature":0.5},"run_steps":3}"#),
        pack(r#"{"train":{"eval":{"every":0}},"panel":"training"}"#),
    ]
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/#x%{}\"";

/// One hostile token from `rng`: a real link cut, flipped, spliced or stretched, or noise.
fn hostile(rng: &mut ChaCha8Rng, corpus: &[String]) -> String {
    let pick = |rng: &mut ChaCha8Rng, n: usize| (rng.next_u64() % n as u64) as usize;
    let base = corpus[pick(rng, corpus.len())].clone().into_bytes();
    let mut bytes = base.clone();
    match rng.next_u32() % 8 {
        0 => bytes.truncate(pick(rng, bytes.len() + 1)),
        1 | 2 => {
            for _ in 0..1 + pick(rng, 4) {
                let i = pick(rng, bytes.len());
                bytes[i] = ALPHABET[pick(rng, ALPHABET.len())];
            }
        }
        3 => {
            let i = pick(rng, bytes.len());
            let other = corpus[pick(rng, corpus.len())].as_bytes();
            bytes.splice(i.., other[pick(rng, other.len())..].iter().copied());
        }
        4 => {
            let i = pick(rng, bytes.len());
            let junk: Vec<u8> = (0..pick(rng, 64)).map(|_| ALPHABET[pick(rng, ALPHABET.len())]).collect();
            bytes.splice(i..i, junk);
        }
        5 => {
            // Valid base64 of random bytes after a real version.
            let raw: Vec<u8> = (0..pick(rng, 96)).map(|_| rng.next_u32() as u8).collect();
            bytes = format!("{}.{}", pick(rng, 3), URL_SAFE_NO_PAD.encode(raw)).into_bytes();
        }
        6 => {
            // A valid deflate stream of a mangled experiment JSON.
            let mut json = serde_json::to_string(&Experiment::default()).unwrap().into_bytes();
            for _ in 0..1 + pick(rng, 3) {
                let i = pick(rng, json.len());
                json[i] = ALPHABET[pick(rng, ALPHABET.len())];
            }
            let packed = miniz_oxide::deflate::compress_to_vec(&json, 1);
            bytes = format!("1.{}", URL_SAFE_NO_PAD.encode(packed)).into_bytes();
        }
        _ => bytes = (0..pick(rng, 200)).map(|_| rng.next_u32() as u8).collect(),
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[test]
fn a_million_hostile_links_never_panic_and_what_is_accepted_is_usable() {
    let cases = std::env::var("DEVIATE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(CASES);
    let corpus = corpus();
    let mut rng = ChaCha8Rng::seed_from_u64(2025);
    let (mut accepted, mut refused) = (0usize, 0usize);
    let mut stages = std::collections::BTreeMap::<&str, usize>::new();
    for _ in 0..cases {
        let token = hostile(&mut rng, &corpus);
        match Experiment::decode(&token) {
            Ok(experiment) => {
                accepted += 1;
                assert_eq!(experiment.check(), Ok(()), "{token}");
                assert_eq!(Experiment::decode(&experiment.encode()).as_ref(), Ok(&experiment), "{token}");
            }
            Err(error) => {
                refused += 1;
                *stages.entry(stage(&error)).or_default() += 1;
            }
        }
    }
    eprintln!("{cases} hostile links: {accepted} accepted, {refused} refused: {stages:?}");
    // Every check of the decoder refuses some of them: the mutations reach each stage.
    for stage in ["no version", "future", "base64", "inflate", "json", "invalid"] {
        assert!(stages.get(stage).copied().unwrap_or(0) > 0, "no link was refused at {stage}: {stages:?}");
    }
    // Both outcomes happen, so the mutations reach past the first check.
    assert!(accepted > cases / 100 && refused > cases / 2, "{accepted} accepted, {refused} refused");
    assert!(Experiment::decode(&"A".repeat(MAX_LINK_CHARS + 1)).is_err());
}

/// Which check of [`Experiment::decode`] refused a link.
fn stage(error: &LinkError) -> &'static str {
    match error {
        LinkError::TooLong(_) => "too long",
        LinkError::NoVersion => "no version",
        LinkError::Future(_) => "future",
        LinkError::Base64 => "base64",
        LinkError::Inflate => "inflate",
        LinkError::Json(_) => "json",
        LinkError::Invalid(_) => "invalid",
    }
}

proptest! {
    // The default persistence replays tests/link.proptest-regressions (cases that once failed)
    // before any new case.
    #![proptest_config(ProptestConfig { cases: 2_000, ..ProptestConfig::default() })]
    #[test]
    fn any_experiment_round_trips_through_its_link(
        prompt in "\\PC{0,80}",
        responses in prop::collection::vec("[^\\n]{1,60}", 0..12),
        seed in any::<u64>(),
        temperature in 0.0f32..2.0,
        n in 1usize..=16,
        methods in prop::sample::subsequence(Method::ALL.to_vec(), 1..=5),
        beta in 0.01f64..1.0,
        run_steps in 1usize..=200,
        hide in prop::collection::vec(prop::sample::select(Section::ALL.to_vec()), 0..4),
    ) {
        let mut e = Experiment { prompt, responses: responses.join("\n"), ..Experiment::default() };
        e.generate.sampling.seed = seed;
        e.generate.sampling.temperature = temperature;
        e.generate.n = n;
        e.train.methods = methods;
        e.train.train.beta = beta;
        e.run_steps = run_steps;
        e.hide = hide;
        let link = e.encode();
        prop_assert!(link.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)), "{}", link);
        prop_assert_eq!(Experiment::decode(&link), Ok(e));
    }
}

#[test]
fn the_cli_encodes_and_decodes_links() {
    let out = cli_support::deviate(&["link", "encode", "--base", "http://localhost:8000/"], r#"{"generate":{"seed":9},"hide":["model"]}"#);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let address = String::from_utf8(out.stdout).unwrap();
    assert!(address.starts_with("http://localhost:8000/#x=2."), "{address}");
    let out = cli_support::deviate(&["link", "decode", address.trim()], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let decoded: Experiment = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(decoded.generate.sampling.seed, 9);
    assert_eq!(decoded.hide, [Section::Model]);
    assert_eq!(decoded.prompt, Experiment::default().prompt);

    let out = cli_support::deviate(&["link", "decode", "9.abc"], "");
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer Deviate"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = cli_support::deviate(&["link", "encode"], r#"{"run_steps":-3}"#);
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a usable experiment"));
    // 60 KB of incompressible responses is a valid experiment whose link would be too long: no
    // link is printed that `decode` would refuse.
    let mut x: u64 = 7;
    let noise: Vec<String> = (0..150)
        .map(|_| {
            (0..400)
                .map(|_| {
                    x = x * 48271 % 2_147_483_647;
                    char::from(b'a' + (x >> 16) as u8 % 26)
                })
                .collect()
        })
        .collect();
    let big = serde_json::json!({ "responses": noise.join("\n") }).to_string();
    let out = cli_support::deviate(&["link", "encode"], &big);
    assert!(!out.status.success() && out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot travel as a link") && stderr.contains("too long"), "{stderr}");
}
