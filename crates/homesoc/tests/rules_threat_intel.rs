//! Threat-intelligence matches as alerts: `homesoc rules retro-hunt` runs
//! the built-in indicator rules (addresses, CIDR ranges, domain names,
//! URLs and file hashes, each with confidence 100) over stored events
//! through the detection alert path, on real EVTX files and feeds made by
//! the test.

mod common;

use common::{corpus_dir, homesoc, kql_string, query, stderr_text, stdout_text};
use detect::builtin::builtin_rules;
use serde_json::Value;

/// 3561 failed logons (4625) from one address against DESKTOP-M5SN04R.
const PASSWORD_GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
const GUESSING_IP: &str = "192.168.198.149";
const TI_RULE_ID: &str = "f35206bc-230d-43f7-afc4-59f0c2cb16ad";
const TI_DOMAIN_RULE_ID: &str = "9ca54ec8-97e6-48c5-894b-47036b9b1a7d";
const TI_FILE_HASH_RULE_ID: &str = "41715e47-a090-4ba2-af49-edb7ce927f96";
const TI_URL_RULE_ID: &str = "aebb0b13-dfa5-44ea-9274-1c66f0c33bb4";

/// 54 failed Kerberos pre-authentications (4771) on rootdc1.offsec.lan,
/// whose client address Windows logs as ::ffff:10.23.123.11.
const KERBEROS_GUESSING: &str = "EVTX-to-MITRE-Attack__TA0006-Credential_Access__T1110.xxx-Brut_force__ID4771-Kerberos_brutforce_with_valid_user.evtx";

/// Seven Sysmon records of DESKTOP-VQBONAV on 2022-08-29: certutil.exe
/// (event 1) downloads `CERTUTIL_URL`, and Sysmon blocks the written
/// executable three times (event 27), each record with `Hashes` listing
/// `BLOCKED_SHA256`.
const CERTUTIL_DOWNLOAD: &str =
    "YamatoSecurity__Sysmon__Sysmon-27-BlockExeWrite_AbusingCertutil.evtx";
const CERTUTIL_URL: &str = "http://192.168.158.128:8000/calc.exe";
const BLOCKED_SHA256: &str = "ED369187681A62247E38D930320F1CD771756D0B7B67072D8EC655EF99E14AEB";

/// 565 Sysmon records of MSEDGEWIN10 from Atomic Red Team tests, with one
/// network connection (event 3) to `GOOGLE_HOST` and command lines
/// (event 1) that fetch files from raw.githubusercontent.com.
const ATOMIC_RED_TEAM: &str = "AutomatedTestingTools__PanacheSysmon_vs_AtomicRedTeam01.evtx";
const GOOGLE_HOST: &str = "ams15s30-in-f4.1e100.net";

fn run_ok(data_dir: &std::path::Path, args: &[&str]) -> String {
    let output = homesoc(data_dir, args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        stderr_text(&output)
    );
    stdout_text(&output)
}

/// Imports the corpus file `evtx` and pulls a local freetext feed named
/// `lab` that lists `values` with `confidence`.
fn workspace_with_values(evtx: &str, values: &[&str], confidence: &str) -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    let evtx = corpus_dir().join(evtx);
    run_ok(data.path(), &["import", "evtx", evtx.to_str().unwrap()]);
    let feed = data.path().join("lab-feed.txt");
    std::fs::write(&feed, format!("# lab indicators\n{}\n", values.join("\n"))).unwrap();
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

/// Imports the password-guessing log and pulls a local freetext feed that
/// lists its source address with `confidence`.
fn workspace_with_feed(confidence: &str) -> tempfile::TempDir {
    workspace_with_values(PASSWORD_GUESSING, &[GUESSING_IP], confidence)
}

fn retro_hunt(data_dir: &std::path::Path) -> Value {
    let text = run_ok(data_dir, &["rules", "retro-hunt", "--json"]);
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("not JSON ({err}): {text}"))
}

/// Returns the alerts of a retro-hunt that `rule_id` raised.
fn alerts_of<'a>(hunt: &'a Value, rule_id: &str) -> Vec<&'a Value> {
    hunt["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|alert| alert["ruleId"] == rule_id)
        .collect()
}

/// Returns the query of the built-in rule `rule_id`, as the scheduler
/// runs it.
fn builtin_query(rule_id: &str) -> String {
    builtin_rules()
        .rules
        .into_iter()
        .find(|rule| rule.id == rule_id)
        .unwrap_or_else(|| panic!("no built-in rule {rule_id}"))
        .query
}

