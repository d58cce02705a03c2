//! SARIF 2.1.0 for code scanning: one run of the tool over every file of a
//! check, each finding and warning a result located at the rule lines it
//! cites, with a rule (its help from [`super::codes`]) per code.

use super::codes::{CODES, Code};
use super::diff::DiffReport;
use super::lint::LintReport;
use super::pcap::PcapReport;
use super::{Finding, FindingKind, Report, RuleCite};
use serde_json::{Value, json};

pub const SCHEMA_URI: &str = "https://json.schemastore.org/sarif-2.1.0.json";

/// A file that could not be checked: its error, where it is known.
pub struct FileError<'a> {
    pub file: &'a str,
    pub message: String,
    pub line: Option<u32>,
    pub col: Option<u32>,
}

/// The SARIF log of a check of `reports` (and files that failed to load).
pub fn render(reports: &[&Report], errors: &[FileError<'_>]) -> String {
    let mut results = Vec::new();
    for r in reports {
        for (q, f) in r.focus_findings() {
            results.push(finding(r, &q.id, f));
        }
        for w in &r.warnings {
            // With --strict an advisory fails the check like a finding.
            let level = match (w.advisory, r.site.strict) {
                (true, true) => "error",
                (true, false) => "warning",
                _ => "note",
            };
            results.push(result(
                w.id,
                level,
                w.message.clone(),
                &r.input.file,
                &w.rules,
                json!({}),
            ));
        }
    }
    let notifications: Vec<Value> = errors
        .iter()
        .map(|e| {
            let mut region = json!({});
            if let Some(l) = e.line {
                region["startLine"] = json!(l);
            }
            if let Some(c) = e.col {
                region["startColumn"] = json!(c);
            }
            json!({
                "level": "error",
                "message": {"text": e.message},
                "locations": [{"physicalLocation": {
                    "artifactLocation": {"uri": uri(e.file)},
                    "region": region,
                }}],
            })
        })
        .collect();
    let verdicts: Vec<Value> = reports
        .iter()
        .map(|r| json!({"file": r.input.file, "format": r.input.format, "verdict": r.verdict}))
        .collect();
    log(results, notifications, json!({"verdicts": verdicts}))
}

/// The SARIF log of `octaverify lint`: a result per lint finding, at the rule.
pub fn render_lint(reports: &[&LintReport]) -> String {
    let mut results = Vec::new();
    for r in reports {
        for f in &r.findings {
            let level = if f.kind == "unmodelled-rule" {
                "note"
            } else {
                "warning"
            };
            let mut rules = vec![f.rule.clone()];
            rules.extend(f.because.iter().cloned());
            results.push(result(
                f.kind,
                level,
                format!("line {}: {}", f.rule.line, f.message),
                &r.input.file,
                &rules,
                json!({}),
            ));
        }
    }
    let summaries: Vec<Value> = reports
        .iter()
        .map(|r| json!({"file": r.input.file, "summary": r.summary}))
        .collect();
    log(results, Vec::new(), json!({"lint": summaries}))
}

/// The SARIF log of `octaverify diff`: status changes at the new file, and
/// each changed piece at the rule that decides it now (the old one related).
pub fn render_diff(r: &DiffReport) -> String {
    let mut results = Vec::new();
    for s in &r.requirements {
        let text = format!(
            "{} ({}): {} -> {}",
            s.id,
            s.option.as_deref().unwrap_or("ingress"),
            json!(s.old).as_str().unwrap_or(""),
            json!(s.new).as_str().unwrap_or("")
        );
        results.push(result(
            "status-changed",
            "warning",
            text,
            &r.new.file,
            &[],
            json!({}),
        ));
    }
    for (code, list) in [
        ("newly-accepted", &r.accepted),
        ("newly-dropped", &r.dropped),
    ] {
        for c in list {
            // The rule that decides the piece now is what the result is about.
            let now = c.new_rule.iter().cloned().map(|mut n| {
                n.role = super::Role::Subject;
                n
            });
            let rules: Vec<RuleCite> = now.chain(c.old_rule.iter().cloned()).collect();
            let text = format!(
                "{}: {} (witness: {})",
                code.replace('-', " "),
                c.space,
                c.witness
            );
            results.push(result(
                code,
                "note",
                text,
                &r.new.file,
                &rules,
                json!({"space": c.space}),
            ));
        }
    }
    log(results, Vec::new(), json!({"verdict": r.verdict}))
}

/// The SARIF log of `octaverify pcap`: each failing flow a result, at the
/// rule that drops it where the ruleset was given and drops it, else at the
/// capture.
pub fn render_pcap(r: &PcapReport) -> String {
    let results = r
        .flows
        .iter()
        .filter(|f| f.fate != "works")
        .map(|f| {
            let (from, to) = if f.opened_by == "dialler" {
                (&f.local, &f.remote)
            } else {
                (&f.remote, &f.local)
            };
            let rules: &[RuleCite] = f.ruleset.as_ref().map_or(&[], |rs| &rs.rules);
            let level = match (f.required, f.requirements.is_empty()) {
                (true, _) => "error",
                (false, false) => "warning",
                (false, true) => "note",
            };
            let ruleset = f
                .ruleset
                .as_ref()
                .map_or(String::new(), |rs| format!("; the ruleset {}", rs.says()));
            result(
                f.fate,
                level,
                format!("{} {from} -> {to}: {}{ruleset}", f.proto, f.explanation),
                &r.input.file,
                rules,
                json!({"requirements": f.requirements, "storm": f.storm}),
            )
        })
        .collect();
    log(results, Vec::new(), json!({"summary": r.summary}))
}

/// The envelope: one run of octaverify with a rule per code.
fn log(results: Vec<Value>, notifications: Vec<Value>, properties: Value) -> String {
    let log = json!({
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "octaverify",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "rules": CODES.iter().map(rule).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": notifications.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
            "properties": properties,
        }],
    });
    serde_json::to_string_pretty(&log).expect("SARIF serialises") + "\n"
}

