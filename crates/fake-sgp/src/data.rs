//! The fake's customers: deterministic from (seed, index, revision), so
//! every run, test and benchmark sees the same data, and a new revision
//! changes a known set of them.

use chrono::{Datelike, Duration, NaiveDate};
use serde::Serialize;
use serde_json::Value;

/// Who the fake's customers are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Population {
    pub seed: u64,
    /// Customers at revision 0.
    pub customers: u32,
    /// Bumped by `FakeSgp::set_revision` to simulate time passing in SGP.
    pub revision: u32,
    /// In revision `r`, customer `i` changes when `(i + r) % change_every == 0`.
    pub change_every: u32,
    /// New customers that appear with each revision.
    pub added_per_revision: u32,
    /// The day each revision happened (index 0: revision 1); customers
    /// changed or added in it carry that date as `data_alteracao`.
    pub revision_dates: Vec<NaiveDate>,
    pub quirks: Quirks,
    /// Every customer with this many contracts (at most 3) instead of the
    /// usual mix of 0 to 3.
    pub contracts_each: Option<usize>,
    /// Customers that left SGP: never listed.
    pub gone: Vec<u32>,
    /// Every k-th customer (k > 0) has each contract on the next plan.
    pub plan_shift_every: u32,
}

/// Shapes real installations send that a client must survive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Quirks {
    /// Every k-th customer (k > 0) comes without `id`.
    pub missing_ids_every: u32,
    /// Contracts keyed `id`, `numero` as text, `DD/MM/YYYY HH:MM:SS` dates,
    /// padded statuses, bare CPF digits, money as `""`.
    pub alternate_shapes: bool,
    /// Every k-th customer (k > 0) has a CPF with wrong check digits.
    pub bad_rows_every: u32,
    /// Hostile: every k-th customer (k > 0) has NUL and other control
    /// characters in its name, notes and contacts.
    pub nul_every: u32,
    /// Hostile: every k-th customer (k > 0) carries a 1 MB string in its
    /// notes.
    pub huge_strings_every: u32,
    /// Hostile: every k-th customer (k > 0) has every field of the wrong
    /// type (objects for text, text for lists...).
    pub wrong_types_every: u32,
}

/// Whether customer `index` is one of every `k`th (k = 0: none).
fn every(k: u32, index: u32) -> bool {
    k > 0 && index % k == k - 1
}

/// One element of a page's `clientes`: a customer as SGP shapes it, or
/// (hostile mode) any JSON at all.
#[derive(Serialize)]
#[serde(untagged)]
pub enum CustomerItem {
    Customer(Box<CustomerOut>),
    Raw(Value),
}

impl Population {
    pub fn new(customers: u32) -> Self {
        Population {
            seed: 2026,
            customers,
            revision: 0,
            change_every: 10,
            added_per_revision: 0,
            revision_dates: Vec::new(),
            quirks: Quirks::default(),
            contracts_each: None,
            gone: Vec::new(),
            plan_shift_every: 0,
        }
    }

    /// How many customers exist at the current revision.
    pub fn count(&self) -> u32 {
        self.count_at(self.revision)
    }

    pub fn count_at(&self, revision: u32) -> u32 {
        self.customers + revision * self.added_per_revision
    }

    /// How many customers existing at `revision - 1` change in `revision`.
    pub fn changed_in(&self, revision: u32) -> u32 {
        if revision == 0 || self.change_every == 0 {
            return 0;
        }
        (0..self.count_at(revision - 1))
            .filter(|i| (i + revision).is_multiple_of(self.change_every))
            .count() as u32
    }

    fn changes(&self, index: u32) -> u32 {
        if self.change_every == 0 {
            return 0;
        }
        (1..=self.revision)
            .filter(|q| {
                index < self.count_at(q - 1) && (index + q).is_multiple_of(self.change_every)
            })
            .count() as u32
    }

