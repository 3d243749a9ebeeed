//! Line input for the streaming commands: a file or stdin, with a progress bar on stderr
//! when stderr is a terminal (by bytes for a file, a running count for stdin).

use std::fs::File;
use std::io::{self, BufRead, BufReader, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

/// Opens `path` (stdin when `None`) and a progress bar that [`Progress::advance`] moves.
pub fn open(path: Option<&Path>) -> Result<(Box<dyn BufRead>, Progress)> {
    let visible = io::stderr().is_terminal();
    match path {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let bytes = file.metadata().map(|m| m.len()).unwrap_or(0);
            let bar = visible.then(|| {
                ProgressBar::new(bytes).with_style(
                    ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ({eta})").expect("valid template"),
                )
            });
            Ok((Box::new(BufReader::new(file)), Progress { bar, lines: 0 }))
        }
        None => {
            let bar = visible.then(|| {
                ProgressBar::new_spinner()
                    .with_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"))
            });
            Ok((Box::new(io::stdin().lock()), Progress { bar, lines: 0 }))
        }
    }
}

/// Progress of a streaming command; invisible when stderr is not a terminal.
pub struct Progress {
    bar: Option<ProgressBar>,
    lines: u64,
}

impl Progress {
    /// Records one processed line of `bytes` bytes (plus its newline).
    pub fn advance(&mut self, bytes: usize) {
        self.lines += 1;
        if let Some(bar) = &self.bar {
            if bar.length().is_some() {
                bar.inc(bytes as u64 + 1);
            } else {
                bar.tick();
            }
            if self.lines.is_multiple_of(64) {
                bar.set_message(format!("{} lines", self.lines));
            }
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