fn rule(c: &Code) -> Value {
    let level = match (c.kind, c.code) {
        ("finding", "unknown") => "warning",
        ("finding", _) => "error",
        ("lint", "unmodelled-rule") => "note",
        ("lint", _) => "warning",
        ("diff", "status-changed") => "warning",
        ("diff", _) => "note",
        _ if c.title.ends_with("(advisory)") => "warning",
        _ => "note",
    };
    json!({
        "id": c.code,
        "name": pascal(c.code),
        "shortDescription": {"text": c.title},
        "fullDescription": {"text": c.help},
        "help": {"text": c.help},
        "defaultConfiguration": {"level": level},
        "properties": {"kind": c.kind},
    })
}

/// `reply-blocked` as SARIF rule names are written: `ReplyBlocked`.
fn pascal(code: &str) -> String {
    code.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

fn finding(r: &Report, requirement: &str, f: &Finding) -> Value {
    let (code, level) = match f.kind {
        FindingKind::Missing => ("missing", "error"),
        FindingKind::Shadowed => ("shadowed", "error"),
        FindingKind::ReplyBlocked => ("reply-blocked", "error"),
        FindingKind::Unknown => ("unknown", "warning"),
    };
    let what = f.headline();
    let mut text = format!("{requirement}: {what} {} (witness: {})", f.space, f.witness);
    if let Some(why) = &f.reason {
        text.push_str(&format!("; unmodelled: {why}"));
    }
    if let Some(fix) = &f.fix {
        text.push_str(&format!("; add: {}", fix.replace('\n', " / ")));
    }
    let mut v = result(
        code,
        level,
        text,
        &r.input.file,
        &f.rules,
        json!({
            "requirement": requirement,
            "dialler": f.dialler,
            "space": f.space,
            "witness": f.witness,
        }),
    );
    if let Some(fix) = &f.fix {
        v["properties"]["fix"] = json!(fix);
    }
    v["partialFingerprints"] = json!({
        "octaverifyFinding/v1": format!("{}:{code}:{requirement}:{}:{}", r.input.file, f.dialler, f.space),
    });
    v
}

/// A result at the first rule it cites (the deciding one), with the others
/// as related locations; a result citing none stands at its file.
fn result(
    code: &str,
    level: &str,
    text: String,
    file: &str,
    rules: &[RuleCite],
    properties: Value,
) -> Value {
    let at = |c: &RuleCite| {
        json!({"physicalLocation": {
            "artifactLocation": {"uri": uri(&c.file)},
            "region": {
                "startLine": c.line,
                "snippet": {"text": c.written.as_deref().unwrap_or(&c.text)},
            },
        }, "message": {"text": format!("{:?}", c.role).to_lowercase()}})
    };
    let primary = rules
        .iter()
        .find(|c| c.role != super::Role::Allowing)
        .or(rules.first());
    let locations = match primary {
        Some(c) => vec![at(c)],
        None => vec![json!({"physicalLocation": {"artifactLocation": {"uri": uri(file)}}})],
    };
    let related: Vec<Value> = rules
        .iter()
        .filter(|c| primary.is_none_or(|p| !std::ptr::eq(*c, p)))
        .enumerate()
        .map(|(i, c)| {
            let mut v = at(c);
            v["id"] = json!(i);
            v
        })
        .collect();
    let index = CODES
        .iter()
        .position(|c| c.code == code)
        .expect("every code has a rule");
    let mut v = json!({
        "ruleId": code,
        "ruleIndex": index,
        "level": level,
        "message": {"text": text},
        "locations": locations,
        "properties": properties,
    });
    if !related.is_empty() {
        v["relatedLocations"] = json!(related);
    }
    v
}

/// A path as a relative URI reference: forward slashes, reserved characters escaped.
fn uri(path: &str) -> String {
    let mut out = String::new();
    for b in path.replace('\\', "/").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
