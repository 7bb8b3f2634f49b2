//! IPv4 functions: parsing, masking, comparison, private ranges and the
//! `has_ipv4` family that finds addresses inside free text.
//!
//! An address argument is text such as `192.168.1.1` or `192.168.1.1/24`;
//! the suffix is a prefix length from 0 to 32. Text that is not such an
//! address makes the function return null (`false` for the `has_*`
//! functions, as Kusto does).

use serde_json::Value;

use super::JsonFunction;
use kql::KqlType;

pub const IPV4_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("parse_ipv4", 1, 1, KqlType::Long, parse_ipv4),
    JsonFunction::new("parse_ipv4_mask", 2, 2, KqlType::Long, parse_ipv4_mask),
    JsonFunction::new("ipv4_is_private", 1, 1, KqlType::Bool, ipv4_is_private),
    JsonFunction::new("ipv4_is_in_range", 2, 2, KqlType::Bool, ipv4_is_in_range),
    JsonFunction::new(
        "ipv4_is_in_any_range",
        2,
        usize::MAX,
        KqlType::Bool,
        ipv4_is_in_any_range,
    ),
    JsonFunction::new("ipv4_is_match", 2, 3, KqlType::Bool, ipv4_is_match),
    JsonFunction::new("ipv4_compare", 2, 3, KqlType::Long, ipv4_compare),
    JsonFunction::new(
        "ipv4_netmask_suffix",
        1,
        1,
        KqlType::Int,
        ipv4_netmask_suffix,
    ),
    JsonFunction::new("format_ipv4", 1, 2, KqlType::String, format_ipv4),
    JsonFunction::new(
        "ipv4_range_to_cidr_list",
        2,
        2,
        KqlType::Dynamic,
        ipv4_range_to_cidr_list,
    ),
    JsonFunction::new("format_ipv4_mask", 1, 2, KqlType::String, format_ipv4_mask),
    JsonFunction::new("has_ipv4", 2, 2, KqlType::Bool, has_ipv4),
    JsonFunction::new("has_ipv4_prefix", 2, 2, KqlType::Bool, has_ipv4_prefix),
    JsonFunction::new("has_any_ipv4", 2, usize::MAX, KqlType::Bool, has_any_ipv4),
    JsonFunction::new(
        "has_any_ipv4_prefix",
        2,
        usize::MAX,
        KqlType::Bool,
        has_any_ipv4_prefix,
    ),
];

/// An IPv4 address with the prefix length written after it (32 when none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv4Prefix {
    pub address: u32,
    pub prefix: u32,
}

impl Ipv4Prefix {
    /// Returns the address with the bits past the prefix cleared.
    pub fn network(self) -> u32 {
        self.address & mask(self.prefix)
    }
}

/// Returns the netmask of a prefix length from 0 to 32.
fn mask(prefix: u32) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix.min(32))
    }
}

/// Parses four dotted decimal octets, each 0 to 255.
pub fn parse_address(text: &str) -> Option<u32> {
    let mut octets = text.split('.');
    let mut address = 0u32;
    for _ in 0..4 {
        let octet = octets.next()?;
        if octet.is_empty() || octet.len() > 3 || !octet.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let value: u32 = octet.parse().ok()?;
        if value > 255 {
            return None;
        }
        address = (address << 8) | value;
    }
    octets.next().is_none().then_some(address)
}

/// Parses `a.b.c.d` or `a.b.c.d/prefix`, with surrounding spaces allowed.
pub fn parse_prefix(text: &str) -> Option<Ipv4Prefix> {
    let text = text.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, prefix.trim().parse::<u32>().ok()?),
        None => (text, 32),
    };
    if prefix > 32 {
        return None;
    }
    Some(Ipv4Prefix {
        address: parse_address(address.trim())?,
        prefix,
    })
}

fn prefix_arg(value: &Value) -> Option<Ipv4Prefix> {
    match value {
        Value::String(text) => parse_prefix(text),
        _ => None,
    }
}

/// Reads a prefix length argument; it must be an integer from 0 to 32.
fn prefix_length(value: &Value) -> Option<u32> {
    value
        .as_i64()
        .and_then(|n| u32::try_from(n).ok())
        .filter(|n| *n <= 32)
}

fn format_address(address: u32) -> String {
    std::net::Ipv4Addr::from(address).to_string()
}

fn parse_ipv4(args: &[Value]) -> Value {
    prefix_arg(&args[0]).map_or(Value::Null, |ip| Value::from(ip.network()))
}

fn parse_ipv4_mask(args: &[Value]) -> Value {
    let (Some(ip), Some(prefix)) = (prefix_arg(&args[0]), prefix_length(&args[1])) else {
        return Value::Null;
    };
    Value::from(ip.address & mask(prefix.min(ip.prefix)))
}

/// The private ranges of RFC 1918.
const PRIVATE_RANGES: [(u32, u32); 3] = [
    (0x0A00_0000, 8),  // 10.0.0.0/8
    (0xAC10_0000, 12), // 172.16.0.0/12
    (0xC0A8_0000, 16), // 192.168.0.0/16
];

