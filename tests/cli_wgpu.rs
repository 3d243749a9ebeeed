//! `deviate --device wgpu` (needs `make models` and a wgpu adapter: a GPU, or Mesa's lavapipe
//! Vulkan, which `scripts/setup.sh test` installs): the GPU kernels give what Flex gives — the
//! reference's greedy ids for its prompt, the same Jaccard distances exactly and the same
//! semantic deviations within float noise. DEVIATE_SKIP_WGPU=1 skips them where no adapter exists.

mod cli_support;

use std::process::Output;

use cli_support::{floats, json_lines};
use serde_json::Value;

const REFERENCE: &str = include_str!("reference/smollm2_reference.json");

/// `deviate --device DEVICE ARGS`, which must succeed; `None` when wgpu is skipped.
fn deviate(device: &str, args: &[&str], stdin: &str) -> Option<Output> {
    let mut all = vec!["--device", device];
    all.extend(args);
    let output = cli_support::deviate(&all, stdin);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && stderr.contains("no GPU adapter") && std::env::var_os("DEVIATE_SKIP_WGPU").is_some() {
        eprintln!("skipping: {stderr}");
        return None;
    }
    assert!(output.status.success(), "--device {device}: {stderr}");
    Some(output)
}

#[test]
fn wgpu_greedy_ids_are_the_references() {
    let reference: Value = serde_json::from_str(REFERENCE).unwrap();
    let want: Vec<u64> = reference["greedy_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    let tokens = want.len().to_string();
    let prompt = reference["prompt"].as_str().unwrap();
    let args = ["generate", "--prompt", prompt, "--raw", "--temperature", "0", "--repetition-penalty", "1", "--n", "1", "--max-tokens", &tokens];
    let Some(output) = deviate("wgpu", &args, "") else { return };
    let out = json_lines(&output);
    let ids: Vec<u64> = out[0]["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap()).collect();
    assert_eq!(ids, want);
}

#[test]
fn wgpu_deviations_are_flexs() {
    let records = [
        r#"{"prompt":"p","responses":["A cat sat on the mat.","A kitten was sitting on a rug.","The stock market fell sharply today.","Cats, cats and more cats!"]}"#,
        r#"{"prompt":"q","responses":["The lighthouse went dark at midnight.","At midnight the lamp failed.","She baked bread for the village."]}"#,
    ]
    .join("\n");
    for (kind, tolerance) in [("jaccard", 0.0), ("semantic", 1e-4)] {
        let args = ["deviation", "--similarity", kind];
        let Some(gpu) = deviate("wgpu", &args, &records) else { return };
        let cpu = deviate("flex", &args, &records).unwrap();
        let (gpu, cpu) = (json_lines(&gpu), json_lines(&cpu));
        assert_eq!(gpu.len(), 2);
        for (g, c) in gpu.iter().zip(&cpu) {
            for field in ["deviation", "weight"] {
                for (x, y) in floats(&g[field]).iter().zip(floats(&c[field])) {
                    assert!((x - y).abs() <= tolerance, "{kind} {field}: wgpu {x} vs flex {y}");
                }
            }
        }
    }
}
