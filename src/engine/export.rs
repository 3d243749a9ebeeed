//! "Run this in TRL": a training session's lanes as the files examples/trl_ddpo.py trains on —
//! each lane's pairs (TRL preference JSONL with the deviation weights), its set-up as the
//! script's `--config` (JSON), and a README with the commands. Plain data in, file contents out:
//! the CLI (`deviate export-trl`) writes them to a folder, the page packs them for download.

use serde_json::json;

use crate::core::dataset::{PreferenceSet, TrlRow};
use crate::engine::experiment::PreparedPair;
use crate::engine::protocol::TrainSetup;
use crate::engine::train::{Clipping, Method};
use crate::model::lora::LoraInit;

/// The GGUF the page runs; the exported configs name it beside the export's folder.
pub use crate::engine::generate::GGUF_FILE as MODEL_FILE;

/// One exported file: its path inside the export and its bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct ExportFile {
    pub path: String,
    pub contents: Vec<u8>,
}

/// One lane to export: its place in the session (0-based), its method, its pairs in training
/// order, and its adapters (safetensors) where the caller has them.
pub struct LaneExport<'a> {
    pub index: usize,
    pub method: Method,
    pub pairs: &'a [PreparedPair],
    pub adapters: Option<Vec<u8>>,
}

/// The TRL trainer of examples/trl_ddpo.py that trains `method`: DDPO's for the DPO family (a
/// weight of 1 is plain DPO), DORPO's for the ORPO family.
pub fn trl_method(method: Method) -> &'static str {
    if method.odds_ratio() { "dorpo" } else { "ddpo" }
}

/// The rows `method` trains on, in training order (weight 1 for the unweighted methods), as
/// `deviate pairs` writes them.
pub fn trl_rows(set: &PreferenceSet, pairs: &[PreparedPair], method: Method) -> Vec<TrlRow> {
    pairs
        .iter()
        .map(|p| {
            let (prompt, chosen, rejected) = p.texts(set);
            let weight = if method.weighted() { p.weight } else { 1.0 };
            TrlRow { prompt, chosen, rejected, weight, deviation_chosen: p.deviation_chosen }
        })
        .collect()
}

/// The folder of lane `index` (0-based): `lane-1-dpo`.
pub fn lane_dir(index: usize, method: Method) -> String {
    format!("lane-{}-{}", index + 1, method.name())
}

/// A lane's `--config` for examples/trl_ddpo.py (keys are the script's options).
pub fn lane_config(setup: &TrainSetup, method: Method, steps: usize, adapters: bool) -> serde_json::Value {
    let t = &setup.train;
    let mut config = json!({
        "pairs": "pairs.jsonl",
        "model": format!("../{MODEL_FILE}"),
        "method": trl_method(method),
        "steps": steps,
        "pairs_per_step": setup.pairs_per_step,
        "learning_rate": t.learning_rate,
        "beta": t.beta,
        "lam": t.lambda,
        "seed": t.seed,
        "rank": t.lora.rank,
        "alpha": t.lora.alpha,
        "targets": t.lora.targets.iter().map(|x| x.name()).collect::<Vec<_>>(),
        "out": "trl-adapters",
    });
    if adapters {
        config["adapters"] = json!("adapters.safetensors");
    }
    config
}

/// Why TRL will not take the same steps as the page, if it will not: format-1 links train with
/// burn's optimiser settings, which TRL does not have.
fn differences(setup: &TrainSetup) -> Vec<&'static str> {
    let t = &setup.train;
    let mut out = Vec::new();
    if t.lora.init != LoraInit::KaimingUniform {
        out.push("LoRA's A is drawn from N(0, 1/r) here (peft draws U(−1/√in, 1/√in))");
    }
    if t.clipping != Clipping::Global {
        out.push("gradients are clipped per tensor here (TRL clips their global norm)");
    }
    if t.adam_epsilon != 1e-8 || t.adam_beta1 != 0.9 || t.adam_beta2 != 0.999 || t.weight_decay != 0.0 {
        out.push("AdamW's ε, β or weight decay differ from TRL's defaults (1e-8, 0.9/0.999, 0)");
    }
    out
}

