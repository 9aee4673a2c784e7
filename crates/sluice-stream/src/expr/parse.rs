//! The lexer and recursive-descent parser of the SQL-like expression language.

use super::{BinaryOp, Expr, ExprError, UnaryOp};
use sluice_formats::{Kind, Value};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Int(i64),
    Float(f64),
    Str(String),
    Sym(&'static str),
    End,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

const SYMBOLS: [&str; 19] =
    ["<=", ">=", "<>", "!=", "==", "||", "(", ")", ",", "+", "-", "*", "/", "%", "=", "<", ">", "!", "."];

fn lex(text: &str) -> Result<Vec<Token>, ExprError> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        if c.is_ascii_alphabetic() || c == b'_' {
            // Identifiers may contain dots between parts: `window.start`.
            while i < bytes.len() {
                let d = bytes[i];
                let word = d.is_ascii_alphanumeric() || d == b'_';
                let dot = d == b'.' && bytes.get(i + 1).is_some_and(|n| n.is_ascii_alphabetic() || *n == b'_');
                if !(word || dot) {
                    break;
                }
                i += 1;
            }
            out.push(Token { tok: Tok::Ident(text[start..i].to_string()), pos: start });
        } else if c.is_ascii_digit() || (c == b'.' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit()) {
            let mut float = false;
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                float |= bytes[i] == b'.';
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
                let mut j = i + 1;
                if j < bytes.len() && (bytes[j] == b'+' || bytes[j] == b'-') {
                    j += 1;
                }
                if j < bytes.len() && bytes[j].is_ascii_digit() {
                    float = true;
                    i = j;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let s = &text[start..i];
            let tok = if float {
                Tok::Float(s.parse().map_err(|_| ExprError::new(start, format!("`{s}` is not a number")))?)
            } else {
                match s.parse::<i64>() {
                    Ok(v) => Tok::Int(v),
                    Err(_) => {
                        Tok::Float(s.parse().map_err(|_| ExprError::new(start, format!("`{s}` is not a number")))?)
                    }
                }
            };
            out.push(Token { tok, pos: start });
        } else if c == b'\'' || c == b'"' || c == b'`' {
            let quote = c;
            i += 1;
            let mut s = String::new();
            loop {
                if i >= bytes.len() {
                    let what = if quote == b'`' { "quoted name" } else { "string" };
                    return Err(ExprError::new(start, format!("unterminated {what}"))
                        .with_fix(format!("close it with {}", quote as char)));
                }
                if bytes[i] == quote {
                    if i + 1 < bytes.len() && bytes[i + 1] == quote {
                        s.push(quote as char);
                        i += 2;
                        continue;
                    }
                    i += 1;
                    break;
                }
                // Copy a whole UTF-8 character.
                let ch_len = text[i..].chars().next().map_or(1, char::len_utf8);
                s.push_str(&text[i..i + ch_len]);
                i += ch_len;
            }
            let tok = if quote == b'`' { Tok::Quoted(s) } else { Tok::Str(s) };
            out.push(Token { tok, pos: start });
        } else {
            let Some(sym) = SYMBOLS.iter().find(|s| text[i..].starts_with(**s)) else {
                let ch = text[i..].chars().next().unwrap_or('?');
                return Err(ExprError::new(i, format!("unexpected character `{ch}`")));
            };
            i += sym.len();
            out.push(Token { tok: Tok::Sym(sym), pos: start });
        }
    }
    out.push(Token { tok: Tok::End, pos: text.len() });
    Ok(out)
}

