//! The `trellis` binary against a real server started in this process:
//! what it prints, in tables and JSON, and the exit codes scripts rely on,
//! including imports with bad rows that must name their lines and change
//! nothing. Runs on SQLite and, with `TRELLIS_TEST_POSTGRES_URL`, on
//! PostgreSQL too.

use std::{path::Path, process::Command};

use anyhow::{Context, bail};
use sea_orm::ConnectionTrait;
use serde_json::Value;
use trellis_tests::{TestApp, TestBackend, say_postgres_not_configured, spawn_app, spawn_cluster};

/// What one run of the binary gave.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> anyhow::Result<Value> {
        serde_json::from_str(&self.stdout).with_context(|| format!("stdout is not JSON: {}", self.stdout))
    }
}

async fn trellis(app: &TestApp, args: &[&str]) -> anyhow::Result<Run> {
    let server = app.url();
    let args: Vec<String> = args.iter().map(|arg| (*arg).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let output = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .args(&args)
            .env("TRELLIS_SERVER", &server)
            .env("TRELLIS_ACTOR", "cli-test")
            .output()
            .context("running trellis")?;
        Ok(Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    })
    .await?
}

/// Runs and insists on exit code 0.
async fn ok(app: &TestApp, args: &[&str]) -> anyhow::Result<Run> {
    let run = trellis(app, args).await?;
    if run.code != 0 {
        bail!("trellis {args:?} exited {}: {}{}", run.code, run.stdout, run.stderr);
    }
    Ok(run)
}

fn write(dir: &Path, name: &str, text: &str) -> anyhow::Result<String> {
    let path = dir.join(name);
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

async fn on_every_backend<F, Fut>(test: F) -> anyhow::Result<()>
where
    F: Fn(TestApp) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut backends = vec![TestBackend::Sqlite];
    match TestBackend::postgres() {
        Some(postgres) => backends.push(postgres),
        None => say_postgres_not_configured(),
    }
    for backend in backends {
        let app = spawn_app(&backend).await?;
        test(app).await.with_context(|| format!("on {}", backend.name()))?;
    }
    Ok(())
}

const ORG_CSV: &str = "id,parent,kind,display_name,lead\n\
acme,,company,ACME,ceo@acme.example\n\
sales,acme,division,Sales,\n\
emea,sales,team,EMEA Sales,ana@acme.example\n\
product,acme,division,Product,\n";

/// An org, an ACTIVE strategy and a PLANNING cycle, all through the CLI.
async fn plan(app: &TestApp, dir: &Path) -> anyhow::Result<()> {
    let org = write(dir, "org.csv", ORG_CSV)?;
    let imported = ok(app, &["org", "import", &org]).await?;
    assert!(imported.stdout.contains("imported 4 org units"), "{}", imported.stdout);
    let emea = ok(app, &["org", "get", "emea", "-o", "json"]).await?.json()?;
    assert_eq!(emea["lead"], "ana@acme.example");
    let led = ok(
        app,
        &["org", "update", "sales", "--lead", "bo@acme.example", "-o", "json"],
    )
    .await?
    .json()?;
    assert_eq!(
        (&led["lead"], &led["displayName"]),
        (&"bo@acme.example".into(), &"Sales".into())
    );
    ok(
        app,
        &[
            "strategy",
            "create",
            "company",
            "--display-name",
            "Win the mid-market",
            "--owner",
            "acme",
            "--challenge",
            "Enterprise tools are too heavy for mid-sized companies",
            "--aspiration",
            "The planning tool mid-sized companies choose first",
            "--start",
            "2027-01-01",
            "--end",
            "2028-01-01",
            "--choice",
            "where-to-play:mid-market:Mid-sized companies in Europe",
            "--choice",
            "how-to-win:fast-onboarding:Live in a day",
            "--choice",
            "not-doing:no-consulting:No bespoke consulting",
        ],
    )
    .await?;
    let active = ok(app, &["strategy", "activate", "company", "-o", "json"])
        .await?
        .json()?;
    assert_eq!(active["state"], "ACTIVE");
    ok(
        app,
        &[
            "cycle",
            "create",
            "2027-Q1",
            "--display-name",
            "Q1 2027",
            "--org-unit",
            "acme",
            "--start",
            "2027-01-01",
            "--end",
            "2027-04-01",
        ],
    )
    .await?;
    Ok(())
}

