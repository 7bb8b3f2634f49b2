//! The optional `hashes.csv` of a MISP feed: one line per attribute value,
//! `<md5 hex of the value>,<event uuid>`, with no header. A composite value
//! (`a|b`) gives one line per part, as PyMISP's feed generator writes it.
//!
//! MISP reads this file to fill its feed cache, so that a value can be
//! looked up in a feed without importing its events. homesoc does the same:
//! a MISP feed pull stores the file in the workspace, and `intel lookup`
//! reports the feeds and events that list a value, including values that
//! are not flagged for detection and so make no indicator.

use std::io::BufRead as _;
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use serde::Serialize;

use crate::config::{FeedFormat, FeedsFile};
use crate::error::IntelError;
use crate::state::FeedState;

/// Checks `hashes.csv` content and returns its number of lines. Fails on
/// the first line that is not a 32-digit hexadecimal MD5, a comma and a
/// UUID, naming the line, because a cache built from a malformed file
/// would silently miss values.
pub fn validate_hashes(bytes: &[u8], location: &str) -> Result<u64, IntelError> {
    let mut lines = 0u64;
    for (index, line) in bytes.split(|byte| *byte == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            continue;
        }
        if parse_line(line).is_none() {
            let shown: String = String::from_utf8_lossy(line).chars().take(100).collect();
            return Err(IntelError::InvalidContent {
                what: "MISP hashes.csv",
                location: location.to_string(),
                reason: format!(
                    "line {} is {shown:?}, not '<md5 hex of the value>,<event uuid>'",
                    index + 1
                ),
            });
        }
        lines += 1;
    }
    Ok(lines)
}

/// Splits a line into the lower-case MD5 and the event UUID.
fn parse_line(line: &[u8]) -> Option<(String, String)> {
    let line = std::str::from_utf8(line).ok()?;
    let (hash, uuid) = line.split_once(',')?;
    let hash = hash.trim();
    if hash.len() != 32 || !hash.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return None;
    }
    let uuid = uuid::Uuid::parse_str(uuid.trim()).ok()?;
    Some((hash.to_ascii_lowercase(), uuid.to_string()))
}

/// Returns the MD5 hex digests under which a feed may list `value`: of the
/// value as given and, when it differs, of its ASCII lower-case form, since
/// domains and hashes are often written in either case.
pub fn value_hashes(value: &str) -> Vec<String> {
    let digest = |text: &str| -> String {
        Md5::digest(text.as_bytes())
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect()
    };
    let mut hashes = vec![digest(value)];
    let lower = value.to_ascii_lowercase();
    if lower != value {
        hashes.push(digest(&lower));
    }
    hashes
}

/// Returns where a feed's copy of `hashes.csv` is stored in the workspace.
pub fn stored_hashes_path(workspace_root: &Path, feed_name: &str) -> PathBuf {
    FeedState::file_stem_path(workspace_root, feed_name).with_extension("hashes.csv")
}

/// A feed event that lists a value in its `hashes.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedListing {
    pub feed: String,
    pub event_uuid: String,
}

/// Searches the stored `hashes.csv` of every MISP feed for `value` and
/// returns one listing per feed and event. Feeds without a stored file are
/// skipped.
pub fn find_in_feed_hashes(
    workspace_root: &Path,
    feeds: &FeedsFile,
    value: &str,
) -> Result<Vec<FeedListing>, IntelError> {
    let wanted = value_hashes(value.trim());
    let mut listings = Vec::new();
    for feed in feeds.feeds.iter().filter(|f| f.format == FeedFormat::Misp) {
        let path = stored_hashes_path(workspace_root, &feed.name);
        let file = match std::fs::File::open(&path) {
            Ok(file) => file,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(IntelError::Io { path, source }),
        };
        for line in std::io::BufReader::new(file).split(b'\n') {
            let line = line.map_err(|source| IntelError::Io {
                path: path.clone(),
                source,
            })?;
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            let Some((hash, event_uuid)) = parse_line(line) else {
                continue;
            };
            let listing = FeedListing {
                feed: feed.name.clone(),
                event_uuid,
            };
            if wanted.contains(&hash) && !listings.contains(&listing) {
                listings.push(listing);
            }
        }
    }
    Ok(listings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_of_value_and_lower_case() {
        // md5("example.com"), as `printf example.com | md5sum` prints it.
        assert_eq!(
            value_hashes("example.com"),
            ["5ababd603b22780302dd8d83498e5172"]
        );
        let hashes = value_hashes("Example.COM");
        assert_eq!(hashes.len(), 2);
        assert_eq!(hashes[1], "5ababd603b22780302dd8d83498e5172");
    }

    #[test]
    fn valid_lines_are_counted() {
        let content = b"5ababd603b22780302dd8d83498e5172,24e799ca-aad8-4244-8005-90b3ceb44540\r\n\
                        5ABABD603B22780302DD8D83498E5172,2dc45085-7f6b-48ee-b726-400a326ad9b5\n\n";
        assert_eq!(validate_hashes(content, "h").unwrap(), 2);
        assert_eq!(validate_hashes(b"", "h").unwrap(), 0);
    }

    #[test]
    fn malformed_lines_fail_with_number() {
        for (content, line) in [
            (&b"value,uuid\n"[..], 1),
            (b"5ababd603b22780302dd8d83498e5172,24e799ca-aad8-4244-8005-90b3ceb44540\n5ababd60,24e799ca-aad8-4244-8005-90b3ceb44540\n", 2),
            (b"5ababd603b22780302dd8d83498e5172;24e799ca-aad8-4244-8005-90b3ceb44540\n", 1),
            (b"5ababd603b22780302dd8d83498e5172,not-a-uuid\n", 1),
        ] {
            let error = validate_hashes(content, "h").unwrap_err().to_string();
            assert!(error.contains(&format!("line {line} ")), "{error}");
        }
    }
}
