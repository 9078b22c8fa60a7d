//! SGP's customers as they arrive, read straight into lenient types instead
//! of a `serde_json::Value` tree (which cost a map and a string per field,
//! about half the fetching side's time). Every field SGP sends in more than
//! one shape is accepted in any of them: text or number, object or text,
//! list or single value; unknown fields are skipped unread. Deciding what a
//! shape means (and which row is in error) is left to `customer.rs`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Number;

/// A scalar field in whatever shape it came; a list or object where a
/// scalar belongs reads as absent, like a null.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Loose<'a> {
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Number(Number),
    Bool(bool),
}

impl Loose<'_> {
    /// Present and not blank, as trimmed text (numbers too: `numero` comes
    /// both ways).
    pub fn text(&self) -> Option<String> {
        match self {
            Loose::Text(s) => Some(clean_text(s).trim().to_owned()).filter(|s| !s.is_empty()),
            Loose::Number(n) => Some(n.to_string()),
            Loose::Bool(b) => Some(b.to_string()),
            Loose::Absent => None,
        }
    }

    /// An integer given as a number or as digits in a string.
    pub fn integer(&self) -> Option<i64> {
        match self {
            Loose::Number(n) => n.as_i64(),
            Loose::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A count given as a number or as digits in a string.
    pub fn count(&self) -> Option<u64> {
        match self {
            Loose::Number(n) => n.as_u64(),
            Loose::Text(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Text without control characters: NUL and the other C0 controls (tab,
/// line feed and carriage return kept) and DEL are dropped. SGP's text goes
/// into databases (PostgreSQL refuses NUL in text), logs and pages; a stray
/// control character costs nothing more than itself.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    // ASCII controls never occur inside a multi-byte UTF-8 sequence, so
    // bytes can be tested one by one
    fn unwanted(b: u8) -> bool {
        b.is_ascii_control() && !matches!(b, b'\t' | b'\n' | b'\r')
    }
    if !s.bytes().any(unwanted) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .filter(|c| !(c.is_ascii() && unwanted(*c as u8)))
            .collect(),
    )
}

/// Any JSON value, read in one pass: scalars as [`Loose`], an object as
/// `M`, a list as `S` (`IgnoredAny` skips what is not wanted). Every
/// lenient type below is one of these, so the scalar rules live here once.
enum Json<'a, M, S> {
    Scalar(Loose<'a>),
    Map(M),
    Seq(S),
}

impl<'de: 'a, 'a, M: Deserialize<'de>, S: Deserialize<'de>> Deserialize<'de> for Json<'a, M, S> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct JsonVisitor<'a, M, S>(PhantomData<(&'a (), M, S)>);
        impl<'de: 'a, 'a, M: Deserialize<'de>, S: Deserialize<'de>> Visitor<'de> for JsonVisitor<'a, M, S> {
            type Value = Json<'a, M, S>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Number(v.into())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Number(v.into())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Json::Scalar(
                    Number::from_f64(v).map_or(Loose::Absent, Loose::Number),
                ))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Text(Cow::Borrowed(v))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Text(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Text(Cow::Owned(v))))
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Absent))
            }
            fn visit_none<E>(self) -> Result<Self::Value, E> {
                Ok(Json::Scalar(Loose::Absent))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                Json::deserialize(d)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                M::deserialize(MapAccessDeserializer::new(map)).map(Json::Map)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
                S::deserialize(SeqAccessDeserializer::new(seq)).map(Json::Seq)
            }
        }
        d.deserialize_any(JsonVisitor(PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Json::<IgnoredAny, IgnoredAny>::deserialize(d)? {
            Json::Scalar(value) => value,
            Json::Map(_) | Json::Seq(_) => Loose::Absent,
        })
    }
}

