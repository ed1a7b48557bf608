//! What can be checked of `deploy/` without a container engine: every file
//! parses; the settings the compose file and the Kubernetes ConfigMap give
//! are real `trellis-server` settings (a misspelt variable fails, as the
//! server's own flag parser refuses it); peers, databases, probes and the
//! collector point at things that exist; both run with tokens and TLS, the
//! files they read mounted from secrets; and four servers started with the
//! compose file's settings (the test's identity provider and certificates
//! in place of yours) serve and work together.

use std::{collections::BTreeMap, path::PathBuf};

use anyhow::{Context, bail};
use clap::Parser;
use serde_norway::Value;
use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus};
use trellis_server::{
    ServiceName, Settings,
    settings::{AuthMode, Flags},
};
use trellis_tests::{
    TestBackend,
    issuer::{ADMIN, TestIssuer},
    spawn_cluster_with,
    tls::TestCa,
};

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

/// `${NAME}`, `${NAME:-default}` and `${NAME:?why}` in `environment`'s
/// values replaced as compose replaces them from `variables`; a `:?`
/// variable that is not given fails, as compose refuses to start.
fn interpolated(
    environment: &BTreeMap<String, String>,
    variables: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let mut replaced = BTreeMap::new();
    for (key, value) in environment {
        let mut out = String::new();
        let mut rest = value.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .with_context(|| format!("{key}: unclosed ${{"))?
                + start;
            let expression = &rest[start + 2..end];
            let (name, fallback) = match expression.find(":-").or_else(|| expression.find(":?")) {
                Some(at) => (&expression[..at], Some(&expression[at..])),
                None => (expression, None),
            };
            match (variables.get(name).filter(|value| !value.is_empty()), fallback) {
                (Some(value), _) => out.push_str(value),
                (None, Some(default)) if default.starts_with(":-") => out.push_str(&default[2..]),
                (None, Some(why)) => bail!("{key}: {name} is required: {}", &why[2..]),
                (None, None) => bail!("{key}: {name} is not set"),
            }
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        replaced.insert(key.clone(), out);
    }
    Ok(replaced)
}

#[test]
fn the_compose_file_needs_the_identity_provider_and_makes_its_certificates() -> anyhow::Result<()> {
    let compose = documents("compose.yaml")?
        .into_iter()
        .next()
        .context("empty compose.yaml")?;
    let okr = string_map(
        compose
            .get("services")
            .and_then(|services| services.get("okr"))
            .and_then(|okr| okr.get("environment")),
    );
    let refused = interpolated(&okr, &BTreeMap::new())
        .err()
        .map(|err| err.to_string())
        .unwrap_or_default();
    assert!(refused.contains("is required"), "{refused}");
    // The certificates the file mounts are the ones the script makes.
    let script = read("dev-certs.sh")?;
    assert!(script.contains("for service in strategy okr health cascade"));
    for made in [
        "ca.pem",
        "\"$service.pem\"",
        "\"$service.key\"",
        "/CN=trellis-$service",
        "DNS:%s",
    ] {
        assert!(script.contains(made), "dev-certs.sh makes no {made}");
    }
    let ignored = std::fs::read_to_string(deploy_dir().join("../.gitignore"))?;
    assert!(
        ignored.lines().any(|line| line == "/deploy/secrets"),
        "deploy/secrets is not ignored"
    );
    Ok(())
}

