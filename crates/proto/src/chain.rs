//! The change feed's hash chain. Each event's `hash` is SHA-256 over the
//! previous event's hash and the event's content, so a stored event that is
//! edited, removed or reordered behind the server's back no longer links to
//! its neighbours. The services compute it as they write; clients check it
//! with [`Verifier`] (what `trellis audit verify` runs). It lives here, with
//! the messages, because it is part of the feed's contract with clients.

use sha2::{Digest, Sha256};

use crate::feed::v1::{ChangeEvent, ChangeKind};

/// Separates this chain's hashes from any other use of SHA-256; a new
/// encoding would take a new tag.
const DOMAIN: &[u8] = b"trellis.feed.chain.v1\0";

/// The hash the first event links to.
pub const GENESIS: &str = "";

/// The content of one event that its hash covers, borrowed from wherever
/// it is (a row being written, an event read back).
#[derive(Debug, Clone, Copy)]
pub struct Link<'a> {
    pub sequence: i64,
    /// The change kind's proto name, for example "CHANGE_KIND_CREATED".
    pub kind: &'a str,
    pub resource_name: &'a str,
    pub resource_type: &'a str,
    /// The resource's encoded bytes, exactly as stored.
    pub resource: &'a [u8],
    pub actor: &'a str,
    pub commit_micros: i64,
    pub request_id: &'a str,
    pub on_behalf_of: &'a str,
    pub private_to: &'a str,
}

impl<'a> Link<'a> {
    /// The content of `event` as its hash covers it.
    pub fn of_event(event: &'a ChangeEvent) -> Link<'a> {
        let commit_micros = event
            .commit_time
            .as_ref()
            .map_or(0, |time| time.seconds * 1_000_000 + i64::from(time.nanos) / 1_000);
        let kind = ChangeKind::try_from(event.kind).unwrap_or(ChangeKind::Unspecified);
        Link {
            sequence: event.sequence,
            kind: kind.as_str_name(),
            resource_name: &event.resource_name,
            resource_type: &event.resource_type,
            resource: event.resource.as_ref().map_or(&[][..], |any| any.value.as_slice()),
            actor: &event.actor,
            commit_micros,
            request_id: &event.request_id,
            on_behalf_of: &event.on_behalf_of,
            private_to: &event.private_to,
        }
    }

    /// This event's hash when the one before it hashed to `previous`
    /// ([`GENESIS`] for the first), in lowercase hex. Every field is
    /// length-prefixed, so no two different contents encode alike.
    pub fn hash(&self, previous: &str) -> String {
        let mut digest = Sha256::new();
        digest.update(DOMAIN);
        let mut field = |bytes: &[u8]| {
            digest.update((bytes.len() as u64).to_be_bytes());
            digest.update(bytes);
        };
        field(previous.as_bytes());
        field(&self.sequence.to_be_bytes());
        field(self.kind.as_bytes());
        field(self.resource_name.as_bytes());
        field(self.resource_type.as_bytes());
        field(self.resource);
        field(self.actor.as_bytes());
        field(&self.commit_micros.to_be_bytes());
        field(self.request_id.as_bytes());
        field(self.on_behalf_of.as_bytes());
        field(self.private_to.as_bytes());
        hex(&digest.finalize())
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0xf)]));
    }
    text
}

/// Where a feed's chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Broken {
    /// The event does not hash to what it carries: it, or the one before
    /// it, was changed after it was written.
    Mismatch {
        sequence: i64,
        carried: String,
        computed: String,
    },
    /// A sequence is missing: the event was removed, or the reader may not
    /// see it (a private object), so nothing after it can be checked.
    Gap { expected: i64, found: i64 },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Broken::Mismatch {
                sequence,
                carried,
                computed,
            } => write!(
                f,
                "event {sequence} carries hash {carried} but its content and the previous link hash to \
                 {computed}: event {sequence} or the one before it was changed after it was written"
            ),
            Broken::Gap { expected, found } => write!(
                f,
                "event {expected} is missing (the next one read is {found}): it was removed, or it is \
                 about a private object this caller may not read"
            ),
        }
    }
}

/// Checks a feed's events in order, from the first.
#[derive(Debug, Clone)]
pub struct Verifier {
    previous: String,
    next_sequence: i64,
}

impl Default for Verifier {
    fn default() -> Verifier {
        Verifier {
            previous: GENESIS.to_owned(),
            next_sequence: 1,
        }
    }
}