/// What a field held when something structured was expected.
#[derive(Clone, Debug, PartialEq)]
pub enum Shape<T> {
    /// The field was not there.
    Missing,
    /// It held the expected object or list.
    Found(T),
    /// It held something else (null, a scalar, the other kind of container).
    Other,
    /// It held a list of more than [`MAX_LIST_ITEMS`] items (the rest
    /// skipped unread).
    TooLong,
}

impl<T> Shape<T> {
    pub fn found(self) -> Option<T> {
        match self {
            Shape::Found(t) => Some(t),
            _ => None,
        }
    }
}

/// `T` read from a JSON object; anything else is `Shape::Other`.
#[derive(Debug)]
pub struct Object<T>(pub Shape<T>);

impl<T> Default for Object<T> {
    fn default() -> Self {
        Object(Shape::Missing)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Object(match Json::<T, IgnoredAny>::deserialize(d)? {
            Json::Map(t) => Shape::Found(t),
            Json::Scalar(_) | Json::Seq(_) => Shape::Other,
        }))
    }
}

/// The items of a JSON list, each read as `T`; anything else is
/// `Shape::Other`.
#[derive(Debug)]
pub struct List<T>(pub Shape<Vec<T>>);

impl<T> Default for List<T> {
    fn default() -> Self {
        List(Shape::Missing)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for List<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(List(
            match Json::<IgnoredAny, Capped<T, MAX_LIST_ITEMS>>::deserialize(d)? {
                Json::Seq(Capped { items, more: false }) => Shape::Found(items),
                Json::Seq(Capped { more: true, .. }) => Shape::TooLong,
                Json::Scalar(_) | Json::Map(_) => Shape::Other,
            },
        ))
    }
}

/// The most items a list inside one customer may hold (contracts, a
/// contract's services, each kind of contact). A real customer has a few;
/// without a cap, a 256 KB customer of `{}` or `1` items would become some
/// 85,000 structs or strings, each many times its two or three bytes.
pub const MAX_LIST_ITEMS: usize = 1_000;

/// A JSON list read up to `MAX` items; past them the rest is skipped
/// unread (nothing allocated) and `more` says so.
#[derive(Debug)]
pub struct Capped<T, const MAX: usize> {
    pub items: Vec<T>,
    pub more: bool,
}

impl<'de, T: Deserialize<'de>, const MAX: usize> Deserialize<'de> for Capped<T, MAX> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CappedVisitor<T, const MAX: usize>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>, const MAX: usize> Visitor<'de> for CappedVisitor<T, MAX> {
            type Value = Capped<T, MAX>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON list")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                // (a hint is the sender's word: never trusted for more)
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(MAX).min(64));
                while items.len() < MAX {
                    match seq.next_element()? {
                        Some(item) => items.push(item),
                        None => return Ok(Capped { items, more: false }),
                    }
                }
                let mut more = false;
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    more = true;
                }
                Ok(Capped { items, more })
            }
        }
        d.deserialize_seq(CappedVisitor::<T, MAX>(PhantomData))
    }
}

/// One element of `clientes`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawCustomer<'a> {
    #[serde(borrow)]
    pub id: Loose<'a>,
    #[serde(borrow)]
    pub nome: Loose<'a>,
    #[serde(borrow)]
    pub cpfcnpj: Loose<'a>,
    #[serde(borrow)]
    pub tipo: Loose<'a>,
    #[serde(rename = "dataCadastro", borrow)]
    pub data_cadastro: Loose<'a>,
    #[serde(borrow)]
    pub observacao_cliente: Loose<'a>,
    #[serde(borrow)]
    pub endereco: Object<RawAddress<'a>>,
    #[serde(borrow)]
    pub contatos: Object<RawContacts<'a>>,
    #[serde(borrow)]
    pub contratos: List<Object<RawContract<'a>>>,
}

