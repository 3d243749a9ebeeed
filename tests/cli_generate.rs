//! `deviate generate` (needs `make models`): JSONL per continuation, greedy = the reference ids,
//! the same seed gives the same texts, bad options are refused with a message.

mod cli_support;

use serde_json::Value;

fn generate(args: &[&str]) -> Vec<Value> {
    let mut all = vec!["generate"];
    all.extend(args);
    let output = cli_support::deviate(&all, "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn ids(line: &Value) -> Vec<u64> {
    line["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect()
}

#[test]
fn greedy_raw_reproduces_the_reference_ids() {
    let out = generate(&[
        "--prompt", "Once upon a time, there was a little", "--raw", "--temperature", "0", "--repetition-penalty", "1",
        "--n", "1", "--max-tokens", "20",
    ]);
    assert_eq!(out.len(), 1);
    let expected = [8180, 3365, 20391, 617, 5732, 288, 1238, 281, 260, 2388, 30, 2306, 736, 1129, 685, 288, 260, 10724, 284, 1238];
    assert_eq!(ids(&out[0]), expected);
    assert_eq!(out[0]["finish"], "length");
    assert_eq!(out[0]["text"], " girl named Emma who loved to play in the sun. She would often go to the beach and play");
}

#[test]
fn seeded_sampling_is_reproducible_and_seeds_differ() {
    let args = |seed: &'static str| ["--prompt", "A dragon who is afraid of fire", "--n", "3", "--max-tokens", "12", "--seed", seed];
    let a = generate(&args("5"));
    assert_eq!(a.len(), 3);
    assert_eq!(a, generate(&args("5")));
    assert_ne!(a, generate(&args("6")));
    // Three continuations of one prompt are not all the same text.
    assert!(a[0]["text"] != a[1]["text"] || a[1]["text"] != a[2]["text"]);
    for line in &a {
        assert!(!ids(line).is_empty() && ids(line).len() <= 12);
        assert!(["stop", "length"].contains(&line["finish"].as_str().unwrap()));
    }
}

#[test]
fn bad_options_are_refused_with_a_message() {
    for (args, message) in [
        (vec!["--prompt", "x", "--n", "0"], "n must be between 1 and 16"),
        (vec!["--prompt", "x", "--n", "17"], "n must be between 1 and 16"),
        (vec!["--prompt", "x", "--top-p", "1.5"], "top-p must be in (0, 1]"),
        (vec!["--prompt", "x", "--temperature=-1"], "temperature must be"),
        (vec!["--prompt", "   "], "the prompt is empty"),
        (vec!["--prompt", "x", "--max-tokens", "0"], "max tokens must be between"),
    ] {
        let mut all = vec!["generate"];
        all.extend(&args);
        let output = cli_support::deviate(&all, "");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(message), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?} wrote output");
    }
}
