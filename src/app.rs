use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::path;

use crate::ui::account::AccountPage;
use crate::ui::customers::CustomersPage;
use crate::ui::imports::ImportsPage;
use crate::ui::integrations::IntegrationsPage;
use crate::ui::layout::AppLayout;
use crate::ui::login::LoginPage;
use crate::ui::not_found::NotFound;
use crate::ui::overview::OverviewPage;

/// The HTML document around the app, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // the page's Content-Security-Policy names this response's nonce, which
    // Leptos puts on its inline hydration scripts
    #[cfg(feature = "ssr")]
    if let (Some(nonce), Some(response)) = (
        leptos::nonce::use_nonce(),
        use_context::<leptos_axum::ResponseOptions>(),
    ) {
        if let Ok(policy) =
            axum::http::HeaderValue::from_str(&crate::server::security::page_policy(&nonce))
        {
            response.insert_header(axum::http::header::CONTENT_SECURITY_POLICY, policy);
        }
    }
    view! {
        <!DOCTYPE html>
        <html lang="pt-BR">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/sgp-import.css"/>
        <Title formatter=|page: String| {
            if page.is_empty() { "SGP Import".to_owned() } else { format!("{page} · SGP Import") }
        }/>
        <Router>
            <Routes fallback=NotFound>
                <Route path=path!("/login") view=LoginPage/>
                <ParentRoute path=path!("") view=AppLayout>
                    <Route path=path!("") view=OverviewPage/>
                    <Route path=path!("/integracoes") view=IntegrationsPage/>
                    <Route path=path!("/dashboard/importacoes") view=ImportsPage/>
                    <Route path=path!("/dashboard/importacoes/:id") view=ImportsPage/>
                    <Route path=path!("/clientes") view=CustomersPage/>
                    <Route path=path!("/conta") view=AccountPage/>
                </ParentRoute>
            </Routes>
        </Router>
    }
}
