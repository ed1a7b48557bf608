use clap::Parser;

use super::*;

#[test]
fn services_parse_all_lists_and_refuse_unknown_names() {
    assert_eq!(parse_services("all").ok(), Some(ServiceName::ALL.to_vec()));
    assert_eq!(parse_services("health").ok(), Some(vec![ServiceName::Health]));
    assert_eq!(
        parse_services("cascade, strategy").ok(),
        Some(vec![ServiceName::Cascade, ServiceName::Strategy])
    );
    assert!(parse_services("strategy,billing").is_err());
    assert!(parse_services("").is_err());
}

#[test]
fn flags_override_the_file_and_the_file_overrides_defaults() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let path = dir.path().join("trellis.toml");
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:6000\"\ndatabase_url = \"sqlite://from-file.db\"\n",
    )
    .map_err(|err| err.to_string())?;
    let flags = Flags {
        config: Some(path),
        database_url: Some("sqlite://from-flag.db".into()),
        ..Flags::default()
    };
    let settings = Settings::load(flags)?;
    assert_eq!(settings.listen.port(), 6000);
    assert_eq!(settings.database_url, "sqlite://from-flag.db");
    Ok(())
}

#[test]
fn a_bad_value_names_its_key_and_its_layer() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let path = dir.path().join("trellis.toml");
    std::fs::write(&path, "max_watchers = -3\n").map_err(|err| err.to_string())?;
    let from_file = Settings::load(Flags {
        config: Some(path.clone()),
        ..Flags::default()
    })
    .err()
    .unwrap_or_default();
    assert!(
        from_file.contains("max_watchers") && from_file.contains(&path.display().to_string()),
        "{from_file}"
    );
    let flags = Flags::try_parse_from([
        "trellis-server",
        "--config",
        &path.display().to_string(),
        "--max-watchers",
        "9",
    ])
    .map_err(|err| err.to_string())?;
    assert_eq!(
        Settings::load(flags)?.max_watchers,
        9,
        "a flag covers the file's bad value"
    );
    let from_flag = Settings::load(Flags {
        services: Some("strategy,billing".into()),
        ..Flags::default()
    })
    .err()
    .unwrap_or_default();
    assert!(
        from_flag.contains("services") && from_flag.contains("billing"),
        "{from_flag}"
    );
    Ok(())
}

#[test]
fn unknown_file_keys_are_refused() -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|err| err.to_string())?;
    let path = dir.path().join("trellis.toml");
    std::fs::write(&path, "listen = \"127.0.0.1:6000\"\nlisten_port = 7\n").map_err(|err| err.to_string())?;
    let error = Settings::load(Flags {
        config: Some(path),
        ..Flags::default()
    })
    .err()
    .unwrap_or_default();
    assert!(error.contains("listen_port"), "{error}");
    Ok(())
}

#[test]
fn the_health_runner_lease_defaults_to_fifteen_seconds_and_is_never_zero() -> Result<(), String> {
    assert_eq!(Settings::load(Flags::default())?.health_runner_lease_seconds, 15);
    let flags = Flags::try_parse_from(["trellis-server", "--health-runner-lease-seconds", "4"])
        .map_err(|err| err.to_string())?;
    assert_eq!(Settings::load(flags)?.health_runner_lease_seconds, 4);
    let error = Settings::load(Flags {
        health_runner_lease_seconds: Some(0),
        ..Flags::default()
    })
    .err()
    .unwrap_or_default();
    assert!(error.contains("health_runner_lease_seconds"), "{error}");
    Ok(())
}

/// The flags of a complete `oidc` setup.
const OIDC: [&str; 8] = [
    "--auth-mode",
    "oidc",
    "--oidc-issuer",
    "https://id.example.com",
    "--oidc-audience",
    "trellis",
    "--oidc-jwks-url",
    "https://id.example.com/jwks",
];

#[test]
fn without_authentication_only_loopback_addresses_are_served() -> Result<(), String> {
    let public = |extra: &[&str]| {
        let mut args = vec!["trellis-server", "--listen", "0.0.0.0:50051"];
        args.extend_from_slice(extra);
        Flags::try_parse_from(args).map_err(|err| err.to_string())
    };
    let refused = Settings::load(public(&[])?).err().unwrap_or_default();
    assert!(
        refused.contains("without authentication") && refused.contains("--auth-mode oidc"),
        "{refused}"
    );
    assert!(Settings::load(public(&["--insecure-no-auth"])?).is_ok());
    assert!(
        Settings::load(
            Flags::try_parse_from(["trellis-server", "--listen", "[::1]:0"]).map_err(|err| err.to_string())?
        )
        .is_ok()
    );
    let oidc = Settings::load(public(&["--auth-mode", "oidc"])?)
        .err()
        .unwrap_or_default();
    assert!(oidc.contains("oidc_issuer"), "{oidc}");
    let complete = public(&OIDC)?;
    assert_eq!(Settings::load(complete)?.auth_mode, AuthMode::Oidc);
    Ok(())
}

#[test]
fn service_subjects_name_trellis_services_and_a_service_token_comes_one_way() -> Result<(), String> {
    assert_eq!(
        parse_service_subjects("trellis-okr=0oa1, trellis-cascade = 0oa2")?,
        vec![
            ServiceSubject {
                service: "trellis-okr".to_owned(),
                subject: "0oa1".to_owned()
            },
            ServiceSubject {
                service: "trellis-cascade".to_owned(),
                subject: "0oa2".to_owned()
            },
        ]
    );
    assert_eq!(parse_service_subjects("")?, Vec::new());
    for bad in [
        "trellis-billing=x",
        "trellis-okr",
        "trellis-okr=",
        "trellis-okr=a,trellis-health=a",
    ] {
        assert!(parse_service_subjects(bad).is_err(), "{bad}");
    }
    let oidc = |extra: &[&str]| -> Result<Result<Settings, String>, String> {
        let mut args = vec!["trellis-server"];
        args.extend_from_slice(&OIDC);
        args.extend_from_slice(extra);
        Ok(Settings::load(
            Flags::try_parse_from(args).map_err(|err| err.to_string())?,
        ))
    };
    let mapped = oidc(&["--oidc-service-subjects", "trellis-health=svc-health"])??;
    assert_eq!(mapped.oidc_service_subjects.len(), 1);
    assert!(oidc(&["--oidc-service-subjects", "health=svc-health"])?.is_err());
    assert!(oidc(&["--service-client-id", "trellis-okr"])?.is_err());
    let both = oidc(&[
        "--service-client-id",
        "trellis-okr",
        "--service-client-secret-file",
        "/run/secrets/okr",
        "--service-token-file",
        "/run/token",
    ])?;
    assert!(both.is_err_and(|err| err.contains("not both")));
    assert!(
        oidc(&[
            "--service-client-id",
            "trellis-okr",
            "--service-client-secret-file",
            "/run/secrets/okr"
        ])?
        .is_ok()
    );
    Ok(())
}
