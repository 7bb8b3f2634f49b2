//! Merging table schemas for `evaluate schema_merge`.
//!
//! The input rows are the output of `getschema` for one or more tables,
//! in order: a table's rows start where `ColumnOrdinal` is 0 again. The
//! merged order keeps the order of every table: a column not seen yet is
//! placed right after the previous column of its own table. Each column
//! keeps the type of the first table that has it.
//!
//! With `PreserveOrder` (the default), a column whose merged position
//! differs from its ordinal in a table that has it gets ordinal -1 and
//! error texts in place of its types, as Kusto's reference example shows.

use serde_json::Value;

use super::JsonFunction;
use kql::KqlType;

pub const SCHEMA_FUNCTIONS: &[JsonFunction] = &[JsonFunction::new(
    "__schema_merge",
    2,
    2,
    KqlType::Dynamic,
    schema_merge,
)];

/// The column error of `PreserveOrder` in Kusto's words.
const OUT_OF_ORDER: &str = "ERROR(columns are out of order)";

/// One column of the merged schema.
struct Merged {
    name: String,
    data_type: String,
    column_type: String,
    /// The ordinals the column has in the tables that have it.
    ordinals: Vec<i64>,
}

/// `__schema_merge(rows, preserve_order)`: `rows` contains
/// `[ColumnName, ColumnOrdinal, DataType, ColumnType]` arrays. The result
/// contains one such array per merged column, in merged order.
fn schema_merge(args: &[Value]) -> Value {
    let Some(rows) = args[0].as_array() else {
        return Value::Null;
    };
    let preserve_order = args[1].as_bool().unwrap_or(true);
    let mut merged: Vec<Merged> = Vec::new();
    // Where the previous column of the current table is in `merged`.
    let mut previous: Option<usize> = None;
    for row in rows {
        let Some(fields) = row.as_array() else {
            continue;
        };
        let text = |index: usize| {
            fields
                .get(index)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let ordinal = fields.get(1).and_then(Value::as_i64).unwrap_or(0);
        if ordinal == 0 {
            previous = None;
        }
        let name = text(0);
        let position = match merged.iter().position(|m| m.name == name) {
            Some(position) => position,
            None => {
                let position = previous.map_or(0, |p| p + 1);
                merged.insert(
                    position,
                    Merged {
                        name,
                        data_type: text(2),
                        column_type: text(3),
                        ordinals: Vec::new(),
                    },
                );
                position
            }
        };
        merged[position].ordinals.push(ordinal);
        previous = Some(position);
    }
    let columns = merged
        .into_iter()
        .enumerate()
        .map(|(position, column)| {
            let in_order = column.ordinals.iter().all(|o| *o == position as i64);
            if preserve_order && !in_order {
                return Value::Array(vec![
                    Value::String(column.name),
                    Value::from(-1),
                    Value::String(format!("ERROR(unknown CSL type:{OUT_OF_ORDER})")),
                    Value::String(OUT_OF_ORDER.into()),
                ]);
            }
            Value::Array(vec![
                Value::String(column.name),
                Value::from(position),
                Value::String(column.data_type),
                Value::String(column.column_type),
            ])
        })
        .collect();
    Value::Array(columns)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schemas() -> Value {
        json!([
            ["Uri", 0, "System.String", "string"],
            ["HttpStatus", 1, "System.Int32", "int"],
            ["Uri", 0, "System.String", "string"],
            ["Referrer", 1, "System.String", "string"],
            ["HttpStatus", 2, "System.Int32", "int"]
        ])
    }

    #[test]
    fn merged_order_keeps_each_table_order() {
        let merged = schema_merge(&[schemas(), json!(false)]);
        assert_eq!(merged[0], json!(["Uri", 0, "System.String", "string"]));
        assert_eq!(merged[1], json!(["Referrer", 1, "System.String", "string"]));
        assert_eq!(merged[2], json!(["HttpStatus", 2, "System.Int32", "int"]));
    }

    #[test]
    fn preserve_order_marks_moved_columns() {
        let merged = schema_merge(&[schemas(), json!(true)]);
        assert_eq!(merged[1][1], json!(1));
        assert_eq!(merged[2][1], json!(-1));
        assert_eq!(merged[2][3], json!(OUT_OF_ORDER));
    }
}
