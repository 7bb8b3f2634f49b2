use crate::ast::*;
use crate::diagnostic::Diagnostic;
use crate::span::Span;

fn parse(query: &str) -> Query {
    crate::parse(query).unwrap_or_else(|d| panic!("{}", crate::render_diagnostic(query, &d)))
}

fn parse_err(query: &str) -> Diagnostic {
    match crate::parse(query) {
        Ok(tree) => panic!("expected an error for {query:?}, got {tree:#?}"),
        Err(d) => d,
    }
}

fn body(query: &str) -> TabularExpr {
    parse(query).body.expect("query has a body")
}

fn ops(query: &str) -> Vec<OperatorKind> {
    body(query)
        .operators
        .into_iter()
        .map(|op| op.kind)
        .collect()
}

fn single_op(query: &str) -> OperatorKind {
    let mut all = ops(query);
    assert_eq!(all.len(), 1, "{all:#?}");
    all.remove(0)
}

/// Parses `print <text>` and returns the printed expression.
fn expr(text: &str) -> Expr {
    match body(&format!("print {text}")).source {
        Source::Print(mut items) => {
            assert_eq!(items.len(), 1, "{items:#?}");
            items.remove(0).expr
        }
        other => panic!("expected print, got {other:?}"),
    }
}

fn literal(text: &str) -> Literal {
    match expr(text).kind {
        ExprKind::Literal(literal) => literal,
        other => panic!("expected a literal for {text:?}, got {other:?}"),
    }
}

/// Renders an expression as a compact S-expression so that tests can state
/// the tree shape in one line.
fn sexpr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Literal(Literal::Long(v)) => v.to_string(),
        ExprKind::Literal(Literal::Real(v)) => format!("{v:?}"),
        ExprKind::Literal(Literal::String(s)) => format!("{s:?}"),
        ExprKind::Literal(Literal::Bool(b)) => b.to_string(),
        ExprKind::Literal(Literal::Timespan(t)) => format!("{t}t"),
        ExprKind::Literal(other) => format!("{other:?}"),
        ExprKind::Name(id) => id.name.clone(),
        ExprKind::Call(call) => {
            let args: Vec<String> = call
                .args
                .iter()
                .map(|a| match &a.name {
                    Some(n) => format!("{}={}", n.name, sexpr(&a.value)),
                    None => sexpr(&a.value),
                })
                .collect();
            format!("{}({})", call.name.name, args.join(", "))
        }
        ExprKind::Member { target, member } => format!("{}.{}", sexpr(target), member.name),
        ExprKind::Index { target, index } => format!("{}[{}]", sexpr(target), sexpr(index)),
        ExprKind::Unary { op, operand } => format!("({op:?} {})", sexpr(operand)),
        ExprKind::Binary { op, left, right } => {
            let op = match op {
                BinaryOp::Or => "or".to_string(),
                BinaryOp::And => "and".to_string(),
                BinaryOp::Add => "+".to_string(),
                BinaryOp::Subtract => "-".to_string(),
                BinaryOp::Multiply => "*".to_string(),
                BinaryOp::Divide => "/".to_string(),
                BinaryOp::Modulo => "%".to_string(),
                BinaryOp::Equal => "==".to_string(),
                BinaryOp::NotEqual => "!=".to_string(),
                BinaryOp::Less => "<".to_string(),
                BinaryOp::LessOrEqual => "<=".to_string(),
                BinaryOp::Greater => ">".to_string(),
                BinaryOp::GreaterOrEqual => ">=".to_string(),
                BinaryOp::EqualCi => "=~".to_string(),
                BinaryOp::NotEqualCi => "!~".to_string(),
                BinaryOp::String(s) => format!(
                    "{}{:?}{}",
                    if s.negated { "!" } else { "" },
                    s.kind,
                    if s.case_sensitive { "_cs" } else { "" }
                ),
            };
            format!("({op} {} {})", sexpr(left), sexpr(right))
        }
        ExprKind::In {
            target,
            list,
            negated,
            case_sensitive,
        } => format!(
            "({}in{} {} {})",
            if *negated { "!" } else { "" },
            if *case_sensitive { "" } else { "~" },
            sexpr(target),
            list_sexpr(list)
        ),
        ExprKind::Between {
            target,
            low,
            high,
            negated,
        } => format!(
            "({}between {} {} {})",
            if *negated { "!" } else { "" },
            sexpr(target),
            sexpr(low),
            sexpr(high)
        ),
        ExprKind::HasAny { target, list, all } => format!(
            "({} {} {})",
            if *all { "has_all" } else { "has_any" },
            sexpr(target),
            list_sexpr(list)
        ),
        ExprKind::Star => "*".to_string(),
        ExprKind::Paren(inner) => format!("[{}]", sexpr(inner)),
        ExprKind::Tabular(t) => format!("<tabular {} ops>", t.operators.len()),
    }
}

fn list_sexpr(list: &InList) -> String {
    match list {
        InList::Values(values) => {
            let items: Vec<String> = values.iter().map(sexpr).collect();
            format!("[{}]", items.join(", "))
        }
        InList::Tabular(t) => format!("<tabular {} ops>", t.operators.len()),
    }
}

fn names(items: &[NamedExpr]) -> Vec<String> {
    items
        .iter()
        .map(|item| {
            let names: Vec<&str> = item.names.iter().map(|n| n.name.as_str()).collect();
            format!("{}={}", names.join(","), sexpr(&item.expr))
        })
        .collect()
}

// ---- expressions ---------------------------------------------------------

#[test]
fn precedence_of_arithmetic() {
    assert_eq!(sexpr(&expr("1 + 2 * 3")), "(+ 1 (* 2 3))");
    assert_eq!(sexpr(&expr("1 - 2 - 3")), "(- (- 1 2) 3)");
    assert_eq!(sexpr(&expr("(1 + 2) * 3 % 4")), "(% (* [(+ 1 2)] 3) 4)");
    assert_eq!(sexpr(&expr("a / b + c")), "(+ (/ a b) c)");
}

