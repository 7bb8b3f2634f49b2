//! Row-by-row construction of Arrow record batches in a table's storage
//! layout (see [`crate::schema::storage_schema`]).
//!
//! A source sets the columns it can fill for one row, then calls
//! [`TableBatchBuilder::finish_row`]. Values of the current row wait in a
//! per-column scratch slot until then, so a column may be set twice (the
//! last value wins). A row costs one append per column it sets. A column
//! catches up on the nulls of the rows that left it unset when it is next
//! set or when the batch is finished. A column that no row of the batch set
//! becomes one null array without any Arrow builder.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanBuilder, Float64Builder, Int32Builder, Int64Builder, StringBuilder,
    TimestampMicrosecondBuilder, new_null_array,
};
use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use chrono::NaiveDate;
use kql::KqlType;

use crate::schema::{TIME_COLUMN, TableDef, storage_schema};

/// 100 ns ticks in one day.
const TICKS_PER_DAY: i64 = 864_000_000_000;

/// Days from 0001-01-01 (day 1 of the common era in chrono) to 1970-01-01.
const UNIX_EPOCH_DAYS_FROM_CE: i64 = 719_163;

/// A row could not be finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// `set_time_generated` was not called for the row, so the hidden
    /// `_hsTimeTicks` and `_hsDate` columns, which are never null, have no value.
    MissingTimeGenerated { table: &'static str },
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowError::MissingTimeGenerated { table } => {
                write!(f, "row of table {table} has no TimeGenerated value")
            }
        }
    }
}

impl std::error::Error for RowError {}

/// The value of one column in the row being built.
#[derive(Debug, Clone)]
enum Pending {
    /// Byte range in the builder's row text buffer.
    Text(Range<usize>),
    Int(i32),
    Long(i64),
    Real(f64),
    Bool(bool),
    /// Microseconds since the Unix epoch.
    Micros(i64),
}

/// One Arrow builder per KQL column, by storage type.
enum ColumnBuilder {
    Utf8(StringBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float64(Float64Builder),
    Boolean(BooleanBuilder),
    Micros(TimestampMicrosecondBuilder),
}

impl ColumnBuilder {
    fn new(ty: KqlType, capacity: usize) -> ColumnBuilder {
        match ty {
            KqlType::String | KqlType::Guid | KqlType::Dynamic | KqlType::Decimal => {
                ColumnBuilder::Utf8(StringBuilder::with_capacity(capacity, capacity * 8))
            }
            KqlType::Int => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            KqlType::Long | KqlType::Timespan => {
                ColumnBuilder::Int64(Int64Builder::with_capacity(capacity))
            }
            KqlType::Real => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            KqlType::Bool => ColumnBuilder::Boolean(BooleanBuilder::with_capacity(capacity)),
            KqlType::Datetime => ColumnBuilder::Micros(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone("UTC"),
            ),
        }
    }

    fn append_nulls(&mut self, count: usize) {
        match self {
            ColumnBuilder::Utf8(b) => b.append_nulls(count),
            ColumnBuilder::Int32(b) => b.append_nulls(count),
            ColumnBuilder::Int64(b) => b.append_nulls(count),
            ColumnBuilder::Float64(b) => b.append_nulls(count),
            ColumnBuilder::Boolean(b) => b.append_nulls(count),
            ColumnBuilder::Micros(b) => b.append_nulls(count),
        }
    }

