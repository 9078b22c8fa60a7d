//! Values bound as each database keeps them, so a statement can be written
//! once for both: [`At`], an instant (Unix milliseconds on SQLite,
//! `timestamptz` on PostgreSQL), and [`Doc`], a JSON document (text on
//! SQLite, `jsonb` on PostgreSQL).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Encode, Postgres, Sqlite, Type};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct At(pub DateTime<Utc>);

impl Type<Sqlite> for At {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for At {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.0.timestamp_millis(), buf)
    }
}

impl Type<Postgres> for At {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for At {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<'q, Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// A JSON document.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Doc<'a>(pub &'a Value);

impl Type<Sqlite> for Doc<'_> {
    fn type_info() -> <Sqlite as Database>::TypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for Doc<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Sqlite as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <String as Encode<'q, Sqlite>>::encode(self.0.to_string(), buf)
    }
}

impl Type<Postgres> for Doc<'_> {
    fn type_info() -> <Postgres as Database>::TypeInfo {
        <sqlx::types::Json<&Value> as Type<Postgres>>::type_info()
    }
}

impl<'q> Encode<'q, Postgres> for Doc<'_> {
    fn encode_by_ref(
        &self,
        buf: &mut <Postgres as Database>::ArgumentBuffer<'q>,
    ) -> Result<IsNull, BoxDynError> {
        <sqlx::types::Json<&Value> as Encode<'q, Postgres>>::encode(sqlx::types::Json(self.0), buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::{Connection, Row};

    /// SQLite gets the milliseconds the schema's INTEGER columns hold.
    #[tokio::test]
    async fn sqlite_stores_milliseconds() {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let t = DateTime::from_timestamp_millis(1_764_590_400_123).unwrap();
        let row = sqlx::query("SELECT $1 AS v, typeof($1) AS t, $2 AS o")
            .bind(At(t))
            .bind(Some(At(t)))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(row.get::<i64, _>("v"), 1_764_590_400_123);
        assert_eq!(row.get::<String, _>("t"), "integer");
        assert_eq!(row.get::<Option<i64>, _>("o"), Some(1_764_590_400_123));
    }

    /// SQLite gets the document as text, which its JSON functions read.
    #[tokio::test]
    async fn sqlite_stores_documents_as_text() {
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        let doc = serde_json::json!({"página": 3, "chave": "a\"b"});
        let row = sqlx::query("SELECT $1 AS v, typeof($1) AS t, $1 ->> '$.página' AS p")
            .bind(Doc(&doc))
            .fetch_one(&mut c)
            .await
            .unwrap();
        assert_eq!(row.get::<String, _>("t"), "text");
        assert_eq!(row.get::<i64, _>("p"), 3);
        let back: Value = serde_json::from_str(&row.get::<String, _>("v")).unwrap();
        assert_eq!(back, doc);
    }
}
