//! Type checking and compilation of an [`Expr`] against a schema into an evaluator.

use super::func::{Func, cast, timestamp_seconds_of};
use super::{BinaryOp, Expr, ExprError, UnaryOp, closest, is_aggregate};
use crate::key::{key_eq, value_cmp};
use crate::show::spark_string;
use crate::time::{self, TruncUnit};
use sluice_formats::{Kind, RowSchema, Value};
use std::borrow::Cow;
use std::cmp::Ordering;

/// A compiled expression: column references resolved to indexes, types checked.
#[derive(Debug, Clone)]
pub struct Compiled {
    node: Node,
    kind: Option<Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Arith {
    Add,
    Sub,
    Mul,
    Rem,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum CmpMode {
    /// Both integers (or both timestamps): exact i64 comparison.
    Int,
    /// Numbers of mixed kinds: compared as f64, NaN greatest.
    Float,
    /// Any other pair of equal kinds.
    Same,
}

#[derive(Debug, Clone)]
enum Node {
    Col(usize),
    Lit(Value),
    Neg { e: Box<Node>, int: bool },
    Not(Box<Node>),
    Arith { op: Arith, int: bool, l: Box<Node>, r: Box<Node> },
    Div(Box<Node>, Box<Node>),
    Cmp { op: BinaryOp, mode: CmpMode, l: Box<Node>, r: Box<Node> },
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    IsNull { e: Box<Node>, negated: bool },
    In { e: Box<Node>, list: Vec<Node>, mode: CmpMode, negated: bool },
    Concat(Vec<Node>),
    Call { f: Func, args: Vec<Node> },
    Cast { e: Box<Node>, to: Kind },
    If { c: Box<Node>, t: Box<Node>, f: Box<Node> },
    Coalesce(Vec<Node>),
    DateFormat { e: Box<Node>, format: Box<time::DateFormat> },
}

impl Compiled {
    /// The result type; `None` when the expression is always `NULL`.
    pub fn kind(&self) -> Option<Kind> {
        self.kind
    }

    /// The column index when the expression is a bare column reference.
    pub fn as_column(&self) -> Option<usize> {
        match self.node {
            Node::Col(i) => Some(i),
            _ => None,
        }
    }

    /// A compiled reference to column `index` of the given kind.
    pub fn column(index: usize, kind: Kind) -> Compiled {
        Compiled { node: Node::Col(index), kind: Some(kind) }
    }

    /// Calls `f` with the index of each column the expression reads (as often as it is read).
    pub fn columns(&self, f: &mut impl FnMut(usize)) {
        node_columns(&self.node, f);
    }

    /// Evaluates over a row's values.
    pub fn eval(&self, values: &[Value]) -> Value {
        eval(&self.node, values)
    }

    /// Evaluates, borrowing the cell when the expression is a bare column.
    #[inline]
    pub fn eval_cow<'a>(&self, values: &'a [Value]) -> Cow<'a, Value> {
        eval_cow(&self.node, values)
    }

    /// Evaluates to a timestamp, as an event time: its milliseconds, or `None` for any other
    /// result. The usual event times, a timestamp column or `timestamp_seconds` of a column,
    /// skip the general evaluator (its result built, matched and dropped once per record).
    #[inline]
    pub fn eval_timestamp(&self, values: &[Value]) -> Option<i64> {
        match &self.node {
            Node::Col(i) => match values.get(*i) {
                Some(Value::Timestamp(t)) => Some(*t),
                _ => None,
            },
            Node::Call { f: Func::TimestampSeconds, args } if let [Node::Col(i)] = args.as_slice() => {
                values.get(*i).and_then(timestamp_seconds_of)
            }
            node => match eval(node, values) {
                Value::Timestamp(t) => Some(t),
                _ => None,
            },
        }
    }

    /// Evaluates a predicate: true only when the result is `TRUE` (not `FALSE`, not `NULL`).
    pub fn test(&self, values: &[Value]) -> bool {
        matches!(eval(&self.node, values), Value::Bool(true))
    }
}

/// [`Compiled::columns`] of a node.
fn node_columns(node: &Node, f: &mut impl FnMut(usize)) {
    match node {
        Node::Col(i) => f(*i),
        Node::Lit(_) => {}
        Node::Neg { e, .. }
        | Node::Not(e)
        | Node::IsNull { e, .. }
        | Node::Cast { e, .. }
        | Node::DateFormat { e, .. } => node_columns(e, f),
        Node::Arith { l, r, .. } | Node::Cmp { l, r, .. } | Node::Div(l, r) | Node::And(l, r) | Node::Or(l, r) => {
            node_columns(l, f);
            node_columns(r, f);
        }
        Node::In { e, list, .. } => {
            node_columns(e, f);
            list.iter().for_each(|n| node_columns(n, f));
        }
        Node::Concat(args) | Node::Call { args, .. } | Node::Coalesce(args) => {
            args.iter().for_each(|n| node_columns(n, f));
        }
        Node::If { c, t, f: e } => {
            node_columns(c, f);
            node_columns(t, f);
            node_columns(e, f);
        }
    }
}

/// Compiles an expression against a schema. A dotted name such as Spark's `window.start`
/// also finds the flattened column `window_start`.
pub fn compile(expr: &Expr, schema: &RowSchema) -> Result<Compiled, ExprError> {
    let (node, kind) = Compiler { schema }.compile(expr)?;
    Ok(Compiled { node, kind })
}

struct Compiler<'s> {
    schema: &'s RowSchema,
}

type Typed = (Node, Option<Kind>);

fn is_num(k: Option<Kind>) -> bool {
    matches!(k, Some(Kind::Int) | Some(Kind::Float) | None)
}

fn kind_name(k: Option<Kind>) -> String {
    k.map_or("NULL".to_string(), |k| k.to_string())
}

