//! `homesoc.toml`: the server's configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{ServerError, io_error};

/// The default listen address: loopback only.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8443";

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Address and port to listen on.
    #[serde(default = "default_listen")]
    pub listen: String,
    #[serde(default)]
    pub tls: TlsConfig,
    #[serde(default)]
    pub limits: Limits,
    /// Seconds between background flushes of live rows to the Delta tables.
    #[serde(default = "default_flush_interval")]
    pub flush_interval_secs: u64,
    /// Data collection rules of the Logs Ingestion API.
    #[serde(default, rename = "data_collection_rule")]
    pub data_collection_rules: Vec<DataCollectionRule>,
    #[serde(default)]
    pub syslog: SyslogConfig,
}

/// Syslog listeners; each one is off unless its address is set.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyslogConfig {
    /// Address of the UDP listener (RFC 5426), such as `127.0.0.1:5514`.
    pub udp: Option<String>,
    /// Address of the TCP listener (RFC 6587 framing).
    pub tcp: Option<String>,
    /// Address of the TLS listener (RFC 5425), which serves the HTTPS
    /// certificate.
    pub tls: Option<String>,
    /// Maximum bytes of one message; longer messages are dropped and counted.
    pub max_message_bytes: Option<usize>,
    /// Maximum open TCP and TLS connections per listener.
    pub max_connections: Option<usize>,
}

/// TLS settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// Serve HTTPS. Turning it off is for local tests only.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// PEM certificate chain; the generated one when unset.
    pub cert: Option<PathBuf>,
    /// PEM private key; the generated one when unset.
    pub key: Option<PathBuf>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            enabled: true,
            cert: None,
            key: None,
        }
    }
}

/// Size limits of ingestion requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Bytes of a request body, after decompression.
    #[serde(default = "default_max_body")]
    pub max_body_bytes: usize,
    /// Records in one request.
    #[serde(default = "default_max_records")]
    pub max_records: usize,
    /// Fields of one record.
    #[serde(default = "default_max_fields")]
    pub max_fields: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: default_max_body(),
            max_records: default_max_records(),
            max_fields: default_max_fields(),
        }
    }
}

/// One data collection rule: an immutable id and its streams.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataCollectionRule {
    /// The rule id that clients send, such as `dcr-00000000000000000000000000000000`.
    pub id: String,
    #[serde(default, rename = "stream")]
    pub streams: Vec<StreamConfig>,
}

/// One stream of a data collection rule.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamConfig {
    /// The stream name clients send, such as `Custom-MyEvents`.
    pub name: String,
    /// The stored table the rows go to.
    pub table: String,
    /// KQL run on every batch, which is the table `source`.
    #[serde(default = "default_transform")]
    pub transform_kql: String,
    /// Declared input columns and their KQL types; other fields get the
    /// type of their JSON value.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

fn default_listen() -> String {
    DEFAULT_LISTEN.to_string()
}
fn yes() -> bool {
    true
}
fn default_max_body() -> usize {
    64 * 1024 * 1024
}
fn default_max_records() -> usize {
    100_000
}
fn default_max_fields() -> usize {
    1000
}
fn default_flush_interval() -> u64 {
    5
}
fn default_transform() -> String {
    "source".to_string()
}

/// The file written on first run: every setting with its default, commented.
pub const DEFAULT_CONFIG: &str = r#"# homesoc server configuration, read by `homesoc up`.
# Command-line flags (--listen, --tls-cert, --tls-key, --no-tls) override it.

# Address to listen on. 127.0.0.1 accepts local connections only; to accept
# other machines, set 0.0.0.0:8443 here and start with --allow-remote.
listen = "127.0.0.1:8443"

# Seconds between flushes of live rows from the write-ahead log to the
# Delta tables. Rows are queryable as soon as they are acknowledged.
flush_interval_secs = 5

[tls]
# HTTPS with the certificate generated on first run under tls/ in the
# data folder. Give your own with cert and key (PEM files).
enabled = true
# cert = "/etc/homesoc/cert.pem"
# key = "/etc/homesoc/key.pem"

