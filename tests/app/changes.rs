//! What imports changed, over the REST API: the removal guard and its
//! confirmation, the removed customers' filter and field, an import's
//! changes (JSON with counts, and CSV) and a customer's history.

use reqwest::Method;
use serde_json::Value;

use fake_sgp::{FakeConfig, FakeSgp};

use crate::helpers::{spawn_app_with, As, Db, TestApp};

mod removals_and_changes {
    use crate::helpers::Db;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::removals_and_changes(Db::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::removals_and_changes(Db::Postgres).await;
    }
}

const IMPORTS: &str = "/api/admin/integracoes/sgp/importacoes";

async fn get(app: &TestApp, who: &As, path: &str) -> (u16, Value) {
    app.json(Method::GET, path, who, None).await
}

async fn removals_and_changes(db: Db) {
    // the provider's SGP is a fake on loopback, which the app may reach here
    let app = spawn_app_with(db, &[("OUTBOUND_ALLOWED_NETWORKS", "127.0.0.0/8")]).await;
    let mut config = FakeConfig::new(40);
    config.population.contracts_each = Some(1);
    let fake = FakeSgp::start(config).await.unwrap();
    let (_, admin) = app.other_provider("net-mudancas").await;
    let creds = fake.config().credentials;
    let body = serde_json::json!({
        "base_url": fake.url(), "auth_mode": "token", "app": creds.app, "token": creds.token
    })
    .to_string();
    let (status, saved) = app
        .json(
            Method::PUT,
            "/api/admin/integracoes/sgp",
            &admin,
            Some(&body),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    let first = app.import_and_wait(&admin, "Primeira").await;
    // an import that held nothing back cannot be confirmed, even with
    // keys of its pages left behind (as an attempt resumed past its end
    // once left them): they are no list of departures
    leave_keys_behind(&app, &first).await;
    let (status, refused) = app
        .json(
            Method::POST,
            &format!("{IMPORTS}/{first}/confirmar-remocoes"),
            &admin,
            None,
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    let (_, removed) = get(&app, &admin, "/api/admin/clientes?situacao=removido").await;
    assert_eq!(removed["data"]["pagination"]["total"], 0, "{removed}");

    // 8 of 40 leave (20 %): held
    fake.update(|c| c.population.gone = (0..8).collect());
    let held = app.import_and_wait(&admin, "Muitos saíram").await;
    let (_, details) = get(&app, &admin, &format!("{IMPORTS}/{held}")).await;
    let result = &details["data"]["resultado"];
    assert_eq!(result["remocoes_pendentes"], 8, "{details}");
    assert_eq!(result["removidos"], 0);
    let (_, removed) = get(&app, &admin, "/api/admin/clientes?situacao=removido").await;
    assert_eq!(removed["data"]["pagination"]["total"], 0);

    // confirmed: marked, in the result, the list and each customer
    let confirm = format!("{IMPORTS}/{held}/confirmar-remocoes");
    let (status, answer) = app.json(Method::POST, &confirm, &admin, None).await;
    assert_eq!(status, 200, "{answer}");
    let (_, details) = get(&app, &admin, &format!("{IMPORTS}/{held}")).await;
    let result = &details["data"]["resultado"];
    assert_eq!(result["removidos"], 8, "{details}");
    assert!(result.get("remocoes_pendentes").is_none(), "{result}");
    assert!(details["data"]["logs"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["message"]
            .as_str()
            .unwrap()
            .starts_with("Remoções confirmadas por")));
    let (status, again) = app.json(Method::POST, &confirm, &admin, None).await;
    assert_eq!(status, 409, "{again}");
    let (_, removed) = get(
        &app,
        &admin,
        "/api/admin/clientes?situacao=removido&limit=100",
    )
    .await;
    assert_eq!(removed["data"]["pagination"]["total"], 8);
    let first = &removed["data"]["clientes"][0];
    assert!(first["removido_em"].is_string(), "{first}");
    let (_, present) = get(&app, &admin, "/api/admin/clientes?situacao=ativo").await;
    assert_eq!(present["data"]["pagination"]["total"], 32);
    let (_, all) = get(&app, &admin, "/api/admin/clientes").await;
    assert_eq!(all["data"]["pagination"]["total"], 40);
    let (status, bad) = get(&app, &admin, "/api/admin/clientes?situacao=sumido").await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "situacao", "{bad}");

    // what the import changed, with counts per tipo, filtered, and as CSV
    let changes = format!("{IMPORTS}/{held}/alteracoes");
    let (status, page) = get(&app, &admin, &format!("{changes}?limit=5")).await;
    assert_eq!(status, 200, "{page}");
    let data = &page["data"];
    assert_eq!(data["contagem"]["cliente_removido"], 8, "{data}");
    assert_eq!(data["contagem"]["plano"], 0);
    assert_eq!(data["pagination"]["total"], 8);
    assert_eq!(data["pagination"]["hasMore"], true);
    assert_eq!(data["alteracoes"].as_array().unwrap().len(), 5);
    assert_eq!(data["alteracoes"][0]["tipo"], "cliente_removido");
    let (_, filtered) = get(&app, &admin, &format!("{changes}?tipo=plano")).await;
    assert_eq!(filtered["data"]["pagination"]["total"], 0);
    let (status, bad) = get(&app, &admin, &format!("{changes}?tipo=outro")).await;
    assert_eq!(status, 400, "{bad}");
    assert_eq!(bad["field"], "tipo");
    let csv = app
        .call(Method::GET, &format!("{changes}.csv"), &admin, None)
        .await;
    assert_eq!(csv.status(), 200);
    let bytes = csv.bytes().await.unwrap();
    assert!(
        bytes.starts_with("\u{feff}".as_bytes()),
        "a BOM, so Excel reads UTF-8"
    );
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    assert!(text.contains("tipo;chave_cliente;cliente;"), "{text}");
    assert_eq!(text.matches("cliente_removido;").count(), 8, "{text}");

    // they come back: reactivated, and each customer's history says so
    fake.update(|c| c.population.gone.clear());
    let back = app.import_and_wait(&admin, "Voltaram").await;
    let (_, page) = get(&app, &admin, &format!("{IMPORTS}/{back}/alteracoes")).await;
    assert_eq!(page["data"]["contagem"]["cliente_reativado"], 8, "{page}");
    let customer = page["data"]["alteracoes"][0]["cliente_id"]
        .as_i64()
        .unwrap();
    let history = format!("/api/admin/clientes/{customer}/historico");
    let (status, h) = get(&app, &admin, &history).await;
    assert_eq!(status, 200, "{h}");
    let tipos: Vec<&str> = h["data"]["historico"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["tipo"].as_str().unwrap())
        .collect();
    assert_eq!(
        tipos,
        ["cliente_reativado", "cliente_removido", "cliente_criado"]
    );

    // another provider sees none of it
    let demo = app.demo_admin().await;
    let (status, _) = get(&app, &demo, &history).await;
    assert_eq!(status, 404);
    let (status, _) = get(&app, &demo, &changes).await;
    assert_eq!(status, 404);
    let (status, _) = app.json(Method::POST, &confirm, &demo, None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// An empty page of keys for job `id`, written straight into the table.
async fn leave_keys_behind(app: &TestApp, id: &str) {
    use sqlx::Connection;
    let id = uuid::Uuid::parse_str(id).unwrap();
    if app.database_url.starts_with("sqlite") {
        let mut conn = sqlx::SqliteConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO import_seen (job_id, page_offset, tenant_id, customer_keys, \
                contract_keys) SELECT id, 1000000, tenant_id, '[]', '[]' FROM jobs WHERE id = ?1",
        )
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    } else {
        let mut conn = sqlx::PgConnection::connect(&app.database_url)
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO import_seen (job_id, page_offset, tenant_id, customer_keys, \
                contract_keys) SELECT id, 1000000, tenant_id, '{}', '{}' FROM jobs WHERE id = $1",
        )
        .bind(id)
        .execute(&mut conn)
        .await
        .unwrap();
    }
}
