//! The command line: subcommands and their arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deviate::core::similarity::SimilarityKind;

use deviate::core::sampling::SamplingParams;
use deviate::engine::generate::GenerateParams;

use deviate::engine::experiment::ExperimentConfig;
use deviate::engine::train::Method;

use anyhow::Result;

use crate::devices::DeviceKind;
use crate::{bench, bench_lesson, bench_matmul, bench_work, deviation, embed, experiment, export_trl, generate, link, loss, pairs, ratings, train};

#[derive(Parser)]
#[command(name = "deviate", version, about = "Deviation-weighted preference optimisation playground")]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// What the models run on: flex (burn's CPU backend, the page's CPU path) or wgpu (burn's
    /// GPU backend: Vulkan, Metal or DX12; the page's WebGPU kernels).
    #[arg(long, global = true, value_enum, default_value = "flex")]
    device: DeviceKind,
}

#[derive(Subcommand)]
enum Command {
    /// Each response's deviation and the paper's weight, per prompt (JSONL in, JSONL out).
    Deviation {
        /// Similarity: semantic (MiniLM), jaccard, style, or both (semantic + style).
        #[arg(long, default_value = "semantic")]
        similarity: SimilarityKind,
        /// JSONL input, one {"prompt", "responses", "scores"?} object per line; stdin when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Floor for every weight (the paper's min_weight ablation, e.g. 0.2).
        #[arg(long)]
        min_weight: Option<f64>,
        /// Folder with model.safetensors and tokenizer.json (from `make models`).
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// MiniLM sentence embeddings: one text per line in, JSONL {"text", "embedding"} out.
    Embed {
        /// Text input, one per line; stdin when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Folder with model.safetensors and tokenizer.json (from `make models`).
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Continuations of a writing prompt with SmolLM2: one JSONL line {"text", "token_ids", "finish"} each.
    Generate {
        /// The writing prompt (wrapped in the chat template unless --raw).
        #[arg(long)]
        prompt: String,
        #[command(flatten)]
        sampling: SamplingArgs,
        /// Folder with the GGUF (from `make models`).
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Preference tuning with each method on the same data and seed, evaluated on held-out prompts.
    Experiment {
        /// Comma-separated: dpo, ddpo, orpo, dorpo, divpo.
        #[arg(long, value_delimiter = ',', default_value = "dpo,ddpo,orpo,dorpo,divpo")]
        methods: Vec<Method>,
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// Evaluate every E steps (and after the last).
        #[arg(long, default_value_t = 4)]
        eval_every: usize,
        #[arg(long, default_value_t = 0, conflicts_with = "seeds")]
        seed: u64,
        /// Several seeds, e.g. 0,1,2 or 0-9: every method runs for each, and the methods are
        /// compared by paired differences over the seeds.
        #[arg(long)]
        seeds: Option<String>,
        /// Probe the mechanism (gain of the good training responses against their deviation)
        /// at step 0 and every E steps (and after the last); 0 turns it off.
        #[arg(long, default_value_t = 2)]
        probe_every: usize,
        /// Training prompts whose good responses the probe reads (the first ones trained on).
        #[arg(long, default_value_t = deviate::engine::probe::PROBE_PROMPTS)]
        probe_prompts: usize,
        #[arg(long, default_value_t = 4)]
        pairs_per_step: usize,
        /// Continuations per held-out prompt at each evaluation.
        #[arg(long, default_value_t = 4)]
        samples: usize,
        /// Held-out prompts used.
        #[arg(long, default_value_t = 8)]
        eval_prompts: usize,
        /// Tokens per evaluation continuation.
        #[arg(long, default_value_t = 40)]
        eval_tokens: usize,
        /// AdamW's learning rate (constant), for every method.
        #[arg(long, default_value_t = deviate::engine::train::TrainConfig::default().learning_rate)]
        learning_rate: f64,
        /// Write the report here (.json, or .csv for the summary rows).
        #[arg(long)]
        out: Option<PathBuf>,
        /// The preference set: .json (schema in src/core/dataset.rs) or TRL rows (.jsonl).
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Merge reports of `deviate experiment --out` (other methods or seeds) and compare every two
    /// methods over the seeds they share.
    Compare {
        /// Reports written by `deviate experiment --out F.json`.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
        /// Write the merged report here (.json).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// A method's loss from given log-probabilities (JSON on stdin), by the engine's formulas:
    /// `{"chosen", "rejected", "ref_chosen", "ref_rejected", "weight", "beta"}` for DPO/DDPO,
    /// `{"mean_chosen", "mean_rejected", "weight", "nll", "lambda"}` for ORPO/DORPO.
    Loss {
        #[arg(long, default_value = "ddpo")]
        method: Method,
    },
    /// The pairs a method trains on, as TRL preference JSONL with deviation weights.
    Pairs {
        #[arg(long, default_value = "ddpo")]
        method: Method,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// A preference set (.json, the schema of www/data/) or TRL rows (.jsonl).
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Tune SmolLM2 with one method: TRL metrics per step as JSONL; LoRA adapters as safetensors.
    Train {
        #[arg(long, default_value = "ddpo")]
        method: Method,
        #[arg(long, default_value_t = 8)]
        steps: usize,
        /// Number the steps from here: step N trains on the batch a session's Nth step does (to
        /// go on from adapters saved after step N − 1, e.g. downloaded from the page's lane).
        #[arg(long, default_value_t = 1)]
        start_step: usize,
        #[arg(long, default_value_t = 4)]
        pairs_per_step: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        #[arg(long, default_value_t = deviate::engine::train::TrainConfig::default().learning_rate)]
        learning_rate: f64,
        /// Train lane --lane of this share link as the page does (its method, data, seed,
        /// optimiser, LoRA and pairs per step: the options above are then not taken).
        #[arg(long, requires = "lane", conflicts_with_all = ["method", "pairs_per_step", "seed", "learning_rate", "data"])]
        link: Option<String>,
        /// The link's lane, from 1 (the Training panel's order).
        #[arg(long, requires = "link")]
        lane: Option<usize>,
        /// Start from these adapters (from --save or the page's "Download adapters", same LoRA shape).
        #[arg(long)]
        load: Option<PathBuf>,
        /// Save the adapters here after the last step.
        #[arg(long)]
        save: Option<PathBuf>,
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Benchmarks (throughput figures, not tests).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// A share link's training lanes as files for TRL (examples/trl_ddpo.py): each lane's
    /// pairs, its set-up as the script's --config, and a README with the commands.
    ExportTrl {
        /// The page's address or link token.
        #[arg(long)]
        link: String,
        /// The folder to write (created if missing).
        #[arg(long)]
        out: PathBuf,
        /// The set a link without its own data trains on.
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
    /// Share links: encode an experiment (JSON, any subset of its fields) or decode a link.
    Link {
        #[command(subcommand)]
        what: Link,
    },
    /// A class's ratings: pool students' ratings links into one preference set.
    Ratings {
        #[command(subcommand)]
        what: Ratings,
    },
}

#[derive(Subcommand)]
enum Ratings {
    /// Ratings links (or addresses holding "#r="), files of links one per line, or ratings JSON
    /// files (stdin's lines when none) to the pooled preference set's JSON; one line per input
    /// on stderr (added, duplicates, or why it was refused).
    Merge {
        inputs: Vec<String>,
        /// Write the set here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// Sampling options shared by `generate` and the benchmarks.
#[derive(clap::Args)]
struct SamplingArgs {
    /// Number of continuations (1–16).
    #[arg(long, default_value_t = 4)]
    n: usize,
    /// Most new tokens per continuation.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.8)]
    temperature: f32,
    /// 0 = no top-k cut.
    #[arg(long, default_value_t = 50)]
    top_k: usize,
    #[arg(long, default_value_t = 0.95)]
    top_p: f32,
    #[arg(long, default_value_t = 1.1)]
    repetition_penalty: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Feed the prompt as is, without the chat template and system line.
    #[arg(long)]
    raw: bool,
}

impl SamplingArgs {
    fn params(&self) -> GenerateParams {
        GenerateParams {
            n: self.n,
            max_tokens: self.max_tokens,
            min_tokens: 0,
            raw: self.raw,
            sampling: SamplingParams {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                repetition_penalty: self.repetition_penalty,
                seed: self.seed,
            },
        }
    }
}

/// Options every benchmark takes.
#[derive(clap::Args)]
struct BenchArgs {
    /// Runs per batch size; the median is reported.
    #[arg(long, default_value_t = 3)]
    repeats: usize,
    /// Print one JSON object (with the exact inputs, for the peer scripts) instead of text.
    #[arg(long)]
    json: bool,
    /// Folder with the models (from `make models`).
    #[arg(long, default_value = "www/models")]
    models: PathBuf,
}

#[derive(Subcommand)]
enum Link {
    /// Experiment JSON on stdin (or --input) to a link token; with --base, a whole address.
    Encode {
        #[arg(long)]
        input: Option<PathBuf>,
        /// The page's address, e.g. http://localhost:8000/ (prints BASE#x=TOKEN).
        #[arg(long)]
        base: Option<String>,
    },
    /// A link token or address to the experiment's JSON (every field, defaults included).
    Decode { link: String },
}

#[derive(Subcommand)]
enum Bench {
    /// MiniLM sentences/s at batch 1 and batch 32 (compare: bench/peer_embed.py).
    Embed {
        /// Sentences per pass.
        #[arg(long, default_value_t = 64)]
        sentences: usize,
        #[command(flatten)]
        common: BenchArgs,
    },
    /// Seconds per DDPO step, 4 toy pairs of ≤ 96 tokens (compare: bench/peer_train.py).
    Train {
        #[arg(long, default_value_t = 4)]
        pairs: usize,
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[command(flatten)]
        common: BenchArgs,
    },
    /// The figures a lesson waits on, as JSON the browser bench (tests/e2e/bench.test.mjs) repeats:
    /// greedy tokens/s at batch 1 and 4, a DDPO lane-step on 2 pairs, an evaluation, MiniLM sentences/s.
    Lesson {
        /// New tokens per continuation in the generation figures.
        #[arg(long, default_value_t = 32)]
        tokens: usize,
        /// Sentences in the MiniLM request.
        #[arg(long, default_value_t = 32)]
        sentences: usize,
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[command(flatten)]
        common: BenchArgs,
    },
    /// Kernel launches (GPU dispatches) and readbacks per decoding step and per DDPO step: what
    /// a GPU in a browser pays for whatever its speed (use with --device wgpu).
    Work {
        #[arg(long, default_value = "www/data/toy_prefs.json")]
        data: PathBuf,
        #[command(flatten)]
        common: BenchArgs,
    },
    /// GFLOP/s of single f32 products at the shapes a lesson runs (compare: bench/peer_matmul.py).
    Matmul {
        /// Timings per product; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Print one JSON object (the products and their GFLOP/s, for bench/peer_matmul.py).
        #[arg(long)]
        json: bool,
    },
    /// SmolLM2 tokens/s at batch 1 and batch 8 (compare: bench/peer_generate.py).
    Generate {
        /// New tokens per continuation (every continuation runs to this length).
        #[arg(long, default_value_t = 64)]
        tokens: usize,
        #[command(flatten)]
        common: BenchArgs,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command, cli.device) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("deviate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command, kind: DeviceKind) -> Result<()> {
    let device = || kind.open();
    let label = kind.label();
    match command {
        Command::Deviation { similarity, input, min_weight, models } => {
            deviation::run(similarity, input, min_weight, &models, &device()?)
        }
        Command::Embed { input, models } => embed::run(input.as_deref(), &models, &device()?),
        Command::Bench { what: Bench::Embed { sentences, common: c } } => {
            bench::embed(&c.models, &device()?, label, sentences, c.repeats.max(1), c.json)
        }
        Command::Generate { prompt, sampling, models } => generate::run(&prompt, &sampling.params(), &models, &device()?),
        Command::Bench { what: Bench::Generate { tokens, common: c } } => {
            bench::generate(&c.models, &device()?, label, tokens, c.repeats.max(1), c.json)
        }
        Command::Experiment {
            methods, steps, eval_every, seed, seeds, probe_every, probe_prompts, pairs_per_step, samples, eval_prompts, eval_tokens, learning_rate,
            out, data, models,
        } => {
            let defaults = ExperimentConfig::default();
            let train = deviate::engine::train::TrainConfig { learning_rate, ..defaults.train.clone() };
            let config = ExperimentConfig {
                methods, steps, eval_every, seed, pairs_per_step, samples, eval_prompts, eval_tokens, probe_every, probe_prompts, train,
                ..defaults
            };
            experiment::run(&config, seeds.as_deref(), &data, out, &models, &device()?)
        }
        Command::Compare { reports, out } => experiment::compare(&reports, out),
        Command::ExportTrl { link, out, data, models } => export_trl::run(&link, &out, &data, &models, &device()?),
        Command::Train { method, steps, start_step, pairs_per_step, seed, learning_rate, link, lane, load, save, data, models } => {
            let lane = link.zip(lane);
            let args = train::TrainArgs { method, steps, start_step, pairs_per_step, seed, learning_rate, lane, load, save, data };
            train::run(&args, &models, &device()?)
        }
        Command::Bench { what: Bench::Train { pairs, data, common: c } } => {
            bench::train(&c.models, &device()?, label, &data, pairs.max(1), c.repeats.max(1), c.json)
        }
        Command::Bench { what: Bench::Lesson { tokens, sentences, data, common: c } } => {
            let args = bench_lesson::LessonArgs { data, tokens: tokens.max(1), sentences: sentences.max(1), repeats: c.repeats.max(1), json: c.json };
            bench_lesson::run(&c.models, &device()?, label, &args)
        }
        Command::Bench { what: Bench::Matmul { repeats, json } } => bench_matmul::run(&device()?, label, repeats.max(1), json),
        Command::Bench { what: Bench::Work { data, common: c } } => bench_work::run(&c.models, &device()?, label, &data, c.json),
        Command::Pairs { method, seed, data, models } => pairs::run(method, seed, &data, &models, &device()?),
        Command::Loss { method } => loss::run(method),
        Command::Link { what: Link::Encode { input, base } } => link::encode(input.as_deref(), base.as_deref()),
        Command::Link { what: Link::Decode { link: token } } => link::decode(&token),
        Command::Ratings { what: Ratings::Merge { inputs, out } } => ratings::merge(&inputs, out),
    }
}
