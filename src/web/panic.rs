//! A panic on the page thread: the console gets the details (console_error_panic_hook) and the
//! learner a notice that the page stopped, with a Reload button. Stored data is not touched:
//! it is saved as it changes, so the reload opens it. The notice is built with the DOM alone,
//! since the app's own state may be what broke.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;

pub fn report_panics() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let payload = info.payload();
        let message = payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str));
        show_notice(message.unwrap_or("an internal error"));
    }));
}

fn show_notice(detail: &str) -> Option<()> {
    let document = web_sys::window()?.document()?;
    if document.query_selector("[data-testid=page-panic]").ok().flatten().is_some() {
        return Some(()); // one notice is enough
    }
    let notice = document.create_element("div").ok()?;
    notice.set_class_name("notice error");
    notice.set_attribute("role", "alert").ok()?;
    notice.set_attribute("data-testid", "page-panic").ok()?;
    let text = document.create_element("p").ok()?;
    text.set_text_content(Some(&format!("The page stopped working ({detail}). Your saved work is kept: reload the page to go on.")));
    let button: web_sys::HtmlElement = document.create_element("button").ok()?.unchecked_into();
    button.set_attribute("type", "button").ok()?;
    button.set_text_content(Some("Reload"));
    let reload = Closure::<dyn Fn()>::new(|| {
        let _ = web_sys::window().map(|w| w.location().reload());
    });
    button.set_onclick(Some(reload.as_ref().unchecked_ref()));
    reload.forget();
    notice.append_child(&text).ok()?;
    notice.append_child(&button).ok()?;
    document.body()?.prepend_with_node_1(&notice).ok()?;
    button.focus().ok()
}

/// Panics on purpose: how the e2e checks the notice (tests/e2e/recovery.test.mjs).
#[wasm_bindgen(js_name = panicForTest)]
pub fn panic_for_test() {
    panic!("a test asked the page to panic");
}
