//! Customers and contracts as SGP sends them, parsed leniently: every
//! variant in docs/sgp-api.md is accepted, and a customer that cannot be
//! understood is an error for that row only.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::{Map, Value};

use super::document::CpfCnpj;
use super::key::SgpKey;

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

/// SGP's contract statuses, with the codes its `contrato_status` filter takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContractStatus {
    Active,
    Inactive,
    Cancelled,
    Suspended,
    TechnicallyUnfeasible,
    New,
    ActiveReducedSpeed,
    Unknown,
}

impl ContractStatus {
    pub const ALL: [ContractStatus; 7] = [
        ContractStatus::Active,
        ContractStatus::Inactive,
        ContractStatus::Cancelled,
        ContractStatus::Suspended,
        ContractStatus::TechnicallyUnfeasible,
        ContractStatus::New,
        ContractStatus::ActiveReducedSpeed,
    ];

    /// The code for SGP's `contrato_status` filter.
    pub fn code(self) -> Option<u8> {
        Some(match self {
            ContractStatus::Active => 1,
            ContractStatus::Inactive => 2,
            ContractStatus::Cancelled => 3,
            ContractStatus::Suspended => 4,
            ContractStatus::TechnicallyUnfeasible => 5,
            ContractStatus::New => 6,
            ContractStatus::ActiveReducedSpeed => 7,
            ContractStatus::Unknown => return None,
        })
    }

    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == Some(code))
    }

    /// SGP's display name, as in its answers.
    pub fn label(self) -> &'static str {
        match self {
            ContractStatus::Active => "Ativo",
            ContractStatus::Inactive => "Inativo",
            ContractStatus::Cancelled => "Cancelado",
            ContractStatus::Suspended => "Suspenso",
            ContractStatus::TechnicallyUnfeasible => "Inviabilidade Técnica",
            ContractStatus::New => "Novo",
            ContractStatus::ActiveReducedSpeed => "Ativo V. Reduzida",
            ContractStatus::Unknown => "Desconhecido",
        }
    }

    /// The stored name (`contracts.status`).
    pub fn as_str(self) -> &'static str {
        match self {
            ContractStatus::Active => "ativo",
            ContractStatus::Inactive => "inativo",
            ContractStatus::Cancelled => "cancelado",
            ContractStatus::Suspended => "suspenso",
            ContractStatus::TechnicallyUnfeasible => "inviabilidade_tecnica",
            ContractStatus::New => "novo",
            ContractStatus::ActiveReducedSpeed => "ativo_reduzido",
            ContractStatus::Unknown => "desconhecido",
        }
    }

    /// Trimmed and case-insensitive: SGP pads some (`" Ativo "`).
    pub fn from_display(text: &str) -> Self {
        let t = text.trim().to_lowercase();
        let t = t.replace(['.', ' '], "");
        Self::ALL
            .into_iter()
            .find(|s| s.label().to_lowercase().replace(['.', ' '], "") == t)
            .or_else(|| {
                // numeric status codes appear in a few installations
                t.parse::<u8>().ok().and_then(Self::from_code)
            })
            .unwrap_or(ContractStatus::Unknown)
    }
}

/// A customer SGP sent that cannot be imported, and why (in Portuguese,
/// for the admin's error report).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub key: Option<String>,
    pub reason: String,
}

