//! `parse_url` and `parse_urlquery`: a URL split into the bag of parts
//! that Kusto returns.

use serde_json::{Map, Value};

use super::JsonFunction;
use super::text::percent_decode;
use kql::KqlType;

pub const URL_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("parse_url", 1, 1, KqlType::Dynamic, parse_url),
    JsonFunction::new("parse_urlquery", 1, 1, KqlType::Dynamic, parse_urlquery),
    JsonFunction::new("parse_path", 1, 1, KqlType::Dynamic, parse_path),
];

/// `parse_path(path)`: the parts of a Windows or Unix file path or a
/// `file://` URL: `Scheme`, `RootPath` (a drive such as `C:`),
/// `DirectoryPath`, `DirectoryName`, `Filename`, `Extension` and
/// `AlternateDataStreamName` (after a `:` in the file name). Parts that
/// are missing are empty strings.
fn parse_path(args: &[Value]) -> Value {
    let text = match &args[0] {
        Value::String(text) => text.as_str(),
        Value::Null => "",
        _ => return Value::Null,
    };
    let (scheme, path) = text.split_once("://").unwrap_or(("", text));
    let bytes = path.as_bytes();
    let root = if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        &path[..2]
    } else {
        ""
    };
    let is_separator = |c: char| c == '/' || c == '\\';
    let (directory, file) = match path.rfind(is_separator) {
        Some(at) => (&path[..at], &path[at + 1..]),
        None => ("", &path[root.len()..]),
    };
    let directory_name = directory
        .rfind(is_separator)
        .map_or(directory, |at| &directory[at + 1..]);
    let (file, stream) = file.split_once(':').unwrap_or((file, ""));
    let extension = file.rfind('.').map_or("", |at| &file[at + 1..]);
    let mut parts = Map::new();
    for (name, value) in [
        ("Scheme", scheme),
        ("RootPath", root),
        ("DirectoryPath", directory),
        ("DirectoryName", directory_name),
        ("Filename", file),
        ("Extension", extension),
        ("AlternateDataStreamName", stream),
    ] {
        parts.insert(name.to_string(), Value::String(value.to_string()));
    }
    Value::Object(parts)
}

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
    fn paths_split_into_parts() {
        let parts = parse_path(&[json!("file://C:/temp/file.txt:some.exe")]);
        assert_eq!(parts["Scheme"], "file");
        assert_eq!(parts["RootPath"], "C:");
        assert_eq!(parts["DirectoryPath"], "C:/temp");
        assert_eq!(parts["DirectoryName"], "temp");
        assert_eq!(parts["Filename"], "file.txt");
        assert_eq!(parts["Extension"], "txt");
        assert_eq!(parts["AlternateDataStreamName"], "some.exe");
        let unc = parse_path(&[json!(r"\\shared\users\temp\file.txt.gz")]);
        assert_eq!(unc["DirectoryPath"], r"\\shared\users\temp");
        assert_eq!(unc["RootPath"], "");
        assert_eq!(unc["Extension"], "gz");
        let bare = parse_path(&[json!("file.txt")]);
        assert_eq!(bare["DirectoryPath"], "");
        assert_eq!(bare["Filename"], "file.txt");
    }

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
