//! `trellis health`: health metrics (KPIs), their measurements, and the
//! history of their status.

use clap::Subcommand;
use trellis_proto::common::v1::Visibility;
use trellis_proto::health::v1::{
    CreateHealthMetricRequest, Direction, EscalationPolicy, GetHealthMetricRequest, HealthMetric,
    ListHealthMetricsRequest, ListMeasurementsRequest, ListStatusChangesRequest, Measurement, RecordMeasurementRequest,
    Thresholds,
};

use crate::{
    Page,
    client::{Clients, named},
    commands::{duration, message_from_file, timestamp},
    failure::Failure,
    output::{Column, Printer},
};

const FIELDS: &[Column] = &[
    ("name", "name"),
    ("display name", "displayName"),
    ("status", "status"),
    ("latest", "latest.value"),
    ("measured", "latest.measureTime"),
    ("unit", "unit"),
    ("direction", "direction"),
    ("green", "thresholds.green"),
    ("red", "thresholds.red"),
    ("owner", "owner"),
    ("accountable", "accountable"),
    ("cadence", "cadence"),
    ("escalation", "escalation.stage"),
    ("remedial", "escalation.remedialObjective"),
    ("paused", "escalation.pausedObjectives"),
    ("etag", "etag"),
];

#[derive(Debug, Subcommand)]
pub enum HealthCommand {
    /// Create a health metric.
    Create(Box<CreateMetric>),
    Get {
        name: String,
    },
    /// List metrics, for example the red ones: --status red.
    List {
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        owner: Option<String>,
        #[command(flatten)]
        page: Page,
    },
    /// Record one measurement.
    Record {
        metric: String,
        value: f64,
        /// When it was measured (RFC 3339 or a date); now by default.
        #[arg(long)]
        time: Option<String>,
        #[arg(long, default_value = "cli")]
        source: String,
    },
    /// Record measurements from CSV (metric,time,value,source) or JSON.
    Import {
        file: String,
    },
    /// A metric's measurements.
    Measurements {
        metric: String,
        #[command(flatten)]
        page: Page,
    },
    /// When a metric changed status, and for how long it stayed.
    History {
        metric: String,
        #[command(flatten)]
        page: Page,
    },
}

#[derive(Debug, clap::Args)]
pub struct CreateMetric {
    id: String,
    /// A JSON file of a trellis.health.v1.HealthMetric; flags override it.
    #[arg(long)]
    file: Option<String>,
    #[arg(long)]
    display_name: Option<String>,
    #[arg(long, default_value = "")]
    description: String,
    /// The owning org unit.
    #[arg(long)]
    owner: Option<String>,
    /// The one accountable person.
    #[arg(long)]
    accountable: Option<String>,
    #[arg(long)]
    unit: Option<String>,
    #[arg(long, value_parser = ["higher-is-better", "lower-is-better", "band"])]
    direction: Option<String>,
    /// Green from here (higher/lower is better).
    #[arg(long)]
    green: Option<f64>,
    /// Red beyond here (higher/lower is better).
    #[arg(long)]
    red: Option<f64>,
    /// For a band: green inside [green-low, green-high] ...
    #[arg(long)]
    green_low: Option<f64>,
    #[arg(long)]
    green_high: Option<f64>,
    /// ... and red outside [red-low, red-high].
    #[arg(long)]
    red_low: Option<f64>,
    #[arg(long)]
    red_high: Option<f64>,
    /// How often it is measured (7d, 24h); silent longer, it is UNKNOWN.
    #[arg(long)]
    cadence: Option<String>,
    /// Reds in a row before the Four Square rule escalates (0: never).
    #[arg(long)]
    escalate_after: Option<i32>,
    /// Further reds before the strategy's assumptions count as broken.
    #[arg(long)]
    break_after: Option<i32>,
    /// Seen only inside the owner's subtree (and by admins above it); set
    /// once, when created.
    #[arg(long)]
    private: bool,
}

