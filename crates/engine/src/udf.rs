//! A small adapter that turns a Rust function over Arrow arrays into a
//! DataFusion scalar UDF.
//!
//! KQL functions are registered under names prefixed with `kql_` so they
//! never shadow a DataFusion built-in. The planner always passes arguments
//! of the physical types a function expects (it inserts casts), and each
//! function also casts its inputs defensively, because table scans may hand
//! strings over as `Utf8View`.

use std::fmt;
use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{
    ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};

/// The Rust body of a scalar function: receives one array per argument, all
/// of the same length, and returns an array of that length.
pub type ArrayFn = Arc<dyn Fn(&[ArrayRef]) -> Result<ArrayRef> + Send + Sync>;

pub struct ArrayUdf {
    name: String,
    signature: Signature,
    return_type: DataType,
    body: ArrayFn,
}

impl fmt::Debug for ArrayUdf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayUdf")
            .field("name", &self.name)
            .finish()
    }
}

impl PartialEq for ArrayUdf {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.return_type == other.return_type
    }
}

impl Eq for ArrayUdf {}

impl std::hash::Hash for ArrayUdf {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for ArrayUdf {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalar = args
            .args
            .iter()
            .all(|a| matches!(a, ColumnarValue::Scalar(_)));
        let rows = if all_scalar { 1 } else { args.number_rows };
        let arrays: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(rows))
            .collect::<Result<_>>()?;
        let out = (self.body)(&arrays)?;
        if all_scalar && args.number_rows != 1 {
            let scalar = datafusion::common::ScalarValue::try_from_array(&out, 0)?;
            return Ok(ColumnarValue::Scalar(scalar));
        }
        Ok(ColumnarValue::Array(out))
    }
}

/// Builds a call expression of a function whose body is `body`.
///
/// `name` must identify the behaviour uniquely: two calls with the same
/// name are treated as the same function by the optimizer.
pub fn call(
    name: &str,
    return_type: DataType,
    volatile: bool,
    body: ArrayFn,
    args: Vec<Expr>,
) -> Expr {
    let volatility = if volatile {
        Volatility::Volatile
    } else {
        Volatility::Immutable
    };
    let udf = ArrayUdf {
        name: format!("kql_{name}"),
        signature: Signature::variadic_any(volatility),
        return_type,
        body,
    };
    let udf = Arc::new(ScalarUDF::new_from_impl(udf));
    if args.is_empty() {
        // A variadic signature needs at least one argument.
        return udf.call(vec![datafusion::prelude::lit(0i64)]);
    }
    udf.call(args)
}