fn ipv4_is_private(args: &[Value]) -> Value {
    let Some(ip) = prefix_arg(&args[0]) else {
        return Value::Null;
    };
    let private = PRIVATE_RANGES
        .iter()
        .any(|(network, prefix)| ip.address & mask(*prefix) == *network);
    Value::Bool(private)
}

fn in_range(ip: Ipv4Prefix, range: Ipv4Prefix) -> bool {
    let prefix = range.prefix.min(ip.prefix);
    ip.address & mask(prefix) == range.address & mask(prefix)
}

fn ipv4_is_in_range(args: &[Value]) -> Value {
    match (prefix_arg(&args[0]), prefix_arg(&args[1])) {
        (Some(ip), Some(range)) => Value::Bool(in_range(ip, range)),
        _ => Value::Null,
    }
}

/// Flattens the arguments after the first: each is one value or a dynamic
/// array of values.
fn list_args(args: &[Value]) -> Vec<&Value> {
    args.iter()
        .flat_map(|arg| match arg {
            Value::Array(items) => items.iter().collect(),
            other => vec![other],
        })
        .collect()
}

fn ipv4_is_in_any_range(args: &[Value]) -> Value {
    let Some(ip) = prefix_arg(&args[0]) else {
        return Value::Null;
    };
    let ranges = list_args(&args[1..]);
    Value::Bool(
        ranges
            .into_iter()
            .filter_map(prefix_arg)
            .any(|range| in_range(ip, range)),
    )
}

/// Compares two addresses on the shortest of their prefixes and the
/// optional third argument.
fn compare(args: &[Value]) -> Option<std::cmp::Ordering> {
    let first = prefix_arg(&args[0])?;
    let second = prefix_arg(&args[1])?;
    let mut prefix = first.prefix.min(second.prefix);
    if let Some(limit) = args.get(2) {
        prefix = prefix.min(prefix_length(limit)?);
    }
    Some((first.address & mask(prefix)).cmp(&(second.address & mask(prefix))))
}

fn ipv4_is_match(args: &[Value]) -> Value {
    compare(args).map_or(Value::Null, |order| Value::Bool(order.is_eq()))
}

fn ipv4_compare(args: &[Value]) -> Value {
    compare(args).map_or(Value::Null, |order| Value::from(order as i64))
}

/// `ipv4_range_to_cidr_list(start, end)`: the fewest CIDR ranges that
/// cover the addresses from `start` to `end`, in order.
fn ipv4_range_to_cidr_list(args: &[Value]) -> Value {
    let (Some(start), Some(end)) = (prefix_arg(&args[0]), prefix_arg(&args[1])) else {
        return Value::Null;
    };
    let (mut next, end) = (u64::from(start.address), u64::from(end.address));
    let mut ranges = Vec::new();
    while next <= end {
        // The largest block that starts at `next` (aligned) and ends by `end`.
        let mut size: u64 = if next == 0 {
            1 << 32
        } else {
            next & next.wrapping_neg()
        };
        while next + size - 1 > end {
            size /= 2;
        }
        let prefix = 32 - size.trailing_zeros();
        ranges.push(Value::String(format!(
            "{}/{prefix}",
            format_address(next as u32)
        )));
        next += size;
    }
    Value::Array(ranges)
}

fn ipv4_netmask_suffix(args: &[Value]) -> Value {
    prefix_arg(&args[0]).map_or(Value::Null, |ip| Value::from(ip.prefix))
}

/// Reads the address and the optional prefix length of `format_ipv4`;
/// the shorter of the written and the given prefix applies.
fn format_args(args: &[Value]) -> Option<Ipv4Prefix> {
    let ip = prefix_arg(&args[0])?;
    let prefix = match args.get(1) {
        Some(limit) => prefix_length(limit)?.min(ip.prefix),
        None => ip.prefix,
    };
    Some(Ipv4Prefix {
        address: ip.address & mask(prefix),
        prefix,
    })
}

fn format_ipv4(args: &[Value]) -> Value {
    let text = format_args(args).map_or(String::new(), |ip| format_address(ip.address));
    Value::String(text)
}

fn format_ipv4_mask(args: &[Value]) -> Value {
    let text = format_args(args).map_or(String::new(), |ip| {
        format!("{}/{}", format_address(ip.address), ip.prefix)
    });
    Value::String(text)
}

/// Returns the valid IPv4 addresses in free text: runs of digits and dots
/// that no letter, digit or dot touches and that parse as four octets.
pub fn addresses_in_text(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        if !bytes[start].is_ascii_digit() {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            end += 1;
        }
        let touches_before = start > 0 && bytes[start - 1].is_ascii_alphanumeric();
        let touches_after = end < bytes.len() && bytes[end].is_ascii_alphanumeric();
        let candidate = &text[start..end];
        if !touches_before && !touches_after && parse_address(candidate).is_some() {
            found.push(candidate);
        }
        start = end;
    }
    found
}

fn text_arg(value: &Value) -> &str {
    match value {
        Value::String(text) => text,
        _ => "",
    }
}