impl Verifier {
    /// Checks the next event; after an error, the verifier stays where it
    /// was (the chain cannot be followed past a broken link).
    pub fn check(&mut self, event: &ChangeEvent) -> Result<(), Broken> {
        if event.sequence != self.next_sequence {
            return Err(Broken::Gap {
                expected: self.next_sequence,
                found: event.sequence,
            });
        }
        let computed = Link::of_event(event).hash(&self.previous);
        if computed != event.hash {
            return Err(Broken::Mismatch {
                sequence: event.sequence,
                carried: event.hash.clone(),
                computed,
            });
        }
        self.previous = computed;
        self.next_sequence += 1;
        Ok(())
    }

    /// The last event checked (0 before any).
    pub fn verified(&self) -> i64 {
        self.next_sequence - 1
    }

    /// The hash of the last event checked ([`GENESIS`] before any).
    pub fn last_hash(&self) -> &str {
        &self.previous
    }
}

#[cfg(test)]
mod tests {
    use prost_types::{Any, Timestamp};

    use super::*;

    fn event(sequence: i64, name: &str) -> ChangeEvent {
        ChangeEvent {
            sequence,
            kind: ChangeKind::Updated as i32,
            resource_name: name.to_owned(),
            resource_type: "trellis.okr.v1.Objective".to_owned(),
            resource: Some(Any {
                type_url: "type.googleapis.com/trellis.okr.v1.Objective".to_owned(),
                value: vec![1, 2, 3],
            }),
            actor: "ana".to_owned(),
            commit_time: Some(Timestamp {
                seconds: 1_800_000_000,
                nanos: 123_456_000,
            }),
            ..ChangeEvent::default()
        }
    }

    fn chained(names: &[&str]) -> Vec<ChangeEvent> {
        let mut previous = GENESIS.to_owned();
        let mut events = Vec::new();
        for (sequence, name) in (1..).zip(names) {
            let mut event = event(sequence, name);
            event.hash = Link::of_event(&event).hash(&previous);
            previous.clone_from(&event.hash);
            events.push(event);
        }
        events
    }

    #[test]
    fn an_untouched_chain_verifies() {
        let mut verifier = Verifier::default();
        for event in chained(&["a", "b", "c"]) {
            assert_eq!(verifier.check(&event), Ok(()));
        }
        assert_eq!(verifier.verified(), 3);
        assert_eq!(verifier.last_hash().len(), 64);
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chained(&["a", "b", "c"]);
        events[1].actor = "mallory".to_owned();
        let mut verifier = Verifier::default();
        assert_eq!(verifier.check(&events[0]), Ok(()));
        assert!(matches!(
            verifier.check(&events[1]),
            Err(Broken::Mismatch { sequence: 2, .. })
        ));
        assert_eq!(verifier.verified(), 1);
    }

    #[test]
    fn a_rehashed_edit_breaks_the_next_link() {
        let mut events = chained(&["a", "b", "c"]);
        events[1].resource_name = "objectives/forged".to_owned();
        events[1].hash = Link::of_event(&events[1]).hash(&events[0].hash);
        let mut verifier = Verifier::default();
        assert_eq!(verifier.check(&events[0]), Ok(()));
        assert_eq!(verifier.check(&events[1]), Ok(()));
        assert!(matches!(
            verifier.check(&events[2]),
            Err(Broken::Mismatch { sequence: 3, .. })
        ));
    }

    #[test]
    fn a_removed_event_is_a_gap() {
        let events = chained(&["a", "b", "c"]);
        let mut verifier = Verifier::default();
        assert_eq!(verifier.check(&events[0]), Ok(()));
        assert_eq!(verifier.check(&events[2]), Err(Broken::Gap { expected: 2, found: 3 }));
    }

    #[test]
    fn moving_bytes_between_fields_changes_the_hash() {
        let mut one = event(1, "ab");
        one.actor = "c".to_owned();
        let mut other = event(1, "a");
        other.actor = "bc".to_owned();
        assert_ne!(Link::of_event(&one).hash(GENESIS), Link::of_event(&other).hash(GENESIS));
    }

    #[test]
    fn commit_times_keep_their_microseconds() {
        let event = event(1, "a");
        assert_eq!(Link::of_event(&event).commit_micros, 1_800_000_000_123_456);
    }
}
