//! `deviate serve`: a small static file server for the playground, so users need no Python.

use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::thread;

use anyhow::{Context, Result, bail};
use percent_encoding::percent_decode_str;
use tiny_http::{Header, Method, Response, Server, StatusCode};

const THREADS: usize = 4;

pub fn run(port: u16, root: &Path) -> Result<()> {
    let root = root.canonicalize().with_context(|| format!("cannot serve {}", root.display()))?;
    if !root.join("index.html").is_file() {
        bail!("{} has no index.html: run `deviate serve` from the repository root or pass --root", root.display());
    }
    if !root.join("pkg/deviate.js").is_file() {
        eprintln!("deviate serve: warning: pkg/deviate.js is missing; build it with `make wasm`");
    }
    let server = Server::http(("127.0.0.1", port)).map_err(|e| anyhow::anyhow!("cannot listen on port {port}: {e}"))?;
    let address = server.server_addr().to_ip().context("server has no IP address")?;
    // The e2e tests read this line to find the port.
    println!("serving {} at http://{address}/", root.display());
    let server = Arc::new(server);
    let workers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (server, root) = (Arc::clone(&server), root.clone());
            thread::spawn(move || {
                for request in server.incoming_requests() {
                    let response = respond(&root, request.method(), request.url());
                    let _ = request.respond(response);
                }
            })
        })
        .collect();
    for worker in workers {
        let _ = worker.join();
    }
    Ok(())
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn respond(root: &Path, method: &Method, url: &str) -> Response<Box<dyn std::io::Read + Send>> {
    let text = |code: u16, message: &str| {
        let body = message.to_string().into_bytes();
        Response::new(
            StatusCode(code),
            vec![header("Content-Type", "text/plain; charset=utf-8")],
            Box::new(std::io::Cursor::new(body.clone())) as Box<dyn std::io::Read + Send>,
            Some(body.len()),
            None,
        )
    };
    if !matches!(method, Method::Get | Method::Head) {
        return text(405, "method not allowed");
    }
    let Some(path) = resolve(root, url) else {
        return text(404, "not found");
    };
    let Ok(file) = File::open(&path) else {
        return text(404, "not found");
    };
    let length = file.metadata().map(|m| m.len() as usize).ok();
    let mime = mime_guess::from_path(&path).first_or_octet_stream();
    let headers = vec![
        header("Content-Type", mime.essence_str()),
        header("Cache-Control", "no-cache"),
        header("X-Content-Type-Options", "nosniff"),
    ];
    Response::new(StatusCode(200), headers, Box::new(file), length, None)
}

/// Maps a URL path to a file under `root`; `None` for anything outside it or missing.
fn resolve(root: &Path, url: &str) -> Option<PathBuf> {
    let path = url.split(['?', '#']).next().unwrap_or("/");
    let path = percent_decode_str(path).decode_utf8().ok()?;
    let relative = Path::new(path.trim_start_matches('/'));
    if relative.components().any(|c| !matches!(c, Component::Normal(_))) {
        return None;
    }
    let mut full = root.join(relative);
    if full.is_dir() {
        full.push("index.html");
    }
    full.is_file().then_some(full)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolve_stays_inside_the_root() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        assert_eq!(resolve(root, "/Cargo.toml?x=1"), Some(root.join("Cargo.toml")));
        assert_eq!(resolve(root, "/src/../Cargo.toml"), None);
        assert_eq!(resolve(root, "/%2e%2e/etc/passwd"), None);
        assert_eq!(resolve(root, "/no-such-file"), None);
    }
}
