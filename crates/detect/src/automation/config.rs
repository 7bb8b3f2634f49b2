//! The automation rules file, `automation.toml` in the data folder.
//!
//! Every entry is checked when the file is read, so that a typo fails at
//! once with the file, the rule and the fix instead of when an incident
//! arrives. Secrets may come from environment variables; those are read
//! when a notification is sent.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::DetectError;
use crate::incident::IncidentStatus;
use crate::rule::Severity;

/// The name of the automation rules file in the data folder.
pub const AUTOMATION_FILE: &str = "automation.toml";

/// Default waits before the retries of a failed notification.
const DEFAULT_RETRY_DELAYS: [f64; 3] = [1.0, 5.0, 25.0];

/// Default time limit of one delivery attempt.
const DEFAULT_TIMEOUT_SECONDS: f64 = 10.0;

/// The automation rules of a workspace and the delivery settings.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationConfig {
    /// The enabled and disabled rules, by `order` and then by name.
    pub rules: Vec<AutomationRule>,
    pub delivery: DeliveryOptions,
    /// The file the rules were read from.
    pub source: PathBuf,
}

/// Settings of notification delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryOptions {
    /// The wait before each retry of a failed notification; a notification
    /// is attempted once plus once per entry.
    pub retry_delays: Vec<Duration>,
    /// The time limit of one attempt (connect, send and response).
    pub timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> DeliveryOptions {
        DeliveryOptions {
            retry_delays: DEFAULT_RETRY_DELAYS
                .iter()
                .map(|seconds| Duration::from_secs_f64(*seconds))
                .collect(),
            timeout: Duration::from_secs_f64(DEFAULT_TIMEOUT_SECONDS),
        }
    }
}

/// The incident event an automation rule runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    /// The incident was created by an alert.
    Created,
    /// An existing incident changed: an alert joined it, it was reopened,
    /// or an analyst changed it.
    Updated,
}

impl Trigger {
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Created => "created",
            Trigger::Updated => "updated",
        }
    }
}

/// One automation rule: when its trigger happens and its conditions hold,
/// its actions run in order.
#[derive(Debug, Clone, PartialEq)]
pub struct AutomationRule {
    pub name: String,
    /// Rules run by ascending order; ties run by name.
    pub order: i64,
    pub enabled: bool,
    pub triggers: Vec<Trigger>,
    pub conditions: Conditions,
    pub actions: Vec<Action>,
}

/// Conditions on the incident. Every condition that is set must hold; a
/// list condition holds when any of its values matches. Text compares
/// without regard to letter case.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Conditions {
    pub min_severity: Option<Severity>,
    pub severities: Vec<Severity>,
    /// Ids of the analytics rules whose alerts the incident contains.
    pub rule_ids: Vec<String>,
    /// Names of the analytics rules whose alerts the incident contains.
    pub rule_names: Vec<String>,
    pub tactics: Vec<String>,
    /// Identifier values of the incident's entities, such as an IP address
    /// or an account name.
    pub entities: Vec<String>,
}

/// An action of an automation rule.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Webhook(WebhookTarget),
    Email(EmailTarget),
    /// Sets the status to New or Active.
    SetStatus(IncidentStatus),
    SetOwner(String),
    AddTag(String),
}

impl Action {
    /// Returns the action's name as `HomesocAutomationRuns.Action` records it.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Webhook(_) => "Webhook",
            Action::Email(_) => "Email",
            Action::SetStatus(_) => "SetStatus",
            Action::SetOwner(_) => "SetOwner",
            Action::AddTag(_) => "AddTag",
        }
    }
}

/// A webhook receiver. The body is signed with HMAC-SHA256 when a secret
/// is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WebhookTarget {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// The environment variable that contains the secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_env: Option<String>,
}

/// An SMTP server and the message's sender and recipients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailTarget {
    pub smtp_host: String,
    pub smtp_port: u16,
    /// Upgrade the connection with STARTTLS, and fail if the server does
    /// not offer it.
    pub starttls: bool,
    /// PEM certificates to trust for the server besides the system's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_ca_file: Option<PathBuf>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The environment variable that contains the password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    pub from: String,
    pub to: Vec<String>,
}

impl EmailTarget {
    /// Returns the recipients as `HomesocAutomationRuns.Target` records them.
    pub fn target_text(&self) -> String {
        self.to.join(", ")
    }
}

