//! The `deviate deviation` contract: JSONL in, one JSONL line out per input line, errors
//! that name the line, and no lost output before a bad line.

mod cli_support;

use cli_support::{deviate, floats, json_lines};

#[test]
fn jaccard_deviation_and_weights_by_hand() {
    // Token sets {a,b,c}, {b,c,d}, {x}: D01 = 1 − 2/4 = 0.5, D02 = D12 = 1.
    let input = r#"{"prompt":"p1","responses":["a b c","B, c d","x"],"scores":[1,2,3]}"#;
    let output = deviate(&["deviation", "--similarity", "jaccard"], &format!("{input}\n"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let out = json_lines(&output);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0]["prompt"], "p1");
    assert_eq!(floats(&out[0]["deviation"]), vec![0.75, 0.75, 1.0]);
    // s = (−1, −1, 1), z = (0, 0, 1), mean z = 1/3: w = (0, 0, 3).
    assert_eq!(floats(&out[0]["weight"]), vec![0.0, 0.0, 3.0]);
}

#[test]
fn reads_a_file_and_keeps_order_and_skips_blank_lines() {
    let dir = std::env::temp_dir().join(format!("deviate-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.jsonl");
    std::fs::write(
        &path,
        "{\"prompt\":\"one\",\"responses\":[\"a\",\"a\"]}\n\n{\"prompt\":\"two\",\"responses\":[\"a b\",\"b c\",\"c d\",\"d e\"]}\n",
    )
    .unwrap();
    let output = deviate(&["deviation", "--similarity", "jaccard", "--input", path.to_str().unwrap()], "");
    assert!(output.status.success());
    let out = json_lines(&output);
    assert_eq!(out.iter().map(|v| v["prompt"].as_str().unwrap()).collect::<Vec<_>>(), ["one", "two"]);
    assert_eq!(floats(&out[0]["weight"]), vec![1.0, 1.0], "N = 2 gives weight 1");
    let w = floats(&out[1]["weight"]);
    assert!((w.iter().sum::<f64>() - 4.0).abs() < 1e-12, "weights sum to N: {w:?}");
}

#[test]
fn bad_lines_are_named_and_earlier_output_is_kept() {
    let good = r#"{"prompt":"ok","responses":["a","b"]}"#;
    for (bad, message) in [
        ("{not json", "line 2: invalid JSON"),
        (r#"{"prompt":"p","responses":["only one"]}"#, "line 2: needs at least 2 responses, got 1"),
        (r#"{"prompt":"p","responses":["a","b"],"scores":[1,2,3]}"#, "line 2: 2 responses but 3 scores"),
    ] {
        let output = deviate(&["deviation", "--similarity", "jaccard"], &format!("{good}\n{bad}\n{good}\n"));
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{stderr}");
        assert_eq!(json_lines(&output).len(), 1, "the good first line's output is kept");
    }
}

#[test]
fn a_missing_input_file_is_a_clear_error() {
    let output = deviate(&["deviation", "--similarity", "jaccard", "--input", "/no/such/file.jsonl"], "");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("cannot open /no/such/file.jsonl"));
}
