//! Customers and contracts as SGP sends them, parsed leniently: every
//! variant in docs/sgp-api.md is accepted, and a customer that cannot be
//! understood is an error for that row only.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::thousands;
pub use crate::model::ContractStatus;

use super::document::CpfCnpj;
use super::error::human_bytes;
use super::key::SgpKey;
use super::wire::{
    clean_text, Loose, Many, Object, Plan, RawAddress, RawContacts, RawContract, RawCustomer,
    RawKey, RawService, Shape, MAX_LIST_ITEMS,
};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SgpCustomer {
    /// The key this customer is stored under.
    pub key: SgpKey,
    pub sgp_id: Option<i64>,
    pub name: String,
    pub document: Option<String>,
    /// `F` (person) or `J` (company).
    pub person_type: Option<String>,
    pub signup_date: Option<NaiveDate>,
    pub notes: Option<String>,
    pub address: Address,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub contracts: Vec<SgpContract>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Address {
    pub street: Option<String>,
    pub number: Option<String>,
    pub complement: Option<String>,
    pub district: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub zip: Option<String>,
    pub latitude: Option<String>,
    pub longitude: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SgpContract {
    pub key: String,
    pub status: ContractStatus,
    /// The status as SGP wrote it (trimmed), for the record.
    pub status_raw: Option<String>,
    pub signup_date: Option<NaiveDate>,
    pub services: Vec<SgpService>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SgpService {
    pub id: Option<i64>,
    pub kind: Option<String>,
    pub plan_id: Option<i64>,
    pub plan: Option<String>,
    pub login: Option<String>,
}

/// A customer SGP sent that cannot be imported, and why (in Portuguese,
/// for the admin's error report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub key: Option<String>,
    pub reason: String,
}

/// The most one customer's JSON may weigh. A real one, with dozens of
/// contracts, is a few KB; past this it is a broken or hostile answer
/// (a megabyte-long name), and an error for its row.
pub const MAX_CUSTOMER_BYTES: usize = 256 * 1024;

/// How much of a row error is kept: its key and reason carry SGP's text,
/// which a hostile SGP could make a megabyte long.
const MAX_KEY_CHARS: usize = 100;
const MAX_REASON_CHARS: usize = 500;

impl RowError {
    /// Cleaned of control characters and clipped, fit to store and log.
    pub fn tidy(self) -> RowError {
        RowError {
            key: self
                .key
                .map(|k| clip(clean_text(&k).trim(), MAX_KEY_CHARS))
                .filter(|k| !k.is_empty()),
            reason: clip(&clean_text(&self.reason), MAX_REASON_CHARS),
        }
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        None => s.to_owned(),
        Some(_) => {
            let cut: String = s.chars().take(max_chars - 1).collect();
            cut + "…"
        }
    }
}

impl SgpCustomer {
    /// Reads one element of a page's `clientes`: a customer, or an error
    /// for its row (with its key when it has one), tidied for storing.
    pub fn from_page_item(text: &str) -> Result<SgpCustomer, RowError> {
        if text.len() > MAX_CUSTOMER_BYTES {
            let key = serde_json::from_str::<Object<RawKey<'_>>>(text)
                .ok()
                .and_then(|k| k.0.found())
                .and_then(|k| k.id.text().or_else(|| k.cpfcnpj.text()));
            return Err(RowError {
                key,
                reason: format!(
                    "cliente com {} de dados, acima do máximo de {} por cliente (algum campo \
                     enorme?); não importado",
                    human_bytes(text.len() as u64),
                    human_bytes(MAX_CUSTOMER_BYTES as u64)
                ),
            }
            .tidy());
        }
        SgpCustomer::from_json_text(text).map_err(RowError::tidy)
    }

    /// Reads one element of `clientes` given as a JSON tree.
    pub fn from_json(value: &Value) -> Result<SgpCustomer, RowError> {
        match Object::<RawCustomer<'_>>::deserialize(value) {
            Ok(raw) => SgpCustomer::from_raw(raw),
            Err(e) => Err(unreadable(value, e)),
        }
    }

    /// Reads one element of `clientes` from its JSON text.
    pub fn from_json_text(text: &str) -> Result<SgpCustomer, RowError> {
        match serde_json::from_str::<Object<RawCustomer<'_>>>(text) {
            Ok(raw) => SgpCustomer::from_raw(raw),
            Err(e) => Err(match serde_json::from_str::<Value>(text) {
                Ok(value) => unreadable(&value, e),
                Err(_) => RowError {
                    key: None,
                    reason: format!("cliente ilegível: {e}"),
                },
            }),
        }
    }

    fn from_raw(raw: Object<RawCustomer<'_>>) -> Result<SgpCustomer, RowError> {
        let Some(c) = raw.0.found() else {
            return Err(RowError {
                key: None,
                reason: "cliente não é um objeto JSON".into(),
            });
        };
        let sgp_id = c.id.integer();
        let raw_doc = c.cpfcnpj.text();
        let document = match raw_doc.as_deref().map(CpfCnpj::parse) {
            None => None,
            Some(Ok(doc)) => Some(doc),
            Some(Err(e)) => {
                return Err(RowError {
                    key: sgp_id.map(|id| id.to_string()).or(raw_doc.clone()),
                    reason: format!("{e}: {}", raw_doc.unwrap_or_default()),
                })
            }
        };
        let key = match (sgp_id, &document) {
            (Some(id), _) => SgpKey::from_id(id),
            (None, Some(doc)) => SgpKey::from_document(doc),
            (None, None) => {
                return Err(RowError {
                    key: None,
                    reason: format!(
                        "cliente sem id e sem CPF/CNPJ ({})",
                        c.nome.text().unwrap_or_else(|| "sem nome".into())
                    ),
                })
            }
        };
        let fail = |reason: String| RowError {
            key: Some(key.to_string()),
            reason,
        };
        let name = c
            .nome
            .text()
            .ok_or_else(|| fail("cliente sem nome".into()))?;
        let signup_date = date_field(&c.data_cadastro, "dataCadastro").map_err(&fail)?;
        let address = c.endereco.0.found().map(address).unwrap_or_default();
        let (emails, phones) = match c.contatos.0.found().map(contacts) {
            None => Default::default(),
            Some(found) => found.map_err(&fail)?,
        };
        let contracts = match c.contratos.0 {
            Shape::Missing => Vec::new(),
            Shape::Other => return Err(fail("`contratos` não é uma lista".into())),
            Shape::TooLong => return Err(fail(too_long("contratos"))),
            Shape::Found(list) => list
                .into_iter()
                .enumerate()
                .map(|(i, k)| contract(k).map_err(|r| fail(format!("contrato {}: {r}", i + 1))))
                .collect::<Result<_, _>>()?,
        };
        Ok(SgpCustomer {
            key,
            sgp_id,
            name,
            document: document.map(|d| d.digits().to_owned()),
            person_type: c.tipo.text().map(|t| t.to_uppercase()),
            signup_date,
            notes: c.observacao_cliente.text(),
            address,
            emails,
            phones,
            contracts,
        })
    }

    /// What this customer holds, counted as an answer's items: itself,
    /// its contracts, their services and its contacts.
    pub fn items(&self) -> usize {
        1 + self.contracts.len()
            + self
                .contracts
                .iter()
                .map(|c| c.services.len())
                .sum::<usize>()
            + self.emails.len()
            + self.phones.len()
    }

    pub fn has_active_contract(&self) -> bool {
        self.contracts.iter().any(|c| {
            matches!(
                c.status,
                ContractStatus::Active | ContractStatus::ActiveReducedSpeed
            )
        })
    }
}