    fn last_change(&self, index: u32) -> Option<u32> {
        if self.change_every == 0 {
            return None;
        }
        (1..=self.revision)
            .rev()
            .find(|q| index < self.count_at(q - 1) && (index + q).is_multiple_of(self.change_every))
    }

    /// The revision a customer first appeared in (0 for the original ones).
    fn born(&self, index: u32) -> u32 {
        if index < self.customers || self.added_per_revision == 0 {
            0
        } else {
            (index - self.customers) / self.added_per_revision + 1
        }
    }

    fn revision_date(&self, revision: u32) -> NaiveDate {
        self.revision_dates
            .get(revision as usize - 1)
            .copied()
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }

    /// What the filters look at, cheap to compute for every customer.
    pub fn facts(&self, index: u32) -> Facts {
        let mut r = Rng::new(self.seed, index);
        let born = self.born(index);
        let signup = if born == 0 {
            NaiveDate::from_ymd_opt(2015, 1, 1).unwrap() + Duration::days(r.below(11 * 365) as i64)
        } else {
            self.revision_date(born)
        };
        let changed = match self.last_change(index) {
            Some(q) => self.revision_date(q),
            None => signup,
        };
        let mix = match r.below(100) {
            0..=9 => 0,
            10..=69 => 1,
            70..=89 => 2,
            _ => 3,
        };
        let contracts = self.contracts_each.map_or(mix, |n| n.min(3));
        let mut statuses = [0u8; 3];
        let flips = self.changes(index);
        for (k, s) in statuses.iter_mut().enumerate().take(contracts) {
            let base = match r.below(100) {
                0..=69 => 1, // Ativo
                70..=79 => 4,
                80..=87 => 3,
                88..=92 => 2,
                93..=96 => 6,
                97 => 5,
                _ => 7,
            };
            // the first contract flips between active and suspended with each change
            *s = if k == 0 && flips % 2 == 1 {
                if base == 1 {
                    4
                } else {
                    1
                }
            } else {
                base
            };
        }
        Facts {
            signup,
            changed,
            contracts,
            statuses,
            flips,
        }
    }

    /// One element of `clientes`, hostile quirks included.
    pub fn item(&self, index: u32, omit: Omit) -> CustomerItem {
        if every(self.quirks.wrong_types_every, index) {
            return CustomerItem::Raw(serde_json::json!({
                "id": {"numero": 1000 + index},
                "nome": ["não", "é", "texto"],
                "cpfcnpj": {"cpf": true},
                "tipo": [1],
                "dataCadastro": {"dia": 1},
                "observacao_cliente": [[]],
                "endereco": "Rua sem objeto, 1",
                "contatos": 42,
                "contratos": {"contrato": 1},
                "titulos": "nenhum",
            }));
        }
        let mut customer = self.customer(index, omit);
        if every(self.quirks.nul_every, index) {
            customer.nome = customer.nome.replacen(' ', "\u{0} \u{1b}", 1);
            customer.observacao_cliente = "nota\u{0}com\u{7}controles".to_owned();
            if let Some(c) = customer.contatos.as_mut() {
                c.emails.iter_mut().for_each(|e| e.push('\u{0}'));
            }
        }
        if every(self.quirks.huge_strings_every, index) {
            customer.observacao_cliente = "x".repeat(1024 * 1024);
        }
        CustomerItem::Customer(Box::new(customer))
    }

