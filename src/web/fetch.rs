//! Model files for the worker: fetched once with the manifest's integrity string and a
//! progress report, kept in the Cache API so a reload does not download again, and checked
//! against the manifest's sha256 when read back from the cache.

use std::cell::Cell;

use js_sys::{Reflect, Uint8Array};
use serde::Deserialize;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, ReadableStreamDefaultReader, RequestInit, Response, WorkerGlobalScope};

use crate::engine::protocol::{Event, ModelName};

use super::runtime::Runtime;

/// The Cache API bucket that holds the model files.
pub const CACHE_NAME: &str = "deviate-models-v1";
/// Where manifest.json is, next to the worker (www/models/).
const MANIFEST: &str = "./models/manifest.json";

/// One file of www/models/manifest.json (written by scripts/fetch_models.py).
#[derive(Clone, Debug, Deserialize)]
pub struct ManifestEntry {
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
    pub integrity: String,
    /// The absolute address to download from: the file name against the manifest's base.
    #[serde(skip)]
    pub url: String,
}

/// manifest.json: the files, and optionally where they are served from (`make site
/// MODELS_BASE=…`, e.g. a Hugging Face `resolve/` address); by default next to the manifest.
/// The integrity and sha256 checks hold whatever the origin.
#[derive(Debug, Deserialize)]
struct Manifest {
    #[serde(default)]
    base: Option<String>,
    files: Vec<ManifestEntry>,
}

/// `relative` resolved against the absolute address `base`.
fn resolve(relative: &str, base: &str) -> Result<String, String> {
    web_sys::Url::new_with_base(relative, base)
        .map(|url| url.href())
        .map_err(|_| format!("manifest.json: {relative:?} is not an address (against {base})"))
}

fn scope() -> WorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn describe(error: JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| error.as_string())
        .unwrap_or_else(|| format!("{error:?}"))
}

async fn wait(promise: js_sys::Promise) -> Result<JsValue, String> {
    JsFuture::from(promise).await.map_err(describe)
}

/// The manifest's entries for `names`, in that order.
pub async fn manifest(names: &[&str]) -> Result<Vec<ManifestEntry>, String> {
    let manifest_url = resolve(MANIFEST, &scope().location().href())?;
    let response: Response = wait(scope().fetch_with_str(&manifest_url))
        .await
        .map_err(|e| format!("manifest.json: {e}"))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("manifest.json: HTTP {} (run `make models`)", response.status()));
    }
    let text = body_text(&response, "manifest.json").await?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| format!("manifest.json: {e}"))?;
    let base = resolve(manifest.base.as_deref().unwrap_or("./"), &manifest_url)?;
    names
        .iter()
        .map(|name| {
            let mut entry = manifest.files.iter().find(|f| f.file == *name).cloned();
            if let Some(entry) = &mut entry {
                entry.url = resolve(&entry.file, &base)?;
            }
            entry.ok_or_else(|| format!("manifest.json lists no {name}"))
        })
        .collect()
}

/// A text file next to the worker (e.g. `./data/toy_prefs.json`).
pub async fn text(path: &str) -> Result<String, String> {
    let response: Response = wait(scope().fetch_with_str(path)).await.map_err(|e| format!("{path}: {e}"))?.unchecked_into();
    if !response.ok() {
        return Err(format!("{path}: HTTP {}", response.status()));
    }
    body_text(&response, path).await
}

/// The response's body as text; a body that is not text is an error naming `what`.
async fn body_text(response: &Response, what: &str) -> Result<String, String> {
    wait(response.text().map_err(describe)?).await?.as_string().ok_or_else(|| format!("{what}: the body is not text"))
}

async fn open_cache() -> Option<Cache> {
    let caches = scope().caches().ok()?;
    wait(caches.open(CACHE_NAME)).await.ok().map(JsCast::unchecked_into)
}

/// Deletes every cached model file.
pub async fn clear_cache() -> Result<(), String> {
    let caches = scope().caches().map_err(|_| "the Cache API is not available here".to_string())?;
    wait(caches.delete(CACHE_NAME)).await.map(|_| ())
}

async fn sha256_hex(buffer: &js_sys::Object) -> Result<String, String> {
    let subtle = scope().crypto().map_err(describe)?.subtle();
    let digest = wait(subtle.digest_with_str_and_buffer_source("SHA-256", buffer).map_err(describe)?).await?;
    Ok(Uint8Array::new(&digest).to_vec().iter().map(|b| format!("{b:02x}")).collect())
}

