//! A feed event as a CloudEvent (specification 1.0, structured JSON), and
//! the NATS subject it goes to.
//!
//! - `id`: the service and the feed sequence (`okr-1234`), also the
//!   `Nats-Msg-Id`: the same event sent twice is one event.
//! - `source`: `/trellis/{service}`; `type`: the resource's proto type and
//!   the change (`trellis.okr.v1.Objective.updated`); `subject`: the
//!   resource name; `time`: the commit time.
//! - `data`: the resource as proto3 JSON (as it was before, for a delete).
//! - extensions: `actor`, `onbehalfof` (when a service acted for a user),
//!   `sequence`, `requestid` (when the write had one), `chainhash` (the
//!   event's link in its service's hash chain; see docs/audit.md).
//!
//! Subjects are `{prefix}.{service}.{resource}.{change}` (`trellis.okr.
//! objective.updated`), and `{prefix}.private.{service}...` for events
//! about private objects, so a deployment can keep that tree to the few
//! consumers allowed to read everything.

use chrono::{DateTime, SecondsFormat};
use prost_reflect::{DescriptorPool, DynamicMessage};
use trellis_proto::feed::v1::{ChangeEvent, ChangeKind};

use crate::Error;

/// What the CloudEvents of one service's feed share.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub service: &'static str,
    pub subject_prefix: String,
    pool: DescriptorPool,
}

impl Envelope {
    pub fn new(service: &'static str, subject_prefix: &str) -> Result<Envelope, Error> {
        let pool = DescriptorPool::decode(trellis_proto::FILE_DESCRIPTOR_SET)
            .map_err(|err| Error::Encode(format!("reading the API's descriptors: {err}")))?;
        Ok(Envelope {
            service,
            subject_prefix: subject_prefix.to_owned(),
            pool,
        })
    }

    /// The CloudEvent's id, also the message's `Nats-Msg-Id`.
    pub fn id(&self, event: &ChangeEvent) -> String {
        format!("{}-{}", self.service, event.sequence)
    }

    /// The CloudEvent's type: the resource's proto type and the change
    /// (`trellis.okr.v1.Objective.updated`).
    pub fn event_type(&self, event: &ChangeEvent) -> String {
        format!("{}.{}", event.resource_type, change(event))
    }

    /// The subject `event` goes to; `private` for an event about a private
    /// object.
    pub fn subject(&self, event: &ChangeEvent, private: bool) -> String {
        let resource = event
            .resource_type
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        let tree = if private { ".private" } else { "" };
        format!(
            "{}{tree}.{}.{resource}.{}",
            self.subject_prefix,
            self.service,
            change(event)
        )
    }

    /// The CloudEvent of `event`, as structured JSON. Written straight
    /// into the buffer, the resource streamed from its descriptor: building
    /// a JSON value first and the envelope around it cost the relay a
    /// third of its time. The unit tests read the output back with the
    /// CloudEvents SDK, which checks it against the specification.
    pub fn encode(&self, event: &ChangeEvent) -> Result<Vec<u8>, Error> {
        let message = match &event.resource {
            Some(any) => {
                let descriptor = self
                    .pool
                    .get_message_by_name(&event.resource_type)
                    .ok_or_else(|| Error::Encode(format!("{} is no message of Trellis's API", event.resource_type)))?;
                Some(
                    DynamicMessage::decode(descriptor, any.value.as_slice())
                        .map_err(|err| Error::Encode(format!("decoding {}: {err}", event.resource_name)))?,
                )
            }
            None => None,
        };
        let time = event
            .commit_time
            .as_ref()
            .and_then(|time| DateTime::from_timestamp(time.seconds, u32::try_from(time.nanos).unwrap_or(0)))
            .unwrap_or_default()
            .to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let mut out = Vec::with_capacity(1_024);
        let text = |out: &mut Vec<u8>, key: &str, value: &str| -> Result<(), Error> {
            out.push(if out.is_empty() { b'{' } else { b',' });
            serde_json::to_writer(&mut *out, key).map_err(json_error)?;
            out.push(b':');
            serde_json::to_writer(&mut *out, value).map_err(json_error)
        };
        text(&mut out, "specversion", "1.0")?;
        text(&mut out, "id", &self.id(event))?;
        text(&mut out, "source", &format!("/trellis/{}", self.service))?;
        text(&mut out, "type", &self.event_type(event))?;
        text(&mut out, "subject", &event.resource_name)?;
        text(&mut out, "time", &time)?;
        text(&mut out, "actor", &event.actor)?;
        text(&mut out, "chainhash", &event.hash)?;
        if !event.on_behalf_of.is_empty() {
            text(&mut out, "onbehalfof", &event.on_behalf_of)?;
        }
        if !event.request_id.is_empty() {
            text(&mut out, "requestid", &event.request_id)?;
        }
        text(&mut out, "datacontenttype", "application/json")?;
        out.extend_from_slice(format!(",\"sequence\":{},\"data\":", event.sequence).as_bytes());
        match &message {
            Some(message) => serde_json::to_writer(&mut out, message).map_err(json_error)?,
            None => out.extend_from_slice(b"null"),
        }
        out.push(b'}');
        Ok(out)
    }
}

