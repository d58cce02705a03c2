//! The result of `octaverify diff OLD NEW`, for pre-change review: the
//! requirement statuses that change and the packets newly accepted or newly
//! dropped, as data (JSON) and for people (text).

use super::{Input, RuleCite, Status, Verdict};
use crate::space::PacketView;
use serde::Serialize;
use std::fmt::Write;

pub const SCHEMA: &str = "octaverify-diff/1";

#[derive(Debug, Clone, Serialize)]
pub struct DiffReport {
    pub schema: &'static str,
    pub old: Input,
    pub new: Input,
    pub verdict: Verdicts,
    /// The requirements whose status changes.
    pub requirements: Vec<StatusChange>,
    /// Packets the new version accepts for sure and the old one dropped.
    pub accepted: Vec<SpaceChange>,
    /// Pieces past those listed.
    pub more_accepted: usize,
    /// Packets the new version drops for sure and the old one accepted.
    pub dropped: Vec<SpaceChange>,
    pub more_dropped: usize,
    /// Packets whose fate is unknown in either version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unknown: Option<String>,
    /// Whether the packet spaces were compared: a version whose rules cut
    /// the space into more pieces than the work bound allows has only its
    /// requirement statuses compared.
    pub spaces_compared: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Verdicts {
    pub old: Verdict,
    pub new: Verdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusChange {
    pub id: String,
    pub option: Option<String>,
    pub old: Status,
    pub new: Status,
}

#[derive(Debug, Clone, Serialize)]
pub struct SpaceChange {
    /// The packets, exactly, as ranges.
    pub space: String,
    pub witness: PacketView,
    /// The rule that decides the witness in the old and in the new version.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_rule: Option<RuleCite>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_rule: Option<RuleCite>,
}

impl DiffReport {
    /// 0 when the versions treat every packet alike, 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        let same = self.requirements.is_empty()
            && self.spaces_compared
            && self.accepted.is_empty()
            && self.dropped.is_empty()
            && self.verdict.old == self.verdict.new;
        i32::from(!same)
    }
}

pub fn render_json(r: &DiffReport) -> String {
    serde_json::to_string_pretty(r).expect("diff reports serialise") + "\n"
}

pub fn render_text(r: &DiffReport) -> String {
    let word = |v: &Verdict| {
        serde_json::to_value(v)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let mut out = format!(
        "octaverify diff: {} ({}) -> {} ({})\nverdict: {} -> {}\n",
        r.old.file,
        r.old.format,
        r.new.file,
        r.new.format,
        word(&r.verdict.old),
        word(&r.verdict.new)
    );
    if !r.requirements.is_empty() {
        let _ = writeln!(out, "\nrequirements that change:");
        for s in &r.requirements {
            let status = |s: &Status| {
                serde_json::to_value(s)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "  {:<22} {:<13} {} -> {}",
                s.id,
                s.option.as_deref().unwrap_or("ingress"),
                status(&s.old),
                status(&s.new)
            );
        }
    }
    let cite = |c: &Option<RuleCite>| match c {
        Some(c) => format!(
            "{}:{}: {}",
            c.file,
            c.line,
            c.written.as_deref().unwrap_or(&c.text)
        ),
        None => "no rule (the chains' policies let it through)".into(),
    };
    for (title, list, more) in [
        ("newly accepted", &r.accepted, r.more_accepted),
        ("newly dropped", &r.dropped, r.more_dropped),
    ] {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{title}:");
        for c in list {
            let _ = writeln!(out, "  {}", c.space);
            let _ = writeln!(out, "    witness: {}", c.witness);
            let _ = writeln!(out, "    before:  {}", cite(&c.old_rule));
            let _ = writeln!(out, "    now:     {}", cite(&c.new_rule));
        }
        if more > 0 {
            let _ = writeln!(out, "  … and {more} more pieces");
        }
    }
    if let Some(u) = &r.unknown {
        let _ = writeln!(
            out,
            "\nnot decided (unknown in a version, so a change cannot be ruled out): {u}"
        );
    }
    if !r.spaces_compared {
        let _ = writeln!(
            out,
            "\npacket spaces not compared: a version's rules cut the packet space into more pieces than the work bound allows; only the requirements were compared"
        );
    }
    if r.exit_code() == 0 {
        let _ = writeln!(out, "\nno change: both versions treat every packet alike");
    }
    out
}
