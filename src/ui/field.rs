//! One form field as every form shows it: the label, the input, a hint,
//! and the message the server gave for this field (`<id>-erro`, which the
//! input points at with `aria-describedby`, so screen readers read it).

use leptos::prelude::*;

use crate::api::error::UiError;

/// The last answer of a form, for its fields' messages.
pub type FormErrors = Signal<Option<UiError>>;

/// A labelled `<input>`. Its `id` is also the name the server uses for it
/// in errors. `value` fills it (the attribute, so a page served without
/// JavaScript shows it too); `bind` makes it two-way with a signal.
#[component]
pub fn Field(
    id: &'static str,
    label: &'static str,
    /// The form field's name, for forms that post natively.
    #[prop(optional)]
    name: Option<&'static str>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional, into)] value: MaybeProp<String>,
    #[prop(optional)] bind: Option<RwSignal<String>>,
    #[prop(optional, into)] placeholder: MaybeProp<String>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] maxlength: Option<u32>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autofocus: bool,
    /// A line under the input that stays.
    #[prop(optional)]
    hint: Option<&'static str>,
    /// Where this field's error message comes from.
    #[prop(optional, into)]
    errors: Option<FormErrors>,
) -> impl IntoView {
    let current = move || {
        bind.map(|b| b.get())
            .or_else(|| value.get())
            .unwrap_or_default()
    };
    let hint_id = format!("{id}-dica");
    let described_by = match hint {
        Some(_) => format!("{id}-erro {hint_id}"),
        None => format!("{id}-erro"),
    };
    view! {
        <div class="field">
            <label for=id>{label}</label>
            <input
                id=id
                name=name
                type=kind
                value=current
                prop:value=current
                on:input=move |ev| {
                    if let Some(b) = bind {
                        b.set(event_target_value(&ev));
                    }
                }
                placeholder=move || placeholder.get()
                autocomplete=autocomplete
                maxlength=maxlength.map(|m| m.to_string())
                required=required
                autofocus=autofocus
                aria-describedby=described_by
            />
            {hint.map(|h| view! { <p class="field-hint" id=hint_id>{h}</p> })}
            {errors.map(|errors| view! { <FieldError field=id errors/> })}
        </div>
    }
}

/// The server's message for `field`, when the last answer had one.
#[component]
pub fn FieldError(field: &'static str, errors: FormErrors) -> impl IntoView {
    move || {
        errors
            .get()
            .and_then(|e| e.field(field))
            .map(|m| view! { <p class="field-error" id=format!("{field}-erro")>{m}</p> })
    }
}

/// The error of a server action's last answer, as [`FormErrors`].
pub fn action_errors<A, T>(action: ServerAction<A>) -> FormErrors
where
    A: server_fn::ServerFn<Output = T, Error = UiError> + Clone + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
    ServerAction<A>: Copy,
{
    Signal::derive(move || action.value().get().and_then(|r| r.err()))
}
