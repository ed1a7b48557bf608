//! What a metric row keeps in its `snapshot` column: the storage message
//! `trellis.storage.health.v1.MetricConfig`, mapped field by field to and
//! from the API's `HealthMetric`. A field added to the API is stored only
//! once it is mapped here, and a storage change shows in `buf breaking`.

use crate::error::Error;
use prost::Message;
use trellis_foundation::visibility;
use trellis_proto::{health::v1 as pb, storage::health::v1 as stored};

/// A metric's configuration: its writable fields and name.
pub fn encode_config(metric: &pb::HealthMetric) -> Vec<u8> {
    stored::MetricConfig {
        name: metric.name.clone(),
        display_name: metric.display_name.clone(),
        description: metric.description.clone(),
        owner: metric.owner.clone(),
        accountable: metric.accountable.clone(),
        unit: metric.unit.clone(),
        direction: store_direction(metric.direction()) as i32,
        thresholds: metric.thresholds.map(|t| stored::Thresholds {
            green: t.green,
            red: t.red,
            green_low: t.green_low,
            green_high: t.green_high,
            red_low: t.red_low,
            red_high: t.red_high,
        }),
        cadence: metric.cadence,
        escalation_policy: metric.escalation_policy.map(|p| stored::EscalationPolicy {
            enabled: p.enabled,
            red_to_escalate: p.red_to_escalate,
            red_to_break: p.red_to_break,
        }),
        visibility: visibility::normal(metric.visibility()) as i32,
    }
    .encode_to_vec()
}

/// The stored configuration; status, latest measurement and escalation
/// come from the row's columns.
pub fn decode_config(bytes: &[u8], name: &str) -> Result<pb::HealthMetric, Error> {
    let config = stored::MetricConfig::decode(bytes).map_err(|source| Error::Undecodable {
        name: name.to_owned(),
        source,
    })?;
    Ok(pb::HealthMetric {
        visibility: visibility::from_stored(config.visibility) as i32,
        direction: api_direction(config.direction()) as i32,
        thresholds: config.thresholds.map(|t| pb::Thresholds {
            green: t.green,
            red: t.red,
            green_low: t.green_low,
            green_high: t.green_high,
            red_low: t.red_low,
            red_high: t.red_high,
        }),
        cadence: config.cadence,
        escalation_policy: config.escalation_policy.map(|p| pb::EscalationPolicy {
            enabled: p.enabled,
            red_to_escalate: p.red_to_escalate,
            red_to_break: p.red_to_break,
        }),
        name: config.name,
        display_name: config.display_name,
        description: config.description,
        owner: config.owner,
        accountable: config.accountable,
        unit: config.unit,
        ..pb::HealthMetric::default()
    })
}

trellis_foundation::enum_pair!(
    store_direction,
    api_direction,
    pb::Direction,
    stored::Direction,
    [Unspecified, HigherIsBetter, LowerIsBetter, Band]
);

#[cfg(test)]
mod tests {
    use super::*;
    use prost_types::Duration;
    use trellis_proto::common::v1::Visibility;

    fn config() -> pb::HealthMetric {
        pb::HealthMetric {
            name: "healthMetrics/uptime".into(),
            display_name: "Uptime".into(),
            description: "of the API".into(),
            owner: "orgUnits/sre".into(),
            accountable: "ana".into(),
            unit: "%".into(),
            direction: pb::Direction::Band as i32,
            thresholds: Some(pb::Thresholds {
                green: 1.0,
                red: 2.0,
                green_low: 3.0,
                green_high: 4.0,
                red_low: 5.0,
                red_high: 6.0,
            }),
            cadence: Some(Duration {
                seconds: 3_600,
                nanos: 0,
            }),
            escalation_policy: Some(pb::EscalationPolicy {
                enabled: true,
                red_to_escalate: 2,
                red_to_break: 4,
            }),
            visibility: Visibility::Private as i32,
            ..pb::HealthMetric::default()
        }
    }

    /// Rows written before storage had a message of its own hold the
    /// API's `HealthMetric` with only the configuration set.
    #[test]
    fn rows_written_as_the_api_message_read_back_whole() {
        let old = config().encode_to_vec();
        assert_eq!(decode_config(&old, "m").unwrap(), config());
        assert_eq!(decode_config(&encode_config(&config()), "m").unwrap(), config());
    }

    /// A row of the first format (display name "Up", direction
    /// LOWER_IS_BETTER, a one-hour cadence): fails if a storage field is
    /// renumbered or retyped.
    #[test]
    fn a_row_of_the_first_format_still_decodes() {
        let bytes = [0x12, 0x02, b'U', b'p', 0x38, 0x02, 0x4a, 0x03, 0x08, 0x90, 0x1c];
        let config = decode_config(&bytes, "m").unwrap();
        assert_eq!(config.display_name, "Up");
        assert_eq!(config.direction(), pb::Direction::LowerIsBetter);
        assert_eq!(
            config.cadence,
            Some(Duration {
                seconds: 3_600,
                nanos: 0
            })
        );
    }
}