/// Reads the custom details `Indicator`, `MatchedValue`, `Events` and
/// `IndicatorSource` of the stored alerts of `rule_id`, one row per alert.
fn stored_details(data_dir: &std::path::Path, rule_id: &str) -> Vec<Vec<Value>> {
    let kql = format!(
        "SecurityAlert | where AlertType == {} \
         | extend Details = parse_json(tostring(parse_json(ExtendedProperties)['Custom Details'])) \
         | project Indicator = tostring(Details.Indicator[0]), Matched = tostring(Details.MatchedValue[0]), \
           Events = tostring(Details.Events[0]), Source = tostring(Details.IndicatorSource[0]) \
         | order by Matched asc, Indicator asc",
        kql_string(rule_id)
    );
    query(data_dir, &kql).rows
}

/// Returns the run of `rule_id` in a retro-hunt.
fn run_of<'a>(hunt: &'a Value, rule_id: &str) -> &'a Value {
    hunt["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|run| run["ruleId"] == rule_id)
        .unwrap_or_else(|| panic!("no run of {rule_id}: {hunt:#}"))
}

#[test]
fn retro_hunt_alerts_on_confident_indicator() {
    let data = workspace_with_feed("100");
    let hunt = retro_hunt(data.path());
    let runs = hunt["runs"].as_array().unwrap();
    let mut rule_ids: Vec<&str> = runs
        .iter()
        .map(|run| run["ruleId"].as_str().unwrap())
        .collect();
    rule_ids.sort_unstable();
    assert_eq!(
        rule_ids,
        [
            TI_FILE_HASH_RULE_ID,
            TI_DOMAIN_RULE_ID,
            TI_URL_RULE_ID,
            TI_RULE_ID
        ],
        "four built-in rules read indicators: {hunt:#}"
    );
    for run in runs {
        assert_eq!(run["status"], "Succeeded", "{hunt:#}");
    }

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
    assert_eq!(
        alert["displayName"],
        format!(
            "{GUESSING_IP} on DESKTOP-M5SN04R matches threat-intelligence address {GUESSING_IP} of lab"
        )
    );

    // The stored alert names the indicator and counts the events.
    let stored = stored_details(data.path(), TI_RULE_ID);
    assert_eq!(stored, [[GUESSING_IP, GUESSING_IP, "3561", "lab"]]);
    let incidents = query(data.path(), "SecurityIncident | count");
    assert_eq!(incidents.scalar_u64(), 1);

    // A second hunt finds the same match and raises nothing new.
    let again = retro_hunt(data.path());
    assert_eq!(run_of(&again, TI_RULE_ID)["resultRows"], 1);
    assert_eq!(again["alerts"].as_array().unwrap().len(), 0, "{again:#}");
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 1);
}

#[test]
fn retro_hunt_ignores_confidence_fifty() {
    let data = workspace_with_feed("50");
    let hunt = retro_hunt(data.path());
    assert_eq!(run_of(&hunt, TI_RULE_ID)["resultRows"], 0, "{hunt:#}");
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0);
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 0);
}

#[test]
fn cidr_indicator_contains_address() {
    // The /24 contains the guessing address, but 10.0.0.0/8 and the /32 of
    // its neighbour do not.
    let data = workspace_with_values(
        PASSWORD_GUESSING,
        &["192.168.198.0/24", "10.0.0.0/8", "192.168.198.150/32"],
        "100",
    );
    let hunt = retro_hunt(data.path());
    assert_eq!(run_of(&hunt, TI_RULE_ID)["resultRows"], 1, "{hunt:#}");
    let alerts = alerts_of(&hunt, TI_RULE_ID);
    assert_eq!(alerts.len(), 1, "{hunt:#}");
    assert_eq!(
        alerts[0]["displayName"],
        format!(
            "{GUESSING_IP} on DESKTOP-M5SN04R matches threat-intelligence address 192.168.198.0/24 of lab"
        )
    );
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 1, "{hunt:#}");
    let stored = stored_details(data.path(), TI_RULE_ID);
    assert_eq!(stored, [["192.168.198.0/24", GUESSING_IP, "3561", "lab"]]);
}

#[test]
fn mapped_address_matches_ipv4_indicator() {
    let data = workspace_with_values(KERBEROS_GUESSING, &["10.23.123.11", "10.23.0.0/16"], "100");
    let mapped = query(
        data.path(),
        "SecurityEvent | where IpAddress == '::ffff:10.23.123.11' | count",
    );
    assert_eq!(mapped.scalar_u64(), 54);

    let hunt = retro_hunt(data.path());
    let mut names: Vec<&str> = alerts_of(&hunt, TI_RULE_ID)
        .iter()
        .map(|alert| alert["displayName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "10.23.123.11 on rootdc1.offsec.lan matches threat-intelligence address 10.23.0.0/16 of lab",
            "10.23.123.11 on rootdc1.offsec.lan matches threat-intelligence address 10.23.123.11 of lab",
        ],
        "{hunt:#}"
    );
    let stored = stored_details(data.path(), TI_RULE_ID);
    assert_eq!(
        stored,
        [
            ["10.23.0.0/16", "10.23.123.11", "54", "lab"],
            ["10.23.123.11", "10.23.123.11", "54", "lab"],
        ]
    );
}

