//! Errors of `mv-apply`, `make-series`, `top-nested`, `reduce` and the `evaluate`
//! plugins: each bad query fails with a message that names the problem and the fix.

use std::time::Duration;

/// Runs a query over no tables and returns its error message, with the
/// help text when the error has one.
fn error_of(query: &str) -> String {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async {
        let engine = engine::Engine::new();
        let catalog = engine::StaticCatalog::new();
        let options = engine::QueryOptions {
            now_ticks: 0,
            timeout: Duration::from_secs(20),
        };
        match engine.run(query, &catalog, &options).await {
            Ok(_) => panic!("the query should fail: {query}"),
            Err(error) => {
                let help = match &error {
                    engine::EngineError::Semantic(d) | engine::EngineError::NotSupported(d) => {
                        d.help.clone().unwrap_or_default()
                    }
                    _ => String::new(),
                };
                format!("{error} {help}")
            }
        }
    })
}

#[test]
fn mv_apply_rejects_join() {
    let message = error_of(
        "datatable(a: dynamic) [dynamic([1])] | mv-apply a on (join (print x = 1) on $left.a == $right.x)",
    );
    assert!(
        message.contains("not supported inside an `mv-apply` subquery"),
        "{message}"
    );
}

#[test]
fn bag_unpack_names_conflict_fix() {
    let message = error_of(
        r#"datatable(Name: string, d: dynamic) ["x", dynamic({"Name": "y"})] | evaluate bag_unpack(d)"#,
    );
    assert!(message.contains("`Name`"), "{message}");
    assert!(
        message.contains("columnsConflict='replace_source'"),
        "{message}"
    );
}

#[test]
fn pivot_limits_column_count() {
    let message = error_of("range x from 1 to 1025 step 1 | evaluate pivot(x)");
    assert!(message.contains("more than 1024 columns"), "{message}");
}

#[test]
fn unknown_plugin_is_named() {
    let message = error_of("print x = 1 | evaluate sql_request('Server=x', 'select 1')");
    assert!(
        message.contains("`sql_request` is not supported yet"),
        "{message}"
    );
}

#[test]
fn schema_merge_needs_getschema_columns() {
    let message = error_of("print a = 1 | evaluate schema_merge()");
    assert!(
        message.contains("needs a `ColumnName` column of type string"),
        "{message}"
    );
}

#[test]
fn make_series_rejects_zero_step() {
    let message = error_of(
        "print t = datetime(2024-01-01) | make-series count() on t from datetime(2024-01-01) to datetime(2024-01-02) step 0h",
    );
    assert!(
        message.contains("step must be greater than zero"),
        "{message}"
    );
}

#[test]
fn make_series_limits_length() {
    let message = error_of(
        "print t = datetime(2024-01-01) | make-series count() on t from datetime(2000-01-01) to datetime(2024-01-02) step 1s",
    );
    assert!(
        message.contains("more than the limit of 1048576"),
        "{message}"
    );
}

#[test]
fn top_nested_others_value_type_is_checked() {
    let message = error_of(
        r#"datatable(k: long, v: long) [1, 2] | top-nested 1 of k with others = "rest" by sum(v)"#,
    );
    assert!(
        message.contains("the `with others` value is of type string"),
        "{message}"
    );
    assert!(message.contains("give a value of type long"), "{message}");
}

#[test]
fn top_nested_count_must_not_be_negative() {
    let message = error_of("datatable(k: long) [1] | top-nested -1 of k by count()");
    assert!(message.contains("must not be negative"), "{message}");
}

#[test]
fn union_without_isfuzzy_names_missing_table() {
    let message = error_of("union (print a = 1), (NoSuchTable | where a > 0)");
    assert!(message.contains("unknown table `NoSuchTable`"), "{message}");
}

#[test]
fn reduce_threshold_must_be_a_share() {
    let message = error_of("print a = 1 | reduce by a with threshold=2");
    assert!(message.contains("between 0 and 1"), "{message}");
}
