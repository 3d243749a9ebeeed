//! `deviate embed` and the model-backed kinds of `deviate deviation` (needs `make models`).

mod cli_support;

use std::process::Output;

use cli_support::{floats, json_lines};

fn deviate(args: &[&str], stdin: &str) -> Output {
    let output = cli_support::deviate(args, stdin);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output
}


#[test]
fn embed_writes_unit_vectors_and_flags_truncation() {
    let long = "word ".repeat(400);
    let out = json_lines(&deviate(&["embed"], &format!("A cat sat on the mat.\n{long}\n")));
    assert_eq!(out.len(), 2);
    assert_eq!(out[0]["text"], "A cat sat on the mat.");
    let e = floats(&out[0]["embedding"]);
    assert_eq!(e.len(), 384);
    assert!((e.iter().map(|x| x * x).sum::<f64>() - 1.0).abs() < 1e-5);
    assert!(out[0].get("truncated").is_none());
    assert_eq!(out[1]["truncated"], true);
}

#[test]
fn semantic_style_and_both_kinds() {
    let record = r#"{"prompt":"p","responses":["A cat sat on the mat.","A kitten was sitting on a rug.","The stock market fell sharply today."]}"#;
    let semantic = json_lines(&deviate(&["deviation", "--similarity", "semantic"], &format!("{record}\n")));
    let d = floats(&semantic[0]["deviation"]);
    assert!(d[2] > d[0] && d[2] > d[1], "the off-topic sentence deviates most: {d:?}");
    let w = floats(&semantic[0]["weight"]);
    assert!((w.iter().sum::<f64>() - 3.0).abs() < 1e-9);
    assert_eq!(w.iter().filter(|x| **x == 0.0).count(), 1, "the least deviating gets 0: {w:?}");

    for kind in ["style", "both"] {
        let out = json_lines(&deviate(&["deviation", "--similarity", kind], &format!("{record}\n")));
        let w = floats(&out[0]["weight"]);
        assert_eq!(w.len(), 3, "{kind}");
        assert!(w.iter().all(|x| x.is_finite() && *x >= 0.0), "{kind}: {w:?}");
    }
}