const SEASON_HEADER: &str =
    "cycle,objective,owner,accountable,title,kind,aligns_to,kr,kr_title,kr_kind,start,target,unit\n";

async fn objectives_in(app: &TestApp) -> anyhow::Result<Vec<Value>> {
    let listed = ok(app, &["okr", "list", "--cycle", "2027-Q1", "-o", "json"])
        .await?
        .json()?;
    Ok(listed["objectives"].as_array().cloned().unwrap_or_default())
}

async fn a_season_imports_from_csv_and_bad_rows_name_their_lines(app: TestApp) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    plan(&app, dir.path()).await?;

    // Rows the file itself gets wrong: nothing is sent.
    let unreadable = write(
        dir.path(),
        "unreadable.csv",
        &format!(
            "{SEASON_HEADER}\
2027-q1,grow-emea,emea,ana@acme.example,Grow EMEA,aspirational,strategies/company/choices/mid-market,arr,ARR,increase,10,20,MEUR\n\
2027-q1,grow-emea,,,,,,logos,New logos,increase,5,lots,logos\n\
2027-q1,onboard,product,bo@acme.example,Onboard in a day,committed,grow-emea#arr,days,Days to live,sideways,5,1,days\n"
        ),
    )?;
    let refused = trellis(&app, &["okr", "import", &unreadable]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("line 3: target"), "{}", refused.stderr);
    assert!(refused.stderr.contains("line 4: kr_kind"), "{}", refused.stderr);
    assert!(refused.stderr.contains("nothing was imported"), "{}", refused.stderr);

    // Rows the server refuses: its violations come back on their lines.
    let invalid = write(
        dir.path(),
        "invalid.csv",
        &format!(
            "{SEASON_HEADER}\
2027-q1,grow-emea,nowhere,ana@acme.example,Grow EMEA,aspirational,strategies/company/choices/mid-market,arr,ARR,increase,10,20,MEUR\n\
2027-q1,onboard,product,bo@acme.example,Onboard in a day,committed,,days,Days to live,decrease,5,1,days\n\
2027-q1,onboard,,,,,,tickets,Support tickets,decrease,10,40,tickets\n"
        ),
    )?;
    let refused = trellis(&app, &["okr", "import", &invalid]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("line 2: owner"), "{}", refused.stderr);
    assert!(refused.stderr.contains("line 4: target"), "{}", refused.stderr);
    assert!(!refused.stderr.contains("line 3:"), "{}", refused.stderr);
    assert!(
        objectives_in(&app).await?.is_empty(),
        "a refused import changed something"
    );

    // The same season, right: all of it lands.
    let good = write(
        dir.path(),
        "season.csv",
        &format!(
            "{SEASON_HEADER}\
2027-q1,grow-emea,emea,ana@acme.example,Grow EMEA,aspirational,strategies/company/choices/mid-market,arr,ARR,increase,10,20,MEUR\n\
2027-q1,grow-emea,,,,,,logos,New logos,increase,5,15,logos\n\
2027-q1,onboard,product,bo@acme.example,Onboard in a day,committed,grow-emea#arr@0.5,days,Days to live,decrease,5,1,days\n"
        ),
    )?;
    let imported = ok(&app, &["okr", "import", &good]).await?;
    assert!(
        imported
            .stdout
            .contains("imported 2 rows into cycles/2027-q1: 2 objectives, 3 key results"),
        "{}",
        imported.stdout
    );
    let objectives = objectives_in(&app).await?;
    let names: Vec<&str> = objectives.iter().filter_map(|o| o["name"].as_str()).collect();
    assert_eq!(names, vec!["objectives/grow-emea", "objectives/onboard"]);

    // JSON rows, one a line, with a bad row named by its line.
    let jsonl = write(
        dir.path(),
        "more.jsonl",
        "{\"rowId\": \"partner\", \"objective\": {\"owner\": \"orgUnits/sales\", \"accountable\": \"cy@acme.example\", \"title\": \"Partners sell\", \"kind\": \"COMMITTED\"}, \"keyResults\": [{\"title\": \"Partner deals\", \"kind\": \"INCREASE\", \"start\": 0, \"target\": 10, \"weight\": 1}]}\n\
         {\"rowId\": \"typo\", \"objective\": {\"titel\": \"x\"}}\n",
    )?;
    let refused = trellis(&app, &["okr", "import", &jsonl, "--cycle", "2027-q1"]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("line 2:"), "{}", refused.stderr);
    assert_eq!(objectives_in(&app).await?.len(), 2);

    // Tables for people.
    let table = ok(&app, &["okr", "key-results", "grow-emea"]).await?;
    assert!(table.stdout.starts_with("NAME"), "{}", table.stdout);
    assert!(
        table.stdout.contains("objectives/grow-emea/keyResults/logos"),
        "{}",
        table.stdout
    );
    Ok(())
}

