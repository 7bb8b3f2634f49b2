//! `serialize` with `prev`, `next` and `row_number`, in `extend` and in
//! `where`.

use engine::{Engine, QueryOptions, StaticCatalog};
use serde_json::{Value, json};

fn rows(query: &str) -> Vec<Vec<Value>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime
        .block_on(Engine::new().run(query, &StaticCatalog::new(), &QueryOptions::default()))
        .unwrap_or_else(|e| panic!("query failed: {}", e.render(query)));
    engine::output::rows_json(&result)
}

#[test]
fn prev_next_follow_sort() {
    let result = rows(
        "datatable(a:long, b:string)[3,'c',1,'a',2,'b'] \
         | sort by a asc | serialize \
         | extend p = prev(b), n = next(a, 1, -1), r = row_number()",
    );
    assert_eq!(
        result,
        vec![
            vec![json!(1), json!("a"), json!(""), json!(2), json!(1)],
            vec![json!(2), json!("b"), json!("a"), json!(3), json!(2)],
            vec![json!(3), json!("c"), json!("b"), json!(-1), json!(3)],
        ]
    );
}

#[test]
fn prev_in_where() {
    let result =
        rows("datatable(a:long)[3,1,2,5] | sort by a asc | serialize | where a - prev(a) == 1");
    assert_eq!(result, vec![vec![json!(2)], vec![json!(3)]]);
}

#[test]
fn row_number_start() {
    let result = rows("datatable(a:long)[3,1] | order by a desc | extend r = row_number(10)");
    assert_eq!(
        result,
        vec![vec![json!(3), json!(10)], vec![json!(1), json!(11)]]
    );
}
