//! `nft -j list ruleset` JSON, read by writing each object as the nft
//! command it stands for (one line each) and replaying that script through
//! the text front-end, so that both forms share one meaning. Every line of
//! the script remembers the JSON object it came from: rules, policies and
//! errors point back at the JSON, and the script itself is never shown.
//!
//! Objects that do not bear on verdicts (named counters, quotas, flowtables,
//! ct helpers, …) and objects this reader does not know are listed in the
//! policy's notes; an expression it does not know stays in its rule as an
//! unmodelled condition, so the rule's verdicts become `unknown`.

use crate::diag::InputError;
use serde_json::Value;
use std::fmt::Write;

/// The nft script a JSON document stands for, the byte range of the JSON
/// object behind each of its lines (index 0 is line 1), and notes.
pub struct Script {
    pub text: String,
    pub origins: Vec<(usize, usize)>,
    pub notes: Vec<String>,
}

/// Whether a text is an `nft -j` document.
pub fn detect(text: &str) -> bool {
    let t = text.trim_start();
    t.starts_with('{') && t[..t.len().min(200)].contains("\"nftables\"")
}

/// Translates the document, object by object.
pub fn script(path: &str, text: &str) -> Result<Script, InputError> {
    let bad = |at: usize, message: String| {
        InputError::at(
            path,
            text,
            at,
            1,
            message,
            "expected `nft -j list ruleset` output",
        )
    };
    let key = text
        .find("\"nftables\"")
        .ok_or_else(|| bad(0, "no `nftables` array".into()))?;
    let open = key
        + text[key..]
            .find('[')
            .ok_or_else(|| bad(key, "`nftables` is not an array".into()))?;
    let mut out = Script {
        text: String::new(),
        origins: Vec::new(),
        notes: Vec::new(),
    };
    let mut at = open + 1;
    // Ingress and egress chains whose devices the JSON leaves out (nft 1.0
    // prints none): by chain, the JSON object of the chain and its policy.
    let mut deviceless: Vec<Deviceless> = Vec::new();
    loop {
        at += text[at..]
            .find(|c: char| !c.is_whitespace() && c != ',')
            .ok_or_else(|| bad(text.len(), "the `nftables` array is not closed".into()))?;
        if text[at..].starts_with(']') {
            break;
        }
        let mut stream = serde_json::Deserializer::from_str(&text[at..]).into_iter::<Value>();
        let value = match stream.next() {
            Some(Ok(v)) => v,
            Some(Err(e)) => {
                let off = offset_of(&text[at..], e.line(), e.column());
                return Err(bad(at + off, format!("invalid JSON: {e}")));
            }
            None => return Err(bad(at, "the `nftables` array is not closed".into())),
        };
        let end = at + stream.byte_offset();
        let line = text[..at].matches('\n').count() + 1;
        match object(&value, &mut deviceless) {
            Ok(Some(cmd)) => {
                if let Some(d) = deviceless.last_mut().filter(|d| d.span == (0, 0)) {
                    d.span = (at, end);
                }
                out.text.push_str(&cmd);
                out.text.push('\n');
                out.origins.push((at, end));
            }
            Ok(None) => {}
            Err(what) => out
                .notes
                .push(format!("{path}:{line}: {what} (not evaluated)")),
        }
        at = end;
    }
    // Their drop policy becomes a last rule that may or may not match.
    for d in deviceless.iter().filter(|d| d.policy_drop) {
        let _ = writeln!(
            out.text,
            "add rule {} {} {} json device_unknown drop",
            d.family, d.table, d.chain
        );
        out.origins.push(d.span);
    }
    Ok(out)
}

/// An ingress or egress chain written without its devices.
struct Deviceless {
    family: String,
    table: String,
    chain: String,
    policy_drop: bool,
    span: (usize, usize),
}

/// The byte offset of a 1-based line and column.
fn offset_of(text: &str, line: usize, column: usize) -> usize {
    let start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (start + column.saturating_sub(1)).min(text.len())
}