/// The export's README: what each folder holds and the commands, `link` the experiment's address.
pub fn readme(setup: &TrainSetup, lanes: &[LaneExport], steps: usize, link: &str, own_data: bool) -> String {
    let mut text = String::from("# Run this in TRL\n\n");
    text.push_str("The playground's training lanes as files for Hugging Face TRL + peft (examples/trl_ddpo.py in the\n");
    text.push_str("Deviate repository). Put the playground's model, `");
    text.push_str(MODEL_FILE);
    text.push_str("` (its `www/models/` or the site's `models/`),\nin this folder, or set `\"model\"` in a lane's `lane.json` to a Hugging Face model id (e.g.\n");
    text.push_str("`HuggingFaceTB/SmolLM2-1.7B-Instruct` for a larger run).\n\n");
    text.push_str("```sh\npip install -r examples/requirements.txt   # TRL, peft, PyTorch\n");
    for lane in lanes {
        let dir = lane_dir(lane.index, lane.method);
        text.push_str(&format!("accelerate launch examples/trl_ddpo.py --config {dir}/lane.json   # {}, one GPU or many\n", lane.method.name()));
    }
    text.push_str("```\n\nThe same first steps natively, with the Deviate CLI:\n\n```sh\n");
    for lane in lanes {
        text.push_str(&format!("deviate train --link '{link}' --lane {} --steps {steps}   # {}\n", lane.index + 1, lane.method.name()));
    }
    text.push_str("```\n\n");
    text.push_str(&format!(
        "Each lane trains {steps} steps of {} pairs in `pairs.jsonl`'s order (the page's), lr {} (constant), β {}, λ {},\nLoRA r {} α {} on {}.",
        setup.pairs_per_step,
        setup.train.learning_rate,
        setup.train.beta,
        setup.train.lambda,
        setup.train.lora.rank,
        setup.train.lora.alpha,
        setup.train.lora.targets.iter().map(|t| t.name()).collect::<Vec<_>>().join(", "),
    ));
    if lanes.iter().any(|l| l.adapters.is_some()) {
        text.push_str(" `adapters.safetensors` holds the lane's adapters as they were when exported (from `deviate\nexport-trl`: the ones the lane starts from): the TRL run goes on from there.");
    }
    if own_data {
        text.push_str(" `data.json` is the experiment's own preference set (`deviate train --data data.json`).");
    }
    text.push('\n');
    let differ = differences(setup);
    if !differ.is_empty() {
        text.push_str(&format!("\nThis link trains as format-1 links did, which TRL cannot: {}. TRL will use its own settings.\n", differ.join("; ")));
    }
    text
}

/// Every file of the export: README.md, each lane's `pairs.jsonl`, `lane.json` (and
/// `adapters.safetensors`), and `data.json` when the experiment brings its own set.
pub fn files(set: &PreferenceSet, setup: &TrainSetup, lanes: &[LaneExport], steps: usize, link: &str) -> Vec<ExportFile> {
    let own_data = setup.data.is_some();
    let mut out = vec![ExportFile { path: "README.md".into(), contents: readme(setup, lanes, steps, link, own_data).into_bytes() }];
    for lane in lanes {
        let dir = lane_dir(lane.index, lane.method);
        let mut jsonl = String::new();
        for row in trl_rows(set, lane.pairs, lane.method) {
            jsonl.push_str(&serde_json::to_string(&row).expect("a row is plain data"));
            jsonl.push('\n');
        }
        out.push(ExportFile { path: format!("{dir}/pairs.jsonl"), contents: jsonl.into_bytes() });
        let config = lane_config(setup, lane.method, steps, lane.adapters.is_some());
        let config = serde_json::to_string_pretty(&config).expect("a config is plain data") + "\n";
        out.push(ExportFile { path: format!("{dir}/lane.json"), contents: config.into_bytes() });
        if let Some(bytes) = &lane.adapters {
            out.push(ExportFile { path: format!("{dir}/adapters.safetensors"), contents: bytes.clone() });
        }
    }
    if own_data {
        let json = serde_json::to_string_pretty(set).expect("a set is plain data") + "\n";
        out.push(ExportFile { path: "data.json".into(), contents: json.into_bytes() });
    }
    out
}

