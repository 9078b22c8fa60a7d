//! The JSON REST API for providers' scripts. Handlers only read the
//! request and shape the answer; the work is in `services`, shared with the
//! server functions. Routes and the OpenAPI document come from the same
//! annotated handlers (utoipa-axum), so the document cannot drift.

mod auth;
mod customers;
pub mod dto;
mod imports;
pub mod input;
mod integration;
mod notifications;
pub mod response;
mod schedule;

use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::state::AppState;

pub const OPENAPI_PATH: &str = "/api/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SGP Import",
        description = "Imports of ISP customers from SGP. Every answer is `{\"success\": true, \"data\": ...}` or `{\"success\": false, \"error\", \"code\", \"field\"}`. Authenticate with the session cookie (POST /api/auth/login) or an API token (`Authorization: Bearer sgpi_...`)."
    ),
    modifiers(&Security),
    security(("sessao" = []), ("token" = [])),
    tags(
        (name = "importacoes", description = "Import jobs"),
        (name = "integracao", description = "The provider's SGP connection and automatic sync"),
        (name = "notificacoes", description = "Webhooks and e-mails about the provider's imports"),
        (name = "clientes", description = "Imported customers"),
        (name = "auth", description = "Sessions, API tokens, providers"),
    )
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "sessao",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                super::auth::SESSION_COOKIE,
            ))),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// Every REST route with its documentation.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(imports::list))
        .routes(routes!(imports::start))
        .routes(routes!(imports::preview))
        .routes(routes!(imports::details, imports::cancel))
        .routes(routes!(imports::retry))
        .routes(routes!(imports::error_report))
        .routes(routes!(imports::confirm_removals))
        .routes(routes!(imports::changes))
        .routes(routes!(imports::changes_report))
        .routes(routes!(imports::stream))
        .routes(routes!(integration::get, integration::put))
        .routes(routes!(integration::test))
        .routes(routes!(schedule::get, schedule::put))
        .routes(routes!(notifications::get, notifications::put))
        .routes(routes!(notifications::test))
        .routes(routes!(notifications::deliveries))
        .routes(routes!(customers::list))
        .routes(routes!(customers::history))
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::tokens, auth::create_token))
        .routes(routes!(auth::revoke_token))
        .routes(routes!(auth::providers))
        .routes(routes!(auth::choose_provider))
}

/// The REST routes plus the OpenAPI document that describes them.
pub fn router() -> Router<AppState> {
    let (router, doc) = api().split_for_parts();
    let doc = Arc::new(doc);
    router.route(
        OPENAPI_PATH,
        get(move || {
            let doc = doc.clone();
            async move { Json(doc.as_ref().clone()) }
        }),
    )
}
