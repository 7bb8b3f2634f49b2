//! KQL scalar functions and operators as DataFusion expressions.
//!
//! Where a DataFusion built-in has KQL's semantics it is used directly;
//! otherwise the function is a `kql_*` UDF built with [`crate::udf`].

pub mod arrays;
pub mod bags;
pub mod codec;
pub mod convert;
pub mod datetime;
pub mod decompose;
pub mod digest;
pub mod dynamic;
pub mod expand;
pub mod geo;
pub mod ipv4;
pub mod ipv6;
pub mod math;
pub mod parse;
pub mod parse_kv;
pub mod patterns;
pub mod percentile;
pub mod rows;
pub mod schema;
pub mod series;
pub mod strings;
pub mod text;
pub mod url;
pub mod xml;

pub use convert::{to_bool, to_datetime, to_dynamic, to_number, to_string, to_timespan};
pub use dynamic::dynamic_get;
pub use strings::{has_any, lower, matches_regex, string_operator};

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{DataType, Int64Type};
use datafusion::common::{DataFusionError, Result};
use kql::KqlType;

use dynamic::JsonFn;

/// A scalar function computed over the JSON values of its arguments (see
/// [`dynamic::json_call`]), with its argument count limits.
pub struct JsonFunction {
    pub name: &'static str,
    pub min_args: usize,
    pub max_args: usize,
    pub returns: KqlType,
    pub body: JsonFn,
}

impl JsonFunction {
    pub const fn new(
        name: &'static str,
        min_args: usize,
        max_args: usize,
        returns: KqlType,
        body: JsonFn,
    ) -> JsonFunction {
        JsonFunction {
            name,
            min_args,
            max_args,
            returns,
            body,
        }
    }
}

/// Every function over JSON values, by name.
pub fn json_functions() -> impl Iterator<Item = &'static JsonFunction> {
    arrays::ARRAY_FUNCTIONS
        .iter()
        .chain(bags::BAG_FUNCTIONS)
        .chain(xml::XML_FUNCTIONS)
        .chain(ipv4::IPV4_FUNCTIONS)
        .chain(ipv6::IPV6_FUNCTIONS)
        .chain(geo::GEO_FUNCTIONS)
        .chain(text::TEXT_FUNCTIONS)
        .chain(url::URL_FUNCTIONS)
        .chain(datetime::DATETIME_FUNCTIONS)
        .chain(series::SERIES_FUNCTIONS)
        .chain(decompose::DECOMPOSE_FUNCTIONS)
        .chain(patterns::PATTERN_FUNCTIONS)
        .chain(schema::SCHEMA_FUNCTIONS)
        .chain(math::MATH_FUNCTIONS)
        .chain(codec::CODEC_FUNCTIONS)
        .chain(digest::DIGEST_FUNCTIONS)
}

/// Finds a function over JSON values by its KQL name.
pub fn json_function(name: &str) -> Option<&'static JsonFunction> {
    json_functions().find(|function| function.name == name)
}

/// Casts an argument array to `Utf8` so bodies can use `as_string::<i32>`.
pub(crate) fn utf8(array: &ArrayRef) -> Result<ArrayRef> {
    if array.data_type() == &DataType::Utf8 {
        return Ok(array.clone());
    }
    arrow::compute::cast(array, &DataType::Utf8).map_err(DataFusionError::from)
}

/// Casts an argument array to `Int64`.
pub(crate) fn int64(array: &ArrayRef) -> Result<ArrayRef> {
    if array.data_type() == &DataType::Int64 {
        return Ok(array.clone());
    }
    arrow::compute::cast(array, &DataType::Int64).map_err(DataFusionError::from)
}

/// Returns the value of an `Int64` array at `row`, or `None` for null.
pub(crate) fn long_at(array: &ArrayRef, row: usize) -> Option<i64> {
    let values = array.as_primitive::<Int64Type>();
    values.is_valid(row).then(|| values.value(row))
}

/// Returns the string at `row` of a `Utf8` array, treating null as "".
pub(crate) fn str_at(array: &ArrayRef, row: usize) -> &str {
    let values = array.as_string::<i32>();
    if values.is_valid(row) {
        values.value(row)
    } else {
        ""
    }
}
