//! Abstract syntax tree of a KQL query.
//!
//! Every node that a diagnostic may point at carries a [`Span`]: byte offsets
//! into the query text that was parsed. The tree is purely syntactic: names
//! are not resolved and types are not checked here; the `engine` crate binds
//! names against table schemas and reports unknown columns with these spans.

use crate::span::Span;

/// A whole query: zero or more `let` statements, then at most one tabular
/// expression (the query body). Statements are separated by `;`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub statements: Vec<Statement>,
    /// The tabular expression whose rows the query returns. `None` when the
    /// text holds only `let` statements.
    pub body: Option<TabularExpr>,
    pub span: Span,
}

/// A statement before the query body.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `let Name = <scalar or tabular expression>;` or
    /// `let f = (params) { body };`.
    Let(LetStatement),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LetStatement {
    pub name: Ident,
    pub value: LetValue,
    pub span: Span,
}

/// The right-hand side of a `let` statement.
///
/// The parser cannot always tell a scalar from a tabular expression (`let x =
/// T;` where `T` is a bare name), so a bare name or a call is kept as
/// [`LetValue::Expr`] and the engine decides from the names in scope.
#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    /// A scalar expression, or a bare name / function call that may turn out
    /// to be tabular.
    Expr(Expr),
    /// An expression that is certainly tabular: it contains a pipe, or starts
    /// with a tabular-only keyword (`datatable`, `range`, `print`, `union`,
    /// `materialize(...)`, ...).
    Tabular(TabularExpr),
    /// A user-defined function: `(a:string, b:long = 5) { body }`.
    Function(FunctionDef),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionDef {
    pub params: Vec<FunctionParam>,
    /// `let` statements inside the body, before its final expression.
    pub statements: Vec<Statement>,
    pub body: LetBody,
    pub span: Span,
}

