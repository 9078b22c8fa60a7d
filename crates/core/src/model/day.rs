//! Calendar days on the wire (`#[serde(with = "day::option")]`): `YYYY-MM-DD`
//! text in human-readable formats (REST, JSON in the database), days since
//! 1 January of year 1 in binary ones (postcard, to the browser), like
//! [`instant`](super::instant): chrono's text parser stays out of the
//! browser's bundle.

use chrono::{Datelike, NaiveDate};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The same for `Option<NaiveDate>`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(d: &Option<NaiveDate>, s: S) -> Result<S::Ok, S::Error> {
        d.map(Day).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDate>, D::Error> {
        Ok(Option::<Day>::deserialize(d)?.map(|day| day.0))
    }
}

struct Day(NaiveDate);

impl Serialize for Day {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.0.serialize(s)
        } else {
            s.serialize_i32(self.0.num_days_from_ce())
        }
    }
}

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            NaiveDate::deserialize(d).map(Day)
        } else {
            let days = i32::deserialize(d)?;
            NaiveDate::from_num_days_from_ce_opt(days)
                .map(Day)
                .ok_or_else(|| D::Error::custom(format!("day out of range: {days}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Range {
        #[serde(with = "super::option", default)]
        from: Option<NaiveDate>,
        #[serde(with = "super::option", default)]
        to: Option<NaiveDate>,
    }

    fn sample() -> Range {
        Range {
            from: NaiveDate::from_ymd_opt(2026, 2, 28),
            to: None,
        }
    }

    #[test]
    fn json_keeps_iso_text() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(json["from"], "2026-02-28");
        assert_eq!(json["to"], serde_json::Value::Null);
        let back: Range = serde_json::from_str(r#"{"from":"2026-02-28"}"#).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn binary_formats_carry_day_numbers() {
        let mut r = sample();
        r.to = NaiveDate::from_ymd_opt(1, 1, 1);
        let bytes = postcard::to_allocvec(&r).unwrap();
        let days = r.from.unwrap().num_days_from_ce();
        assert_eq!(
            postcard::from_bytes::<(Option<i32>, Option<i32>)>(&bytes).unwrap(),
            (Some(days), Some(1))
        );
        assert_eq!(postcard::from_bytes::<Range>(&bytes).unwrap(), r);
        // out of chrono's range: an error, not a panic
        let bytes = postcard::to_allocvec(&(Some(i32::MAX), None::<i32>)).unwrap();
        assert!(postcard::from_bytes::<Range>(&bytes).is_err());
    }
}
