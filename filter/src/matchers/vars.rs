//! P1 `vars`: the subset of APISIX's lua-resty-expr that routes may use, compiled once (regexes included: [`super::rx`], one DFA pass per test).
//!
//! Shape, as in lua-resty-expr v1: the top level is a list of expressions that must all hold, or a logical
//! form `["AND" | "OR" | "!AND" | "!OR", expr, expr, ...]`. An expression is `[var, op, value]`,
//! `[var, "!", op, value]` (negated), `[var, value]` (short for `==`), or a nested logical form. Operators:
//! `==`, `~=`, `>`, `>=`, `<`, `<=`, `~~` (regex search), `~*` (case-insensitive regex search), `in`,
//! `has`. Comparisons follow Lua: comparing with a number converts the variable with `tonumber` (a
//! non-number is never `==` and always `~=`); an absent variable is `nil` (`== null` tests absence).
//!
//! Variables: `http_<name>` (request header, `_` read as `-`, first line as nginx does), `arg_<name>` (query
//! argument, first occurrence, not URL-decoded, as nginx's `$arg_`), `cookie_<name>`, `uri` (the path the
//! API's routes match, without query), `request_uri` (path with query), `host` (lowercase, without port),
//! `method` (alias `request_method`), `remote_addr` (client IP, without port), `query_string` (alias
//! `args`). Decided deviation: `has` is true when any line of a repeated header (or any occurrence of a
//! repeated argument) equals the value; lua-resty-expr's `has` needs a Lua table, which nginx variables
//! never are.

use super::rx::Regex;
use serde_json::Value;

/// A variable an expression reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Var {
    /// `http_x_env` → header `x-env`.
    Header(Box<str>),
    /// `arg_name`.
    Arg(Box<str>),
    /// `cookie_name`.
    Cookie(Box<str>),
    /// `uri`.
    Uri,
    /// `request_uri`.
    RequestUri,
    /// `host`.
    Host,
    /// `method`, `request_method`.
    Method,
    /// `remote_addr`.
    RemoteAddr,
    /// `query_string`, `args`.
    QueryString,
}

impl Var {
    /// Parses a variable name.
    pub fn parse(name: &str) -> Result<Var, String> {
        let non_empty = |rest: &str, what: &str| -> Result<Box<str>, String> {
            if rest.is_empty() {
                Err(format!("`{name}` names no {what}"))
            } else {
                Ok(rest.into())
            }
        };
        if let Some(h) = name.strip_prefix("http_") {
            return Ok(Var::Header(non_empty(
                &h.to_ascii_lowercase().replace('_', "-"),
                "header",
            )?));
        }
        if let Some(a) = name.strip_prefix("arg_") {
            return Ok(Var::Arg(non_empty(a, "query argument")?));
        }
        if let Some(c) = name.strip_prefix("cookie_") {
            return Ok(Var::Cookie(non_empty(c, "cookie")?));
        }
        Ok(match name {
            "uri" => Var::Uri,
            "request_uri" => Var::RequestUri,
            "host" => Var::Host,
            "method" | "request_method" => Var::Method,
            "remote_addr" => Var::RemoteAddr,
            "query_string" | "args" => Var::QueryString,
            _ => {
                return Err(format!(
                    "unknown variable `{name}` (supported: http_<header>, arg_<name>, cookie_<name>, uri, \
                     request_uri, host, method, remote_addr, query_string)"
                ))
            }
        })
    }
}

/// What an expression reads variables from (the request).
pub trait VarSource {
    /// The variable's value (the first one, for headers and arguments), `None` when absent.
    fn first(&self, var: &Var) -> Option<&str>;
    /// True when `f` holds for any of the variable's values.
    fn any(&self, var: &Var, f: &mut dyn FnMut(&str) -> bool) -> bool;
}

#[derive(Debug, Clone)]
enum Operand {
    Str(Box<str>),
    Num(f64),
    Null,
}

