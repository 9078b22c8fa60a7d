//! What can go wrong talking to an SGP, whether retrying can help, and what
//! the admin should do about it.

use std::time::Duration;

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
    #[error("connection failed: {0}")]
    Connection(String),
    /// 5xx and 429: overload or a gateway in trouble.
    #[error("server error (HTTP {status})")]
    Server { status: u16 },
    /// A 200 whose body is not the expected JSON (cut short, an HTML page...).
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl SgpError {
    /// Timeouts, connection trouble, 5xx and malformed bodies may pass;
    /// wrong credentials, a wrong URL or a rejected filter will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            SgpError::Timeout(_)
                | SgpError::Connection(_)
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
            SgpError::Connection(reason) => {
                format!("Não foi possível conectar ao SGP ({reason}).")
            }
            SgpError::Server { status } => {
                format!("O SGP respondeu com um erro temporário (HTTP {status}).")
            }
            SgpError::Malformed(what) => {
                format!("O SGP enviou uma resposta fora do formato esperado ({what}).")
            }
        }
    }
}
