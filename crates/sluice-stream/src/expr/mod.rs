//! Expressions: a small SQL-like language for filters, computed columns, group keys and
//! aggregate arguments.
//!
//! Text is parsed once ([`parse`], [`parse_named`]) into an [`Expr`], then compiled against a
//! [`RowSchema`](sluice_formats::RowSchema) ([`compile`]) into a [`Compiled`] evaluator whose column references are
//! resolved to indexes and whose types are checked. Evaluation never fails: SQL's rules give
//! `NULL` for null inputs, division by zero, integer overflow and unparsable casts.
//!
//! ```
//! use sluice_formats::{Field, Kind, Row, RowSchema, Value};
//! use sluice_stream::expr;
//!
//! let schema = RowSchema::new(vec![Field::new("n", Kind::Int)]);
//! let e = expr::compile(&expr::parse("n * n + 1").unwrap(), &schema).unwrap();
//! assert_eq!(e.eval(&Row::new(vec![Value::Int(7)]).values), Value::Int(50));
//! ```
//!
//! Operators, by increasing precedence: `OR`; `AND`; `NOT`; comparisons (`=`, `!=`/`<>`, `<`,
//! `<=`, `>`, `>=`, `IS [NOT] NULL`, `[NOT] IN (...)`, `[NOT] BETWEEN a AND b`); `||` (string
//! concatenation); `+`, `-`; `*`, `/` (always floating point, as in Spark), `%`; unary `-`.
//! Literals: integers, decimals, `'text'`, `TRUE`, `FALSE`, `NULL`. Names may be quoted with
//! backticks. `CAST(x AS type)` converts as Spark does; `CASE [x] WHEN .. THEN .. [ELSE ..] END`
//! picks the first arm whose condition is true. Functions are listed in
//! [`FUNCTIONS`].

mod compile;
mod func;
mod parse;

pub use compile::{Compiled, compile};
pub use func::FUNCTIONS;
pub use parse::{kind_by_name, parse, parse_named};

use std::fmt;

/// A parsed expression. `pos` fields are byte offsets into the expression text.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column by name.
    Column {
        /// The name as written.
        name: String,
        /// Where it starts.
        pos: usize,
    },
    /// A literal value (`Value::Null` for `NULL`).
    Literal {
        /// The value.
        value: sluice_formats::Value,
        /// Where it starts.
        pos: usize,
    },
    /// `-x` or `NOT x`.
    Unary {
        /// Which operator.
        op: UnaryOp,
        /// The operand.
        expr: Box<Expr>,
        /// Where the operator is.
        pos: usize,
    },
    /// A binary operator.
    Binary {
        /// Which operator.
        op: BinaryOp,
        /// Left operand.
        left: Box<Expr>,
        /// Right operand.
        right: Box<Expr>,
        /// Where the operator is.
        pos: usize,
    },
    /// `x IS [NOT] NULL`.
    IsNull {
        /// The operand.
        expr: Box<Expr>,
        /// `IS NOT NULL`.
        negated: bool,
        /// Where `IS` is.
        pos: usize,
    },
    /// `x [NOT] IN (a, b, ...)`.
    InList {
        /// The operand.
        expr: Box<Expr>,
        /// The candidates.
        list: Vec<Expr>,
        /// `NOT IN`.
        negated: bool,
        /// Where `IN` is.
        pos: usize,
    },
    /// A function or aggregate call: `name(args)`, `count(*)`, `count(DISTINCT x)`.
    Call {
        /// The function name, lower case.
        name: String,
        /// The arguments.
        args: Vec<Expr>,
        /// Written as `name(*)`.
        star: bool,
        /// Written as `name(DISTINCT ...)`.
        distinct: bool,
        /// Where the name starts.
        pos: usize,
    },
    /// `CAST(x AS type)`.
    Cast {
        /// The operand.
        expr: Box<Expr>,
        /// The target type.
        to: sluice_formats::Kind,
        /// Where `CAST` starts.
        pos: usize,
    },
}

impl Expr {
    /// The byte offset where the expression starts (or its operator, for binary ones).
    pub fn pos(&self) -> usize {
        match self {
            Expr::Column { pos, .. }
            | Expr::Literal { pos, .. }
            | Expr::Unary { pos, .. }
            | Expr::Binary { pos, .. }
            | Expr::IsNull { pos, .. }
            | Expr::InList { pos, .. }
            | Expr::Call { pos, .. }
            | Expr::Cast { pos, .. } => *pos,
        }
    }
}

/// Unary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// Arithmetic negation.
    Neg,
    /// Logical negation.
    Not,
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `=`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `AND`
    And,
    /// `OR`
    Or,
    /// `||`
    Concat,
}

impl BinaryOp {
    fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "=",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Concat => "||",
        }
    }
}

/// An error in an expression: where (byte offset in its text), what, and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset into the expression text.
    pub pos: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is a clear fix.
    pub fix: Option<String>,
}

impl ExprError {
    pub(crate) fn new(pos: usize, message: impl Into<String>) -> Self {
        ExprError { pos, message: message.into(), fix: None }
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (at offset {})", self.message, self.pos)?;
        if let Some(fix) = &self.fix {
            write!(f, "; {fix}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ExprError {}

/// Names of the aggregate functions, which are allowed only in an aggregate step.
pub const AGGREGATES: [&str; 14] = [
    "count",
    "sum",
    "avg",
    "mean",
    "min",
    "max",
    "count_distinct",
    "min_by",
    "max_by",
    "first",
    "last",
    "first_value",
    "last_value",
    "approx_count_distinct",
];

/// Whether a function name is an aggregate.
pub fn is_aggregate(name: &str) -> bool {
    AGGREGATES.contains(&name)
}

/// Suggests the closest of `candidates` to `name`: case-insensitively equal, an edit distance
/// of at most 2, or a prefix of at least 3 characters.
pub fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let mut best: Option<(usize, &str)> = None;
    for c in candidates {
        if c.eq_ignore_ascii_case(name) {
            return Some(c);
        }
        let (a, b) = (name.to_ascii_lowercase(), c.to_ascii_lowercase());
        // A prefix of at least 3 characters is as good as a small typo (`trunc` → `truncate`).
        let d = if a.len() >= 3 && b.starts_with(&a) { 1 } else { edit_distance(&a, &b) };
        if d <= 2 && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The output name of a `expr [AS alias]` item: the alias, the column name for a bare column,
/// else the expression text as written (as Spark names unaliased columns).
pub fn output_name(expr: &Expr, alias: Option<&str>, text: &str) -> String {
    if let Some(a) = alias {
        return a.to_string();
    }
    if let Expr::Column { name, .. } = expr {
        return name.clone();
    }
    // Drop a trailing `AS ...` never reached here; the text is the expression itself.
    text.trim().to_string()
}