#[derive(Debug, Clone)]
enum Op {
    Eq(Operand),
    Ne(Operand),
    Gt(f64),
    Ge(f64),
    Lt(f64),
    Le(f64),
    Regex(Regex),
    In(Box<[Box<str>]>),
    Has(Box<str>),
}

#[derive(Debug, Clone)]
enum Node {
    Cmp {
        var: Var,
        op: Op,
        negate: bool,
    },
    Logic {
        or: bool,
        negate: bool,
        items: Vec<Node>,
    },
}

/// A compiled `vars` expression.
#[derive(Debug, Clone)]
pub struct VarsExpr {
    root: Node,
    source: Value,
}

/// A problem at a sub-path of the `vars` value (`[0][1]`).
pub type VarsError = (String, String);

/// Most capture groups in a `vars` regex: matching only asks whether it matches (the DFA ignores groups),
/// and a pattern with more is a mistake (6,000 groups once made one 2 KB header trap the VM, issue 14).
pub const MAX_REGEX_GROUPS: usize = 32;

impl VarsExpr {
    /// Compiles the JSON `vars` value, collecting every problem with its sub-path.
    pub fn compile(value: &Value) -> Result<VarsExpr, Vec<VarsError>> {
        let mut errors = Vec::new();
        let root = match value {
            Value::Array(items) if items.is_empty() => Some(Node::Logic {
                or: false,
                negate: false,
                items: Vec::new(),
            }),
            Value::Array(items) => match items.first() {
                Some(Value::Array(_)) => compile_list(items, "", &mut errors),
                Some(Value::String(s)) if logic_op(s).is_some() => compile_rule(value, "", &mut errors),
                _ => {
                    errors.push((
                        String::new(),
                        "wrap expressions in a list: [[\"http_x\", \"==\", \"v\"]] or [\"OR\", [...], [...]]"
                            .into(),
                    ));
                    None
                }
            },
            _ => {
                errors.push((String::new(), "`vars` must be a list of expressions".into()));
                None
            }
        };
        match root {
            Some(root) if errors.is_empty() => Ok(VarsExpr {
                root,
                source: value.clone(),
            }),
            _ => Err(errors),
        }
    }

    /// Evaluates against a request.
    pub fn eval(&self, src: &dyn VarSource) -> bool {
        eval(&self.root, src)
    }

    /// The expression as written (for ids, explain and duplicate detection).
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// True when some expression reads `remote_addr`.
    pub fn reads_remote_addr(&self) -> bool {
        fn walk(n: &Node) -> bool {
            match n {
                Node::Cmp { var, .. } => *var == Var::RemoteAddr,
                Node::Logic { items, .. } => items.iter().any(walk),
            }
        }
        walk(&self.root)
    }
}

fn logic_op(s: &str) -> Option<(bool, bool)> {
    match s.to_ascii_uppercase().as_str() {
        "AND" => Some((false, false)),
        "OR" => Some((true, false)),
        "!AND" => Some((false, true)),
        "!OR" => Some((true, true)),
        _ => None,
    }
}

fn compile_list(items: &[Value], path: &str, errors: &mut Vec<VarsError>) -> Option<Node> {
    let mut nodes = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        if let Some(n) = compile_rule(item, &format!("{path}[{i}]"), errors) {
            nodes.push(n);
        }
    }
    Some(Node::Logic {
        or: false,
        negate: false,
        items: nodes,
    })
}

