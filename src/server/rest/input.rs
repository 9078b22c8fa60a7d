//! Reading requests without ever answering 500 for bad input: query
//! strings, path ids and JSON bodies each fail with the field named.

use std::collections::HashMap;

use axum::body::Bytes;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::model::{ChangeKind, JobId, JobOrigin, JobStatus};
use crate::server::services::ServiceError;

/// A query string, decoded leniently; values are checked by the getters.
pub struct QueryParams(HashMap<String, String>);

impl QueryParams {
    /// A parameter given more than once keeps every value, joined by
    /// commas as a list is written (`status=a&status=b` is `status=a,b`),
    /// so none is dropped unsaid: a list takes them all, a number refuses
    /// them by name.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut params: HashMap<String, String> = HashMap::new();
        for (name, value) in url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            // (an empty one adds nothing: `status=&status=failed` is `failed`)
            params
                .entry(name.into_owned())
                .and_modify(|v| {
                    if v.trim().is_empty() {
                        v.clear();
                    } else if !value.trim().is_empty() {
                        v.push(',');
                    }
                    v.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        QueryParams(params)
    }

    pub fn text(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A whole number in `min..=max`, `default` when absent.
    pub fn number(
        &self,
        name: &str,
        min: u64,
        max: u64,
        default: u64,
    ) -> Result<u64, ServiceError> {
        match self.text(name) {
            None => Ok(default),
            Some(v) => match v.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ => Err(ServiceError::bad_request(
                    name,
                    format!("`{name}` deve ser um número inteiro entre {min} e {max}."),
                )),
            },
        }
    }

    /// `status=` as one status or a comma-separated list.
    pub fn statuses(&self, name: &str) -> Result<Option<Vec<JobStatus>>, ServiceError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        // the original API's spelling of "no filter"
        if raw.trim() == "all" {
            return Ok(None);
        }
        raw.split(',')
            .map(|s| {
                s.trim().parse::<JobStatus>().map_err(|_| {
                    ServiceError::bad_request(
                        name,
                        format!(
                            "Situação desconhecida: {:?}. Use uma destas: {}.",
                            s.trim(),
                            JobStatus::ALL.map(JobStatus::as_str).join(", ")
                        ),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()
            .map(|mut statuses| {
                // once each: a status listed twice would be counted twice
                let mut seen = std::collections::HashSet::new();
                statuses.retain(|s| seen.insert(*s));
                Some(statuses)
            })
    }
}

impl QueryParams {
    /// `origem`: `manual`, `agendada` or `api`.
    pub fn origin(&self, name: &str) -> Result<Option<JobOrigin>, ServiceError> {
        let Some(raw) = self.text(name) else {
            return Ok(None);
        };
        JobOrigin::from_api_name(raw.trim())
            .map(Some)
            .ok_or_else(|| {
                ServiceError::bad_request(
                    name,
                    format!(
                        "Origem desconhecida: {:?}. Use uma destas: {}.",
                        raw.trim(),
                        JobOrigin::ALL.map(JobOrigin::api_name).join(", ")
                    ),
                )
            })
    }
}

impl QueryParams {
    /// `tipo`: one kind of change (`contrato_status`...).
    pub fn change_kind(&self, name: &str) -> Result<Option<ChangeKind>, ServiceError> {
        let Some(raw) = self.text(name).filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        ChangeKind::parse(raw.trim()).map(Some).ok_or_else(|| {
            ServiceError::bad_request(
                name,
                format!(
                    "Tipo de alteração desconhecido: {:?}. Use um destes: {}.",
                    raw.trim(),
                    ChangeKind::ALL.map(ChangeKind::as_str).join(", ")
                ),
            )
        })
    }
}

pub fn uuid(field: &str, raw: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(raw.trim()).map_err(|_| {
        ServiceError::bad_request(
            field,
            format!("`{field}` deve ser um UUID (ex.: 0192f0c2-7a4e-7c31-9d5b-2f1c3e4a5b6c)."),
        )
    })
}

pub fn job_id(field: &str, raw: &str) -> Result<JobId, ServiceError> {
    uuid(field, raw).map(JobId)
}

/// A path's `{id}` as text. axum's own `Path` answers a segment that is not
/// UTF-8 (`/importacoes/%FF`) in English plain text; this one answers like
/// every other bad input, naming `id`.
pub struct PathId(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathId {
    type Rejection = ServiceError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ServiceError> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(id)| PathId(id))
            .map_err(|_| {
                ServiceError::bad_request(
                    "id",
                    "O identificador no endereço é inválido (não é um texto UTF-8).",
                )
            })
    }
}

/// A REST body read as JSON `T`: a Content-Type other than JSON is a 415,
/// then [`json`]'s rules.
pub struct JsonBody<T>(pub T);

/// A REST body type. Bodies refuse fields they do not know; one that a
/// script may send back as the `GET` answer it edited lists the fields
/// only answers carry, which are accepted and ignored.
pub trait RequestBody: DeserializeOwned {
    const ANSWER_ONLY: &'static [&'static str] = &[];
}

/// `body` without `fields` at its top level (as it came when it is not a
/// JSON object: [`json`] then says what is wrong with it). Each member is
/// kept as the text it came as, and a key given twice stays twice, for
/// the strict reading to refuse: a JSON tree would keep only the last
/// (`{"webhooks": [...], "webhooks": []}` would store an empty list).
fn without_fields(body: Bytes, fields: &[&str]) -> Bytes {
    struct Members<'a>(Vec<(String, &'a serde_json::value::RawValue)>);
    impl<'de> serde::Deserialize<'de> for Members<'de> {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visit;
            impl<'de> serde::de::Visitor<'de> for Visit {
                type Value = Members<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut map: A,
                ) -> Result<Self::Value, A::Error> {
                    let mut members = Vec::new();
                    while let Some(member) = map.next_entry()? {
                        members.push(member);
                    }
                    Ok(Members(members))
                }
            }
            d.deserialize_map(Visit)
        }
    }
    if fields.is_empty() {
        return body;
    }
    let Ok(Members(members)) = serde_json::from_slice::<Members>(&body) else {
        return body;
    };
    if !members.iter().any(|(k, _)| fields.contains(&k.as_str())) {
        return body;
    }
    let kept: Vec<String> = members
        .iter()
        .filter(|(k, _)| !fields.contains(&k.as_str()))
        .map(|(k, v)| format!("{}:{}", serde_json::Value::from(k.as_str()), v.get()))
        .collect();
    Bytes::from(format!("{{{}}}", kept.join(",")))
}

