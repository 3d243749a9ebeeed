//! `deviate export-trl` and `deviate train --link` (needs `make models`): the lesson link's lanes
//! as files for TRL — each lane's pairs are `deviate pairs`'s rows for its method and seed, its
//! `lane.json` carries the lesson's set-up, its adapters are the ones the lane starts from — and
//! `train --link … --lane K` takes the steps that the same settings given as options take, and
//! from the exported adapters the same steps again.

mod cli_support;

use std::path::Path;

use cli_support::{deviate, json_lines};
use deviate::engine::link::Experiment;
use deviate::engine::protocol::LESSON_LEARNING_RATE;
use serde_json::Value;

fn ok(args: &[&str]) -> std::process::Output {
    let output = deviate(args, "");
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn lines(text: &str) -> Vec<Value> {
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

#[test]
fn the_lesson_links_lanes_export_for_trl_with_the_cli_pairs() {
    let link = Experiment::lesson().encode();
    let out = std::env::temp_dir().join(format!("deviate-export-{}", std::process::id()));
    ok(&["export-trl", "--link", &link, "--out", out.to_str().unwrap()]);
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    let readme = read("README.md");
    for (lane, method) in [(1, "dpo"), (2, "ddpo")] {
        let dir = format!("lane-{lane}-{method}");
        let config: Value = serde_json::from_str(&read(&format!("{dir}/lane.json"))).unwrap();
        assert_eq!(config["method"], "ddpo", "DPO trains as DDPO with weights of 1");
        assert_eq!(config["learning_rate"].as_f64(), Some(LESSON_LEARNING_RATE), "the lesson's rate");
        assert_eq!((config["steps"].as_u64(), config["pairs_per_step"].as_u64(), config["seed"].as_u64()), (Some(6), Some(2), Some(0)));
        assert_eq!(config["pairs"], "pairs.jsonl");
        assert_eq!(config["adapters"], "adapters.safetensors");
        let exported = lines(&read(&format!("{dir}/pairs.jsonl")));
        let cli = lines(&String::from_utf8(ok(&["pairs", "--method", method, "--seed", "0"]).stdout).unwrap());
        assert_eq!(exported, cli, "{dir}: the pairs of `deviate pairs`");
        assert!(readme.contains(&format!("--config {dir}/lane.json")) && readme.contains(&format!("--lane {lane} --steps 6")), "{readme}");
    }
    assert!(lines(&read("lane-1-dpo/pairs.jsonl")).iter().all(|r| r["weight"] == 1.0));
    assert!(lines(&read("lane-2-ddpo/pairs.jsonl")).iter().any(|r| r["weight"] != 1.0));
    assert!(!Path::new(&out.join("data.json")).exists(), "the toy set is not copied");
    // The exported adapters are where the lane starts: loading them changes nothing.
    let start = out.join("lane-2-ddpo/adapters.safetensors");
    let fresh = json_lines(&ok(&["train", "--link", &link, "--lane", "2", "--steps", "2"]));
    let loaded = json_lines(&ok(&["train", "--link", &link, "--lane", "2", "--steps", "2", "--load", start.to_str().unwrap()]));
    assert_eq!(fresh, loaded);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn train_link_lane_is_the_same_run_as_its_options() {
    let link = Experiment::lesson().encode();
    let lr = LESSON_LEARNING_RATE.to_string();
    let by_link = json_lines(&ok(&["train", "--link", &link, "--lane", "2", "--steps", "2"]));
    let by_options = json_lines(&ok(&["train", "--method", "ddpo", "--pairs-per-step", "2", "--seed", "0", "--learning-rate", &lr, "--steps", "2"]));
    assert_eq!(by_link, by_options);
    assert!(by_link[1]["loss"] != by_link[0]["loss"]);
    let refused = deviate(&["train", "--link", &link, "--lane", "3", "--steps", "1"], "");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--lane 3: the link has 2 lane(s)"));
    let both = deviate(&["train", "--link", &link, "--lane", "1", "--method", "dpo"], "");
    assert!(!both.status.success(), "--link takes the method from the link");
}
