//! The `homesoc intel` commands end to end: feed list, pulls from local
//! paths, lookups, STIX imports, and a retro-hunt over imported EVTX events.

mod common;

use std::path::Path;

use common::{homesoc, manifest_dir, query, stderr_text, stdout_text};
use serde_json::Value;

fn misp_corpus() -> std::path::PathBuf {
    manifest_dir().join("../../../shared/corpus/misp")
}

/// Runs a homesoc command that must succeed and parses its JSON output.
fn json_output(data_dir: &Path, args: &[&str]) -> Value {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed with {}: {}",
        output.status,
        stderr_text(&output)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|err| panic!("{args:?} printed no JSON ({err}): {}", stdout_text(&output)))
}

fn run_ok(data_dir: &Path, args: &[&str]) {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed with {}: {}",
        output.status,
        stderr_text(&output)
    );
}

#[test]
fn misp_defaults_import_loads_84_feeds() {
    let data = tempfile::tempdir().unwrap();
    let defaults = misp_corpus().join("feed-metadata/defaults.json");
    let defaults = defaults.to_str().unwrap();

    let imported = json_output(
        data.path(),
        &["intel", "feeds", "import-misp-defaults", defaults, "--json"],
    );
    assert_eq!(imported["listed"], 84);
    assert_eq!(imported["added"].as_array().unwrap().len(), 84);

    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    let feeds = feeds.as_array().unwrap();
    assert_eq!(feeds.len(), 84);
    assert_eq!(feeds.iter().filter(|f| f["enabled"] == true).count(), 59);
    assert_eq!(feeds.iter().filter(|f| f["format"] == "misp").count(), 7);
    assert!(feeds.iter().all(|f| f["last_pull"].is_null()));

    let again = json_output(
        data.path(),
        &["intel", "feeds", "import-misp-defaults", defaults, "--json"],
    );
    assert_eq!(again["added"].as_array().unwrap().len(), 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 84);
}

#[test]
fn pull_lookup_and_feed_switches() {
    let data = tempfile::tempdir().unwrap();
    let infoblox = format!(
        "file://{}",
        misp_corpus()
            .join("feed-misp-infoblox")
            .canonicalize()
            .unwrap()
            .display()
    );
    let feodo = misp_corpus().join("feeds-text/feodo_ipblocklist.csv");
    run_ok(
        data.path(),
        &[
            "intel", "feeds", "add", "--name", "Infoblox", "--url", &infoblox, "--format", "misp",
        ],
    );
    run_ok(
        data.path(),
        &[
            "intel",
            "feeds",
            "add",
            "--name",
            "Feodo",
            "--url",
            feodo.to_str().unwrap(),
            "--format",
            "csv",
            "--value-column",
            "2",
        ],
    );
    run_ok(data.path(), &["intel", "feeds", "disable", "Feodo"]);

    let reports = json_output(data.path(), &["intel", "pull", "--json"]);
    let reports = reports.as_array().unwrap();
    assert_eq!(
        reports.len(),
        1,
        "the disabled feed is not pulled: {reports:?}"
    );
    assert_eq!(reports[0]["feed"], "Infoblox");
    assert_eq!(reports[0]["added"], 212);

    run_ok(data.path(), &["intel", "feeds", "enable", "Feodo"]);
    let reports = json_output(data.path(), &["intel", "pull", "--json"]);
    let results: Vec<(&str, &str)> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["feed"].as_str().unwrap(), r["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [("Infoblox", "NotModified"), ("Feodo", "Succeeded")]
    );

    let pulls = query(
        data.path(),
        "HomesocIntelPulls | summarize Pulls = count(), Added = sum(IndicatorsAdded) by FeedName | order by FeedName asc",
    );
    assert_eq!(pulls.rows.len(), 2);
    assert_eq!(pulls.rows[0][0], "Feodo");
    assert_eq!(pulls.rows[0][2], 28);
    assert_eq!(pulls.rows[1][0], "Infoblox");
    assert_eq!(pulls.rows[1][1], 2);
    assert_eq!(pulls.rows[1][2], 212);

    let total = query(data.path(), "ThreatIntelligenceIndicator | count");
    assert_eq!(total.scalar_u64(), 240);

    // 5.199.173.4 is listed in both decoy_dog events.
    let matches = json_output(data.path(), &["intel", "lookup", "5.199.173.4", "--json"]);
    let matches = matches.as_array().unwrap();
    assert_eq!(matches.len(), 2);
    for found in matches {
        assert_eq!(found["indicator"]["source_system"], "Infoblox");
        assert_eq!(found["current"], true);
        assert_eq!(found["column"], "NetworkDestinationIP");
    }
    let missing = homesoc(data.path(), &["intel", "lookup", "192.0.2.250"]);
    assert!(
        !missing.status.success(),
        "a value without indicators exits with failure"
    );
    assert!(stdout_text(&missing).contains("no indicator"));
}

