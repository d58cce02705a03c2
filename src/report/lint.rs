//! The result of `octaverify lint`: rules that never apply, rules that change
//! nothing, rules whose effect is not modelled, and chains no packet enters;
//! as data (JSON) and for people (text).

use super::{Input, RuleCite};
use annotate_snippets::{Level, Renderer};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write;

pub const SCHEMA: &str = "octaverify-lint/1";

#[derive(Debug, Clone, Serialize)]
pub struct LintReport {
    pub schema: &'static str,
    pub input: Input,
    pub findings: Vec<LintFinding>,
    pub summary: LintSummary,
}

#[derive(Debug, Clone, Serialize)]
pub struct LintFinding {
    /// `shadowed-rule`, `redundant-rule`, `unmodelled-rule` or `unreachable-chain`.
    pub kind: &'static str,
    pub message: String,
    /// The rule the finding is about (for a chain, its first rule).
    pub rule: RuleCite,
    /// The rules that explain it, in the order packets meet them.
    pub because: Vec<RuleCite>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct LintSummary {
    pub rules: usize,
    pub shadowed: usize,
    pub redundant: usize,
    pub unmodelled: usize,
    #[serde(rename = "unreachable-chains")]
    pub unreachable_chains: usize,
    /// Rules lint could not check within its work bound (the rules before
    /// them cut the packet space into too many pieces), and the first.
    pub unchecked: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchecked_from: Option<RuleCite>,
}

impl LintReport {
    /// 0 when lint finds nothing, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        i32::from(!self.findings.is_empty())
    }
}

pub fn render_json(r: &LintReport) -> String {
    serde_json::to_string_pretty(r).expect("lint reports serialise") + "\n"
}

pub fn render_text(r: &LintReport, color: bool) -> String {
    let mut out = format!("octaverify lint: {} ({})\n", r.input.file, r.input.format);
    // A big export has thousands of findings: drawn in parallel, in order.
    let drawn: Vec<String> = r
        .findings
        .par_iter()
        .map(|f| {
            let renderer = if color {
                Renderer::styled()
            } else {
                Renderer::plain()
            };
            let title = format!("line {}: {}", f.rule.line, f.message);
            let label = match f.kind {
                "shadowed-rule" => "never applies",
                "redundant-rule" => "changes nothing",
                "unreachable-chain" => "in a chain no packet enters",
                _ => "its effect is not modelled",
            };
            let because = match f.kind {
                "shadowed-rule" => "takes its packets first",
                "unreachable-chain" => "the only way in",
                _ => "decides its packets the same way",
            };
            let mut msg = Level::Warning
                .title(&title)
                .id(f.kind)
                .snippet(super::text::snippet(&f.rule, Level::Warning, label));
            for c in &f.because {
                msg = msg.snippet(super::text::snippet(c, Level::Info, because));
            }
            format!("\n{}\n", renderer.render(msg))
        })
        .collect();
    out.extend(drawn);
    let s = &r.summary;
    let _ = writeln!(
        out,
        "{}lint: {} rules: {} shadowed, {} redundant, {} unmodelled, {} unreachable chain{}",
        if r.findings.is_empty() { "" } else { "\n" },
        s.rules,
        s.shadowed,
        s.redundant,
        s.unmodelled,
        s.unreachable_chains,
        if s.unreachable_chains == 1 { "" } else { "s" }
    );
    if let Some(first) = &s.unchecked_from {
        let _ = writeln!(
            out,
            "not checked: {} rules, from {}:{} on (the rules before them cut the packet space into more pieces than lint's work bound allows)",
            s.unchecked, first.file, first.line
        );
    }
    if !r.findings.is_empty() {
        let _ = writeln!(
            out,
            "\nWhat a code in brackets means, and what to do: octaverify explain CODE"
        );
    }
    out
}