/// `files` as one zip archive, every entry stored under `folder/` (stored, not compressed: the
/// pairs are kilobytes and the adapters do not compress).
pub fn zip(folder: &str, files: &[ExportFile]) -> Result<Vec<u8>, String> {
    use std::io::Write;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for file in files {
        writer.start_file(format!("{folder}/{}", file.path), options).map_err(|e| e.to_string())?;
        writer.write_all(&file.contents).map_err(|e| e.to_string())?;
    }
    Ok(writer.finish().map_err(|e| e.to_string())?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::dataset::{ScoredResponse, TrainPrompt};
    use crate::core::pairs::Pair;
    use crate::engine::train::{PairTokens, TrainConfig};

    fn set() -> PreferenceSet {
        let response = |text: &str, score: f64| ScoredResponse { text: text.into(), score };
        PreferenceSet {
            version: 1,
            description: String::new(),
            train: vec![TrainPrompt { prompt: "P".into(), responses: vec![response("good", 5.0), response("odd", 4.0), response("bad", 1.0)] }],
            heldout: Vec::new(),
        }
    }

    fn pair(chosen: usize, rejected: usize, weight: f64) -> PreparedPair {
        let tokens = PairTokens { key: 0, prompt: vec![1], chosen: vec![2], rejected: vec![3], weight };
        PreparedPair { prompt: 0, pair: Pair { chosen, rejected }, weight, deviation_chosen: 0.3, tokens }
    }

    #[test]
    fn rows_carry_the_weights_of_the_weighted_methods_only() {
        let pairs = [pair(1, 2, 1.7), pair(0, 2, 0.2)];
        let ddpo = trl_rows(&set(), &pairs, Method::Ddpo);
        assert_eq!((ddpo[0].chosen.as_str(), ddpo[0].rejected.as_str(), ddpo[0].weight), ("odd", "bad", 1.7));
        assert_eq!(ddpo[1].weight, 0.2);
        assert!(trl_rows(&set(), &pairs, Method::Dpo).iter().all(|r| r.weight == 1.0 && r.deviation_chosen == 0.3));
        assert_eq!((trl_method(Method::Dpo), trl_method(Method::Divpo), trl_method(Method::Orpo)), ("ddpo", "ddpo", "dorpo"));
    }

    #[test]
    fn every_lane_gets_its_pairs_config_and_commands() {
        let pairs = [pair(1, 2, 1.7)];
        let setup = TrainSetup { train: TrainConfig { learning_rate: 2e-3, ..TrainConfig::default() }, ..TrainSetup::default() };
        let lanes = [
            LaneExport { index: 0, method: Method::Dpo, pairs: &pairs, adapters: None },
            LaneExport { index: 1, method: Method::Dorpo, pairs: &pairs, adapters: Some(vec![1, 2, 3]) },
        ];
        let out = files(&set(), &setup, &lanes, 6, "http://x/#x=2.abc");
        let paths: Vec<&str> = out.iter().map(|f| f.path.as_str()).collect();
        let want = ["README.md", "lane-1-dpo/pairs.jsonl", "lane-1-dpo/lane.json", "lane-2-dorpo/pairs.jsonl", "lane-2-dorpo/lane.json", "lane-2-dorpo/adapters.safetensors"];
        assert_eq!(paths, want);
        let config: serde_json::Value = serde_json::from_slice(&out[4].contents).unwrap();
        assert_eq!(config["method"], "dorpo");
        assert_eq!((config["steps"].as_u64(), config["learning_rate"].as_f64()), (Some(6), Some(2e-3)));
        assert_eq!(config["targets"], json!(["q", "v"]));
        assert_eq!(config["adapters"], "adapters.safetensors");
        assert!(serde_json::from_slice::<serde_json::Value>(&out[2].contents).unwrap().get("adapters").is_none());
        let readme = String::from_utf8(out[0].contents.clone()).unwrap();
        assert!(readme.contains("accelerate launch examples/trl_ddpo.py --config lane-2-dorpo/lane.json"), "{readme}");
        assert!(readme.contains("deviate train --link 'http://x/#x=2.abc' --lane 1 --steps 6"), "{readme}");
        assert!(!readme.contains("format-1"), "a format-2 set-up trains as TRL does");
        let old = TrainSetup { train: TrainConfig::format_1(), ..TrainSetup::default() };
        let readme = readme_of(&old, &lanes);
        assert!(readme.contains("format-1 links did") && readme.contains("per tensor"), "{readme}");
    }

    #[test]
    fn the_zip_holds_every_file_under_one_folder() {
        use std::io::Read;
        let files = [ExportFile { path: "README.md".into(), contents: b"hi".to_vec() }, ExportFile { path: "lane-1-dpo/lane.json".into(), contents: b"{}".to_vec() }];
        let bytes = zip("deviate-trl", &files).unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        assert_eq!(archive.len(), 2);
        let mut text = String::new();
        archive.by_name("deviate-trl/lane-1-dpo/lane.json").unwrap().read_to_string(&mut text).unwrap();
        assert_eq!(text, "{}");
    }

    fn readme_of(setup: &TrainSetup, lanes: &[LaneExport]) -> String {
        readme(setup, lanes, 2, "L", false)
    }
}
