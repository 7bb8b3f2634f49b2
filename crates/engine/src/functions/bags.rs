//! Property-bag functions over dynamic values: `bag_pack`, `bag_keys`,
//! `bag_merge`, `bag_has_key`, `bag_set_key`, `bag_remove_keys`,
//! `bag_zip`.
//!
//! Keys given to `bag_has_key`, `bag_set_key` and `bag_remove_keys` may be
//! a plain key or a JSONPath such as `$.a.b` or `$['a']['b']`.

use kql::KqlType;
use serde_json::{Map, Value};

use super::JsonFunction;

/// The bag functions, for the planner's lookup.
pub const BAG_FUNCTIONS: &[JsonFunction] = &[
    JsonFunction::new("bag_pack", 0, usize::MAX, KqlType::Dynamic, bag_pack),
    JsonFunction::new("pack", 0, usize::MAX, KqlType::Dynamic, bag_pack),
    JsonFunction::new("pack_dictionary", 0, usize::MAX, KqlType::Dynamic, bag_pack),
    JsonFunction::new("bag_keys", 1, 1, KqlType::Dynamic, bag_keys),
    JsonFunction::new("extract_json", 2, 2, KqlType::String, extract_json),
    JsonFunction::new("extractjson", 2, 2, KqlType::String, extract_json),
    JsonFunction::new("bag_merge", 1, usize::MAX, KqlType::Dynamic, bag_merge),
    JsonFunction::new("bag_has_key", 2, 2, KqlType::Bool, bag_has_key),
    JsonFunction::new("bag_set_key", 3, 3, KqlType::Dynamic, bag_set_key),
    JsonFunction::new("bag_remove_keys", 2, 2, KqlType::Dynamic, bag_remove_keys),
    JsonFunction::new("bag_zip", 2, 2, KqlType::Dynamic, bag_zip),
    JsonFunction::new("dynamic_to_json", 1, 1, KqlType::String, dynamic_to_json),
];

/// `dynamic_to_json(value)`: the value's JSON text with the keys of every
/// bag sorted, so that equal values give equal text.
fn dynamic_to_json(args: &[Value]) -> Value {
    Value::String(sorted_keys(&args[0]).to_string())
}

fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(bag) => {
            let mut keys: Vec<&String> = bag.keys().collect();
            keys.sort();
            let sorted: Map<String, Value> = keys
                .into_iter()
                .map(|key| (key.clone(), sorted_keys(&bag[key])))
                .collect();
            Value::Object(sorted)
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

/// `bag_pack(key1, value1, key2, value2, ...)`. A key that is not a string
/// uses its JSON text; an odd argument count leaves the last key out.
fn bag_pack(args: &[Value]) -> Value {
    let mut bag = Map::new();
    for pair in args.chunks_exact(2) {
        let key = match &pair[0] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        bag.insert(key, pair[1].clone());
    }
    Value::Object(bag)
}

fn bag_keys(args: &[Value]) -> Value {
    match &args[0] {
        Value::Object(bag) => Value::Array(bag.keys().cloned().map(Value::String).collect()),
        _ => Value::Null,
    }
}

/// `bag_merge(bag1, bag2, ...)`: when a key repeats, the first bag's value
/// wins. Arguments that are not bags are skipped.
fn bag_merge(args: &[Value]) -> Value {
    let mut merged = Map::new();
    for arg in args {
        if let Value::Object(bag) = arg {
            for (key, value) in bag {
                if !merged.contains_key(key) {
                    merged.insert(key.clone(), value.clone());
                }
            }
        }
    }
    Value::Object(merged)
}

/// Splits a key into its path: `$.a.b` and `$['a'].b` give `[a, b]`; a key
/// without a leading `$` is one plain key. `None` for a malformed path.
pub(crate) fn key_path(key: &str) -> Option<Vec<String>> {
    let Some(mut rest) = key.strip_prefix('$') else {
        return Some(vec![key.to_string()]);
    };
    let mut path = Vec::new();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end == 0 {
                return None;
            }
            path.push(after[..end].to_string());
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = after.find(']')?;
            let inner = after[..close].trim();
            let inner = inner
                .strip_prefix(['\'', '"'])
                .and_then(|s| s.strip_suffix(['\'', '"']))
                .unwrap_or(inner);
            path.push(inner.to_string());
            rest = &after[close + 1..];
        } else {
            return None;
        }
    }
    Some(path)
}

