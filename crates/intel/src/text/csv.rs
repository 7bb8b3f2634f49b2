//! CSV feeds: rows split at a delimiter, values taken from selected columns.
//!
//! As in MISP, a row whose first cell starts with `#` is a comment, and
//! there is no other header handling: a header row's cells are typed like
//! any value and dropped when they have no type.

use crate::config::FeedConfig;
use crate::error::IntelError;
use crate::text::detect::{TypedValue, detect};

/// Characters trimmed from both ends of a cell, as MISP does.
const TRIMMED: &[char] = &[' ', '\t', '\0', '\x0b', '"', '\''];

/// Reads the typed values of a CSV feed. Fails when the feed has rows but
/// none has a configured column, which means the column setting is wrong.
pub fn csv_values(
    feed: &FeedConfig,
    body: &[u8],
    location: &str,
) -> Result<Vec<TypedValue>, IntelError> {
    let delimiter = u8::try_from(feed.delimiter).map_err(|_| {
        IntelError::InvalidConfig(format!(
            "delimiter {:?} of feed {:?} is not a single ASCII character",
            feed.delimiter, feed.name
        ))
    })?;
    let exclude = super::exclude_regex(feed)?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(body);

    let mut values = Vec::new();
    let mut data_rows = 0usize;
    let mut rows_with_column = 0usize;
    let mut max_columns = 0usize;
    for record in reader.records() {
        let record = record.map_err(|err| IntelError::InvalidContent {
            what: "CSV feed",
            location: location.to_string(),
            reason: err.to_string(),
        })?;
        let first = record
            .get(0)
            .unwrap_or_default()
            .trim_start_matches(TRIMMED);
        if first.starts_with('#') || record.iter().all(|cell| cell.trim().is_empty()) {
            continue;
        }
        data_rows += 1;
        max_columns = max_columns.max(record.len());

        let cells: Vec<&str> = if feed.value_columns.is_empty() {
            record.iter().collect()
        } else {
            feed.value_columns
                .iter()
                .filter_map(|column| record.get(column - 1))
                .collect()
        };
        if !cells.is_empty() {
            rows_with_column += 1;
        }
        for cell in cells {
            let cell = cell.trim_matches(TRIMMED);
            if cell.is_empty() || exclude.as_ref().is_some_and(|regex| regex.is_match(cell)) {
                continue;
            }
            values.extend(detect(cell));
        }
    }

    if data_rows > 0 && rows_with_column == 0 {
        return Err(IntelError::MissingCsvColumn {
            location: location.to_string(),
            column: feed.value_columns.iter().copied().min().unwrap_or(1),
            max_columns,
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FeedFormat;

    fn feed(columns: &[usize]) -> FeedConfig {
        FeedConfig {
            value_columns: columns.to_vec(),
            ..FeedConfig::new("t", "x", FeedFormat::Csv)
        }
    }

    #[test]
    fn comments_and_header_are_skipped() {
        let body = b"# comment\n\"seen\",\"dst_ip\"\n\"2024\",\"192.0.2.1\"\n# END 1 entries\n";
        let values = csv_values(&feed(&[2]), body, "t").unwrap();
        assert_eq!(values.len(), 1);
        assert_eq!(values[0].value, "192.0.2.1");
    }

    #[test]
    fn missing_column_fails() {
        let body = b"a,192.0.2.1\nb,192.0.2.2\n";
        let err = csv_values(&feed(&[7]), body, "t").unwrap_err();
        assert!(matches!(
            err,
            IntelError::MissingCsvColumn {
                column: 7,
                max_columns: 2,
                ..
            }
        ));
    }
}