    /// One customer in SGP's JSON shape.
    pub fn customer(&self, index: u32, omit: Omit) -> CustomerOut {
        let facts = self.facts(index);
        // a separate stream, so the facts above stay cheap to compute
        let mut r = Rng::new(self.seed ^ 0x5eed_cafe, index);
        let alt = self.quirks.alternate_shapes;
        let company = r.below(100) < 15;
        let (name, document) = if company {
            let name = format!("{} {}", pick(&mut r, LAST), pick(&mut r, COMPANY_SUFFIX));
            (name, cnpj(&mut r))
        } else {
            let name = format!(
                "{} {} {}",
                pick(&mut r, FIRST),
                pick(&mut r, LAST),
                pick(&mut r, LAST)
            );
            (name, cpf(&mut r))
        };
        let document = if self.quirks.bad_rows_every > 0
            && index % self.quirks.bad_rows_every == self.quirks.bad_rows_every - 1
        {
            spoil_check_digit(&document)
        } else {
            document
        };
        let (city, uf, cep_prefix) = CITIES[r.below(CITIES.len() as u64) as usize];
        let number = 1 + r.below(2000);
        let street = pick(&mut r, STREETS);
        let district = pick(&mut r, DISTRICTS);
        let cep = format!("{cep_prefix}-{:03}", r.below(1000));
        let email = format!(
            "{}{}@{}",
            ascii_slug(name.split(' ').next().unwrap_or("cliente")),
            index,
            pick(&mut r, MAIL_DOMAINS)
        );
        let ddd = 80 + r.below(19);
        let phone = format!("({ddd}) 3{:03}-{:04}", r.below(1000), r.below(10_000));
        // a change in SGP shows up in the mobile number (and contract status)
        let mobile = format!(
            "({ddd}) 9{:04}-{:04}",
            r.below(10_000),
            (r.below(10_000) + u64::from(facts.flips)) % 10_000
        );
        let id = (self.quirks.missing_ids_every == 0
            || !index.is_multiple_of(self.quirks.missing_ids_every))
        .then_some(1000 + u64::from(index));
        let date = |d: NaiveDate| {
            if alt {
                format!("{:02}/{:02}/{} 08:30:00", d.day(), d.month(), d.year())
            } else {
                d.format("%Y-%m-%d").to_string()
            }
        };
        let mut contracts = Vec::new();
        let mut invoices = Vec::new();
        // contracts draw from a stream of their own: adding one leaves the
        // customer's other fields as they were
        let mut rc = Rng::new(self.seed ^ 0xc0a7_7ac7, index);
        for k in 0..facts.contracts {
            let number = 10_000 + u64::from(index) * 4 + k as u64;
            let shift = usize::from(every(self.plan_shift_every, index));
            let (plan_id, plan, price) =
                PLANS[(rc.below(PLANS.len() as u64) as usize + shift) % PLANS.len()];
            let label = status_label(facts.statuses[k]);
            contracts.push(ContractOut {
                contrato: (!alt).then_some(number),
                id: alt.then_some(number),
                data_cadastro: date(facts.signup + Duration::days(k as i64 * 30)),
                status: if alt {
                    format!(" {label} ")
                } else {
                    label.to_owned()
                },
                servicos: vec![ServiceOut {
                    id: number + 500_000,
                    tipo: "internet",
                    plano: PlanOut {
                        id: plan_id,
                        descricao: plan,
                    },
                    login: format!("{}{}", ascii_slug(&name).to_lowercase(), number),
                    mac: String::new(),
                    ip: String::new(),
                }],
            });
            for m in 0..rc.below(3) {
                let paid = rc.below(2) == 0;
                invoices.push(InvoiceOut {
                    id: number * 10 + m,
                    contrato: number,
                    status: if paid { "pago" } else { "aberto" },
                    valor: Value::from(price),
                    valor_pago: if paid {
                        Value::from(price)
                    } else if alt {
                        Value::from("")
                    } else {
                        Value::Null
                    },
                    data_vencimento: format!("2026-{:02}-10", 1 + m),
                    data_pagamento: if paid {
                        "2026-01-08".into()
                    } else {
                        String::new()
                    },
                });
            }
        }
        CustomerOut {
            id,
            nome: name,
            cpfcnpj: if alt {
                document.clone()
            } else {
                mask_document(&document)
            },
            tipo: if company { "J" } else { "F" },
            data_cadastro: date(facts.signup),
            observacao_cliente: if r.below(10) == 0 {
                "Cliente prefere contato por WhatsApp".into()
            } else {
                String::new()
            },
            endereco: AddressOut {
                logradouro: street,
                numero: if alt {
                    Value::from(number.to_string())
                } else {
                    Value::from(number)
                },
                bairro: district,
                cidade: city,
                uf,
                cep,
                complemento: if r.below(4) == 0 {
                    "CASA".into()
                } else {
                    String::new()
                },
                latitude: format!("-{}.{:04}", 3 + r.below(10), r.below(10_000)),
                longitude: format!("-{}.{:04}", 35 + r.below(15), r.below(10_000)),
            },
            contatos: (!omit.contacts).then(|| ContactsOut {
                emails: vec![email],
                telefones: vec![phone],
                celulares: vec![mobile],
                outros: Vec::new(),
            }),
            contratos: (!omit.contracts).then_some(contracts),
            titulos: (!omit.invoices).then_some(invoices),
        }
    }
}

