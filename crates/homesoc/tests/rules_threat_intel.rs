//! Threat-intelligence matches as alerts: `homesoc rules retro-hunt` runs
//! the built-in rule "Event address is a threat-intelligence indicator
//! with confidence 100" over stored events through the detection alert
//! path, on a real EVTX file and a feed made by the test.

mod common;

use common::{corpus_dir, homesoc, query, stderr_text, stdout_text};
use serde_json::Value;

/// 3561 failed logons (4625) from one address against DESKTOP-M5SN04R.
const PASSWORD_GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
const GUESSING_IP: &str = "192.168.198.149";
const TI_RULE_ID: &str = "f35206bc-230d-43f7-afc4-59f0c2cb16ad";

fn run_ok(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr_text(&output)
    );
    stdout_text(&output)
}

/// Imports the password-guessing log and pulls a local freetext feed that
/// lists its source address with `confidence`.
fn workspace_with_feed(confidence: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let evtx = corpus_dir().join(PASSWORD_GUESSING);
    run_ok(data.path(), &["import", "evtx", evtx.to_str().unwrap()]);
    let feed = data.path().join("lab-feed.txt");
    std::fs::write(&feed, format!("# password guessers\n{GUESSING_IP}\n")).unwrap();
    run_ok(
        data.path(),
        &[
            "intel",
            "feeds",
            "add",
            "--name",
            "lab",
            "--url",
            feed.to_str().unwrap(),
            "--format",
            "freetext",
            "--confidence",
            confidence,
        ],
    );
    run_ok(data.path(), &["intel", "pull", "lab"]);
    data
}

fn retro_hunt(data_dir: &std::path::Path) -> Value {
    let text = run_ok(data_dir, &["rules", "retro-hunt", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

#[test]
fn retro_hunt_alerts_on_confident_indicator() {
    let data = workspace_with_feed("100");
    let hunt = retro_hunt(data.path());
    let runs = hunt["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        1,
        "one built-in rule reads indicators: {hunt:#}"
    );
    assert_eq!(runs[0]["ruleId"], TI_RULE_ID);
    assert_eq!(runs[0]["status"], "Succeeded", "{hunt:#}");

    let alerts = hunt["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1, "{hunt:#}");
    let alert = &alerts[0];
    assert_eq!(alert["ruleId"], TI_RULE_ID);
    assert_eq!(alert["severity"], "High");
    let entities = alert["entities"].as_array().unwrap();
    assert!(
        entities
            .iter()
            .any(|entity| entity["Address"] == GUESSING_IP),
        "{entities:?}"
    );
    let display_name = alert["displayName"].as_str().unwrap();
    assert!(
        display_name
            == format!(
                "{GUESSING_IP} on DESKTOP-M5SN04R is a threat-intelligence indicator of lab"
            ),
        "{display_name}"
    );

    // The stored alert names the indicator and counts the events.
    let stored = query(
        data.path(),
        "SecurityAlert | extend Details = parse_json(tostring(parse_json(ExtendedProperties)['Custom Details'])) \
         | project Events = tostring(Details.Events[0]), Source = tostring(Details.IndicatorSource[0])",
    );
    assert_eq!(stored.rows.len(), 1);
    assert_eq!(stored.rows[0][0], "3561");
    assert_eq!(stored.rows[0][1], "lab");
    let incidents = query(data.path(), "SecurityIncident | count");
    assert_eq!(incidents.scalar_u64(), 1);

    // A second hunt finds the same match and raises nothing new.
    let again = retro_hunt(data.path());
    assert_eq!(again["runs"][0]["resultRows"], 1);
    assert_eq!(again["alerts"].as_array().unwrap().len(), 0, "{again:#}");
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 1);
}

#[test]
fn retro_hunt_ignores_confidence_fifty() {
    let data = workspace_with_feed("50");
    let hunt = retro_hunt(data.path());
    assert_eq!(hunt["runs"][0]["resultRows"], 0, "{hunt:#}");
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0);
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 0);
}

#[test]
fn refresh_pulls_then_hunts_once() {
    let data = tempfile::tempdir().unwrap();
    let evtx = corpus_dir().join(PASSWORD_GUESSING);
    run_ok(data.path(), &["import", "evtx", evtx.to_str().unwrap()]);
    let feed = data.path().join("lab-feed.txt");
    std::fs::write(&feed, format!("{GUESSING_IP}\n")).unwrap();
    run_ok(
        data.path(),
        &[
            "intel",
            "feeds",
            "add",
            "--name",
            "lab",
            "--url",
            feed.to_str().unwrap(),
            "--format",
            "freetext",
            "--confidence",
            "100",
        ],
    );

    // The feed was never pulled, so it is due; its new indicator is then
    // hunted over the stored events.
    let refresh = |data_dir: &std::path::Path| -> Value {
        let text = run_ok(data_dir, &["intel", "refresh", "--once", "--json"]);
        serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
    };
    let first = refresh(data.path());
    assert_eq!(first["pulls"].as_array().unwrap().len(), 1, "{first:#}");
    assert_eq!(first["pulls"][0]["added"], 1);
    assert_eq!(first["retroHunt"], true);
    assert_eq!(first["alerts"].as_array().unwrap().len(), 1, "{first:#}");
    assert_eq!(first["alerts"][0]["ruleId"], TI_RULE_ID);

    // Within the default interval (60 minutes) nothing is due.
    let second = refresh(data.path());
    assert_eq!(second["pulls"].as_array().unwrap().len(), 0, "{second:#}");
    assert_eq!(second["retroHunt"], false);
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 1);
}
