//! `deviate generate`: N seeded continuations of a prompt, one JSONL line each
//! (`{"text", "token_ids", "finish"}`), with live progress on stderr when it is a terminal.

use std::io::{self, IsTerminal, Write};
use std::ops::ControlFlow;
use std::path::Path;

use anyhow::{Context, Result};
use burn::tensor::Device;
use deviate::engine::generate::{GenerateEvent, GenerateParams};

use crate::models;

pub fn run(prompt: &str, params: &GenerateParams, models_dir: &Path, device: &Device) -> Result<()> {
    let lm = models::language_model(models_dir, device)?;
    let progress = io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new((params.n * params.max_tokens) as u64);
        bar.set_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} tokens, {per_sec} {msg}").expect("template"));
        bar
    });
    let continuations = pollster::block_on(lm.generate(prompt, params, |event| {
        if let Some(bar) = &progress {
            match event {
                GenerateEvent::Token { .. } => bar.inc(1),
                GenerateEvent::Finished { continuation, .. } => {
                    bar.inc((params.max_tokens - continuation.token_ids.len().min(params.max_tokens)) as u64)
                }
            }
        }
        ControlFlow::Continue(())
    }))
    .context("generation failed")?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let mut out = io::stdout().lock();
    for continuation in &continuations {
        serde_json::to_writer(&mut out, continuation)?;
        out.write_all(b"\n")?;
    }
    out.flush().context("cannot write to stdout")
}
