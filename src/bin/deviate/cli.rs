//! The command line: subcommands and their arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use deviate::core::similarity::SimilarityKind;

use crate::{bench, deviation, embed, serve};

#[derive(Parser)]
#[command(name = "deviate", version, about = "Deviation-weighted preference optimisation playground")]
struct Cli {
    #[command(subcommand)]
    command: Command,
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
    /// Benchmarks (throughput figures, not tests).
    Bench {
        #[command(subcommand)]
        what: Bench,
    },
    /// Serve the playground (index.html, pkg/, www/) over HTTP.
    Serve {
        /// Port on 127.0.0.1; 0 picks a free one.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Folder to serve: the repository root, holding index.html.
        #[arg(long, default_value = ".")]
        root: PathBuf,
    },
}

#[derive(Subcommand)]
enum Bench {
    /// MiniLM sentences/s at batch 1 and batch 32 (compare: bench/peer_embed.py).
    Embed {
        /// Sentences per pass.
        #[arg(long, default_value_t = 64)]
        sentences: usize,
        /// Passes per batch size; the median is reported.
        #[arg(long, default_value_t = 3)]
        repeats: usize,
        /// Print one JSON object (with the sentences) instead of text.
        #[arg(long)]
        json: bool,
        /// Folder with model.safetensors and tokenizer.json (from `make models`).
        #[arg(long, default_value = "www/models")]
        models: PathBuf,
    },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deviation { similarity, input, min_weight, models } => {
            deviation::run(similarity, input, min_weight, &models)
        }
        Command::Embed { input, models } => embed::run(input.as_deref(), &models),
        Command::Bench { what: Bench::Embed { sentences, repeats, json, models } } => {
            bench::embed(&models, sentences, repeats.max(1), json)
        }
        Command::Serve { port, root } => serve::run(port, &root),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("deviate: {error:#}");
            ExitCode::FAILURE
        }
    }
}