    /// Appends a pending value, or a null when the value does not match
    /// the column's type (the setters check types, so this never happens).
    fn append(&mut self, pending: &Pending, row_text: &str) {
        match (self, pending) {
            (ColumnBuilder::Utf8(b), Pending::Text(range)) => {
                b.append_value(&row_text[range.clone()])
            }
            (ColumnBuilder::Int32(b), Pending::Int(v)) => b.append_value(*v),
            (ColumnBuilder::Int64(b), Pending::Long(v)) => b.append_value(*v),
            (ColumnBuilder::Float64(b), Pending::Real(v)) => b.append_value(*v),
            (ColumnBuilder::Boolean(b), Pending::Bool(v)) => b.append_value(*v),
            (ColumnBuilder::Micros(b), Pending::Micros(v)) => b.append_value(*v),
            (builder, _) => builder.append_nulls(1),
        }
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Utf8(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Boolean(b) => Arc::new(b.finish()),
            ColumnBuilder::Micros(b) => Arc::new(b.finish()),
        }
    }
}

/// The values of one row of a table, set column by column before the row
/// is appended to a [`TableBatchBuilder`].
///
/// A row can be filled on another thread than the builder's, which is how
/// the EVTX reader maps records on its parser threads. Setting a column
/// twice keeps the last value. The typed setters panic when the column
/// index is out of range or the column's KQL type does not match the
/// setter, since both are programming errors in the caller's mapping.
#[derive(Debug, Clone)]
pub struct Row {
    table: &'static TableDef,
    /// The columns set, each once, with their values.
    values: Vec<(usize, Pending)>,
    /// Text of the row's string values, addressed by `Pending::Text`.
    text: String,
    ticks: Option<i64>,
    time_column: Option<usize>,
}

impl Row {
    /// Creates an empty row of `table`.
    pub fn new(table: &'static TableDef) -> Row {
        Row {
            table,
            values: Vec::with_capacity(32),
            text: String::new(),
            ticks: None,
            time_column: time_column(table),
        }
    }

    /// Returns the table this row belongs to.
    pub fn table(&self) -> &'static TableDef {
        self.table
    }

    /// Removes every value, keeping the table.
    pub fn clear(&mut self) {
        self.values.clear();
        self.text.clear();
        self.ticks = None;
    }

    fn check_type(&self, col: usize, setter: &str, allowed: &[KqlType]) {
        let column = &self.table.columns[col];
        assert!(
            allowed.contains(&column.ty),
            "{setter} called on column {}.{} of type {}",
            self.table.name,
            column.name,
            column.ty
        );
    }

    fn put(&mut self, col: usize, value: Pending) {
        match self.values.iter_mut().find(|(c, _)| *c == col) {
            Some((_, slot)) => *slot = value,
            None => self.values.push((col, value)),
        }
    }

    /// Sets a `string` column, or a `guid`, `dynamic` or `decimal` column,
    /// which are stored as text.
    pub fn set_string(&mut self, col: usize, value: &str) {
        self.check_type(
            col,
            "set_string",
            &[
                KqlType::String,
                KqlType::Guid,
                KqlType::Dynamic,
                KqlType::Decimal,
            ],
        );
        let start = self.text.len();
        self.text.push_str(value);
        self.put(col, Pending::Text(start..self.text.len()));
    }

    /// Sets an `int` column.
    pub fn set_int(&mut self, col: usize, value: i32) {
        self.check_type(col, "set_int", &[KqlType::Int]);
        self.put(col, Pending::Int(value));
    }

    /// Sets a `long` column, or a `timespan` column (stored as 100 ns ticks).
    pub fn set_long(&mut self, col: usize, value: i64) {
        self.check_type(col, "set_long", &[KqlType::Long, KqlType::Timespan]);
        self.put(col, Pending::Long(value));
    }

    /// Sets a `real` column.
    pub fn set_real(&mut self, col: usize, value: f64) {
        self.check_type(col, "set_real", &[KqlType::Real]);
        self.put(col, Pending::Real(value));
    }

    /// Sets a `bool` column.
    pub fn set_bool(&mut self, col: usize, value: bool) {
        self.check_type(col, "set_bool", &[KqlType::Bool]);
        self.put(col, Pending::Bool(value));
    }

    /// Sets a `datetime` column from 100 ns ticks since the Unix epoch. The
    /// stored timestamp has microseconds, rounded toward negative infinity.
    pub fn set_datetime_ticks(&mut self, col: usize, ticks: i64) {
        self.check_type(col, "set_datetime_ticks", &[KqlType::Datetime]);
        self.put(col, Pending::Micros(ticks.div_euclid(10)));
    }

    /// Sets `TimeGenerated` from 100 ns ticks since the Unix epoch: the
    /// column itself (microseconds, rounded down), `_hsTimeTicks` with every
    /// tick, and `_hsDate` with the UTC day. Tables without a `datetime`
    /// column named `TimeGenerated` get only the hidden columns.
    pub fn set_time_generated(&mut self, ticks: i64) {
        self.ticks = Some(ticks);
        if let Some(col) = self.time_column {
            self.put(col, Pending::Micros(ticks.div_euclid(10)));
        }
    }

