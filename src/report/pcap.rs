//! The report of `octaverify pcap`: the dialler's flows in a capture, as
//! JSON (`octaverify-pcap/1`) and text.

use super::RuleCite;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Serialize)]
pub struct PcapReport {
    pub schema: &'static str,
    pub input: PcapInput,
    pub summary: PcapSummary,
    /// Every flow of the dialler's, failing or not, in the order they began.
    pub flows: Vec<FlowOut>,
}

#[derive(Serialize)]
pub struct PcapInput {
    pub file: String,
    pub diallers: Vec<String>,
    /// `given` (flags or octaverify.toml) or `busiest` (the capture's busiest private sender).
    pub dialler_from: &'static str,
    /// Addresses the capture's DNS answers gave the requirement set's names
    /// that the site does not resolve itself; flows to them count as theirs.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub resolved: BTreeMap<String, Vec<String>>,
    /// What the ruleset's configuration told of the site (interfaces
    /// inferred from a router's addresses and routes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The firewall's interfaces the site names (`lan`, `wan`, `management`):
    /// flows are traced on those sides, on every interface where none is named.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub interfaces: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ruleset: Option<String>,
}

#[derive(Serialize)]
pub struct PcapSummary {
    pub frames: u64,
    pub packets: u64,
    /// Frames without an IP packet (ARP, …), left out.
    pub other_frames: u64,
    /// Frames the capture's snap length cut short (their headers still read).
    pub cut_frames: u64,
    pub flows: usize,
    pub failed: usize,
    /// Failed flows that belong to a required (not advisory) requirement.
    pub failed_required: usize,
}

#[derive(Serialize)]
pub struct FlowOut {
    pub proto: String,
    pub local: String,
    pub remote: String,
    /// `dialler` or `remote`: who sent the first packet.
    pub opened_by: &'static str,
    pub first: f64,
    pub last: f64,
    pub sent: u64,
    pub received: u64,
    /// TCP data segments the dialler sent again.
    pub retransmitted: u64,
    /// The name a DNS flow asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub fate: &'static str,
    pub explanation: String,
    pub storm: bool,
    pub requirements: Vec<String>,
    /// Whether one of them is required (not advisory): a failure then fails the run.
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ruleset: Option<RulesetOut>,
}

#[derive(Serialize)]
pub struct RulesetOut {
    /// What the ruleset does to the flow's first packet and to the answer
    /// (on the sides the site names, else on any interface): `accepts`,
    /// `drops`, `depends` (some of it is dropped: on some interfaces, say),
    /// `unknown` (it turns on what octaverify does not model).
    pub verdict: &'static str,
    /// For `drops`: whether the flow's `first-packet` is dropped, or it
    /// passes and its `answer` is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub drops: Option<&'static str>,
    /// The rules that drop it, then those whose verdict is not modelled.
    pub rules: Vec<RuleCite>,
    /// For `depends`: the packets of the flow (first packet or answer) that
    /// are dropped, one packet space each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropped: Vec<String>,
}

impl RulesetOut {
    /// The verdict as a sentence about the flow ("drops it", …).
    pub fn says(&self) -> &'static str {
        match (self.verdict, self.drops) {
            ("accepts", _) => {
                "accepts it and its answer: the cause is elsewhere (another firewall, the server, the route)"
            }
            ("drops", Some("answer")) => {
                "passes it, but drops its answer (no rule accepts the replies of the connection)"
            }
            ("drops", _) => "drops it",
            ("depends", _) => "drops some of it (the packets below), accepts the rest",
            _ => "its verdict turns on what octaverify does not model (the rules below)",
        }
    }
}

/// The text report: the capture, the dialler, then each failing flow with
/// its requirements and what the ruleset does to it.
pub fn render_text(r: &PcapReport) -> String {
    use std::fmt::Write;
    let mut out = format!(
        "octaverify pcap: {} ({} frames, {} IP packets)\ndialler {} ({})\n",
        r.input.file,
        r.summary.frames,
        r.summary.packets,
        r.input.diallers.join(", "),
        if r.input.dialler_from == "given" {
            "as given"
        } else {
            "the capture's busiest private sender; give --dialler to choose"
        }
    );
    for n in &r.input.notes {
        let _ = writeln!(out, "{n}");
    }
    for (name, addrs) in &r.input.resolved {
        let _ = writeln!(
            out,
            "{name} resolved in the capture to {}",
            addrs.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "\n{} flows, {} failed ({} of a required requirement)",
        r.summary.flows, r.summary.failed, r.summary.failed_required
    );
    for f in r.flows.iter().filter(|f| f.fate != "works") {
        let _ = writeln!(
            out,
            "\n{} {} {} -> {}: {}",
            f.fate,
            f.proto,
            if f.opened_by == "dialler" {
                &f.local
            } else {
                &f.remote
            },
            if f.opened_by == "dialler" {
                &f.remote
            } else {
                &f.local
            },
            f.explanation
        );
        if !f.requirements.is_empty() {
            let _ = writeln!(out, "  requirements: {}", f.requirements.join(", "));
        }
        if let Some(rs) = &f.ruleset {
            let _ = writeln!(out, "  ruleset: {}", rs.says());
            for d in &rs.dropped {
                let _ = writeln!(out, "    dropped: {d}");
            }
            if rs.verdict == "depends" && r.input.interfaces.is_empty() {
                let _ = writeln!(
                    out,
                    "    (traced on every interface: name the dialler's side with --lan and --wan to trace the path it takes)"
                );
            }
            for c in &rs.rules {
                let text = c.written.as_deref().unwrap_or(&c.text);
                let _ = writeln!(out, "    {}:{}  {text}", c.file, c.line);
            }
        }
    }
    out
}