impl SgpCustomer {
    /// Reads one element of `clientes`.
    pub fn from_json(value: &Value) -> Result<SgpCustomer, RowError> {
        let Some(obj) = value.as_object() else {
            return Err(RowError {
                key: None,
                reason: "cliente não é um objeto JSON".into(),
            });
        };
        let sgp_id = integer(obj.get("id"));
        let raw_doc = text(obj.get("cpfcnpj"));
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
                        text(obj.get("nome")).unwrap_or_else(|| "sem nome".into())
                    ),
                })
            }
        };
        let fail = |reason: String| RowError {
            key: Some(key.to_string()),
            reason,
        };
        let name = text(obj.get("nome")).ok_or_else(|| fail("cliente sem nome".into()))?;
        let signup_date = date_field(obj, "dataCadastro").map_err(&fail)?;
        let address = obj
            .get("endereco")
            .and_then(Value::as_object)
            .map(address)
            .unwrap_or_default();
        let (emails, phones) = contacts(obj.get("contatos"));
        let mut contracts = Vec::new();
        if let Some(list) = obj.get("contratos") {
            let Some(list) = list.as_array() else {
                return Err(fail("`contratos` não é uma lista".into()));
            };
            for (i, c) in list.iter().enumerate() {
                contracts.push(contract(c).map_err(|r| fail(format!("contrato {}: {r}", i + 1)))?);
            }
        }
        Ok(SgpCustomer {
            key,
            sgp_id,
            name,
            document: document.map(|d| d.digits().to_owned()),
            person_type: text(obj.get("tipo")).map(|t| t.to_uppercase()),
            signup_date,
            notes: text(obj.get("observacao_cliente")),
            address,
            emails,
            phones,
            contracts,
        })
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

fn contract(value: &Value) -> Result<SgpContract, String> {
    let obj = value
        .as_object()
        .ok_or_else(|| "não é um objeto JSON".to_owned())?;
    // `contrato` in some SGP versions, `id` in others
    let key = integer(obj.get("contrato"))
        .or_else(|| integer(obj.get("id")))
        .map(|n| n.to_string())
        .or_else(|| text(obj.get("contrato")))
        .ok_or_else(|| "sem número (`contrato` ou `id`)".to_owned())?;
    let status_raw = text(obj.get("status"));
    let status = status_raw
        .as_deref()
        .map(ContractStatus::from_display)
        .unwrap_or(ContractStatus::Unknown);
    let signup_date = date_field(obj, "dataCadastro")?;
    let services = obj
        .get("servicos")
        .and_then(Value::as_array)
        .map(|list| list.iter().filter_map(service).collect())
        .unwrap_or_default();
    Ok(SgpContract {
        key,
        status,
        status_raw,
        signup_date,
        services,
    })
}

fn service(value: &Value) -> Option<SgpService> {
    let obj = value.as_object()?;
    let plan = obj.get("plano").and_then(Value::as_object);
    Some(SgpService {
        id: integer(obj.get("id")),
        kind: text(obj.get("tipo")),
        plan_id: plan.and_then(|p| integer(p.get("id"))),
        plan: plan
            .and_then(|p| text(p.get("descricao")))
            .or_else(|| text(obj.get("plano"))),
        login: text(obj.get("login")),
    })
}

fn address(obj: &Map<String, Value>) -> Address {
    Address {
        street: text(obj.get("logradouro")),
        number: text(obj.get("numero")),
        complement: text(obj.get("complemento")),
        district: text(obj.get("bairro")),
        city: text(obj.get("cidade")),
        state: text(obj.get("uf")).map(|s| s.to_uppercase()),
        zip: text(obj.get("cep")),
        latitude: text(obj.get("latitude")),
        longitude: text(obj.get("longitude")),
    }
}

fn contacts(value: Option<&Value>) -> (Vec<String>, Vec<String>) {
    let Some(obj) = value.and_then(Value::as_object) else {
        return (Vec::new(), Vec::new());
    };
    let list = |name: &str| -> Vec<String> {
        match obj.get(name) {
            Some(Value::Array(items)) => items.iter().filter_map(|v| text(Some(v))).collect(),
            other => text(other).into_iter().collect(),
        }
    };
    let emails = list("emails");
    let mut phones = list("telefones");
    phones.extend(list("celulares"));
    phones.extend(list("outros"));
    (emails, phones)
}

/// A present, non-empty value as trimmed text (numbers too: `numero` comes
/// both ways).
fn text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An integer given as a number or as digits in a string.
fn integer(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn date_field(obj: &Map<String, Value>, name: &str) -> Result<Option<NaiveDate>, String> {
    match text(obj.get(name)) {
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
