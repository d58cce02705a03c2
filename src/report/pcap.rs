//! The report of `octaverify pcap`: the dialler's flows in a capture, as
//! JSON (`octaverify-pcap/1`) and text.

use super::RuleCite;
use serde::Serialize;

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
    pub dialler: String,
    /// `given` (flags or octaverify.toml) or `busiest` (the capture's busiest private sender).
    pub dialler_from: &'static str,
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
    /// (on any interface): `accepts`, `drops`, `depends` (on the interfaces
    /// or on what is not modelled).
    pub verdict: &'static str,
    pub rules: Vec<RuleCite>,
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
        r.input.dialler,
        if r.input.dialler_from == "given" {
            "as given"
        } else {
            "the capture's busiest private sender; give --dialler to choose"
        }
    );
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
            let _ = writeln!(
                out,
                "  ruleset: {}",
                match rs.verdict {
                    "accepts" =>
                        "accepts it and its answer: the cause is elsewhere (another firewall, the server, the route)",
                    "drops" => "drops it",
                    _ => "drops it only on some interfaces, or depending on what is not modelled",
                }
            );
            for c in &rs.rules {
                let _ = writeln!(out, "    {}:{}  {}", c.file, c.line, c.text);
            }
        }
    }
    out
}