#[test]
fn file_hash_indicator_raises_alert() {
    // The feed lists the hash in lower case, and Sysmon writes upper case.
    let indicator = BLOCKED_SHA256.to_ascii_lowercase();
    let data = workspace_with_values(CERTUTIL_DOWNLOAD, &[&indicator], "100");

    // The rule's query finds the three blocked writes (event 27).
    let rule = query(data.path(), &builtin_query(TI_FILE_HASH_RULE_ID));
    assert_eq!(rule.rows.len(), 1, "{:?}", rule.rows);
    let row = &rule.rows[0];
    assert_eq!(row[rule.column("HashAlgorithm")], "SHA256");
    assert_eq!(row[rule.column("HashValue")], BLOCKED_SHA256);
    assert_eq!(row[rule.column("Indicator")], indicator.as_str());
    assert_eq!(row[rule.column("Events")], 3);
    assert_eq!(row[rule.column("EventIds")], serde_json::json!([27]));

    let hunt = retro_hunt(data.path());
    let alerts = alerts_of(&hunt, TI_FILE_HASH_RULE_ID);
    assert_eq!(alerts.len(), 1, "{hunt:#}");
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 1, "{hunt:#}");
    assert_eq!(
        alerts[0]["displayName"],
        format!(
            "SHA256 {BLOCKED_SHA256} on DESKTOP-VQBONAV matches threat-intelligence file hash {indicator} of lab"
        )
    );
    let entities = alerts[0]["entities"].as_array().unwrap();
    assert!(
        entities.iter().any(|entity| entity["Type"] == "filehash"
            && entity["Algorithm"] == "SHA256"
            && entity["Value"] == BLOCKED_SHA256),
        "{entities:?}"
    );
    let stored = stored_details(data.path(), TI_FILE_HASH_RULE_ID);
    assert_eq!(stored, [[indicator.as_str(), BLOCKED_SHA256, "3", "lab"]]);
}

#[test]
fn url_indicator_raises_alert() {
    let data = workspace_with_values(CERTUTIL_DOWNLOAD, &[CERTUTIL_URL], "100");

    // The rule's query finds the URL in certutil's command line (event 1).
    let rule = query(data.path(), &builtin_query(TI_URL_RULE_ID));
    assert_eq!(rule.rows.len(), 1, "{:?}", rule.rows);
    let row = &rule.rows[0];
    assert_eq!(row[rule.column("MatchedUrl")], CERTUTIL_URL);
    assert_eq!(row[rule.column("Events")], 1);
    assert_eq!(row[rule.column("EventIds")], serde_json::json!([1]));

    let hunt = retro_hunt(data.path());
    let alerts = alerts_of(&hunt, TI_URL_RULE_ID);
    assert_eq!(alerts.len(), 1, "{hunt:#}");
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 1, "{hunt:#}");
    assert_eq!(
        alerts[0]["displayName"],
        format!(
            "{CERTUTIL_URL} on DESKTOP-VQBONAV matches threat-intelligence URL {CERTUTIL_URL} of lab"
        )
    );
    let entities = alerts[0]["entities"].as_array().unwrap();
    assert!(
        entities
            .iter()
            .any(|entity| entity["Type"] == "url" && entity["Url"] == CERTUTIL_URL),
        "{entities:?}"
    );
    let stored = stored_details(data.path(), TI_URL_RULE_ID);
    assert_eq!(stored, [[CERTUTIL_URL, CERTUTIL_URL, "1", "lab"]]);
}