/// Where a file came from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    Cache,
    Network,
}

/// The bytes of `entry`: from the cache when present and intact, else downloaded with
/// `on_progress(loaded_bytes)` called as chunks arrive (not for a cache hit), then cached.
pub async fn load(entry: &ManifestEntry, on_progress: impl Fn(u64)) -> Result<(Vec<u8>, Source), String> {
    let url = entry.url.as_str();
    let cache = open_cache().await;
    if let Some(cache) = &cache
        && let Ok(hit) = wait(cache.match_with_str(url)).await
        && let Ok(response) = hit.dyn_into::<Response>()
    {
        let buffer: js_sys::Object = wait(response.array_buffer().map_err(describe)?).await?.unchecked_into();
        if sha256_hex(&buffer).await? == entry.sha256 {
            return Ok((Uint8Array::new(&buffer).to_vec(), Source::Cache));
        }
        // A damaged cache entry is dropped and downloaded again.
        let _ = wait(cache.delete_with_str(url)).await;
    }

    let init = RequestInit::new();
    init.set_integrity(&entry.integrity);
    let response: Response = wait(scope().fetch_with_str_and_init(url, &init))
        .await
        .map_err(|e| format!("{}: download failed or does not match manifest.json ({e})", entry.file))?
        .unchecked_into();
    if !response.ok() {
        return Err(format!("{}: HTTP {} (run `make models`)", entry.file, response.status()));
    }
    let body = response.body().ok_or_else(|| format!("{}: empty response", entry.file))?;
    let reader: ReadableStreamDefaultReader = body.get_reader().unchecked_into();
    let mut bytes = Vec::with_capacity(entry.bytes as usize);
    loop {
        let chunk = wait(reader.read())
            .await
            .map_err(|e| format!("{}: download failed or does not match manifest.json ({e})", entry.file))?;
        let malformed = || format!("{}: the download stream sent something that is not bytes", entry.file);
        match Reflect::get(&chunk, &"done".into()).ok().and_then(|d| d.as_bool()) {
            Some(true) => break,
            Some(false) => {}
            None => return Err(malformed()),
        }
        let value: Uint8Array = Reflect::get(&chunk, &"value".into()).map_err(describe)?.dyn_into().map_err(|_| malformed())?;
        let start = bytes.len();
        bytes.resize(start + value.length() as usize, 0);
        value.copy_to(&mut bytes[start..]);
        on_progress(bytes.len() as u64);
    }
    // Nothing short or different is kept: the length and the hash are checked before caching.
    if bytes.len() as u64 != entry.bytes {
        return Err(format!("{}: received {} bytes, manifest.json says {}", entry.file, bytes.len(), entry.bytes));
    }
    let body = Uint8Array::from(bytes.as_slice());
    if sha256_hex(&body.buffer().unchecked_into()).await? != entry.sha256 {
        return Err(format!("{}: the download does not match manifest.json's sha256", entry.file));
    }
    if let Some(cache) = &cache {
        let response = Response::new_with_opt_buffer_source(Some(&body)).map_err(describe)?;
        // Caching can fail (quota, private mode): the page still works, it only downloads again.
        if let Err(error) = wait(cache.put_with_str(url, &response)).await {
            web_sys::console::warn_1(&format!("deviate: could not cache {}: {error}", entry.file).into());
        }
    }
    Ok((bytes, Source::Network))
}

/// Fetches (or reads from the cache) `names` from the manifest with progress events for
/// `model`; returns their bytes in order and whether all came from the cache.
pub async fn load_files(rt: &dyn Runtime, model: ModelName, names: &[&str]) -> Result<(Vec<Vec<u8>>, bool), String> {
    let entries = manifest(names).await?;
    let started = rt.now();
    let mut files = Vec::with_capacity(entries.len());
    let mut all_cached = true;
    for entry in &entries {
        let reported = Cell::new(0u64);
        let step = (entry.bytes / 100).max(1);
        let (bytes, source) = load(entry, |loaded| {
            if loaded >= reported.get() + step || loaded == entry.bytes {
                reported.set(loaded);
                rt.post(&Event::ModelProgress { model, file: entry.file.clone(), loaded, total: entry.bytes, cached: false, millis: rt.now() - started });
            }
        })
        .await?;
        let cached = source == Source::Cache;
        all_cached &= cached;
        rt.post(&Event::ModelProgress { model, file: entry.file.clone(), loaded: entry.bytes, total: entry.bytes, cached, millis: rt.now() - started });
        files.push(bytes);
    }
    Ok((files, all_cached))
}