/// A customer whose JSON the lenient reader still refused (a field given
/// twice, say): an error for its row, with its key when it has one.
fn unreadable(value: &Value, e: serde_json::Error) -> RowError {
    let id = |k: &str| match value.get(k) {
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        _ => None,
    };
    RowError {
        key: id("id").or_else(|| id("cpfcnpj")),
        reason: format!("cliente ilegível: {e}"),
    }
}

fn contract(raw: Object<RawContract<'_>>) -> Result<SgpContract, String> {
    let k = raw
        .0
        .found()
        .ok_or_else(|| "não é um objeto JSON".to_owned())?;
    // `contrato` in some SGP versions, `id` in others
    let key = k
        .contrato
        .integer()
        .or_else(|| k.id.integer())
        .map(|n| n.to_string())
        .or_else(|| k.contrato.text())
        .ok_or_else(|| "sem número (`contrato` ou `id`)".to_owned())?;
    let status_raw = k.status.text();
    let status = status_raw
        .as_deref()
        .map(ContractStatus::from_display)
        .unwrap_or(ContractStatus::Unknown);
    let signup_date = date_field(&k.data_cadastro, "dataCadastro")?;
    let services = match k.servicos.0 {
        Shape::TooLong => return Err(too_long("servicos")),
        listed => listed
            .found()
            .map(|list| {
                list.into_iter()
                    .filter_map(|s| s.0.found())
                    .map(service)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok(SgpContract {
        key,
        status,
        status_raw,
        signup_date,
        services,
    })
}

fn service(s: RawService<'_>) -> SgpService {
    let (plan_id, plan) = match &s.plano {
        Plan::Object(p) => (p.id.integer(), p.descricao.text()),
        Plan::Name(name) => (None, name.text()),
        Plan::Absent => (None, None),
    };
    SgpService {
        id: s.id.integer(),
        kind: s.tipo.text(),
        plan_id,
        plan,
        login: s.login.text(),
    }
}

fn address(a: RawAddress<'_>) -> Address {
    Address {
        street: a.logradouro.text(),
        number: a.numero.text(),
        complement: a.complemento.text(),
        district: a.bairro.text(),
        city: a.cidade.text(),
        state: a.uf.text().map(|s| s.to_uppercase()),
        zip: a.cep.text(),
        latitude: a.latitude.text(),
        longitude: a.longitude.text(),
    }
}

fn contacts(c: RawContacts<'_>) -> Result<(Vec<String>, Vec<String>), String> {
    for (name, list) in [
        ("emails", &c.emails),
        ("telefones", &c.telefones),
        ("celulares", &c.celulares),
        ("outros", &c.outros),
    ] {
        if list.too_long {
            return Err(too_long(&format!("contatos.{name}")));
        }
    }
    let texts =
        |list: &Many<'_>| -> Vec<String> { list.items.iter().filter_map(Loose::text).collect() };
    let emails = texts(&c.emails);
    let mut phones = texts(&c.telefones);
    phones.extend(texts(&c.celulares));
    phones.extend(texts(&c.outros));
    Ok((emails, phones))
}

/// A row error's reason for a list past [`MAX_LIST_ITEMS`].
fn too_long(field: &str) -> String {
    format!(
        "`{field}` com mais de {} itens (um cliente real tem poucos); não importado",
        thousands(MAX_LIST_ITEMS as u64)
    )
}

fn date_field(value: &Loose<'_>, name: &str) -> Result<Option<NaiveDate>, String> {
    match value.text() {
        None => Ok(None),
        Some(s) => parse_date(&s)
            .map(Some)
            .ok_or_else(|| format!("data inválida em `{name}`: {s}")),
    }
}

/// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM:SS` or `DD/MM/YYYY HH:MM:SS` (and the
/// same without the time).
pub fn parse_date(s: &str) -> Option<NaiveDate> {
    let date = s.split([' ', 'T']).next()?;
    NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(date, "%d/%m/%Y"))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn documented() -> Value {
        json!({
           "id": 2307, "nome": "MARIA DA SILVA", "cpfcnpj": "043.918.595-56", "tipo": "F",
           "dataCadastro": "2023-01-01", "observacao_cliente": "",
           "endereco": {"logradouro": "RUA X", "numero": 1, "bairro": "CENTRO", "cidade": "ALTAMIRA",
                        "uf": "PA", "cep": "68370-000", "complemento": "", "latitude": "-3.20", "longitude": "-52.20"},
           "contatos": {"emails": ["maria@example.com"], "telefones": ["(93) 3522-1234"],
                        "celulares": ["(93) 98111-3333"], "outros": []},
           "contratos": [{"contrato": 1857, "dataCadastro": "2023-01-01", "status": "Ativo",
                          "servicos": [{"id": 1876, "tipo": "internet", "plano": {"id": 1, "descricao": "FIBRA 300M"},
                                        "login": "maria", "mac": "", "ip": "", "endereco": {}}]}],
           "titulos": [{"id": 21020, "contrato": 1857, "status": "aberto", "valor": 99.90, "valorPago": "",
                        "dataVencimento": "2025-12-25", "dataPagamento": ""}]
        })
    }

    #[test]
    fn maps_the_documented_example() {
        let c = SgpCustomer::from_json(&documented()).unwrap();
        assert_eq!(c.key, "2307");
        assert_eq!(c.name, "MARIA DA SILVA");
        assert_eq!(c.document.as_deref(), Some("04391859556"));
        assert_eq!(c.person_type.as_deref(), Some("F"));
        assert_eq!(c.signup_date, NaiveDate::from_ymd_opt(2023, 1, 1));
        assert_eq!(c.notes, None);
        assert_eq!(c.address.number.as_deref(), Some("1"));
        assert_eq!(c.address.city.as_deref(), Some("ALTAMIRA"));
        assert_eq!(c.address.complement, None);
        assert_eq!(c.emails, ["maria@example.com"]);
        assert_eq!(c.phones, ["(93) 3522-1234", "(93) 98111-3333"]);
        let k = &c.contracts[0];
        assert_eq!(k.key, "1857");
        assert_eq!(k.status, ContractStatus::Active);
        assert_eq!(k.services[0].plan.as_deref(), Some("FIBRA 300M"));
        assert_eq!(k.services[0].plan_id, Some(1));
        assert!(c.has_active_contract());
    }

    #[test]
    fn accepts_every_documented_variant() {
        let mut v = documented();
        v.as_object_mut().unwrap().remove("id");
        v["cpfcnpj"] = json!("04391859556");
        v["dataCadastro"] = json!("01/01/2023 10:20:30");
        v["endereco"]["numero"] = json!("12A");
        v["contratos"][0] = json!({"id": "99", "status": " ativo v. reduzida ", "dataCadastro": "2023-01-01 08:00:00"});
        v["observacao_cliente"] = Value::Null;
        let c = SgpCustomer::from_json(&v).unwrap();
        assert_eq!(c.key, "doc:04391859556");
        assert_eq!(c.sgp_id, None);
        assert_eq!(c.signup_date, NaiveDate::from_ymd_opt(2023, 1, 1));
        assert_eq!(c.address.number.as_deref(), Some("12A"));
        assert_eq!(c.contracts[0].key, "99");
        assert_eq!(c.contracts[0].status, ContractStatus::ActiveReducedSpeed);
        assert_eq!(
            c.contracts[0].status_raw.as_deref(),
            Some("ativo v. reduzida")
        );
        // everything optional may be missing
        let bare = SgpCustomer::from_json(&json!({"id": 5, "nome": "X"})).unwrap();
        assert_eq!(bare.contracts.len(), 0);
        assert_eq!(bare.address, Address::default());
    }

    #[test]
    fn a_bad_customer_is_a_row_error_with_its_key() {
        let no_key = SgpCustomer::from_json(&json!({"nome": "SEM CHAVE"})).unwrap_err();
        assert_eq!(no_key.key, None);
        assert!(
            no_key.reason.contains("sem id e sem CPF/CNPJ"),
            "{}",
            no_key.reason
        );
        let bad_doc =
            SgpCustomer::from_json(&json!({"id": 7, "nome": "X", "cpfcnpj": "123.456.789-00"}))
                .unwrap_err();
        assert_eq!(bad_doc.key.as_deref(), Some("7"));
        assert!(bad_doc.reason.contains("dígitos verificadores"));
        let no_name = SgpCustomer::from_json(&json!({"id": 8})).unwrap_err();
        assert_eq!(no_name.reason, "cliente sem nome");
        let bad_date =
            SgpCustomer::from_json(&json!({"id": 9, "nome": "X", "dataCadastro": "ontem"}))
                .unwrap_err();
        assert!(bad_date.reason.contains("dataCadastro"));
        let bad_contract = SgpCustomer::from_json(
            &json!({"id": 10, "nome": "X", "contratos": [{"status": "Ativo"}]}),
        )
        .unwrap_err();
        assert!(
            bad_contract.reason.starts_with("contrato 1:"),
            "{}",
            bad_contract.reason
        );
        assert!(SgpCustomer::from_json(&json!("texto")).is_err());
    }

    #[test]
    fn every_field_is_read_in_each_shape_sgp_sends_it() {
        let c = SgpCustomer::from_json_text(
            r#"{"id": "12", "nome": " ANA ", "endereco": "RUA SEM OBJETO",
                "contatos": {"emails": "ana@example.com", "telefones": [{"x": 1}, 99, " "],
                             "celulares": null, "outros": {"a": "b"}},
                "contratos": [{"id": 5, "status": 1, "servicos": [
                    {"plano": "FIBRA 50M", "login": 7}, "texto", {"plano": {"id": "3"}}]},
                    {"contrato": "A-1", "servicos": {"nao": "lista"}}],
                "titulos": [{"valor": 1.5}], "extra": {"deep": [1, 2, {"x": null}]}}"#,
        )
        .unwrap();
        assert_eq!(c.sgp_id, Some(12));
        assert_eq!(c.name, "ANA");
        assert_eq!(c.address, Address::default());
        assert_eq!(c.emails, ["ana@example.com"]);
        assert_eq!(c.phones, ["99"]);
        let k = &c.contracts[0];
        assert_eq!((k.key.as_str(), k.status), ("5", ContractStatus::Active));
        assert_eq!(k.services.len(), 2);
        assert_eq!(k.services[0].plan.as_deref(), Some("FIBRA 50M"));
        assert_eq!(k.services[0].login.as_deref(), Some("7"));
        assert_eq!(
            (k.services[1].plan_id, k.services[1].plan.as_deref()),
            (Some(3), None)
        );
        assert_eq!(c.contracts[1].key, "A-1");
        assert!(c.contracts[1].services.is_empty());
        // the text and the tree readers agree
        let tree: Value = serde_json::from_str(
            r#"{"id": 3, "nome": "B", "endereco": {"numero": 12.5}, "contatos": {"emails": ["b@x"]}}"#,
        )
        .unwrap();
        let from_tree = SgpCustomer::from_json(&tree).unwrap();
        assert_eq!(from_tree.address.number.as_deref(), Some("12.5"));
        assert_eq!(
            SgpCustomer::from_json_text(&tree.to_string()).unwrap(),
            from_tree
        );
    }

    #[test]
    fn shapes_that_make_no_sense_fail_their_row_only() {
        let null_list = SgpCustomer::from_json_text(r#"{"id": 1, "nome": "X", "contratos": null}"#);
        assert_eq!(null_list.unwrap_err().reason, "`contratos` não é uma lista");
        let not_object =
            SgpCustomer::from_json_text(r#"{"id": 2, "nome": "X", "contratos": ["1857"]}"#);
        assert_eq!(
            not_object.unwrap_err().reason,
            "contrato 1: não é um objeto JSON"
        );
        let twice =
            SgpCustomer::from_json_text(r#"{"id": 3, "nome": "X", "nome": "Y"}"#).unwrap_err();
        assert_eq!(twice.key.as_deref(), Some("3"));
        assert!(
            twice.reason.starts_with("cliente ilegível"),
            "{}",
            twice.reason
        );
        assert_eq!(
            SgpCustomer::from_json_text("[1, 2]").unwrap_err().reason,
            "cliente não é um objeto JSON"
        );
    }

    #[test]
    fn lists_past_their_cap_fail_their_row_by_name() {
        let items = |item: &str, n: usize| format!("[{}]", vec![item; n].join(","));
        let with = |field: &str| format!(r#"{{"id": 7, "nome": "X", {field}}}"#);
        let reason = |text: String| SgpCustomer::from_json_text(&text).unwrap_err().reason;
        let cap = MAX_LIST_ITEMS;

        let emails = |n| {
            with(&format!(
                r#""contatos": {{"emails": {}}}"#,
                items("\"a@b.c\"", n)
            ))
        };
        assert_eq!(
            SgpCustomer::from_json_text(&emails(cap))
                .unwrap()
                .emails
                .len(),
            cap
        );
        assert!(
            reason(emails(cap + 1)).contains("`contatos.emails` com mais de 1.000 itens"),
            "{}",
            reason(emails(cap + 1))
        );
        let phones = with(&format!(
            r#""contatos": {{"celulares": {}}}"#,
            items("1", cap + 1)
        ));
        assert!(reason(phones).contains("`contatos.celulares`"));

        let contracts = |n| {
            with(&format!(
                r#""contratos": {}"#,
                items(r#"{"contrato": 1}"#, n)
            ))
        };
        assert_eq!(
            SgpCustomer::from_json_text(&contracts(cap))
                .unwrap()
                .contracts
                .len(),
            cap
        );
        assert!(reason(contracts(cap + 1)).contains("`contratos` com mais de"));

        let services = with(&format!(
            r#""contratos": [{{"contrato": 1, "servicos": {}}}]"#,
            items("{}", cap + 1)
        ));
        let why = reason(services);
        assert!(
            why.starts_with("contrato 1: `servicos` com mais de"),
            "{why}"
        );
    }

    #[test]
    fn statuses_round_trip_through_codes_and_labels() {
        for s in ContractStatus::ALL {
            assert_eq!(ContractStatus::from_code(s.code().unwrap()), Some(s));
            assert_eq!(
                ContractStatus::from_display(&format!("  {} ", s.label().to_uppercase())),
                s
            );
        }
        assert_eq!(ContractStatus::from_display("3"), ContractStatus::Cancelled);
        assert_eq!(ContractStatus::from_display("???"), ContractStatus::Unknown);
    }
}