async fn exit_codes_tell_scripts_what_happened(app: TestApp) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    plan(&app, dir.path()).await?;

    let missing = trellis(&app, &["okr", "get", "objectives/nope"]).await?;
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(missing.stderr.contains("NotFound"), "{}", missing.stderr);

    let again = trellis(
        &app,
        &["org", "create", "emea", "--display-name", "EMEA", "--parent", "sales"],
    )
    .await?;
    assert_eq!(again.code, 5, "{}", again.stderr);

    let retire = trellis(&app, &["strategy", "retire", "company"]).await?;
    assert_eq!(
        retire.code, 5,
        "retiring an ACTIVE strategy skips review: {}",
        retire.stderr
    );

    let invalid = trellis(
        &app,
        &["org", "create", "Bad Id!", "--display-name", "", "--parent", "nowhere"],
    )
    .await?;
    assert_eq!(invalid.code, 3, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("org_unit_id"), "{}", invalid.stderr);

    let usage = trellis(&app, &["okr", "check-in"]).await?;
    assert_eq!(usage.code, 2, "{}", usage.stderr);

    let unknown_column = write(dir.path(), "typo.csv", "id,parnet,display_name\nx,acme,X\n")?;
    let refused = trellis(&app, &["org", "import", &unknown_column]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("line 1: parnet: unknown column"),
        "{}",
        refused.stderr
    );

    let measurements = write(
        dir.path(),
        "csat.csv",
        "metric,time,value\ncsat,2027-01-04,4.5\ncsat,yesterday,4.4\n",
    )?;
    let refused = trellis(&app, &["health", "import", &measurements]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    assert!(refused.stderr.contains("line 3: time"), "{}", refused.stderr);

    let nowhere = Command::new(env!("CARGO_BIN_EXE_trellis"))
        .args(["--server", "http://127.0.0.1:1", "org", "list"])
        .output()?;
    assert_eq!(nowhere.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&nowhere.stderr).contains("cannot reach the Trellis server"));
    Ok(())
}

