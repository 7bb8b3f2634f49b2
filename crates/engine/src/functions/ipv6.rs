//! IPv6 functions: `ipv6_is_in_range`.
//!
//! An address argument is text such as `fe80::1` or `fe80::/10`; the
//! suffix is a prefix length from 0 to 128. IPv4 addresses are read as
//! their IPv4-mapped IPv6 form (`::ffff:a.b.c.d`), as Kusto does. Text that
//! is not such an address makes the function return null.

use std::net::{IpAddr, Ipv6Addr};

use serde_json::Value;

use super::JsonFunction;
use kql::KqlType;

pub const IPV6_FUNCTIONS: &[JsonFunction] = &[JsonFunction::new(
    "ipv6_is_in_range",
    2,
    2,
    KqlType::Bool,
    ipv6_is_in_range,
)];

/// Reads `address[/prefix]` as a 128-bit address and a prefix length.
fn parse_prefix(value: &Value) -> Option<(u128, u32)> {
    let text = value.as_str()?.trim();
    let (address, prefix) = match text.split_once('/') {
        Some((address, prefix)) => (address, prefix.trim().parse::<u32>().ok()?),
        None => (text, 128),
    };
    let address = match address.trim().parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => v6,
        IpAddr::V4(v4) => {
            let mapped: Ipv6Addr = v4.to_ipv6_mapped();
            return Some((u128::from(mapped), prefix.min(32) + 96));
        }
    };
    (prefix <= 128).then_some((u128::from(address), prefix))
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
}
