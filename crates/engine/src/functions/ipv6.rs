//! IPv6 functions: `ipv6_is_in_range`, `ipv6_is_in_any_range`,
//! `ipv6_is_match`, `ipv6_compare` and `parse_ipv6_mask`.
//!
//! An address argument is text such as `fe80::1` or `fe80::/10`; the
//! suffix is a prefix length from 0 to 128. IPv4 addresses, also when
//! written `::a.b.c.d`, are read as their IPv4-mapped IPv6 form
//! (`::ffff:a.b.c.d`) and their suffix as an IPv4 prefix length from 0 to
//! 32, as Kusto does. Text that is not such an address makes the function
//! return null.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;

use super::JsonFunction;
use kql::KqlType;

pub const IPV6_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("ipv6_is_in_range", 2, 2, KqlType::Bool, ipv6_is_in_range),
    JsonFunction::new(
        "ipv6_is_in_any_range",
        2,
        usize::MAX,
        KqlType::Bool,
        ipv6_is_in_any_range,
    ),
    JsonFunction::new("ipv6_is_match", 2, 3, KqlType::Bool, ipv6_is_match),
    JsonFunction::new("ipv6_compare", 2, 3, KqlType::Long, ipv6_compare),
    JsonFunction::new("parse_ipv6_mask", 2, 2, KqlType::String, parse_ipv6_mask),
    JsonFunction::new("parse_ipv6", 1, 1, KqlType::String, parse_ipv6),
];

/// Reads `address[/prefix]` as a 128-bit address and a prefix length.
fn parse_prefix(value: &Value) -> Option<(u128, u32)> {
    let text = value.as_str()?.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, prefix.trim().parse::<u32>().ok()?),
        None => (text, 128),
    };
    let address = address.trim();
    if address.contains('.') {
        // `a.b.c.d` or `::a.b.c.d`: an IPv4 address, and an IPv4 prefix
        // unless it is longer than 32 (`::ffff:10.0.0.0/104`).
        let (v4, ipv6_form) = match address.parse::<IpAddr>().ok()? {
            IpAddr::V4(v4) => (v4, false),
            IpAddr::V6(v6) => (v6.to_ipv4()?, true),
        };
        let prefix = match (text.contains('/'), ipv6_form && prefix > 32) {
            (false, _) => 128,
            (true, true) => prefix,
            (true, false) => prefix + 96,
        };
        return (prefix <= 128).then_some((u128::from(v4.to_ipv6_mapped()), prefix));
    }
    let address: Ipv6Addr = address.parse().ok()?;
    (prefix <= 128).then_some((u128::from(address), prefix))
}

/// Reads an optional prefix length argument from 0 to 128.
fn prefix_limit(args: &[Value], index: usize) -> Option<u32> {
    match args.get(index) {
        None => Some(128),
        Some(value) => value
            .as_i64()
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n <= 128),
    }
}

fn mask(prefix: u32) -> u128 {
    if prefix == 0 {
        0
    } else {
        u128::MAX << (128 - prefix)
    }
}

/// `ipv6_is_in_range(address, range)`: whether the address lies in the
/// range (an address with a prefix length).
fn ipv6_is_in_range(args: &[Value]) -> Value {
    match (parse_prefix(&args[0]), parse_prefix(&args[1])) {
        (Some((address, _)), Some((network, prefix))) => {
            Value::Bool(address & mask(prefix) == network & mask(prefix))
        }
        _ => Value::Null,
    }
}

/// `ipv6_is_in_any_range(address, range, ...)`: whether the address lies
/// in any range; ranges may also come as a dynamic array.
fn ipv6_is_in_any_range(args: &[Value]) -> Value {
    let Some((address, _)) = parse_prefix(&args[0]) else {
        return Value::Null;
    };
    let ranges = args[1..].iter().flat_map(|arg| match arg {
        Value::Array(items) => items.iter().collect::<Vec<_>>(),
        other => vec![other],
    });
    let found = ranges
        .filter_map(parse_prefix)
        .any(|(network, prefix)| address & mask(prefix) == network & mask(prefix));
    Value::Bool(found)
}

/// Compares two addresses on the shortest of their prefixes and the
/// optional third argument.
fn compare(args: &[Value]) -> Option<std::cmp::Ordering> {
    let (first, first_prefix) = parse_prefix(&args[0])?;
    let (second, second_prefix) = parse_prefix(&args[1])?;
    let prefix = first_prefix.min(second_prefix).min(prefix_limit(args, 2)?);
    Some((first & mask(prefix)).cmp(&(second & mask(prefix))))
}

fn ipv6_is_match(args: &[Value]) -> Value {
    compare(args).map_or(Value::Null, |order| Value::Bool(order.is_eq()))
}

fn ipv6_compare(args: &[Value]) -> Value {
    compare(args).map_or(Value::Null, |order| Value::from(order as i64))
}

/// Writes an address as eight groups of four lowercase hex digits.
fn canonical(address: u128) -> String {
    let groups: Vec<String> = Ipv6Addr::from(address)
        .segments()
        .iter()
        .map(|group| format!("{group:04x}"))
        .collect();
    groups.join(":")
}

/// `parse_ipv6_mask(address, prefix)`: the canonical form of the address
/// masked to the shorter of its own and the given prefix length.
fn parse_ipv6_mask(args: &[Value]) -> Value {
    match (parse_prefix(&args[0]), prefix_limit(args, 1)) {
        (Some((address, own)), Some(limit)) => {
            Value::String(canonical(address & mask(own.min(limit))))
        }
        _ => Value::Null,
    }
}

/// `parse_ipv6(address)`: the canonical form of the address masked to its
/// prefix length.
fn parse_ipv6(args: &[Value]) -> Value {
    parse_prefix(&args[0]).map_or(Value::Null, |(address, prefix)| {
        Value::String(canonical(address & mask(prefix)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ranges() {
        let call = |ip: &str, range: &str| ipv6_is_in_range(&[json!(ip), json!(range)]);
        assert_eq!(call("fe80::1", "fe80::/10"), json!(true));
        assert_eq!(call("febf::1", "fe80::/10"), json!(true));
        assert_eq!(call("fec0::1", "fe80::/10"), json!(false));
        assert_eq!(call("::1", "::1/128"), json!(true));
        assert_eq!(call("::2", "::1/128"), json!(false));
        assert_eq!(call("10.1.2.3", "::ffff:10.0.0.0/104"), json!(true));
        assert_eq!(call("not an address", "::1/128"), Value::Null);
        assert_eq!(call("::1", "::1/129"), Value::Null);
    }

    #[test]
    fn dotted_addresses_take_ipv4_prefixes() {
        let mask = |ip: &str, prefix: i64| parse_ipv6_mask(&[json!(ip), json!(prefix)]);
        assert_eq!(
            mask("::192.168.255.255/24", 128),
            json!("0000:0000:0000:0000:0000:ffff:c0a8:ff00")
        );
        assert_eq!(
            mask("fe80::85d:e82c:9446:7994/120", 124),
            json!("fe80:0000:0000:0000:085d:e82c:9446:7900")
        );
        let matches = |a: &str, b: &str| ipv6_is_match(&[json!(a), json!(b)]);
        assert_eq!(matches("192.168.1.1/24", "::ffff:c0a8:01ff"), json!(true));
        assert_eq!(matches("192.168.1.1", "192.168.1.2"), json!(false));
        assert_eq!(ipv6_compare(&[json!("::1"), json!("::2")]), json!(-1));
    }
}
