//! What a notification says: the webhook's JSON body (built when the event
//! is announced, so every retry sends the same thing) and the e-mail made
//! from it, in Portuguese.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::model::{JobStatus, JobSummary, NotificationEvent, Tenant};
use crate::store::{SilenceWatch, UnannouncedPause};

/// Where a page of the app is: absolute under `PUBLIC_URL`, else a path.
pub fn link(public_url: Option<&url::Url>, path: &str) -> String {
    match public_url.and_then(|base| base.join(path).ok()) {
        Some(url) => url.to_string(),
        None => path.to_owned(),
    }
}

fn provider(tenant: &Tenant) -> Value {
    json!({"id": tenant.id.0, "slug": tenant.slug.as_str(), "nome": tenant.name})
}

/// The event a finished import announces (`None`: still running).
pub fn import_event(status: JobStatus) -> Option<NotificationEvent> {
    match status {
        JobStatus::Completed => Some(NotificationEvent::ImportCompleted),
        JobStatus::Failed => Some(NotificationEvent::ImportFailed),
        JobStatus::Cancelled => Some(NotificationEvent::ImportCancelled),
        _ => None,
    }
}

pub fn import_body(
    event: NotificationEvent,
    tenant: &Tenant,
    job: &JobSummary,
    public_url: Option<&url::Url>,
) -> Value {
    let p = &job.progress;
    let duration = match (job.started_at, job.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_seconds().max(0)),
        _ => None,
    };
    json!({
        "evento": event.name(),
        "provedor": provider(tenant),
        "importacao": {
            "id": job.id.0,
            "nome": job.name,
            "status": job.status.as_str(),
            "origem": job.origin.api_name(),
            "criados": p.created,
            "atualizados": p.updated,
            "inalterados": p.unchanged,
            "erros": p.failed,
            "duracao_segundos": duration,
            "mensagem": job.last_error.clone().or_else(|| p.message.clone()),
            "url": link(public_url, &format!("/dashboard/importacoes/{}", job.id)),
        }
    })
}

pub fn pause_body(
    tenant: &Tenant,
    pause: &UnannouncedPause,
    public_url: Option<&url::Url>,
) -> Value {
    json!({
        "evento": NotificationEvent::SchedulePaused.name(),
        "provedor": provider(tenant),
        "agendamento": {
            "pausado_em": pause.paused_at,
            "motivo": pause.reason,
            "url": link(public_url, "/integracoes"),
        }
    })
}

pub fn silence_body(tenant: &Tenant, watch: &SilenceWatch, public_url: Option<&url::Url>) -> Value {
    json!({
        "evento": NotificationEvent::NoSuccess.name(),
        "provedor": provider(tenant),
        "sem_sucesso": {
            "horas": watch.hours,
            "ultima_importacao_concluida_em": watch.last_success,
            "url": link(public_url, "/dashboard/importacoes"),
        }
    })
}

pub fn test_body(tenant: &Tenant, public_url: Option<&url::Url>) -> Value {
    json!({
        "evento": NotificationEvent::Test.name(),
        "provedor": provider(tenant),
        "mensagem": "Notificação de teste do Importador SGP.",
        "url": link(public_url, "/integracoes"),
    })
}

/// The body as sent: the stored one with the sending time.
pub fn sent(body: &Value, now: DateTime<Utc>) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.insert("enviado_em".to_owned(), json!(now));
    }
    body
}

/// `DD/MM/AAAA HH:MM` in Brasília time.
fn when(v: &Value) -> Option<String> {
    let t: DateTime<Utc> = serde_json::from_value(v.clone()).ok()?;
    Some(
        t.with_timezone(&crate::schedule::TIME_ZONE)
            .format("%d/%m/%Y %H:%M")
            .to_string(),
    )
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".to_owned(),
        other => other.to_string(),
    }
}

