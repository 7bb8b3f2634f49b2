//! Matching values and stored events against indicators.
//!
//! IP addresses match an indicator's IP columns exactly and its CIDR
//! columns by containment, so `10.1.2.3` matches `10.0.0.0/8`. Other
//! observables match exactly, ignoring ASCII case.

use std::collections::BTreeMap;
use std::net::IpAddr;

use arrow::array::{Array, AsArray};
use arrow::datatypes::Int64Type;
use serde::Serialize;
use store::Workspace;
use store::schema::TIME_TICKS_COLUMN;
use store::tables::SECURITY_EVENT;

use crate::error::IntelError;
use crate::stored::{StoredIndicator, read_columns, text_column};

const IP_COLUMNS: &[&str] = &[
    "NetworkIP",
    "NetworkSourceIP",
    "NetworkDestinationIP",
    "EmailSourceIpAddress",
];
const CIDR_COLUMNS: &[&str] = &[
    "NetworkCidrBlock",
    "NetworkSourceCidrBlock",
    "NetworkDestinationCidrBlock",
];

/// An IP network: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNetwork {
    address: IpAddr,
    prefix: u8,
}

impl IpNetwork {
    /// Parses `a.b.c.d/nn`, an IPv6 CIDR, or a bare address (a /32 or /128).
    pub fn parse(text: &str) -> Option<IpNetwork> {
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (
                address.parse::<IpAddr>().ok()?,
                Some(prefix.parse::<u8>().ok()?),
            ),
            None => (text.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNetwork { address, prefix })
    }

    /// Whether `ip` lies in this network.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(network), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(network) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(network), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(network) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The observable column of an indicator that a value matched.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndicatorMatch {
    pub column: String,
    pub observable: String,
    pub indicator: StoredIndicator,
}

/// Returns the indicators whose observables match `value`, active or not.
pub fn lookup(indicators: &[StoredIndicator], value: &str) -> Vec<IndicatorMatch> {
    let value = value.trim();
    let ip = value.parse::<IpAddr>().ok();
    let mut matches = Vec::new();
    for indicator in indicators {
        for (column, observable) in &indicator.observables {
            let matched = match ip {
                Some(ip) if CIDR_COLUMNS.contains(&column.as_str()) => {
                    IpNetwork::parse(observable).is_some_and(|network| network.contains(ip))
                }
                Some(ip) if IP_COLUMNS.contains(&column.as_str()) => observable
                    .parse::<IpAddr>()
                    .is_ok_and(|candidate| candidate == ip),
                _ => observable.eq_ignore_ascii_case(value),
            };
            if matched {
                matches.push(IndicatorMatch {
                    column: column.clone(),
                    observable: observable.clone(),
                    indicator: indicator.clone(),
                });
                break;
            }
        }
    }
    matches
}

/// An index of the IP observables of current indicators.
pub struct IpIndex<'a> {
    exact: BTreeMap<IpAddr, Vec<&'a StoredIndicator>>,
    networks: Vec<(IpNetwork, &'a StoredIndicator)>,
}

impl<'a> IpIndex<'a> {
    /// Indexes the indicators that are current at `now_ticks` and pass
    /// `keep`.
    pub fn new(
        indicators: &'a [StoredIndicator],
        now_ticks: i64,
        keep: impl Fn(&StoredIndicator) -> bool,
    ) -> IpIndex<'a> {
        let mut index = IpIndex {
            exact: BTreeMap::new(),
            networks: Vec::new(),
        };
        for indicator in indicators
            .iter()
            .filter(|i| i.is_current(now_ticks) && keep(i))
        {
            let mut seen = Vec::new();
            for (column, observable) in &indicator.observables {
                if IP_COLUMNS.contains(&column.as_str())
                    && let Ok(ip) = observable.parse::<IpAddr>()
                    && !seen.contains(&ip)
                {
                    seen.push(ip);
                    index.exact.entry(ip).or_default().push(indicator);
                } else if CIDR_COLUMNS.contains(&column.as_str())
                    && let Some(network) = IpNetwork::parse(observable)
                    && !index
                        .networks
                        .iter()
                        .any(|(n, i)| *n == network && std::ptr::eq(*i, indicator))
                {
                    index.networks.push((network, indicator));
                }
            }
        }
        index
    }

    pub fn is_empty(&self) -> bool {
        self.exact.is_empty() && self.networks.is_empty()
    }

    /// Returns the indicators that `ip` matches.
    pub fn matches(&self, ip: IpAddr) -> Vec<&'a StoredIndicator> {
        let mut found: Vec<&StoredIndicator> = self.exact.get(&ip).cloned().unwrap_or_default();
        found.extend(
            self.networks
                .iter()
                .filter(|(network, _)| network.contains(ip))
                .map(|(_, indicator)| *indicator),
        );
        found
    }
}

/// Events of one table column whose value matched one indicator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetroMatch {
    pub table: String,
    pub column: String,
    /// The event value that matched.
    pub value: String,
    pub indicator: StoredIndicator,
    pub events: u64,
    /// `TimeGenerated` of the first and last matching event, in ticks.
    pub first_ticks: i64,
    pub last_ticks: i64,
    /// The computers the matching events came from, sorted.
    pub computers: Vec<String>,
}

