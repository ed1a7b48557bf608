//! One module per resource family, each with its clap arguments and what
//! they do.

pub mod access;
pub mod audit;
pub mod cascade;
pub mod cycle;
pub mod health;
pub mod okr;
pub mod org;
pub mod rhythm;
pub mod strategy;
pub mod webhook;

use prost_types::Timestamp;

use crate::failure::Failure;

/// An RFC 3339 time or a date (`2027-01-01`, midnight UTC).
pub fn timestamp(text: &str, flag: &str) -> Result<Timestamp, Failure> {
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    full.parse::<Timestamp>()
        .map_err(|err| Failure::Usage(format!("{flag} {text:?} is not a date or an RFC 3339 time: {err}")))
}

/// A duration as `7d`, `12h`, `30m` or `90s`.
pub fn duration(text: &str, flag: &str) -> Result<prost_types::Duration, Failure> {
    let bad = || Failure::Usage(format!("{flag} {text:?} is not a duration like 7d, 12h, 30m or 90s"));
    let split = text.len().checked_sub(1).ok_or_else(bad)?;
    let (number, unit) = text.split_at(split);
    let count: i64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "d" => count * 86_400,
        "h" => count * 3_600,
        "m" => count * 60,
        "s" => count,
        _ => return Err(bad()),
    };
    Ok(prost_types::Duration { seconds, nanos: 0 })
}

/// A message from a JSON file (`-` reads stdin), in proto3 JSON.
pub fn message_from_file<M: prost::Message + prost::Name + Default>(path: &str) -> Result<M, Failure> {
    let text = if path == "-" {
        std::io::read_to_string(std::io::stdin())
    } else {
        std::fs::read_to_string(path)
    }
    .map_err(|err| Failure::Io {
        path: path.to_owned(),
        reason: err.to_string(),
    })?;
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|err| Failure::Io {
        path: path.to_owned(),
        reason: format!("not JSON: {err}"),
    })?;
    crate::output::from_json::<M>(&value).map_err(|reason| Failure::Io {
        path: path.to_owned(),
        reason: format!("not a {}: {reason}", M::full_name()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_durations_parse() {
        assert_eq!(
            timestamp("2027-01-01", "--start").ok().map(|t| t.seconds),
            Some(1_798_761_600)
        );
        assert!(timestamp("next week", "--start").is_err());
        assert_eq!(duration("7d", "--cadence").ok().map(|d| d.seconds), Some(604_800));
        assert!(duration("7w", "--cadence").is_err());
        assert!(duration("", "--cadence").is_err());
    }
}