/// The e-mail of a notification: subject and plain-text body.
pub fn email(event: NotificationEvent, body: &Value) -> (String, String) {
    let provider = text(&body["provedor"]["nome"]);
    match event {
        NotificationEvent::ImportCompleted
        | NotificationEvent::ImportFailed
        | NotificationEvent::ImportCancelled => {
            let i = &body["importacao"];
            let outcome = match event {
                NotificationEvent::ImportCompleted => "concluída",
                NotificationEvent::ImportFailed => "com erro",
                _ => "cancelada",
            };
            let subject = format!("[{provider}] Importação {outcome}: {}", text(&i["nome"]));
            let mut lines = vec![
                format!(
                    "A importação \"{}\" de {provider} terminou {outcome}.",
                    text(&i["nome"])
                ),
                String::new(),
                format!("Novos: {}", text(&i["criados"])),
                format!("Atualizados: {}", text(&i["atualizados"])),
                format!("Sem mudança: {}", text(&i["inalterados"])),
                format!("Com erro: {}", text(&i["erros"])),
            ];
            if let Some(s) = i["duracao_segundos"].as_i64() {
                lines.push(format!("Duração: {} min {} s", s / 60, s % 60));
            }
            if !i["mensagem"].is_null() {
                lines.push(format!("Mensagem: {}", text(&i["mensagem"])));
            }
            lines.push(String::new());
            lines.push(format!("Detalhes: {}", text(&i["url"])));
            (subject, lines.join("\n"))
        }
        NotificationEvent::SchedulePaused => {
            let a = &body["agendamento"];
            (
                format!("[{provider}] Sincronização automática pausada"),
                format!(
                    "A sincronização automática de {provider} foi pausada em {}.\n\n{}\n\n\
                     Corrija a causa e salve a sincronização de novo para retomá-la: {}",
                    when(&a["pausado_em"]).unwrap_or_default(),
                    text(&a["motivo"]),
                    text(&a["url"])
                ),
            )
        }
        NotificationEvent::NoSuccess => {
            let s = &body["sem_sucesso"];
            let last = when(&s["ultima_importacao_concluida_em"])
                .map(|t| format!("A última importação concluída terminou em {t}."))
                .unwrap_or_else(|| "Nenhuma importação foi concluída até agora.".to_owned());
            (
                format!(
                    "[{provider}] Nenhuma importação concluída nas últimas {} horas",
                    text(&s["horas"])
                ),
                format!(
                    "{provider} está há mais de {} horas sem uma importação concluída.\n{last}\n\n\
                     Veja as importações: {}",
                    text(&s["horas"]),
                    text(&s["url"])
                ),
            )
        }
        NotificationEvent::Test => (
            format!("[{provider}] Teste de notificação"),
            format!(
                "Este é um e-mail de teste do Importador SGP para {provider}.\n\
                 Se chegou, as notificações por e-mail estão funcionando.\n\n{}",
                text(&body["url"])
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{JobId, JobOrigin, JobProgress, TenantId, TenantSlug};

    fn tenant() -> Tenant {
        Tenant {
            id: TenantId(uuid::Uuid::nil()),
            slug: TenantSlug::parse("net-a").unwrap(),
            name: "Net A".into(),
            created_at: Utc::now(),
        }
    }

    fn job(status: JobStatus) -> JobSummary {
        let t0 = DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        JobSummary {
            id: JobId(uuid::Uuid::nil()),
            tenant_id: TenantId(uuid::Uuid::nil()),
            kind: "sgp_import".into(),
            name: "Noturna".into(),
            status,
            origin: JobOrigin::Scheduled,
            attempt: 1,
            max_attempts: 5,
            progress: JobProgress {
                created: 3,
                updated: 2,
                unchanged: 10,
                failed: 1,
                ..JobProgress::default()
            },
            queue_position: None,
            lease_owner: None,
            last_error: None,
            run_after: t0,
            cancel_requested_at: None,
            created_at: t0,
            started_at: Some(t0),
            finished_at: Some(t0 + chrono::Duration::seconds(95)),
            updated_at: t0,
        }
    }

    #[test]
    fn the_import_body_has_the_documented_fields() {
        let base = url::Url::parse("https://importa.net.br/").unwrap();
        let b = import_body(
            NotificationEvent::ImportCompleted,
            &tenant(),
            &job(JobStatus::Completed),
            Some(&base),
        );
        assert_eq!(b["evento"], "importacao.concluida");
        assert_eq!(b["provedor"]["slug"], "net-a");
        let i = &b["importacao"];
        for (k, v) in [
            ("status", json!("completed")),
            ("origem", json!("agendada")),
            ("criados", json!(3)),
            ("atualizados", json!(2)),
            ("inalterados", json!(10)),
            ("erros", json!(1)),
            ("duracao_segundos", json!(95)),
        ] {
            assert_eq!(i[k], v, "{k}");
        }
        assert_eq!(
            i["url"],
            "https://importa.net.br/dashboard/importacoes/00000000-0000-0000-0000-000000000000"
        );
        let (subject, text) = email(NotificationEvent::ImportCompleted, &b);
        assert_eq!(subject, "[Net A] Importação concluída: Noturna");
        assert!(
            text.contains("Novos: 3") && text.contains("Duração: 1 min 35 s"),
            "{text}"
        );
        assert!(
            text.contains("https://importa.net.br/dashboard/importacoes/"),
            "{text}"
        );
        assert!(sent(&b, Utc::now())["enviado_em"].is_string());
    }
}