/// `SecurityEvent` columns that hold a remote IP address.
pub const SECURITY_EVENT_IP_COLUMNS: &[&str] = &["IpAddress", "ClientIPAddress", "RemoteIpAddress"];

/// Searches stored `SecurityEvent` rows for IP addresses that match an
/// indicator current at `now_ticks` and passing `keep`, and returns one
/// match per (column, value, indicator).
///
/// NOTE: this reads the IP columns of every stored event; time pruning by
/// a lookback window is not applied yet.
pub async fn retro_hunt(
    workspace: &Workspace,
    indicators: &[StoredIndicator],
    now_ticks: i64,
    keep: impl Fn(&StoredIndicator) -> bool,
) -> Result<Vec<RetroMatch>, IntelError> {
    let index = IpIndex::new(indicators, now_ticks, keep);
    if index.is_empty() {
        return Ok(Vec::new());
    }
    let mut columns = vec![TIME_TICKS_COLUMN, "Computer"];
    columns.extend_from_slice(SECURITY_EVENT_IP_COLUMNS);
    let Some(batches) = read_columns(workspace, SECURITY_EVENT.name, &columns).await? else {
        return Ok(Vec::new());
    };

    let mut found: BTreeMap<(String, String, String), RetroMatch> = BTreeMap::new();
    for batch in &batches {
        let ticks = batch
            .column_by_name(TIME_TICKS_COLUMN)
            .ok_or_else(|| IntelError::Internal("tick column missing from the scan".into()))?
            .as_primitive::<Int64Type>()
            .clone();
        let computers = text_column(batch, "Computer")?;
        let computers = computers.as_string::<i32>();
        for column in SECURITY_EVENT_IP_COLUMNS {
            let values = text_column(batch, column)?;
            let values = values.as_string::<i32>();
            for row in 0..batch.num_rows() {
                if values.is_null(row) {
                    continue;
                }
                let value = values.value(row);
                let Ok(ip) = value.trim().parse::<IpAddr>() else {
                    continue;
                };
                for indicator in index.matches(ip) {
                    let key = (
                        column.to_string(),
                        value.to_string(),
                        indicator.indicator_id.clone(),
                    );
                    let time = ticks.value(row);
                    let entry = found.entry(key).or_insert_with(|| RetroMatch {
                        table: SECURITY_EVENT.name.to_string(),
                        column: column.to_string(),
                        value: value.to_string(),
                        indicator: indicator.clone(),
                        events: 0,
                        first_ticks: time,
                        last_ticks: time,
                        computers: Vec::new(),
                    });
                    entry.events += 1;
                    entry.first_ticks = entry.first_ticks.min(time);
                    entry.last_ticks = entry.last_ticks.max(time);
                    if !computers.is_null(row) {
                        let computer = computers.value(row).to_string();
                        if let Err(position) = entry.computers.binary_search(&computer) {
                            entry.computers.insert(position, computer);
                        }
                    }
                }
            }
        }
    }
    Ok(found.into_values().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_containment() {
        let network = IpNetwork::parse("10.0.0.0/8").unwrap();
        assert!(network.contains("10.1.2.3".parse().unwrap()));
        assert!(!network.contains("11.0.0.1".parse().unwrap()));
        assert!(
            IpNetwork::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
        let v6 = IpNetwork::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8::1".parse().unwrap()));
        assert!(!v6.contains("10.0.0.1".parse().unwrap()));
        assert_eq!(IpNetwork::parse("10.0.0.0/33"), None);
    }

    fn indicator(column: &str, value: &str) -> StoredIndicator {
        StoredIndicator {
            indicator_id: format!("id-{value}"),
            external_id: String::new(),
            source_system: "test".into(),
            threat_type: "WatchList".into(),
            active: true,
            confidence: 50.0,
            time_ticks: 0,
            expires_ticks: Some(100),
            tlp: "Red".into(),
            description: String::new(),
            observables: BTreeMap::from([(column.to_string(), value.to_string())]),
        }
    }

    #[test]
    fn lookup_ip_domain_and_cidr() {
        let indicators = [
            indicator("NetworkIP", "192.0.2.1"),
            indicator("NetworkCidrBlock", "198.51.100.0/24"),
            indicator("DomainName", "Evil.example"),
        ];
        assert_eq!(lookup(&indicators, "192.0.2.1").len(), 1);
        assert_eq!(lookup(&indicators, "198.51.100.77").len(), 1);
        assert_eq!(lookup(&indicators, "evil.example").len(), 1);
        assert!(lookup(&indicators, "192.0.2.2").is_empty());
    }

    #[test]
    fn index_skips_expired_and_filtered() {
        let indicators = [
            indicator("NetworkIP", "192.0.2.1"),
            indicator("NetworkIP", "192.0.2.2"),
        ];
        let index = IpIndex::new(&indicators, 50, |i| i.indicator_id != "id-192.0.2.2");
        assert_eq!(index.matches("192.0.2.1".parse().unwrap()).len(), 1);
        assert!(index.matches("192.0.2.2".parse().unwrap()).is_empty());
        let expired = IpIndex::new(&indicators, 200, |_| true);
        assert!(expired.is_empty());
    }
}