/// Returns the secret given inline or in the named environment variable.
pub fn resolve_secret(inline: Option<&str>, env: Option<&str>) -> Result<Option<String>, String> {
    if let Some(value) = inline {
        return Ok(Some(value.to_string()));
    }
    let Some(name) = env else {
        return Ok(None);
    };
    match std::env::var(name) {
        Ok(value) if !value.is_empty() => Ok(Some(value)),
        _ => Err(format!(
            "the environment variable {name} is not set; set it in the environment of homesoc"
        )),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    delivery: RawDelivery,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelivery {
    retry_delays_seconds: Option<Vec<f64>>,
    timeout_seconds: Option<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Option<String>,
    order: Option<i64>,
    enabled: Option<bool>,
    triggers: Option<Vec<String>>,
    #[serde(default)]
    conditions: RawConditions,
    #[serde(default)]
    actions: Vec<RawAction>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConditions {
    min_severity: Option<String>,
    #[serde(default)]
    severities: Vec<String>,
    #[serde(default)]
    rule_ids: Vec<String>,
    #[serde(default)]
    rule_names: Vec<String>,
    #[serde(default)]
    tactics: Vec<String>,
    #[serde(default)]
    entities: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    #[serde(rename = "type")]
    kind: Option<String>,
    url: Option<String>,
    secret: Option<String>,
    secret_env: Option<String>,
    smtp_host: Option<String>,
    smtp_port: Option<u16>,
    starttls: Option<bool>,
    tls_ca_file: Option<PathBuf>,
    username: Option<String>,
    password: Option<String>,
    password_env: Option<String>,
    from: Option<String>,
    to: Option<Vec<String>>,
    status: Option<String>,
    owner: Option<String>,
    tag: Option<String>,
}

impl RawAction {
    /// Returns the names of the keys that are set, besides `type`.
    fn keys_set(&self) -> Vec<&'static str> {
        let keys = [
            ("url", self.url.is_some()),
            ("secret", self.secret.is_some()),
            ("secret_env", self.secret_env.is_some()),
            ("smtp_host", self.smtp_host.is_some()),
            ("smtp_port", self.smtp_port.is_some()),
            ("starttls", self.starttls.is_some()),
            ("tls_ca_file", self.tls_ca_file.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("password_env", self.password_env.is_some()),
            ("from", self.from.is_some()),
            ("to", self.to.is_some()),
            ("status", self.status.is_some()),
            ("owner", self.owner.is_some()),
            ("tag", self.tag.is_some()),
        ];
        keys.iter()
            .filter(|(_, set)| *set)
            .map(|(key, _)| *key)
            .collect()
    }
}

/// Reads `automation.toml` from the data folder; `None` when the file does
/// not exist.
pub fn load_automation(data_dir: &Path) -> Result<Option<AutomationConfig>, DetectError> {
    let path = data_dir.join(AUTOMATION_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(config_error(&path, None, format!("cannot read: {err}")));
        }
    };
    parse_automation(&text, &path).map(Some)
}

/// Parses and checks the text of an automation rules file read from `path`.
pub fn parse_automation(text: &str, path: &Path) -> Result<AutomationConfig, DetectError> {
    let raw: RawFile = toml::from_str(text)
        .map_err(|err| config_error(path, None, format!("invalid TOML: {err}")))?;
    let delivery = parse_delivery(raw.delivery, path)?;

    let mut rules = Vec::with_capacity(raw.rules.len());
    for (index, raw_rule) in raw.rules.into_iter().enumerate() {
        let rule = parse_rule(raw_rule, index, path)?;
        if rules
            .iter()
            .any(|other: &AutomationRule| other.name.eq_ignore_ascii_case(&rule.name))
        {
            return Err(config_error(
                path,
                Some(&rule.name),
                "another rule has the same name; give each rule its own name".into(),
            ));
        }
        rules.push(rule);
    }
    rules.sort_by(|a, b| a.order.cmp(&b.order).then_with(|| a.name.cmp(&b.name)));
    Ok(AutomationConfig {
        rules,
        delivery,
        source: path.to_path_buf(),
    })
}

fn parse_delivery(raw: RawDelivery, path: &Path) -> Result<DeliveryOptions, DetectError> {
    let mut options = DeliveryOptions::default();
    if let Some(delays) = raw.retry_delays_seconds {
        if let Some(bad) = delays
            .iter()
            .find(|delay| !delay.is_finite() || **delay < 0.0)
        {
            return Err(config_error(
                path,
                None,
                format!(
                    "invalid delivery.retry_delays_seconds entry {bad}: use seconds of 0 or more, such as [1, 5, 25]"
                ),
            ));
        }
        options.retry_delays = delays.iter().map(|s| Duration::from_secs_f64(*s)).collect();
    }
    if let Some(timeout) = raw.timeout_seconds {
        if !timeout.is_finite() || timeout <= 0.0 {
            return Err(config_error(
                path,
                None,
                format!(
                    "invalid delivery.timeout_seconds {timeout}: use a number of seconds above 0, such as 10"
                ),
            ));
        }
        options.timeout = Duration::from_secs_f64(timeout);
    }
    Ok(options)
}

fn parse_rule(raw: RawRule, index: usize, path: &Path) -> Result<AutomationRule, DetectError> {
    let name = match raw.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => name.to_string(),
        _ => {
            return Err(config_error(
                path,
                None,
                format!("rule {} has no name; add `name = \"...\"` to it", index + 1),
            ));
        }
    };
    let fail = |reason: String| config_error(path, Some(&name), reason);

    let triggers = match raw.triggers {
        None => {
            return Err(fail(
                "missing `triggers`; use [\"created\"], [\"updated\"] or both".into(),
            ));
        }
        Some(texts) if texts.is_empty() => {
            return Err(fail(
                "`triggers` is empty; use [\"created\"], [\"updated\"] or both".into(),
            ));
        }
        Some(texts) => texts
            .iter()
            .map(|text| match text.trim().to_ascii_lowercase().as_str() {
                "created" => Ok(Trigger::Created),
                "updated" => Ok(Trigger::Updated),
                _ => Err(fail(format!(
                    "invalid trigger `{text}`: use created or updated"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?,
    };

    let conditions = parse_conditions(raw.conditions).map_err(fail)?;
    if raw.actions.is_empty() {
        return Err(fail(
            "the rule has no actions; add at least one [[rule.actions]] entry".into(),
        ));
    }
    let base_dir = path.parent().unwrap_or(Path::new("."));
    let actions = raw
        .actions
        .into_iter()
        .enumerate()
        .map(|(index, action)| {
            parse_action(action, base_dir)
                .map_err(|reason| fail(format!("action {}: {reason}", index + 1)))
        })
        .collect::<Result<Vec<_>, _>>()?;

    Ok(AutomationRule {
        name,
        order: raw.order.unwrap_or(0),
        enabled: raw.enabled.unwrap_or(true),
        triggers,
        conditions,
        actions,
    })
}

fn parse_severity(text: &str) -> Result<Severity, String> {
    Severity::parse(text)
        .ok_or_else(|| format!("invalid severity `{text}`: use Informational, Low, Medium or High"))
}

fn parse_conditions(raw: RawConditions) -> Result<Conditions, String> {
    let non_empty = |key: &str, values: Vec<String>| -> Result<Vec<String>, String> {
        if values.iter().any(|value| value.trim().is_empty()) {
            return Err(format!("conditions.{key} has an empty value; remove it"));
        }
        Ok(values
            .into_iter()
            .map(|value| value.trim().to_string())
            .collect())
    };
    Ok(Conditions {
        min_severity: raw
            .min_severity
            .as_deref()
            .map(parse_severity)
            .transpose()?,
        severities: raw
            .severities
            .iter()
            .map(|text| parse_severity(text))
            .collect::<Result<_, _>>()?,
        rule_ids: non_empty("rule_ids", raw.rule_ids)?,
        rule_names: non_empty("rule_names", raw.rule_names)?,
        tactics: non_empty("tactics", raw.tactics)?,
        entities: non_empty("entities", raw.entities)?,
    })
}

/// The keys each action type takes besides `type`.
const WEBHOOK_KEYS: &[&str] = &["url", "secret", "secret_env"];
const EMAIL_KEYS: &[&str] = &[
    "smtp_host",
    "smtp_port",
    "starttls",
    "tls_ca_file",
    "username",
    "password",
    "password_env",
    "from",
    "to",
];

fn parse_action(raw: RawAction, base_dir: &Path) -> Result<Action, String> {
    let Some(kind) = raw.kind.clone() else {
        return Err("missing `type`; use webhook, email, set_status, set_owner or add_tag".into());
    };
    let allowed: &[&str] = match kind.as_str() {
        "webhook" => WEBHOOK_KEYS,
        "email" => EMAIL_KEYS,
        "set_status" => &["status"],
        "set_owner" => &["owner"],
        "add_tag" => &["tag"],
        _ => {
            return Err(format!(
                "invalid type `{kind}`: use webhook, email, set_status, set_owner or add_tag"
            ));
        }
    };
    if let Some(extra) = raw
        .keys_set()
        .into_iter()
        .find(|key| !allowed.contains(key))
    {
        return Err(format!(
            "the {kind} action does not take `{extra}`; it takes {}",
            allowed.join(", ")
        ));
    }

    match kind.as_str() {
        "webhook" => parse_webhook(raw).map(Action::Webhook),
        "email" => parse_email(raw, base_dir).map(Action::Email),
        "set_status" => {
            let text = raw.status.unwrap_or_default();
            match IncidentStatus::parse(&text) {
                Some(status @ (IncidentStatus::New | IncidentStatus::Active)) => {
                    Ok(Action::SetStatus(status))
                }
                _ => Err(format!(
                    "invalid status `{text}`: use New or Active (closing needs an analyst's classification)"
                )),
            }
        }
        "set_owner" => required_text(raw.owner, "owner").map(Action::SetOwner),
        _ => required_text(raw.tag, "tag").map(Action::AddTag),
    }
}

fn required_text(value: Option<String>, key: &str) -> Result<String, String> {
    match value.map(|text| text.trim().to_string()) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(format!("missing `{key}`")),
    }
}

fn parse_webhook(raw: RawAction) -> Result<WebhookTarget, String> {
    let url = required_text(raw.url, "url")?;
    let parsed = reqwest::Url::parse(&url).map_err(|err| {
        format!("invalid url `{url}`: {err}; use a URL such as https://host/path")
    })?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(format!("invalid url `{url}`: use an http or https URL"));
    }
    if raw.secret.is_some() && raw.secret_env.is_some() {
        return Err("set `secret` or `secret_env`, not both".into());
    }
    if raw
        .secret
        .as_deref()
        .is_some_and(|secret| secret.is_empty())
    {
        return Err("`secret` is empty; set a secret or remove the key".into());
    }
    Ok(WebhookTarget {
        url,
        secret: raw.secret,
        secret_env: raw.secret_env,
    })
}

/// Parses an email action; a relative `tls_ca_file` is read from
/// `base_dir`, the folder of the automation file.
fn parse_email(raw: RawAction, base_dir: &Path) -> Result<EmailTarget, String> {
    let smtp_host = required_text(raw.smtp_host, "smtp_host")?;
    let starttls = raw.starttls.unwrap_or(true);
    let smtp_port = raw.smtp_port.unwrap_or(if starttls { 587 } else { 25 });

    let from = required_text(raw.from, "from")?;
    check_mailbox(&from, "from")?;
    let to = raw.to.unwrap_or_default();
    if to.is_empty() {
        return Err("missing `to`; list the recipients, such as [\"soc@example.org\"]".into());
    }
    for recipient in &to {
        check_mailbox(recipient, "to")?;
    }

    if raw.password.is_some() && raw.password_env.is_some() {
        return Err("set `password` or `password_env`, not both".into());
    }
    let has_password = raw.password.is_some() || raw.password_env.is_some();
    if raw.username.is_some() != has_password {
        return Err("set both `username` and `password` (or `password_env`), or neither".into());
    }
    if raw.username.is_some() && !starttls {
        return Err(
            "authentication needs `starttls = true`, so that the password is not sent in clear text"
                .into(),
        );
    }

    let tls_ca_file = raw.tls_ca_file.map(|file| base_dir.join(file));
    if let Some(ca_file) = &tls_ca_file
        && !ca_file.is_file()
    {
        return Err(format!(
            "tls_ca_file {} is not a file; give the PEM certificate of the SMTP server or its CA",
            ca_file.display()
        ));
    }
    Ok(EmailTarget {
        smtp_host,
        smtp_port,
        starttls,
        tls_ca_file,
        username: raw.username,
        password: raw.password,
        password_env: raw.password_env,
        from,
        to,
    })
}

fn check_mailbox(text: &str, key: &str) -> Result<(), String> {
    text.parse::<lettre::message::Mailbox>()
        .map(|_| ())
        .map_err(|err| {
            format!(
                "invalid `{key}` address `{text}`: {err}; use an address such as soc@example.org"
            )
        })
}

fn config_error(path: &Path, rule: Option<&str>, reason: String) -> DetectError {
    DetectError::AutomationConfig {
        path: path.to_path_buf(),
        rule: rule.map(str::to_string),
        reason,
    }
}