[limits]
# Largest request body after decompression, records per request and
# fields per record. Larger requests or records are refused and counted.
max_body_bytes = 67108864
max_records = 100000
max_fields = 1000

[syslog]
# Syslog listeners (RFC 5424, RFC 3164 and CEF) into the Syslog and
# CommonSecurityLog tables. Each is off until its address is set; the
# flags --syslog-udp, --syslog-tcp and --syslog-tls override these. Ports
# below 1024, such as 514, need root or CAP_NET_BIND_SERVICE. The TLS
# listener serves the same certificate as HTTPS.
# udp = "127.0.0.1:5514"
# tcp = "127.0.0.1:5514"
# tls = "127.0.0.1:6514"
# max_message_bytes = 65536
# max_connections = 1024

# Data collection rules of the Logs Ingestion API:
# POST /dataCollectionRules/{id}/streams/{stream}?api-version=2023-01-01
# Each stream names the stored table its rows go to and a transformKql that
# runs on every batch (the batch is the table `source`), as in Azure.
[[data_collection_rule]]
id = "dcr-homesoc"

[[data_collection_rule.stream]]
name = "Custom-WindowsEvents"
table = "Event"
transform_kql = "source"
# Declared input columns and their KQL types. Undeclared fields get the
# type of their JSON value (string, long, real, bool or dynamic).
columns = { TimeGenerated = "datetime", EventID = "int" }
"#;

impl Config {
    /// Reads the configuration at `path`.
    pub fn load(path: &Path) -> Result<Config, ServerError> {
        let text = std::fs::read_to_string(path).map_err(|source| io_error(path, source))?;
        let config: Config = toml::from_str(&text).map_err(|err| ServerError::Config {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    /// Reads the configuration at `path`, writing the default one first
    /// when the file does not exist. Returns whether it was written.
    pub fn load_or_create(path: &Path) -> Result<(Config, bool), ServerError> {
        if path.exists() {
            return Ok((Config::load(path)?, false));
        }
        std::fs::write(path, DEFAULT_CONFIG).map_err(|source| io_error(path, source))?;
        Ok((Config::load(path)?, true))
    }

    fn validate(&self, path: &Path) -> Result<(), ServerError> {
        let invalid = |reason: String| ServerError::Config {
            path: path.to_path_buf(),
            reason,
        };
        for rule in &self.data_collection_rules {
            for stream in &rule.streams {
                if !store::tables::ALL_TABLES
                    .iter()
                    .any(|t| t.name == stream.table)
                {
                    let known: Vec<&str> =
                        store::tables::ALL_TABLES.iter().map(|t| t.name).collect();
                    return Err(invalid(format!(
                        "stream {} of rule {} writes to unknown table {}; use one of {}",
                        stream.name,
                        rule.id,
                        stream.table,
                        known.join(", ")
                    )));
                }
                for (column, ty) in &stream.columns {
                    if crate::dcr::parse_kql_type(ty).is_none() {
                        return Err(invalid(format!(
                            "column {column} of stream {} has unknown type {ty}; use string, int, long, real, bool, datetime, guid, timespan or dynamic",
                            stream.name
                        )));
                    }
                }
                if let Err(err) = kql::parse(&stream.transform_kql) {
                    return Err(invalid(format!(
                        "transform_kql of stream {} does not parse: {}",
                        stream.name,
                        kql::render_diagnostic(&stream.transform_kql, &err)
                    )));
                }
            }
        }
        Ok(())
    }

    /// Finds the stream `name` of rule `rule_id`.
    pub fn stream(&self, rule_id: &str, name: &str) -> Option<&StreamConfig> {
        self.data_collection_rules
            .iter()
            .find(|rule| rule.id == rule_id)?
            .streams
            .iter()
            .find(|stream| stream.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_parses() {
        let config: Config = toml::from_str(DEFAULT_CONFIG).unwrap();
        config.validate(Path::new("homesoc.toml")).unwrap();
        assert_eq!(config.listen, DEFAULT_LISTEN);
        assert!(
            config
                .stream("dcr-homesoc", "Custom-WindowsEvents")
                .is_some()
        );
    }
}
