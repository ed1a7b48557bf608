//! What can be checked of `deploy/` without a container engine: every file
//! parses; the settings the compose file and the Kubernetes ConfigMap give
//! are real `trellis-server` settings (a misspelt variable fails, as the
//! server's own flag parser refuses it); peers, databases, probes and the
//! collector point at things that exist; and four servers started with the
//! compose file's settings serve.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Context, bail};
use clap::Parser;
use serde_norway::Value;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use trellis_server::{ServiceName, Settings, settings::Flags};
use trellis_tests::{TestBackend, spawn_cluster_with};

use crate::support::eventually;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

fn read(name: &str) -> anyhow::Result<String> {
    let path = deploy_dir().join(name);
    std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
}

/// Every YAML document of a file, merge keys (`<<:`) applied.
fn documents(name: &str) -> anyhow::Result<Vec<Value>> {
    let text = read(name)?;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(&text) {
        let mut value =
            <Value as serde::Deserialize>::deserialize(document).with_context(|| format!("parsing {name}"))?;
        value.apply_merge().with_context(|| format!("merging keys in {name}"))?;
        documents.push(value);
    }
    Ok(documents)
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut current = value;
    for key in path {
        current = current.get(*key)?;
    }
    current.as_str()
}

/// `TRELLIS_*` variables as `trellis-server` reads them, through its own
/// flag parser: an unknown variable is an unknown flag and fails.
fn settings_from(environment: &BTreeMap<String, String>) -> anyhow::Result<Settings> {
    let mut args = vec!["trellis-server".to_owned()];
    for (name, value) in environment {
        let Some(flag) = name.strip_prefix("TRELLIS_") else {
            continue;
        };
        args.push(format!("--{}", flag.to_lowercase().replace('_', "-")));
        args.push(value.clone());
    }
    let flags = Flags::try_parse_from(&args).with_context(|| format!("{args:?}"))?;
    Settings::load(flags).map_err(anyhow::Error::msg)
}

fn string_map(value: Option<&Value>) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    if let Some(Value::Mapping(entries)) = value {
        for (key, value) in entries {
            let value = match value {
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                Value::Bool(flag) => flag.to_string(),
                _ => continue,
            };
            if let Some(key) = key.as_str() {
                map.insert(key.to_owned(), value);
            }
        }
    }
    map
}

fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?']).next().unwrap_or(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    host_port.split(':').next().unwrap_or(host_port)
}

fn service_of(name: &str) -> anyhow::Result<ServiceName> {
    name.parse().map_err(anyhow::Error::msg)
}

/// The compose file's trellis services with their settings.
fn compose_settings() -> anyhow::Result<(Value, BTreeMap<String, Settings>)> {
    let compose = documents("compose.yaml")?
        .into_iter()
        .next()
        .context("compose.yaml is empty")?;
    let services = compose.get("services").context("compose.yaml has no services")?;
    let init = read("postgres-init.sql")?;
    let mut found = BTreeMap::new();
    for name in ["strategy", "okr", "health", "cascade"] {
        let service = services
            .get(name)
            .with_context(|| format!("compose.yaml has no {name} service"))?;
        let environment = string_map(service.get("environment"));
        let settings = settings_from(&environment).with_context(|| format!("compose service {name}"))?;
        assert_eq!(settings.services, vec![service_of(name)?], "{name}");
        for peer in [
            &settings.peer_strategy,
            &settings.peer_okr,
            &settings.peer_health,
            &settings.peer_cascade,
        ] {
            let peer = peer.as_deref().context("every peer is set")?;
            assert!(
                services.get(host_of(peer)).is_some(),
                "{name}: peer {peer} is not a compose service"
            );
        }
        assert!(settings.database_url.starts_with("postgres://"), "{name}");
        let database = settings.database_url.rsplit('/').next().unwrap_or_default();
        assert!(
            init.contains(&format!("CREATE DATABASE {database};")),
            "{name}: {database} is never created"
        );
        assert!(services.get(host_of(&settings.database_url)).is_some(), "{name}");
        let collector = environment
            .get("OTEL_EXPORTER_OTLP_ENDPOINT")
            .with_context(|| format!("{name} sends no traces"))?;
        assert!(services.get(host_of(collector)).is_some(), "{name}: {collector}");
        assert!(collector.ends_with(":4317"), "{collector}");
        found.insert(name.to_owned(), settings);
    }
    Ok((compose, found))
}

