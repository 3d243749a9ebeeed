//! `deviate ratings merge`: a class's ratings links (or ratings files) pooled into the
//! preference set the page trains on and `deviate pairs --data` reads, as the page's
//! "Pool ratings" does.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use deviate::engine::ratings::{self, Outcome, RatingsLink};

/// The inputs of one argument: a file's links (one per line) or its ratings JSON, else the
/// argument itself as a link.
fn inputs(arg: &str) -> Vec<(String, Result<RatingsLink, String>)> {
    let path = Path::new(arg);
    if !path.is_file() {
        return vec![(arg.to_string(), ratings::read(arg))];
    }
    match std::fs::read_to_string(path) {
        Err(e) => vec![(arg.to_string(), Err(format!("cannot read it: {e}")))],
        Ok(text) if text.trim_start().starts_with('{') => vec![(arg.to_string(), ratings::read(&text))],
        Ok(text) => ratings::read_lines(&text).into_iter().map(|(n, read)| (format!("{arg}:{n}"), read)).collect(),
    }
}

pub fn merge(args: &[String], out: Option<PathBuf>) -> Result<()> {
    let mut named = Vec::new();
    if args.is_empty() {
        let mut text = String::new();
        std::io::stdin().read_to_string(&mut text).context("reading links from stdin")?;
        named.extend(ratings::read_lines(&text).into_iter().map(|(n, read)| (format!("stdin:{n}"), read)));
    }
    for arg in args {
        named.extend(inputs(arg));
    }
    let (names, reads): (Vec<String>, Vec<_>) = named.into_iter().unzip();
    let pool = ratings::pool(reads);
    for (name, outcome) in names.iter().zip(&pool.outcomes) {
        match outcome {
            Outcome::Pooled { prompt, added, duplicates } => eprintln!("{name}: {added} added, {duplicates} already pooled ({prompt:?})"),
            Outcome::Refused(why) => eprintln!("{name}: refused: {why}"),
        }
    }
    let set = pool.set().context("nothing to train on: no prompt has two continuations rated differently")?;
    let json = serde_json::to_string_pretty(&set)?;
    match out {
        Some(path) => std::fs::write(&path, json + "\n").with_context(|| format!("cannot write {}", path.display()))?,
        None => println!("{json}"),
    }
    Ok(())
}