#[test]
fn stix_import_is_idempotent() {
    let data = tempfile::tempdir().unwrap();
    let bundle = manifest_dir().join("../../../shared/corpus/stix/oasis/apt1.json");
    let bundle = bundle.to_str().unwrap();
    let first = json_output(data.path(), &["intel", "stix", "import", bundle, "--json"]);
    assert_eq!(first["indicators"], 10);
    assert_eq!(first["compound_patterns"], 2);
    assert_eq!(first["skipped"], false);
    let second = json_output(data.path(), &["intel", "stix", "import", bundle, "--json"]);
    assert_eq!(second["skipped"], true);
    let cidrs = query(
        data.path(),
        "ThreatIntelligenceIndicator | where isnotempty(NetworkCidrBlock) | count",
    );
    assert_eq!(cidrs.scalar_u64(), 4);
    let matches = json_output(data.path(), &["intel", "lookup", "58.247.1.2", "--json"]);
    assert_eq!(
        matches.as_array().unwrap().len(),
        1,
        "CIDR 58.246.0.0/15 contains the address"
    );
}

/// The EVTX file with 3561 failed logons (4625) from one address.
const PASSWORD_GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
const GUESSING_IP: &str = "192.168.198.149";

/// The home-lab rule: events whose IP is a current indicator with
/// ConfidenceScore 100.
const CONFIDENT_IP_RULE: &str = "ThreatIntelligenceIndicator \
    | summarize arg_max(TimeGenerated, *) by IndicatorId \
    | where Active == true and ConfidenceScore == 100 and ExpirationDateTime > now() \
    | join kind=inner (SecurityEvent | where isnotempty(IpAddress)) on $left.NetworkIP == $right.IpAddress \
    | summarize Events = count() by IpAddress, IndicatorId";

