//! Refreshing a view on a timer, in the browser only: never while `active`
//! is false, never while the browser tab is hidden, and stopped when the
//! component that asked goes away (a modal closing).

use leptos::prelude::*;

/// Calls `tick` every `period_ms` while `active` holds and the page is
/// visible.
pub fn use_polling(period_ms: u32, active: Signal<bool>, tick: impl Fn() + Clone + 'static) {
    #[cfg(feature = "hydrate")]
    {
        use gloo_timers::callback::Interval;

        let timer: StoredValue<Option<Interval>, LocalStorage> = StoredValue::new_local(None);
        Effect::new(move |_| {
            let on = active.get();
            // dropping an Interval cancels it
            timer.set_value(None);
            if on {
                let tick = tick.clone();
                timer.set_value(Some(Interval::new(period_ms, move || {
                    if page_visible() {
                        tick();
                    }
                })));
            }
        });
        on_cleanup(move || timer.set_value(None));
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = (period_ms, active, tick);
    }
}

#[cfg(feature = "hydrate")]
fn page_visible() -> bool {
    use web_sys::VisibilityState;
    leptos::prelude::document().visibility_state() != VisibilityState::Hidden
}