impl Compiler<'_> {
    fn column(&self, name: &str, pos: usize) -> Result<Typed, ExprError> {
        let found = self.schema.index_of(name).or_else(|| {
            // Spark's `window.start` is our flat `window_start`.
            if name.contains('.') { self.schema.index_of(&name.replace('.', "_")) } else { None }
        });
        match found {
            Some(i) => Ok((Node::Col(i), Some(self.schema.fields[i].kind))),
            None => {
                let names: Vec<&str> = self.schema.fields.iter().map(|f| f.name.as_str()).collect();
                let mut e = ExprError::new(pos, format!("unknown column `{name}`"));
                e.fix = Some(match closest(name, names.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`? the columns are: {}", names.join(", ")),
                    None => format!("the columns are: {}", names.join(", ")),
                });
                Err(e)
            }
        }
    }

    fn compile(&self, e: &Expr) -> Result<Typed, ExprError> {
        match e {
            Expr::Column { name, pos } => self.column(name, *pos),
            Expr::Literal { value, .. } => Ok((Node::Lit(value.clone()), value.kind())),
            Expr::Unary { op: UnaryOp::Neg, expr, pos } => {
                let (n, k) = self.compile(expr)?;
                if !is_num(k) {
                    return Err(ExprError::new(*pos, format!("cannot negate a {}", kind_name(k))));
                }
                Ok((Node::Neg { e: Box::new(n), int: k == Some(Kind::Int) }, k))
            }
            Expr::Unary { op: UnaryOp::Not, expr, pos } => {
                let (n, k) = self.compile(expr)?;
                self.expect_bool(k, *pos, "NOT")?;
                Ok((Node::Not(Box::new(n)), Some(Kind::Bool)))
            }
            Expr::Binary { op, left, right, pos } => self.binary(*op, left, right, *pos),
            Expr::IsNull { expr, negated, .. } => {
                let (n, _) = self.compile(expr)?;
                Ok((Node::IsNull { e: Box::new(n), negated: *negated }, Some(Kind::Bool)))
            }
            Expr::InList { expr, list, negated, pos } => {
                let (n, k) = self.compile(expr)?;
                let mut items = Vec::with_capacity(list.len());
                let mut mode = CmpMode::Same;
                for item in list {
                    let (m, ik) = self.compile(item)?;
                    let (m, item_mode) = self.comparable(k, (m, ik), item.pos(), *pos)?;
                    if item_mode == CmpMode::Float {
                        mode = CmpMode::Float;
                    } else if item_mode == CmpMode::Int && mode == CmpMode::Same {
                        mode = CmpMode::Int;
                    }
                    items.push(m);
                }
                Ok((Node::In { e: Box::new(n), list: items, mode, negated: *negated }, Some(Kind::Bool)))
            }
            Expr::Cast { expr, to, pos } => {
                let (n, k) = self.compile(expr)?;
                let ok = match (k, to) {
                    (None, _) | (_, Kind::Str) => true,
                    (Some(from), to) if from == *to => true,
                    (Some(Kind::Bytes), _) | (_, Kind::Bytes) => k == Some(Kind::Str),
                    (Some(Kind::Bool), Kind::Timestamp) | (Some(Kind::Timestamp), Kind::Bool) => false,
                    _ => true,
                };
                if !ok {
                    return Err(ExprError::new(*pos, format!("cannot cast {} to {to}", kind_name(k))));
                }
                Ok((Node::Cast { e: Box::new(n), to: *to }, Some(*to)))
            }
            Expr::Call { name, args, star, distinct, pos } => self.call(name, args, *star, *distinct, *pos),
        }
    }

    fn expect_bool(&self, k: Option<Kind>, pos: usize, what: &str) -> Result<(), ExprError> {
        match k {
            Some(Kind::Bool) | None => Ok(()),
            Some(other) => Err(ExprError::new(pos, format!("{what} needs a boolean, found {other}"))
                .with_fix("compare the value, e.g. `x > 0` or `s = 'text'`")),
        }
    }

    /// Makes `r` comparable with a left side of kind `lk`; converts a text literal to a
    /// timestamp when compared with a timestamp.
    fn comparable(
        &self,
        lk: Option<Kind>,
        r: Typed,
        r_pos: usize,
        op_pos: usize,
    ) -> Result<(Node, CmpMode), ExprError> {
        let (rn, rk) = r;
        match (lk, rk) {
            (None, _) | (_, None) => Ok((rn, CmpMode::Same)),
            (Some(Kind::Int), Some(Kind::Int)) | (Some(Kind::Timestamp), Some(Kind::Timestamp)) => {
                Ok((rn, CmpMode::Int))
            }
            (Some(a), Some(b)) if is_num(Some(a)) && is_num(Some(b)) => Ok((rn, CmpMode::Float)),
            (Some(Kind::Timestamp), Some(Kind::Str)) => match &rn {
                Node::Lit(Value::Str(s)) => match time::parse_timestamp(s) {
                    Some(t) => Ok((Node::Lit(Value::Timestamp(t)), CmpMode::Int)),
                    None => Err(ExprError::new(r_pos, format!("'{s}' is not a timestamp"))
                        .with_fix("write timestamps as 'YYYY-MM-DD HH:MM:SS'")),
                },
                _ => Err(ExprError::new(op_pos, "cannot compare timestamp with string")
                    .with_fix("convert the text with to_timestamp(s)")),
            },
            (Some(a), Some(b)) if a == b => Ok((rn, CmpMode::Same)),
            (Some(a), Some(b)) => {
                let fix = match (a, b) {
                    (Kind::Timestamp, Kind::Int) | (Kind::Int, Kind::Timestamp) => {
                        "convert with timestamp_millis(n) / timestamp_seconds(n), or unix_millis(ts)"
                    }
                    (Kind::Str, _) | (_, Kind::Str) => "convert with CAST(x AS type)",
                    _ => "convert one side with CAST(x AS type)",
                };
                Err(ExprError::new(op_pos, format!("cannot compare {a} with {b}")).with_fix(fix))
            }
        }
    }

    fn binary(&self, op: BinaryOp, left: &Expr, right: &Expr, pos: usize) -> Result<Typed, ExprError> {
        match op {
            BinaryOp::And | BinaryOp::Or => {
                let (l, lk) = self.compile(left)?;
                let (r, rk) = self.compile(right)?;
                self.expect_bool(lk, left.pos(), op.symbol())?;
                self.expect_bool(rk, right.pos(), op.symbol())?;
                let node = if op == BinaryOp::And {
                    Node::And(Box::new(l), Box::new(r))
                } else {
                    Node::Or(Box::new(l), Box::new(r))
                };
                Ok((node, Some(Kind::Bool)))
            }
            BinaryOp::Concat => {
                let (l, _) = self.compile(left)?;
                let (r, _) = self.compile(right)?;
                let mut parts = Vec::new();
                for n in [l, r] {
                    match n {
                        Node::Concat(inner) => parts.extend(inner),
                        other => parts.push(other),
                    }
                }
                Ok((Node::Concat(parts), Some(Kind::Str)))
            }
            BinaryOp::Eq | BinaryOp::Ne | BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let (l, lk) = self.compile(left)?;
                let r = self.compile(right)?;
                let rk = r.1;
                // A text literal on the left compared with a timestamp on the right.
                if lk == Some(Kind::Str) && rk == Some(Kind::Timestamp) {
                    let (l2, mode) = self.comparable(rk, (l, lk), left.pos(), pos)?;
                    return Ok((Node::Cmp { op, mode, l: Box::new(l2), r: Box::new(r.0) }, Some(Kind::Bool)));
                }
                let (r, mode) = self.comparable(lk, r, right.pos(), pos)?;
                if matches!(op, BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge)
                    && matches!(lk, Some(Kind::Bool))
                {
                    return Err(ExprError::new(pos, "booleans have no order").with_fix("use = or !="));
                }
                Ok((Node::Cmp { op, mode, l: Box::new(l), r: Box::new(r) }, Some(Kind::Bool)))
            }
            BinaryOp::Add | BinaryOp::Sub | BinaryOp::Mul | BinaryOp::Rem | BinaryOp::Div => {
                let (l, lk) = self.compile(left)?;
                let (r, rk) = self.compile(right)?;
                for (k, side) in [(lk, left), (rk, right)] {
                    if !is_num(k) {
                        let fix = match (k, op) {
                            (Some(Kind::Str), BinaryOp::Add) => "join text with || or concat(a, b)".to_string(),
                            (Some(Kind::Timestamp), BinaryOp::Sub) => {
                                "subtract epoch values: unix_millis(a) - unix_millis(b) (milliseconds) or \
                                 unix_seconds(a) - unix_seconds(b)"
                                    .to_string()
                            }
                            (Some(Kind::Timestamp), _) => {
                                "convert with unix_millis(ts) and back with timestamp_millis(n)".to_string()
                            }
                            _ => "convert it with CAST(x AS double)".to_string(),
                        };
                        return Err(ExprError::new(
                            side.pos(),
                            format!("`{}` needs numbers, found {}", op.symbol(), kind_name(k)),
                        )
                        .with_fix(fix));
                    }
                }
                if op == BinaryOp::Div {
                    return Ok((Node::Div(Box::new(l), Box::new(r)), Some(Kind::Float)));
                }
                let int = lk != Some(Kind::Float) && rk != Some(Kind::Float);
                let kind = if lk.is_none() && rk.is_none() {
                    None
                } else if int {
                    Some(Kind::Int)
                } else {
                    Some(Kind::Float)
                };
                let op = match op {
                    BinaryOp::Add => Arith::Add,
                    BinaryOp::Sub => Arith::Sub,
                    BinaryOp::Mul => Arith::Mul,
                    _ => Arith::Rem,
                };
                Ok((Node::Arith { op, int, l: Box::new(l), r: Box::new(r) }, kind))
            }
        }
    }

    fn literal_str<'e>(&self, e: &'e Expr, what: &str, example: &str) -> Result<&'e str, ExprError> {
        match e {
            Expr::Literal { value: Value::Str(s), .. } => Ok(s.as_str()),
            other => Err(ExprError::new(other.pos(), format!("{what} must be a text literal"))
                .with_fix(format!("write it in quotes, e.g. {example}"))),
        }
    }

    fn literal_int(&self, e: &Expr, what: &str) -> Result<i64, ExprError> {
        match e {
            Expr::Literal { value: Value::Int(i), .. } => Ok(*i),
            other => Err(ExprError::new(other.pos(), format!("{what} must be an integer literal"))),
        }
    }

    fn call(&self, name: &str, args: &[Expr], star: bool, distinct: bool, pos: usize) -> Result<Typed, ExprError> {
        if is_aggregate(name) {
            return Err(ExprError::new(pos, format!("aggregate `{name}` is not allowed here"))
                .with_fix("aggregates belong in the `aggregates` list of an aggregate step"));
        }
        if star || distinct {
            return Err(ExprError::new(pos, format!("`{name}` does not take {}", if star { "*" } else { "DISTINCT" })));
        }
        let arity = |min: usize, max: usize| -> Result<(), ExprError> {
            if args.len() < min || args.len() > max {
                let want = if min == max { format!("{min}") } else { format!("{min} to {max}") };
                return Err(ExprError::new(
                    pos,
                    format!("`{name}` takes {want} argument{}, found {}", if max == 1 { "" } else { "s" }, args.len()),
                ));
            }
            Ok(())
        };
        let compiled = |me: &Self| -> Result<Vec<Typed>, ExprError> { args.iter().map(|a| me.compile(a)).collect() };
        let need = |k: Option<Kind>, ok: &[Kind], i: usize, hint: &str| -> Result<(), ExprError> {
            match k {
                None => Ok(()),
                Some(k) if ok.contains(&k) => Ok(()),
                Some(k) => Err(ExprError::new(args[i].pos(), format!("`{name}` needs {hint}, found {k}"))),
            }
        };
        let num = [Kind::Int, Kind::Float];
        let simple = |f: Func, args: Vec<Typed>, kind: Option<Kind>| -> Typed {
            (Node::Call { f, args: args.into_iter().map(|a| a.0).collect() }, kind)
        };
        // A function of one argument of the kinds `ok` (`hint` in the error), giving `kind`.
        let unary = |me: &Self, f: Func, ok: &[Kind], hint: &str, kind: Kind| -> Result<Typed, ExprError> {
            arity(1, 1)?;
            let a = compiled(me)?;
            need(a[0].1, ok, 0, hint)?;
            Ok(simple(f, a, Some(kind)))
        };
        match name {
            "sqrt" | "ln" | "log10" | "exp" | "signum" | "sign" => {
                let f = match name {
                    "sqrt" => Func::Sqrt,
                    "ln" => Func::Ln,
                    "log10" => Func::Log10,
                    "exp" => Func::Exp,
                    _ => Func::Signum,
                };
                unary(self, f, &num, "a number", Kind::Float)
            }
            // log(x) is the natural logarithm; log(base, x) as Spark.
            "log" => {
                arity(1, 2)?;
                let a = compiled(self)?;
                for (i, arg) in a.iter().enumerate() {
                    need(arg.1, &num, i, "numbers")?;
                }
                let f = if a.len() == 1 { Func::Ln } else { Func::Log };
                Ok(simple(f, a, Some(Kind::Float)))
            }
            "nullif" => {
                arity(2, 2)?;
                let eq = Expr::Binary {
                    op: BinaryOp::Eq,
                    left: Box::new(args[0].clone()),
                    right: Box::new(args[1].clone()),
                    pos: args[1].pos(),
                };
                let (c, _) = self.compile(&eq)?;
                let (a, k) = self.compile(&args[0])?;
                Ok((Node::If { c: Box::new(c), t: Box::new(Node::Lit(Value::Null)), f: Box::new(a) }, k))
            }
            "pow" | "power" => {
                arity(2, 2)?;
                let a = compiled(self)?;
                need(a[0].1, &num, 0, "numbers")?;
                need(a[1].1, &num, 1, "numbers")?;
                Ok(simple(Func::Pow, a, Some(Kind::Float)))
            }
            "abs" => {
                arity(1, 1)?;
                let a = compiled(self)?;
                need(a[0].1, &num, 0, "a number")?;
                let k = a[0].1;
                let f = if k == Some(Kind::Float) { Func::AbsFloat } else { Func::AbsInt };
                Ok(simple(f, a, k))
            }
            "floor" | "ceil" | "ceiling" => {
                arity(1, 2)?;
                let a = compiled(self)?;
                if args.len() == 2 || a[0].1 == Some(Kind::Timestamp) {
                    if name != "floor" || args.len() != 2 {
                        return Err(ExprError::new(pos, "a timestamp is floored with floor(ts, 'interval')")
                            .with_fix("e.g. floor(ts, '5 minutes'), or date_trunc('minute', ts)"));
                    }
                    need(a[0].1, &[Kind::Timestamp], 0, "a timestamp")?;
                    let text = self.literal_str(&args[1], "the bucket size", "'5 minutes'")?;
                    let ms = time::parse_duration(text).map_err(|e| ExprError::new(args[1].pos(), e.to_string()))?;
                    if ms <= 0 {
                        return Err(ExprError::new(args[1].pos(), "the bucket size must be positive"));
                    }
                    let first = a.into_iter().next().map(|t| t.0).unwrap_or(Node::Lit(Value::Null));
                    return Ok((Node::Call { f: Func::TimeFloor(ms), args: vec![first] }, Some(Kind::Timestamp)));
                }
                need(a[0].1, &num, 0, "a number")?;
                let f = if name == "floor" { Func::Floor } else { Func::Ceil };
                Ok(simple(f, a, Some(Kind::Int)))
            }
            "round" => {
                arity(1, 2)?;
                let d = if args.len() == 2 { self.literal_int(&args[1], "the number of digits")? } else { 0 };
                let d = d.clamp(-30, 30) as i32;
                let a = compiled(self)?;
                need(a[0].1, &num, 0, "a number")?;
                let k = a[0].1;
                let first = a.into_iter().next().map(|t| t.0).unwrap_or(Node::Lit(Value::Null));
                let f = if k == Some(Kind::Int) { Func::RoundInt(d) } else { Func::RoundFloat(d) };
                Ok((Node::Call { f, args: vec![first] }, k))
            }
            "is_prime" => {
                unary(self, Func::IsPrime, &[Kind::Int], "an integer (CAST(x AS bigint) for other numbers)", Kind::Bool)
            }
            "date_trunc" => {
                arity(2, 2)?;
                let unit_text = self.literal_str(&args[0], "the unit", "'minute'")?;
                let unit = TruncUnit::parse(unit_text).ok_or_else(|| {
                    ExprError::new(args[0].pos(), format!("unknown unit '{unit_text}'"))
                        .with_fix("use 'second', 'minute', 'hour', 'day', 'week', 'month', 'quarter' or 'year'")
                })?;
                let (n, k) = self.compile(&args[1])?;
                need(k, &[Kind::Timestamp], 1, "a timestamp")?;
                Ok((Node::Call { f: Func::DateTrunc(unit), args: vec![n] }, Some(Kind::Timestamp)))
            }
            "timestamp_seconds" | "timestamp_millis" => {
                arity(1, 1)?;
                let a = compiled(self)?;
                let f = if name == "timestamp_seconds" {
                    need(a[0].1, &num, 0, "a number")?;
                    Func::TimestampSeconds
                } else {
                    need(a[0].1, &[Kind::Int], 0, "an integer")?;
                    Func::TimestampMillis
                };
                Ok(simple(f, a, Some(Kind::Timestamp)))
            }
            "unix_seconds" | "unix_millis" | "unix_timestamp" | "year" | "quarter" | "month" | "day" | "dayofmonth"
            | "dayofweek" | "dayofyear" | "hour" | "minute" | "second" => {
                let f = match name {
                    "unix_millis" => Func::UnixMillis,
                    "unix_seconds" | "unix_timestamp" => Func::UnixSeconds,
                    _ => Func::Part(time::DatePart::by_function(name).unwrap_or(time::DatePart::Year)),
                };
                unary(self, f, &[Kind::Timestamp], "a timestamp", Kind::Int)
            }
            "date_format" => {
                arity(2, 2)?;
                let text = self.literal_str(&args[1], "the pattern", "'yyyy-MM-dd HH:mm'")?;
                let format = time::DateFormat::parse(text).map_err(|why| {
                    ExprError::new(args[1].pos(), format!("the pattern '{text}': {why}"))
                        .with_fix(format!("use the letters {}", time::DateFormat::LETTERS))
                })?;
                let (n, k) = self.compile(&args[0])?;
                need(k, &[Kind::Timestamp], 0, "a timestamp")?;
                Ok((Node::DateFormat { e: Box::new(n), format: Box::new(format) }, Some(Kind::Str)))
            }
            "to_timestamp" => unary(self, Func::ToTimestamp, &[Kind::Str, Kind::Timestamp], "text", Kind::Timestamp),
            "lower" | "upper" | "length" | "trim" | "ltrim" | "rtrim" => {
                let (f, k) = match name {
                    "lower" => (Func::Lower, Kind::Str),
                    "upper" => (Func::Upper, Kind::Str),
                    "length" => (Func::Length, Kind::Int),
                    "trim" => (Func::Trim, Kind::Str),
                    "ltrim" => (Func::LTrim, Kind::Str),
                    _ => (Func::RTrim, Kind::Str),
                };
                unary(self, f, &[Kind::Str], "text", k)
            }
            "replace" => {
                arity(2, 3)?;
                let a = compiled(self)?;
                for (i, arg) in a.iter().enumerate() {
                    need(arg.1, &[Kind::Str], i, "text")?;
                }
                Ok(simple(Func::Replace, a, Some(Kind::Str)))
            }
            "substring" | "substr" => {
                arity(2, 3)?;
                let a = compiled(self)?;
                need(a[0].1, &[Kind::Str], 0, "text")?;
                for (i, arg) in a.iter().enumerate().skip(1) {
                    need(arg.1, &[Kind::Int], i, "integer positions")?;
                }
                Ok(simple(Func::Substring, a, Some(Kind::Str)))
            }
            "concat" => {
                arity(1, usize::MAX)?;
                let a = compiled(self)?;
                Ok((Node::Concat(a.into_iter().map(|t| t.0).collect()), Some(Kind::Str)))
            }
            "ifnull" | "nvl" => {
                arity(2, 2)?;
                let a = compiled(self)?;
                let (nodes, k) = self.unify(a, args, name)?;
                Ok((Node::Coalesce(nodes), k))
            }
            "coalesce" | "greatest" | "least" => {
                arity(1, usize::MAX)?;
                let a = compiled(self)?;
                let (nodes, k) = self.unify(a, args, name)?;
                let node = match name {
                    "coalesce" => Node::Coalesce(nodes),
                    "greatest" => Node::Call { f: Func::Greatest, args: nodes },
                    _ => Node::Call { f: Func::Least, args: nodes },
                };
                Ok((node, k))
            }
            // `case`: one arm of a CASE expression (see the parser), named CASE in errors.
            "if" | "case" => {
                arity(3, 3)?;
                let shown = if name == "case" { "CASE" } else { "if" };
                let mut a = compiled(self)?;
                self.expect_bool(a[0].1, args[0].pos(), shown)?;
                let branches = a.split_off(1);
                let (mut nodes, k) = self.unify(branches, &args[1..], shown)?;
                let f = nodes.pop().unwrap_or(Node::Lit(Value::Null));
                let t = nodes.pop().unwrap_or(Node::Lit(Value::Null));
                let c = a.pop().map(|t| t.0).unwrap_or(Node::Lit(Value::Null));
                Ok((Node::If { c: Box::new(c), t: Box::new(t), f: Box::new(f) }, k))
            }
            _ => {
                let names = [
                    "sqrt",
                    "pow",
                    "power",
                    "abs",
                    "ln",
                    "log",
                    "log10",
                    "exp",
                    "signum",
                    "sign",
                    "floor",
                    "ceil",
                    "round",
                    "is_prime",
                    "date_trunc",
                    "timestamp_seconds",
                    "timestamp_millis",
                    "unix_seconds",
                    "unix_millis",
                    "to_timestamp",
                    "date_format",
                    "year",
                    "quarter",
                    "month",
                    "day",
                    "dayofmonth",
                    "dayofweek",
                    "dayofyear",
                    "hour",
                    "minute",
                    "second",
                    "lower",
                    "upper",
                    "length",
                    "trim",
                    "ltrim",
                    "rtrim",
                    "replace",
                    "substring",
                    "concat",
                    "coalesce",
                    "ifnull",
                    "nvl",
                    "nullif",
                    "greatest",
                    "least",
                    "if",
                ];
                let mut e = ExprError::new(pos, format!("unknown function `{name}`"));
                e.fix = Some(match closest(name, names) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("the functions are: {}", names.join(", ")),
                });
                Err(e)
            }
        }
    }

    /// Gives a list of branches one type: equal kinds, or numbers widened to double.
    fn unify(&self, items: Vec<Typed>, exprs: &[Expr], name: &str) -> Result<(Vec<Node>, Option<Kind>), ExprError> {
        let mut kind: Option<Kind> = None;
        for (i, (_, k)) in items.iter().enumerate() {
            match (kind, k) {
                (_, None) => {}
                (None, Some(k)) => kind = Some(*k),
                (Some(a), Some(b)) if a == *b => {}
                (Some(a), Some(b)) if is_num(Some(a)) && is_num(Some(*b)) => kind = Some(Kind::Float),
                (Some(a), Some(b)) => {
                    return Err(ExprError::new(exprs[i].pos(), format!("`{name}` mixes {a} and {b}"))
                        .with_fix("give every branch the same type with CAST(x AS type)"));
                }
            }
        }
        let nodes = items
            .into_iter()
            .map(|(n, k)| {
                if kind == Some(Kind::Float) && k == Some(Kind::Int) {
                    Node::Cast { e: Box::new(n), to: Kind::Float }
                } else {
                    n
                }
            })
            .collect();
        Ok((nodes, kind))
    }
}

fn truth(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn bool_value(b: Option<bool>) -> Value {
    b.map_or(Value::Null, Value::Bool)
}

fn compare(mode: CmpMode, a: &Value, b: &Value) -> Option<Ordering> {
    if a.is_null() || b.is_null() {
        return None;
    }
    Some(match mode {
        CmpMode::Int => a.as_i64()?.cmp(&b.as_i64()?),
        CmpMode::Float => {
            let (x, y) = (a.as_f64()?, b.as_f64()?);
            value_cmp(&Value::Float(x), &Value::Float(y))
        }
        CmpMode::Same => {
            if let (Value::Float(_), Value::Float(_)) = (a, b) {
                value_cmp(a, b)
            } else if key_eq(a, b) {
                Ordering::Equal
            } else {
                value_cmp(a, b)
            }
        }
    })
}

/// [`eval`], borrowing the cell when the node is a bare column.
#[inline]
fn eval_cow<'a>(node: &Node, row: &'a [Value]) -> Cow<'a, Value> {
    match node {
        Node::Col(i) => Cow::Borrowed(row.get(*i).unwrap_or(&Value::Null)),
        _ => Cow::Owned(eval(node, row)),
    }
}

fn eval(node: &Node, row: &[Value]) -> Value {
    match node {
        Node::Col(i) => row.get(*i).cloned().unwrap_or(Value::Null),
        Node::Lit(v) => v.clone(),
        Node::Neg { e, int } => match eval(e, row) {
            Value::Int(i) if *int => i.checked_neg().map_or(Value::Null, Value::Int),
            Value::Float(x) => Value::Float(-x),
            Value::Int(i) => Value::Float(-(i as f64)),
            _ => Value::Null,
        },
        Node::Not(e) => bool_value(truth(&eval(e, row)).map(|b| !b)),
        Node::Arith { op, int, l, r } => {
            let (a, b) = (eval(l, row), eval(r, row));
            if *int {
                let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) else { return Value::Null };
                let v = match op {
                    Arith::Add => x.checked_add(y),
                    Arith::Sub => x.checked_sub(y),
                    Arith::Mul => x.checked_mul(y),
                    Arith::Rem => x.checked_rem(y),
                };
                v.map_or(Value::Null, Value::Int)
            } else {
                let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else { return Value::Null };
                match op {
                    Arith::Add => Value::Float(x + y),
                    Arith::Sub => Value::Float(x - y),
                    Arith::Mul => Value::Float(x * y),
                    Arith::Rem if y == 0.0 => Value::Null,
                    Arith::Rem => Value::Float(x % y),
                }
            }
        }
        Node::Div(l, r) => {
            let (a, b) = (eval(l, row), eval(r, row));
            match (a.as_f64(), b.as_f64()) {
                (Some(_), Some(0.0)) => Value::Null,
                (Some(x), Some(y)) => Value::Float(x / y),
                _ => Value::Null,
            }
        }
        Node::Cmp { op, mode, l, r } => {
            let (a, b) = (eval(l, row), eval(r, row));
            let Some(o) = compare(*mode, &a, &b) else { return Value::Null };
            Value::Bool(match op {
                BinaryOp::Eq => o.is_eq(),
                BinaryOp::Ne => o.is_ne(),
                BinaryOp::Lt => o.is_lt(),
                BinaryOp::Le => o.is_le(),
                BinaryOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            })
        }
        Node::And(l, r) => {
            let a = truth(&eval(l, row));
            if a == Some(false) {
                return Value::Bool(false);
            }
            let b = truth(&eval(r, row));
            match (a, b) {
                (_, Some(false)) => Value::Bool(false),
                (Some(true), Some(true)) => Value::Bool(true),
                _ => Value::Null,
            }
        }
        Node::Or(l, r) => {
            let a = truth(&eval(l, row));
            if a == Some(true) {
                return Value::Bool(true);
            }
            let b = truth(&eval(r, row));
            match (a, b) {
                (_, Some(true)) => Value::Bool(true),
                (Some(false), Some(false)) => Value::Bool(false),
                _ => Value::Null,
            }
        }
        Node::IsNull { e, negated } => Value::Bool(eval(e, row).is_null() != *negated),
        Node::In { e, list, mode, negated } => {
            let v = eval(e, row);
            if v.is_null() {
                return Value::Null;
            }
            let mut saw_null = false;
            for item in list {
                let w = eval(item, row);
                match compare(*mode, &v, &w) {
                    Some(Ordering::Equal) => return Value::Bool(!*negated),
                    Some(_) => {}
                    None => saw_null = true,
                }
            }
            if saw_null { Value::Null } else { Value::Bool(*negated) }
        }
        Node::Concat(parts) => {
            let mut out = String::new();
            for p in parts {
                match eval(p, row) {
                    Value::Null => return Value::Null,
                    Value::Str(s) => out.push_str(&s),
                    other => out.push_str(&spark_string(&other)),
                }
            }
            Value::from(out)
        }
        // Up to three arguments on the stack: a Vec per call was a malloc and free per record
        // for an event time such as `timestamp_seconds(ts)`.
        Node::Call { f, args } => match args.as_slice() {
            [] => f.apply(&[]),
            // The argument borrowed when it is a column (a copy was read back right after it
            // was stored, a stall per call).
            [a] => f.apply(std::slice::from_ref(eval_cow(a, row).as_ref())),
            [a, b] => f.apply(&[eval(a, row), eval(b, row)]),
            [a, b, c] => f.apply(&[eval(a, row), eval(b, row), eval(c, row)]),
            _ => f.apply(&args.iter().map(|a| eval(a, row)).collect::<Vec<_>>()),
        },
        Node::Cast { e, to } => cast(&eval(e, row), *to),
        Node::DateFormat { e, format } => match eval_cow(e, row).as_ref() {
            Value::Timestamp(t) => Value::from(format.format(*t)),
            _ => Value::Null,
        },
        Node::If { c, t, f } => {
            if truth(&eval(c, row)) == Some(true) {
                eval(t, row)
            } else {
                eval(f, row)
            }
        }
        Node::Coalesce(items) => {
            for i in items {
                let v = eval(i, row);
                if !v.is_null() {
                    return v;
                }
            }
            Value::Null
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use sluice_formats::Field;

    fn schema() -> RowSchema {
        RowSchema::new(vec![
            Field::new("userId", Kind::Str),
            Field::new("action", Kind::Str),
            Field::new("value", Kind::Float),
            Field::new("n", Kind::Int),
            Field::new("ts", Kind::Timestamp),
            Field::new("flag", Kind::Bool),
            Field::new("window_start", Kind::Timestamp),
        ])
    }

    fn row() -> Vec<Value> {
        vec![
            Value::from("user3"),
            Value::from("view"),
            Value::Float(221.45),
            Value::Int(7),
            Value::Timestamp(time::parse_timestamp("2025-07-27 10:08:05.5").unwrap()),
            Value::Null,
            Value::Timestamp(0),
        ]
    }

    fn ev(text: &str) -> Value {
        compile(&parse(text).unwrap(), &schema()).unwrap_or_else(|e| panic!("{text}: {e}")).eval(&row())
    }

    fn err(text: &str) -> ExprError {
        match parse(text) {
            Err(e) => e,
            Ok(e) => compile(&e, &schema()).err().unwrap_or_else(|| panic!("{text} compiled")),
        }
    }

    #[test]
    fn event_times_are_what_the_general_evaluator_makes_of_them() {
        let schema = RowSchema::new(vec![Field::new("x", Kind::Float), Field::new("t", Kind::Timestamp)]);
        let cells = [
            Value::Null,
            Value::Int(1_795_435_200),
            Value::Int(-3),
            Value::Int(i64::MAX / 999),
            Value::Float(1_795_435_200.123),
            Value::Float(0.0005),
            Value::Float(-0.0015),
            Value::Float(1e300),
            Value::Float(f64::NAN),
            Value::Timestamp(1_795_435_200_123),
            Value::from("1795435200"),
            Value::Bool(true),
        ];
        for text in ["t", "x", "timestamp_seconds(x)", "timestamp_seconds(floor(x))", "date_trunc('minute', t)"] {
            let c = compile(&parse(text).unwrap(), &schema).unwrap();
            for a in &cells {
                for b in &cells {
                    let row = [a.clone(), b.clone()];
                    let general = match c.eval(&row) {
                        Value::Timestamp(t) => Some(t),
                        _ => None,
                    };
                    assert_eq!(c.eval_timestamp(&row), general, "{text} over {row:?}");
                }
            }
        }
    }

    #[test]
    fn arithmetic_and_functions() {
        assert_eq!(ev("n * n"), Value::Int(49));
        assert_eq!(ev("n / 2"), Value::Float(3.5));
        assert_eq!(ev("n % 4"), Value::Int(3));
        assert_eq!(ev("n / 0"), Value::Null);
        assert_eq!(ev("n % 0"), Value::Null);
        assert_eq!(ev("9223372036854775807 + n"), Value::Null);
        assert_eq!(ev("value + n"), Value::Float(228.45));
        assert_eq!(ev("sqrt(n * 7)"), Value::Float(7.0));
        assert_eq!(ev("pow(2, 10)"), Value::Float(1024.0));
        assert_eq!(ev("is_prime(n)"), Value::Bool(true));
        assert_eq!(ev("is_prime(n + 1)"), Value::Bool(false));
        assert_eq!(ev("round(value / 3, 2)"), Value::Float(73.82));
        assert_eq!(ev("floor(value)"), Value::Int(221));
        assert_eq!(ev("abs(-n)"), Value::Int(7));
        assert_eq!(ev("concat(userId, '-', action, n)"), Value::from("user3-view7"));
        assert_eq!(ev("userId || ':' || value"), Value::from("user3:221.45"));
        assert_eq!(ev("concat(userId, flag)"), Value::Null);
        assert_eq!(ev("upper(action)"), Value::from("VIEW"));
        assert_eq!(ev("'[' || trim('  a b \t ') || ']'"), Value::from("[a b \t]"));
        assert_eq!(ev("ltrim('  x  ') || '|' || rtrim('  x  ')"), Value::from("x  |  x"));
        assert_eq!(ev("replace(userId, 'user', 'u-')"), Value::from("u-3"));
        assert_eq!(ev("replace('a.b.c', '.')"), Value::from("abc"));
        assert_eq!(ev("replace(action, '', 'x')"), Value::from("view"));
        assert_eq!(ev("replace(action, 'v', CAST(NULL AS string))"), Value::Null);
        assert_eq!(ev("coalesce(flag, n > 3)"), Value::Bool(true));
        assert_eq!(ev("ifnull(flag, n > 3)"), Value::Bool(true));
        assert_eq!(ev("nvl(CAST(NULL AS bigint), n)"), Value::Int(7));
        assert_eq!(ev("nullif(n, 7)"), Value::Null);
        assert_eq!(ev("nullif(action, 'click')"), Value::from("view"));
        assert_eq!(ev("100 / nullif(n - 7, 0)"), Value::Null);
        assert_eq!(ev("round(ln(exp(2)), 6)"), Value::Float(2.0));
        assert_eq!(ev("log10(1000)"), Value::Float(3.0));
        assert_eq!(ev("log(2, 1024)"), Value::Float(10.0));
        assert_eq!(ev("round(log(exp(1)), 6)"), Value::Float(1.0));
        assert_eq!(ev("ln(0)"), Value::Null);
        assert_eq!(ev("log(-2, 8)"), Value::Null);
        assert_eq!(ev("signum(-value) + sign(n) + sign(0)"), Value::Float(0.0));
        assert_eq!(ev("if(n > 3, value, n)"), Value::Float(221.45));
        assert_eq!(ev("greatest(1, n, 3)"), Value::Int(7));
        assert_eq!(
            ev("date_trunc('minute', ts)"),
            Value::Timestamp(time::parse_timestamp("2025-07-27 10:08:00").unwrap())
        );
        assert_eq!(
            ev("floor(ts, '10 seconds')"),
            Value::Timestamp(time::parse_timestamp("2025-07-27 10:08:00").unwrap())
        );
        assert_eq!(ev("unix_seconds(ts)"), Value::Int(1_753_610_885));
        assert_eq!(ev("hour(ts) * 100 + minute(ts)"), Value::Int(1008));
        assert_eq!(ev("dayofweek(ts)"), Value::Int(1));
        assert_eq!(ev("date_format(ts, 'yyyy-MM-dd HH:mm')"), Value::from("2025-07-27 10:08"));
        assert_eq!(ev("date_format(CAST(NULL AS timestamp), 'yyyy')"), Value::Null);
        assert_eq!(ev("year(window_start)"), Value::Int(1970));
        assert_eq!(ev("month(CAST(NULL AS timestamp))"), Value::Null);
        assert_eq!(ev("timestamp_seconds(1.5)"), Value::Timestamp(1_500));
        assert_eq!(ev("cast(n as string)"), Value::from("7"));
        assert_eq!(ev("-value"), Value::Float(-221.45));
    }

    #[test]
    fn logic_with_nulls() {
        assert_eq!(ev("flag AND n > 3"), Value::Null);
        assert_eq!(ev("flag AND n < 3"), Value::Bool(false));
        assert_eq!(ev("flag OR n > 3"), Value::Bool(true));
        assert_eq!(ev("NOT flag"), Value::Null);
        assert_eq!(ev("flag IS NULL"), Value::Bool(true));
        assert_eq!(ev("action IN ('click', 'view')"), Value::Bool(true));
        assert_eq!(ev("action NOT IN ('click', 'view')"), Value::Bool(false));
        assert_eq!(ev("action IN ('click', NULL)"), Value::Null);
        assert_eq!(ev("n IN (1.0, 7.0)"), Value::Bool(true));
        assert_eq!(ev("ts > '2025-07-27 10:00:00'"), Value::Bool(true));
        assert_eq!(ev("'2025-07-27 10:00:00' < ts"), Value::Bool(true));
        assert_eq!(ev("n between 1 and 7"), Value::Bool(true));
        assert_eq!(ev("value >= 221.45 and action = 'view'"), Value::Bool(true));
        assert_eq!(ev("n = 7.0"), Value::Bool(true));
        assert_eq!(ev("window.start = window_start"), Value::Bool(true));
        let c = compile(&parse("n > 3 and flag").unwrap(), &schema()).unwrap();
        assert!(!c.test(&row()));
    }

    #[test]
    fn case_expressions_pick_the_first_true_arm() {
        // n = 7, value = 221.45, action = 'view', flag NULL.
        assert_eq!(ev("CASE WHEN n > 10 THEN 'big' WHEN n > 5 THEN 'mid' ELSE 'small' END"), Value::from("mid"));
        assert_eq!(ev("case when n > 100 then 'big' else 'small' end"), Value::from("small"));
        assert_eq!(ev("CASE WHEN n > 100 THEN 'big' END"), Value::Null, "no ELSE: NULL");
        // A NULL condition is not true: the next arm decides, as in Spark.
        assert_eq!(ev("CASE WHEN flag THEN 1 WHEN n = 7 THEN 2 END"), Value::Int(2));
        assert_eq!(ev("CASE action WHEN 'click' THEN 1 WHEN 'view' THEN 2 ELSE 0 END"), Value::Int(2));
        assert_eq!(ev("CASE n WHEN 1 THEN 'one' END"), Value::Null);
        // Numeric arms widen to double; CASE nests, and composes with operators.
        assert_eq!(ev("CASE WHEN n > 5 THEN 1 ELSE value END"), Value::Float(1.0));
        assert_eq!(ev("10 * CASE WHEN n > 5 THEN CASE WHEN n > 6 THEN 2 ELSE 1 END ELSE 0 END"), Value::Int(20));
        let e = err("CASE WHEN n > 5 THEN action ELSE n END");
        assert!(e.message.contains("`CASE` mixes string and int"), "{e}");
        let e = err("CASE WHEN n THEN 1 END");
        assert!(e.message.contains("CASE needs a boolean, found int"), "{e}");
        let e = err("CASE WHEN n > 5 'big' END");
        assert!(e.message.contains("expected THEN in CASE"), "{e}");
        let e = err("CASE WHEN n > 5 THEN 'big'");
        assert!(
            e.message.contains("expected END to close CASE")
                && e.fix.as_deref().is_some_and(|f| f.contains("CASE WHEN cond")),
            "{e}"
        );
        let e = err("CASE END");
        assert!(e.message.contains("expected WHEN in CASE"), "{e}");
    }

    #[test]
    fn clear_errors() {
        let e = err("usrId = 'user3'");
        assert_eq!(e.message, "unknown column `usrId`");
        assert!(e.fix.unwrap().starts_with("did you mean `userId`?"));
        let e = err("action + 1");
        assert!(e.message.contains("needs numbers, found string"), "{e}");
        assert!(e.fix.unwrap().contains("||"));
        let e = err("ts - ts");
        assert!(e.fix.unwrap().contains("unix_millis(a) - unix_millis(b)"));
        let e = err("action = 3");
        assert_eq!(e.message, "cannot compare string with int");
        assert_eq!(e.pos, 7);
        let e = err("sum(value) > 3");
        assert!(e.message.contains("aggregate `sum` is not allowed here"));
        let e = err("sqr(n)");
        assert!(e.fix.unwrap().contains("`sqrt`"));
        let e = err("is_prime(value)");
        assert!(e.message.contains("needs an integer"), "{e}");
        let e = err("date_trunc('fortnight', ts)");
        assert!(e.message.contains("unknown unit"));
        let e = err("date_trunc(action, ts)");
        assert!(e.message.contains("text literal"));
        let e = err("n AND flag");
        assert!(e.message.contains("needs a boolean"));
        let e = err("if(flag, action, n)");
        assert!(e.message.contains("mixes string and int"));
        let e = err("ts > 'yesterday'");
        assert!(e.message.contains("not a timestamp"));
        let e = err("sqrt(1, 2)");
        assert!(e.message.contains("takes 1 argument, found 2"), "{e}");
        let e = err("date_format(ts, 'yyyy-ww')");
        assert!(e.message.contains("the pattern 'yyyy-ww': the pattern letter 'w' is not supported"), "{e}");
        assert!(e.fix.unwrap().contains("y (year), M (month)"));
        let e = err("date_format(ts, action)");
        assert!(e.message.contains("the pattern must be a text literal"), "{e}");
        let e = err("date_format(action, 'yyyy')");
        assert!(e.message.contains("needs a timestamp"), "{e}");
        let e = err("ln(action)");
        assert!(e.message.contains("needs a number"), "{e}");
        let e = err("nullif(action, 3)");
        assert!(e.message.contains("cannot compare string with int"), "{e}");
        let e = err("hour(n)");
        assert!(e.message.contains("needs a timestamp"), "{e}");
        let e = err("hours(ts)");
        assert!(e.fix.unwrap().contains("`hour`"));
        let e = err("ts = 5");
        assert!(e.fix.unwrap().contains("timestamp_millis"));
    }
}