/// The compose file's trellis services with their settings.
fn compose_settings() -> anyhow::Result<(Value, BTreeMap<String, Settings>)> {
    let compose = documents("compose.yaml")?
        .into_iter()
        .next()
        .context("compose.yaml is empty")?;
    let services = compose.get("services").context("compose.yaml has no services")?;
    let init = read("postgres-init.sql")?;
    // The variables the file needs, as the example .env gives them.
    let example_env: BTreeMap<String, String> = read(".env.example")?
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let mut found = BTreeMap::new();
    for name in ["strategy", "okr", "health", "cascade"] {
        let service = services
            .get(name)
            .with_context(|| format!("compose.yaml has no {name} service"))?;
        let environment = interpolated(&string_map(service.get("environment")), &example_env)
            .with_context(|| format!("compose service {name}"))?;
        let secrets: Vec<&str> = service
            .get("secrets")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (key, value) in &environment {
            if let Some(secret) = value.strip_prefix("/run/secrets/") {
                assert!(
                    secrets.contains(&secret),
                    "{name}: {key} reads {secret}, not given to it"
                );
                let file = text(&compose, &["secrets", secret, "file"]).unwrap_or_default();
                assert!(
                    file.starts_with("./secrets/"),
                    "{name}: the secret {secret} is no file in deploy/secrets"
                );
            }
        }
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
        // Secured: tokens, TLS served and to https:// peers, the
        // service's own token from the issuer.
        assert_eq!(settings.auth_mode, AuthMode::Oidc, "{name}");
        assert!(settings.serves_tls(), "{name}");
        assert!(
            settings
                .peer_okr
                .as_deref()
                .is_some_and(|peer| peer.starts_with("https://")),
            "{name}"
        );
        let client = settings.service_client_id.clone().unwrap_or_default();
        assert!(
            settings
                .oidc_service_subjects
                .iter()
                .any(|known| known.service == client),
            "{name}: its client {client:?} is none of the service subjects"
        );
        // Probes speak no TLS: they ask the plaintext health port.
        let health_port = settings.health_listen.map(|address| u64::from(address.port()));
        assert!(
            health_port.is_some() && health_port != port,
            "{name}: no health port of its own"
        );
        let ports: Vec<u64> = container
            .get("ports")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .filter_map(|port| port.get("containerPort").and_then(Value::as_u64))
            .collect();
        assert!(
            health_port.is_some_and(|health| ports.contains(&health)),
            "{name}: {ports:?}"
        );
        for probe in ["readinessProbe", "livenessProbe"] {
            let grpc = container
                .get(probe)
                .and_then(|probe| probe.get("grpc"))
                .with_context(|| format!("{name}: no gRPC {probe}"))?;
            assert_eq!(grpc.get("port").and_then(Value::as_u64), health_port, "{name} {probe}");
        }
        // Every file a setting names is in a mounted Secret.
        let mounted_secrets: Vec<(String, String)> = mounted_secrets(pod, container);
        for file in [
            &settings.tls_cert,
            &settings.tls_key,
            &settings.tls_peer_ca,
            &settings.service_client_secret_file,
        ] {
            let file = file.as_ref().context("a file setting")?.display().to_string();
            assert!(
                mounted_secrets
                    .iter()
                    .any(|(path, _)| file.starts_with(&format!("{}/", path.trim_end_matches('/')))),
                "{name}: {file} is in no mounted Secret ({mounted_secrets:?})"
            );
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

/// The Secrets a container mounts: (mount path, secret name).
fn mounted_secrets(pod: &Value, container: &Value) -> Vec<(String, String)> {
    let volumes = pod
        .get("volumes")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    container
        .get("volumeMounts")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|mount| {
            let volume = text(mount, &["name"])?;
            let secret = volumes
                .iter()
                .find(|known| text(known, &["name"]) == Some(volume))
                .and_then(|known| text(known, &["secret", "secretName"]))?;
            Some((text(mount, &["mountPath"])?.to_owned(), secret.to_owned()))
        })
        .collect()
}

/// The compose file's four processes, each with its settings (addresses
/// and databases swapped for this test's), serve and answer health checks.
async fn servers_start_with_the_compose_settings(backend: TestBackend) -> anyhow::Result<()> {
    let (_, compose) = compose_settings()?;
    // The identity provider and the certificates are the test's; who the
    // services are to each other is the compose file's.
    let issuer = TestIssuer::start().await?;
    let ca = TestCa::new("compose test CA")?;
    let secrets = tempfile::tempdir()?;
    for from_compose in compose.values() {
        let client = from_compose.service_client_id.clone().context("a service client")?;
        let subject = from_compose
            .oidc_service_subjects
            .iter()
            .find(|known| known.service == client)
            .with_context(|| format!("no subject for {client}"))?;
        issuer.register_client(&client, "compose-secret", &subject.subject)?;
        std::fs::write(secrets.path().join(&client), "compose-secret")?;
    }
    let cluster = spawn_cluster_with(&backend, |service, settings, url_of| {
        let from_compose = compose.get(service.as_str()).context("a compose service per service")?;
        settings.services.clone_from(&from_compose.services);
        settings.max_message_bytes = from_compose.max_message_bytes;
        settings.shutdown_grace_seconds = 5;
        assert_eq!(from_compose.auth_mode, AuthMode::Oidc);
        issuer.configure(settings);
        settings
            .oidc_service_subjects
            .clone_from(&from_compose.oidc_service_subjects);
        settings.service_client_id.clone_from(&from_compose.service_client_id);
        settings.service_client_secret_file = from_compose
            .service_client_id
            .as_ref()
            .map(|client| secrets.path().join(client));
        assert!(from_compose.serves_tls());
        ca.configure_as(
            settings,
            from_compose.tls_client_ca.is_some(),
            &format!("trellis-{}", service.as_str()),
        )?;
        let test_url = |peer: &Option<String>| -> anyhow::Result<Option<String>> {
            let peer = peer.as_deref().unwrap_or_default();
            let url = url_of(service_of(host_of(peer))?);
            Ok(Some(if peer.starts_with("https://") {
                url.replace("http://", "https://")
            } else {
                url
            }))
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
    // Each got its token as its client, and they work together for a
    // caller with a token, over TLS.
    assert_eq!(issuer.tokens_issued(), 4);
    crate::health::guarded_season(&cluster.client_view_with_token(&issuer.token(ADMIN)?)?).await?;
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
