//! Who is calling: the session cookie or an API token, checked on every
//! request that needs it. Pages without a session go to `/login`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use sgp_import_core::auth::Principal;
use sgp_import_core::config::Settings;

use super::services::ServiceError;
use super::state::AppState;

/// The session cookie over plain HTTP (local development, a LAN).
pub const SESSION_COOKIE: &str = "sgp_session";
/// The session cookie over HTTPS: the `__Host-` prefix makes the browser
/// refuse it unless it is `Secure`, for this host only (no `Domain`) and
/// `Path=/`, so a sibling subdomain cannot plant one (session fixation).
pub const SECURE_SESSION_COOKIE: &str = "__Host-sgp_session";

/// The caller of a request, or `None` when it brings no valid credential.
pub async fn principal(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<Principal>, ServiceError> {
    if let Some(value) = headers.get(AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .unwrap_or_default();
        // a wrong token is a 401 even when a cookie would have worked:
        // scripts should hear that their token is bad
        return Ok(state.auth.bearer(token).await?);
    }
    let name = session_cookie_name(served_over_https(&state.settings, headers));
    match cookie(headers, name) {
        Some(token) => Ok(state.auth.session(&token).await?),
        None => Ok(None),
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| !v.is_empty())
}

/// Whether browsers reach the app over HTTPS: the scheme of
/// `server.public_url` when set, else what a proxy says in
/// `X-Forwarded-Proto`. Decides the cookie's name and `Secure`, and HSTS.
pub fn served_over_https(settings: &Settings, headers: &HeaderMap) -> bool {
    match &settings.server.public_url {
        Some(url) => url.scheme() == "https",
        None => headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https")),
    }
}

pub fn session_cookie_name(https: bool) -> &'static str {
    if https {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// Whether the request carries a session cookie of either name.
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    cookie(headers, SESSION_COOKIE).is_some() || cookie(headers, SECURE_SESSION_COOKIE).is_some()
}

pub fn session_cookie(token: &str, expires_at: DateTime<Utc>, https: bool) -> HeaderValue {
    let max_age = (expires_at - Utc::now()).num_seconds().max(0);
    let value = format!(
        "{}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{}",
        session_cookie_name(https),
        if https { "; Secure" } else { "" }
    );
    // the token is ours (URL-safe base64), never the request's
    HeaderValue::from_str(&value).expect("a token is URL-safe base64")
}

pub fn clear_cookie(https: bool) -> HeaderValue {
    let value = format!(
        "{}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        session_cookie_name(https),
        if https { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&value).expect("a literal cookie")
}

/// The peer address (throttling counts failures per address). An IPv6
/// client is counted by its /64: one subscriber usually holds a whole /64
/// and could otherwise rotate through it, a new address per guess.
pub fn client_ip(parts_ext: &axum::http::Extensions) -> String {
    parts_ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| throttle_key(addr.ip()))
        .unwrap_or_else(|| "desconhecido".to_owned())
}

fn throttle_key(ip: std::net::IpAddr) -> String {
    match ip.to_canonical() {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// An extractor for REST handlers: the caller, or a 401.
pub struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match principal(state, &parts.headers).await? {
            Some(p) => Ok(Caller(p)),
            None => Err(ServiceError::Unauthenticated),
        }
    }
}

/// Pages of the app: without a session they redirect to the login page.
fn is_protected_page(path: &str) -> bool {
    path == "/"
        || ["/integracoes", "/dashboard", "/clientes", "/conta"]
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Middleware: a page request without a live session is sent to `/login`,
/// remembering where it was going.
pub async fn require_session_for_pages(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    if request.method() != Method::GET || !is_protected_page(&path) {
        return next.run(request).await;
    }
    match principal(&state, request.headers()).await {
        Ok(Some(_)) => next.run(request).await,
        Ok(None) => {
            let target = request
                .uri()
                .path_and_query()
                .map_or(path.clone(), |p| p.to_string());
            let mut response =
                Redirect::to(&format!("/login?next={}", encode(&target))).into_response();
            // a stale cookie is dropped so the browser stops sending it
            let https = served_over_https(&state.settings, request.headers());
            if cookie(request.headers(), session_cookie_name(https)).is_some() {
                response
                    .headers_mut()
                    .insert(SET_COOKIE, clear_cookie(https));
            }
            response
        }
        Err(e) => e.into_response(),
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Where to go after login: `next` resolved as a browser would resolve it
/// against this site, kept only when it stays on this site. Browsers drop
/// tabs and line breaks from URLs (so `/<TAB>/evil.example` becomes
/// `//evil.example`, another site) and read `\` as `/`; control characters
/// also could not go into a `Location` header. Anything doubtful goes to
/// `/`. No `next` goes to the dashboard. The result is the URL parser's
/// own serialisation, percent-encoded ASCII, always a valid header value.
pub fn safe_next(next: Option<&str>) -> String {
    let Some(next) = next.filter(|n| !n.is_empty()) else {
        return "/dashboard/importacoes".to_owned();
    };
    if !next.starts_with('/') || next.chars().any(char::is_control) {
        return "/".to_owned();
    }
    let Ok(site) = url::Url::parse("http://site.invalid/") else {
        return "/".to_owned();
    };
    match site.join(next) {
        // dot segments can leave `//host` behind (`/.//evil.example`),
        // which a browser reads as another site
        Ok(target) if target.origin() == site.origin() && !target.path().starts_with("//") => {
            match target.query() {
                Some(query) => format!("{}?{query}", target.path()),
                None => target.path().to_owned(),
            }
        }
        _ => "/".to_owned(),
    }
}

/// The peer address of a request, for throttling by address.
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(client_ip(&parts.extensions)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            COOKIE,
            HeaderValue::from_static("a=1; sgp_session=abc; b=2"),
        );
        assert_eq!(cookie(&h, SESSION_COOKIE).as_deref(), Some("abc"));
        h.insert(COOKIE, HeaderValue::from_static("sgp_session="));
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
        h.insert(COOKIE, HeaderValue::from_static("__Host-sgp_session=xyz"));
        assert!(has_session_cookie(&h));
        assert_eq!(cookie(&h, SESSION_COOKIE), None);
    }

    #[test]
    fn only_local_paths_are_followed_after_login() {
        assert_eq!(safe_next(Some("/clientes?q=ana")), "/clientes?q=ana");
        assert_eq!(safe_next(Some("/clientes?q=joão")), "/clientes?q=jo%C3%A3o");
        assert_eq!(safe_next(Some("/conta/../integracoes")), "/integracoes");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil.example",
            "/\t/evil.example",
            "/\n/evil.example",
            "\t//evil.example",
            "/%0d%0aSet-Cookie:x=1",
            "/ok\r\nSet-Cookie: x=1",
            "/nul\0",
            "javascript:alert(1)",
            "evil.example",
        ] {
            let got = safe_next(Some(bad));
            assert!(
                got == "/" || (got.starts_with('/') && !got.starts_with("//")),
                "{bad:?} -> {got:?}"
            );
            assert!(HeaderValue::from_str(&got).is_ok(), "{bad:?} -> {got:?}");
            assert!(
                !got.contains("evil.example") || got.starts_with("/%"),
                "{bad:?} -> {got:?}"
            );
        }
        for dotted in [
            "/.//evil.example",
            "/a/..//evil.example",
            "/%2e//evil.example",
        ] {
            assert_eq!(safe_next(Some(dotted)), "/", "{dotted}");
        }
        assert_eq!(safe_next(Some("/\t/evil.example")), "/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(None), "/dashboard/importacoes");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let a = throttle_key("2804:14c:1:2:aaaa::1".parse().unwrap());
        let b = throttle_key("2804:14c:1:2:bbbb::9".parse().unwrap());
        assert_eq!(a, b);
        assert_eq!(a, "2804:14c:1:2::/64");
        assert_ne!(a, throttle_key("2804:14c:1:3::1".parse().unwrap()));
        assert_eq!(throttle_key("::ffff:10.0.0.7".parse().unwrap()), "10.0.0.7");
    }

    #[test]
    fn protects_the_app_pages_only() {
        for p in [
            "/",
            "/integracoes",
            "/dashboard/importacoes",
            "/dashboard/importacoes/x",
            "/clientes",
        ] {
            assert!(is_protected_page(p), "{p}");
        }
        for p in [
            "/login",
            "/pkg/sgp-import.js",
            "/healthz",
            "/api/openapi.json",
            "/favicon.svg",
            "/clientesx",
        ] {
            assert!(!is_protected_page(p), "{p}");
        }
    }
}