#[test]
fn precedence_of_logic_and_comparison() {
    assert_eq!(
        sexpr(&expr("a == 1 or b > 2 and c has 'x'")),
        r#"(or (== a 1) (and (> b 2) (Has c "x")))"#
    );
    assert_eq!(sexpr(&expr("a + 1 < b * 2")), "(< (+ a 1) (* b 2))");
    assert_eq!(sexpr(&expr("a and b and c")), "(and (and a b) c)");
    assert_eq!(sexpr(&expr("not(a) or b")), "(or not(a) b)");
}

#[test]
fn unary_minus_binds_tighter_than_multiply() {
    assert_eq!(sexpr(&expr("-a * b")), "(* (Negate a) b)");
    assert_eq!(sexpr(&expr("a - -2")), "(- a -2)");
    assert_eq!(sexpr(&expr("-(a)")), "(Negate [a])");
    assert_eq!(sexpr(&expr("+x")), "(Plus x)");
}

#[test]
fn negative_number_literals_fold() {
    assert_eq!(literal("-5"), Literal::Long(-5));
    assert_eq!(literal("-9223372036854775808"), Literal::Long(i64::MIN));
    assert_eq!(literal("-1.5"), Literal::Real(-1.5));
    assert_eq!(literal("-1h"), Literal::Timespan(-36_000_000_000));
    let e = expr("-5");
    assert_eq!(e.span, Span::new(6, 8));
}

