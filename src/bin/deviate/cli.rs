//! The command line: subcommands and their arguments.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::{deviation, serve};

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
        /// Similarity the deviation is computed from.
        #[arg(long, value_enum, default_value = "jaccard")]
        similarity: deviation::Similarity,
        /// JSONL input, one {"prompt", "responses", "scores"?} object per line; stdin when absent.
        #[arg(long)]
        input: Option<PathBuf>,
        /// Floor for every weight (the paper's min_weight ablation, e.g. 0.2).
        #[arg(long)]
        min_weight: Option<f64>,
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

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Deviation { similarity, input, min_weight } => deviation::run(similarity, input, min_weight),
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
