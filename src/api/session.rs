//! Server functions for the session: who is signed in, log in and out, and
//! a superadmin's choice of provider. `caller()` is what every other server
//! function starts with.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use server_fn::codec::Postcard;

use super::error::UiError;

/// What the header shows of the signed-in admin.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub name: String,
    pub email: String,
    pub superadmin: bool,
    /// The provider acted on: (slug, name).
    pub provider: Option<(String, String)>,
    /// Every provider, for a superadmin's picker: (slug, name).
    pub providers: Vec<(String, String)>,
}

/// A password on its way to the server. The server-function macro derives
/// `Debug` on its arguments, so this prints a mask, never the password.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Password(pub String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::*;
    use sgp_import_core::auth::Principal;

    use crate::server::auth::principal;
    use crate::server::services::ServiceError;
    use crate::server::state::AppState;

    /// The app state and the caller; a 401 when there is no live session.
    pub async fn caller() -> Result<(AppState, Principal), ServiceError> {
        let state = use_context::<AppState>().ok_or(ServiceError::Internal)?;
        let headers: axum::http::HeaderMap = leptos_axum::extract()
            .await
            .map_err(|_| ServiceError::Internal)?;
        match principal(&state, &headers).await? {
            Some(p) => Ok((state, p)),
            None => Err(ServiceError::Unauthenticated),
        }
    }
}

#[cfg(feature = "ssr")]
pub use ssr::caller;

#[server(endpoint = "session", output = Postcard)]
pub async fn current_session() -> Result<Option<SessionInfo>, UiError> {
    use crate::server::auth::principal;
    use crate::server::services::{session, ServiceError};

    let state = use_context::<crate::server::state::AppState>().ok_or(ServiceError::Internal)?;
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| ServiceError::Internal)?;
    let Some(p) = principal(&state, &headers).await? else {
        return Ok(None);
    };
    let providers = session::providers(&state, &p).await?;
    let named = |t: &crate::model::Tenant| (t.slug.to_string(), t.name.clone());
    Ok(Some(SessionInfo {
        name: p.user.name.clone(),
        email: p.user.email.to_string(),
        superadmin: p.is_superadmin(),
        provider: providers.current.as_ref().map(named),
        providers: providers.choices.iter().map(named).collect(),
    }))
}

/// Opens a session and goes to `next` (a local path) or the dashboard.
#[server(endpoint = "login", output = Postcard)]
pub async fn login(email: String, password: Password, next: Option<String>) -> Result<(), UiError> {
    use crate::server::auth::{safe_next, served_over_https, session_cookie, ClientIp};
    use crate::server::services::{session, ServiceError};

    let state = use_context::<crate::server::state::AppState>().ok_or(ServiceError::Internal)?;
    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| ServiceError::Internal)?;
    let ClientIp(ip) = leptos_axum::extract()
        .await
        .map_err(|_| ServiceError::Internal)?;
    let agent = headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let done = session::login(&state, &email, &password.0, &ip, agent).await?;
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.insert_header(
        axum::http::header::SET_COOKIE,
        session_cookie(
            done.token.expose(),
            done.expires_at,
            served_over_https(&state.settings, &headers),
        ),
    );
    leptos_axum::redirect(&safe_next(next.as_deref()));
    Ok(())
}

#[server(endpoint = "logout", output = Postcard)]
pub async fn logout() -> Result<(), UiError> {
    use crate::server::auth::{clear_cookie, served_over_https};
    use crate::server::services::{session, ServiceError};

    let headers: axum::http::HeaderMap = leptos_axum::extract()
        .await
        .map_err(|_| ServiceError::Internal)?;
    let state = use_context::<crate::server::state::AppState>().ok_or(ServiceError::Internal)?;
    if let Ok((state, p)) = caller().await {
        session::logout(&state, &p).await?;
    }
    let response = expect_context::<leptos_axum::ResponseOptions>();
    response.set_status(axum::http::StatusCode::OK);
    response.insert_header(
        axum::http::header::SET_COOKIE,
        clear_cookie(served_over_https(&state.settings, &headers)),
    );
    leptos_axum::redirect("/login");
    Ok(())
}

/// A superadmin's session now acts on this provider.
#[server(endpoint = "choose_provider", output = Postcard)]
pub async fn choose_provider(slug: String) -> Result<(), UiError> {
    use crate::server::services::providers;

    let (state, p) = caller().await?;
    providers::choose(&state, &p, &slug).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_arguments_never_print_the_password() {
        let args = Login {
            email: "ana@x.com.br".into(),
            password: Password("senha-muito-secreta".into()),
            next: None,
        };
        let text = format!("{args:?}");
        assert!(!text.contains("senha-muito-secreta"), "{text}");
        assert!(text.contains("ana@x.com.br"), "{text}");
    }
}
