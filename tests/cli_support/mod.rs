//! Runs the `deviate` binary for the CLI tests.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

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

/// The JSON value of each line of a run's stdout (which must be UTF-8).
#[allow(dead_code)] // not every CLI test reads JSONL
pub fn json_lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A JSON array of numbers.
#[allow(dead_code)]
pub fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect()
}
