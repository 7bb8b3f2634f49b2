//! `parse_url` and `parse_urlquery`: a URL split into the bag of parts
//! that Kusto returns.

use serde_json::{Map, Value};

use super::JsonFunction;
use super::text::percent_decode;
use kql::KqlType;

pub const URL_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("parse_url", 1, 1, KqlType::Dynamic, parse_url),
    JsonFunction::new("parse_urlquery", 1, 1, KqlType::Dynamic, parse_urlquery),
];

/// Splits `a=1&b=2` into a bag of decoded names and values.
fn query_parameters(query: &str) -> Map<String, Value> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (
                percent_decode(name).unwrap_or_else(|| name.to_string()),
                Value::String(percent_decode(value).unwrap_or_else(|| value.to_string())),
            )
        })
        .collect()
}

/// Parses `scheme://[user[:password]@]host[:port][/path][?query][#fragment]`.
/// Text without `://` is not a URL and gives an empty bag, as in Kusto.
pub fn parse_url_text(url: &str) -> Value {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Value::Object(Map::new());
    };
    let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    let (user_info, host_port) = match authority.rsplit_once('@') {
        Some((user_info, host_port)) => (user_info, host_port),
        None => ("", authority),
    };
    let (username, password) = user_info.split_once(':').unwrap_or((user_info, ""));
    // A bracketed IPv6 host keeps its colons.
    let (host, port) = match host_port.rfind(':') {
        Some(colon) if !host_port[colon..].contains(']') => {
            (&host_port[..colon], &host_port[colon + 1..])
        }
        _ => (host_port, ""),
    };

    let mut parts = Map::new();
    let text = |value: &str| Value::String(value.to_string());
    parts.insert("Scheme".into(), text(scheme));
    parts.insert("Host".into(), text(host));
    parts.insert("Port".into(), text(port));
    parts.insert("Path".into(), text(path));
    parts.insert("Username".into(), text(username));
    parts.insert("Password".into(), text(password));
    parts.insert(
        "Query Parameters".into(),
        Value::Object(query_parameters(query)),
    );
    parts.insert("Fragment".into(), text(fragment));
    Value::Object(parts)
}

fn parse_url(args: &[Value]) -> Value {
    match &args[0] {
        Value::String(url) => parse_url_text(url),
        _ => Value::Null,
    }
}

fn parse_urlquery(args: &[Value]) -> Value {
    let Value::String(query) = &args[0] else {
        return Value::Null;
    };
    let query = query.strip_prefix('?').unwrap_or(query);
    let mut bag = Map::new();
    bag.insert(
        "Query Parameters".into(),
        Value::Object(query_parameters(query)),
    );
    Value::Object(bag)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parse_url_every_part() {
        assert_eq!(
            parse_url_text(
                "scheme://username:password@host:1234/this/is/a/path?k1=v1&k2=v2#fragment"
            ),
            json!({
                "Scheme": "scheme",
                "Host": "host",
                "Port": "1234",
                "Path": "/this/is/a/path",
                "Username": "username",
                "Password": "password",
                "Query Parameters": {"k1": "v1", "k2": "v2"},
                "Fragment": "fragment"
            })
        );
    }

    #[test]
    fn parse_url_host_only() {
        let parts = parse_url_text("https://example.com");
        assert_eq!(parts["Host"], json!("example.com"));
        assert_eq!(parts["Path"], json!(""));
        assert_eq!(parse_url_text("example.com/a"), json!({}));
    }

    #[test]
    fn parse_urlquery_decodes() {
        assert_eq!(
            parse_urlquery(&[json!("view=vs-2019&preserve-view=true&q=a%20b")]),
            json!({"Query Parameters": {"view": "vs-2019", "preserve-view": "true", "q": "a b"}})
        );
    }
}