/// Checks a `has_ipv4_prefix` prefix: a whole address, or one to three
/// octets followed by a dot.
fn valid_prefix(prefix: &str) -> bool {
    if parse_address(prefix).is_some() {
        return true;
    }
    let Some(octets) = prefix.strip_suffix('.') else {
        return false;
    };
    let parts: Vec<&str> = octets.split('.').collect();
    parts.len() <= 3
        && parts.iter().all(|part| {
            !part.is_empty()
                && part.len() <= 3
                && part.bytes().all(|b| b.is_ascii_digit())
                && part.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

fn any_address(text: &str, wanted: &[&Value], matches: fn(&str, &str) -> bool) -> bool {
    let addresses = addresses_in_text(text);
    wanted.iter().any(|value| {
        let wanted = text_arg(value);
        addresses.iter().any(|address| matches(address, wanted))
    })
}

fn same_address(address: &str, wanted: &str) -> bool {
    parse_address(wanted).is_some() && address == wanted
}

fn starts_with_prefix(address: &str, prefix: &str) -> bool {
    valid_prefix(prefix) && address.starts_with(prefix)
}

fn has_ipv4(args: &[Value]) -> Value {
    Value::Bool(any_address(text_arg(&args[0]), &[&args[1]], same_address))
}

fn has_ipv4_prefix(args: &[Value]) -> Value {
    Value::Bool(any_address(
        text_arg(&args[0]),
        &[&args[1]],
        starts_with_prefix,
    ))
}

fn has_any_ipv4(args: &[Value]) -> Value {
    Value::Bool(any_address(
        text_arg(&args[0]),
        &list_args(&args[1..]),
        same_address,
    ))
}

fn has_any_ipv4_prefix(args: &[Value]) -> Value {
    Value::Bool(any_address(
        text_arg(&args[0]),
        &list_args(&args[1..]),
        starts_with_prefix,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_prefix_forms() {
        assert_eq!(parse_prefix("192.168.1.1").unwrap().address, 0xC0A8_0101);
        assert_eq!(
            parse_prefix("192.168.1.1/24").unwrap().network(),
            0xC0A8_0100
        );
        assert_eq!(parse_prefix("192.168.1.256"), None);
        assert_eq!(parse_prefix("192.168.1"), None);
        assert_eq!(parse_prefix("192.168.1.1/33"), None);
    }

    #[test]
    fn private_ranges() {
        assert_eq!(ipv4_is_private(&[json!("10.1.2.3/24")]), json!(true));
        assert_eq!(ipv4_is_private(&[json!("172.31.0.1")]), json!(true));
        assert_eq!(ipv4_is_private(&[json!("172.32.0.1")]), json!(false));
        assert_eq!(ipv4_is_private(&[json!("202.1.2.3")]), json!(false));
        assert_eq!(ipv4_is_private(&[json!("not an address")]), Value::Null);
    }

    #[test]
    fn match_uses_shortest_prefix() {
        assert_eq!(
            ipv4_is_match(&[json!("192.168.1.1/24"), json!("192.168.1.255")]),
            json!(true)
        );
        assert_eq!(
            ipv4_is_match(&[json!("192.168.1.1"), json!("192.168.1.0"), json!(31)]),
            json!(true)
        );
        assert_eq!(
            ipv4_compare(&[json!("192.168.1.1"), json!("192.168.1.255")]),
            json!(-1)
        );
    }

    #[test]
    fn addresses_need_separators() {
        assert_eq!(
            addresses_in_text("05:04:54 127.0.0.1 GET"),
            vec!["127.0.0.1"]
        );
        assert!(addresses_in_text("05:04:54127.0.0.1 GET").is_empty());
        assert!(addresses_in_text("x 127.0.0.256 y").is_empty());
    }

    #[test]
    fn prefix_must_end_with_dot() {
        let text = json!("05:04:54 127.0.0.1 GET /favicon.ico 404");
        assert_eq!(
            has_ipv4_prefix(&[text.clone(), json!("127.0.")]),
            json!(true)
        );
        assert_eq!(
            has_ipv4_prefix(&[text.clone(), json!("127.0")]),
            json!(false)
        );
        assert_eq!(
            has_any_ipv4_prefix(&[text, json!(["10.", "127.0."])]),
            json!(true)
        );
    }

    #[test]
    fn ranges_become_cidr_blocks() {
        assert_eq!(
            ipv4_range_to_cidr_list(&[json!("1.1.128.0"), json!("1.1.140.255")]),
            json!(["1.1.128.0/21", "1.1.136.0/22", "1.1.140.0/24"])
        );
        assert_eq!(
            ipv4_range_to_cidr_list(&[json!("0.0.0.0"), json!("255.255.255.255")]),
            json!(["0.0.0.0/0"])
        );
        assert_eq!(
            ipv4_range_to_cidr_list(&[json!("10.0.0.5"), json!("10.0.0.4")]),
            json!([])
        );
    }

    #[test]
    fn format_masks_the_address() {
        assert_eq!(
            format_ipv4_mask(&[json!("192.168.1.1/24"), json!(32)]),
            json!("192.168.1.0/24")
        );
        assert_eq!(format_ipv4(&[json!("192.168.1.1"), json!(-1)]), json!(""));
    }
}