impl<T: RequestBody, S: Send + Sync> axum::extract::FromRequest<S> for JsonBody<T> {
    type Rejection = ServiceError;

    async fn from_request(
        request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, ServiceError> {
        let headers = request.headers().clone();
        let body = Bytes::from_request(request, state).await.map_err(|_| {
            ServiceError::bad_request("body", "Corpo da requisição grande demais ou ilegível.")
        })?;
        crate::server::security::require_json(&headers, &body)?;
        json(&without_fields(body, T::ANSWER_ONLY)).map(JsonBody)
    }
}

/// A JSON body: bad syntax is a 400, a wrong type or a missing field a 422
/// that names the field (its path, `a.b[2]`).
pub fn json<T: DeserializeOwned>(body: &Bytes) -> Result<T, ServiceError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServiceError::bad_request(
            "body",
            "O corpo da requisição está vazio; envie um objeto JSON.",
        ));
    }
    // serde would take `[...]` for a struct's fields in order
    if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ServiceError::Invalid(vec![
            sgp_import_core::import::FieldError::new(
                "body",
                "O corpo da requisição deve ser um objeto JSON ({...}), não uma lista.",
            ),
        ]));
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() {
                let field = if path == "." { "body".to_owned() } else { path };
                let (field, message) =
                    about_a_field(&inner.to_string(), &field).unwrap_or_else(|| {
                        let message = format!("Valor inválido em `{field}`: {}.", describe(&inner));
                        (field, message)
                    });
                Err(ServiceError::Invalid(vec![
                    sgp_import_core::import::FieldError::new(&field, message),
                ]))
            } else {
                Err(ServiceError::bad_request(
                    "body",
                    format!(
                        "JSON malformado (linha {}, coluna {}).",
                        inner.line(),
                        inner.column()
                    ),
                ))
            }
        }
    }
}