    /// Sets a column from text, converted to the column's type:
    ///
    /// - `string`, `guid`, `dynamic`, `decimal`: the text as is.
    /// - `int`, `long`: decimal (optionally signed) or `0x` hexadecimal
    ///   (two's complement when it fills the type's width, as Windows writes
    ///   negative HRESULTs), with surrounding whitespace ignored.
    /// - `real`: a decimal floating-point number.
    /// - `bool`: `true`/`false` in any case, or `1`/`0`.
    /// - `datetime`: RFC 3339, such as `2019-02-13T18:04:58.3636968Z`.
    /// - `timespan`: ticks as an integer.
    ///
    /// Returns false and leaves the column unset (null) when the text does
    /// not convert.
    pub fn set_text(&mut self, col: usize, text: &str) -> bool {
        match self.table.columns[col].ty {
            KqlType::String | KqlType::Guid | KqlType::Dynamic | KqlType::Decimal => {
                self.set_string(col, text);
                true
            }
            KqlType::Int => match parse_int_text(text).and_then(|v| i32::try_from(v).ok()) {
                Some(v) => {
                    self.set_int(col, v);
                    true
                }
                None => false,
            },
            KqlType::Long | KqlType::Timespan => match parse_int_text(text) {
                Some(v) => {
                    self.set_long(col, v);
                    true
                }
                None => false,
            },
            KqlType::Real => match text.trim().parse::<f64>() {
                Ok(v) => {
                    self.set_real(col, v);
                    true
                }
                Err(_) => false,
            },
            KqlType::Bool => {
                let text = text.trim();
                let value = if text.eq_ignore_ascii_case("true") || text == "1" {
                    true
                } else if text.eq_ignore_ascii_case("false") || text == "0" {
                    false
                } else {
                    return false;
                };
                self.set_bool(col, value);
                true
            }
            KqlType::Datetime => match chrono::DateTime::parse_from_rfc3339(text.trim()) {
                Ok(t) => {
                    let utc = t.to_utc();
                    let ticks = utc.timestamp() * 10_000_000
                        + i64::from(utc.timestamp_subsec_nanos() / 100);
                    self.set_datetime_ticks(col, ticks);
                    true
                }
                Err(_) => false,
            },
        }
    }
}

/// Returns the index of a table's `TimeGenerated` column when it is a
/// `datetime`.
fn time_column(table: &TableDef) -> Option<usize> {
    table
        .column_index(TIME_COLUMN)
        .filter(|&i| table.columns[i].ty == KqlType::Datetime)
}

/// Builds a [`RecordBatch`] in `storage_schema(table)` layout, row by row.
///
/// Every unset column is stored as null, strings included: most of a
/// table's 218 columns are empty in any one row, and nulls cost the Parquet
/// writer almost nothing, where empty strings went through dictionary
/// encoding and statistics one by one. Readers that follow KQL, which has
/// no null strings, read a null string as `""`. The hidden columns are filled from `set_time_generated` and from
/// the import id and ingest time given to [`TableBatchBuilder::new`].
///
/// The setters fill the current row (see [`Row`] for their contract), and
/// [`TableBatchBuilder::finish_row`] appends it. Rows filled elsewhere are
/// appended with [`TableBatchBuilder::append_row`].
pub struct TableBatchBuilder {
    table: &'static TableDef,
    schema: SchemaRef,
    /// One builder per KQL column, created when a row first sets the column.
    columns: Vec<Option<ColumnBuilder>>,
    /// Rows appended to each column's builder so far in this batch.
    column_rows: Vec<usize>,
    /// Expected rows per batch, the capacity of new builders.
    capacity: usize,
    /// The row being set through the builder's setters.
    row: Row,
    time_ticks: Int64Builder,
    date: StringBuilder,
    import_id: StringBuilder,
    ingest_ticks: Int64Builder,
    import_id_value: String,
    ingest_ticks_value: i64,
    /// The last day number (days since the Unix epoch) and its `YYYY-MM-DD`.
    date_cache: Option<(i64, String)>,
    rows: usize,
}