/// One top-level object as an nft command; `Ok(None)` for the metainfo,
/// `Err` for an object left out (with what it is).
fn object(v: &Value, deviceless: &mut Vec<Deviceless>) -> Result<Option<String>, String> {
    let Some((kind, body)) = v.as_object().and_then(|o| o.iter().next()) else {
        return Err("a JSON value that is not an nftables object".into());
    };
    let s = |k: &str| body.get(k).and_then(Value::as_str).unwrap_or("");
    let family = body.get("family").and_then(Value::as_str).unwrap_or("ip");
    Ok(Some(match kind.as_str() {
        "metainfo" => return Ok(None),
        "table" => format!("add table {family} {}", s("name")),
        "chain" => {
            let mut c = format!("add chain {family} {} {}", s("table"), s("name"));
            if let Some(hook) = body.get("hook").and_then(Value::as_str) {
                let prio = body.get("prio").map_or("0".to_string(), scalar);
                let _ = write!(c, " {{ type {} hook {hook}", s("type"));
                match body.get("dev") {
                    Some(Value::Array(devs)) => {
                        let names: Vec<String> = devs.iter().map(value).collect();
                        let _ = write!(c, " devices = {{ {} }}", names.join(", "));
                    }
                    Some(dev) => {
                        let _ = write!(c, " device {}", value(dev));
                    }
                    None => {}
                }
                let unknown_devices =
                    matches!(hook, "ingress" | "egress") && body.get("dev").is_none();
                let _ = write!(c, " priority {prio};");
                let mut policy = body.get("policy").and_then(Value::as_str);
                if unknown_devices {
                    deviceless.push(Deviceless {
                        family: family.to_string(),
                        table: s("table").to_string(),
                        chain: s("name").to_string(),
                        policy_drop: policy == Some("drop"),
                        span: (0, 0),
                    });
                    policy = None;
                }
                if let Some(p) = policy {
                    let _ = write!(c, " policy {p};");
                }
                c.push_str(" }");
            }
            c
        }
        "set" | "map" => {
            let mut c = format!("add {kind} {family} {} {} {{", s("table"), s("name"));
            let ty = body.get("type").map(key_type).unwrap_or_default();
            match body.get("map") {
                Some(data) => {
                    let _ = write!(c, " type {ty} : {};", key_type(data));
                }
                None => {
                    let _ = write!(c, " type {ty};");
                }
            }
            if let Some(flags) = body.get("flags").and_then(Value::as_array) {
                let f: Vec<String> = flags.iter().map(scalar).collect();
                let _ = write!(c, " flags {};", f.join(","));
            }
            if let Some(elem) = body.get("elem").and_then(Value::as_array) {
                let _ = write!(c, " elements = {{ {} }};", elements(elem));
            }
            c.push_str(" }");
            c
        }
        "element" => {
            let elem = body
                .get("elem")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            format!(
                "add element {family} {} {} {{ {} }}",
                s("table"),
                s("name"),
                elements(elem)
            )
        }
        "rule" => {
            let exprs = body
                .get("expr")
                .and_then(Value::as_array)
                .map_or(&[][..], Vec::as_slice);
            let mut parts: Vec<String> = exprs.iter().map(statement).collect();
            // A rule of a chain whose devices are not known may or may not see a packet.
            let (table, chain) = (s("table"), s("chain"));
            if deviceless
                .iter()
                .any(|d| d.family == family && d.table == table && d.chain == chain)
            {
                parts.insert(0, unknown("device_unknown"));
            }
            // `# handle N`, as `nft -a list ruleset` writes it: shown with the rule.
            let handle = body
                .get("handle")
                .map_or(String::new(), |h| format!(" # handle {}", scalar(h)));
            format!(
                "add rule {family} {table} {chain} {}{handle}",
                parts.join(" ")
            )
        }
        // Named objects bear on verdicts only through rules that use them
        // (`limit name`, `flow add @ft`, `ct helper set`), which are read as such.
        "counter" | "quota" | "limit" | "flowtable" | "ct helper" | "ct timeout"
        | "ct expectation" | "secmark" | "synproxy" => return Ok(None),
        other => return Err(format!("JSON object `{other}` is not modelled")),
    }))
}

