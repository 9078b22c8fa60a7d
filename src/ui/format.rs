//! Numbers and dates the way Brazilian admins read them.

/// `1234567` → `"1.234.567"`.
pub fn integer(n: u64) -> String {
    crate::model::thousands(n)
}

/// A queue position: "3", or "mais de 1.000" past what the store counts.
pub fn queue_position(n: u64) -> String {
    if n > crate::model::QUEUE_POSITION_COUNTED {
        format!("mais de {}", integer(crate::model::QUEUE_POSITION_COUNTED))
    } else {
        integer(n)
    }
}

/// A customer count: "1.234 clientes", or "mais de 10.000 clientes" when
/// the list stopped counting.
pub fn customer_count(total: u64, exact: bool) -> String {
    if exact {
        format!("{} clientes", integer(total))
    } else {
        format!(
            "mais de {} clientes",
            integer(crate::model::CUSTOMER_COUNT_CAP)
        )
    }
}

// Dates are formatted by hand: chrono's `format` brings a strftime
// interpreter into the browser bundle.

/// `DD/MM/AAAA` from a UTC date.
pub fn date(t: chrono::DateTime<chrono::Utc>) -> String {
    day(t.date_naive())
}

/// `DD/MM/AAAA`.
pub fn day(d: chrono::NaiveDate) -> String {
    use chrono::Datelike;
    format!("{:02}/{:02}/{:04}", d.day(), d.month(), d.year())
}

/// `DD/MM/AAAA` from SGP's and the API's `AAAA-MM-DD`; anything else as is.
pub fn iso_day(s: &str) -> String {
    let mut parts = s.splitn(3, '-');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(y), Some(m), Some(d)) if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            format!("{d}/{m}/{y}")
        }
        _ => s.to_owned(),
    }
}

/// An instant in Brasília time (UTC−3, no daylight saving since 2019):
/// the same on the server's render and in the browser.
fn in_brasilia(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::FixedOffset> {
    let brasilia = chrono::FixedOffset::west_opt(3 * 3600).expect("a valid offset");
    t.with_timezone(&brasilia)
}

/// `DD/MM/AAAA` in Brasília time.
pub fn local_date(t: chrono::DateTime<chrono::Utc>) -> String {
    day(in_brasilia(t).date_naive())
}

/// `DD/MM/AAAA HH:MM` in Brasília time.
pub fn date_time(t: chrono::DateTime<chrono::Utc>) -> String {
    use chrono::Timelike;
    let local = in_brasilia(t);
    format!(
        "{} {:02}:{:02}",
        day(local.date_naive()),
        local.hour(),
        local.minute()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_use_dots_for_thousands() {
        assert_eq!(integer(0), "0");
        assert_eq!(integer(999), "999");
        assert_eq!(integer(1000), "1.000");
        assert_eq!(integer(1234567), "1.234.567");
        assert_eq!(integer(100000), "100.000");
    }

    #[test]
    fn queue_positions_past_the_count_read_as_more_than() {
        assert_eq!(queue_position(3), "3");
        assert_eq!(queue_position(1_000), "1.000");
        assert_eq!(queue_position(1_001), "mais de 1.000");
    }

    #[test]
    fn dates_are_day_first() {
        let t = chrono::DateTime::from_timestamp(1_767_225_600, 0).unwrap();
        assert_eq!(date(t), "01/01/2026");
        assert_eq!(date_time(t), "31/12/2025 21:00");
        assert_eq!(local_date(t), "31/12/2025");
        assert_eq!(iso_day("2024-03-09"), "09/03/2024");
        assert_eq!(iso_day("ontem"), "ontem");
    }
}
