//! Automation rules end to end. `homesoc rules run` raises incidents from
//! a real EVTX file. The rules of `automation.toml` change them and send
//! webhooks and emails to a real HTTP receiver and a real SMTP server
//! (aiosmtpd with STARTTLS and AUTH) on 127.0.0.1. Every step is recorded
//! in `HomesocAutomationRuns`.

mod common;
mod support;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{corpus_dir, query, stderr_text};
use serde_json::Value;

/// 3561 failed logons (4625) from 192.168.198.149 against DESKTOP-M5SN04R,
/// all between 16:50:06 and 16:52:49 UTC on 2016-09-19.
const PASSWORD_GUESSING: &str = "evtx__smb-password-guessing-security.evtx";
const GUESSING_IP: &str = "192.168.198.149";

const HIGH_RULE_ID: &str = "6f4e0c1a-2b7d-4c55-9a0e-7d1b3e5f9a01";
const LOW_RULE_ID: &str = "6f4e0c1a-2b7d-4c55-9a0e-7d1b3e5f9a02";

/// A High rule with an IP entity: one alert, one incident (number 1).
const HIGH_RULE: &str = r#"
id: 6f4e0c1a-2b7d-4c55-9a0e-7d1b3e5f9a01
name: Password guessing from one address
severity: High
queryFrequency: 1h
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
tactics:
  - CredentialAccess
query: |
  SecurityEvent
  | where EventID == 4625 and isnotempty(IpAddress) and IpAddress != "-"
  | summarize FailedLogons = count() by IpAddress, Computer
  | where FailedLogons >= 20
entityMappings:
  - entityType: IP
    fieldMappings:
      - identifier: Address
        columnName: IpAddress
  - entityType: Host
    fieldMappings:
      - identifier: HostName
        columnName: Computer
"#;

/// A Low rule over the same events without entities: incident number 2.
const LOW_RULE: &str = r#"
id: 6f4e0c1a-2b7d-4c55-9a0e-7d1b3e5f9a02
name: Failed logons on a host
severity: Low
queryFrequency: 1h
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
tactics:
  - Discovery
query: |
  SecurityEvent
  | where EventID == 4625
  | summarize FailedLogons = count() by Computer
"#;

const WEBHOOK_SECRET: &str = "test-webhook-secret";
const SMTP_USER: &str = "alice";
const SMTP_PASSWORD: &str = "test-smtp-password";

/// Returns true when python3 can import aiosmtpd and openssl runs. With
/// `CI=true` a missing tool fails the test; otherwise the test skips.
fn tools_ready() -> bool {
    let python = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|status| status.success());
    let openssl = Command::new("openssl")
        .arg("version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if python && openssl {
        return true;
    }
    let message = "python3 with aiosmtpd and openssl are needed; install them with `pip install aiosmtpd` and `apt-get install openssl` (.ci/run does)";
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{message}");
    }
    eprintln!("skipped: {message}");
    false
}

/// A receiver script started by the test: it prints `{"port": N}` and
/// then one JSON line per request or message it receives.
struct Receiver {
    child: Child,
    port: u16,
    received: Arc<Mutex<Vec<Value>>>,
}

