//! Forms that post to a server function: natively (url-encoded; the server
//! function answers with a redirect) until the bundle has taken over the
//! page, and through a `ServerAction` after.
//!
//! Leptos' `ActionForm` does the same, but it turns the form into the
//! function's arguments with serde_qs, a query-string parser, and it is a
//! large component compiled once per form. Here each form says which field
//! goes where (`read`), so the bundle carries neither.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

/// The fields of a submitted form, in document order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The field's value; empty when the form has no such field.
    pub fn text(&self, name: &str) -> String {
        self.optional(name).unwrap_or_default()
    }

    /// The field's value, `None` when the form has no such field (a field
    /// hidden by the page or an unchecked box), as a native post would
    /// send it.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }

    /// Reads a form element's fields (browser only).
    #[cfg(feature = "hydrate")]
    fn of(form: &web_sys::HtmlFormElement) -> Option<Fields> {
        use wasm_bindgen::JsCast;

        let data = web_sys::FormData::new_with_form(form).ok()?;
        let pairs = js_sys::try_iter(&data)
            .ok()??
            .filter_map(|entry| {
                let entry: js_sys::Array = entry.ok()?.dyn_into().ok()?;
                // a file input's value is a File, not text: not ours to send
                Some((entry.get(0).as_string()?, entry.get(1).as_string()?))
            })
            .collect();
        Some(Fields(pairs))
    }
}

/// A `<form>` posting to the server function of `action`; `read` builds the
/// function's arguments from the submitted fields.
#[component]
pub fn ServerForm<S>(
    action: ServerAction<S>,
    read: fn(&Fields) -> S,
    #[prop(optional)] class: Option<&'static str>,
    /// Leaves validation to the server, which names the field at fault.
    #[prop(optional)]
    novalidate: bool,
    children: Children,
) -> impl IntoView
where
    S: ServerFn + Clone + Send + Sync + 'static,
    S::Output: Send + Sync + 'static,
    S::Error: Send + Sync + 'static,
{
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;

            let form = ev
                .target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok());
            // Unreadable: let the browser post it natively.
            if let Some(fields) = form.as_ref().and_then(Fields::of) {
                ev.prevent_default();
                action.dispatch(read(&fields));
            }
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, action, read);
    };
    view! {
        <form method="post" action=S::url() class=class novalidate=novalidate on:submit=on_submit>
            {children()}
        </form>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_as_a_native_post_sends_them() {
        let f = Fields(vec![
            ("form[base_url]".into(), "https://sgp".into()),
            ("form[token]".into(), String::new()),
            ("next".into(), "/a".into()),
            ("next".into(), "/b".into()),
        ]);
        assert_eq!(f.text("form[base_url]"), "https://sgp");
        // present but empty is not absent: an empty secret keeps the saved one
        assert_eq!(f.optional("form[token]"), Some(String::new()));
        assert_eq!(f.optional("form[password]"), None);
        assert_eq!(f.text("form[password]"), "");
        // the first of repeated fields
        assert_eq!(f.text("next"), "/a");
    }
}