/// The final expression of a function body.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // boxing would change the public shape
pub enum LetBody {
    Scalar(Expr),
    Tabular(TabularExpr),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionParam {
    pub name: Ident,
    pub kind: ParamKind,
    pub default: Option<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamKind {
    /// `name: type` with a scalar type name as written (`string`, `long`, ...).
    Scalar(TypeName),
    /// `T: (*)` or `T: (col: type, ...)`.
    Tabular(Vec<ColumnDecl>),
}

/// A tabular expression: a source followed by zero or more `| operator` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct TabularExpr {
    pub source: Source,
    pub operators: Vec<Operator>,
    pub span: Span,
}

/// Where rows come from at the start of a pipeline.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // boxing would change the public shape
pub enum Source {
    /// A table or a tabular `let` name: `SecurityEvent`, `['My Table']`.
    Table(Ident),
    /// A call of a tabular function: `f(1, "x")`, `materialize(T)`,
    /// `table("Name")`, `toscalar` is scalar and never appears here.
    /// `externaldata(a: string) [urls] with (props)` is also a call named
    /// `externaldata`: one named argument per column whose value is the type
    /// name, then the URLs, then the `with` properties as named arguments.
    Call(Call),
    /// `union [kind=..] [withsource=Name] [isfuzzy=true] T1, T2, ...` at the
    /// start of a query.
    Union(UnionSpec),
    /// `print a = 1, 2`.
    Print(Vec<NamedExpr>),
    /// `datatable(a:long, b:string) [1, "x", 2, "y"]`.
    Datatable(Datatable),
    /// `range x from 1 to 10 step 1`.
    Range(RangeSpec),
    /// `(tabular expression)` used as a source.
    Nested(Box<TabularExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Datatable {
    pub columns: Vec<ColumnDecl>,
    /// Cell values in row-major order; each is a literal expression
    /// (possibly negative, or a typed literal such as `datetime(...)`).
    pub values: Vec<Expr>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeSpec {
    pub column: Ident,
    pub from: Expr,
    pub to: Expr,
    pub step: Expr,
    pub span: Span,
}

/// A column declaration: `name: type`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    pub name: Ident,
    pub ty: TypeName,
    pub span: Span,
}

/// A type name as written, lower-cased (`string`, `long`, `datetime`, `int`,
/// `real`, `double`, `bool`, `boolean`, `timespan`, `time`, `date`, `guid`,
/// `dynamic`, `decimal`, `uuid`, `uniqueid`).
#[derive(Debug, Clone, PartialEq)]
pub struct TypeName {
    pub name: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UnionSpec {
    /// `withsource=ColumnName` (or `withsource = ColumnName`).
    pub with_source: Option<Ident>,
    /// `isfuzzy=true`.
    pub is_fuzzy: bool,
    /// `kind=inner` or `kind=outer` (default outer).
    pub kind: Option<Ident>,
    /// The tables or tabular expressions; a name may contain `*` wildcards.
    pub tables: Vec<TabularExpr>,
    pub span: Span,
}

/// One `| operator` step of a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    pub kind: OperatorKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OperatorKind {
    /// `where predicate` (also `filter`).
    Where(Expr),
    /// `project a, b = expr, expr`.
    Project(Vec<NamedExpr>),
    /// `project-away a, b*` (names may hold `*` wildcards).
    ProjectAway(Vec<Ident>),
    /// `project-keep a, b*`.
    ProjectKeep(Vec<Ident>),
    /// `project-by-names "a", "b*", dynamic(["c"]), column_names_of(T)`:
    /// scalar expressions that evaluate to column names or name patterns.
    ProjectByNames(Vec<Expr>),
    /// `project-rename new = old, ...`.
    ProjectRename(Vec<(Ident, Ident)>),
    /// `project-reorder a, b* asc`: only the names are kept; ordering
    /// keywords after a wildcard are stored in `ProjectReorderItem`.
    ProjectReorder(Vec<ProjectReorderItem>),
    /// `extend a = expr, expr`.
    Extend(Vec<NamedExpr>),
    /// `summarize [hint.x=y] aggs [by keys]`.
    Summarize(Summarize),
    /// `count` (optionally `count as Name`, stored in the name).
    Count(Option<Ident>),
    /// `take N` / `limit N`.
    Take(Expr),
    /// `sort by a asc, b desc nulls last` / `order by ...`.
    Sort(Vec<SortKey>),
    /// `top N by expr [asc|desc] [nulls first|last]`.
    Top { count: Expr, by: Vec<SortKey> },
    /// `distinct a, b` or `distinct *`.
    Distinct(Vec<Expr>),
    /// `| union T2, T3` with the piped input as the first leg.
    Union(UnionSpec),
    /// `join kind=inner (right) on Key, $left.A == $right.B`.
    Join(Join),
    /// `lookup kind=leftouter (right) on ...`.
    Lookup(Join),
    /// `mv-expand [bagexpansion=..] [with_itemindex=Name] a [to typeof(t)], ... [limit N]`.
    MvExpand(MvExpand),
    /// `make-series [kind=nonempty] aggs [default = v] on Axis [from a] [to b] step s [by keys]`.
    MakeSeries(MakeSeries),
    /// `mv-apply [with_itemindex=Name] [Name =] expr [to typeof(t)], ... [limit N] on (subquery)`.
    MvApply(MvApply),
    /// `parse [kind=simple|regex|relaxed [flags=..]] expr with pattern`.
    Parse(Parse),
    /// `parse-where ...`, same shape as `parse`.
    ParseWhere(Parse),
    /// `parse-kv expr as (col: type, ...) with (pair_delimiter=',', ...)`.
    ParseKv(ParseKv),
    /// `evaluate [hints] plugin(args) [: (*, Name: type, ...)]`.
    Evaluate(Evaluate),
    /// `invoke f(args)`.
    Invoke(Call),
    /// `as Name` (also `as hint.materialized=true Name`).
    As(Ident),
    /// `serialize [name = expr, ...]`.
    Serialize(Vec<NamedExpr>),
    /// `getschema`.
    GetSchema,
    /// `render chartkind [with (...)]`: kept so the UI can honour it; it
    /// does not change rows.
    Render(Ident),
    /// `sample N`.
    Sample(Expr),
    /// `reduce [kind=source] by Expr [with threshold=T, characters=C]`.
    Reduce(Reduce),
    /// `top-nested [N] of ... by ..., top-nested ...`: one level per clause,
    /// outermost first.
    TopNested(Vec<TopNestedLevel>),
    /// `scan`, `partition` and other operators
    /// the parser recognises but does not model yet: the name and the raw
    /// text after it, so the engine can report "not supported" with a span.
    Unsupported { name: String, text: String },
}

/// The parts of `reduce`.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduce {
    /// `kind=source`: keep the input rows and add their pattern.
    pub kind: Option<Ident>,
    /// The text to group into patterns.
    pub by: Expr,
    /// `threshold=`: the smallest share of rows that makes a pattern.
    pub threshold: Option<Expr>,
    /// `characters=`: characters that do not break a term.
    pub characters: Option<Expr>,
}

/// One clause of `top-nested`:
/// `[N] of [Name =] Expr [with others = Const] by [Name =] Aggregation [asc|desc]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TopNestedLevel {
    /// How many values of `of` to keep per parent value; all when absent.
    pub count: Option<Expr>,
    /// The value that partitions the rows at this level.
    pub of: NamedExpr,
    /// The value of the extra row that aggregates the values left out.
    pub others: Option<Expr>,
    /// The aggregation that ranks the values.
    pub by: NamedExpr,
    /// True for `asc`: keep the smallest aggregates instead of the largest.
    pub ascending: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ProjectReorderItem {
    pub name: Ident,
    /// `asc`, `desc`, `granny-asc`, `granny-desc` after a wildcard name.
    pub order: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summarize {
    /// Aggregations, each optionally named (`Failures = count()`); several
    /// names for one aggregate (`(a, b) = arg_max(...)`) are in `names`.
    pub aggregates: Vec<NamedExpr>,
    /// Group keys after `by`; a key may be named (`Hour = bin(T, 1h)`).
    pub by: Vec<NamedExpr>,
}

/// `expr [asc|desc] [nulls first|nulls last]`.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub expr: Expr,
    /// `None` when not written: `sort` and `top` then default to descending.
    pub ascending: Option<bool>,
    /// `None` when not written: nulls first for ascending, last for descending.
    pub nulls_first: Option<bool>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    /// `kind=...` as written, lower-cased; `None` means the default.
    pub kind: Option<Ident>,
    /// `hint.*=...` parameters, kept verbatim and ignored by the engine.
    pub hints: Vec<(Ident, Expr)>,
    pub right: TabularExpr,
    pub on: Vec<JoinCondition>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum JoinCondition {
    /// `on Key`: the same column name on both sides.
    Column(Ident),
    /// `$left.A == $right.B` (either side order in the text is accepted and
    /// normalized so `left` names the left table's column).
    Equal {
        left: Ident,
        right: Ident,
        span: Span,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct MvExpand {
    /// `bagexpansion=bag|array` or its synonym `kind=bag|array`.
    pub bag_expansion: Option<Ident>,
    pub with_item_index: Option<Ident>,
    pub columns: Vec<MvExpandColumn>,
    pub limit: Option<Expr>,
}

/// `evaluate plugin(args)` with the output schema it may declare.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluate {
    pub call: Call,
    /// The schema after `:`, when given.
    pub output: Option<OutputSchema>,
}

/// A plugin's declared output columns: `(*, Name: string, Age: long)`.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputSchema {
    /// True when the list starts with `*`: the input's columns come first.
    pub keep_input: bool,
    pub columns: Vec<ColumnDecl>,
}

/// `make-series`: aggregations per group, laid out as arrays along an axis.
#[derive(Debug, Clone, PartialEq)]
pub struct MakeSeries {
    /// `kind=nonempty`: an empty input still gives one row of defaults.
    pub kind: Option<Ident>,
    pub aggregates: Vec<SeriesAggregate>,
    pub axis: Expr,
    /// `from` (or the start of `in range(start, stop, step)`).
    pub from: Option<Expr>,
    /// `to`, exclusive.
    pub to: Option<Expr>,
    pub step: Expr,
    pub by: Vec<NamedExpr>,
}

/// One `make-series` aggregation with its `default = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesAggregate {
    pub expr: NamedExpr,
    pub default: Option<Expr>,
}

/// `mv-apply`: the arrays to expand into a subtable per input row, in the
/// shape of `mv-expand` (which has no `bagexpansion` here), and the
/// subquery applied to each subtable.
#[derive(Debug, Clone, PartialEq)]
pub struct MvApply {
    pub expand: MvExpand,
    /// The subquery's operators; the first one has no `|` before it.
    pub subquery: Vec<Operator>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MvExpandColumn {
    pub expr: NamedExpr,
    pub to_type: Option<TypeName>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parse {
    /// `simple` (default), `regex` or `relaxed`.
    pub kind: Option<Ident>,
    /// `flags=Ui` for regex parsing.
    pub flags: Option<String>,
    pub source: Expr,
    pub pattern: Vec<ParsePart>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseKv {
    pub source: Expr,
    /// The keys to extract, each with the type of its column.
    pub columns: Vec<ColumnDecl>,
    /// The `with (...)` options as named arguments: `pair_delimiter`,
    /// `kv_delimiter`, `quote`, `escape`, `greedy`.
    pub options: Vec<Arg>,
}

/// One piece of a `parse` pattern: a string literal to match, or a column to
/// capture with an optional type (`Name:long`), or `*` to skip text.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsePart {
    Literal(String, Span),
    Column { name: Ident, ty: Option<TypeName> },
    Wildcard(Span),
}

/// An expression with an optional output name, as in `Name = expr` or
/// `(A, B) = expr`.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedExpr {
    /// Empty when the expression is unnamed.
    pub names: Vec<Ident>,
    pub expr: Expr,
    pub span: Span,
}

/// An identifier as written, without brackets or quotes (`['a b']` becomes
/// `a b`).
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A scalar expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Literal(Literal),
    /// A column, a scalar `let` name, or a parameter.
    Name(Ident),
    /// `f(args)`, including aggregates (`count()`, `dcount(x)`) and the typed
    /// literal forms that take expressions (`datetime(null)` is a literal).
    Call(Call),
    /// `a.b`: property access on a dynamic value.
    Member {
        target: Box<Expr>,
        member: Ident,
    },
    /// `a[expr]`: index or key access on a dynamic value.
    Index {
        target: Box<Expr>,
        index: Box<Expr>,
    },
    Unary {
        op: UnaryOp,
        operand: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// `x in (a, b)`, `x !in~ (...)`; the list may hold one tabular
    /// expression instead of scalars.
    In {
        target: Box<Expr>,
        list: InList,
        negated: bool,
        case_sensitive: bool,
    },
    /// `x between (a .. b)` / `x !between (a .. b)`.
    Between {
        target: Box<Expr>,
        low: Box<Expr>,
        high: Box<Expr>,
        negated: bool,
    },
    /// `x has_any (a, b)` / `x has_all (...)`.
    HasAny {
        target: Box<Expr>,
        list: InList,
        all: bool,
    },
    /// `*` as an argument (`arg_max(T, *)`, `count(*)`).
    Star,
    /// `(expr)` parenthesized; kept so generated column names can follow
    /// Kusto, and stripped by the engine otherwise.
    Paren(Box<Expr>),
    /// A tabular expression in scalar position: the right side of `in`
    /// (`x in (T | project a)`), or the argument of `toscalar(...)`.
    Tabular(Box<TabularExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum InList {
    Values(Vec<Expr>),
    Tabular(Box<TabularExpr>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub name: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

/// A call argument, positional or named (`f(c = 7)`).
#[derive(Debug, Clone, PartialEq)]
pub struct Arg {
    pub name: Option<Ident>,
    pub value: Expr,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `null` alone, or `T(null)` for any type `T` other than string.
    Null(Option<TypeName>),
    Bool(bool),
    /// `int(5)`.
    Int(i32),
    /// A bare integer such as `12` or `0x1f`, or `long(12)`.
    Long(i64),
    /// A number with a point or exponent, or `real(1)`, `real(nan)`,
    /// `real(+inf)`.
    Real(f64),
    /// `decimal(1.5)` as written, for exact parsing by the engine.
    Decimal(String),
    /// A string after escape processing and concatenation of adjacent
    /// literals.
    String(String),
    /// `datetime(2020-01-01 10:00)`: the text between the parentheses,
    /// trimmed; an empty text means now.
    Datetime(String),
    /// A timespan in 100 ns ticks, from `1.5h`, `10ms`, `timespan(1.02:03:04)`.
    Timespan(i64),
    /// `guid(74be27de-...)`: the text between the parentheses.
    Guid(String),
    /// `dynamic(...)`: the JSON text between the parentheses, with
    /// single-quoted strings converted to valid JSON by the parser.
    Dynamic(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`.
    Negate,
    /// `+x`.
    Plus,
}

/// Binary operators. `not(x)` is a function call, not an operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    /// `=~`.
    EqualCi,
    /// `!~`.
    NotEqualCi,
    /// A string operator such as `has`, `!contains_cs`, `matches regex`.
    String(StringOp),
}

/// The string operators with their case rule and negation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StringOp {
    pub kind: StringOpKind,
    pub case_sensitive: bool,
    pub negated: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StringOpKind {
    Has,
    HasPrefix,
    HasSuffix,
    Contains,
    StartsWith,
    EndsWith,
    /// `matches regex` (always case-sensitive, never negated).
    MatchesRegex,
}