#[test]
fn the_compose_file_and_the_collector_config_agree() -> anyhow::Result<()> {
    let (compose, _) = compose_settings()?;
    let mounted = compose
        .get("services")
        .and_then(|services| services.get("otel-collector"))
        .and_then(|collector| collector.get("volumes"))
        .and_then(Value::as_sequence)
        .context("the collector mounts no config")?;
    assert!(
        mounted
            .iter()
            .any(|volume| volume.as_str().is_some_and(|v| v.starts_with("./otel-collector.yaml:")))
    );
    let collector = documents("otel-collector.yaml")?
        .into_iter()
        .next()
        .context("empty collector config")?;
    let endpoint =
        text(&collector, &["receivers", "otlp", "protocols", "grpc", "endpoint"]).context("no OTLP/gRPC receiver")?;
    assert!(endpoint.ends_with(":4317"), "{endpoint}");
    let pipeline = collector
        .get("service")
        .and_then(|service| service.get("pipelines"))
        .and_then(|pipelines| pipelines.get("traces"))
        .context("no traces pipeline")?;
    assert!(pipeline.get("receivers").is_some() && pipeline.get("exporters").is_some());
    Ok(())
}

#[test]
fn the_dockerfile_builds_both_binaries_into_a_non_root_image() -> anyhow::Result<()> {
    let dockerfile = read("Dockerfile")?;
    let stages = dockerfile.lines().filter(|line| line.starts_with("FROM ")).count();
    assert!(stages >= 2, "a multi-stage build");
    assert!(dockerfile.contains("-p trellis-server -p trellis-cli"));
    assert!(dockerfile.contains("USER nonroot"));
    assert!(dockerfile.contains("EXPOSE 50051"));
    let listen = dockerfile
        .lines()
        .find_map(|line| line.trim().strip_prefix("ENV TRELLIS_LISTEN="))
        .and_then(|rest| rest.split_whitespace().next())
        .context("the image sets TRELLIS_LISTEN")?;
    assert!(listen.parse::<std::net::SocketAddr>().is_ok(), "{listen}");
    for copied in ["vendor", "proto", "crates", "tests"] {
        assert!(
            dockerfile.contains(&format!("COPY {copied} ")),
            "the build needs {copied}/"
        );
    }
    Ok(())
}

#[test]
fn the_kubernetes_manifests_hold_together() -> anyhow::Result<()> {
    let kustomization = documents("k8s/kustomization.yaml")?
        .into_iter()
        .next()
        .context("empty kustomization")?;
    let resources = kustomization
        .get("resources")
        .and_then(Value::as_sequence)
        .context("no resources")?;
    let secret = documents("k8s/secret.example.yaml")?
        .into_iter()
        .next()
        .context("empty secret")?;
    let secret_keys = string_map(secret.get("stringData"));
    let mut config = BTreeMap::new();
    let mut deployments = Vec::new();
    let mut services = Vec::new();
    for resource in resources {
        let file = resource.as_str().context("a resource is a file name")?;
        for document in documents(&format!("k8s/{file}"))? {
            match text(&document, &["kind"]) {
                Some("ConfigMap") => config = string_map(document.get("data")),
                Some("Deployment") => deployments.push(document),
                Some("Service") => services.push(text(&document, &["metadata", "name"]).unwrap_or_default().to_owned()),
                Some("Namespace") => {}
                other => bail!("{file}: unexpected kind {other:?}"),
            }
        }
    }
    assert_eq!(deployments.len(), 4);
    for deployment in &deployments {
        let name = text(deployment, &["metadata", "name"]).unwrap_or_default();
        let pod = deployment
            .get("spec")
            .and_then(|spec| spec.get("template"))
            .and_then(|t| t.get("spec"))
            .context("no pod spec")?;
        assert_eq!(
            pod.get("securityContext")
                .and_then(|s| s.get("runAsNonRoot"))
                .and_then(Value::as_bool),
            Some(true),
            "{name}"
        );
        let container = pod
            .get("containers")
            .and_then(Value::as_sequence)
            .and_then(|containers| containers.first())
            .context("no container")?;
        let port = container
            .get("ports")
            .and_then(Value::as_sequence)
            .and_then(|ports| ports.first())
            .and_then(|port| port.get("containerPort"))
            .and_then(Value::as_u64);
        let mut environment = config.clone();
        let mut service = None;
        for variable in container.get("env").and_then(Value::as_sequence).into_iter().flatten() {
            let key = text(variable, &["name"]).unwrap_or_default();
            if let Some(value) = text(variable, &["value"]) {
                environment.insert(key.to_owned(), value.to_owned());
                if key == "TRELLIS_SERVICES" {
                    service = Some(value.to_owned());
                }
            }
            if let Some(secret_key) = text(variable, &["valueFrom", "secretKeyRef", "key"]) {
                assert!(
                    secret_keys.contains_key(secret_key),
                    "{name}: no secret key {secret_key}"
                );
                environment.insert(key.to_owned(), secret_keys[secret_key].clone());
            }
        }
        let settings = settings_from(&environment).with_context(|| format!("deployment {name}"))?;
        let service = service_of(service.as_deref().unwrap_or_default())?;
        assert_eq!(settings.services, vec![service]);
        assert_eq!(u64::from(settings.listen.port()), port.unwrap_or_default(), "{name}");
        for peer in [
            &settings.peer_strategy,
            &settings.peer_okr,
            &settings.peer_health,
            &settings.peer_cascade,
        ] {
            let host = host_of(peer.as_deref().unwrap_or_default());
            assert!(
                services.iter().any(|known| known == host),
                "{name}: peer {host} has no Service"
            );
        }
        for probe in ["readinessProbe", "livenessProbe"] {
            let grpc = container
                .get(probe)
                .and_then(|probe| probe.get("grpc"))
                .with_context(|| format!("{name}: no gRPC {probe}"))?;
            assert_eq!(grpc.get("port").and_then(Value::as_u64), port, "{name} {probe}");
        }
        let ready_on = text(container, &["readinessProbe", "grpc", "service"]).unwrap_or_default();
        assert!(
            ready_on.starts_with("trellis.") && ready_on.ends_with("Service"),
            "{name}: {ready_on}"
        );
        assert!(
            text(container, &["resources", "limits", "memory"]).is_some(),
            "{name}: no memory limit"
        );
        assert!(
            text(container, &["resources", "requests", "cpu"]).is_some(),
            "{name}: no cpu request"
        );
    }
    Ok(())
}