#[test]
fn domain_indicators_raise_alerts() {
    // The feed lists the connection's host name in upper case, and the host
    // of URLs in command lines.
    let upper_host = GOOGLE_HOST.to_ascii_uppercase();
    let data = workspace_with_values(
        ATOMIC_RED_TEAM,
        &[&upper_host, "raw.githubusercontent.com"],
        "100",
    );

    // Independently of the rule, from the stored XML: the command lines
    // (Sysmon event 1) that name a URL on raw.githubusercontent.com. The
    // process that such a command started has the URL only in its
    // ParentCommandLine, which the rule does not read.
    let fetches = query(
        data.path(),
        "Event | where Source == 'Microsoft-Windows-Sysmon' and EventID == 1 \
         | where extract(@'<Data Name=\"CommandLine\">([^<]*)</Data>', 1, EventData) \
           contains '://raw.githubusercontent.com/' | count",
    )
    .scalar_u64();
    assert!(fetches > 1, "{fetches}");

    let hunt = retro_hunt(data.path());
    let alerts = alerts_of(&hunt, TI_DOMAIN_RULE_ID);
    assert_eq!(alerts.len(), 2, "{hunt:#}");
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 2, "{hunt:#}");
    let mut names: Vec<&str> = alerts
        .iter()
        .map(|alert| alert["displayName"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            format!(
                "{GOOGLE_HOST} on MSEDGEWIN10 matches threat-intelligence domain {upper_host} of lab"
            ),
            "raw.githubusercontent.com on MSEDGEWIN10 matches threat-intelligence domain \
             raw.githubusercontent.com of lab"
                .to_string(),
        ]
    );
    for alert in &alerts {
        let entities = alert["entities"].as_array().unwrap();
        assert!(
            entities
                .iter()
                .any(|entity| entity["Type"] == "dns" && entity["DomainName"].is_string()),
            "{entities:?}"
        );
    }

    let stored = stored_details(data.path(), TI_DOMAIN_RULE_ID);
    let fetches = fetches.to_string();
    assert_eq!(
        stored,
        [
            [upper_host.as_str(), GOOGLE_HOST, "1", "lab"],
            [
                "raw.githubusercontent.com",
                "raw.githubusercontent.com",
                fetches.as_str(),
                "lab"
            ],
        ]
    );
}

#[test]
fn confidence_fifty_values_raise_nothing() {
    let data = workspace_with_values(CERTUTIL_DOWNLOAD, &[BLOCKED_SHA256, CERTUTIL_URL], "50");
    let hunt = retro_hunt(data.path());
    for rule_id in [TI_FILE_HASH_RULE_ID, TI_URL_RULE_ID] {
        assert_eq!(run_of(&hunt, rule_id)["resultRows"], 0, "{hunt:#}");
    }
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0, "{hunt:#}");

    let data = workspace_with_values(ATOMIC_RED_TEAM, &[GOOGLE_HOST], "50");
    let hunt = retro_hunt(data.path());
    assert_eq!(
        run_of(&hunt, TI_DOMAIN_RULE_ID)["resultRows"],
        0,
        "{hunt:#}"
    );
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0, "{hunt:#}");
    assert_eq!(query(data.path(), "SecurityAlert | count").scalar_u64(), 0);
}

#[test]
fn absent_values_raise_nothing() {
    // Each value is a near miss: the hash with its last digit changed, the
    // URL cut short or extended, and the URL of the host alone.
    let other_hash = format!("{}0", &BLOCKED_SHA256[..63]);
    let data = workspace_with_values(
        CERTUTIL_DOWNLOAD,
        &[
            &other_hash,
            "http://192.168.158.128:8000/calc.ex",
            "http://192.168.158.128:8000/calc.exe.bak",
            "http://192.168.158.128:8000/",
        ],
        "100",
    );
    let count = |kql: &str| query(data.path(), kql).scalar_u64();
    assert_eq!(
        count("ThreatIntelligenceIndicator | where isnotempty(FileHashValue) | count"),
        1
    );
    assert_eq!(
        count("ThreatIntelligenceIndicator | where isnotempty(Url) | count"),
        3
    );
    let hunt = retro_hunt(data.path());
    for rule_id in [TI_FILE_HASH_RULE_ID, TI_URL_RULE_ID] {
        assert_eq!(run_of(&hunt, rule_id)["resultRows"], 0, "{hunt:#}");
    }
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0, "{hunt:#}");

    // A sibling host, and a parent domain of the connection's host, which
    // is not matched as a suffix.
    let data = workspace_with_values(
        ATOMIC_RED_TEAM,
        &[
            "ams15s30-in-f5.1e100.net",
            "1e100.net",
            "githubusercontent.com",
        ],
        "100",
    );
    let domains = query(
        data.path(),
        "ThreatIntelligenceIndicator | where isnotempty(DomainName) | count",
    );
    assert_eq!(domains.scalar_u64(), 3);
    let hunt = retro_hunt(data.path());
    assert_eq!(
        run_of(&hunt, TI_DOMAIN_RULE_ID)["resultRows"],
        0,
        "{hunt:#}"
    );
    assert_eq!(hunt["alerts"].as_array().unwrap().len(), 0, "{hunt:#}");
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