/// The parts of a customer SGP was asked to leave out.
#[derive(Clone, Copy, Debug, Default)]
pub struct Omit {
    pub contracts: bool,
    pub invoices: bool,
    pub contacts: bool,
}

/// What the filters need to know about a customer.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    pub signup: NaiveDate,
    pub changed: NaiveDate,
    pub contracts: usize,
    /// SGP status codes of the contracts (first `contracts` entries).
    pub statuses: [u8; 3],
    flips: u32,
}

impl Facts {
    pub fn has_contract_status(&self, code: u8) -> bool {
        self.statuses[..self.contracts].contains(&code)
    }
}

pub fn status_label(code: u8) -> &'static str {
    match code {
        1 => "Ativo",
        2 => "Inativo",
        3 => "Cancelado",
        4 => "Suspenso",
        5 => "Inviabilidade Técnica",
        6 => "Novo",
        _ => "Ativo V. Reduzida",
    }
}

#[derive(Serialize)]
pub struct CustomerOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    pub nome: String,
    pub cpfcnpj: String,
    pub tipo: &'static str,
    #[serde(rename = "dataCadastro")]
    pub data_cadastro: String,
    pub observacao_cliente: String,
    pub endereco: AddressOut,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contatos: Option<ContactsOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contratos: Option<Vec<ContractOut>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub titulos: Option<Vec<InvoiceOut>>,
}

#[derive(Serialize)]
pub struct AddressOut {
    pub logradouro: &'static str,
    pub numero: Value,
    pub bairro: &'static str,
    pub cidade: &'static str,
    pub uf: &'static str,
    pub cep: String,
    pub complemento: String,
    pub latitude: String,
    pub longitude: String,
}

#[derive(Serialize)]
pub struct ContactsOut {
    pub emails: Vec<String>,
    pub telefones: Vec<String>,
    pub celulares: Vec<String>,
    pub outros: Vec<String>,
}

#[derive(Serialize)]
pub struct ContractOut {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contrato: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    #[serde(rename = "dataCadastro")]
    pub data_cadastro: String,
    pub status: String,
    pub servicos: Vec<ServiceOut>,
}

#[derive(Serialize)]
pub struct ServiceOut {
    pub id: u64,
    pub tipo: &'static str,
    pub plano: PlanOut,
    pub login: String,
    pub mac: String,
    pub ip: String,
}

#[derive(Serialize)]
pub struct PlanOut {
    pub id: u64,
    pub descricao: &'static str,
}

#[derive(Serialize)]
pub struct InvoiceOut {
    pub id: u64,
    pub contrato: u64,
    pub status: &'static str,
    pub valor: Value,
    #[serde(rename = "valorPago")]
    pub valor_pago: Value,
    #[serde(rename = "dataVencimento")]
    pub data_vencimento: String,
    #[serde(rename = "dataPagamento")]
    pub data_pagamento: String,
}

/// splitmix64 over (seed, index): the same customer every time.
struct Rng(u64);