/// A set or map type: `ipv4_addr`, or a concatenation `ipv4_addr . inet_service`.
fn key_type(v: &Value) -> String {
    match v {
        Value::Array(parts) => parts.iter().map(scalar).collect::<Vec<_>>().join(" . "),
        other => scalar(other),
    }
}

/// Set or map elements, comma-separated (`key : value` for maps).
fn elements(elem: &[Value]) -> String {
    let items: Vec<String> = elem
        .iter()
        .map(|e| match e {
            Value::Array(kv) if kv.len() == 2 => {
                format!("{} : {}", value(&kv[0]), data(&kv[1]))
            }
            other => value(other),
        })
        .collect();
    items.join(", ")
}

/// A map's value: a verdict, or a plain value.
fn data(v: &Value) -> String {
    match v.as_object().and_then(|o| o.iter().next()) {
        Some((k, _)) if is_verdict(k) => statement(v),
        _ => value(v),
    }
}

fn is_verdict(k: &str) -> bool {
    matches!(
        k,
        "accept" | "drop" | "continue" | "return" | "jump" | "goto" | "queue" | "reject"
    )
}

/// A value on the right of a match, in a set, or as a map key.
fn value(v: &Value) -> String {
    match v {
        Value::String(s) => word(s),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        // A list of flags: `established,related`.
        Value::Array(items) => items.iter().map(value).collect::<Vec<_>>().join(","),
        Value::Object(o) => {
            let Some((k, body)) = o.iter().next() else {
                return unknown("empty object");
            };
            match k.as_str() {
                "set" => match body {
                    Value::Array(items) => format!("{{ {} }}", elements(items)),
                    other => format!("{{ {} }}", value(other)),
                },
                "range" => match body.as_array().map(Vec::as_slice) {
                    Some([a, b]) => format!("{}-{}", value(a), value(b)),
                    _ => unknown("range"),
                },
                "prefix" => format!(
                    "{}/{}",
                    body.get("addr").map_or_else(|| unknown("prefix"), value),
                    body.get("len").map_or("0".to_string(), scalar)
                ),
                "concat" => body.as_array().map_or_else(
                    || unknown("concat"),
                    |p| p.iter().map(value).collect::<Vec<_>>().join(" . "),
                ),
                "elem" => body.get("val").map_or_else(|| unknown("elem"), value),
                "|" => body.as_array().map_or_else(
                    || unknown("|"),
                    |p| format!("({})", p.iter().map(value).collect::<Vec<_>>().join("|")),
                ),
                _ => expression(v),
            }
        }
        Value::Null => unknown("null"),
    }
}

/// An expression on the left of a match (a field), as nft writes it.
fn expression(v: &Value) -> String {
    let Some((k, body)) = v.as_object().and_then(|o| o.iter().next()) else {
        return value(v);
    };
    let s = |key: &str| body.get(key).and_then(Value::as_str);
    match k.as_str() {
        "payload" => match (s("protocol"), s("field")) {
            (Some(p), Some(f)) => format!("{p} {f}"),
            _ => unknown("raw payload expression"),
        },
        "meta" => match s("key") {
            // nft writes these without `meta`.
            Some(k @ ("iifname" | "oifname" | "iif" | "oif" | "l4proto" | "nfproto" | "mark")) => {
                if k == "l4proto" || k == "nfproto" || k == "mark" {
                    format!("meta {k}")
                } else {
                    k.to_string()
                }
            }
            Some(k) => format!("meta {k}"),
            None => unknown("meta"),
        },
        "ct" => match (s("key"), s("dir")) {
            (Some(k), None) => format!("ct {k}"),
            (Some(k), Some(d)) => format!("ct {d} {k}"),
            _ => unknown("ct"),
        },
        "concat" => body.as_array().map_or_else(
            || unknown("concat"),
            |p| p.iter().map(expression).collect::<Vec<_>>().join(" . "),
        ),
        "&" | "|" | "^" | "<<" | ">>" => match body.as_array().map(Vec::as_slice) {
            Some([a, b]) => format!("{} {k} {}", expression(a), mask(b)),
            _ => unknown(k),
        },
        other => unknown(&described(other, body)),
    }
}

