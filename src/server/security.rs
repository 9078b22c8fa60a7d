//! What every response and every cookie-authenticated write goes through:
//! the origin check that stops cross-site requests riding an admin's
//! session (CSRF), and the headers that keep pages out of frames, sniffing
//! and foreign scripts.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{
    AUTHORIZATION, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN, REFERRER_POLICY,
    STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use leptos::server_fn::error::FromServerFnError;

use super::auth::{has_session_cookie, served_over_https};
use super::services::ServiceError;
use super::state::AppState;
use crate::api::error::UiError;

/// Paths that open or close a session: a forged login (into the
/// attacker's account) needs no cookie to do harm, so these are checked
/// whether or not the request carries one.
const SESSION_PATHS: &[&str] = &[
    "/api/auth/login",
    "/api/auth/logout",
    "/api/login",
    "/api/logout",
];

/// Why a write was refused, for the server log.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `Origin` names another site (or `null`, a sandboxed or privacy-
    /// stripped context).
    Origin(String),
    /// No `Origin`, and `Sec-Fetch-Site` says the request came from
    /// elsewhere.
    FetchSite(String),
}

/// Whether an unsafe request comes from this site. `public` is the app's
/// origin when configured (`server.public_url`), else the request's `Host`
/// is this site (or, over HTTP/2, the URI's authority). A request with neither `Origin` nor `Sec-Fetch-Site` did
/// not come from a browser (every browser that runs this app sends
/// `Origin` on a POST): scripts with a cookie jar keep working.
pub fn check_origin(
    headers: &HeaderMap,
    authority: Option<&str>,
    public: Option<&url::Url>,
) -> Result<(), Refusal> {
    if let Some(origin) = headers.get(ORIGIN) {
        let text = origin.to_str().unwrap_or("(not text)");
        let Ok(origin) = url::Url::parse(text) else {
            return Err(Refusal::Origin(text.to_owned()));
        };
        let ours = match public {
            Some(public) => origin.origin() == public.origin(),
            None => headers
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .or(authority)
                // the Host header, read with the Origin's scheme so that
                // default ports compare equal (`x` and `x:443`)
                .and_then(|host| url::Url::parse(&format!("{}://{host}/", origin.scheme())).ok())
                .is_some_and(|host| host.origin() == origin.origin()),
        };
        return if ours {
            Ok(())
        } else {
            Err(Refusal::Origin(text.to_owned()))
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(other) => Err(Refusal::FetchSite(other.to_owned())),
    }
}

/// Middleware: a write (anything but GET, HEAD, OPTIONS) that carries a
/// session cookie, or opens or closes a session, must come from this site.
/// Bearer-token requests are exempt: a browser never adds that header to
/// a cross-site request on its own.
pub async fn same_origin_writes(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    ) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let bearer = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("Bearer "));
    let path = request.uri().path();
    if bearer || !(has_session_cookie(headers) || SESSION_PATHS.contains(&path)) {
        return next.run(request).await;
    }
    let authority = request.uri().authority().map(|a| a.as_str());
    match check_origin(
        headers,
        authority,
        state.settings.server.public_url.as_ref(),
    ) {
        Ok(()) => next.run(request).await,
        Err(refusal) => {
            tracing::warn!(?refusal, path, "cross-site write refused");
            refuse(path, ServiceError::CrossOrigin)
        }
    }
}

/// A refusal in the shape the caller reads: postcard for a server function
/// (its page shows the message), JSON for the REST API.
fn refuse(path: &str, error: ServiceError) -> Response {
    let is_rest = path.starts_with("/api/admin/") || path.starts_with("/api/auth/");
    if path.starts_with("/api/") && !is_rest {
        let status = error.status();
        let body = UiError::new(error.to_string()).ser();
        return (status, Body::from(body)).into_response();
    }
    error.into_response()
}

