//! Type detection for values from CSV and freetext feeds, after MISP's
//! ComplexTypeTool (`app/Lib/Tools/ComplexTypeTool.php`, MISP 2.4 at
//! bb0909a): hashes, IPs with and without CIDR or port, e-mail addresses,
//! URLs, domains and host names, file names, with defanged values refanged.

use std::net::IpAddr;
use std::sync::LazyLock;

use regex::Regex;

/// A value with its detected MISP attribute type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedValue {
    pub attribute_type: &'static str,
    pub value: String,
}

impl TypedValue {
    /// Whether MISP flags values of this type for detection by default.
    pub fn default_to_ids(&self) -> bool {
        !matches!(self.attribute_type, "link" | "AS" | "vulnerability")
    }
}

/// Generic top-level domains. Every two-letter label counts as a
/// country-code TLD, which is ComplexTypeTool's fallback when MISP's IANA
/// TLD warninglist is not loaded.
// NOTE: this is a subset of the IANA list: a domain under a newer generic
// TLD missing here is typed as a file name, as in MISP without the list.
const GENERIC_TLDS: &[&str] = &[
    "aero", "app", "arpa", "asia", "biz", "blog", "cat", "cloud", "club", "com", "coop", "dev",
    "edu", "email", "gov", "host", "icu", "info", "int", "jobs", "live", "link", "mil", "mobi",
    "museum", "name", "net", "network", "news", "onion", "online", "org", "page", "pro", "shop",
    "site", "space", "store", "support", "tech", "tel", "today", "top", "travel", "website",
    "work", "xxx", "xyz",
];

static SSDEEP: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d+:[A-Za-z0-9/+]+:[A-Za-z0-9/+]+$").expect("valid regex"));
static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}$").expect("valid regex")
});
static HOST_LABEL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[A-Za-z0-9_](?:[A-Za-z0-9_\-]*[A-Za-z0-9_])?$").expect("valid regex")
});
static FILE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[^\s/]+\.[A-Za-z0-9]{1,8}$").expect("valid regex"));

/// Returns the hash type of a hex string by its length, if it is one.
fn hash_type(value: &str) -> Option<&'static str> {
    if !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match value.len() {
        32 => Some("md5"),
        40 => Some("sha1"),
        56 => Some("sha224"),
        64 => Some("sha256"),
        96 => Some("sha384"),
        128 => Some("sha512"),
        _ => None,
    }
}

/// Undoes the usual defanging: `hxxp://`, `[.]`, `[dot]`, `(dot)`, `[@]`,
/// `[at]`, `[:]` and a trailing dot.
pub fn refang(value: &str) -> String {
    let mut text = value.to_string();
    let lower = text.to_ascii_lowercase();
    for prefix in ["hxxp", "hxtp", "htxp", "meow", "h[tt]p"] {
        if lower.starts_with(prefix) {
            text = format!("http{}", &text[prefix.len()..]);
            break;
        }
    }
    for (defanged, plain) in [
        ("[.]", "."),
        ("[dot]", "."),
        ("(dot)", "."),
        ("[@]", "@"),
        ("[at]", "@"),
        ("[:]", ":"),
        ("[x]", "x"),
    ] {
        text = text.replace(defanged, plain);
    }
    text.trim_end_matches('.').to_string()
}

