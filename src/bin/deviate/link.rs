//! `deviate link encode|decode`: the page's share links, for scripts.

use std::io::Read;
use std::path::Path;

use anyhow::{Context, Result};
use deviate::engine::link::Experiment;

pub fn encode(input: Option<&Path>, base: Option<&str>) -> Result<()> {
    let json = match input {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?,
        None => {
            let mut json = String::new();
            std::io::stdin().read_to_string(&mut json).context("reading stdin")?;
            json
        }
    };
    let experiment = Experiment::from_json(&json).map_err(|e| anyhow::anyhow!("not a usable experiment: {e}"))?;
    let token = experiment.encode();
    // Print only what `decode` (and the page) will open.
    Experiment::decode(&token).map_err(|e| anyhow::anyhow!("this experiment cannot travel as a link ({e}); share it as a JSON export"))?;
    match base {
        Some(base) => println!("{}#x={token}", base.split('#').next().unwrap_or(base)),
        None => println!("{token}"),
    }
    Ok(())
}

pub fn decode(link: &str) -> Result<()> {
    let experiment = Experiment::decode(link)?;
    println!("{}", serde_json::to_string_pretty(&experiment)?);
    Ok(())
}