/// The Content-Security-Policy of a page: its own scripts and styles only,
/// the inline hydration scripts by their per-response nonce, WebAssembly
/// allowed to compile, no frames, no plugins, forms posting here only.
pub fn page_policy(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
         object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// For everything that is not a page (JSON, CSV, files): nothing may run,
/// nothing may frame it.
const NON_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Middleware: the security headers on every response. Pages set their own
/// Content-Security-Policy (with the response's nonce) while rendering;
/// every other response gets one that allows nothing.
pub async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let https = served_over_https(&state.settings, request.headers());
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if https {
        h.insert(
            STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    let is_page = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !h.contains_key(CONTENT_SECURITY_POLICY) && !is_page {
        h.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(NON_PAGE_POLICY),
        );
    }
    response
}

/// REST bodies are JSON: anything else is a 415. A form or `text/plain`
/// body is what a cross-site page can send without asking; JSON is not.
pub fn require_json(headers: &HeaderMap, body: &[u8]) -> Result<(), ServiceError> {
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if json || (content_type.is_empty() && body.is_empty()) {
        Ok(())
    } else {
        Err(ServiceError::UnsupportedMediaType)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn writes_must_come_from_this_site() {
        let here = [("host", "127.0.0.1:3000")];
        let ok = |extra: &[(&'static str, &'static str)]| {
            let mut all = here.to_vec();
            all.extend_from_slice(extra);
            check_origin(&headers(&all), None, None)
        };
        assert_eq!(ok(&[("origin", "http://127.0.0.1:3000")]), Ok(()));
        assert!(ok(&[("origin", "http://evil.example")]).is_err());
        assert!(ok(&[("origin", "http://127.0.0.1:3001")]).is_err());
        assert!(ok(&[("origin", "null")]).is_err());
        assert_eq!(ok(&[("sec-fetch-site", "same-origin")]), Ok(()));
        assert!(ok(&[("sec-fetch-site", "same-site")]).is_err());
        assert!(ok(&[("sec-fetch-site", "cross-site")]).is_err());
        assert_eq!(ok(&[]), Ok(()), "not a browser");
        // the Origin wins over a permissive Sec-Fetch-Site
        assert!(ok(&[
            ("origin", "http://evil.example"),
            ("sec-fetch-site", "same-origin")
        ])
        .is_err());
        // default ports compare equal
        let h = headers(&[
            ("host", "importa.net:443"),
            ("origin", "https://importa.net"),
        ]);
        assert_eq!(check_origin(&h, None, None), Ok(()));
        // HTTP/2 carries the host in the URI, not a Host header
        let h = headers(&[("origin", "https://importa.net")]);
        assert_eq!(check_origin(&h, Some("importa.net"), None), Ok(()));
        assert!(check_origin(&h, None, None).is_err());
    }

    #[test]
    fn behind_a_proxy_the_public_url_is_the_origin() {
        let public = url::Url::parse("https://importa.provedor.com.br").unwrap();
        // the proxy rewrote Host; the browser's Origin is the public one
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://importa.provedor.com.br"),
        ]);
        assert_eq!(check_origin(&h, None, Some(&public)), Ok(()));
        let h = headers(&[
            ("host", "importa.provedor.com.br"),
            ("origin", "http://importa.provedor.com.br"),
        ]);
        assert!(
            check_origin(&h, None, Some(&public)).is_err(),
            "scheme matters"
        );
        let h = headers(&[
            ("host", "127.0.0.1:3000"),
            ("origin", "https://sub.provedor.com.br"),
        ]);
        assert!(
            check_origin(&h, None, Some(&public)).is_err(),
            "a sibling subdomain"
        );
    }

    #[test]
    fn rest_bodies_are_json() {
        let json = headers(&[("content-type", "application/json; charset=utf-8")]);
        assert!(require_json(&json, b"{}").is_ok());
        let problem = headers(&[("content-type", "application/merge-patch+json")]);
        assert!(require_json(&problem, b"{}").is_ok());
        for simple in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ] {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_static(simple));
            let e = require_json(&h, b"{}").unwrap_err();
            assert_eq!(e.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "{simple}");
        }
        assert!(require_json(&HeaderMap::new(), b"{}").is_err());
        assert!(
            require_json(&HeaderMap::new(), b"").is_ok(),
            "no body at all"
        );
    }
}
