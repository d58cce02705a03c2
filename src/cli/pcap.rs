//! `octaverify pcap DUMP`: the dialler's flows in a capture, each failing one
//! with how it failed and the requirements it belongs to; with `--ruleset`,
//! also what the ruleset does to its first packet and to the answer.

use super::{Output, PcapArgs, RunResult, load};
use crate::capture::flows::{Fate, Flow, Flows};
use crate::capture::read::{Summary, read};
use crate::check::{cite, flow};
use crate::diag::Error;
use crate::eval::symbolic::Evaluator;
use crate::frontend;
use crate::model::Policy;
use crate::report::{Role, RuleCite};
use crate::requirements::{RequirementSet, Severity};
use crate::site::Site;
use crate::space::dim::{addr, icmp};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet, State, TcpFlag};
use serde::Serialize;
use std::net::IpAddr;
use std::path::Path;

#[derive(Serialize)]
struct PcapReport {
    schema: &'static str,
    input: PcapInput,
    summary: PcapSummary,
    /// Every flow of the dialler's, failing or not, in the order they began.
    flows: Vec<FlowOut>,
}

#[derive(Serialize)]
struct PcapInput {
    file: String,
    dialler: String,
    /// `given` (flags or octaverify.toml) or `busiest` (the capture's busiest private sender).
    dialler_from: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    ruleset: Option<String>,
}

#[derive(Serialize)]
struct PcapSummary {
    frames: u64,
    packets: u64,
    /// Frames without an IP packet (ARP, …), left out.
    other_frames: u64,
    flows: usize,
    failed: usize,
    /// Failed flows that belong to a required (not advisory) requirement.
    failed_required: usize,
}

#[derive(Serialize)]
struct FlowOut {
    proto: String,
    local: String,
    remote: String,
    /// `dialler` or `remote`: who sent the first packet.
    opened_by: &'static str,
    first: f64,
    last: f64,
    sent: u64,
    received: u64,
    fate: &'static str,
    explanation: String,
    storm: bool,
    requirements: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ruleset: Option<RulesetOut>,
}

#[derive(Serialize)]
struct RulesetOut {
    /// What the ruleset does to the flow's first packet and to the answer
    /// (on any interface): `accepts`, `drops`, `depends` (on the interfaces
    /// or on what is not modelled).
    verdict: &'static str,
    rules: Vec<RuleCite>,
}

pub(super) fn run_pcap(a: &PcapArgs) -> Result<RunResult, Error> {
    let reqs: RequirementSet = a.site.requirements()?;
    let near = a.ruleset.as_deref().unwrap_or(&a.dump);
    let mut site = Site::read(near, &a.site.overrides())?;
    let (summary, flows) = gather(&a.dump)?;
    let (dialler, dialler_from) = match site.diallers.first() {
        Some(&d) => (d, "given"),
        None => match flows.busiest() {
            Some(d) => (d, "busiest"),
            None => {
                return Err(Error::Usage(format!(
                    "{}: the capture holds no IP packet, so there is no dialler to find",
                    a.dump.display()
                )));
            }
        },
    };
    if site.diallers.is_empty() {
        site.diallers.push(dialler);
    }
    let policy = match &a.ruleset {
        Some(r) => Some(load(r, None, &frontend::Options::default())?),
        None => None,
    };
    let of = flows.of(dialler);
    let severity = |id: &str| reqs.requirement(id).map(|r| r.severity);
    let out: Vec<FlowOut> = of
        .iter()
        .map(|f| {
            let requirements: Vec<String> = crate::capture::needs::requirements_of(f, &reqs, &site)
                .into_iter()
                .map(String::from)
                .collect();
            FlowOut {
                proto: proto_name(f.proto),
                local: end(f.local, f.proto),
                remote: end(f.remote, f.proto),
                opened_by: if f.opened_here { "dialler" } else { "remote" },
                first: f.first,
                last: f.last,
                sent: f.sent,
                received: f.received,
                fate: fate_code(f.what),
                explanation: explain(f),
                storm: f.storm(),
                ruleset: policy
                    .as_ref()
                    .filter(|_| f.what.failed())
                    .map(|p| through(p, f)),
                requirements,
            }
        })
        .collect();
    let failed = out.iter().filter(|f| f.fate != "works").count();
    let failed_required = out
        .iter()
        .filter(|f| {
            f.fate != "works"
                && f.requirements
                    .iter()
                    .any(|r| severity(r) == Some(Severity::Required))
        })
        .count();
    let report = PcapReport {
        schema: "octaverify-pcap/1",
        input: PcapInput {
            file: a.dump.display().to_string(),
            dialler: dialler.to_string(),
            dialler_from,
            ruleset: a.ruleset.as_ref().map(|r| r.display().to_string()),
        },
        summary: PcapSummary {
            frames: summary.frames,
            packets: summary.packets,
            other_frames: summary.other,
            flows: out.len(),
            failed,
            failed_required,
        },
        flows: out,
    };
    let stdout = match a.output {
        Output::Json => {
            serde_json::to_string_pretty(&report).expect("the report serialises") + "\n"
        }
        Output::Text => text(&report),
        Output::Sarif => {
            return Err(Error::Usage(
                "pcap has text and JSON output so far (--output text or json)".into(),
            ));
        }
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code: i32::from(failed_required > 0),
    })
}

/// Reads the capture (`-`: standard input) into flows.
fn gather(path: &Path) -> Result<(Summary, Flows), Error> {
    let mut flows = Flows::default();
    let bad =
        |e: crate::capture::read::CaptureError| Error::Usage(format!("{}: {e}", path.display()));
    let summary = if path == Path::new("-") {
        read(std::io::stdin(), |p| flows.add(&p)).map_err(bad)?
    } else {
        let file = std::fs::File::open(path)
            .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
        read(std::io::BufReader::new(file), |p| flows.add(&p)).map_err(bad)?
    };
    Ok((summary, flows))
}