impl Receiver {
    fn start(script: &str, args: &[&str], env: &[(&str, &str)]) -> Receiver {
        let path = common::manifest_dir().join("tests/scripts").join(script);
        let mut command = Command::new("python3");
        command
            .arg(&path)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("python3 starts");
        let stdout = child.stdout.take().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let (sender, port) = std::sync::mpsc::channel();
        {
            let received = received.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let Ok(value) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    match value["port"].as_u64() {
                        Some(port) if value.as_object().is_some_and(|o| o.len() == 1) => {
                            let _ = sender.send(port as u16);
                        }
                        _ => received.lock().unwrap().push(value),
                    }
                }
            });
        }
        let port = match port.recv_timeout(Duration::from_secs(30)) {
            Ok(port) => port,
            Err(_) => {
                let _ = child.kill();
                panic!("{script} did not start listening");
            }
        };
        Receiver {
            child,
            port,
            received,
        }
    }

    fn received(&self) -> Vec<Value> {
        self.received.lock().unwrap().clone()
    }

    /// Returns the webhook requests to `path`.
    fn requests_to(&self, path: &str) -> Vec<Value> {
        self.received()
            .into_iter()
            .filter(|request| request["path"] == path)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Returns a loopback port with nothing listening on it.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Makes a test CA and a server certificate for 127.0.0.1 signed by it,
/// and returns the paths of the CA certificate, the server certificate and
/// its key. A separate CA keeps the test valid for TLS clients that reject
/// a CA certificate used as the server's own, as rustls does.
fn make_certificates(dir: &Path) -> (String, String, String) {
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    let openssl = |args: &[&str]| {
        let output = Command::new("openssl").args(args).output().unwrap();
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let (ca, ca_key) = (path("ca.pem"), path("ca.key"));
    let mut args = vec!["req", "-x509"];
    args.extend(ec);
    args.extend(["-days", "2", "-subj", "/CN=homesoc test CA"]);
    args.extend(["-keyout", &ca_key, "-out", &ca]);
    openssl(&args);

    let (csr, key, certificate) = (path("server.csr"), path("server.key"), path("server.pem"));
    let mut args = vec!["req"];
    args.extend(ec);
    args.extend(["-subj", "/CN=127.0.0.1", "-keyout", &key, "-out", &csr]);
    openssl(&args);
    let extensions = path("server.ext");
    std::fs::write(
        &extensions,
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &csr,
        "-CA",
        &ca,
        "-CAkey",
        &ca_key,
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &extensions,
        "-out",
        &certificate,
    ]);
    (ca, certificate, key)
}

/// Runs homesoc with the secrets of `automation.toml` in its environment.
fn homesoc(data_dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_homesoc"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env_remove("HOMESOC_DATA_DIR")
        .env_remove("HOMESOC_LOG")
        .env("HOMESOC_TEST_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env("HOMESOC_TEST_SMTP_PASSWORD", SMTP_PASSWORD)
        .output()
        .expect("cannot start the homesoc binary");
    assert!(
        output.status.success(),
        "homesoc {args:?} failed: {}",
        stderr_text(&output)
    );
    output
}

fn automation_file(webhook_port: u16, down_port: u16, smtp_port: u16) -> String {
    format!(
        r#"
[delivery]
retry_delays_seconds = [0.2, 0.4]
timeout_seconds = 5

[[rule]]
name = "Page on credential access"
order = 1
triggers = ["created"]
[rule.conditions]
min_severity = "Medium"
tactics = ["credentialaccess"]
entities = ["{GUESSING_IP}"]
[[rule.actions]]
type = "set_owner"
owner = "tier1@example.org"
[[rule.actions]]
type = "add_tag"
tag = "paged"
[[rule.actions]]
type = "set_status"
status = "Active"
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/soc"
secret_env = "HOMESOC_TEST_WEBHOOK_SECRET"
[[rule.actions]]
type = "email"
smtp_host = "127.0.0.1"
smtp_port = {smtp_port}
starttls = true
tls_ca_file = "ca.pem"
username = "{SMTP_USER}"
password_env = "HOMESOC_TEST_SMTP_PASSWORD"
from = "homesoc@example.org"
to = ["soc@example.org", "oncall@example.org"]

[[rule]]
name = "Low incidents"
order = 2
triggers = ["created"]
[rule.conditions]
severities = ["Low"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/low"

[[rule]]
name = "Another analytics rule"
order = 2
triggers = ["created", "updated"]
[rule.conditions]
rule_ids = ["00000000-0000-0000-0000-000000000000"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/never"

[[rule]]
name = "Another address"
order = 2
triggers = ["created", "updated"]
[rule.conditions]
entities = ["10.9.9.9"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/never"

[[rule]]
name = "Receivers that fail"
order = 3
triggers = ["created"]
[rule.conditions]
rule_ids = ["{HIGH_RULE_ID}"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/fail"
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{down_port}/down"

[[rule]]
name = "Updates"
order = 4
triggers = ["updated"]
[rule.conditions]
rule_names = ["Password guessing from one address"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/updated"

[[rule]]
name = "Switched off"
enabled = false
triggers = ["created", "updated"]
[[rule.actions]]
type = "webhook"
url = "http://127.0.0.1:{webhook_port}/hooks/never"
"#
    )
}

/// Returns the rows of a query as JSON objects keyed by column name.
fn query_objects(data_dir: &Path, kql: &str) -> Vec<serde_json::Map<String, Value>> {
    let result = query(data_dir, kql);
    result
        .rows
        .iter()
        .map(|row| {
            result
                .columns
                .iter()
                .zip(row)
                .map(|((name, _), value)| (name.clone(), value.clone()))
                .collect()
        })
        .collect()
}

/// Returns a dynamic cell as JSON, whether the output has it as JSON or
/// as JSON text.
fn dynamic(cell: &Value) -> Value {
    match cell {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// Waits until `count` returns at least `expected`, for up to 10 s.
fn wait_for(expected: usize, count: impl Fn() -> usize) {
    let start = Instant::now();
    while count() < expected && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn automation_rules_act_on_incidents() {
    if !tools_ready() {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path();
    let (ca, certificate, key) = make_certificates(data_dir);
    assert!(ca.ends_with("ca.pem"));

    let webhooks = Receiver::start(
        "webhook_receiver.py",
        &[],
        &[("WEBHOOK_SECRET", WEBHOOK_SECRET)],
    );
    let smtp = Receiver::start(
        "smtp_server.py",
        &[&certificate, &key, SMTP_USER, SMTP_PASSWORD],
        &[],
    );
    let down_port = closed_port();

    let evtx = corpus_dir().join(PASSWORD_GUESSING);
    homesoc(data_dir, &["import", "evtx", evtx.to_str().unwrap()]);
    let rules = data_dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join("high.yaml"), HIGH_RULE).unwrap();
    std::fs::write(rules.join("low.yaml"), LOW_RULE).unwrap();
    std::fs::write(
        data_dir.join("automation.toml"),
        automation_file(webhooks.port, down_port, smtp.port),
    )
    .unwrap();

    // The run raises incident 1 (High, from HIGH_RULE) and incident 2
    // (Low), then delivers the notifications before it exits.
    homesoc(
        data_dir,
        &[
            "rules",
            "run",
            "--no-builtin",
            "--at",
            "2016-09-19T17:00:00Z",
            HIGH_RULE_ID,
            LOW_RULE_ID,
        ],
    );

    // The matching rule's webhook: one signed request with the incident
    // as the rule's earlier actions left it.
    let soc = webhooks.requests_to("/hooks/soc");
    assert_eq!(soc.len(), 1, "requests to /hooks/soc: {soc:#?}");
    assert_eq!(soc[0]["signature_valid"], true, "{:#?}", soc[0]["headers"]);
    assert_eq!(soc[0]["headers"]["content-type"], "application/json");
    let payload: Value = serde_json::from_str(soc[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(payload["automationRule"], "Page on credential access");
    assert_eq!(payload["trigger"], "created");
    let incident = &payload["incident"];
    assert_eq!(incident["number"], 1);
    assert_eq!(incident["title"], "Password guessing from one address");
    assert_eq!(incident["severity"], "High");
    assert_eq!(incident["status"], "Active");
    assert_eq!(incident["owner"], "tier1@example.org");
    assert_eq!(incident["labels"], serde_json::json!(["paged"]));
    assert_eq!(incident["ruleIds"], serde_json::json!([HIGH_RULE_ID]));
    assert_eq!(
        incident["ruleNames"],
        serde_json::json!(["Password guessing from one address"])
    );
    assert_eq!(incident["tactics"], serde_json::json!(["CredentialAccess"]));
    assert_eq!(incident["alertIds"].as_array().unwrap().len(), 1);
    assert_eq!(incident["link"], "/incidents/1");
    let entities = incident["entities"].as_array().unwrap();
    assert!(
        entities
            .iter()
            .any(|entity| entity["Type"] == "ip" && entity["Address"] == GUESSING_IP),
        "entities: {entities:#?}"
    );

    // Conditions that do not hold send nothing; the Low rule matches only
    // incident 2.
    let low = webhooks.requests_to("/hooks/low");
    assert_eq!(low.len(), 1, "requests to /hooks/low: {low:#?}");
    let low_payload: Value = serde_json::from_str(low[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(low_payload["incident"]["number"], 2);
    assert!(low[0]["headers"].get("x-homesoc-signature").is_none());
    assert!(webhooks.requests_to("/hooks/never").is_empty());
    // The automation's own changes to incident 1 are no update.
    assert!(webhooks.requests_to("/hooks/updated").is_empty());

    // A receiver that returns 500: the first attempt and two retries, all
    // with one delivery id.
    let failing = webhooks.requests_to("/fail");
    assert_eq!(failing.len(), 3, "requests to /fail: {failing:#?}");
    let delivery_id = &failing[0]["headers"]["x-homesoc-delivery"];
    assert!(delivery_id.is_string());
    assert!(
        failing
            .iter()
            .all(|request| &request["headers"]["x-homesoc-delivery"] == delivery_id)
    );

    // One email over STARTTLS, authenticated, to both recipients.
    let messages = smtp.received();
    assert_eq!(messages.len(), 1, "emails: {messages:#?}");
    assert_eq!(messages[0]["login"], SMTP_USER);
    assert_eq!(messages[0]["mail_from"], "homesoc@example.org");
    let mut recipients: Vec<&str> = messages[0]["rcpt_tos"]
        .as_array()
        .unwrap()
        .iter()
        .map(|value| value.as_str().unwrap())
        .collect();
    recipients.sort_unstable();
    assert_eq!(recipients, ["oncall@example.org", "soc@example.org"]);
    // Long header lines are folded onto continuation lines; unfold them.
    let content = messages[0]["content"]
        .as_str()
        .unwrap()
        .replace("\r\n ", " ")
        .replace("\n ", " ");
    assert!(
        content.contains(
            "Subject: [homesoc] High incident 1 created: Password guessing from one address"
        ),
        "email: {content}"
    );
    assert!(content.contains("/incidents/1"), "email: {content}");

    // Every attempt is recorded.
    let attempts = |target: &str| {
        query_objects(
            data_dir,
            &format!(
                "HomesocAutomationRuns | where Target == '{target}' | order by Attempt asc \
                 | project Attempt, Status, HttpStatus, Error, AutomationRule, IncidentNumber"
            ),
        )
    };
    let fail_url = format!("http://127.0.0.1:{}/fail", webhooks.port);
    let failed = attempts(&fail_url);
    let statuses: Vec<(i64, &str, i64)> = failed
        .iter()
        .map(|row| {
            (
                row["Attempt"].as_i64().unwrap(),
                row["Status"].as_str().unwrap(),
                row["HttpStatus"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            (1, "Retrying", 500),
            (2, "Retrying", 500),
            (3, "Failed", 500)
        ]
    );
    assert_eq!(failed[2]["AutomationRule"], "Receivers that fail");
    assert_eq!(failed[2]["IncidentNumber"], 1);

    let down = attempts(&format!("http://127.0.0.1:{down_port}/down"));
    assert_eq!(down.len(), 3, "attempts at the closed port: {down:#?}");
    assert_eq!(down[2]["Status"], "Failed");
    assert!(down[2]["HttpStatus"].is_null());
    assert!(
        !down[2]["Error"].as_str().unwrap_or_default().is_empty(),
        "{down:#?}"
    );
    let failed_files = std::fs::read_dir(data_dir.join("automation/failed"))
        .unwrap()
        .count();
    assert_eq!(failed_files, 2, "notifications set aside after every retry");
    let outbox_files = std::fs::read_dir(data_dir.join("automation/outbox"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|extension| extension == "json")
        })
        .count();
    assert_eq!(outbox_files, 0, "delivered notifications leave the outbox");

    let paged = query_objects(
        data_dir,
        "HomesocAutomationRuns | where AutomationRule == 'Page on credential access' \
         | project Action, Status, Target, Attempt, HttpStatus | order by Action asc",
    );
    let steps: Vec<(&str, &str)> = paged
        .iter()
        .map(|row| {
            (
                row["Action"].as_str().unwrap(),
                row["Status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("AddTag", "Succeeded"),
            ("Email", "Succeeded"),
            ("SetOwner", "Succeeded"),
            ("SetStatus", "Succeeded"),
            ("Webhook", "Succeeded"),
        ]
    );
    assert_eq!(paged[1]["Target"], "soc@example.org, oncall@example.org");
    assert_eq!(paged[4]["HttpStatus"], 200);

    // The incident changes are in SecurityIncident, attributed to the rule.
    let current = |number: i64| {
        query_objects(
            data_dir,
            &format!(
                "SecurityIncident | where IncidentNumber == {number} \
                 | extend Revision = toint(parse_json(AdditionalData).homesocRevision) \
                 | summarize arg_max(Revision, Status, Owner, Labels, ModifiedBy)"
            ),
        )
    };
    let latest = current(1);
    assert_eq!(latest.len(), 1);
    assert_eq!(latest[0]["Status"], "Active");
    assert_eq!(
        latest[0]["ModifiedBy"],
        "automation:Page on credential access"
    );
    assert_eq!(
        dynamic(&latest[0]["Owner"])["assignedTo"],
        "tier1@example.org"
    );
    assert_eq!(dynamic(&latest[0]["Labels"])[0]["labelName"], "paged");
    let untouched = current(2);
    assert_eq!(untouched[0]["Status"], "New");

    // An analyst's change is an update: only the rule on updates sends.
    homesoc(
        data_dir,
        &["incidents", "comment", "1", "checked the source host"],
    );
    wait_for(1, || webhooks.requests_to("/hooks/updated").len());
    let updated = webhooks.requests_to("/hooks/updated");
    assert_eq!(updated.len(), 1, "requests to /hooks/updated: {updated:#?}");
    let updated_payload: Value =
        serde_json::from_str(updated[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(updated_payload["trigger"], "updated");
    assert_eq!(updated_payload["incident"]["number"], 1);
    assert_eq!(webhooks.requests_to("/hooks/soc").len(), 1);
    assert_eq!(webhooks.requests_to("/fail").len(), 3);
    assert!(webhooks.requests_to("/hooks/never").is_empty());
    assert_eq!(smtp.received().len(), 1);

    // A failed notification moved back to the outbox is sent again, with
    // every retry, by the delivery job of `homesoc up`.
    let failed_folder = data_dir.join("automation/failed");
    let resent = std::fs::read_dir(&failed_folder)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| std::fs::read_to_string(path).unwrap().contains("/fail\""))
        .expect("the failed notification to /fail");
    let outbox = data_dir.join("automation/outbox");
    std::fs::rename(&resent, outbox.join(resent.file_name().unwrap())).unwrap();
    let server = support::Server::start(data_dir, &["--no-tls"]);
    wait_for(6, || webhooks.requests_to("/fail").len());
    // The job moves the notification back once its last retry fails.
    let start = Instant::now();
    while !resent.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(server.terminate().success());
    assert_eq!(webhooks.requests_to("/fail").len(), 6);
    assert!(resent.exists(), "the notification is set aside again");
    let again = attempts(&fail_url);
    let statuses: Vec<&str> = again
        .iter()
        .map(|row| row["Status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [
            "Retrying", "Retrying", "Retrying", "Retrying", "Failed", "Failed"
        ],
        "attempts 1, 1, 2, 2, 3, 3 in Attempt order"
    );
}

#[test]
fn invalid_automation_file_names_rule() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path();
    let evtx = corpus_dir().join(PASSWORD_GUESSING);
    homesoc(data_dir, &["import", "evtx", evtx.to_str().unwrap()]);
    let cases = [
        (
            "[[rule]]\nname = \"Page\"\ntriggers = [\"created\"]\n[[rule.actions]]\ntype = \"set_status\"\nstatus = \"Closed\"\n",
            "automation rule `Page`: action 1: invalid status `Closed`",
        ),
        (
            "[[rule]]\nname = \"Hook\"\ntriggers = [\"created\"]\n[[rule.actions]]\ntype = \"webhook\"\nurl = \"ftp://example.org/x\"\n",
            "automation rule `Hook`: action 1: invalid url `ftp://example.org/x`",
        ),
        (
            "[[rule]]\nname = \"Hook\"\ntriggers = [\"sometimes\"]\n[[rule.actions]]\ntype = \"add_tag\"\ntag = \"x\"\n",
            "automation rule `Hook`: invalid trigger `sometimes`: use created or updated",
        ),
        (
            "[[rule]]\nname = \"Mail\"\ntriggers = [\"created\"]\n[[rule.actions]]\ntype = \"email\"\nsmtp_host = \"mail\"\nstarttls = false\nusername = \"u\"\npassword = \"p\"\nfrom = \"a@example.org\"\nto = [\"b@example.org\"]\n",
            "automation rule `Mail`: action 1: authentication needs `starttls = true`",
        ),
        (
            "[[rule]]\nname = \"Tag\"\ntriggers = [\"created\"]\n[[rule.actions]]\ntype = \"add_tag\"\nowner = \"x\"\n",
            "automation rule `Tag`: action 1: the add_tag action does not take `owner`",
        ),
        (
            "[[rule]]\nname = \"Typo\"\ntriggers = [\"created\"]\nconditon = 1\n",
            "invalid TOML",
        ),
    ];
    for (text, expected) in cases {
        std::fs::write(data_dir.join("automation.toml"), text).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_homesoc"))
            .arg("--data-dir")
            .arg(data_dir)
            .args(["rules", "run", "--at", "2016-09-19T17:00:00Z"])
            .env_remove("HOMESOC_DATA_DIR")
            .output()
            .unwrap();
        let stderr = stderr_text(&output);
        assert!(!output.status.success(), "accepted:\n{text}");
        assert!(
            stderr.contains("automation.toml") && stderr.contains(expected),
            "for\n{text}\nexpected `{expected}` in:\n{stderr}"
        );
    }
}
