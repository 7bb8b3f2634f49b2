//! Cell access by column name over the batches of a query result.

use arrow::array::{Array, Int64Array};
use engine::QueryResult;
use engine::value::{to_json, to_kql_string};
use kql::KqlType;
use serde_json::{Map, Value};

/// A query result read row by row, with cells looked up by column name.
pub struct ResultRows<'a> {
    result: &'a QueryResult,
    /// (batch index, row in batch) of every row, in result order.
    positions: Vec<(usize, usize)>,
}

impl<'a> ResultRows<'a> {
    pub fn new(result: &'a QueryResult) -> ResultRows<'a> {
        let positions = result
            .batches
            .iter()
            .enumerate()
            .flat_map(|(batch_index, batch)| {
                (0..batch.num_rows()).map(move |row| (batch_index, row))
            })
            .collect();
        ResultRows { result, positions }
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    fn column_index(&self, name: &str) -> Option<usize> {
        self.result
            .columns
            .iter()
            .position(|column| column.name == name)
    }

    /// Returns a cell as `tostring()` renders it, or `None` when the result
    /// has no such column.
    pub fn text(&self, row: usize, column: &str) -> Option<String> {
        let index = self.column_index(column)?;
        let (batch, offset) = self.positions[row];
        let ty = self.result.columns[index].ty;
        Some(to_kql_string(
            self.result.batches[batch].column(index),
            offset,
            ty,
        ))
    }

    /// Returns a `datetime` cell in 100 ns ticks; `None` when the column is
    /// missing, of another type, or null.
    pub fn datetime_ticks(&self, row: usize, column: &str) -> Option<i64> {
        let index = self.column_index(column)?;
        if self.result.columns[index].ty != KqlType::Datetime {
            return None;
        }
        let (batch, offset) = self.positions[row];
        let array = self.result.batches[batch].column(index);
        let ticks = array.as_any().downcast_ref::<Int64Array>()?;
        (!ticks.is_null(offset)).then(|| ticks.value(offset))
    }

    /// Returns a row as a JSON object keyed by column name.
    pub fn row_object(&self, row: usize) -> Value {
        let (batch, offset) = self.positions[row];
        let object: Map<String, Value> = self
            .result
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| {
                let value = to_json(self.result.batches[batch].column(index), offset, column.ty);
                (column.name.clone(), value)
            })
            .collect();
        Value::Object(object)
    }
}
