//! The page's strip of published lesson seeds (www/data/lesson_seeds.json) holds what the
//! published report (docs/lesson-experiment/format-2/all.json) says: each seed's DDPO − DPO
//! probe slope at the lesson's last step, and the paired summary.

use serde_json::Value;

fn read(path: &str) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

#[test]
fn the_shipped_strip_is_the_published_report() {
    let report = read("docs/lesson-experiment/format-2/all.json");
    let strip = read("www/data/lesson_seeds.json");
    let step = report["config"]["steps"].as_u64().unwrap();
    assert_eq!(strip["step"].as_u64(), Some(step));
    assert_eq!(strip["learning_rate"], report["config"]["train"]["learning_rate"]);
    let slope = |seed: u64, method: &str| {
        let runs = report["runs"].as_array().unwrap();
        let run = runs.iter().find(|r| r["seed"].as_u64() == Some(seed) && r["method"] == method && r["step"].as_u64() == Some(step));
        run.and_then(|r| r["mechanism_slope"].as_f64()).unwrap_or_else(|| panic!("seed {seed} {method} step {step}"))
    };
    let seeds: Vec<u64> = report["seeds"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    let shipped = strip["seeds"].as_array().unwrap();
    assert_eq!(shipped.len(), seeds.len());
    for (row, &seed) in shipped.iter().zip(&seeds) {
        assert_eq!(row["seed"].as_u64(), Some(seed));
        assert_eq!(row["difference"].as_f64(), Some(slope(seed, "ddpo") - slope(seed, "dpo")), "seed {seed}");
    }
    let paired = report["paired"].as_array().unwrap().iter().find(|p| p["metric"] == "mechanism_slope" && p["a"] == "ddpo" && p["b"] == "dpo").unwrap();
    for key in ["mean_diff", "ci95", "wins", "n"] {
        assert_eq!(strip[key], paired[key], "{key}");
    }
}
