//! Views rendered to markup on the server, for read-only parts the browser
//! only places (`inner_html`): the same components draw them, and their
//! code stays out of the WASM bundle because nothing in the browser calls
//! them.

use leptos::prelude::*;

/// Text for hand-written markup (the charts, the change lists): `&`, `<`,
/// `>` and both quotes escaped, so it is safe in an element or a quoted
/// attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Renders the view `make` builds, under its own reactive owner (the
/// components may create signals; nothing outlives the call).
pub fn render<V: IntoView>(make: impl FnOnce() -> V) -> String {
    let owner = Owner::new();
    owner.with(|| make().into_view().to_html())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SGP's names and addresses end up in this markup, which the page
    /// places as HTML: text and attributes must come out escaped.
    #[test]
    fn text_and_attributes_are_escaped() {
        let name = r#"<img src=x onerror="alert(1)">&"#.to_owned();
        let title = name.clone();
        let html = render(move || view! { <p title=title>{name}</p> });
        assert!(!html.contains("<img"), "{html}");
        assert!(html.contains("&lt;img"), "{html}");
        assert!(
            !html.contains(r#"title="<img src=x onerror="alert"#),
            "{html}"
        );
        assert!(html.contains("&quot;") || html.contains("&#34;"), "{html}");
        assert_eq!(
            escape(r#"<a href="x">'&"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
    }
}
