//! A client's own deadline: the `grpc-timeout` request header of the gRPC
//! over HTTP/2 protocol (at most eight digits and a unit: `H`ours,
//! `M`inutes, `S`econds, `m`illiseconds, `u` microseconds, `n`anoseconds).

use std::time::Duration;

use tonic::codegen::http::HeaderMap;

const HEADER: &str = "grpc-timeout";
const MAX_DIGITS: usize = 8;

/// The deadline the client set, if it set one that reads; a malformed
/// header is passed over (the server's own deadline still holds).
pub fn client_deadline(headers: &HeaderMap) -> Option<Duration> {
    parse(headers.get(HEADER)?.to_str().ok()?)
}

fn parse(text: &str) -> Option<Duration> {
    let unit = text.chars().last()?;
    let digits = &text[..text.len() - unit.len_utf8()];
    if digits.is_empty() || digits.len() > MAX_DIGITS || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        'H' => Duration::from_secs(value * 3600),
        'M' => Duration::from_secs(value * 60),
        'S' => Duration::from_secs(value),
        'm' => Duration::from_millis(value),
        'u' => Duration::from_micros(value),
        'n' => Duration::from_nanos(value),
        _ => return None,
    })
}

/// The shorter of the server's deadline and the client's.
pub fn effective(server: Duration, client: Option<Duration>) -> Duration {
    client.map_or(server, |client| client.min(server))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn each_unit_reads() {
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("7u"), Some(Duration::from_micros(7)));
        assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
    }

    #[test]
    fn malformed_values_are_passed_over() {
        for text in ["", "S", "5", "5s", "123456789S", "-5S", "5 S", "1.5S", "５S"] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn the_shorter_deadline_holds() {
        let server = Duration::from_secs(60);
        assert_eq!(effective(server, None), server);
        assert_eq!(
            effective(server, Some(Duration::from_millis(50))),
            Duration::from_millis(50)
        );
        assert_eq!(effective(server, Some(Duration::from_secs(3600))), server);
    }

    proptest! {
        #[test]
        fn any_header_reads_without_panicking(text in "\\PC{0,12}") {
            let _ = parse(&text);
        }

        #[test]
        fn written_values_read_back(value in 0u64..100_000_000, unit in prop::sample::select(vec!['S', 'm', 'u', 'n'])) {
            let read = parse(&format!("{value}{unit}"));
            let expected = match unit {
                'S' => Duration::from_secs(value),
                'm' => Duration::from_millis(value),
                'u' => Duration::from_micros(value),
                _ => Duration::from_nanos(value),
            };
            prop_assert_eq!(read, Some(expected));
        }
    }
}
