//! MISP attribute types to `ThreatIntelligenceIndicator` columns.
//!
//! This is the column mapping misp2sentinel used when it wrote the legacy
//! table through the Graph tiIndicators API
//! (cudeso/misp2sentinel RequestObject.py at 8255fdd, with
//! `network_ignore_direction = True`), with two changes: a composite value
//! that does not split into exactly two parts at `|` is rejected, and
//! `ExternalIndicatorId` is the attribute UUID rather than the event UUID.

use crate::indicator::{ObservableValue, Observables};

/// Why an attribute yields no indicator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The type has no column in the table (for example `regkey` or `link`).
    NoColumn,
    /// A composite type (`a|b`) whose value does not split into two parts.
    MalformedComposite,
    /// The value does not parse as the type says, for example a port that is
    /// not a number.
    InvalidValue,
}

/// Hash types with their `FileHashType`. Any other hash type is `unknown`.
const HASH_TYPES: &[(&str, &str)] = &[("md5", "md5"), ("sha1", "sha1"), ("sha256", "sha256")];

/// Hash types misp2sentinel accepts beyond md5, sha1 and sha256.
const OTHER_HASH_TYPES: &[&str] = &[
    "authentihash",
    "impfuzzy",
    "imphash",
    "pehash",
    "sha224",
    "sha384",
    "sha512",
    "sha512/224",
    "sha512/256",
    "sha3-224",
    "sha3-256",
    "sha3-384",
    "sha3-512",
    "ssdeep",
    "tlsh",
];

fn hash_type_name(attribute_type: &str) -> Option<&'static str> {
    if let Some((_, name)) = HASH_TYPES.iter().find(|(t, _)| *t == attribute_type) {
        return Some(name);
    }
    OTHER_HASH_TYPES
        .contains(&attribute_type)
        .then_some("unknown")
}

/// Returns the columns that an attribute of `attribute_type` with `value`
/// fills.
pub fn observables(attribute_type: &str, value: &str) -> Result<Observables, Rejection> {
    let mut columns = Observables::new();
    let mut set = |column: &str, text: &str| {
        columns.insert(column.to_string(), ObservableValue::Text(text.to_string()));
    };

    if let Some((left_type, right_type)) = attribute_type.split_once('|') {
        let parts: Vec<&str> = value.split('|').collect();
        let [left, right] = parts.as_slice() else {
            return Err(Rejection::MalformedComposite);
        };
        return composite(left_type, right_type, left, right);
    }

    if let Some(hash_type) = hash_type_name(attribute_type) {
        set("FileHashValue", value);
        set("FileHashType", hash_type);
        return Ok(columns);
    }
    match attribute_type {
        "ip-dst" | "ip-src" => {
            let (ip_column, cidr_column) = if attribute_type == "ip-dst" {
                ("NetworkDestinationIP", "NetworkDestinationCidrBlock")
            } else {
                ("NetworkSourceIP", "NetworkSourceCidrBlock")
            };
            if value.contains('/') {
                set(cidr_column, value);
                set("NetworkCidrBlock", value);
            } else {
                set(ip_column, value);
                set("NetworkIP", value);
            }
        }
        "domain" | "hostname" => set("DomainName", value),
        "url" => {
            if value.contains("://") {
                set("Url", value);
            } else {
                set("Url", &format!("http://{value}"));
            }
        }
        "email-src" => {
            set("EmailSenderAddress", value);
            if let Some((_, domain)) = value.rsplit_once('@') {
                set("EmailSourceDomain", domain);
            }
        }
        "filename" => set("FileName", value),
        "email-dst" => set("EmailRecipient", value),
        "email-subject" => set("EmailSubject", value),
        "email-x-mailer" => set("EmailXMailer", value),
        "email-src-display-name" => set("EmailSenderName", value),
        "mutex" => set("FileMutexName", value),
        "user-agent" => set("UserAgent", value),
        "malware-type" => set("MalwareNames", value),
        "port" => return int_column(columns, "NetworkPort", value),
        "AS" => {
            let number = value.trim_start_matches("AS").trim_start_matches("as");
            return int_column(columns, "NetworkSourceAsn", number);
        }
        "size-in-bytes" => return int_column(columns, "FileSize", value),
        _ => return Err(Rejection::NoColumn),
    }
    Ok(columns)
}

fn int_column(
    mut columns: Observables,
    column: &str,
    value: &str,
) -> Result<Observables, Rejection> {
    let number: i32 = value.trim().parse().map_err(|_| Rejection::InvalidValue)?;
    columns.insert(column.to_string(), ObservableValue::Int(number));
    Ok(columns)
}

fn composite(
    left_type: &str,
    right_type: &str,
    left: &str,
    right: &str,
) -> Result<Observables, Rejection> {
    let mut columns = Observables::new();
    let text = |s: &str| ObservableValue::Text(s.to_string());
    match (left_type, right_type) {
        ("filename", hash) => {
            let hash_type = hash_type_name(hash).ok_or(Rejection::NoColumn)?;
            columns.insert("FileName".into(), text(left));
            columns.insert("FileHashValue".into(), text(right));
            columns.insert("FileHashType".into(), text(hash_type));
        }
        ("ip-dst" | "ip-src", "port") => {
            let port: i32 = right.trim().parse().map_err(|_| Rejection::InvalidValue)?;
            let (ip_column, port_column) = if left_type == "ip-dst" {
                ("NetworkDestinationIP", "NetworkDestinationPort")
            } else {
                ("NetworkSourceIP", "NetworkSourcePort")
            };
            columns.insert(ip_column.into(), text(left));
            columns.insert("NetworkIP".into(), text(left));
            columns.insert(port_column.into(), ObservableValue::Int(port));
            columns.insert("NetworkPort".into(), ObservableValue::Int(port));
        }
        ("domain", "ip") => {
            columns.insert("DomainName".into(), text(left));
            columns.insert("NetworkIP".into(), text(right));
        }
        _ => return Err(Rejection::NoColumn),
    }
    Ok(columns)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(columns: &Observables) -> Vec<&str> {
        columns.keys().map(String::as_str).collect()
    }

    #[test]
    fn ip_and_cidr_columns() {
        let ip = observables("ip-dst", "192.0.2.1").unwrap();
        assert_eq!(keys(&ip), ["NetworkDestinationIP", "NetworkIP"]);
        let cidr = observables("ip-src", "192.0.2.0/24").unwrap();
        assert_eq!(keys(&cidr), ["NetworkCidrBlock", "NetworkSourceCidrBlock"]);
    }

    #[test]
    fn url_without_scheme_gets_http() {
        let url = observables("url", "example.com/a").unwrap();
        assert_eq!(
            url["Url"],
            ObservableValue::Text("http://example.com/a".into())
        );
    }

    #[test]
    fn composites() {
        let file = observables("filename|sha256", "a.exe|abcd").unwrap();
        assert_eq!(keys(&file), ["FileHashType", "FileHashValue", "FileName"]);
        assert_eq!(
            observables("filename|sha256", "abcd"),
            Err(Rejection::MalformedComposite)
        );
        let port = observables("ip-dst|port", "192.0.2.1|443").unwrap();
        assert_eq!(port["NetworkPort"], ObservableValue::Int(443));
        assert_eq!(observables("regkey|value", "a|b"), Err(Rejection::NoColumn));
    }

    #[test]
    fn other_hashes_are_unknown() {
        let hash = observables("ssdeep", "3:abc:def").unwrap();
        assert_eq!(
            hash["FileHashType"],
            ObservableValue::Text("unknown".into())
        );
        assert_eq!(observables("link", "https://x"), Err(Rejection::NoColumn));
    }
}