/// The right side of a bitwise operation: a flag list joins with `|`.
fn mask(v: &Value) -> String {
    match v {
        Value::Array(items) => format!(
            "({})",
            items.iter().map(value).collect::<Vec<_>>().join("|")
        ),
        other => value(other),
    }
}

/// One statement of a rule's `expr` list.
fn statement(v: &Value) -> String {
    let Some((k, body)) = v.as_object().and_then(|o| o.iter().next()) else {
        return unknown("statement");
    };
    let target = || body.get("target").and_then(Value::as_str).unwrap_or("");
    match k.as_str() {
        "match" => {
            let op = body.get("op").and_then(Value::as_str).unwrap_or("==");
            let left = body
                .get("left")
                .map_or_else(|| unknown("match"), expression);
            let right = body.get("right").map_or_else(|| unknown("match"), value);
            match op {
                // `in` is nft's implicit operator (flags, sets).
                "==" if left.starts_with("tcp flags") => format!("{left} == {right}"),
                "==" | "in" => format!("{left} {right}"),
                other => format!("{left} {other} {right}"),
            }
        }
        "accept" | "drop" | "continue" | "return" => k.clone(),
        "jump" | "goto" => format!("{k} {}", target()),
        "reject" => "reject".into(),
        "queue" => "queue".into(),
        "counter" => "counter".into(),
        "log" => "log".into(),
        "limit" => format!(
            "limit rate {}/{}",
            body.get("rate").map_or("0".to_string(), scalar),
            body.get("per").and_then(Value::as_str).unwrap_or("second")
        ),
        "quota" => "quota".into(),
        "masquerade" => "masquerade".into(),
        "snat" => match body.get("addr") {
            Some(a) => format!("snat to {}", value(a)),
            None => "snat".into(),
        },
        "dnat" => "dnat".into(),
        "redirect" => "redirect".into(),
        "notrack" => "notrack".into(),
        "tproxy" | "synproxy" | "dup" | "fwd" => k.clone(),
        "flow" => "flow".into(),
        // `FIELD set VALUE`: rewrites the field (harmless for marks).
        "mangle" => format!(
            "{} set {}",
            body.get("key")
                .map_or_else(|| unknown("mangle"), expression),
            body.get("value").map_or_else(|| unknown("mangle"), value)
        ),
        "vmap" => format!(
            "{} vmap {}",
            body.get("key").map_or_else(|| unknown("vmap"), expression),
            body.get("data").map_or_else(|| unknown("vmap"), value)
        ),
        // Dynamic set updates and secmarks do not decide.
        "set" | "map" => "update".into(),
        "secmark" | "ct helper" | "ct timeout" | "ct expectation" => "counter".into(),
        other => unknown(&described(other, body)),
    }
}

/// A JSON string as an nft word, quoted where it would not lex as one.
fn word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:*@$".contains(&b))
        && !s.starts_with(['-', '.', '@', '$', '*']);
    // A catch-all map key.
    if s == "*" {
        return s.to_string();
    }
    if let Some(name) = s.strip_prefix('@') {
        return format!("@{name}");
    }
    if plain {
        s.to_string()
    } else {
        format!("\"{}\"", s.replace(['"', '\n'], ""))
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// An object's name with its `key` (`socket transparent`, `rt mtu`), for
/// the reason of an unmodelled expression.
fn described(kind: &str, body: &Value) -> String {
    match body.get("key").and_then(Value::as_str) {
        Some(key) => format!("{kind} {key}"),
        None => kind.to_string(),
    }
}

/// An expression this reader does not model, as a selector (`json fib`,
/// `json socket.transparent`) that the text front-end keeps as an
/// unmodelled condition.
fn unknown(what: &str) -> String {
    let key: String = what
        .chars()
        .map(|c| match c {
            ' ' => '.',
            c if c.is_ascii_alphanumeric() || c == '-' => c,
            _ => '_',
        })
        .collect();
    format!("json {key}")
}