/// The README's quick start: load the demo, ask three cascade questions.
async fn the_demo_answers_the_quick_start_questions(app: TestApp) -> anyhow::Result<()> {
    let loaded = ok(&app, &["demo", "load"]).await?;
    assert!(loaded.stdout.contains("loaded Cask & Co."), "{}", loaded.stdout);
    assert!(
        loaded.stdout.contains("the Four Square rule created"),
        "{}",
        loaded.stdout
    );

    let path = ok(&app, &["cascade", "path", "objectives/first-box", "-o", "json"])
        .await?
        .json()?;
    let routes = path["routes"].as_array().cloned().unwrap_or_default();
    assert_eq!(routes.len(), 2, "{path}");
    let tops: Vec<&str> = routes
        .iter()
        .filter_map(|route| route["nodes"].as_array()?.last()?["name"].as_str())
        .collect();
    assert_eq!(tops, vec!["strategies/club-2027", "strategies/club-2027"]);

    let risks = ok(&app, &["cascade", "risk", "--cycle", "2027-Q1", "-o", "json"])
        .await?
        .json()?;
    let first = &risks["risks"][0];
    assert_eq!(first["objective"]["name"], "objectives/first-box", "{risks}");
    let reasons: Vec<&str> = first["reasons"]
        .as_array()
        .map(|reasons| reasons.iter().filter_map(|reason| reason["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(reasons.contains(&"GUARDRAIL_RED"), "{reasons:?}");

    let rollup = ok(
        &app,
        &[
            "cascade",
            "rollup",
            "orgUnits/caskco",
            "--cycle",
            "2027-Q1",
            "-o",
            "json",
        ],
    )
    .await?
    .json()?;
    assert_eq!(rollup["objectives"], 30, "{rollup}");
    let progress = rollup["rollup"].as_f64().unwrap_or(-1.0);
    assert!((0.2..0.6).contains(&progress), "{rollup}");

    let red = ok(&app, &["health", "list", "--status", "red"]).await?;
    assert!(red.stdout.contains("healthMetrics/csat"), "{}", red.stdout);
    let paused = ok(&app, &["okr", "list", "--cycle", "2027-q1", "--state", "paused"]).await?;
    assert!(paused.stdout.contains("objectives/first-box"), "{}", paused.stdout);

    the_demo_runs_its_week(&app).await?;
    let again = ok(&app, &["demo", "load"]).await?;
    assert!(again.stdout.contains("already loaded"), "{}", again.stdout);
    Ok(())
}

/// The demo's week through the rhythm commands: the board, the parked
/// work, the CSAT conversation, marking a priority, the inbox.
async fn the_demo_runs_its_week(app: &TestApp) -> anyhow::Result<()> {
    let board = ok(app, &["board", "onboarding", "-o", "json"]).await?.json()?;
    let unit = &board["units"][0];
    let titles: Vec<&str> = unit["priorities"]
        .as_array()
        .map(|ps| ps.iter().filter_map(|p| p["title"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        titles,
        ["Call this week's new members", "Script the welcome call"],
        "{board}"
    );
    assert_eq!(unit["pipeline"][0]["name"], "initiatives/welcome-call", "{board}");
    assert!(!unit["okrs"].as_array().is_none_or(Vec::is_empty), "{board}");
    let table = ok(app, &["board", "growth"]).await?;
    assert!(table.stdout.contains("Not now: 1"), "{}", table.stdout);
    assert!(table.stdout.contains("initiatives/retail-popup"), "{}", table.stdout);

    let parked = trellis(app, &["initiative", "update", "retail-popup", "--status", "planned"]).await?;
    assert_ne!(parked.code, 0, "work serving nothing stays NOT_NOW: {}", parked.stdout);
    assert!(parked.stderr.contains("serves no key result"), "{}", parked.stderr);

    let open = ok(
        app,
        &[
            "conversation",
            "list",
            "--filter",
            "subject = \"healthMetrics/csat\" AND state = OPEN",
            "-o",
            "json",
        ],
    )
    .await?
    .json()?;
    let csat = &open["conversations"][0];
    assert_eq!(csat["toColour"], "RED", "{open}");
    let name = csat["name"].as_str().unwrap_or_default().to_owned();
    let closed = ok(
        app,
        &[
            "conversation",
            "close",
            &name,
            "--note",
            "A bad batch; refunds sent, supplier changed",
        ],
    )
    .await?;
    assert!(closed.stdout.contains("CLOSED"), "{}", closed.stdout);

    let person = "onboarding-lead@caskco.example";
    let owed = ok(app, &["inbox", "--person", person, "-o", "json"]).await?.json()?;
    assert_eq!(owed["priorities"].as_array().map(Vec::len), Some(1), "{owed}");
    ok(
        app,
        &[
            "week",
            "mark",
            "onboarding",
            "1",
            "--missed",
            "--note",
            "Two people out",
        ],
    )
    .await?;
    let owed = ok(app, &["inbox", "--person", person]).await?;
    assert!(
        owed.stdout.contains("This week's priorities without an outcome: 0"),
        "{}",
        owed.stdout
    );
    Ok(())
}

/// Ten thousand bad rows: far more than fit in an error's details, so the
/// CLI asks for the whole validation report and names every line.
async fn every_one_of_ten_thousand_bad_org_rows_is_printed(app: TestApp) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut csv = String::from("id,parent,kind,display_name\nacme,,company,ACME\n");
    for row in 0..10_000 {
        csv.push_str(&format!("team-{row},nowhere,team,Team {row}\n"));
    }
    let org = write(dir.path(), "org.csv", &csv)?;
    let refused = trellis(&app, &["org", "import", &org]).await?;
    assert_eq!(refused.code, 3, "{}", refused.stderr);
    for row in [0usize, 4_999, 9_999] {
        let line = format!("line {}: parent", row + 3);
        assert!(refused.stderr.contains(&line), "{line} missing");
    }
    let lines = refused.stderr.lines().filter(|line| line.contains(": parent")).count();
    assert_eq!(lines, 10_000);
    Ok(())
}

/// `trellis … | head -1`: the pipe closes early; the CLI stops quietly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_pipe_ends_the_cli_quietly() -> anyhow::Result<()> {
    let app = spawn_app(&TestBackend::Sqlite).await?;
    let dir = tempfile::tempdir()?;
    let mut csv = String::from("id,parent,kind,display_name\nacme,,company,ACME\n");
    for row in 0..3_000 {
        csv.push_str(&format!("team-{row},acme,team,Team {row}\n"));
    }
    let org = write(dir.path(), "org.csv", &csv)?;
    ok(&app, &["org", "import", &org]).await?;
    let server = app.url();
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_trellis"))
            .args(["org", "list", "--page-size", "1000", "-o", "json"])
            .env("TRELLIS_SERVER", &server)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()?;
        // Read one line, then close the pipe as `head -1` does.
        if let Some(stdout) = child.stdout.take() {
            let mut first = String::new();
            std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut first)?;
        }
        child.wait_with_output()
    })
    .await??;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    Ok(())
}

