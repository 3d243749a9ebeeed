//! `deviate experiment` natively, a few steps of every method on the toy set (needs
//! `make models`): a summary row per evaluation, a JSON report with every step's TRL metrics,
//! and clear errors for a bad preference set or method.

mod cli_support;

use serde_json::Value;

#[test]
fn a_short_experiment_runs_every_method() {
    let out = std::env::temp_dir().join(format!("deviate-experiment-{}.json", std::process::id()));
    let output = cli_support::deviate(
        &[
            "experiment", "--steps", "2", "--eval-every", "2", "--pairs-per-step", "1", "--eval-prompts", "1", "--samples", "2",
            "--eval-tokens", "6", "--seed", "3", "--out", out.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let table = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("seed"), "{table}");
    let methods: Vec<&str> = rows[1..11].iter().map(|r| r.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(methods, ["dpo", "dpo", "ddpo", "ddpo", "orpo", "orpo", "dorpo", "dorpo", "divpo", "divpo"], "{table}");

    let full: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).ok();
    let report = &full["reports"][0];
    assert_eq!(report["seed"], 3);
    let steps = report["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 10, "2 steps × 5 methods");
    for s in steps {
        for key in ["loss", "rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"] {
            assert!(s[key].as_f64().is_some_and(f64::is_finite), "{key} in {s}");
        }
    }
    // DPO's first step compares the policy with itself: loss log 2, margin 0 (up to f32 rounding
    // of two summed log-probs, one through autodiff and one not).
    let first = &steps[0];
    assert_eq!(first["method"], "dpo");
    assert!((first["loss"].as_f64().unwrap() - std::f64::consts::LN_2).abs() < 1e-4, "{first}");
    assert!(first["rewards/margins"].as_f64().unwrap().abs() < 1e-4, "{first}");
    let evals = report["evals"].as_array().unwrap();
    assert_eq!(evals.len(), 6);
    for e in evals {
        for key in ["semantic_diversity", "jaccard_diversity", "reference_loglik", "relevance"] {
            assert!(e[key].as_f64().is_some_and(f64::is_finite), "{key} in {e}");
        }
        assert!(e["reference_loglik"].as_f64().unwrap() < 0.0);
    }
}

/// Two seeds of DPO and DDPO with the probe: every run row, and the paired DDPO − DPO rows.
#[test]
fn several_seeds_are_compared_by_paired_differences() {
    let out = std::env::temp_dir().join(format!("deviate-seeds-{}.json", std::process::id()));
    let output = cli_support::deviate(
        &[
            "experiment", "--methods", "dpo,ddpo", "--steps", "2", "--seeds", "0,1", "--probe-every", "2", "--pairs-per-step", "2",
            "--eval-prompts", "1", "--samples", "2", "--eval-tokens", "6", "--out", out.to_str().unwrap(),
        ],
        "",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let full: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).ok();
    assert_eq!(full["seeds"], serde_json::json!([0, 1]));
    let runs = full["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 2 * 2 * 2, "seeds × methods × steps 0 and 2: {runs:?}");
    for run in runs {
        for key in ["mechanism_slope", "rare_minus_common", "semantic_diversity", "jaccard_diversity", "reference_loglik", "relevance"] {
            assert!(run[key].as_f64().is_some_and(f64::is_finite), "{key} in {run}");
        }
        if run["step"] == 0 {
            assert_eq!(run["mechanism_slope"], 0.0, "the base model is its own reference: {run}");
        }
    }
    let paired = full["paired"].as_array().unwrap();
    let row = paired.iter().find(|p| p["metric"] == "mechanism_slope" && p["a"] == "ddpo" && p["b"] == "dpo").expect("DDPO − DPO slope");
    assert_eq!(row["n"], 2);
    let (lo, mean, hi) = (row["ci95"][0].as_f64().unwrap(), row["mean_diff"].as_f64().unwrap(), row["ci95"][1].as_f64().unwrap());
    assert!(lo <= mean && mean <= hi, "{row}");
    assert!(row["wins"].as_u64().unwrap() <= 2);
    assert_eq!(paired.len(), 6, "one row per metric: {paired:?}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.lines().last().unwrap().starts_with("DDPO − DPO relevance"), "{table}");
    assert!(table.contains("DDPO − DPO mechanism slope") && table.contains("of 2 seeds"), "{table}");
}

/// Reports of separate runs (other methods, other seeds) merge into one comparison.
#[test]
fn compare_merges_reports_of_separate_runs() {
    let dir = std::env::temp_dir();
    let row = |seed: u64, method: &str, step: u64, slope: f64| {
        serde_json::json!({"seed": seed, "method": method, "step": step, "mechanism_slope": slope, "rare_minus_common": slope / 10.0,
            "semantic_diversity": 0.7, "jaccard_diversity": 0.9, "reference_loglik": -3.0, "relevance": 0.4})
    };
    let report = |method: &str, slopes: [f64; 2]| {
        let runs: Vec<Value> = [0, 1].iter().flat_map(|&s| [row(s, method, 0, 0.0), row(s, method, 6, slopes[s as usize])]).collect();
        serde_json::json!({"config": {"methods": [method]}, "seeds": [0, 1], "runs": runs, "paired": [], "reports": []})
    };
    let [a, b, out] = ["dpo", "ddpo", "merged"].map(|n| dir.join(format!("deviate-compare-{n}-{}.json", std::process::id())));
    std::fs::write(&a, report("dpo", [0.1, 0.2]).to_string()).unwrap();
    std::fs::write(&b, report("ddpo", [0.4, 0.1]).to_string()).unwrap();
    let output = cli_support::deviate(&["compare", b.to_str().unwrap(), a.to_str().unwrap(), "--out", out.to_str().unwrap()], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let merged: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for f in [&a, &b, &out] {
        std::fs::remove_file(f).ok();
    }
    assert_eq!(merged["config"]["methods"], serde_json::json!(["dpo", "ddpo"]));
    assert_eq!(merged["runs"].as_array().unwrap().len(), 8);
    let slope = &merged["paired"][0];
    assert_eq!((slope["metric"].as_str(), slope["a"].as_str(), slope["b"].as_str()), (Some("mechanism_slope"), Some("ddpo"), Some("dpo")));
    assert!((slope["mean_diff"].as_f64().unwrap() - 0.1).abs() < 1e-12, "{slope}");
    assert_eq!((slope["wins"].as_u64(), slope["n"].as_u64()), (Some(1), Some(2)));
    assert!(String::from_utf8_lossy(&output.stdout).contains("DDPO − DPO mechanism slope +0.1000"));
    let missing = cli_support::deviate(&["compare", "/nonexistent/report.json"], "");
    assert!(!missing.status.success() && String::from_utf8_lossy(&missing.stderr).contains("cannot read"));
}

#[test]
fn bad_seed_lists_are_refused() {
    for (seeds, why) in [("1-x", "\"x\" is not a seed"), ("4-2", "runs backwards"), ("1,1", "listed twice"), ("", "is not a seed")] {
        let output = cli_support::deviate(&["experiment", "--seeds", seeds], "");
        assert!(!output.status.success(), "{seeds:?} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("--seeds") && stderr.contains(why), "{seeds:?}: {stderr}");
    }
    let output = cli_support::deviate(&["experiment", "--seeds", "0,1", "--seed", "3"], "");
    assert!(!output.status.success(), "--seed and --seeds together");
}

#[test]
fn bad_inputs_are_refused_with_a_message() {
    let bad = std::env::temp_dir().join(format!("deviate-bad-set-{}.json", std::process::id()));
    std::fs::write(&bad, r#"{"version": 2, "train": []}"#).unwrap();
    let output = cli_support::deviate(&["experiment", "--data", bad.to_str().unwrap()], "");
    std::fs::remove_file(&bad).ok();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("version 2 is not supported"));
    let output = cli_support::deviate(&["experiment", "--methods", "dpo,sft"], "");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("unknown method \"sft\""));
    // TRL rows carry no held-out prompts: nothing to evaluate, said before any training.
    let rows = std::env::temp_dir().join(format!("deviate-no-heldout-{}.jsonl", std::process::id()));
    std::fs::write(&rows, "{\"prompt\": \"p\", \"chosen\": \"a good one\", \"rejected\": \"a bad one\"}\n").unwrap();
    let output = cli_support::deviate(&["experiment", "--data", rows.to_str().unwrap()], "");
    std::fs::remove_file(&rows).ok();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no held-out prompt to evaluate"), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn pairs_export_as_trl_rows_and_import_back() {
    let output = cli_support::deviate(&["pairs", "--method", "ddpo"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let rows: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(rows.len() >= 24, "{} rows", rows.len());
    for row in &rows {
        assert_ne!(row["chosen"], row["rejected"]);
        assert!(row["weight"].as_f64().unwrap() >= 0.0 && row["deviation_chosen"].as_f64().is_some(), "{row}");
    }
    // DDPO weights differ between pairs; their mean over a prompt's responses is 1, so not all are 1.
    assert!(rows.iter().any(|r| (r["weight"].as_f64().unwrap() - 1.0).abs() > 0.05));

    let path = std::env::temp_dir().join(format!("deviate-trl-{}.jsonl", std::process::id()));
    std::fs::write(&path, &text).unwrap();
    let again = cli_support::deviate(&["pairs", "--method", "dpo", "--data", path.to_str().unwrap()], "");
    std::fs::remove_file(&path).ok();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let reimported: Vec<Value> = String::from_utf8_lossy(&again.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!reimported.is_empty());
    // Every re-imported pair keeps a preference the exported rows expressed.
    for row in &reimported {
        assert!(
            rows.iter().any(|r| r["prompt"] == row["prompt"] && r["chosen"] == row["chosen"]),
            "{row} prefers a response no exported row chose"
        );
        assert_eq!(row["weight"], 1.0);
    }
}