impl Rng {
    fn new(seed: u64, index: u32) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (u64::from(index) << 1 | 1))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn pick(r: &mut Rng, list: &[&'static str]) -> &'static str {
    list[r.below(list.len() as u64) as usize]
}

/// The two check digits of a CPF (9-digit body) or CNPJ (12-digit body).
pub fn check_digits(body: &[u32]) -> [u32; 2] {
    fn digit(digits: &[u32], cpf: bool) -> u32 {
        let n = digits.len() as u32;
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let w = if cpf {
                    n + 1 - i as u32
                } else {
                    // 5,4,3,2,9,8,...,2 (then 6,5,4,3,2,9,...,2)
                    let from_right = n - i as u32; // 1-based from the right
                    (from_right - 1) % 8 + 2
                };
                d * w
            })
            .sum();
        let r = sum % 11;
        if r < 2 {
            0
        } else {
            11 - r
        }
    }
    let cpf = body.len() == 9;
    let first = digit(body, cpf);
    let mut with = body.to_vec();
    with.push(first);
    [first, digit(&with, cpf)]
}

fn document(r: &mut Rng, body_len: usize) -> String {
    let body: Vec<u32> = (0..body_len).map(|_| r.below(10) as u32).collect();
    let check = check_digits(&body);
    body.iter()
        .chain(check.iter())
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

fn cpf(r: &mut Rng) -> String {
    document(r, 9)
}

fn cnpj(r: &mut Rng) -> String {
    // branch 0001, as most companies have
    let mut body: Vec<u32> = (0..8).map(|_| r.below(10) as u32).collect();
    body.extend([0, 0, 0, 1]);
    let check = check_digits(&body);
    body.iter()
        .chain(check.iter())
        .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
        .collect()
}

fn spoil_check_digit(doc: &str) -> String {
    let mut chars: Vec<char> = doc.chars().collect();
    if let Some(last) = chars.last_mut() {
        let d = last.to_digit(10).unwrap_or(0);
        *last = char::from_digit((d + 1) % 10, 10).unwrap_or('0');
    }
    chars.into_iter().collect()
}

fn mask_document(d: &str) -> String {
    if d.len() == 11 {
        format!("{}.{}.{}-{}", &d[0..3], &d[3..6], &d[6..9], &d[9..11])
    } else {
        format!(
            "{}.{}.{}/{}-{}",
            &d[0..2],
            &d[2..5],
            &d[5..8],
            &d[8..12],
            &d[12..14]
        )
    }
}

fn ascii_slug(s: &str) -> String {
    s.chars()
        .filter_map(|c| match c {
            'á' | 'â' | 'ã' | 'à' | 'Á' | 'Â' | 'Ã' => Some('a'),
            'é' | 'ê' | 'É' | 'Ê' => Some('e'),
            'í' | 'Í' => Some('i'),
            'ó' | 'ô' | 'õ' | 'Ó' | 'Ô' | 'Õ' => Some('o'),
            'ú' | 'Ú' => Some('u'),
            'ç' | 'Ç' => Some('c'),
            c if c.is_ascii_alphanumeric() => Some(c.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

const FIRST: &[&str] = &[
    "MARIA",
    "JOSÉ",
    "ANA",
    "JOÃO",
    "FRANCISCA",
    "ANTÔNIO",
    "ADRIANA",
    "CARLOS",
    "JULIANA",
    "PAULO",
    "MÁRCIA",
    "LUCAS",
    "ALINE",
    "PEDRO",
    "FERNANDA",
    "RAFAEL",
    "PATRÍCIA",
    "MARCOS",
    "CAMILA",
    "LUIZ",
    "SANDRA",
    "GABRIEL",
    "TATIANE",
    "MATEUS",
    "LETÍCIA",
    "BRUNO",
    "RAIMUNDA",
    "FRANCISCO",
    "VANESSA",
    "THIAGO",
];
const LAST: &[&str] = &[
    "SILVA",
    "SANTOS",
    "OLIVEIRA",
    "SOUZA",
    "RODRIGUES",
    "FERREIRA",
    "ALVES",
    "PEREIRA",
    "LIMA",
    "GOMES",
    "COSTA",
    "RIBEIRO",
    "MARTINS",
    "CARVALHO",
    "ALMEIDA",
    "LOPES",
    "SOARES",
    "FERNANDES",
    "VIEIRA",
    "BARBOSA",
    "ROCHA",
    "DIAS",
    "NASCIMENTO",
    "ANDRADE",
    "MOREIRA",
    "NUNES",
    "MARQUES",
    "MACHADO",
    "MENDES",
    "FREITAS",
];
const COMPANY_SUFFIX: &[&str] = &[
    "COMÉRCIO LTDA",
    "SERVIÇOS ME",
    "MATERIAIS DE CONSTRUÇÃO LTDA",
    "MERCADINHO EIRELI",
    "TRANSPORTES LTDA",
    "FARMÁCIA ME",
    "PADARIA LTDA",
    "AUTO PEÇAS ME",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("ALTAMIRA", "PA", "68370"),
    ("SANTARÉM", "PA", "68005"),
    ("MARABÁ", "PA", "68500"),
    ("IMPERATRIZ", "MA", "65900"),
    ("PETROLINA", "PE", "56300"),
    ("JUAZEIRO DO NORTE", "CE", "63010"),
    ("MOSSORÓ", "RN", "59600"),
    ("CAMPINA GRANDE", "PB", "58400"),
    ("FEIRA DE SANTANA", "BA", "44001"),
    ("CARUARU", "PE", "55000"),
    ("ARAPIRACA", "AL", "57300"),
    ("VITÓRIA DA CONQUISTA", "BA", "45000"),
];
const STREETS: &[&str] = &[
    "RUA DAS FLORES",
    "AVENIDA BRASIL",
    "RUA SÃO JOSÉ",
    "TRAVESSA SANTA LUZIA",
    "RUA SETE DE SETEMBRO",
    "AVENIDA GETÚLIO VARGAS",
    "RUA TIRADENTES",
    "RUA DOM PEDRO II",
    "RUA DO COMÉRCIO",
    "AVENIDA JK",
];
const DISTRICTS: &[&str] = &[
    "CENTRO",
    "SÃO JOSÉ",
    "NOVA BRASÍLIA",
    "JARDIM EUROPA",
    "BELA VISTA",
    "SANTA CLARA",
    "PLANALTO",
    "INDUSTRIAL",
];
const MAIL_DOMAINS: &[&str] = &["gmail.com", "hotmail.com", "yahoo.com.br", "outlook.com"];
const PLANS: &[(u64, &str, f64)] = &[
    (1, "FIBRA 100M", 79.9),
    (2, "FIBRA 300M", 99.9),
    (3, "FIBRA 500M", 129.9),
    (4, "FIBRA 1G", 199.9),
    (5, "RÁDIO 20M", 69.9),
    (6, "EMPRESARIAL 600M", 299.9),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_have_valid_check_digits() {
        // known good: 043.918.595-56 and 11.222.333/0001-81
        assert_eq!(check_digits(&[0, 4, 3, 9, 1, 8, 5, 9, 5]), [5, 6]);
        assert_eq!(check_digits(&[1, 1, 2, 2, 2, 3, 3, 3, 0, 0, 0, 1]), [8, 1]);
    }

    #[test]
    fn the_same_customer_every_time_and_changes_are_counted() {
        let mut p = Population::new(100);
        let a = serde_json::to_string(&p.customer(7, Omit::default())).unwrap();
        let b = serde_json::to_string(&p.customer(7, Omit::default())).unwrap();
        assert_eq!(a, b);
        p.revision = 1;
        assert_eq!(p.changed_in(1), 10);
        let changed = serde_json::to_string(&p.customer(9, Omit::default())).unwrap();
        let before = {
            let mut q = p.clone();
            q.revision = 0;
            serde_json::to_string(&q.customer(9, Omit::default())).unwrap()
        };
        assert_ne!(changed, before, "customer 9 changes in revision 1");
    }
}