/// The compose file's four processes, each with its settings (addresses
/// and databases swapped for this test's), serve and answer health checks.
async fn servers_start_with_the_compose_settings(backend: TestBackend) -> anyhow::Result<()> {
    let (_, compose) = compose_settings()?;
    let cluster = spawn_cluster_with(&backend, |service, settings, url_of| {
        let from_compose = compose.get(service.as_str()).context("a compose service per service")?;
        settings.services.clone_from(&from_compose.services);
        settings.max_message_bytes = from_compose.max_message_bytes;
        settings.shutdown_grace_seconds = 5;
        let test_url = |peer: &Option<String>| -> anyhow::Result<Option<String>> {
            let host = host_of(peer.as_deref().unwrap_or_default());
            Ok(Some(url_of(service_of(host)?)))
        };
        settings.peer_strategy = test_url(&from_compose.peer_strategy)?;
        settings.peer_okr = test_url(&from_compose.peer_okr)?;
        settings.peer_health = test_url(&from_compose.peer_health)?;
        settings.peer_cascade = test_url(&from_compose.peer_cascade)?;
        Ok(())
    })
    .await?;
    for (server, service) in [
        (&cluster.strategy, "trellis.strategy.v1.StrategyService"),
        (&cluster.okr, "trellis.okr.v1.OkrService"),
        (&cluster.health, "trellis.health.v1.HealthMetricService"),
        (&cluster.cascade, "trellis.cascade.v1.CascadeService"),
    ] {
        eventually(&format!("{service} is serving"), || {
            let mut health = server.health.clone();
            async move {
                let status = health
                    .check(HealthCheckRequest {
                        service: service.to_owned(),
                    })
                    .await?
                    .into_inner()
                    .status();
                Ok(status == ServingStatus::Serving)
            }
        })
        .await?;
    }
    Ok(())
}

mod servers_start_with_the_compose_settings {
    use trellis_tests::TestBackend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() -> anyhow::Result<()> {
        super::servers_start_with_the_compose_settings(TestBackend::Sqlite).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() -> anyhow::Result<()> {
        match TestBackend::postgres() {
            Some(backend) => super::servers_start_with_the_compose_settings(backend).await,
            None => {
                trellis_tests::say_postgres_not_configured();
                Ok(())
            }
        }
    }
}
