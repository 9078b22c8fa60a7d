//! What can go wrong talking to an SGP, whether retrying can help, and what
//! the admin should do about it.
//!
//! Transport failures reach the admin as one message per class (cannot
//! connect, no answer in time, answer cut short): the SGP URL is typed by a
//! tenant, and telling "connection refused" from "no such host" from a TLS
//! failure would let one probe what listens where. The cause goes to the
//! server's log.

use std::time::Duration;

use crate::model::thousands;
use crate::outbound::{ALLOWED_NETWORKS_ENV, ALLOWED_NETWORKS_SETTING};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SgpError {
    /// 401/403: wrong or missing token, app, user or password.
    #[error("credentials refused (HTTP {status}): {detail}")]
    Credentials { status: u16, detail: String },
    /// 404: the base URL does not point at an SGP.
    #[error("not an SGP API at {url} (HTTP 404)")]
    NotFound { url: String },
    /// 400/422, or 200 with `{"msg", "status": 0}`: SGP rejected a parameter.
    #[error("request rejected (HTTP {status}): {detail}")]
    Rejected { status: u16, detail: String },
    /// Any other 4xx: retrying the same request cannot help.
    #[error("unexpected HTTP {status}")]
    Client { status: u16 },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// No connection (name not found, refused, reset, TLS...).
    #[error("connection failed")]
    Connection,
    /// The answer started, then the connection dropped.
    #[error("answer cut short")]
    Interrupted,
    /// The address is not one the outbound policy lets us reach; nothing
    /// was sent.
    #[error("address refused by the outbound policy")]
    Refused,
    /// A 3xx: redirects are not followed.
    #[error("redirect (HTTP {status}) not followed")]
    Redirect { status: u16 },
    /// More than `sgp.max_response_bytes`: refused from its Content-Length
    /// (`declared`), or reading stopped at the budget.
    #[error("answer larger than {limit} bytes")]
    TooLarge { limit: u64, declared: Option<u64> },
    /// A 200 holding more customers, contracts, services and contacts
    /// together than one answer may (`limit`): refused whole.
    #[error("answer holding more than {limit} items")]
    TooManyItems { limit: usize },
    /// 5xx and 429: overload or a gateway in trouble.
    #[error("server error (HTTP {status})")]
    Server { status: u16 },
    /// A 200 whose body is not the expected JSON (cut short, an HTML page...).
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl SgpError {
    /// The outcome class of a request that failed this way, for metrics:
    /// a few fixed names, never a tenant's text.
    pub fn class(&self) -> &'static str {
        match self {
            SgpError::Credentials { .. } => "credentials",
            SgpError::NotFound { .. } | SgpError::Rejected { .. } | SgpError::Client { .. } => {
                "client_error"
            }
            SgpError::Timeout(_) => "timeout",
            SgpError::Connection | SgpError::Interrupted => "connection",
            SgpError::Refused => "refused",
            SgpError::Redirect { .. } => "redirect",
            SgpError::TooLarge { .. } | SgpError::TooManyItems { .. } => "too_large",
            SgpError::Server { .. } => "server_error",
            SgpError::Malformed(_) => "malformed",
        }
    }

    /// Timeouts, connection trouble, 5xx and malformed bodies may pass;
    /// wrong credentials, a wrong URL, a refused address, a redirect, an
    /// oversized answer or a rejected filter will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SgpError::Timeout(_)
                | SgpError::Connection
                | SgpError::Interrupted
                | SgpError::Server { .. }
                | SgpError::Malformed(_)
        )
    }

    /// For the admin, in Portuguese: what happened and what to fix.
    pub fn message_pt(&self) -> String {
        match self {
            SgpError::Credentials { status, detail } => format!(
                "O SGP recusou as credenciais (HTTP {status}: {detail}). Confira em Integrações o \
                 token e o nome do app (o app diferencia maiúsculas de minúsculas) ou o usuário e a senha."
            ),
            SgpError::NotFound { url } => format!(
                "O endereço {url} não respondeu como um SGP (HTTP 404). Confira a URL base em \
                 Integrações: use só o endereço do SGP, como https://provedor.sgp.net.br."
            ),
            SgpError::Rejected { status, detail } => format!(
                "O SGP rejeitou os parâmetros da importação (HTTP {status}: {detail}). Revise os filtros."
            ),
            SgpError::Client { status } => format!(
                "O SGP respondeu HTTP {status}, que não é uma resposta esperada. Confira a URL base e as \
                 credenciais em Integrações."
            ),
            SgpError::Timeout(d) => format!("O SGP não respondeu em {} s.", d.as_secs().max(1)),
            SgpError::Connection => "Não foi possível conectar ao SGP. Confira a URL base em \
                Integrações e se o SGP está no ar."
                .to_owned(),
            SgpError::Interrupted => {
                "O SGP encerrou a conexão antes de terminar a resposta.".to_owned()
            }
            SgpError::Refused => format!(
                "O endereço do SGP aponta para uma rede interna ou reservada, que este servidor não \
                 acessa por segurança; nada foi enviado. Use o endereço público do SGP. Se o SGP do \
                 provedor fica numa rede privada, o operador do servidor pode liberar essa rede na \
                 configuração {ALLOWED_NETWORKS_SETTING} (variável {ALLOWED_NETWORKS_ENV})."
            ),
            SgpError::Redirect { status } => format!(
                "O SGP respondeu com um redirecionamento (HTTP {status}), que não é seguido por \
                 segurança. Informe em Integrações o endereço final do SGP (confira https:// e o caminho)."
            ),
            SgpError::TooLarge { limit, declared } => format!(
                "A resposta do SGP é grande demais: {} (o limite é {}, configuração \
                 sgp.max_response_bytes). A importação parou nesta página.",
                match declared {
                    Some(n) => human_bytes(*n),
                    None => format!("mais de {}", human_bytes(*limit)),
                },
                human_bytes(*limit)
            ),
            SgpError::TooManyItems { limit } => format!(
                "A resposta do SGP tem itens demais: mais de {} clientes, contratos, serviços e \
                 contatos somados numa só página (o SGP parece ignorar o parâmetro limit, ou \
                 enviou uma lista sem fim). A importação parou nesta página.",
                thousands(*limit as u64)
            ),
            SgpError::Server { status } => {
                format!("O SGP respondeu com um erro temporário (HTTP {status}).")
            }
            SgpError::Malformed(what) => {
                format!("O SGP enviou uma resposta fora do formato esperado ({what}).")
            }
        }
    }
}

/// `512 bytes`, `64 KB`, `32 MB`, `1,5 GB` (binary multiples, Brazilian
/// decimal comma).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    let text = if value.fract() < 0.05 || value >= 100.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}").replace('.', ",")
    };
    format!("{text} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_an_admin_expects() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(32 * 1024 * 1024), "32 MB");
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1,5 GB");
        assert_eq!(human_bytes(1 << 40), "1 TB");
    }

    #[test]
    fn transport_classes_say_nothing_of_the_cause() {
        // one message per class, whatever the cause was
        let text = SgpError::Connection.message_pt();
        for cause in ["recusada", "DNS", "reset", "TLS", "certificado"] {
            assert!(!text.contains(cause), "{text}");
        }
        assert!(SgpError::Refused
            .message_pt()
            .contains("outbound.allowed_networks"));
        assert!(!SgpError::Refused.is_transient());
        assert!(!SgpError::Redirect { status: 307 }.is_transient());
        let big = SgpError::TooLarge {
            limit: 32 << 20,
            declared: Some(5 << 30),
        };
        assert!(!big.is_transient());
        assert!(big.message_pt().contains("5 GB") && big.message_pt().contains("32 MB"));
    }
}