impl TableBatchBuilder {
    /// Creates a builder for `table` whose rows all carry `import_id` and
    /// `ingest_ticks` (100 ns ticks since the Unix epoch) in the hidden
    /// columns. `capacity` is the expected number of rows per batch.
    pub fn new(
        table: &'static TableDef,
        import_id: &str,
        ingest_ticks: i64,
        capacity: usize,
    ) -> TableBatchBuilder {
        let columns = table.columns.iter().map(|_| None).collect();
        TableBatchBuilder {
            table,
            schema: storage_schema(table),
            columns,
            column_rows: vec![0; table.columns.len()],
            capacity,
            row: Row::new(table),
            time_ticks: Int64Builder::with_capacity(capacity),
            date: StringBuilder::with_capacity(capacity, capacity * 10),
            import_id: StringBuilder::with_capacity(capacity, capacity * import_id.len()),
            ingest_ticks: Int64Builder::with_capacity(capacity),
            import_id_value: import_id.to_string(),
            ingest_ticks_value: ingest_ticks,
            date_cache: None,
            rows: 0,
        }
    }

    /// Returns the table this builder fills.
    pub fn table(&self) -> &'static TableDef {
        self.table
    }

    /// The Arrow schema of the batches this builder returns.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Number of finished rows not yet returned by [`Self::finish`].
    pub fn len(&self) -> usize {
        self.rows
    }

    /// True when no finished row is waiting.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Returns the row being built, to set its values.
    pub fn row(&mut self) -> &mut Row {
        &mut self.row
    }

    /// Sets a text column of the current row; see [`Row::set_string`].
    pub fn set_string(&mut self, col: usize, value: &str) {
        self.row.set_string(col, value);
    }

    /// Sets an `int` column of the current row; see [`Row::set_int`].
    pub fn set_int(&mut self, col: usize, value: i32) {
        self.row.set_int(col, value);
    }

    /// Sets a `long` column of the current row; see [`Row::set_long`].
    pub fn set_long(&mut self, col: usize, value: i64) {
        self.row.set_long(col, value);
    }

    /// Sets a `real` column of the current row; see [`Row::set_real`].
    pub fn set_real(&mut self, col: usize, value: f64) {
        self.row.set_real(col, value);
    }

    /// Sets a `bool` column of the current row; see [`Row::set_bool`].
    pub fn set_bool(&mut self, col: usize, value: bool) {
        self.row.set_bool(col, value);
    }

    /// Sets a `datetime` column of the current row; see
    /// [`Row::set_datetime_ticks`].
    pub fn set_datetime_ticks(&mut self, col: usize, ticks: i64) {
        self.row.set_datetime_ticks(col, ticks);
    }

    /// Sets the current row's time; see [`Row::set_time_generated`].
    pub fn set_time_generated(&mut self, ticks: i64) {
        self.row.set_time_generated(ticks);
    }

    /// Sets a column of the current row from text; see [`Row::set_text`].
    pub fn set_text(&mut self, col: usize, text: &str) -> bool {
        self.row.set_text(col, text)
    }

    /// Appends the current row to the batch and clears the row scratch.
    ///
    /// Fails, discarding the row, when `set_time_generated` was not called.
    pub fn finish_row(&mut self) -> Result<(), RowError> {
        let row = std::mem::replace(&mut self.row, Row::new(self.table));
        let result = self.append_row(&row);
        self.row = row;
        self.row.clear();
        result
    }

    /// Appends a row filled elsewhere. The row must belong to this
    /// builder's table.
    ///
    /// Fails, appending nothing, when the row has no `TimeGenerated`.
    pub fn append_row(&mut self, row: &Row) -> Result<(), RowError> {
        assert_eq!(
            row.table.name, self.table.name,
            "a row of {} appended to a builder of {}",
            row.table.name, self.table.name
        );
        let Some(ticks) = row.ticks else {
            return Err(RowError::MissingTimeGenerated {
                table: self.table.name,
            });
        };

        for (col, pending) in &row.values {
            let col = *col;
            let capacity = self.capacity;
            let ty = self.table.columns[col].ty;
            let builder = self.columns[col].get_or_insert_with(|| ColumnBuilder::new(ty, capacity));
            builder.append_nulls(self.rows - self.column_rows[col]);
            builder.append(pending, &row.text);
            self.column_rows[col] = self.rows + 1;
        }

        self.time_ticks.append_value(ticks);
        let day = ticks.div_euclid(TICKS_PER_DAY);
        if self.date_cache.as_ref().map(|(cached, _)| *cached) != Some(day) {
            self.date_cache = Some((day, format_day(day)));
        }
        if let Some((_, date)) = &self.date_cache {
            self.date.append_value(date);
        }
        self.import_id.append_value(&self.import_id_value);
        self.ingest_ticks.append_value(self.ingest_ticks_value);
        self.rows += 1;
        Ok(())
    }

    /// Discards the values set for the current row.
    pub fn reset_row(&mut self) {
        self.row.clear();
    }

    /// Returns the finished rows as one batch and starts an empty one. A row
    /// in progress (set but not finished) is kept.
    pub fn finish(&mut self) -> RecordBatch {
        let rows = self.rows;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (col, builder) in self.columns.iter_mut().enumerate() {
            let array = match builder {
                Some(builder) => {
                    builder.append_nulls(rows - self.column_rows[col]);
                    builder.finish()
                }
                None => new_null_array(self.schema.field(col).data_type(), rows),
            };
            self.column_rows[col] = 0;
            arrays.push(array);
        }
        arrays.push(Arc::new(self.time_ticks.finish()));
        arrays.push(Arc::new(self.date.finish()));
        arrays.push(Arc::new(self.import_id.finish()));
        arrays.push(Arc::new(self.ingest_ticks.finish()));
        self.rows = 0;
        RecordBatch::try_new(self.schema.clone(), arrays)
            .expect("builders are created from the same table definition as the schema")
    }
}