fn compile_rule(value: &Value, path: &str, errors: &mut Vec<VarsError>) -> Option<Node> {
    let Value::Array(items) = value else {
        errors.push((
            path.into(),
            "an expression is a list: [\"var\", \"op\", value]".into(),
        ));
        return None;
    };
    match items.first() {
        None => {
            errors.push((path.into(), "empty expression".into()));
            None
        }
        Some(Value::Array(_)) => compile_list(items, path, errors),
        Some(Value::String(s)) => match logic_op(s) {
            Some((or, negate)) => {
                let operands = items.get(1..).unwrap_or_default();
                if operands.len() < 2 {
                    errors.push((
                        path.into(),
                        format!("`{s}` needs at least two expressions (lua-resty-expr: rule too short)"),
                    ));
                    return None;
                }
                let mut nodes = Vec::new();
                for (i, item) in operands.iter().enumerate() {
                    if let Some(n) = compile_rule(item, &format!("{path}[{}]", i + 1), errors) {
                        nodes.push(n);
                    }
                }
                Some(Node::Logic {
                    or,
                    negate,
                    items: nodes,
                })
            }
            None => compile_cmp(items, path, errors),
        },
        Some(_) => {
            errors.push((
                path.into(),
                "the first element names a variable or `AND`/`OR`".into(),
            ));
            None
        }
    }
}

fn compile_cmp(items: &[Value], path: &str, errors: &mut Vec<VarsError>) -> Option<Node> {
    let mut err = |sub: String, msg: String| {
        errors.push((format!("{path}{sub}"), msg));
        None
    };
    let (var, negate, op, val, op_at, val_at) = match items {
        [var, val] => (var, false, None, val, 1, 1),
        [var, op, val] => (var, false, Some(op), val, 1, 2),
        [var, bang, op, val] => {
            if bang.as_str() != Some("!") {
                return err(
                    "[1]".into(),
                    "a 4-element expression is [var, \"!\", op, value]".into(),
                );
            }
            (var, true, Some(op), val, 2, 3)
        }
        _ => {
            return err(
                String::new(),
                "an expression has 2 to 4 elements: [var, op, value] or [var, \"!\", op, value]".into(),
            )
        }
    };
    let var = match Var::parse(var.as_str().unwrap_or_default()) {
        Ok(v) => v,
        Err(e) => return err("[0]".into(), e),
    };
    let op_name = match op {
        None => "==".to_string(),
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        Some(_) => return err(format!("[{op_at}]"), "the operator is a string".into()),
    };
    let vpath = format!("[{val_at}]");
    let number = |v: &Value| -> Option<f64> {
        match v {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => lua_tonumber(s),
            _ => None,
        }
    };
    let operand = |v: &Value| -> Result<Operand, String> {
        match v {
            Value::String(s) => Ok(Operand::Str(s.as_str().into())),
            Value::Number(n) => n
                .as_f64()
                .map(Operand::Num)
                .ok_or_else(|| "number out of range".to_string()),
            Value::Null => Ok(Operand::Null),
            _ => Err("compare with a string, a number or null".into()),
        }
    };
    let op = match op_name.as_str() {
        "==" => operand(val).map(Op::Eq),
        "~=" => operand(val).map(Op::Ne),
        ">" | ">=" | "<" | "<=" => match number(val) {
            Some(n) => Ok(match op_name.as_str() {
                ">" => Op::Gt(n),
                ">=" => Op::Ge(n),
                "<" => Op::Lt(n),
                _ => Op::Le(n),
            }),
            None => Err(format!("`{op_name}` compares numbers; the value is not a number")),
        },
        "~~" | "~*" => match val.as_str() {
            Some(re) => Regex::with_case_insensitive(re, op_name == "~*")
                .map_err(|e| format!("invalid regex: {e}"))
                .and_then(|re| {
                    // captures_len counts the implicit whole-match group.
                    let groups = re.captures_len().saturating_sub(1);
                    if groups > MAX_REGEX_GROUPS {
                        Err(format!(
                            "the regex has {groups} capture groups; at most {MAX_REGEX_GROUPS} are allowed \
                             (use `(?:...)` for grouping)"
                        ))
                    } else {
                        Ok(Op::Regex(re))
                    }
                }),
            None => Err("a regex is a string".into()),
        },
        "in" => match val {
            Value::Array(vs) => {
                let mut out = Vec::with_capacity(vs.len());
                for v in vs {
                    match v {
                        Value::String(s) => out.push(s.as_str().into()),
                        _ => {
                            return err(
                                vpath,
                                "`in` compares strings (a variable is never equal to a number in Lua); \
                                 quote the values"
                                    .into(),
                            )
                        }
                    }
                }
                Ok(Op::In(out.into()))
            }
            _ => Err("`in` takes a list of strings".into()),
        },
        "has" => match val.as_str() {
            Some(s) => Ok(Op::Has(s.into())),
            None => Err("`has` takes a string".into()),
        },
        other => {
            return err(
                format!("[{op_at}]"),
                format!("unknown operator `{other}` (==, ~=, >, >=, <, <=, ~~, ~*, in, has)"),
            )
        }
    };
    match op {
        Ok(op) => Some(Node::Cmp { var, op, negate }),
        Err(e) => err(vpath, e),
    }
}