fn json_error(err: serde_json::Error) -> Error {
    Error::Encode(format!("writing the CloudEvent: {err}"))
}

/// The change, as the event's type and subject end: created, updated,
/// deleted.
fn change(event: &ChangeEvent) -> &'static str {
    match event.kind() {
        ChangeKind::Created => "created",
        ChangeKind::Deleted => "deleted",
        ChangeKind::Updated | ChangeKind::Unspecified => "updated",
    }
}

#[cfg(test)]
mod tests {
    use prost::{Message, Name};
    use trellis_proto::okr::v1::Objective;

    use super::*;

    fn event() -> ChangeEvent {
        let objective = Objective {
            name: "objectives/grow".into(),
            title: "Grow".into(),
            ..Objective::default()
        };
        ChangeEvent {
            sequence: 42,
            kind: ChangeKind::Updated as i32,
            resource_name: objective.name.clone(),
            resource_type: Objective::full_name(),
            resource: Some(prost_types::Any {
                type_url: Objective::type_url(),
                value: objective.encode_to_vec(),
            }),
            actor: "ana".into(),
            commit_time: Some(prost_types::Timestamp {
                seconds: 1_800_000_000,
                nanos: 5_000,
            }),
            hash: "5e1f".into(),
            ..ChangeEvent::default()
        }
    }

    #[test]
    fn an_event_is_a_cloud_event_with_the_resource_as_json() {
        let envelope = Envelope::new("okr", "trellis").expect("the descriptors");
        let json: serde_json::Value =
            serde_json::from_slice(&envelope.encode(&event()).expect("it encodes")).expect("structured JSON");
        assert_eq!(json["specversion"], "1.0");
        assert_eq!(json["id"], "okr-42");
        assert_eq!(json["source"], "/trellis/okr");
        assert_eq!(json["type"], "trellis.okr.v1.Objective.updated");
        assert_eq!(json["subject"], "objectives/grow");
        assert_eq!(json["actor"], "ana");
        assert_eq!(json["sequence"], 42);
        assert_eq!(json["chainhash"], "5e1f");
        assert_eq!(json["datacontenttype"], "application/json");
        assert_eq!(json["data"]["title"], "Grow");
        assert!(
            json["time"]
                .as_str()
                .is_some_and(|time| time.starts_with("2027-01-15T08:00:00")),
            "{json}"
        );
    }

    #[test]
    fn the_sdk_reads_it_as_a_valid_cloud_event() {
        let envelope = Envelope::new("okr", "trellis").expect("the descriptors");
        let mut with_extras = event();
        with_extras.on_behalf_of = "ana \"the lead\"".into();
        with_extras.request_id = "r-1".into();
        for event in [event(), with_extras] {
            let bytes = envelope.encode(&event).expect("it encodes");
            let read: cloudevents::Event = serde_json::from_slice(&bytes).expect("a CloudEvent by the SDK's reading");
            assert_eq!(cloudevents::AttributesReader::id(&read), "okr-42");
            assert_eq!(
                cloudevents::AttributesReader::ty(&read),
                "trellis.okr.v1.Objective.updated"
            );
            assert_eq!(cloudevents::AttributesReader::subject(&read), Some("objectives/grow"));
            assert!(cloudevents::AttributesReader::time(&read).is_some());
            let data = read.data().cloned().expect("data");
            let json: serde_json::Value = serde_json::Value::try_from(data).expect("JSON data");
            assert_eq!(json["title"], "Grow");
            let on_behalf_of = read.extension("onbehalfof").map(ToString::to_string);
            assert_eq!(
                on_behalf_of,
                (!event.on_behalf_of.is_empty()).then(|| event.on_behalf_of.clone())
            );
        }
    }

    #[test]
    fn private_objects_go_to_their_own_tree() {
        let envelope = Envelope::new("okr", "trellis").expect("the descriptors");
        assert_eq!(envelope.subject(&event(), false), "trellis.okr.objective.updated");
        assert_eq!(
            envelope.subject(&event(), true),
            "trellis.private.okr.objective.updated"
        );
    }
}