/// Imports the password-guessing log and pulls a local freetext feed that
/// lists its source address with `confidence`.
fn workspace_with_feed(confidence: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let evtx = manifest_dir()
        .join("../../../shared/corpus/evtx")
        .join(PASSWORD_GUESSING);
    run_ok(data.path(), &["import", "evtx", evtx.to_str().unwrap()]);
    let feed = data.path().join("lab-feed.txt");
    std::fs::write(
        &feed,
        format!("# addresses seen guessing passwords\n{GUESSING_IP}\n"),
    )
    .unwrap();
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

#[test]
fn retro_hunt_finds_confident_indicator() {
    let data = workspace_with_feed("100");
    let matches = json_output(
        data.path(),
        &["intel", "hunt", "--min-confidence", "100", "--json"],
    );
    let matches = matches.as_array().unwrap();
    assert_eq!(matches.len(), 1, "{matches:?}");
    let found = &matches[0];
    assert_eq!(found["table"], "SecurityEvent");
    assert_eq!(found["column"], "IpAddress");
    assert_eq!(found["value"], GUESSING_IP);
    assert_eq!(found["events"], 3561);
    assert_eq!(found["indicator"]["source_system"], "lab");
    assert!(
        found["indicator"]["indicator_id"]
            .as_str()
            .unwrap()
            .starts_with("indicator--")
    );

    let rule = query(data.path(), CONFIDENT_IP_RULE);
    assert_eq!(rule.rows.len(), 1, "the KQL rule finds the address");
    assert_eq!(rule.rows[0][0], GUESSING_IP);
    assert_eq!(rule.rows[0][1], found["indicator"]["indicator_id"]);
    assert_eq!(rule.rows[0][2], 3561);
}

#[test]
fn retro_hunt_ignores_confidence_fifty() {
    let data = workspace_with_feed("50");
    let matches = json_output(
        data.path(),
        &["intel", "hunt", "--min-confidence", "100", "--json"],
    );
    assert_eq!(matches.as_array().unwrap().len(), 0);
    let rule = query(data.path(), CONFIDENT_IP_RULE);
    assert_eq!(
        rule.rows.len(),
        0,
        "the KQL rule finds nothing at confidence 50"
    );

    let any_confidence = json_output(data.path(), &["intel", "hunt", "--json"]);
    assert_eq!(
        any_confidence.as_array().unwrap().len(),
        1,
        "without the threshold the address matches"
    );
}

#[test]
fn taxii_add_list_and_failed_pull() {
    let data = tempfile::tempdir().unwrap();
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("taxii.pass");
    std::fs::write(&password_file, "cli-test-password-51c2\n").unwrap();
    // A port with no listener, so that the pull fails to connect.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api_root = format!("http://127.0.0.1:{port}/api1/");

    run_ok(
        data.path(),
        &[
            "intel",
            "taxii",
            "add",
            "--url",
            &api_root,
            "--collection",
            "c1",
            "--user",
            "soc",
            "--password-file",
            password_file.to_str().unwrap(),
        ],
    );
    let feeds_file = std::fs::read_to_string(data.path().join("intel/feeds.json")).unwrap();
    assert!(feeds_file.contains("\"taxii\""), "{feeds_file}");
    assert!(
        !feeds_file.contains("cli-test-password-51c2"),
        "the feed list stores where the password is, not the password"
    );

    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    let feed = &feeds[0];
    assert_eq!(feed["name"], "TAXII c1");
    assert_eq!(feed["format"], "taxii");
    assert_eq!(feed["collection"], "c1");
    assert_eq!(feed["user"], "soc");
    assert!(feed["last_pull"].is_null());

    let pulled = homesoc(data.path(), &["intel", "pull", "TAXII c1"]);
    assert!(!pulled.status.success(), "a failed pull exits with 1");
    let printed = stdout_text(&pulled);
    assert!(printed.contains("TAXII c1: failed"), "{printed}");
    assert!(!printed.contains("cli-test-password-51c2"), "{printed}");
    assert!(
        !stderr_text(&pulled).contains("cli-test-password-51c2"),
        "the password is not logged"
    );

    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    let last_pull = &feeds[0]["last_pull"];
    assert_eq!(last_pull["result"], "Failed");
    let error = last_pull["error"].as_str().unwrap();
    assert!(error.contains("cannot fetch"), "{error}");
    assert!(error.contains(&api_root), "{error}");

    let with_credentials = homesoc(
        data.path(),
        &[
            "intel",
            "taxii",
            "add",
            "--url",
            "http://soc:secret-in-url@127.0.0.1:1/api1/",
            "--collection",
            "c2",
        ],
    );
    assert!(!with_credentials.status.success());
    let message = stderr_text(&with_credentials);
    assert!(message.contains("contains credentials"), "{message}");
    assert!(!message.contains("secret-in-url"), "{message}");

    let no_collection = homesoc(
        data.path(),
        &[
            "intel",
            "taxii",
            "add",
            "--url",
            &api_root,
            "--collection",
            " ",
        ],
    );
    assert!(!no_collection.status.success());
    let message = stderr_text(&no_collection);
    assert!(message.contains("needs a collection id"), "{message}");
}

#[test]
fn tls_files_of_feeds() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, content: &str| {
        let path = files.path().join(name);
        std::fs::write(&path, content).unwrap();
        path.to_str().unwrap().to_string()
    };
    let certified = rcgen::generate_simple_self_signed(vec!["misp.example.org".into()]).unwrap();
    let ca_file = write("ca.pem", &certified.cert.pem());
    let api_key = write("misp.key", "an-api-key");
    run_ok(
        data.path(),
        &[
            "intel",
            "misp",
            "add",
            "--name",
            "MISP",
            "--url",
            "https://misp.example.org",
            "--api-key-file",
            &api_key,
            "--ca-file",
            &ca_file,
        ],
    );
    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    assert_eq!(feeds[0]["ca_file"], ca_file.as_str());
    assert!(feeds[0]["client_cert_file"].is_null());

    let not_pem = write("ca.der", "DER bytes, not PEM");
    let rejected = homesoc(
        data.path(),
        &["intel", "feeds", "set-tls", "MISP", "--ca-file", &not_pem],
    );
    assert!(!rejected.status.success());
    let message = stderr_text(&rejected);
    assert!(message.contains("contains no PEM certificate"), "{message}");
    assert!(
        message.contains(&not_pem),
        "the message names the file: {message}"
    );
    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    assert_eq!(
        feeds[0]["ca_file"],
        ca_file.as_str(),
        "the feed is unchanged"
    );

    let combined = format!(
        "{}{}",
        certified.cert.pem(),
        certified.signing_key.serialize_pem()
    );
    let client_file = write("client.pem", &combined);
    run_ok(
        data.path(),
        &[
            "intel",
            "feeds",
            "set-tls",
            "MISP",
            "--ca-file",
            &ca_file,
            "--client-cert",
            &client_file,
        ],
    );
    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    assert_eq!(feeds[0]["ca_file"], ca_file.as_str());
    assert_eq!(feeds[0]["client_cert_file"], client_file.as_str());

    let key_alone = homesoc(
        data.path(),
        &[
            "intel",
            "feeds",
            "set-tls",
            "MISP",
            "--client-key",
            &client_file,
        ],
    );
    assert!(
        !key_alone.status.success(),
        "--client-key needs --client-cert"
    );

    run_ok(data.path(), &["intel", "feeds", "set-tls", "MISP"]);
    let feeds = json_output(data.path(), &["intel", "feeds", "list", "--json"]);
    assert!(feeds[0]["ca_file"].is_null());
    assert!(feeds[0]["client_cert_file"].is_null());
}