/// Whether `value` is an IPv4 or IPv6 address, optionally with a `/prefix`
/// of the address family's range.
pub fn is_ip_or_cidr(value: &str) -> bool {
    let (address, prefix) = match value.split_once('/') {
        Some((address, prefix)) => (address, Some(prefix)),
        None => (value, None),
    };
    let Ok(ip) = address.parse::<IpAddr>() else {
        return false;
    };
    let Some(prefix) = prefix else {
        return true;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    prefix.parse::<u8>().is_ok_and(|bits| bits <= max)
}

fn is_known_tld(label: &str) -> bool {
    let label = label.to_ascii_lowercase();
    (label.len() == 2 && label.bytes().all(|b| b.is_ascii_alphabetic()))
        || GENERIC_TLDS.contains(&label.as_str())
}

/// Detects the type of one value, returning `None` for values that have
/// none (dates, times, words).
pub fn detect(raw: &str) -> Option<TypedValue> {
    let typed = |attribute_type: &'static str, value: &str| {
        Some(TypedValue {
            attribute_type,
            value: value.to_string(),
        })
    };
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    if raw.parse::<IpAddr>().is_ok() {
        return typed("ip-dst", raw);
    }
    if let Some(hash) = hash_type(raw) {
        return typed(hash, raw);
    }
    if let Some((name, hash)) = raw.split_once('|')
        && let Some(hash) = hash_type(hash)
    {
        let composite = match hash {
            "md5" => "filename|md5",
            "sha1" => "filename|sha1",
            "sha256" => "filename|sha256",
            _ => return None,
        };
        return typed(composite, &format!("{name}|{}", raw.split_once('|')?.1));
    }
    // A time such as 16:31:02 has the shape of an ssdeep hash too.
    let is_time = raw.bytes().all(|b| b.is_ascii_digit() || b == b':');
    if SSDEEP.is_match(raw) && !is_time {
        return typed("ssdeep", raw);
    }

    let value = refang(raw);
    if EMAIL.is_match(&value) {
        return typed("email-src", &value);
    }
    if let Some((address, port)) = value.rsplit_once(':')
        && (2..=5).contains(&port.len())
        && port.bytes().all(|b| b.is_ascii_digit())
        && address.parse::<std::net::Ipv4Addr>().is_ok()
    {
        return typed("ip-dst|port", &format!("{address}|{port}"));
    }
    if is_ip_or_cidr(&value) {
        return typed("ip-dst", &value);
    }
    if let Some((scheme, rest)) = value.split_once("://") {
        let is_web = matches!(
            scheme.to_ascii_lowercase().as_str(),
            "http" | "https" | "ftp"
        );
        return (is_web && !rest.is_empty()).then(|| TypedValue {
            attribute_type: "url",
            value: value.clone(),
        });
    }
    if value.contains('\\') {
        let is_registry = value.to_ascii_uppercase().starts_with("HK");
        return typed(if is_registry { "regkey" } else { "filename" }, &value);
    }
    let labels: Vec<&str> = value.split('.').collect();
    if labels.len() >= 2 && labels.iter().all(|label| HOST_LABEL.is_match(label)) {
        let last = labels.last().copied().unwrap_or_default();
        if is_known_tld(last) {
            return typed(
                if labels.len() >= 3 {
                    "hostname"
                } else {
                    "domain"
                },
                &value,
            );
        }
    }
    if value.contains('/') && !value.starts_with('/') {
        let host = value.split('/').next().unwrap_or_default();
        let host_labels: Vec<&str> = host.split('.').collect();
        if host_labels.len() >= 2
            && host_labels.iter().all(|label| HOST_LABEL.is_match(label))
            && is_known_tld(host_labels.last().copied().unwrap_or_default())
        {
            return typed("url", &value);
        }
    }
    if FILE_NAME.is_match(&value)
        && labels
            .last()
            .is_some_and(|ext| !ext.bytes().all(|b| b.is_ascii_digit()))
    {
        return typed("filename", &value);
    }
    if value.len() > 4 && value[..4].eq_ignore_ascii_case("cve-") {
        return typed("vulnerability", &value);
    }
    let upper = value.to_ascii_uppercase();
    if let Some(number) = upper.strip_prefix("AS")
        && !number.is_empty()
        && number.bytes().all(|b| b.is_ascii_digit())
    {
        return typed("AS", &value);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_of(value: &str) -> Option<&'static str> {
        detect(value).map(|typed| typed.attribute_type)
    }

    #[test]
    fn detects_network_values() {
        assert_eq!(type_of("192.0.2.1"), Some("ip-dst"));
        assert_eq!(type_of("2001:db8::1"), Some("ip-dst"));
        assert_eq!(type_of("192.0.2.0/24"), Some("ip-dst"));
        assert_eq!(type_of("192.0.2.1:8080"), Some("ip-dst|port"));
        assert_eq!(type_of("example.com"), Some("domain"));
        assert_eq!(type_of("a.b.example.com"), Some("hostname"));
        assert_eq!(type_of("update-ipsets.sh"), Some("domain"));
        assert_eq!(type_of("https://example.com/a"), Some("url"));
    }

    #[test]
    fn refangs_defanged_values() {
        assert_eq!(
            detect("hxxp://evil[.]example/x").unwrap().value,
            "http://evil.example/x"
        );
        assert_eq!(detect("1.2.3[.]4").unwrap().value, "1.2.3.4");
        assert_eq!(type_of("a[@]example.com"), Some("email-src"));
    }

    #[test]
    fn detects_hashes_and_files() {
        assert_eq!(type_of(&"a".repeat(32)), Some("md5"));
        assert_eq!(type_of(&"b".repeat(64)), Some("sha256"));
        assert_eq!(type_of("invoice.docm"), Some("filename"));
    }

    #[test]
    fn words_dates_and_times_have_no_type() {
        for value in [
            "Submission",
            "2018-07-02",
            "16:31:02",
            "#",
            "1",
            "FireHOL's",
        ] {
            assert_eq!(type_of(value), None, "{value}");
        }
    }
}