#[test]
fn string_operators() {
    let cases = [
        ("a has 'x'", r#"(Has a "x")"#),
        ("a !has 'x'", r#"(!Has a "x")"#),
        ("a has_cs 'x'", r#"(Has_cs a "x")"#),
        ("a !has_cs 'x'", r#"(!Has_cs a "x")"#),
        ("a hasprefix 'x'", r#"(HasPrefix a "x")"#),
        ("a !hasprefix_cs 'x'", r#"(!HasPrefix_cs a "x")"#),
        ("a hassuffix 'x'", r#"(HasSuffix a "x")"#),
        ("a contains 'x'", r#"(Contains a "x")"#),
        ("a !contains_cs 'x'", r#"(!Contains_cs a "x")"#),
        ("a startswith 'x'", r#"(StartsWith a "x")"#),
        ("a !startswith_cs 'x'", r#"(!StartsWith_cs a "x")"#),
        ("a endswith 'x'", r#"(EndsWith a "x")"#),
        ("a !endswith 'x'", r#"(!EndsWith a "x")"#),
        (
            "a matches regex '[0-9]+'",
            r#"(MatchesRegex_cs a "[0-9]+")"#,
        ),
        ("a =~ 'x'", r#"(=~ a "x")"#),
        ("a !~ 'x'", r#"(!~ a "x")"#),
        ("a != 1", "(!= a 1)"),
        ("a <> 1", "(!= a 1)"),
        ("a <= 1", "(<= a 1)"),
        ("a >= 1", "(>= a 1)"),
    ];
    for (text, expected) in cases {
        assert_eq!(sexpr(&expr(text)), expected, "for {text}");
    }
}

#[test]
fn in_and_has_any_lists() {
    assert_eq!(sexpr(&expr("a in (1, 2, 3)")), "(in a [1, 2, 3])");
    assert_eq!(sexpr(&expr("a !in ('x')")), r#"(!in a ["x"])"#);
    assert_eq!(sexpr(&expr("a in~ ('x', 'y')")), r#"(in~ a ["x", "y"])"#);
    assert_eq!(sexpr(&expr("a !in~ (L)")), "(!in~ a [L])");
    assert_eq!(
        sexpr(&expr("a has_any ('x', 'y')")),
        r#"(has_any a ["x", "y"])"#
    );
    assert_eq!(sexpr(&expr("a has_all (L)")), "(has_all a [L])");
    assert_eq!(
        sexpr(&expr("a in (T | where b > 1 | project a)")),
        "(in a <tabular 2 ops>)"
    );
    assert_eq!(
        sexpr(&expr("a in (dynamic(['x', 'y']))")),
        r#"(in a [Dynamic("[\"x\", \"y\"]")])"#
    );
    assert_eq!(
        sexpr(&expr("a in (1) and b")),
        "(and (in a [1]) b)",
        "`in` binds tighter than `and`"
    );
}

#[test]
fn between_ranges() {
    assert_eq!(sexpr(&expr("a between (1 .. 5)")), "(between a 1 5)");
    assert_eq!(sexpr(&expr("a !between (1..5)")), "(!between a 1 5)");
    assert_eq!(
        sexpr(&expr("t between (ago(1d) .. now())")),
        "(between t ago(864000000000t) now())"
    );
}

#[test]
fn calls_members_and_indexes() {
    assert_eq!(sexpr(&expr("count()")), "count()");
    assert_eq!(sexpr(&expr("dcount(x)")), "dcount(x)");
    assert_eq!(sexpr(&expr("arg_max(T, *)")), "arg_max(T, *)");
    assert_eq!(sexpr(&expr("f(c = 7, 1)")), "f(c=7, 1)");
    assert_eq!(sexpr(&expr("d.a.b")), "d.a.b");
    assert_eq!(sexpr(&expr("d['key']")), r#"d["key"]"#);
    assert_eq!(sexpr(&expr("d.['a b']")), "d.a b");
    assert_eq!(sexpr(&expr("d[0].x[-1]")), "d[0].x[-1]");
    assert_eq!(sexpr(&expr("parse_json(x)[0].y")), "parse_json(x)[0].y");
    assert_eq!(sexpr(&expr("['my col'] + 1")), "(+ my col 1)");
    assert_eq!(
        sexpr(&expr("toscalar(T | count)")),
        "toscalar(<tabular 1 ops>)"
    );
}

#[test]
fn keywords_as_names() {
    assert_eq!(
        sexpr(&expr("count + type + kind + table")),
        "(+ (+ (+ count type) kind) table)"
    );
    assert_eq!(sexpr(&expr("d.by")), "d.by");
}

#[test]
fn expression_spans() {
    let e = expr("a + f(b)");
    assert_eq!(e.span, Span::new(6, 14));
    let ExprKind::Binary { right, .. } = e.kind else {
        panic!("expected binary");
    };
    assert_eq!(right.span, Span::new(10, 14));
}

// ---- literals ------------------------------------------------------------

#[test]
fn number_literals() {
    assert_eq!(literal("12"), Literal::Long(12));
    assert_eq!(literal("0x1f"), Literal::Long(31));
    assert_eq!(literal("1.5"), Literal::Real(1.5));
    assert_eq!(literal("1e5"), Literal::Real(1e5));
    assert_eq!(literal("true"), Literal::Bool(true));
    assert_eq!(literal("false"), Literal::Bool(false));
    assert_eq!(literal("null"), Literal::Null(None));
}

#[test]
fn timespan_literals() {
    assert_eq!(literal("1h"), Literal::Timespan(36_000_000_000));
    assert_eq!(literal("1ms"), Literal::Timespan(10_000));
    assert_eq!(literal("1tick"), Literal::Timespan(1));
    assert_eq!(literal("1.5h"), Literal::Timespan(54_000_000_000));
    assert_eq!(literal("30s"), Literal::Timespan(300_000_000));
    assert_eq!(literal("1d"), Literal::Timespan(864_000_000_000));
    assert_eq!(literal("5min"), Literal::Timespan(3_000_000_000));
    assert_eq!(literal("2microseconds"), Literal::Timespan(20));
    assert_eq!(
        literal("timespan(2)"),
        Literal::Timespan(2 * 864_000_000_000)
    );
    assert_eq!(
        literal("timespan(15 seconds)"),
        Literal::Timespan(150_000_000)
    );
    assert_eq!(literal("timespan(1h)"), Literal::Timespan(36_000_000_000));
    assert_eq!(literal("time(1h)"), Literal::Timespan(36_000_000_000));
    assert_eq!(
        literal("timespan(0.12:34:56.7)"),
        Literal::Timespan((12 * 3600 + 34 * 60 + 56) * 10_000_000 + 7_000_000)
    );
}

#[test]
fn typed_null_literals() {
    for (text, ty) in [
        ("timespan(null)", "timespan"),
        ("datetime(null)", "datetime"),
        ("int(null)", "int"),
        ("long(null)", "long"),
        ("real(null)", "real"),
        ("double(null)", "double"),
        ("bool(null)", "bool"),
        ("guid(null)", "guid"),
        ("decimal(null)", "decimal"),
    ] {
        match literal(text) {
            Literal::Null(Some(name)) => assert_eq!(name.name, ty, "for {text}"),
            other => panic!("expected a typed null for {text}, got {other:?}"),
        }
    }
    assert_eq!(literal("dynamic(null)"), Literal::Dynamic("null".into()));
}

#[test]
fn datetime_literals() {
    assert_eq!(
        literal("datetime(2015-12-31 23:59:59.9)"),
        Literal::Datetime("2015-12-31 23:59:59.9".into())
    );
    assert_eq!(
        literal("datetime( 2020-01-01T10:00:00Z )"),
        Literal::Datetime("2020-01-01T10:00:00Z".into())
    );
    assert_eq!(literal("datetime()"), Literal::Datetime(String::new()));
    assert_eq!(
        literal("datetime(\"01-01-2022\")"),
        Literal::Datetime("01-01-2022".into())
    );
    assert_eq!(
        literal("datetime(2025, 6, 14)"),
        Literal::Datetime("2025, 6, 14".into())
    );
    assert_eq!(
        literal("date(2020-01-01)"),
        Literal::Datetime("2020-01-01".into())
    );
    let e = expr("datetime(2020-01-01) + 1d");
    assert_eq!(sexpr(&e), r#"(+ Datetime("2020-01-01") 864000000000t)"#);
}

#[test]
fn scalar_typed_literals() {
    assert_eq!(literal("bool(true)"), Literal::Bool(true));
    assert_eq!(literal("int(5)"), Literal::Int(5));
    assert_eq!(literal("int(-5)"), Literal::Int(-5));
    assert_eq!(literal("long(-1)"), Literal::Long(-1));
    assert_eq!(literal("real(1)"), Literal::Real(1.0));
    assert_eq!(literal("real(+inf)"), Literal::Real(f64::INFINITY));
    assert_eq!(literal("real(-inf)"), Literal::Real(f64::NEG_INFINITY));
    assert!(matches!(literal("real(nan)"), Literal::Real(v) if v.is_nan()));
    assert_eq!(literal("double(2.5)"), Literal::Real(2.5));
    assert_eq!(literal("decimal(1.5)"), Literal::Decimal("1.5".into()));
    assert_eq!(
        literal("guid(74be27de-1e4e-49d9-b579-fe0b331d3642)"),
        Literal::Guid("74be27de-1e4e-49d9-b579-fe0b331d3642".into())
    );
}

#[test]
fn conversion_functions_are_calls() {
    assert_eq!(sexpr(&expr("toint('5')")), r#"toint("5")"#);
    assert_eq!(sexpr(&expr("tostring(x)")), "tostring(x)");
    assert_eq!(sexpr(&expr("todatetime(x)")), "todatetime(x)");
}

#[test]
fn dynamic_literals_become_json() {
    assert_eq!(
        literal("dynamic([1, 2, 'x'])"),
        Literal::Dynamic(r#"[1, 2, "x"]"#.into())
    );
    assert_eq!(
        literal("dynamic({'key1': 123, \"k\": 'it\\'s'})"),
        Literal::Dynamic(r#"{"key1": 123, "k": "it's"}"#.into())
    );
    assert_eq!(literal("dynamic(4)"), Literal::Dynamic("4".into()));
    assert_eq!(
        literal("dynamic({'a': dynamic({}), 'b': dynamic ([1])})"),
        Literal::Dynamic(r#"{"a": {}, "b": [1]}"#.into())
    );
    assert_eq!(
        literal("dynamic({\"a\":{\"b\":[1,2]}})"),
        Literal::Dynamic(r#"{"a":{"b":[1,2]}}"#.into())
    );
    assert_eq!(
        literal(r#"dynamic(["a\"b", 'c"d'])"#),
        Literal::Dynamic(r#"["a\"b", "c\"d"]"#.into())
    );
}

#[test]
fn string_literals_and_concatenation() {
    assert_eq!(literal(r#""a\tb""#), Literal::String("a\tb".into()));
    assert_eq!(literal(r#"@"C:\temp""#), Literal::String(r"C:\temp".into()));
    assert_eq!(
        literal(r#""Hello" ', ' @"world!""#),
        Literal::String("Hello, world!".into())
    );
    assert_eq!(
        literal("'a' // comment\n 'b'"),
        Literal::String("ab".into())
    );
    assert_eq!(literal("h'secret'"), Literal::String("secret".into()));
    assert_eq!(
        literal("```multi\nline```"),
        Literal::String("multi\nline".into())
    );
    let e = expr("'a' 'b'");
    assert_eq!(e.span, Span::new(6, 13));
}

// ---- statements ----------------------------------------------------------

#[test]
fn let_scalar_tabular_and_name() {
    let q = parse(
        "let a = 5; let b = T | where x > a; let c = SomeName; let d = datatable(x:long)[1]; b",
    );
    assert_eq!(q.statements.len(), 4);
    let lets: Vec<&LetStatement> = q.statements.iter().map(|Statement::Let(l)| l).collect();
    assert!(matches!(&lets[0].value, LetValue::Expr(e) if sexpr(e) == "5"));
    assert!(matches!(&lets[1].value, LetValue::Tabular(t) if t.operators.len() == 1));
    assert!(matches!(&lets[2].value, LetValue::Expr(e) if matches!(e.kind, ExprKind::Name(_))));
    assert!(
        matches!(&lets[3].value, LetValue::Tabular(t) if matches!(t.source, Source::Datatable(_)))
    );
    assert!(matches!(q.body.unwrap().source, Source::Table(ref id) if id.name == "b"));
}

#[test]
fn let_materialize_is_tabular() {
    let q = parse("let m = materialize(T | take 5); m");
    let Statement::Let(l) = &q.statements[0];
    let LetValue::Tabular(t) = &l.value else {
        panic!("expected tabular, got {:?}", l.value);
    };
    let Source::Call(call) = &t.source else {
        panic!("expected call source");
    };
    assert_eq!(call.name.name, "materialize");
    assert!(matches!(call.args[0].value.kind, ExprKind::Tabular(_)));
}

#[test]
fn let_function_with_params_and_body() {
    let q = parse(
        "let f = (T:(*), a:string, b:long = 5, S:(x:long, y:string)) { let c = a; T | where s == c | take b };\nf(T, 'x')",
    );
    let Statement::Let(l) = &q.statements[0];
    let LetValue::Function(f) = &l.value else {
        panic!("expected a function");
    };
    assert_eq!(f.params.len(), 4);
    assert!(matches!(&f.params[0].kind, ParamKind::Tabular(cols) if cols.is_empty()));
    assert!(matches!(&f.params[1].kind, ParamKind::Scalar(t) if t.name == "string"));
    assert_eq!(
        f.params[2].default.as_ref().map(sexpr),
        Some("5".to_string())
    );
    assert!(matches!(&f.params[3].kind, ParamKind::Tabular(cols) if cols.len() == 2));
    assert_eq!(f.statements.len(), 1);
    assert!(matches!(&f.body, LetBody::Tabular(t) if t.operators.len() == 2));
    assert!(matches!(q.body.unwrap().source, Source::Call(ref c) if c.args.len() == 2));
}

#[test]
fn let_scalar_function_and_view() {
    let q = parse(
        "let add = (a:long, b:long) { a + b }; let v = view () { print x = 1 }; print add(1, 2)",
    );
    let Statement::Let(add) = &q.statements[0];
    assert!(
        matches!(&add.value, LetValue::Function(f) if matches!(&f.body, LetBody::Scalar(e) if sexpr(e) == "(+ a b)"))
    );
    let Statement::Let(view) = &q.statements[1];
    assert!(matches!(&view.value, LetValue::Function(f) if f.params.is_empty()));
}

#[test]
fn let_parenthesized_pipeline_is_tabular() {
    let q = parse("let a = (T | where x > 1); let b = (T); a");
    let Statement::Let(a) = &q.statements[0];
    assert!(matches!(&a.value, LetValue::Tabular(t) if t.operators.len() == 1));
    let Statement::Let(b) = &q.statements[1];
    assert!(matches!(&b.value, LetValue::Expr(e) if sexpr(e) == "[T]"));
}

#[test]
fn let_paren_expression_is_not_a_function() {
    let q = parse("let a = (1 + 2) * 3; print a");
    let Statement::Let(l) = &q.statements[0];
    assert!(matches!(&l.value, LetValue::Expr(e) if sexpr(e) == "(* [(+ 1 2)] 3)"));
}

#[test]
fn statements_only_and_trailing_semicolons() {
    let q = parse("let a = 1;\n// only a comment\n");
    assert!(q.body.is_none());
    let q = parse("T | count;;");
    assert!(q.body.is_some());
}

// ---- sources -------------------------------------------------------------

#[test]
fn datatable_source() {
    let Source::Datatable(dt) = body(
        "datatable(a:long, b:string, c:dynamic) [1, 'x', dynamic([1]), -2, \"y\", datetime(null),]",
    )
    .source
    else {
        panic!("expected datatable");
    };
    let columns: Vec<(&str, &str)> = dt
        .columns
        .iter()
        .map(|c| (c.name.name.as_str(), c.ty.name.as_str()))
        .collect();
    assert_eq!(
        columns,
        vec![("a", "long"), ("b", "string"), ("c", "dynamic")]
    );
    assert_eq!(dt.values.len(), 6);
    assert_eq!(sexpr(&dt.values[3]), "-2");
}

#[test]
fn range_and_print_sources() {
    let Source::Range(r) = body("range x from 1 to 10 step 2").source else {
        panic!("expected range");
    };
    assert_eq!(
        (
            r.column.name.as_str(),
            sexpr(&r.from),
            sexpr(&r.to),
            sexpr(&r.step)
        ),
        ("x", "1".into(), "10".into(), "2".into())
    );
    let Source::Print(items) = body("print a = 1, 2").source else {
        panic!("expected print");
    };
    assert_eq!(names(&items), vec!["a=1", "=2"]);
}

#[test]
fn union_source_with_options() {
    let Source::Union(u) = body(
        "union kind=inner withsource=SourceTable isfuzzy=true A, Sec*, (C | where x == 1) | count",
    )
    .source
    else {
        panic!("expected union");
    };
    assert_eq!(u.kind.as_ref().map(|k| k.name.as_str()), Some("inner"));
    assert_eq!(
        u.with_source.as_ref().map(|k| k.name.as_str()),
        Some("SourceTable")
    );
    assert!(u.is_fuzzy);
    assert_eq!(u.tables.len(), 3);
    assert!(matches!(&u.tables[1].source, Source::Table(id) if id.name == "Sec*"));
    assert_eq!(u.tables[2].operators.len(), 1);
}

#[test]
fn nested_call_and_bracketed_sources() {
    assert!(
        matches!(body("(T | take 1) | count").source, Source::Nested(t) if t.operators.len() == 1)
    );
    assert!(matches!(body("f(1, 'x')").source, Source::Call(c) if c.name.name == "f"));
    assert!(
        matches!(body("['My Table'] | count").source, Source::Table(id) if id.name == "My Table")
    );
}

#[test]
fn externaldata_source_is_a_call() {
    let Source::Call(call) =
        body("externaldata(a:string, b:long) [@'https://x/y.csv'] with (format='csv')").source
    else {
        panic!("expected call");
    };
    assert_eq!(call.name.name, "externaldata");
    assert_eq!(call.args.len(), 4);
    assert_eq!(call.args[0].name.as_ref().unwrap().name, "a");
    assert_eq!(call.args[3].name.as_ref().unwrap().name, "format");
}

#[test]
fn search_and_find_are_rejected() {
    let err = parse_err("search 'x'");
    assert_eq!(err.message, "the `search` operator is not supported");
    assert_eq!(err.span, Span::new(0, 6));
    let err = parse_err("find 'x'");
    assert_eq!(err.message, "the `find` operator is not supported");
}

// ---- operators -----------------------------------------------------------

#[test]
fn where_project_extend() {
    let all = ops("T | where a > 1 | filter b | project a, c = b * 2 | extend d = 1, e");
    assert!(matches!(&all[0], OperatorKind::Where(e) if sexpr(e) == "(> a 1)"));
    assert!(matches!(&all[1], OperatorKind::Where(e) if sexpr(e) == "b"));
    assert!(matches!(&all[2], OperatorKind::Project(items) if names(items) == ["=a", "c=(* b 2)"]));
    assert!(matches!(&all[3], OperatorKind::Extend(items) if names(items) == ["d=1", "=e"]));
}

#[test]
fn project_variants() {
    let all = ops(
        "T | project-away a, b* | project-keep c* | project-rename new = old, ['x y'] = z | project-reorder b*, a asc, c granny-desc",
    );
    assert!(
        matches!(&all[0], OperatorKind::ProjectAway(ids) if ids.len() == 2 && ids[1].name == "b*")
    );
    assert!(matches!(&all[1], OperatorKind::ProjectKeep(ids) if ids[0].name == "c*"));
    let OperatorKind::ProjectRename(pairs) = &all[2] else {
        panic!("expected project-rename");
    };
    assert_eq!(
        (pairs[0].0.name.as_str(), pairs[0].1.name.as_str()),
        ("new", "old")
    );
    assert_eq!(pairs[1].0.name, "x y");
    let OperatorKind::ProjectReorder(items) = &all[3] else {
        panic!("expected project-reorder");
    };
    let orders: Vec<(&str, Option<&str>)> = items
        .iter()
        .map(|i| (i.name.name.as_str(), i.order.as_deref()))
        .collect();
    assert_eq!(
        orders,
        vec![("b*", None), ("a", Some("asc")), ("c", Some("granny-desc"))]
    );
}

#[test]
fn summarize_forms() {
    let OperatorKind::Summarize(s) = single_op(
        "T | summarize hint.strategy=shuffle Failures = count(), dcount(u), (A, B) = arg_max(t, x) by Computer, Hour = bin(TimeGenerated, 1h)",
    ) else {
        panic!("expected summarize");
    };
    assert_eq!(
        names(&s.aggregates),
        vec!["Failures=count()", "=dcount(u)", "A,B=arg_max(t, x)"]
    );
    assert_eq!(
        names(&s.by),
        vec!["=Computer", "Hour=bin(TimeGenerated, 36000000000t)"]
    );
    let OperatorKind::Summarize(s) = single_op("T | summarize by a") else {
        panic!("expected summarize");
    };
    assert!(s.aggregates.is_empty());
    assert_eq!(s.by.len(), 1);
    let OperatorKind::Summarize(s) = single_op("T | summarize count()") else {
        panic!("expected summarize");
    };
    assert!(s.by.is_empty());
}

#[test]
fn summarize_missing_by_is_error() {
    let err = parse_err("T | summarize count() Computer");
    assert_eq!(
        err.message,
        "expected `by` or `|` after the `summarize` aggregations, found `Computer`"
    );
    assert_eq!(err.span, Span::new(22, 30));
}

#[test]
fn count_take_sample_getschema() {
    let all = ops("T | count | take 10 | limit 5 | sample 3 | getschema | count as N");
    assert!(matches!(&all[0], OperatorKind::Count(None)));
    assert!(matches!(&all[1], OperatorKind::Take(e) if sexpr(e) == "10"));
    assert!(matches!(&all[2], OperatorKind::Take(e) if sexpr(e) == "5"));
    assert!(matches!(&all[3], OperatorKind::Sample(e) if sexpr(e) == "3"));
    assert!(matches!(&all[4], OperatorKind::GetSchema));
    assert!(matches!(&all[5], OperatorKind::Count(Some(id)) if id.name == "N"));
}

#[test]
fn sort_and_top_keys() {
    let OperatorKind::Sort(keys) =
        single_op("T | sort by a asc nulls last, b desc, c nulls first, d")
    else {
        panic!("expected sort");
    };
    let flags: Vec<(Option<bool>, Option<bool>)> =
        keys.iter().map(|k| (k.ascending, k.nulls_first)).collect();
    assert_eq!(
        flags,
        vec![
            (Some(true), Some(false)),
            (Some(false), None),
            (None, Some(true)),
            (None, None)
        ]
    );
    assert!(matches!(single_op("T | order by a"), OperatorKind::Sort(k) if k.len() == 1));
    let OperatorKind::Top { count, by } = single_op("T | top 5 by count_ desc") else {
        panic!("expected top");
    };
    assert_eq!(sexpr(&count), "5");
    assert_eq!(by[0].ascending, Some(false));
}

#[test]
fn distinct_forms() {
    assert!(
        matches!(single_op("T | distinct a, b"), OperatorKind::Distinct(items) if items.len() == 2)
    );
    assert!(
        matches!(single_op("T | distinct *"), OperatorKind::Distinct(items) if matches!(items[0].kind, ExprKind::Star))
    );
}

#[test]
fn piped_union() {
    let OperatorKind::Union(u) = single_op("T | union withsource = Src U, (V | take 1)") else {
        panic!("expected union");
    };
    assert_eq!(u.with_source.unwrap().name, "Src");
    assert_eq!(u.tables.len(), 2);
}

#[test]
fn join_forms() {
    let OperatorKind::Join(j) = single_op(
        "T | join kind=LeftOuter hint.strategy=broadcast (U | where x > 1) on Key, $right.B == $left.A and $left.C == $right.D",
    ) else {
        panic!("expected join");
    };
    assert_eq!(j.kind.unwrap().name, "leftouter");
    assert_eq!(j.hints.len(), 1);
    assert_eq!(j.hints[0].0.name, "hint.strategy");
    assert_eq!(j.right.operators.len(), 1);
    assert!(matches!(&j.on[0], JoinCondition::Column(id) if id.name == "Key"));
    assert!(
        matches!(&j.on[1], JoinCondition::Equal { left, right, .. } if left.name == "A" && right.name == "B")
    );
    assert!(
        matches!(&j.on[2], JoinCondition::Equal { left, right, .. } if left.name == "C" && right.name == "D")
    );

    let OperatorKind::Join(j) = single_op("T | join U on Key") else {
        panic!("expected join");
    };
    assert!(j.kind.is_none());
    assert!(matches!(j.right.source, Source::Table(ref id) if id.name == "U"));
}

#[test]
fn join_condition_sides_must_differ() {
    let err = parse_err("T | join U on $left.A == $left.B");
    assert!(
        err.message
            .contains("`$left` column with a `$right` column"),
        "{}",
        err.message
    );
}

#[test]
fn lookup_operator() {
    let OperatorKind::Lookup(j) = single_op("T | lookup kind=inner U on a") else {
        panic!("expected lookup");
    };
    assert_eq!(j.kind.unwrap().name, "inner");
    assert_eq!(j.on.len(), 1);
}

#[test]
fn mv_expand_forms() {
    let OperatorKind::MvExpand(m) = single_op(
        "T | mv-expand bagexpansion=array with_itemindex=Ix a to typeof(long), b = c limit 10",
    ) else {
        panic!("expected mv-expand");
    };
    assert_eq!(m.bag_expansion.unwrap().name, "array");
    assert_eq!(m.with_item_index.unwrap().name, "Ix");
    assert_eq!(m.columns.len(), 2);
    assert_eq!(m.columns[0].to_type.as_ref().unwrap().name, "long");
    assert_eq!(m.columns[1].expr.names[0].name, "b");
    assert_eq!(sexpr(m.limit.as_ref().unwrap()), "10");
    assert!(matches!(
        single_op("T | mvexpand x"),
        OperatorKind::MvExpand(_)
    ));
    let OperatorKind::MvExpand(m) = single_op("T | mv-expand kind=array b") else {
        panic!("expected mv-expand");
    };
    assert_eq!(m.bag_expansion.unwrap().name, "array");
}

#[test]
fn parse_operator_patterns() {
    let OperatorKind::Parse(p) =
        single_op(r#"T | parse EventData with * 'Image">' Image "<" * "n=" N:long"#)
    else {
        panic!("expected parse");
    };
    assert!(p.kind.is_none());
    assert_eq!(sexpr(&p.source), "EventData");
    assert_eq!(p.pattern.len(), 7);
    assert!(matches!(&p.pattern[1], ParsePart::Literal(s, _) if s == "Image\">"));
    assert!(
        matches!(&p.pattern[6], ParsePart::Column { name, ty: Some(t) } if name.name == "N" && t.name == "long")
    );

    let OperatorKind::ParseWhere(p) =
        single_op(r#"T | parse-where kind=regex flags=Ui x with "a(.*)b" Col"#)
    else {
        panic!("expected parse-where");
    };
    assert_eq!(p.kind.unwrap().name, "regex");
    assert_eq!(p.flags.as_deref(), Some("Ui"));
}

#[test]
fn evaluate_invoke_as_serialize_render() {
    let all = ops(
        "T | evaluate bag_unpack(d) | invoke f(1) | as hint.materialized=true X | serialize rn = row_number() | serialize | render timechart with (title='x')",
    );
    assert!(
        matches!(&all[0], OperatorKind::Evaluate(e) if e.call.name.name == "bag_unpack" && e.output.is_none())
    );
    assert!(matches!(&all[1], OperatorKind::Invoke(c) if c.name.name == "f" && c.args.len() == 1));
    assert!(matches!(&all[2], OperatorKind::As(id) if id.name == "X"));
    assert!(matches!(&all[3], OperatorKind::Serialize(items) if items.len() == 1));
    assert!(matches!(&all[4], OperatorKind::Serialize(items) if items.is_empty()));
    assert!(matches!(&all[5], OperatorKind::Render(id) if id.name == "timechart"));
}

#[test]
fn unmodeled_operators_keep_raw_text() {
    let all = ops("T | partition by k (take 1) | scan with (step s: x > 1;) | take 1");
    assert_eq!(all.len(), 3);
    let OperatorKind::Unsupported { name, text } = &all[0] else {
        panic!("expected unsupported");
    };
    assert_eq!(name, "partition");
    assert_eq!(text, "by k (take 1)");
    let OperatorKind::Unsupported { name, text } = &all[1] else {
        panic!("expected unsupported");
    };
    assert_eq!(name, "scan");
    assert_eq!(text, "with (step s: x > 1;)");
}

#[test]
fn top_nested_parses_levels() {
    let OperatorKind::TopNested(levels) = single_op(
        "T | top-nested 3 of a with others = \"rest\" by n = count(), top-nested of V = bin(t, 1h) by max(x) asc, 2 of b by sum(y) desc",
    ) else {
        panic!("expected top-nested");
    };
    assert_eq!(levels.len(), 3);
    assert_eq!(levels[0].count.as_ref().map(sexpr).as_deref(), Some("3"));
    assert_eq!(sexpr(&levels[0].of.expr), "a");
    assert_eq!(
        levels[0].others.as_ref().map(sexpr).as_deref(),
        Some("\"rest\"")
    );
    assert_eq!(levels[0].by.names[0].name, "n");
    assert!(!levels[0].ascending);
    assert!(levels[1].count.is_none());
    assert_eq!(levels[1].of.names[0].name, "V");
    assert!(levels[1].ascending);
    assert_eq!(sexpr(&levels[2].of.expr), "b");
    assert!(!levels[2].ascending);
}

#[test]
fn reduce_parses_options() {
    let OperatorKind::Reduce(reduce) =
        single_op("T | reduce by Text with threshold=0.2, characters=\":=\"")
    else {
        panic!("expected reduce");
    };
    assert_eq!(sexpr(&reduce.by), "Text");
    assert_eq!(reduce.threshold.as_ref().map(sexpr).as_deref(), Some("0.2"));
    assert_eq!(
        reduce.characters.as_ref().map(sexpr).as_deref(),
        Some("\":=\"")
    );
    assert!(reduce.kind.is_none());
}

#[test]
fn top_nested_needs_of_and_by() {
    let error = parse_err("T | top-nested 3 a by count()");
    assert!(error.message.contains("`of`"), "{}", error.message);
    let error = parse_err("T | top-nested 3 of a count()");
    assert!(error.message.contains("`by`"), "{}", error.message);
}

#[test]
fn make_series_parses_both_axis_forms() {
    let OperatorKind::MakeSeries(series) = single_op(
        "T | make-series kind=nonempty n = count() default = 1, avg(x) on t from datetime(2017-01-01T00:00:00Z) to now() step 1d by a",
    ) else {
        panic!("expected make-series");
    };
    assert_eq!(series.kind.as_ref().unwrap().name, "nonempty");
    assert_eq!(series.aggregates.len(), 2);
    assert!(series.aggregates[0].default.is_some());
    assert!(series.aggregates[1].default.is_none());
    assert!(series.from.is_some());
    assert!(series.to.is_some());
    assert_eq!(series.by.len(), 1);
    let OperatorKind::MakeSeries(series) =
        single_op("T | make-series sum(x) on t in range(0, 10, 2)")
    else {
        panic!("expected make-series");
    };
    assert!(series.from.is_some());
    assert!(series.to.is_some());
    assert!(series.by.is_empty());
}

#[test]
fn mv_apply_parses_its_subquery() {
    let OperatorKind::MvApply(apply) = single_op(
        "T | mv-apply with_itemindex=i v = Arr to typeof(long) limit 3 on (where v > 1 | top 2 by v)",
    ) else {
        panic!("expected mv-apply");
    };
    assert_eq!(apply.expand.with_item_index.as_ref().unwrap().name, "i");
    assert_eq!(apply.expand.columns.len(), 1);
    assert_eq!(apply.expand.columns[0].expr.names[0].name, "v");
    assert!(apply.expand.limit.is_some());
    assert_eq!(apply.subquery.len(), 2);
    assert!(matches!(apply.subquery[0].kind, OperatorKind::Where(_)));
    assert!(matches!(apply.subquery[1].kind, OperatorKind::Top { .. }));
}

#[test]
fn evaluate_keeps_its_output_schema() {
    let OperatorKind::Evaluate(evaluate) =
        single_op("T | evaluate bag_unpack(d) : (*, Name:string, Age:long)")
    else {
        panic!("expected evaluate");
    };
    assert_eq!(evaluate.call.name.name, "bag_unpack");
    let output = evaluate.output.expect("an output schema");
    assert!(output.keep_input);
    let names: Vec<&str> = output
        .columns
        .iter()
        .map(|c| c.name.name.as_str())
        .collect();
    assert_eq!(names, ["Name", "Age"]);
}

#[test]
fn operator_spans() {
    let b = body("T\n| where a == 1\n| take 5");
    assert_eq!(b.operators[0].span, Span::new(4, 16));
    assert_eq!(b.operators[1].span, Span::new(19, 25));
    assert_eq!(b.span, Span::new(0, 25));
}

// ---- errors --------------------------------------------------------------

#[test]
fn error_unexpected_close_paren() {
    let err = parse_err("T | where (a == 1))");
    assert_eq!(err.span, Span::new(18, 19));
    assert!(err.message.contains("`)`"), "{}", err.message);
}

#[test]
fn error_unknown_operator() {
    let err = parse_err("T | wher a == 1");
    assert_eq!(err.message, "unknown query operator `wher`");
    assert_eq!(err.span, Span::new(4, 8));
}

#[test]
fn error_unterminated_string() {
    let err = parse_err("T | where a == 'abc");
    assert_eq!(err.message, "unterminated string literal");
    assert_eq!(err.span, Span::new(15, 19));
}

#[test]
fn error_missing_expression() {
    let err = parse_err("T | where a ==");
    assert_eq!(err.message, "expected an expression, found end of query");
    assert_eq!(err.span, Span::new(14, 14));
}

#[test]
fn error_sort_without_by() {
    let err = parse_err("T | sort a");
    assert_eq!(err.message, "expected `by` after `sort`, found `a`");
    assert_eq!(err.span, Span::new(9, 10));
}

#[test]
fn error_let_without_semicolon() {
    let err = parse_err("let a = 1\nlet b = 2;\nprint a");
    assert_eq!(
        err.message,
        "expected `;` after the `let` statement, found `let`"
    );
    assert_eq!(err.span, Span::new(10, 13));
}

#[test]
fn error_unknown_type() {
    let err = parse_err("datatable(a:strng) ['x']");
    assert_eq!(err.message, "unknown type `strng`");
    assert_eq!(err.span, Span::new(12, 17));
}

#[test]
fn error_invalid_typed_literal() {
    let err = parse_err("print int(abc)");
    assert_eq!(err.message, "invalid int literal `int(abc)`");
    assert_eq!(err.span, Span::new(6, 14));
    let err = parse_err("print datetime(2020-01-01");
    assert!(
        err.message.starts_with("expected `)` to close `datetime(`"),
        "{}",
        err.message
    );
}

#[test]
fn error_two_query_bodies() {
    let err = parse_err("T | count; U");
    assert!(
        err.message
            .starts_with("expected end of query after the query body"),
        "{}",
        err.message
    );
    assert_eq!(err.span, Span::new(11, 12));
}

#[test]
fn error_set_statement() {
    let err = parse_err("set querytrace; T");
    assert_eq!(err.message, "`set` statements are not supported");
    assert_eq!(err.span, Span::new(0, 3));
}

#[test]
fn error_missing_name_has_plain_message() {
    let err = parse_err("T | project-rename = b");
    assert_eq!(err.message, "expected a name for the new column, found `=`");
}

#[test]
fn error_too_deep() {
    let query = format!("print {}1{}", "(".repeat(300), ")".repeat(300));
    let err = parse_err(&query);
    assert!(err.message.contains("nested too deeply"), "{}", err.message);
}

#[test]
fn error_too_many_operators() {
    let steps = |count: usize| format!("T{}", " | where x > 1".repeat(count));
    assert!(crate::parse(&steps(super::MAX_OPERATORS)).is_ok());
    let err = parse_err(&steps(super::MAX_OPERATORS + 1));
    assert!(
        err.message.contains("too many operators"),
        "{}",
        err.message
    );
    // Operators of sub-queries count toward the same limit.
    let half = " | where x > 1".repeat(super::MAX_OPERATORS / 2 + 1);
    let err = parse_err(&format!("T{half} | join (S{half}) on x"));
    assert!(
        err.message.contains("too many operators"),
        "{}",
        err.message
    );
}

#[test]
fn project_by_names_takes_expressions() {
    let OperatorKind::ProjectByNames(items) =
        single_op(r#"T | project-by-names "Name", dynamic(["C*"]), column_names_of(S)"#)
    else {
        panic!("expected project-by-names");
    };
    assert_eq!(items.len(), 3);
}

#[test]
fn parse_kv_columns_and_options() {
    let OperatorKind::ParseKv(kv) = single_op(
        "T | parse-kv str as (['event time']: datetime, src: string) with (pair_delimiter=' ', quote='\"')",
    ) else {
        panic!("expected parse-kv");
    };
    assert_eq!(kv.columns.len(), 2);
    assert_eq!(kv.columns[0].name.name, "event time");
    assert_eq!(kv.options.len(), 2);
    assert_eq!(kv.options[1].name.as_ref().unwrap().name, "quote");
    let OperatorKind::ParseKv(kv) = single_op("T | parse-kv str as (Text: string)") else {
        panic!("expected parse-kv");
    };
    assert!(kv.options.is_empty());
}
