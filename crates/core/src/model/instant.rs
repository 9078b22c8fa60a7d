//! Instants on the wire (`#[serde(with = "instant")]`): RFC 3339 text in
//! human-readable formats (the REST API's JSON, JSON in the database),
//! microseconds since the epoch in binary ones (postcard, between server and
//! browser). The browser then needs no date parser in its bundle.

use chrono::{DateTime, Utc};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    Instant(*t).serialize(s)
}

pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
    Instant::deserialize(d).map(|i| i.0)
}

/// The same for `Option<DateTime<Utc>>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        t.map(Instant).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        Ok(Option::<Instant>::deserialize(d)?.map(|i| i.0))
    }
}

struct Instant(DateTime<Utc>);

impl Serialize for Instant {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.0.serialize(s)
        } else {
            s.serialize_i64(self.0.timestamp_micros())
        }
    }
}

impl<'de> Deserialize<'de> for Instant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            DateTime::deserialize(d).map(Instant)
        } else {
            let micros = i64::deserialize(d)?;
            DateTime::from_timestamp_micros(micros)
                .map(Instant)
                .ok_or_else(|| D::Error::custom(format!("instant out of range: {micros} µs")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Times {
        #[serde(with = "super")]
        at: DateTime<Utc>,
        #[serde(with = "super::option", default)]
        until: Option<DateTime<Utc>>,
    }

    fn sample() -> Times {
        Times {
            at: DateTime::parse_from_rfc3339("2026-11-29T20:30:01.123456Z")
                .unwrap()
                .with_timezone(&Utc),
            until: None,
        }
    }

    #[test]
    fn json_keeps_rfc3339_text() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["at"], "2026-11-29T20:30:01.123456Z");
        assert_eq!(json["until"], serde_json::Value::Null);
        let back: Times = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
        // an absent optional instant reads as none
        let back: Times = serde_json::from_str(r#"{"at":"2026-11-29T20:30:01.123456Z"}"#).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn binary_formats_carry_microseconds() {
        let mut t = sample();
        t.until = Some(t.at + chrono::Duration::days(3));
        let bytes = postcard::to_allocvec(&t).unwrap();
        let micros = t.at.timestamp_micros();
        assert_eq!(postcard::from_bytes::<i64>(&bytes).unwrap(), micros);
        assert_eq!(postcard::from_bytes::<Times>(&bytes).unwrap(), t);
        // out of chrono's range: an error, not a panic
        let bytes = postcard::to_allocvec(&(i64::MAX, None::<i64>)).unwrap();
        assert!(postcard::from_bytes::<Times>(&bytes).is_err());
    }
}