/// A field given twice or unknown (serde's own words in `said`), named by
/// its path under `at` (`body` at the top), and what to tell of it. An
/// unknown field would otherwise be skipped, and a PUT would store its
/// default (every webhook gone).
fn about_a_field(said: &str, at: &str) -> Option<(String, String)> {
    let under = |name: &str| {
        if at == "body" {
            name.to_owned()
        } else {
            format!("{at}.{name}")
        }
    };
    if let Some((name, _)) = said
        .strip_prefix("duplicate field `")
        .and_then(|rest| rest.split_once('`'))
    {
        let message = format!("O campo `{name}` veio mais de uma vez; informe-o uma vez só.");
        return Some((under(name), message));
    }
    let (name, accepted) = unknown_field(said)?;
    // (the path of an unknown field already ends with its name)
    let field = if at == "body" {
        name.clone()
    } else {
        at.to_owned()
    };
    Some((
        field,
        format!("Campo desconhecido `{name}`; os aceitos aqui são {accepted}."),
    ))
}

/// The field named by serde's "unknown field `x`, expected ..." message,
/// and the accepted ones as it lists them (`a`, `b` e `c`).
fn unknown_field(message: &str) -> Option<(String, String)> {
    let rest = message.strip_prefix("unknown field `")?;
    let (name, expected) = rest.split_once('`')?;
    let expected = expected.trim_start_matches(", expected ");
    let expected = expected.strip_prefix("one of ").unwrap_or(expected);
    let accepted = if expected.starts_with('`') {
        expected.replace(" or ", " e ")
    } else {
        "nenhum".to_owned()
    };
    Some((name.to_owned(), accepted))
}

/// serde's message, minus its position suffix.
fn describe(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    };
    in_portuguese(&text)
}