struct Parser {
    toks: Vec<Token>,
    at: usize,
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Ident(s) => format!("`{s}`"),
        Tok::Quoted(s) => format!("`{s}`"),
        Tok::Int(v) => format!("`{v}`"),
        Tok::Float(v) => format!("`{v}`"),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Sym(s) => format!("`{s}`"),
        Tok::End => "the end".to_string(),
    }
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.toks[self.at.min(self.toks.len() - 1)]
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.at < self.toks.len() - 1 {
            self.at += 1;
        }
        t
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(&self.peek().tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
    }

    fn is_kw_at(&self, offset: usize, kw: &str) -> bool {
        matches!(self.toks.get(self.at + offset).map(|t| &t.tok), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(&self.peek().tok, Tok::Sym(s) if *s == sym)
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if self.is_sym(sym) {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect_sym(&mut self, sym: &str, context: &str) -> Result<(), ExprError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            let t = self.peek();
            Err(ExprError::new(t.pos, format!("expected `{sym}` {context}, found {}", describe(&t.tok))))
        }
    }

    fn or(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.and()?;
        while self.is_kw("or") {
            let pos = self.bump().pos;
            let right = self.and()?;
            left = Expr::Binary { op: BinaryOp::Or, left: Box::new(left), right: Box::new(right), pos };
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.not()?;
        while self.is_kw("and") {
            let pos = self.bump().pos;
            let right = self.not()?;
            left = Expr::Binary { op: BinaryOp::And, left: Box::new(left), right: Box::new(right), pos };
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ExprError> {
        if self.is_kw("not") || self.is_sym("!") {
            let pos = self.bump().pos;
            let expr = self.not()?;
            return Ok(Expr::Unary { op: UnaryOp::Not, expr: Box::new(expr), pos });
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        let left = self.concat()?;
        let t = self.peek().clone();
        let op = match &t.tok {
            Tok::Sym("=") | Tok::Sym("==") => Some(BinaryOp::Eq),
            Tok::Sym("!=") | Tok::Sym("<>") => Some(BinaryOp::Ne),
            Tok::Sym("<") => Some(BinaryOp::Lt),
            Tok::Sym("<=") => Some(BinaryOp::Le),
            Tok::Sym(">") => Some(BinaryOp::Gt),
            Tok::Sym(">=") => Some(BinaryOp::Ge),
            _ => None,
        };
        if let Some(op) = op {
            self.bump();
            let right = self.concat()?;
            return Ok(Expr::Binary { op, left: Box::new(left), right: Box::new(right), pos: t.pos });
        }
        if self.is_kw("is") {
            let pos = self.bump().pos;
            let negated = self.eat_kw("not");
            if !self.eat_kw("null") {
                let t = self.peek();
                return Err(ExprError::new(t.pos, format!("expected NULL after IS, found {}", describe(&t.tok)))
                    .with_fix("write `x IS NULL` or `x IS NOT NULL`; compare values with `=`"));
            }
            return Ok(Expr::IsNull { expr: Box::new(left), negated, pos });
        }
        let negated = self.is_kw("not") && (self.is_kw_at(1, "in") || self.is_kw_at(1, "between"));
        if negated {
            self.bump();
        }
        if self.is_kw("in") {
            let pos = self.bump().pos;
            self.expect_sym("(", "after IN")?;
            let mut list = vec![self.or()?];
            while self.eat_sym(",") {
                list.push(self.or()?);
            }
            self.expect_sym(")", "to close the IN list")?;
            return Ok(Expr::InList { expr: Box::new(left), list, negated, pos });
        }
        if self.is_kw("between") {
            let pos = self.bump().pos;
            let low = self.concat()?;
            if !self.eat_kw("and") {
                let t = self.peek();
                return Err(ExprError::new(t.pos, format!("expected AND in BETWEEN, found {}", describe(&t.tok))));
            }
            let high = self.concat()?;
            let ge = Expr::Binary { op: BinaryOp::Ge, left: Box::new(left.clone()), right: Box::new(low), pos };
            let le = Expr::Binary { op: BinaryOp::Le, left: Box::new(left), right: Box::new(high), pos };
            let both = Expr::Binary { op: BinaryOp::And, left: Box::new(ge), right: Box::new(le), pos };
            return Ok(if negated { Expr::Unary { op: UnaryOp::Not, expr: Box::new(both), pos } } else { both });
        }
        Ok(left)
    }

    fn concat(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.additive()?;
        while self.is_sym("||") {
            let pos = self.bump().pos;
            let right = self.additive()?;
            left = Expr::Binary { op: BinaryOp::Concat, left: Box::new(left), right: Box::new(right), pos };
        }
        Ok(left)
    }

    fn additive(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.multiplicative()?;
        loop {
            let op = if self.is_sym("+") {
                BinaryOp::Add
            } else if self.is_sym("-") {
                BinaryOp::Sub
            } else {
                return Ok(left);
            };
            let pos = self.bump().pos;
            let right = self.multiplicative()?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right), pos };
        }
    }

    fn multiplicative(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.unary()?;
        loop {
            let op = if self.is_sym("*") {
                BinaryOp::Mul
            } else if self.is_sym("/") {
                BinaryOp::Div
            } else if self.is_sym("%") {
                BinaryOp::Rem
            } else {
                return Ok(left);
            };
            let pos = self.bump().pos;
            let right = self.unary()?;
            left = Expr::Binary { op, left: Box::new(left), right: Box::new(right), pos };
        }
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        if self.is_sym("-") {
            let pos = self.bump().pos;
            // Fold a negative literal so that i64::MIN is expressible.
            match self.peek().tok.clone() {
                Tok::Int(v) => {
                    self.bump();
                    return Ok(Expr::Literal { value: Value::Int(-v), pos });
                }
                Tok::Float(v) => {
                    self.bump();
                    return Ok(Expr::Literal { value: Value::Float(-v), pos });
                }
                _ => {}
            }
            let expr = self.unary()?;
            return Ok(Expr::Unary { op: UnaryOp::Neg, expr: Box::new(expr), pos });
        }
        if self.eat_sym("+") {
            return self.unary();
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let t = self.bump();
        let pos = t.pos;
        match t.tok {
            Tok::Int(v) => Ok(Expr::Literal { value: Value::Int(v), pos }),
            Tok::Float(v) => Ok(Expr::Literal { value: Value::Float(v), pos }),
            Tok::Str(s) => Ok(Expr::Literal { value: Value::from(s), pos }),
            Tok::Quoted(name) => Ok(Expr::Column { name, pos }),
            Tok::Sym("(") => {
                let e = self.or()?;
                self.expect_sym(")", "to close `(`")?;
                Ok(e)
            }
            Tok::Ident(word) => {
                let lower = word.to_ascii_lowercase();
                match lower.as_str() {
                    "null" => return Ok(Expr::Literal { value: Value::Null, pos }),
                    "true" => return Ok(Expr::Literal { value: Value::Bool(true), pos }),
                    "false" => return Ok(Expr::Literal { value: Value::Bool(false), pos }),
                    "cast" if self.is_sym("(") => return self.cast(pos),
                    "case" => return self.case(pos),
                    "and" | "or" | "as" | "is" | "in" | "between" => {
                        return Err(ExprError::new(pos, format!("expected a value, found the keyword `{word}`")));
                    }
                    _ => {}
                }
                if self.eat_sym("(") {
                    return self.call(lower, pos);
                }
                Ok(Expr::Column { name: word, pos })
            }
            other => Err(ExprError::new(pos, format!("expected a value, found {}", describe(&other)))),
        }
    }

    fn cast(&mut self, pos: usize) -> Result<Expr, ExprError> {
        self.bump(); // (
        let expr = self.or()?;
        if !self.eat_kw("as") {
            let t = self.peek();
            return Err(ExprError::new(t.pos, format!("expected AS in CAST, found {}", describe(&t.tok)))
                .with_fix("write CAST(x AS double)"));
        }
        let t = self.bump();
        let Tok::Ident(name) = &t.tok else {
            return Err(ExprError::new(t.pos, format!("expected a type name, found {}", describe(&t.tok))));
        };
        let to = kind_by_name(name).ok_or_else(|| {
            ExprError::new(t.pos, format!("unknown type `{name}`"))
                .with_fix("use one of string, int, bigint, double, float, boolean, timestamp, binary")
        })?;
        self.expect_sym(")", "to close CAST")?;
        Ok(Expr::Cast { expr: Box::new(expr), to, pos })
    }

    /// `CASE [x] WHEN a THEN r [WHEN ...] [ELSE e] END`, as nested three-argument `case` calls
    /// (compiled as `if`): with `x`, each arm's condition is `x = a`; without ELSE, NULL.
    fn case(&mut self, pos: usize) -> Result<Expr, ExprError> {
        let syntax = "write CASE WHEN cond THEN value [WHEN ...] [ELSE value] END, or CASE x WHEN a THEN value ... END";
        let operand = if self.is_kw("when") { None } else { Some(self.or()?) };
        let mut arms = Vec::new();
        while self.eat_kw("when") {
            let when = self.or()?;
            if !self.eat_kw("then") {
                let t = self.peek();
                return Err(ExprError::new(t.pos, format!("expected THEN in CASE, found {}", describe(&t.tok)))
                    .with_fix(syntax));
            }
            let then = self.or()?;
            let cond = match &operand {
                Some(x) => {
                    let at = when.pos();
                    Expr::Binary { op: BinaryOp::Eq, left: Box::new(x.clone()), right: Box::new(when), pos: at }
                }
                None => when,
            };
            arms.push((cond, then));
        }
        if arms.is_empty() {
            let t = self.peek();
            return Err(
                ExprError::new(t.pos, format!("expected WHEN in CASE, found {}", describe(&t.tok))).with_fix(syntax)
            );
        }
        let mut rest = if self.eat_kw("else") { self.or()? } else { Expr::Literal { value: Value::Null, pos } };
        if !self.eat_kw("end") {
            let t = self.peek();
            return Err(ExprError::new(t.pos, format!("expected END to close CASE, found {}", describe(&t.tok)))
                .with_fix(syntax));
        }
        for (cond, then) in arms.into_iter().rev() {
            rest = Expr::Call { name: "case".into(), args: vec![cond, then, rest], star: false, distinct: false, pos };
        }
        Ok(rest)
    }

    fn call(&mut self, name: String, pos: usize) -> Result<Expr, ExprError> {
        let mut args = Vec::new();
        let mut star = false;
        let mut distinct = false;
        if self.eat_sym(")") {
            return Ok(Expr::Call { name, args, star, distinct, pos });
        }
        if self.is_sym("*") && matches!(self.toks.get(self.at + 1).map(|t| &t.tok), Some(Tok::Sym(")"))) {
            self.bump();
            self.bump();
            star = true;
            return Ok(Expr::Call { name, args, star, distinct, pos });
        }
        distinct = self.eat_kw("distinct");
        args.push(self.or()?);
        while self.eat_sym(",") {
            args.push(self.or()?);
        }
        self.expect_sym(")", &format!("to close the call of `{name}`"))?;
        Ok(Expr::Call { name, args, star, distinct, pos })
    }
}

/// A column type by its SQL or Spark name (`string`, `bigint`, `double`, ...).
pub fn kind_by_name(name: &str) -> Option<Kind> {
    Some(match name.to_ascii_lowercase().as_str() {
        "string" | "str" | "text" | "varchar" => Kind::Str,
        "int" | "integer" | "bigint" | "long" | "smallint" | "tinyint" | "int32" | "int64" => Kind::Int,
        "double" | "float" | "real" | "float64" | "float32" | "decimal" => Kind::Float,
        "bool" | "boolean" => Kind::Bool,
        "timestamp" | "datetime" => Kind::Timestamp,
        "binary" | "bytes" => Kind::Bytes,
        _ => return None,
    })
}

/// Parses one expression.
pub fn parse(text: &str) -> Result<Expr, ExprError> {
    let mut p = Parser { toks: lex(text)?, at: 0 };
    if matches!(p.peek().tok, Tok::End) {
        return Err(ExprError::new(0, "the expression is empty"));
    }
    let e = p.or()?;
    let t = p.peek();
    if !matches!(t.tok, Tok::End) {
        let fix = if matches!(&t.tok, Tok::Ident(s) if s.eq_ignore_ascii_case("as")) {
            "an alias (`AS name`) is only allowed where a named column is expected (columns, select, aggregates, group_by)"
        } else {
            "check for a missing operator or comma"
        };
        return Err(
            ExprError::new(t.pos, format!("unexpected {} after the expression", describe(&t.tok))).with_fix(fix)
        );
    }
    Ok(e)
}

/// Parses `expr [AS name]`.
pub fn parse_named(text: &str) -> Result<(Expr, Option<String>), ExprError> {
    let mut p = Parser { toks: lex(text)?, at: 0 };
    if matches!(p.peek().tok, Tok::End) {
        return Err(ExprError::new(0, "the expression is empty"));
    }
    let e = p.or()?;
    let mut alias = None;
    if p.eat_kw("as") {
        let t = p.bump();
        match t.tok {
            Tok::Ident(s) | Tok::Quoted(s) | Tok::Str(s) => alias = Some(s),
            other => {
                return Err(ExprError::new(t.pos, format!("expected a name after AS, found {}", describe(&other))));
            }
        }
    }
    let t = p.peek();
    if !matches!(t.tok, Tok::End) {
        return Err(ExprError::new(t.pos, format!("unexpected {} after the expression", describe(&t.tok)))
            .with_fix("name a column with `expr AS name`; separate columns into list items"));
    }
    Ok((e, alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Expr) -> String {
        match e {
            Expr::Column { name, .. } => name.clone(),
            Expr::Literal { value, .. } => format!("{value:?}"),
            Expr::Unary { op, expr, .. } => format!("({op:?} {})", show(expr)),
            Expr::Binary { op, left, right, .. } => format!("({} {op:?} {})", show(left), show(right)),
            Expr::IsNull { expr, negated, .. } => {
                format!("({} is {}null)", show(expr), if *negated { "not " } else { "" })
            }
            Expr::InList { expr, list, negated, .. } => {
                format!("({} {}in {})", show(expr), if *negated { "not " } else { "" }, list.len())
            }
            Expr::Call { name, args, star, distinct, .. } => {
                let a: Vec<String> = args.iter().map(show).collect();
                format!(
                    "{name}({}{}{})",
                    if *distinct { "distinct " } else { "" },
                    if *star { "*" } else { "" },
                    a.join(",")
                )
            }
            Expr::Cast { expr, to, .. } => format!("cast({} as {to})", show(expr)),
        }
    }

    #[test]
    fn precedence() {
        let e = parse("a + b * 2 > 3 AND NOT c OR d = 'x'").unwrap();
        assert_eq!(show(&e), "((((a Add (b Mul Int(2))) Gt Int(3)) And (Not c)) Or (d Eq Str(\"x\")))");
        assert_eq!(show(&parse("-x - -2").unwrap()), "((Neg x) Sub Int(-2))");
        assert_eq!(show(&parse("a || b || 'c'").unwrap()), "((a Concat b) Concat Str(\"c\"))");
        assert_eq!(show(&parse("count(*)").unwrap()), "count(*)");
        assert_eq!(show(&parse("COUNT(DISTINCT customer_id)").unwrap()), "count(distinct customer_id)");
        assert_eq!(show(&parse("x is not null").unwrap()), "(x is not null)");
        assert_eq!(show(&parse("x not in (1, 2)").unwrap()), "(x not in 2)");
        assert_eq!(show(&parse("window.start").unwrap()), "window.start");
        assert_eq!(show(&parse("`odd name`").unwrap()), "odd name");
        assert_eq!(show(&parse("cast(v as double)").unwrap()), "cast(v as float)");
        assert_eq!(show(&parse("'it''s'").unwrap()), "Str(\"it's\")");
        assert_eq!(show(&parse("1.5e3").unwrap()), "Float(1500.0)");
        assert_eq!(show(&parse("x between 1 and 2").unwrap()), "((x Ge Int(1)) And (x Le Int(2)))");
    }

    #[test]
    fn named() {
        let (e, alias) = parse_named("sum(value) AS totalValue").unwrap();
        assert_eq!(show(&e), "sum(value)");
        assert_eq!(alias.as_deref(), Some("totalValue"));
        assert_eq!(parse_named("userId").unwrap().1, None);
    }

    #[test]
    fn errors_carry_positions() {
        let e = parse("a + ").unwrap_err();
        assert_eq!(e.pos, 4);
        assert!(e.message.contains("expected a value"), "{e}");
        let e = parse("a b").unwrap_err();
        assert_eq!(e.pos, 2);
        let e = parse("'abc").unwrap_err();
        assert!(e.message.contains("unterminated string"));
        let e = parse("f(a,").unwrap_err();
        assert_eq!(e.pos, 4);
        let e = parse("x # 2").unwrap_err();
        assert_eq!((e.pos, e.message.as_str()), (2, "unexpected character `#`"));
        assert!(parse("").is_err());
        assert!(parse("x AS y").unwrap_err().fix.unwrap().contains("alias"));
        assert!(parse("cast(x as whatever)").unwrap_err().message.contains("unknown type"));
        assert!(parse("(a").unwrap_err().message.contains("expected `)`"));
    }
}