/// Formats a day number (days since 1970-01-01) as `YYYY-MM-DD`. Days
/// outside chrono's range (beyond about ±262,000 years) format as
/// `0000-00-00`, which no real event reaches.
fn format_day(day: i64) -> String {
    i32::try_from(day + UNIX_EPOCH_DAYS_FROM_CE)
        .ok()
        .and_then(NaiveDate::from_num_days_from_ce_opt)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| "0000-00-00".to_string())
}

/// Parses decimal or `0x` hexadecimal integer text as Windows event data
/// writes it. Hexadecimal of 9 to 16 digits is read as a two's-complement
/// `i64`, so `0xffffffffffffffff` is -1; 8 hex digits or fewer are read as a
/// non-negative value, which `set_text` rejects for an `int` column above
/// `i32::MAX`.
pub fn parse_int_text(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 16 {
            return None;
        }
        return u64::from_str_radix(hex, 16).ok().map(|v| v as i64);
    }
    text.parse::<i64>().ok()
}

#[cfg(test)]
mod tests {
    use arrow::array::{
        Array, BooleanArray, Int32Array, Int64Array, StringArray, TimestampMicrosecondArray,
    };

    use super::*;
    use crate::schema::{ColumnDef, DATE_COLUMN, IMPORT_ID_COLUMN, INGEST_TICKS_COLUMN};

    static TEST_TABLE: TableDef = TableDef {
        name: "TestTable",
        columns: &[
            ColumnDef {
                name: "Computer",
                ty: KqlType::String,
            },
            ColumnDef {
                name: "EventID",
                ty: KqlType::Int,
            },
            ColumnDef {
                name: "Bytes",
                ty: KqlType::Long,
            },
            ColumnDef {
                name: "Flag",
                ty: KqlType::Bool,
            },
            ColumnDef {
                name: "Id",
                ty: KqlType::Guid,
            },
            ColumnDef {
                name: "TimeGenerated",
                ty: KqlType::Datetime,
            },
        ],
    };

    /// 2019-02-13T18:04:58.3636968Z in ticks since the Unix epoch.
    const TICKS: i64 = 15_500_810_983_636_968;

    fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
        batch
            .column_by_name(name)
            .unwrap_or_else(|| panic!("no column {name}"))
            .as_any()
            .downcast_ref::<T>()
            .unwrap_or_else(|| panic!("column {name} has another type"))
    }

    #[test]
    fn appends_rows_filled_elsewhere() {
        let mut row = Row::new(&TEST_TABLE);
        row.set_string(0, "PC01");
        row.set_string(0, "PC02");
        row.set_int(1, 4624);
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "import-1", 42, 2);
        let missing_time = builder.append_row(&row);
        assert!(
            missing_time.is_err(),
            "a row without TimeGenerated is rejected"
        );
        assert!(builder.is_empty());

        row.set_time_generated(TICKS);
        builder.append_row(&row).unwrap();
        row.clear();
        row.set_time_generated(TICKS + 1);
        builder.append_row(&row).unwrap();
        let batch = builder.finish();

        let computer = column::<StringArray>(&batch, "Computer");
        assert_eq!(computer.value(0), "PC02", "the last value set wins");
        assert!(computer.is_null(1), "clear removes the values");
        let event_id = column::<Int32Array>(&batch, "EventID");
        assert_eq!(event_id.value(0), 4624);
        assert!(event_id.is_null(1));
    }

    #[test]
    fn fills_nulls_around_sparse_values() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "import-1", 42, 2);
        for row in 0..5 {
            if row == 2 {
                builder.set_int(1, 4625);
            }
            if row == 4 {
                builder.set_string(0, "PC02");
            }
            builder.set_time_generated(TICKS + row);
            builder.finish_row().unwrap();
        }
        let batch = builder.finish();
        assert_eq!(batch.num_rows(), 5);

        let event_id = column::<Int32Array>(&batch, "EventID");
        let ids: Vec<Option<i32>> = event_id.iter().collect();
        assert_eq!(ids, vec![None, None, Some(4625), None, None]);

        let computer = column::<StringArray>(&batch, "Computer");
        let names: Vec<Option<&str>> = computer.iter().collect();
        assert_eq!(names, vec![None, None, None, None, Some("PC02")]);

        let bytes = column::<Int64Array>(&batch, "Bytes");
        assert_eq!(bytes.null_count(), 5, "a column no row set is all null");

        // The next batch starts from an empty state.
        builder.set_int(1, 1);
        builder.set_time_generated(TICKS);
        builder.finish_row().unwrap();
        let batch = builder.finish();
        let event_id = column::<Int32Array>(&batch, "EventID");
        assert_eq!(event_id.len(), 1);
        assert_eq!(event_id.value(0), 1);
        assert_eq!(column::<StringArray>(&batch, "Computer").null_count(), 1);
    }

    #[test]
    fn builds_rows_with_defaults() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "import-1", 42, 4);
        builder.set_string(0, "PC01");
        builder.set_int(1, 4624);
        builder.set_time_generated(TICKS);
        builder.finish_row().unwrap();
        builder.set_time_generated(TICKS + 1);
        builder.set_bool(3, true);
        builder.set_string(4, "af83a89c-c68a-5397-5ac6-24a0c4d2baf6");
        builder.finish_row().unwrap();
        assert_eq!(builder.len(), 2);

        let batch = builder.finish();
        assert_eq!(batch.num_rows(), 2);
        assert_eq!(batch.schema(), storage_schema(&TEST_TABLE));
        assert!(builder.is_empty());

        let computer = column::<StringArray>(&batch, "Computer");
        assert_eq!(computer.value(0), "PC01");
        assert!(computer.is_null(1), "unset string is stored as null");
        assert_eq!(computer.null_count(), 1);

        let event_id = column::<Int32Array>(&batch, "EventID");
        assert_eq!(event_id.value(0), 4624);
        assert!(event_id.is_null(1));

        let bytes = column::<Int64Array>(&batch, "Bytes");
        assert_eq!(bytes.null_count(), 2);

        let flag = column::<BooleanArray>(&batch, "Flag");
        assert!(flag.is_null(0));
        assert!(flag.value(1));

        let id = column::<StringArray>(&batch, "Id");
        assert!(id.is_null(0), "unset guid is null");
        assert_eq!(id.value(1), "af83a89c-c68a-5397-5ac6-24a0c4d2baf6");

        let time = column::<TimestampMicrosecondArray>(&batch, "TimeGenerated");
        assert_eq!(time.value(0), TICKS / 10);
        let ticks = column::<Int64Array>(&batch, "_hsTimeTicks");
        assert_eq!(ticks.value(0), TICKS);
        assert_eq!(ticks.value(1), TICKS + 1);
        let date = column::<StringArray>(&batch, DATE_COLUMN);
        assert_eq!(date.value(0), "2019-02-13");
        let import = column::<StringArray>(&batch, IMPORT_ID_COLUMN);
        assert_eq!(import.value(1), "import-1");
        let ingest = column::<Int64Array>(&batch, INGEST_TICKS_COLUMN);
        assert_eq!(ingest.value(1), 42);
    }

    #[test]
    fn last_value_wins_within_row() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 1);
        builder.set_string(0, "first");
        builder.set_string(0, "second");
        builder.set_time_generated(0);
        builder.finish_row().unwrap();
        let batch = builder.finish();
        assert_eq!(column::<StringArray>(&batch, "Computer").value(0), "second");
    }

    #[test]
    fn row_without_time_is_rejected() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 1);
        builder.set_string(0, "PC01");
        assert_eq!(
            builder.finish_row(),
            Err(RowError::MissingTimeGenerated { table: "TestTable" })
        );
        assert!(builder.is_empty());
        // The rejected row's values do not leak into the next row.
        builder.set_time_generated(0);
        builder.finish_row().unwrap();
        let batch = builder.finish();
        assert!(column::<StringArray>(&batch, "Computer").is_null(0));
    }

    #[test]
    fn set_text_converts_by_type() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 1);
        assert!(builder.set_text(1, "0x10"));
        assert!(builder.set_text(2, "-5"));
        assert!(builder.set_text(3, "False"));
        assert!(builder.set_text(5, "2019-02-13T18:04:58.3636968Z"));
        builder.set_time_generated(TICKS);
        builder.finish_row().unwrap();
        assert!(!builder.set_text(1, "%%2309"));
        assert!(!builder.set_text(1, "0x1ffffffff"), "too large for int");
        assert!(!builder.set_text(3, "yes"));
        builder.set_time_generated(TICKS);
        builder.finish_row().unwrap();

        let batch = builder.finish();
        let event_id = column::<Int32Array>(&batch, "EventID");
        assert_eq!(event_id.value(0), 16);
        assert!(event_id.is_null(1));
        assert_eq!(column::<Int64Array>(&batch, "Bytes").value(0), -5);
        let flag = column::<BooleanArray>(&batch, "Flag");
        assert!(!flag.value(0));
        assert!(flag.is_null(1));
        let time = column::<TimestampMicrosecondArray>(&batch, "TimeGenerated");
        assert_eq!(time.value(0), TICKS / 10);
    }

    #[test]
    fn builder_is_reusable_after_finish() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 2);
        for batch_number in 0..3 {
            for row in 0..5 {
                builder.set_int(1, batch_number * 10 + row);
                builder.set_time_generated(i64::from(row));
                builder.finish_row().unwrap();
            }
            let batch = builder.finish();
            assert_eq!(batch.num_rows(), 5);
            let event_id = column::<Int32Array>(&batch, "EventID");
            assert_eq!(event_id.value(4), batch_number * 10 + 4);
        }
    }

    #[test]
    fn dates_before_epoch_and_day_boundaries() {
        assert_eq!(format_day(0), "1970-01-01");
        assert_eq!(format_day(-1), "1969-12-31");
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 3);
        for ticks in [-1, TICKS_PER_DAY - 1, TICKS_PER_DAY] {
            builder.set_time_generated(ticks);
            builder.finish_row().unwrap();
        }
        let batch = builder.finish();
        let date = column::<StringArray>(&batch, DATE_COLUMN);
        assert_eq!(date.value(0), "1969-12-31");
        assert_eq!(date.value(1), "1970-01-01");
        assert_eq!(date.value(2), "1970-01-02");
        let time = column::<TimestampMicrosecondArray>(&batch, "TimeGenerated");
        assert_eq!(
            time.value(0),
            -1,
            "microseconds round toward negative infinity"
        );
    }

    #[test]
    fn parses_integer_text() {
        assert_eq!(parse_int_text("42"), Some(42));
        assert_eq!(parse_int_text(" -7 "), Some(-7));
        assert_eq!(parse_int_text("0x3e7"), Some(999));
        assert_eq!(parse_int_text("0XFF"), Some(255));
        assert_eq!(parse_int_text("0xffffffffffffffff"), Some(-1));
        assert_eq!(parse_int_text("0x"), None);
        assert_eq!(parse_int_text("-"), None);
        assert_eq!(parse_int_text(""), None);
        assert_eq!(parse_int_text("0x1ffffffffffffffff"), None);
    }

    #[test]
    #[should_panic(expected = "set_int called on column TestTable.Computer")]
    fn wrong_setter_panics() {
        let mut builder = TableBatchBuilder::new(&TEST_TABLE, "i", 0, 1);
        builder.set_int(0, 1);
    }
}