fn key_text(value: &Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text.clone()),
        _ => None,
    }
}

fn bag_has_key(args: &[Value]) -> Value {
    let (Value::Object(_), Some(path)) = (&args[0], key_text(&args[1]).and_then(|k| key_path(&k)))
    else {
        return Value::Null;
    };
    let mut current = &args[0];
    for key in &path {
        match current {
            Value::Object(bag) => match bag.get(key) {
                Some(next) => current = next,
                None => return Value::Bool(false),
            },
            _ => return Value::Bool(false),
        }
    }
    Value::Bool(true)
}

/// `bag_set_key(bag, key, value)`: sets the key, creating the bags on a
/// JSONPath that do not exist yet.
fn bag_set_key(args: &[Value]) -> Value {
    let (Value::Object(_), Some(path)) = (&args[0], key_text(&args[1]).and_then(|k| key_path(&k)))
    else {
        return Value::Null;
    };
    let mut bag = args[0].clone();
    let mut current = &mut bag;
    for (depth, key) in path.iter().enumerate() {
        let Value::Object(map) = current else {
            return Value::Null;
        };
        if depth + 1 == path.len() {
            map.insert(key.clone(), args[2].clone());
            break;
        }
        let next = map
            .entry(key.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if !next.is_object() {
            *next = Value::Object(Map::new());
        }
        current = next;
    }
    bag
}

/// `bag_remove_keys(bag, keys)`: removes every listed key or JSONPath.
fn bag_remove_keys(args: &[Value]) -> Value {
    let (Value::Object(_), Value::Array(keys)) = (&args[0], &args[1]) else {
        return Value::Null;
    };
    let mut bag = args[0].clone();
    for path in keys
        .iter()
        .filter_map(key_text)
        .filter_map(|k| key_path(&k))
    {
        remove_path(&mut bag, &path);
    }
    bag
}

fn remove_path(value: &mut Value, path: &[String]) {
    let Value::Object(map) = value else {
        return;
    };
    match path {
        [] => {}
        [last] => {
            map.shift_remove(last);
        }
        [first, rest @ ..] => {
            if let Some(child) = map.get_mut(first) {
                remove_path(child, rest);
            }
        }
    }
}

/// `bag_zip(keys, values)`: pairs string keys with values by position;
/// keys that are not strings are skipped, missing values are null, extra
/// values are ignored, and a keys argument that is not an array gives null.
fn bag_zip(args: &[Value]) -> Value {
    let Value::Array(keys) = &args[0] else {
        return Value::Null;
    };
    let values: &[Value] = match &args[1] {
        Value::Array(values) => values,
        _ => &[],
    };
    let mut bag = Map::new();
    for (i, key) in keys.iter().enumerate() {
        if let Value::String(key) = key {
            bag.insert(key.clone(), values.get(i).cloned().unwrap_or(Value::Null));
        }
    }
    Value::Object(bag)
}

/// Splits a JSONPath of the forms `$.a.b`, `$['a']`, `$["a"]` and `$[0]`
/// into its steps; `None` for any other syntax.
fn json_path_steps(path: &str) -> Option<Vec<Value>> {
    let rest = path.trim().strip_prefix('$')?;
    let mut steps = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            '.' => {
                let start = at + 1;
                let mut end = rest.len();
                while let Some(&(next, c)) = chars.peek() {
                    if c == '.' || c == '[' {
                        end = next;
                        break;
                    }
                    chars.next();
                }
                let name = &rest[start..end];
                if name.is_empty() {
                    return None;
                }
                steps.push(Value::String(name.to_string()));
            }
            '[' => {
                let close = rest[at..].find(']')? + at;
                let inside = rest[at + 1..close].trim();
                let quoted = inside
                    .strip_prefix('\'')
                    .and_then(|s| s.strip_suffix('\''))
                    .or_else(|| inside.strip_prefix('"').and_then(|s| s.strip_suffix('"')));
                match quoted {
                    Some(name) => steps.push(Value::String(name.to_string())),
                    None => steps.push(Value::from(inside.parse::<i64>().ok()?)),
                }
                while chars.peek().is_some_and(|&(next, _)| next <= close) {
                    chars.next();
                }
            }
            _ => return None,
        }
    }
    Some(steps)
}

