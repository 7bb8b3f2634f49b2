//! Reading an Elasticsearch `_bulk` body: NDJSON action lines, each
//! followed by a document line except for `delete`, and the mapping of a
//! document to a table row.
//!
//! Nothing here touches HTTP or server state, so the `shipper_json` fuzz
//! target in `fuzz/` compiles this file on its own.

use serde_json::Value;
use store::builder::Row;

/// One action of a `_bulk` body.
#[derive(Debug)]
pub struct BulkAction<'a> {
    /// The action's name, such as `index`, `create` or `delete`.
    pub kind: String,
    /// The action's `_index`, else the index of the request path, else
    /// empty.
    pub index: String,
    /// The document line after the action, or `None` for `delete`, which
    /// has no document.
    pub document: Option<&'a [u8]>,
}

/// A body error that fails the whole request.
#[derive(Debug)]
pub struct BodyError {
    /// The drop reason for metrics, when this failure is counted.
    pub reason: Option<&'static str>,
    pub message: String,
}

/// A document rejected in its own bulk item. The other items go on.
#[derive(Debug)]
pub struct DocumentError {
    /// The drop reason for metrics.
    pub reason: &'static str,
    pub message: String,
}

/// Returns the actions of a `_bulk` body in order, skipping blank lines.
/// After the first `Err` the rest of the body cannot be paired into
/// actions and documents, so the caller stops there.
pub fn actions<'a>(
    body: &'a [u8],
    default_index: Option<&'a str>,
) -> impl Iterator<Item = Result<BulkAction<'a>, BodyError>> + 'a {
    let mut lines = body
        .split(|b| *b == b'\n')
        .filter(|line| !line.iter().all(u8::is_ascii_whitespace));
    std::iter::from_fn(move || {
        let action_line = lines.next()?;
        Some(read_action(action_line, &mut lines, default_index))
    })
}

fn read_action<'a>(
    action_line: &[u8],
    lines: &mut impl Iterator<Item = &'a [u8]>,
    default_index: Option<&str>,
) -> Result<BulkAction<'a>, BodyError> {
    let action: Value = serde_json::from_slice(action_line).map_err(|err| BodyError {
        reason: Some("bad_json"),
        message: format!("an action line is not JSON: {err}"),
    })?;
    let Some((kind, meta)) = action.as_object().and_then(|o| o.iter().next()) else {
        return Err(BodyError {
            reason: None,
            message: "an action line is not an object with one action".into(),
        });
    };
    let index = meta
        .get("_index")
        .and_then(Value::as_str)
        .or(default_index)
        .unwrap_or_default()
        .to_string();
    if kind == "delete" {
        return Ok(BulkAction {
            kind: kind.clone(),
            index,
            document: None,
        });
    }
    let Some(document) = lines.next() else {
        return Err(BodyError {
            reason: None,
            message: "the last action has no document line".into(),
        });
    };
    Ok(BulkAction {
        kind: kind.clone(),
        index,
        document: Some(document),
    })
}

/// Maps one document line to a `SecurityEvent` or `Event` row
/// ([`ingest::winlogbeat`]). Rejects a document with more than
/// `max_fields` top-level fields.
pub fn document_row(line: &[u8], max_fields: usize) -> Result<Row, DocumentError> {
    let document: Value = serde_json::from_slice(line).map_err(|err| DocumentError {
        reason: "bad_json",
        message: format!("the document is not JSON: {err}"),
    })?;
    if document.as_object().is_some_and(|o| o.len() > max_fields) {
        return Err(DocumentError {
            reason: "too_many_fields",
            message: format!("the document has more than {max_fields} fields"),
        });
    }
    ingest::winlogbeat::document_row(&document).map_err(|err| DocumentError {
        reason: err.reason(),
        message: err.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(body: &str) -> Vec<Result<BulkAction<'_>, BodyError>> {
        actions(body.as_bytes(), Some("winlogbeat")).collect()
    }

    #[test]
    fn actions_pair_with_documents() {
        let body =
            "{\"index\":{\"_index\":\"logs\"}}\n{\"a\":1}\n\n  \n{\"create\":{}}\n{\"b\":2}\n";
        let actions: Vec<BulkAction> = read_all(body).into_iter().map(Result::unwrap).collect();
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].kind, "index");
        assert_eq!(actions[0].index, "logs");
        assert_eq!(actions[0].document, Some(&b"{\"a\":1}"[..]));
        assert_eq!(actions[1].kind, "create");
        assert_eq!(actions[1].index, "winlogbeat");
        assert_eq!(actions[1].document, Some(&b"{\"b\":2}"[..]));
    }

    #[test]
    fn delete_has_no_document() {
        let body = "{\"delete\":{\"_id\":\"1\"}}\n{\"index\":{}}\n{}\n";
        let actions: Vec<BulkAction> = read_all(body).into_iter().map(Result::unwrap).collect();
        assert_eq!(actions.len(), 2);
        assert_eq!(actions[0].kind, "delete");
        assert_eq!(actions[0].document, None);
        assert_eq!(actions[1].document, Some(&b"{}"[..]));
    }

    #[test]
    fn body_errors_stop_the_request() {
        let cases = [
            (
                "not json\n{}\n",
                Some("bad_json"),
                "an action line is not JSON",
            ),
            ("[1]\n{}\n", None, "not an object with one action"),
            ("{}\n{}\n", None, "not an object with one action"),
            ("{\"index\":{}}\n", None, "no document line"),
        ];
        for (body, reason, message) in cases {
            let results = read_all(body);
            let err = results[0].as_ref().expect_err(body);
            assert_eq!(err.reason, reason, "{body}");
            assert!(err.message.contains(message), "{body}: {}", err.message);
        }
    }

    #[test]
    fn document_row_rejections() {
        let not_json = document_row(b"{", 10).unwrap_err();
        assert_eq!(not_json.reason, "bad_json");

        let wide = document_row(b"{\"a\":1,\"b\":2,\"c\":3}", 2).unwrap_err();
        assert_eq!(wide.reason, "too_many_fields");
        assert!(
            wide.message.contains("more than 2 fields"),
            "{}",
            wide.message
        );

        let not_winlog = document_row(b"{\"message\":\"x\"}", 10).unwrap_err();
        assert_eq!(not_winlog.reason, "not_winlog");
    }
}
