//! `deviate bench matmul --json`: every product of the list, its shape as stated, and a rate that
//! is a positive number (what the figures are is the benchmark's business, not a test's).

mod cli_support;

use cli_support::deviate;

#[test]
fn matmul_bench_reports_every_product() {
    let output = deviate(&["bench", "matmul", "--json", "--repeats", "1"], "");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let products = report["products"].as_array().unwrap();
    assert_eq!(products.len(), 9);
    let shape = |p: &serde_json::Value| ["m", "k", "n"].map(|d| p[d].as_u64().unwrap());
    assert_eq!(shape(&products[0]), [1, 576, 576], "decoding at batch 1: one row through q");
    assert_eq!(shape(&products[2]), [8, 576, 49152], "decoding at batch 8: the vocabulary head");
    assert_eq!(products.iter().filter(|p| p["transposed"] == true).count(), 1);
    for p in products {
        let rate = p["gflops"].as_f64().unwrap();
        assert!(rate.is_finite() && rate > 0.0, "{}: {rate}", p["name"]);
    }
}
