//! The class's own preference data. A student sends their ratings of one generation as a short
//! ratings link (or file); the teacher pastes the links (one per line) or drops the files,
//! and the page pools them as `deviate ratings merge` does, lists what it refused and why, and
//! offers the pooled set for training.

use leptos::prelude::*;

use crate::core::dataset::PreferenceSet;
use crate::engine::learner::Rating;
use crate::engine::ratings::{self, Outcome, RatingsLink};
use crate::page::view::Generated;
use crate::web::state;

/// "Send my ratings": this generation's rated continuations as a link, with Copy and a file.
#[component]
pub fn SendRatings(generated: Signal<Generated>, ratings: Signal<Vec<Rating>>) -> impl IntoView {
    let sent = RwSignal::new(None::<RatingsLink>);
    let rated = move || generated.with(|g| ratings.with(|r| g.rated(r)));
    let note = RwSignal::new(String::new());
    let copy = move |_| {
        let Some(link) = sent.get_untracked() else { return };
        leptos::task::spawn_local(async move {
            let text = state::ratings_address(&link.encode());
            note.set(state::copy(&text).await.map_or_else(|e| format!("Not copied: {e}"), |()| "Copied.".into()));
        });
    };
    let save = move |_| {
        if let Some(link) = sent.get_untracked() {
            let json = serde_json::to_string_pretty(&link).expect("ratings are plain data");
            if let Err(e) = state::download("deviate-ratings.json", &json) {
                note.set(format!("Not saved: {e}"));
            }
        }
    };
    let shown = move || {
        sent.get().map(|link| {
            let address = state::ratings_address(&link.encode());
            let count = link.ratings.len();
            view! {
                <label for="ratings-link">{format!("Your ratings of {count} continuation(s): send this link (or the file) to your teacher")}</label>
                <input id="ratings-link" data-testid="ratings-link" readonly prop:value=address />
                <div class="buttons">
                    <button type="button" data-testid="copy-ratings" on:click=copy>"Copy"</button>
                    <button type="button" data-testid="save-ratings" on:click=save>"Save as file"</button>
                </div>
                <p class="hint" role="status" aria-live="polite">{move || note.get()}</p>
            }
        })
    };
    view! {
        <div class="send-ratings">
            <button type="button" data-testid="send-ratings" prop:disabled=move || rated().is_none() on:click=move |_| sent.set(rated())>
                "Send my ratings"
            </button>
            {shown}
        </div>
    }
}

/// One input's line in the pooled list.
fn outcome_item(name: &str, outcome: &Outcome) -> impl IntoView + use<> {
    let (state, text) = match outcome {
        Outcome::Pooled { prompt, added, duplicates } => ("pooled", format!("{name}: {added} added, {duplicates} already pooled — \u{201c}{prompt}\u{201d}")),
        Outcome::Refused(why) => ("refused", format!("{name}: refused: {why}")),
    };
    view! { <li data-testid="pool-outcome" data-state=state>{text}</li> }
}

/// "Pool ratings": links pasted one per line, or ratings files, pooled into `pooled`.
#[component]
pub fn PoolRatings(
    pooled: RwSignal<Option<PreferenceSet>>,
    /// Show these responses (one prompt's pooled continuations) in the Responses panel.
    on_show: impl Fn(String) + Send + Sync + Clone + 'static,
) -> impl IntoView {
    let text = RwSignal::new(String::new());
    let files = RwSignal::new(Vec::<(String, String)>::new());
    let outcomes = RwSignal::new(Vec::<(String, Outcome)>::new());
    let pool = move |_| {
        let lines = text.get_untracked();
        let mut named: Vec<(String, Result<RatingsLink, String>)> =
            ratings::read_lines(&lines).into_iter().map(|(n, read)| (format!("line {n}"), read)).collect();
        named.extend(files.get_untracked().into_iter().map(|(name, json)| { let read = ratings::read(&json); (name, read) }));
        let (names, reads): (Vec<String>, Vec<_>) = named.into_iter().unzip();
        let result = ratings::pool(reads);
        let set = result.set();
        if let Some(set) = &set {
            let busiest = set.train.iter().max_by_key(|p| p.responses.len()).expect("a set has a prompt");
            on_show(busiest.responses.iter().map(|r| r.text.replace('\n', " ")).collect::<Vec<_>>().join("\n"));
        }
        pooled.set(set);
        outcomes.set(names.into_iter().zip(result.outcomes).collect());
    };
    let on_files = move |ev: leptos::ev::Event| {
        let input: web_sys::HtmlInputElement = event_target(&ev);
        let list: Vec<web_sys::File> = input.files().map(|f| (0..f.length()).filter_map(|i| f.get(i)).collect()).unwrap_or_default();
        input.set_value("");
        leptos::task::spawn_local(async move {
            for file in list {
                let name = file.name();
                let read = gloo_file::futures::read_as_text(&gloo_file::File::from(file)).await.unwrap_or_else(|e| format!("unreadable: {e}"));
                files.update(|f| f.push((name, read)));
            }
        });
    };
    let summary = move || {
        pooled.with(|p| match p {
            Some(set) => format!(
                "Pooled: {} prompt(s), {} rated continuations. Choose \u{201c}the class's ratings\u{201d} under Train on to train on them.",
                set.train.len(),
                set.train.iter().map(|p| p.responses.len()).sum::<usize>()
            ),
            None => "Nothing pooled yet: a prompt needs two continuations rated differently.".into(),
        })
    };
    view! {
        <section class="panel wide" aria-labelledby="class-heading">
            <h2 id="class-heading">"Class ratings"</h2>
            <p class="hint">"Students rate continuations (Generate) and press Send my ratings. Paste their links here, one per line, or add their files."</p>
            <label for="pool-links">"Ratings links"</label>
            <textarea id="pool-links" data-testid="pool-links" rows="4" prop:value=move || text.get() on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            <label class="file" for="pool-files">"Add ratings files"</label>
            <input type="file" id="pool-files" data-testid="pool-files" multiple accept="application/json,.json" on:change=on_files />
            <p class="hint">{move || files.with(|f| if f.is_empty() { String::new() } else { format!("{} file(s) added.", f.len()) })}</p>
            <div class="buttons"><button type="button" data-testid="pool" on:click=pool>"Pool ratings"</button></div>
            <ul class="pool-outcomes" aria-label="What each link gave">
                {move || outcomes.with(|o| o.iter().map(|(name, outcome)| outcome_item(name, outcome)).collect_view())}
            </ul>
            <p class="hint" role="status" aria-live="polite" data-testid="pool-summary">{summary}</p>
        </section>
    }
}
