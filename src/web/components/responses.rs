use leptos::prelude::*;

/// The responses to compare, one per line; every edit is analysed again.
#[component]
pub fn ResponsesInput(text: RwSignal<String>) -> impl IntoView {
    view! {
        <section class="panel" aria-labelledby="responses-heading">
            <h2 id="responses-heading">"Responses"</h2>
            <label for="responses">"One response per line (at least two)."</label>
            <textarea
                id="responses"
                data-testid="responses"
                rows="8"
                spellcheck="false"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
            ></textarea>
        </section>
    }
}
