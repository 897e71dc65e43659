//! Session ids: what `--session ID` takes and what names a session's file or Redis key, so
//! they are checked before any use — letters, digits, `-`, `_` and `.`, 1 to 128 characters,
//! and never `..` (an id must not climb out of the sessions directory).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest id accepted.
pub const MAX_ID_LEN: usize = 128;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SessionId(String);

impl SessionId {
    /// A new id from the time and the process: `20261129-155900-4821`, sortable by start time
    /// and distinct between processes started in the same second. A process's later ids get
    /// a sequence number (`…-4821-2`): `/clear` within a second of the start must not land in
    /// the session it leaves.
    pub fn generate() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static GENERATED: AtomicU64 = AtomicU64::new(0);
        let now = time_parts(crate::protocol::trace::now_ms());
        let pid = std::process::id();
        match GENERATED.fetch_add(1, Ordering::Relaxed) {
            0 => Self(format!("{now}-{pid}")),
            earlier => Self(format!("{now}-{pid}-{}", earlier + 1)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `YYYYMMDD-HHMMSS` (UTC) for `ms` since the Unix epoch.
fn time_parts(ms: u64) -> String {
    let seconds = ms / 1000;
    let (days, day_seconds) = (seconds / 86_400, seconds % 86_400);
    let (year, month, day) = civil_from_days(i64::try_from(days).unwrap_or(0));
    format!(
        "{year:04}{month:02}{day:02}-{:02}{:02}{:02}",
        day_seconds / 3600,
        day_seconds % 3600 / 60,
        day_seconds % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = u32::try_from(doy - (153 * mp + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if mp < 10 { mp + 3 } else { mp - 9 }).unwrap_or(1);
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl FromStr for SessionId {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.is_empty() {
            return Err("a session id cannot be empty".to_owned());
        }
        if text.chars().count() > MAX_ID_LEN {
            return Err(format!(
                "a session id has at most {MAX_ID_LEN} characters (this one has {})",
                text.chars().count()
            ));
        }
        if let Some(bad) = text
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(format!(
                "a session id has only letters, digits, '-', '_' and '.' (not {bad:?})"
            ));
        }
        if text.contains("..") {
            return Err("a session id cannot contain \"..\"".to_owned());
        }
        Ok(Self(text.to_owned()))
    }
}

impl TryFrom<String> for SessionId {
    type Error = String;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<SessionId> for String {
    fn from(id: SessionId) -> Self {
        id.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_ids_are_kept_as_typed() {
        for id in ["a", "work-2026.11_29", "X".repeat(MAX_ID_LEN).as_str()] {
            assert_eq!(
                id.parse::<SessionId>().map(|s| s.to_string()),
                Ok(id.to_owned())
            );
        }
    }

    #[test]
    fn bad_ids_say_why() {
        for (id, why) in [
            ("", "empty"),
            ("../etc", "not '/'"),
            ("a..b", "\"..\""),
            ("with space", "not ' '"),
            ("é", "not 'é'"),
        ] {
            let error = id.parse::<SessionId>().expect_err(id);
            assert!(error.contains(why), "{id:?}: {error}");
        }
        let long = "x".repeat(MAX_ID_LEN + 1);
        assert!(long.parse::<SessionId>().is_err());
    }

    #[test]
    fn generated_ids_are_valid_and_dated() {
        let id = SessionId::generate();
        assert_eq!(id.as_str().parse::<SessionId>(), Ok(id.clone()));
        // Ids made in the same second by one process still differ.
        let ids: std::collections::HashSet<SessionId> =
            (0..5).map(|_| SessionId::generate()).collect();
        assert_eq!(ids.len(), 5);
        assert_eq!(time_parts(0), "19700101-000000");
        // 2026-11-29 15:59:00 UTC
        assert_eq!(time_parts(1_795_967_940_000), "20261129-155900");
    }
}