/// Only the key of a customer (the rest skipped unread), for naming a row
/// too big to read whole.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawKey<'a> {
    #[serde(borrow)]
    pub id: Loose<'a>,
    #[serde(borrow)]
    pub cpfcnpj: Loose<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawAddress<'a> {
    #[serde(borrow)]
    pub logradouro: Loose<'a>,
    #[serde(borrow)]
    pub numero: Loose<'a>,
    #[serde(borrow)]
    pub complemento: Loose<'a>,
    #[serde(borrow)]
    pub bairro: Loose<'a>,
    #[serde(borrow)]
    pub cidade: Loose<'a>,
    #[serde(borrow)]
    pub uf: Loose<'a>,
    #[serde(borrow)]
    pub cep: Loose<'a>,
    #[serde(borrow)]
    pub latitude: Loose<'a>,
    #[serde(borrow)]
    pub longitude: Loose<'a>,
}

/// Each list also comes as a single value in some installations.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawContacts<'a> {
    #[serde(borrow)]
    pub emails: Many<'a>,
    #[serde(borrow)]
    pub telefones: Many<'a>,
    #[serde(borrow)]
    pub celulares: Many<'a>,
    #[serde(borrow)]
    pub outros: Many<'a>,
}

/// A list of values, or one value as a list of one; at most
/// [`MAX_LIST_ITEMS`] (`too_long` when there were more).
#[derive(Debug, Default)]
pub struct Many<'a> {
    pub items: Vec<Loose<'a>>,
    pub too_long: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Many<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (items, too_long) =
            match Json::<IgnoredAny, Capped<Loose<'a>, MAX_LIST_ITEMS>>::deserialize(d)? {
                Json::Seq(Capped { items, more }) => (items, more),
                Json::Scalar(Loose::Absent) | Json::Map(_) => (Vec::new(), false),
                Json::Scalar(value) => (vec![value], false),
            };
        Ok(Many { items, too_long })
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawContract<'a> {
    #[serde(borrow)]
    pub contrato: Loose<'a>,
    #[serde(borrow)]
    pub id: Loose<'a>,
    #[serde(borrow)]
    pub status: Loose<'a>,
    #[serde(rename = "dataCadastro", borrow)]
    pub data_cadastro: Loose<'a>,
    #[serde(borrow)]
    pub servicos: List<Object<RawService<'a>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawService<'a> {
    #[serde(borrow)]
    pub id: Loose<'a>,
    #[serde(borrow)]
    pub tipo: Loose<'a>,
    #[serde(borrow)]
    pub plano: Plan<'a>,
    #[serde(borrow)]
    pub login: Loose<'a>,
}

/// `plano` is an object (`id`, `descricao`) in most installations and a
/// bare name in some.
#[derive(Debug, Default)]
pub enum Plan<'a> {
    #[default]
    Absent,
    Object(RawPlan<'a>),
    Name(Loose<'a>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPlan<'a> {
    #[serde(borrow)]
    pub id: Loose<'a>,
    #[serde(borrow)]
    pub descricao: Loose<'a>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Plan<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Json::<RawPlan<'a>, IgnoredAny>::deserialize(d)? {
            Json::Map(plan) => Plan::Object(plan),
            Json::Scalar(Loose::Absent) | Json::Seq(_) => Plan::Absent,
            Json::Scalar(name) => Plan::Name(name),
        })
    }
}

/// The answer of `/api/ura/clientes/`: the customers are kept unread, each
/// parsed on its own so one bad customer cannot fail the page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPage<'a> {
    #[serde(borrow)]
    pub clientes: Option<&'a serde_json::value::RawValue>,
    #[serde(borrow)]
    pub paginacao: Object<RawPaging<'a>>,
    #[serde(borrow)]
    pub status: Loose<'a>,
}

/// An error answer's text, whatever else it holds (skipped unread).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawErrorBody<'a> {
    #[serde(borrow)]
    pub detail: Loose<'a>,
    #[serde(borrow)]
    pub msg: Loose<'a>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RawPaging<'a> {
    #[serde(borrow)]
    pub total: Loose<'a>,
}