/// What the ruleset does to a flow's first packet and, where that passes,
/// to the answer, over every interface.
fn through(policy: &Policy, f: &Flow) -> RulesetOut {
    let first = opening(f);
    let ev = Evaluator::new(policy);
    let out = ev.forward(&first);
    let ok = out.accepted();
    let answer = ev.forward(&flow::replies(&ok));
    let mut rules: Vec<RuleCite> = Vec::new();
    for (_, r) in out.dropped().into_iter().chain(answer.dropped()) {
        let c = cite(policy, r, Role::Blocking);
        if !rules.iter().any(|x| x.file == c.file && x.line == c.line) {
            rules.push(c);
        }
    }
    let answered = answer.accepted();
    let all_pass =
        first.difference(&ok).is_empty() && flow::replies(&first).difference(&answered).is_empty();
    let none_pass = (ok.is_empty() && out.unknown().is_empty())
        || (answered.is_empty() && answer.unknown().is_empty());
    let verdict = match (all_pass, none_pass) {
        (true, _) => "accepts",
        (false, true) => "drops",
        (false, false) => "depends",
    };
    RulesetOut { verdict, rules }
}

/// The flow's first packet from the dialler, on any interface.
fn opening(f: &Flow) -> PacketSet {
    let (src, dst) = if f.opened_here {
        (f.local, f.remote)
    } else {
        (f.remote, f.local)
    };
    let fam = if src.0.is_ipv4() {
        Family::Ipv4
    } else {
        Family::Ipv6
    };
    let point = |v: u128| IntervalSet::point(v);
    let mut c = Cube::family(fam)
        .with(Dim::Src, point(addr::value(src.0)))
        .and_then(|c| c.with(Dim::Dst, point(addr::value(dst.0))))
        .and_then(|c| c.with(Dim::Proto, point(f.proto as u128)))
        .and_then(|c| c.with(Dim::State, point(State::NEW)))
        .expect("points are never empty");
    if matches!(f.proto, 6 | 17) {
        c = c
            .with(Dim::Sport, point(src.1 as u128))
            .and_then(|c| c.with(Dim::Dport, point(dst.1 as u128)))
            .expect("points are never empty");
    }
    if f.proto == 6 {
        c = c
            .with(Dim::Flags, point(TcpFlag::SYN as u128))
            .expect("a point");
    }
    if matches!(f.proto, 1 | 58) {
        let (request, _) = icmp::parse("echo-request", fam == Family::Ipv6).expect("a known type");
        c = c.with(Dim::Icmp, point(request)).expect("a point");
    }
    c.into()
}

fn proto_name(p: u8) -> String {
    match p {
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        p => p.to_string(),
    }
}

fn end((a, port): (IpAddr, u16), proto: u8) -> String {
    match (proto, a) {
        (6 | 17, IpAddr::V6(v)) => format!("[{v}]:{port}"),
        (6 | 17, a) => format!("{a}:{port}"),
        (_, a) => a.to_string(),
    }
}

fn fate_code(f: Fate) -> &'static str {
    match f {
        Fate::Works => "works",
        Fate::IcmpError { .. } => "icmp-error",
        Fate::NoSynAck => "no-syn-ack",
        Fate::Reset => "reset",
        Fate::NoAnswer => "no-answer",
        Fate::NoEchoReply => "no-echo-reply",
        Fate::UnansweredByDialler => "unanswered-by-dialler",
    }
}

fn explain(f: &Flow) -> String {
    let storm = if f.storm() {
        format!(" ({} packets sent: the dialler keeps retrying)", f.sent)
    } else {
        String::new()
    };
    let what = match f.what {
        Fate::Works => return "answered".into(),
        Fate::IcmpError { kind, code } => format!(
            "an ICMP error came back: {}",
            icmp_error(f.proto, kind, code)
        ),
        Fate::NoSynAck => format!(
            "{} SYN{} sent, no SYN-ACK came back",
            f.syns,
            if f.syns == 1 { "" } else { "s" }
        ),
        Fate::Reset => "the connection was reset by the other end or on the way".into(),
        Fate::NoAnswer if f.remote.1 == 53 => format!(
            "{} DNS quer{} sent, no answer came back",
            f.sent,
            if f.sent == 1 { "y" } else { "ies" }
        ),
        Fate::NoAnswer => format!(
            "{} datagram{} sent, nothing came back",
            f.sent,
            if f.sent == 1 { "" } else { "s" }
        ),
        Fate::NoEchoReply => format!(
            "{} echo request{} sent, no reply came back",
            f.sent,
            if f.sent == 1 { "" } else { "s" }
        ),
        Fate::UnansweredByDialler => {
            "it reached the dialler, which did not answer: the firewall let it in".into()
        }
    };
    what + &storm
}

fn icmp_error(_proto: u8, kind: u8, code: u8) -> String {
    let what = match (kind, code) {
        (3, 0) => "network unreachable",
        (3, 1) => "host unreachable",
        (3, 3) => "port unreachable",
        (3, 9 | 10 | 13) => "administratively prohibited (a firewall rejected it)",
        (3, _) => "destination unreachable",
        (11, _) => "time exceeded",
        (1, 1) => "ICMPv6: administratively prohibited (a firewall rejected it)",
        (1, 4) => "ICMPv6: port unreachable",
        (1, _) => "ICMPv6: destination unreachable",
        _ => "an error",
    };
    format!("{what} (type {kind}, code {code})")
}

fn text(r: &PcapReport) -> String {
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
