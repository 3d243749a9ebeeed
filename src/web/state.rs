//! Where the page's state lives outside the page: the address (a share link in the hash,
//! kept in step with the state) and localStorage (the learner's data, kept across visits).

use gloo_storage::{LocalStorage, Storage};
use wasm_bindgen::JsCast;

use crate::engine::learner::LearnerData;
use crate::engine::link::Experiment;
use crate::engine::store::{self, KeyValue, Saver};
use crate::page::address;

/// What the page starts from, and what went wrong reading it (shown, never silent).
pub struct Boot {
    pub experiment: Experiment,
    pub learner: LearnerData,
    /// Writes the learner's data back without ever losing what could not be read.
    pub saver: Saver,
    /// Keeps the address and storage in step with the experiment ([`address::Keeper`]).
    pub keeper: address::Keeper,
    /// A share link could not be opened (or the experiment outgrew its link): why.
    pub link_error: Option<String>,
    pub storage_error: Option<String>,
}

/// The browser's localStorage as a [`KeyValue`] store.
pub struct Local;

impl KeyValue for Local {
    fn get(&self, key: &str) -> Result<Option<String>, String> {
        LocalStorage::raw().get_item(key).map_err(|e| describe(&e))
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), String> {
        LocalStorage::raw().set_item(key, value).map_err(|e| {
            let why = describe(&e);
            if why.contains("Quota") {
                "Your data could not be saved: the browser's storage for this page is full. Export it, then clear some ratings or runs.".into()
            } else {
                format!("Your data could not be saved ({why}): export it to keep it.")
            }
        })
    }
}

fn describe(e: &wasm_bindgen::JsValue) -> String {
    e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.name())).unwrap_or_else(|| "storage refused".into())
}

fn hash() -> String {
    web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default()
}

/// What [`address::opening`] opens for the address and localStorage's data.
pub fn boot() -> Boot {
    let store::Opened { data: learner, error: storage_error, saver } = store::open(&mut Local);
    let opening = address::opening(&hash(), &learner);
    let keeper = address::Keeper::new(&opening);
    Boot { experiment: opening.experiment, learner, saver, keeper, link_error: opening.link_error, storage_error }
}

/// The link token in the address, if any.
pub fn hash_token() -> Option<String> {
    hash().strip_prefix("#x=").map(str::to_string)
}

/// Keeps the address's hash on `token` (no new history entry).
pub fn set_address(token: &str) -> Result<(), String> {
    let history = web_sys::window().and_then(|w| w.history().ok()).ok_or("the page has no history")?;
    history
        .replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&format!("#x={token}")))
        .map_err(|e| format!("the address bar could not be updated ({})", describe(&e)))
}

/// Reloads the page (onto the address's link).
pub fn reload() -> Result<(), String> {
    let window = web_sys::window().ok_or("the page has no window")?;
    window.location().reload().map_err(|e| format!("the page could not reload ({})", describe(&e)))
}

/// The page's whole address, its link included.
pub fn current_address() -> String {
    web_sys::window().and_then(|w| w.location().href().ok()).unwrap_or_default()
}

/// The page's address with `token` as its link.
pub fn address(token: &str) -> String {
    let href = current_address();
    format!("{}#x={token}", href.split('#').next().unwrap_or_default())
}

/// The page's address with ratings link `token` (`#r=`).
pub fn ratings_address(token: &str) -> String {
    let href = current_address();
    format!("{}#r={token}", href.split('#').next().unwrap_or_default())
}

/// Offers `json` as a file download named `name`.
pub fn download(name: &str, json: &str) -> Result<(), String> {
    download_bytes(name, json.as_bytes(), "application/json")
}

/// How long a download's blob URL lives after its click (the file is held in memory till then).
const REVOKE_AFTER_MS: u32 = 10_000;

/// Offers `bytes` as a file download named `name` of type `mime`.
pub fn download_bytes(name: &str, bytes: &[u8], mime: &str) -> Result<(), String> {
    let fail = |_| "the browser refused the download".to_string();
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(fail)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(fail)?;
    let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
    let a: web_sys::HtmlAnchorElement = document.create_element("a").map_err(fail)?.unchecked_into();
    a.set_href(&url);
    a.set_download(name);
    a.click();
    // The browser starts the download after this task; revoking the URL now can cancel it.
    gloo_timers::callback::Timeout::new(REVOKE_AFTER_MS, move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    })
    .forget();
    Ok(())
}

/// Copies `text` to the clipboard (the promise settles later; failures come back as Err).
pub async fn copy(text: &str) -> Result<(), String> {
    let clipboard = web_sys::window().ok_or("no window")?.navigator().clipboard();
    wasm_bindgen_futures::JsFuture::from(clipboard.write_text(text)).await.map(|_| ()).map_err(|_| "the browser refused the clipboard".into())
}

/// Brings `id`'s element into view (the panel a link opens at).
pub fn scroll_to(id: &str) {
    if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        element.scroll_into_view();
    }
}

/// Moves the keyboard focus to `id`'s element (a link's lesson button).
pub fn focus(id: &str) {
    if let Some(element) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.get_element_by_id(id)) {
        let _ = element.unchecked_into::<web_sys::HtmlElement>().focus();
    }
}

/// The browser's clock as ISO 8601.
pub fn now_iso() -> String {
    String::from(js_sys::Date::new_0().to_iso_string())
}