/// Lua's `tonumber` on a string: surrounding whitespace allowed, decimal with exponent, or hex `0x..`.
pub fn lua_tonumber(s: &str) -> Option<f64> {
    let t = s.trim_matches(|c: char| c.is_ascii_whitespace());
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if body.is_empty() {
        return None;
    }
    let v = if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()? as f64
    } else if body
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_digit() || b == b'.')
    {
        body.parse::<f64>().ok()?
    } else {
        return None;
    };
    Some(if neg { -v } else { v })
}

fn eval(node: &Node, src: &dyn VarSource) -> bool {
    match node {
        Node::Cmp { var, op, negate } => compare(var, op, src) != *negate,
        Node::Logic { or, negate, items } => {
            let r = if *or {
                items.iter().any(|n| eval(n, src))
            } else {
                items.iter().all(|n| eval(n, src))
            };
            r != *negate
        }
    }
}

fn compare(var: &Var, op: &Op, src: &dyn VarSource) -> bool {
    let num = || src.first(var).and_then(lua_tonumber);
    match op {
        Op::Eq(Operand::Str(s)) => src.first(var) == Some(&**s),
        Op::Eq(Operand::Num(n)) => num() == Some(*n),
        Op::Eq(Operand::Null) => src.first(var).is_none(),
        Op::Ne(Operand::Str(s)) => src.first(var) != Some(&**s),
        Op::Ne(Operand::Num(n)) => num().is_none_or(|x| x != *n),
        Op::Ne(Operand::Null) => src.first(var).is_some(),
        Op::Gt(n) => num().is_some_and(|x| x > *n),
        Op::Ge(n) => num().is_some_and(|x| x >= *n),
        Op::Lt(n) => num().is_some_and(|x| x < *n),
        Op::Le(n) => num().is_some_and(|x| x <= *n),
        Op::Regex(re) => src.first(var).is_some_and(|v| re.is_match(v)),
        Op::In(list) => src.first(var).is_some_and(|v| list.iter().any(|s| **s == *v)),
        Op::Has(s) => src.any(var, &mut |v| v == &**s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Src(Vec<(&'static str, &'static str)>);

    impl Src {
        fn key(var: &Var) -> String {
            match var {
                Var::Header(h) => format!("http:{h}"),
                Var::Arg(a) => format!("arg:{a}"),
                Var::Cookie(c) => format!("cookie:{c}"),
                other => format!("{other:?}"),
            }
        }
    }

    impl VarSource for Src {
        fn first(&self, var: &Var) -> Option<&str> {
            let k = Self::key(var);
            self.0.iter().find(|(n, _)| *n == k).map(|(_, v)| *v)
        }
        fn any(&self, var: &Var, f: &mut dyn FnMut(&str) -> bool) -> bool {
            let k = Self::key(var);
            self.0.iter().filter(|(n, _)| *n == k).any(|(_, v)| f(v))
        }
    }

    fn eval_on(expr: Value, src: &Src) -> bool {
        VarsExpr::compile(&expr).expect("compiles").eval(src)
    }

    #[test]
    fn p1_vars_operators_follow_lua_resty_expr() {
        let src = Src(vec![
            ("http:x-env", "prod"),
            ("arg:weight", "20"),
            ("arg:name", "json"),
            ("cookie:sid", "abc"),
            ("Method", "GET"),
            ("http:x-multi", "a"),
            ("http:x-multi", "b"),
        ]);
        let cases = [
            (json!([["http_x_env", "==", "prod"]]), true),
            (json!([["http_x_env", "prod"]]), true),
            (json!([["http_x_env", "~=", "prod"]]), false),
            (json!([["http_absent", "~=", "prod"]]), true),
            (json!([["http_absent", "==", null]]), true),
            (json!([["http_x_env", "~=", null]]), true),
            (json!([["arg_weight", ">", 10]]), true),
            (json!([["arg_weight", ">=", "20"]]), true),
            (json!([["arg_weight", "<", 10]]), false),
            (json!([["arg_weight", "<=", 20.0]]), true),
            (json!([["arg_weight", "==", 20]]), true),
            (json!([["arg_name", "==", 20]]), false),
            (json!([["arg_name", "~=", 20]]), true),
            (json!([["arg_name", ">", 1]]), false),
            (json!([["arg_weight", "!", ">", 15]]), false),
            (json!([["http_x_env", "~~", "^pr"]]), true),
            (json!([["http_x_env", "~~", "^PR"]]), false),
            (json!([["http_x_env", "~*", "^PR"]]), true),
            (json!([["http_absent", "~~", ".*"]]), false),
            (json!([["method", "in", ["GET", "POST"]]]), true),
            (json!([["method", "IN", ["PUT"]]]), false),
            (json!([["http_x_multi", "has", "b"]]), true),
            (json!([["http_x_multi", "==", "b"]]), false),
            (json!([["cookie_sid", "==", "abc"]]), true),
            (
                json!(["OR", ["arg_name", "==", "xml"], ["http_x_env", "==", "prod"]]),
                true,
            ),
            (
                json!(["AND", ["arg_name", "==", "xml"], ["http_x_env", "==", "prod"]]),
                false,
            ),
            (
                json!(["!AND", ["arg_name", "==", "xml"], ["http_x_env", "==", "prod"]]),
                true,
            ),
            (
                json!(["!OR", ["arg_name", "==", "xml"], ["http_x_env", "==", "prod"]]),
                false,
            ),
            (
                json!([
                    ["http_x_env", "==", "prod"],
                    ["OR", ["arg_name", "==", "x"], ["arg_weight", ">", 5]]
                ]),
                true,
            ),
            (json!([]), true),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_on(expr.clone(), &src), want, "{expr}");
        }
    }

    #[test]
    fn p1_invalid_vars_are_reported_with_sub_paths() {
        let cases = [
            (json!([["nope_var", "==", "x"]]), "[0][0]"),
            (json!([["http_x", "=~", "x"]]), "[0][1]"),
            (json!([["http_x", "~~", "("]]), "[0][2]"),
            (json!([["http_x", ">", "abc"]]), "[0][2]"),
            (json!([["http_x", "in", [1, 2]]]), "[0][2]"),
            (json!([["http_x", "?", "==", "x"]]), "[0][1]"),
            (json!(["OR", ["http_x", "==", "a"]]), ""),
            (json!("http_x"), ""),
            (json!(["http_x", "==", "a"]), ""),
            (json!([["http_x", "==", "a", "b", "c"]]), "[0]"),
        ];
        for (expr, path) in cases {
            let errors = VarsExpr::compile(&expr).expect_err("invalid");
            assert_eq!(errors[0].0, path, "{expr}: {errors:?}");
        }
    }

    #[test]
    fn lua_tonumber_accepts_what_lua_does() {
        assert_eq!(lua_tonumber(" 10 "), Some(10.0));
        assert_eq!(lua_tonumber("0x1A"), Some(26.0));
        assert_eq!(lua_tonumber("1e3"), Some(1000.0));
        assert_eq!(lua_tonumber("-2.5"), Some(-2.5));
        for no in ["", "abc", "inf", "nan", "1a", "0x"] {
            assert_eq!(lua_tonumber(no), None, "{no}");
        }
    }
}
