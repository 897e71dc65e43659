//! The string formats an elicitation field may ask for (`email`, `uri`, `date`,
//! `date-time`), checked the way a person would expect: plausible, not RFC-complete.

use super::form::TextFormat;

pub fn valid(format: TextFormat, text: &str) -> bool {
    match format {
        TextFormat::Email => email(text),
        TextFormat::Uri => uri(text),
        TextFormat::Date => date(text),
        TextFormat::DateTime => date_time(text),
    }
}

fn email(text: &str) -> bool {
    let Some((local, domain)) = text.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !text.chars().any(char::is_whitespace)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
}

fn uri(text: &str) -> bool {
    !text.chars().any(char::is_whitespace) && url::Url::parse(text).is_ok()
}

fn digits(text: &str, n: usize) -> Option<u32> {
    (text.len() == n && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`, a real day of a real month.
fn date(text: &str) -> bool {
    let mut parts = text.split('-');
    let (Some(y), Some(m), Some(d), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let (Some(year), Some(month), Some(day)) = (digits(y, 4), digits(m, 2), digits(d, 2)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// RFC 3339: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`.
fn date_time(text: &str) -> bool {
    let Some((day, rest)) = text.split_once(['T', 't', ' ']) else {
        return false;
    };
    if !date(day) {
        return false;
    }
    let (time, offset) = if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        (time, None)
    } else if let Some(at) = rest.rfind(['+', '-']) {
        (&rest[..at], Some(&rest[at + 1..]))
    } else {
        return false;
    };
    if let Some(offset) = offset {
        let Some((h, m)) = offset.split_once(':') else {
            return false;
        };
        if !matches!((digits(h, 2), digits(m, 2)), (Some(h), Some(m)) if h < 24 && m < 60) {
            return false;
        }
    }
    let (clock, fraction) = match time.split_once('.') {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (time, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    let mut parts = clock.split(':');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(m), Some(s), None) => matches!(
            (digits(h, 2), digits(m, 2), digits(s, 2)),
            (Some(h), Some(m), Some(s)) if h < 24 && m < 60 && s <= 60
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_accept_what_people_write_and_refuse_the_rest() {
        use TextFormat::*;
        for (format, good, bad) in [
            (Email, "ada@example.org", "ada@example"),
            (Email, "a.b+c@mail.example.co", "not an@email.com"),
            (Uri, "https://example.com/x?y=1", "example dot com"),
            (Uri, "mailto:ada@example.org", "no-scheme"),
            (Date, "2024-02-29", "2023-02-29"),
            (Date, "1999-12-31", "1999-13-01"),
            (DateTime, "2024-05-01T12:30:00Z", "2024-05-01 25:00:00Z"),
            (
                DateTime,
                "2024-05-01T12:30:00.250+02:00",
                "2024-05-01T12:30Z",
            ),
        ] {
            assert!(valid(format, good), "{format:?} {good}");
            assert!(!valid(format, bad), "{format:?} {bad}");
        }
    }
}