/// `trellis audit verify` over every service's feed, then over feeds
/// edited behind the server's back: a changed event and a removed one are
/// each named, with their own exit code.
async fn an_edited_history_is_found_by_the_audit(app: TestApp) -> anyhow::Result<()> {
    ok(&app, &["demo", "load"]).await?;
    for service in ["strategy", "okr", "health", "cascade"] {
        let report = ok(&app, &["audit", "verify", service, "-o", "json"]).await?.json()?;
        assert_eq!(report["intact"], true, "{service}: {report}");
        assert!(report["verified"].as_i64().is_some_and(|count| count > 0), "{report}");
        assert_eq!(report["lastHash"].as_str().map(str::len), Some(64));
        let said = ok(&app, &["audit", "verify", service]).await?;
        assert!(said.stdout.contains("every link intact"), "{}", said.stdout);
    }

    let db = sea_orm::Database::connect(app.database_url.as_str()).await?;
    db.execute_unprepared("UPDATE okr_changes SET actor = 'mallory' WHERE sequence = 3")
        .await?;
    let edited = trellis(&app, &["audit", "verify", "okr"]).await?;
    assert_eq!(edited.code, 9, "{}{}", edited.stdout, edited.stderr);
    assert!(edited.stderr.contains("event 3 carries hash"), "{}", edited.stderr);
    let report = trellis(&app, &["audit", "verify", "okr", "-o", "json"]).await?.json()?;
    assert_eq!(
        (&report["intact"], &report["firstBroken"], &report["verified"]),
        (&false.into(), &3.into(), &2.into())
    );

    db.execute_unprepared("DELETE FROM strategy_changes WHERE sequence = 2")
        .await?;
    let removed = trellis(&app, &["audit", "verify", "strategy"]).await?;
    assert_eq!(removed.code, 9, "{}{}", removed.stdout, removed.stderr);
    assert!(removed.stderr.contains("event 2 never arrived"), "{}", removed.stderr);

    let untouched = ok(&app, &["audit", "verify", "health"]).await?;
    assert!(untouched.stdout.contains("every link intact"));
    Ok(())
}

