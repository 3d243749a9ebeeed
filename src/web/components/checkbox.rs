use leptos::prelude::*;

/// A labelled checkbox that says whether `item` is in `list` and adds or removes it; the list
/// keeps the order of `all`.
pub fn member_checkbox<T>(id: String, label: String, list: RwSignal<Vec<T>>, item: T, all: &'static [T]) -> impl IntoView
where
    T: Copy + PartialEq + Send + Sync + 'static,
{
    let (for_id, test_id) = (id.clone(), id.clone());
    view! {
        <label class="check" for=for_id>
            <input type="checkbox" id=id data-testid=test_id
                prop:checked=move || list.with(|l| l.contains(&item))
                on:change=move |ev| {
                    let on = event_target_checked(&ev);
                    list.update(|l| {
                        l.retain(|x| *x != item);
                        if on {
                            l.push(item);
                            l.sort_by_key(|x| all.iter().position(|a| a == x));
                        }
                    });
                } />
            {label}
        </label>
    }
}
