//! Runs the `deviate` binary for the CLI tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

/// `deviate ARGS` from the repository root (so `www/models` is found), with `stdin` as input.
pub fn deviate(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_deviate"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}
