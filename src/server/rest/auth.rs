//! `/api/auth/...` and the superadmin's `/api/admin/provedores`.

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;

use super::dto::{
    EscolherProvedorJson, LoginJson, NovoTokenJson, ProvedorJson, SessaoJson, TokenCriadoJson,
    TokenJson, UsuarioJson,
};
use super::input::{uuid, JsonBody, PathId};
use super::response::{ok, Envelope, ErrorBody};
use crate::server::auth::{clear_cookie, served_over_https, session_cookie, Caller, ClientIp};
use crate::server::services::{providers, session, ServiceError};
use crate::server::state::AppState;

/// Opens a session: the cookie `sgp_session` (HttpOnly, SameSite=Lax), or
/// over HTTPS `__Host-sgp_session` (also Secure).
#[utoipa::path(post, path = "/api/auth/login", tag = "auth",
    request_body = LoginJson,
    security(()),
    responses(
        (status = 200, body = Envelope<SessaoJson>),
        (status = 400, body = ErrorBody),
        (status = 422, description = "wrong e-mail or password", body = ErrorBody),
        (status = 429, description = "too many failed attempts; see Retry-After", body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    JsonBody(input): JsonBody<LoginJson>,
) -> Result<impl IntoResponse, ServiceError> {
    let agent = headers.get(USER_AGENT).and_then(|v| v.to_str().ok());
    let done = session::login(&state, &input.email, &input.password, &ip, agent).await?;
    let https = served_over_https(&state.settings, &headers);
    let cookie = session_cookie(done.token.expose(), done.expires_at, https);
    Ok((
        [(SET_COOKIE, cookie)],
        ok(SessaoJson {
            usuario: UsuarioJson::new(&done.principal.user, done.principal.tenant),
            expira_em: done.expires_at,
        }),
    ))
}

/// Ends the session and clears its cookie.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth",
    responses((status = 200, body = Envelope<bool>), (status = 401, body = ErrorBody)))]
pub async fn logout(
    State(state): State<AppState>,
    Caller(caller): Caller,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ServiceError> {
    session::logout(&state, &caller).await?;
    let https = served_over_https(&state.settings, &headers);
    Ok(([(SET_COOKIE, clear_cookie(https))], ok(true)))
}

/// Who is calling, and for which provider.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth",
    responses((status = 200, body = Envelope<UsuarioJson>), (status = 401, body = ErrorBody)))]
pub async fn me(Caller(caller): Caller) -> Json<Envelope<UsuarioJson>> {
    ok(UsuarioJson::new(&caller.user, caller.tenant))
}

/// The caller's API tokens (never the tokens themselves).
#[utoipa::path(get, path = "/api/auth/tokens", tag = "auth",
    responses((status = 200, body = Envelope<Vec<TokenJson>>), (status = 401, body = ErrorBody)))]
pub async fn tokens(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<Vec<TokenJson>>>, ServiceError> {
    let list = session::tokens(&state, &caller).await?;
    Ok(ok(list.iter().map(TokenJson::from).collect()))
}

/// A new API token for scripts (`Authorization: Bearer ...`), bound to the
/// provider the caller acts on, valid until revoked or for `validade_dias`.
/// The token is in this answer only. Only a browser session (the cookie)
/// may create one, not another token (403 `session_required`).
#[utoipa::path(post, path = "/api/auth/tokens", tag = "auth",
    request_body = NovoTokenJson,
    responses(
        (status = 201, body = Envelope<TokenCriadoJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, description = "called with an API token", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<NovoTokenJson>,
) -> Result<impl IntoResponse, ServiceError> {
    let (token, info) =
        session::create_token(&state, &caller, &input.nome, input.validade_dias).await?;
    Ok((
        StatusCode::CREATED,
        ok(TokenCriadoJson {
            token: token.expose().to_owned(),
            info: TokenJson::from(&info),
        }),
    ))
}

/// Revokes one of the caller's API tokens.
#[utoipa::path(delete, path = "/api/auth/tokens/{id}", tag = "auth",
    params(("id" = String, Path, description = "the token's id")),
    responses(
        (status = 200, body = Envelope<bool>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Caller(caller): Caller,
    PathId(id): PathId,
) -> Result<Json<Envelope<bool>>, ServiceError> {
    let id = uuid("id", &id)?;
    session::revoke_token(&state, &caller, id).await?;
    Ok(ok(true))
}

/// Every provider (superadmins only).
#[utoipa::path(get, path = "/api/admin/provedores", tag = "auth",
    responses(
        (status = 200, body = Envelope<Vec<ProvedorJson>>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn providers(
    State(state): State<AppState>,
    Caller(caller): Caller,
) -> Result<Json<Envelope<Vec<ProvedorJson>>>, ServiceError> {
    let list = providers::list(&state, &caller).await?;
    Ok(ok(list.iter().map(ProvedorJson::from).collect()))
}

/// Points the superadmin's session at a provider.
#[utoipa::path(post, path = "/api/auth/provedor", tag = "auth",
    request_body = EscolherProvedorJson,
    responses(
        (status = 200, body = Envelope<ProvedorJson>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)))]
pub async fn choose_provider(
    State(state): State<AppState>,
    Caller(caller): Caller,
    JsonBody(input): JsonBody<EscolherProvedorJson>,
) -> Result<Json<Envelope<ProvedorJson>>, ServiceError> {
    let tenant = providers::choose(&state, &caller, &input.slug).await?;
    Ok(ok(ProvedorJson::from(&tenant)))
}