/// `extract_json(path, json)`: the element of the JSON text at the
/// JSONPath `path`, as text (a string without its quotes), or null when
/// the path does not lead anywhere. The planner converts the text when a
/// third argument `typeof(T)` requests another type.
fn extract_json(args: &[Value]) -> Value {
    let (Some(path), Some(mut value)) = (
        args[0].as_str().and_then(json_path_steps),
        match &args[1] {
            Value::String(text) => serde_json::from_str::<Value>(text).ok(),
            Value::Null => None,
            other => Some(other.clone()),
        },
    ) else {
        return Value::Null;
    };
    for step in &path {
        value = match (step, value) {
            (Value::String(name), Value::Object(mut bag)) => match bag.remove(name) {
                Some(inner) => inner,
                None => return Value::Null,
            },
            (Value::Number(index), Value::Array(mut items)) => {
                let Some(index) = index.as_i64() else {
                    return Value::Null;
                };
                let len = items.len() as i64;
                let index = if index < 0 { len + index } else { index };
                if !(0..len).contains(&index) {
                    return Value::Null;
                }
                items.swap_remove(index as usize)
            }
            _ => return Value::Null,
        };
    }
    match value {
        Value::Null => Value::Null,
        Value::String(text) => Value::String(text),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_paths_select_elements() {
        use serde_json::json;
        let data = json!(r#"{"name": "John", "tags": ["a", {"b": 2}], "it's": 1}"#);
        let call = |path: &str| super::extract_json(&[json!(path), data.clone()]);
        assert_eq!(call("$.name"), json!("John"));
        assert_eq!(call("$.tags[1].b"), json!("2"));
        assert_eq!(call("$['tags'][-2]"), json!("a"));
        assert_eq!(call("$.tags"), json!(r#"["a",{"b":2}]"#));
        assert_eq!(call("$.missing"), serde_json::Value::Null);
        assert_eq!(call("name"), serde_json::Value::Null);
    }

    use super::*;
    use serde_json::json;

    #[test]
    fn key_paths_parse() {
        assert_eq!(key_path("key1"), Some(vec!["key1".to_string()]));
        assert_eq!(
            key_path("$.key2.prop1"),
            Some(vec!["key2".to_string(), "prop1".to_string()])
        );
        assert_eq!(
            key_path("$['a b'].c"),
            Some(vec!["a b".to_string(), "c".to_string()])
        );
        assert_eq!(key_path("$..x"), None);
    }

    #[test]
    fn pack_keys_and_merge() {
        let bag = bag_pack(&[json!("Level"), json!("Info"), json!("Id"), json!(1)]);
        assert_eq!(bag, json!({"Level": "Info", "Id": 1}));
        assert_eq!(bag_keys(&[bag]), json!(["Level", "Id"]));
        assert_eq!(bag_keys(&[json!([])]), Value::Null);
        assert_eq!(
            bag_merge(&[json!({"A1": 12, "B1": 2}), json!({"A2": 81, "A1": 1})]),
            json!({"A1": 12, "B1": 2, "A2": 81})
        );
    }

    #[test]
    fn has_set_and_remove_keys() {
        let bag = json!({"key1": 123, "key2": {"prop1": "abc", "prop2": "xyz"}, "key3": [1]});
        assert_eq!(
            bag_has_key(&[bag.clone(), json!("$.key2.prop1")]),
            json!(true)
        );
        assert_eq!(bag_has_key(&[bag.clone(), json!("key4")]), json!(false));
        assert_eq!(
            bag_remove_keys(&[bag.clone(), json!(["$.key2.prop1", "key3"])]),
            json!({"key1": 123, "key2": {"prop2": "xyz"}})
        );
        assert_eq!(
            bag_set_key(&[json!({"a": 1}), json!("$.b.c"), json!(3)]),
            json!({"a": 1, "b": {"c": 3}})
        );
    }

    #[test]
    fn zip_pairs_keys_with_values() {
        assert_eq!(
            bag_zip(&[json!(["a", "b", "c"]), json!([1, "2"])]),
            json!({"a": 1, "b": "2", "c": null})
        );
        assert_eq!(
            bag_zip(&[json!(["a", 8, "b"]), json!(1)]),
            json!({"a": null, "b": null})
        );
        assert_eq!(bag_zip(&[json!("a"), json!([1])]), Value::Null);
    }
}