/// serde's and chrono's usual messages, as the admin reads them; any
/// other stays as serde wrote it. (Unknown fields are read apart, by
/// [`unknown_field`], which needs serde's own words.)
fn in_portuguese(text: &str) -> String {
    const DAY: &str = "use uma data no formato AAAA-MM-DD, como 2024-05-31";
    let chrono = [
        (
            "input is out of range",
            "data inexistente ou fora do intervalo",
        ),
        (
            "no possible date and time matching input",
            "data inexistente",
        ),
        (
            "input is not enough for unique date and time",
            "data incompleta",
        ),
        ("input contains invalid characters", "caracteres inválidos"),
        ("premature end of input", "valor incompleto"),
        ("trailing input", "sobra texto depois do valor"),
    ];
    if let Some((_, pt)) = chrono.iter().find(|(en, _)| text == *en) {
        return format!("{pt}; {DAY}");
    }
    if let Some(rest) = text.strip_prefix("invalid type: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return format!("tipo errado: veio {got}, esperado {expected}");
        }
    }
    if let Some(rest) = text.strip_prefix("missing field ") {
        return format!("campo obrigatório ausente: {rest}");
    }
    if let Some(rest) = text.strip_prefix("invalid value: ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            return format!("valor inválido: veio {got}, esperado {expected}");
        }
    }
    if let Some(rest) = text.strip_prefix("unknown variant ") {
        if let Some((got, expected)) = rest.split_once(", expected ") {
            let expected = expected.strip_prefix("one of ").unwrap_or(expected);
            return format!(
                "valor desconhecido {got}; os aceitos são {}",
                expected.replace(" or ", " e ")
            );
        }
    }
    text.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        nome: String,
        limite: Option<u32>,
    }

    #[test]
    fn bad_json_names_the_field() {
        let e = json::<Body>(&Bytes::from_static(b"{\"nome\": 3}")).unwrap_err();
        assert_eq!((e.code(), e.field()), ("validation_failed", Some("nome")));
        let e = json::<Body>(&Bytes::from_static(b"{\"nome\": \"x\"")).unwrap_err();
        assert_eq!((e.code(), e.field()), ("bad_request", Some("body")));
        let e = json::<Body>(&Bytes::from_static(b"{}")).unwrap_err();
        assert_eq!(e.code(), "validation_failed");
        assert!(e.to_string().contains("nome"), "{e}");
        let e =
            json::<Body>(&Bytes::from_static(b"{\"nome\": \"x\", \"limite\": -1}")).unwrap_err();
        assert_eq!(e.field(), Some("limite"));
        assert!(json::<Body>(&Bytes::from_static(b" ")).is_err());
        // a misspelt field is named, not skipped
        let e = json::<Body>(&Bytes::from_static(b"{\"nome\": \"x\", \"limit\": 3}")).unwrap_err();
        assert_eq!((e.code(), e.field()), ("validation_failed", Some("limit")));
        assert!(
            e.to_string()
                .contains("Campo desconhecido `limit`; os aceitos aqui são `nome` e `limite`"),
            "{e}"
        );
    }

    #[test]
    fn serdes_and_chronos_words_are_put_in_portuguese() {
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Dated {
            dia: Option<chrono::NaiveDate>,
        }
        for (body, needle) in [
            (&b"{\"dia\": \"2023-02-29\"}"[..], "data inexistente"),
            (b"{\"dia\": \"2023-02\"}", "valor incompleto"),
            (b"{\"dia\": \"\"}", "AAAA-MM-DD"),
            (b"{\"dia\": 5}", "tipo errado: veio integer `5`"),
        ] {
            let e = json::<Dated>(&Bytes::copy_from_slice(body)).unwrap_err();
            assert_eq!(e.field(), Some("dia"));
            assert!(e.to_string().contains(needle), "{e}");
        }
        let e = json::<Body>(&Bytes::from_static(b"{}")).unwrap_err();
        assert!(
            e.to_string().contains("campo obrigatório ausente: `nome`"),
            "{e}"
        );
    }

    #[test]
    fn answer_only_fields_go_and_a_field_given_twice_is_still_refused() {
        let strip = |body: &'static [u8]| without_fields(Bytes::from_static(body), &["extra"]);
        let body = strip(b"{\"nome\": \"x\", \"extra\": [1, 2], \"limite\": 3}");
        assert_eq!(json::<Body>(&body).unwrap().limite, Some(3));
        // twice: refused as the strict reading refuses it without the strip
        let twice = strip(b"{\"nome\": \"x\", \"extra\": 1, \"nome\": \"y\"}");
        let e = json::<Body>(&twice).unwrap_err();
        assert!(e.to_string().contains("veio mais de uma vez"), "{e}");
        assert_eq!(e.field(), Some("nome"));
        // what is not an object passes as it came
        assert_eq!(&strip(b"[1]")[..], b"[1]");
        assert_eq!(&strip(b"{\"nome\": ")[..], b"{\"nome\": ");
    }

    #[test]
    fn repeated_parameters_are_kept_and_statuses_counted_once() {
        let q = QueryParams::parse(Some(
            "status=failed&status=completed,failed&limit=1&limit=2",
        ));
        assert_eq!(
            q.statuses("status").unwrap(),
            Some(vec![JobStatus::Failed, JobStatus::Completed])
        );
        assert_eq!(
            q.number("limit", 1, 100, 10).unwrap_err().field(),
            Some("limit")
        );
        let q = QueryParams::parse(Some("status=&status=failed&q=silva&q="));
        assert_eq!(q.statuses("status").unwrap(), Some(vec![JobStatus::Failed]));
        assert_eq!(q.text("q").as_deref(), Some("silva"));
    }

    #[test]
    fn query_numbers_and_statuses_are_checked() {
        let q = QueryParams::parse(Some("limit=500&offset=x&status=queued,running&bad=%ZZ"));
        assert_eq!(
            q.number("limit", 1, 100, 10).unwrap_err().field(),
            Some("limit")
        );
        assert_eq!(
            q.number("offset", 0, 10, 0).unwrap_err().field(),
            Some("offset")
        );
        assert_eq!(q.number("absent", 0, 10, 7).unwrap(), 7);
        assert_eq!(
            q.statuses("status").unwrap(),
            Some(vec![JobStatus::Queued, JobStatus::Running])
        );
        let q = QueryParams::parse(Some("status=concluida"));
        assert_eq!(q.statuses("status").unwrap_err().field(), Some("status"));
    }
}