pub async fn run(command: HealthCommand, clients: &Clients, printer: Printer) -> Result<(), Failure> {
    let mut health = clients.health.clone();
    match command {
        HealthCommand::Create(create) => {
            let id = create.id.clone();
            let metric = create.metric()?;
            let created = health
                .create_health_metric(CreateHealthMetricRequest {
                    health_metric: Some(metric),
                    health_metric_id: id.clone(),
                    request_id: String::new(),
                })
                .await
                .map_err(Failure::call(format!("creating healthMetrics/{id}")))?
                .into_inner();
            printer.one(&created, FIELDS)
        }
        HealthCommand::Get { name } => {
            let name = named("healthMetrics", &name);
            let metric = health
                .get_health_metric(GetHealthMetricRequest { name: name.clone() })
                .await
                .map_err(Failure::call(format!("reading {name}")))?
                .into_inner();
            printer.one(&metric, FIELDS)
        }
        HealthCommand::List { status, owner, page } => {
            let mut conditions = Vec::new();
            if let Some(status) = status {
                conditions.push(format!("status = {}", status.to_uppercase()));
            }
            if let Some(owner) = owner {
                conditions.push(format!("owner = \"{}\"", named("orgUnits", &owner)));
            }
            let response = health
                .list_health_metrics(ListHealthMetricsRequest {
                    page_size: page.page_size,
                    page_token: page.page_token,
                    filter: conditions.join(" AND "),
                })
                .await
                .map_err(Failure::call("listing health metrics"))?
                .into_inner();
            let columns: &[Column] = &[
                ("NAME", "name"),
                ("STATUS", "status"),
                ("LATEST", "latest.value"),
                ("UNIT", "unit"),
                ("OWNER", "owner"),
                ("ESCALATION", "escalation.stage"),
                ("DISPLAY NAME", "displayName"),
            ];
            printer.list(&response, "healthMetrics", columns)
        }
        HealthCommand::Record {
            metric,
            value,
            time,
            source,
        } => {
            let name = named("healthMetrics", &metric);
            let measure_time = match time {
                Some(time) => timestamp(&time, "--time")?,
                None => prost_types::Timestamp::from(std::time::SystemTime::now()),
            };
            let response = health
                .record_measurement(RecordMeasurementRequest {
                    health_metric: name.clone(),
                    measurement: Some(Measurement {
                        value,
                        measure_time: Some(measure_time),
                        source,
                        ..Measurement::default()
                    }),
                })
                .await
                .map_err(Failure::call(format!("recording a measurement of {name}")))?
                .into_inner();
            match response.health_metrics.first() {
                Some(metric) => printer.one(metric, FIELDS),
                None => Ok(()),
            }
        }
        HealthCommand::Import { file } => crate::import::measurements::import(&file, clients, printer).await,
        HealthCommand::Measurements { metric, page } => {
            let name = named("healthMetrics", &metric);
            let response = health
                .list_measurements(ListMeasurementsRequest {
                    health_metric: name.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing the measurements of {name}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("MEASURED", "measureTime"),
                ("VALUE", "value"),
                ("STATUS", "status"),
                ("SOURCE", "source"),
            ];
            printer.list(&response, "measurements", columns)
        }
        HealthCommand::History { metric, page } => {
            let name = named("healthMetrics", &metric);
            let response = health
                .list_status_changes(ListStatusChangesRequest {
                    health_metric: name.clone(),
                    page_size: page.page_size,
                    page_token: page.page_token,
                })
                .await
                .map_err(Failure::call(format!("listing the history of {name}")))?
                .into_inner();
            let columns: &[Column] = &[
                ("SINCE", "changeTime"),
                ("STATUS", "status"),
                ("FROM", "previous"),
                ("LASTED", "duration"),
            ];
            printer.list(&response, "statusChanges", columns)
        }
    }
}

impl CreateMetric {
    fn metric(&self) -> Result<HealthMetric, Failure> {
        let mut metric: HealthMetric = match &self.file {
            Some(path) => message_from_file(path)?,
            None => HealthMetric::default(),
        };
        if let Some(display_name) = &self.display_name {
            metric.display_name.clone_from(display_name);
        }
        if !self.description.is_empty() {
            metric.description.clone_from(&self.description);
        }
        if let Some(owner) = &self.owner {
            metric.owner = named("orgUnits", owner);
        }
        if let Some(accountable) = &self.accountable {
            metric.accountable.clone_from(accountable);
        }
        if let Some(unit) = &self.unit {
            metric.unit.clone_from(unit);
        }
        if self.private {
            metric.visibility = Visibility::Private as i32;
        }
        match self.direction.as_deref() {
            Some("higher-is-better") => metric.direction = Direction::HigherIsBetter as i32,
            Some("lower-is-better") => metric.direction = Direction::LowerIsBetter as i32,
            Some("band") => metric.direction = Direction::Band as i32,
            _ => {}
        }
        let thresholds = metric.thresholds.get_or_insert_with(Thresholds::default);
        for (field, value) in [
            (&mut thresholds.green, self.green),
            (&mut thresholds.red, self.red),
            (&mut thresholds.green_low, self.green_low),
            (&mut thresholds.green_high, self.green_high),
            (&mut thresholds.red_low, self.red_low),
            (&mut thresholds.red_high, self.red_high),
        ] {
            if let Some(value) = value {
                *field = value;
            }
        }
        if let Some(cadence) = &self.cadence {
            metric.cadence = Some(duration(cadence, "--cadence")?);
        }
        if self.escalate_after.is_some() || self.break_after.is_some() {
            let policy = metric.escalation_policy.get_or_insert_with(EscalationPolicy::default);
            if let Some(reds) = self.escalate_after {
                policy.enabled = reds > 0;
                policy.red_to_escalate = reds;
            }
            if let Some(reds) = self.break_after {
                policy.red_to_break = reds;
            }
        }
        Ok(metric)
    }
}