/// `trellis webhook`: subscribe, pause, list deliveries, delete; a bad
/// subscription exits 3 naming its fields.
async fn webhooks_are_managed_from_the_command_line(app: TestApp) -> anyhow::Result<()> {
    let secret = "a-secret-of-at-least-24-chars";
    let bad = trellis(
        &app,
        &[
            "webhook",
            "create",
            "chat",
            "--url",
            "http://chat.example.com/",
            "--secret",
            "short",
        ],
    )
    .await?;
    assert_eq!(bad.code, 3, "{}{}", bad.stdout, bad.stderr);
    assert!(
        bad.stderr.contains("webhook.url") && bad.stderr.contains("webhook.secret"),
        "{}",
        bad.stderr
    );
    let made = ok(
        &app,
        &[
            "webhook",
            "create",
            "chat",
            "--url",
            "http://127.0.0.1:9/hook",
            "--type",
            "trellis.okr.v1.*",
            "--secret",
            secret,
            "-o",
            "json",
        ],
    )
    .await?
    .json()?;
    assert_eq!(made["name"], "webhooks/chat");
    assert_eq!(made["eventTypes"][0], "trellis.okr.v1.*");
    assert!(made.get("secret").is_none(), "{made}");
    let paused = ok(&app, &["webhook", "pause", "chat", "-o", "json"]).await?.json()?;
    assert_eq!(paused["paused"], true);
    let listed = ok(&app, &["webhook", "list"]).await?;
    assert!(listed.stdout.contains("webhooks/chat"), "{}", listed.stdout);
    ok(&app, &["webhook", "deliveries", "chat", "--state", "dead-lettered"]).await?;
    let deleted = ok(&app, &["webhook", "delete", "chat"]).await?;
    assert!(deleted.stdout.contains("deleted webhooks/chat"));
    assert_eq!(trellis(&app, &["webhook", "get", "chat"]).await?.code, 4);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks() -> anyhow::Result<()> {
    on_every_backend(webhooks_are_managed_from_the_command_line).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit() -> anyhow::Result<()> {
    on_every_backend(an_edited_history_is_found_by_the_audit).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_bad_rows() -> anyhow::Result<()> {
    on_every_backend(every_one_of_ten_thousand_bad_org_rows_is_printed).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn season_import() -> anyhow::Result<()> {
    on_every_backend(a_season_imports_from_csv_and_bad_rows_name_their_lines).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exit_codes() -> anyhow::Result<()> {
    on_every_backend(exit_codes_tell_scripts_what_happened).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo() -> anyhow::Result<()> {
    on_every_backend(the_demo_answers_the_quick_start_questions).await
}

/// Services run apart: each command goes to the server of its service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_services() -> anyhow::Result<()> {
    let cluster = spawn_cluster(&TestBackend::Sqlite).await?;
    let servers = [
        ("TRELLIS_STRATEGY_SERVER", cluster.strategy.url()),
        ("TRELLIS_OKR_SERVER", cluster.okr.url()),
        ("TRELLIS_HEALTH_SERVER", cluster.health.url()),
        ("TRELLIS_CASCADE_SERVER", cluster.cascade.url()),
    ];
    let run = |args: &'static [&'static str]| {
        let servers = servers.clone();
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_trellis"))
                .args(args)
                .env("TRELLIS_SERVER", "http://127.0.0.1:1")
                .envs(servers)
                .output()
        })
    };
    let loaded = run(&["demo", "load"]).await??;
    assert!(loaded.status.success(), "{}", String::from_utf8_lossy(&loaded.stderr));
    let risks = run(&["cascade", "risk", "--cycle", "2027-q1", "-o", "json"]).await??;
    assert!(risks.status.success(), "{}", String::from_utf8_lossy(&risks.stderr));
    let risks: Value = serde_json::from_slice(&risks.stdout)?;
    assert_eq!(
        risks["risks"][0]["objective"]["name"], "objectives/first-box",
        "{risks}"
    );
    Ok(())
}

/// Against a server that authenticates callers: no token exits 7, a good
/// one (`TRELLIS_TOKEN`) works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_sent_and_its_absence_has_an_exit_code() -> anyhow::Result<()> {
    let issuer = trellis_tests::issuer::TestIssuer::start().await?;
    let app = trellis_tests::spawn_app_with(&TestBackend::Sqlite, |settings| issuer.configure(settings)).await?;
    let token = issuer.token("alice")?;
    let server = app.url();
    let runs = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(Option<i32>, String)>> {
        let run = |token: Option<&str>| -> anyhow::Result<(Option<i32>, String)> {
            let mut command = Command::new(env!("CARGO_BIN_EXE_trellis"));
            command.args(["org", "list"]).env("TRELLIS_SERVER", &server);
            if let Some(token) = token {
                command.env("TRELLIS_TOKEN", token);
            }
            let output = command.output()?;
            Ok((
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
        };
        Ok(vec![run(None)?, run(Some(&token))?, run(Some("not-a-token"))?])
    })
    .await??;
    assert_eq!(runs[0].0, Some(7), "{}", runs[0].1);
    assert_eq!(runs[1].0, Some(0), "{}", runs[1].1);
    assert_eq!(runs[2].0, Some(7), "{}", runs[2].1);
    Ok(())
}

/// `--client-id` and `--client-secret`: the CLI reads the token endpoint
/// from the issuer's discovery document and gets a token of its own (the
/// secret sent with HTTP Basic, or in the form where the issuer only takes
/// that), which the server takes as the client's subject; a wrong secret
/// exits 7, an unreachable issuer 6, a plain-http issuer elsewhere 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_gets_its_own_token_from_the_issuer() -> anyhow::Result<()> {
    let issuer = trellis_tests::issuer::TestIssuer::start().await?;
    issuer.register_client("planning-bot", "s3cret:with/odd chars", trellis_tests::issuer::ADMIN)?;
    let app = trellis_tests::spawn_app_with(&TestBackend::Sqlite, |settings| issuer.configure(settings)).await?;
    let server = app.url();
    let issuer_url = issuer.issuer().to_owned();
    let run = move |secret: &'static str, issuer_url: String, args: &'static [&'static str]| {
        let server = server.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<(Option<i32>, String, String)> {
            let output = Command::new(env!("CARGO_BIN_EXE_trellis"))
                .args(args)
                .env("TRELLIS_SERVER", &server)
                .env("TRELLIS_CLIENT_ID", "planning-bot")
                .env("TRELLIS_CLIENT_SECRET", secret)
                .env("TRELLIS_OIDC_ISSUER", issuer_url)
                .output()?;
            Ok((
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
        })
    };
    let created = run(
        "s3cret:with/odd chars",
        issuer_url.clone(),
        &["org", "create", "acme", "--display-name", "Acme", "--kind", "company"],
    )
    .await??;
    assert_eq!(created.0, Some(0), "{}", created.2);
    assert_eq!(issuer.tokens_issued(), 1);
    // The token was the admin's (the client's subject), so the unit is there.
    let units = app
        .view_with_token(&issuer.token(trellis_tests::issuer::ADMIN)?)?
        .org
        .clone()
        .list_org_units(trellis_proto::cascade::v1::ListOrgUnitsRequest::default())
        .await?
        .into_inner()
        .org_units;
    assert_eq!(units.len(), 1);

    issuer.accept_only_form_secrets();
    let listed = run("s3cret:with/odd chars", issuer_url.clone(), &["org", "list"]).await??;
    assert_eq!(listed.0, Some(0), "{}", listed.2);
    assert!(listed.1.contains("acme"), "{}", listed.1);
    assert_eq!(issuer.tokens_issued(), 2);

    let refused = run("wrong", issuer_url.clone(), &["org", "list"]).await??;
    assert_eq!(refused.0, Some(7), "{}", refused.2);
    assert!(refused.2.contains("invalid_client"), "{}", refused.2);
    let unreachable = run("wrong", "http://127.0.0.1:9".to_owned(), &["org", "list"]).await??;
    assert_eq!(unreachable.0, Some(6), "{}", unreachable.2);
    let in_the_clear = run("wrong", "http://login.example.com".to_owned(), &["org", "list"]).await??;
    assert_eq!(in_the_clear.0, Some(2), "{}", in_the_clear.2);
    assert!(in_the_clear.2.contains("https://"), "{}", in_the_clear.2);
    Ok(())
}

/// `trellis access`: the admin grants a role, the grantee sees what it may
/// do, and a write it may not make exits 8.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grants_are_set_read_and_tested_from_the_command_line() -> anyhow::Result<()> {
    let issuer = trellis_tests::issuer::TestIssuer::start().await?;
    let app = trellis_tests::spawn_app_with(&TestBackend::Sqlite, |settings| issuer.configure(settings)).await?;
    let admin = issuer.token(trellis_tests::issuer::ADMIN)?;
    let bob = issuer.token("bob")?;
    let server = app.url();
    let runs = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(Option<i32>, String, String)>> {
        let run = |token: &str, args: &[&str]| -> anyhow::Result<(Option<i32>, String, String)> {
            let output = Command::new(env!("CARGO_BIN_EXE_trellis"))
                .args(args)
                .env("TRELLIS_SERVER", &server)
                .env("TRELLIS_TOKEN", token)
                .output()?;
            Ok((
                output.status.code(),
                String::from_utf8_lossy(&output.stdout).into_owned(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
        };
        Ok(vec![
            run(
                &admin,
                &["org", "create", "acme", "--display-name", "Acme", "--kind", "company"],
            )?,
            run(&admin, &["access", "set", "acme", "--binding", "contributor=user:bob"])?,
            run(&bob, &["access", "get", "acme"])?,
            run(&bob, &["access", "test", "acme", "read", "checkIn", "editOkrs"])?,
            run(
                &bob,
                &["org", "create", "web", "--display-name", "Web", "--parent", "acme"],
            )?,
        ])
    })
    .await??;
    for (index, run) in runs.iter().take(4).enumerate() {
        assert_eq!(run.0, Some(0), "step {index}: {}", run.2);
    }
    assert!(
        runs[2].1.contains("contributor") && runs[2].1.contains("user:bob"),
        "{}",
        runs[2].1
    );
    let held: Vec<&str> = runs[3].1.lines().skip(1).map(str::trim).collect();
    assert_eq!(held, ["read", "checkIn"], "{}", runs[3].1);
    assert_eq!(runs[4].0, Some(8), "{}", runs[4].2);
    Ok(())
}

/// Against a server that requires client certificates: with the CA and a
/// client certificate the CLI is answered; without the certificate it is
/// refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_servers_are_reached_with_a_ca_and_a_client_certificate() -> anyhow::Result<()> {
    let ca = trellis_tests::tls::TestCa::new("CLI test CA")?;
    let mut configured = Ok(());
    let app = trellis_tests::spawn_app_with(&TestBackend::Sqlite, |settings| {
        configured = ca.configure(settings, true);
    })
    .await?;
    configured?;
    let ca_file = ca.ca_file()?;
    let (cert, key) = ca.files(&ca.issue("cli-user")?, "cli-user")?;
    let server = format!("https://localhost:{}", app.address.port());
    let runs = tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<(Option<i32>, String)>> {
        let run = |with_certificate: bool| -> anyhow::Result<(Option<i32>, String)> {
            let mut command = Command::new(env!("CARGO_BIN_EXE_trellis"));
            command
                .args(["org", "list"])
                .env("TRELLIS_SERVER", &server)
                .env("TRELLIS_TLS_CA", &ca_file);
            if with_certificate {
                command
                    .env("TRELLIS_TLS_CLIENT_CERT", &cert)
                    .env("TRELLIS_TLS_CLIENT_KEY", &key);
            }
            let output = command.output()?;
            Ok((
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).into_owned(),
            ))
        };
        Ok(vec![run(true)?, run(false)?])
    })
    .await??;
    assert_eq!(runs[0].0, Some(0), "{}", runs[0].1);
    assert_ne!(runs[1].0, Some(0), "{}", runs[1].1);
    Ok(())
}
