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
use crate::report::pcap::{FlowOut, PcapInput, PcapReport, PcapSummary, RulesetOut};
use crate::report::{Role, RuleCite};
use crate::requirements::{Endpoint, RequirementSet, Severity};
use crate::site::Site;
use crate::space::dim::{addr, icmp, proto};
use crate::space::{Cube, Dim, Family, IntervalSet, PacketSet, State, TcpFlag, render_within};
use ipnet::IpNet;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::Path;

pub(super) fn run_pcap(a: &PcapArgs) -> Result<RunResult, Error> {
    let reqs: RequirementSet = a.site.requirements()?;
    let near = a.ruleset.as_deref().unwrap_or(&a.dump);
    let mut site = Site::read(near, &a.site.overrides())?;
    let (summary, flows) = gather(&a.dump)?;
    let dialler_from = if site.diallers.is_empty() {
        match flows.busiest() {
            Some(d) => site.diallers.push(d),
            None => {
                return Err(Error::Usage(format!(
                    "{}: the capture holds no IP packet, so there is no dialler to find",
                    a.dump.display()
                )));
            }
        }
        "busiest"
    } else {
        "given"
    };
    let loaded = match &a.ruleset {
        Some(r) => Some(load(r, None, &frontend::Options::default())?),
        None => None,
    };
    let mut notes = Vec::new();
    if let Some(p) = &loaded {
        (site, notes) = crate::check::complete_site(&site, p);
    }
    let of = flows.of(&site.diallers);
    let resolved = resolve_from(&of, &reqs, &mut site);
    // Rules that match DNS names match the addresses the site (or the
    // capture) gives them; others stay unknown.
    let bound = loaded.as_ref().and_then(|p| {
        p.bind_names(&crate::model::NameBinding {
            resolved: &site.resolve,
            assumed: None,
        })
    });
    let policy = bound.as_ref().or(loaded.as_ref());
    let severity = |id: &str| reqs.requirement(id).map(|r| r.severity);
    let out: Vec<FlowOut> = of
        .iter()
        .map(|f| {
            let requirements: Vec<String> = crate::capture::needs::requirements_of(f, &reqs, &site)
                .into_iter()
                .map(String::from)
                .collect();
            FlowOut {
                proto: proto::name(f.proto).map_or_else(|| f.proto.to_string(), str::to_string),
                local: end(f.local, f.proto),
                remote: end(f.remote, f.proto),
                opened_by: if f.opened_here { "dialler" } else { "remote" },
                first: f.first,
                last: f.last,
                sent: f.sent,
                received: f.received,
                retransmitted: f.retransmitted,
                name: f
                    .dns
                    .as_ref()
                    .and_then(|d| d.name.as_deref().map(String::from)),
                fate: f.what.code(),
                explanation: explain(f),
                storm: f.storm(),
                ruleset: policy
                    .as_ref()
                    .filter(|_| f.what.failed())
                    .map(|p| through(p, f, &site)),
                required: requirements
                    .iter()
                    .any(|r| severity(r) == Some(Severity::Required)),
                requirements,
            }
        })
        .collect();
    let failed = out.iter().filter(|f| f.fate != "works").count();
    let failed_required = out
        .iter()
        .filter(|f| f.fate != "works" && f.required)
        .count();
    let report = PcapReport {
        schema: "octaverify-pcap/1",
        input: PcapInput {
            file: a.dump.display().to_string(),
            diallers: site.diallers.iter().map(ToString::to_string).collect(),
            dialler_from,
            resolved,
            notes,
            interfaces: [
                ("lan", &site.interfaces.lan),
                ("wan", &site.interfaces.wan),
                ("management", &site.interfaces.management),
            ]
            .into_iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k, v)))
            .collect(),
            ruleset: a.ruleset.as_ref().map(|r| r.display().to_string()),
        },
        summary: PcapSummary {
            frames: summary.frames,
            packets: summary.packets,
            other_frames: summary.other,
            cut_frames: summary.cut,
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
        Output::Text => crate::report::pcap::render_text(&report),
        Output::Sarif => crate::report::sarif::render_pcap(&report),
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code: i32::from(failed_required > 0),
    })
}

/// The addresses the capture's DNS answers gave the requirement set's names
/// that the site does not resolve itself, added to the site (so flows to them
/// count as theirs) and returned for the report.
fn resolve_from(
    flows: &[Flow],
    reqs: &RequirementSet,
    site: &mut Site,
) -> BTreeMap<String, Vec<String>> {
    let mut found: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for f in flows.iter().filter(|f| f.opened_here) {
        let Some(d) = &f.dns else { continue };
        let Some(name) = d.name.as_deref() else {
            continue;
        };
        let known = site.resolve.get(name).is_some_and(|n| !n.is_empty());
        let wanted = reqs.requirements.iter().any(|r| {
            [&r.from, &r.to].into_iter().any(|e| match e {
                Endpoint::Names(ns) => ns.iter().any(|n| crate::model::dns_name(n) == name),
                Endpoint::Named(_) => false,
            })
        });
        if wanted && !known && !d.addresses.is_empty() {
            let addrs = found.entry(name.to_string()).or_default();
            for a in &d.addresses {
                if !addrs.contains(a) {
                    addrs.push(*a);
                }
            }
        }
    }
    found
        .into_iter()
        .map(|(name, addrs)| {
            let nets = addrs.iter().map(|&a| IpNet::from(a)).collect();
            site.resolve.insert(name.clone(), nets);
            (name, addrs.iter().map(ToString::to_string).collect())
        })
        .collect()
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
/// to the answer: over every interface, or the sides the site names.
fn through(policy: &Policy, f: &Flow, site: &Site) -> RulesetOut {
    let first = opening(f, site);
    let ev = Evaluator::new(policy);
    let out = ev.forward(&first);
    let ok = out.accepted();
    let answer = ev.forward(&flow::replies(&ok));
    let names = crate::check::spaces::names(site);
    let mut rules: Vec<RuleCite> = Vec::new();
    let mut dropped: Vec<String> = Vec::new();
    let mut add = |r, role| {
        let c = cite(policy, r, role);
        if !rules.iter().any(|x| x.file == c.file && x.line == c.line) {
            rules.push(c);
        }
    };
    let replies = flow::replies(&first);
    for (context, o) in [(&first, &out), (&replies, &answer)] {
        for d in o.dropped() {
            add(d.rule(), Role::Blocking);
            dropped.push(render_within(&d.set, context, &names));
        }
        for d in &o.decisions {
            if policy.rule(d.rule()).unknown_reason().is_some() {
                add(d.rule(), Role::Unmodelled);
            }
        }
    }
    let answered = answer.accepted();
    let unknown = !out.unknown().is_empty() || !answer.unknown().is_empty();
    let all_pass = first.difference(&ok).is_empty() && replies.difference(&answered).is_empty();
    let first_dropped = ok.is_empty() && out.unknown().is_empty();
    let none_pass = first_dropped || (answered.is_empty() && answer.unknown().is_empty());
    let verdict = match (all_pass, none_pass, unknown) {
        (true, _, _) => "accepts",
        (false, true, _) => "drops",
        (false, false, true) => "unknown",
        (false, false, false) => "depends",
    };
    RulesetOut {
        verdict,
        drops: (verdict == "drops").then_some(if first_dropped {
            "first-packet"
        } else {
            "answer"
        }),
        rules,
        dropped: if verdict == "depends" {
            dropped
        } else {
            Vec::new()
        },
    }
}

/// The flow's first packet, on the interfaces the site says it crosses
/// (any, where it names none).
fn opening(f: &Flow, site: &Site) -> PacketSet {
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
    let (in_if, out_if) = crate::check::spaces::sides(&site.interfaces, f.opened_here);
    for (dim, set) in [(Dim::In, in_if), (Dim::Out, out_if)] {
        if let Some(s) = set {
            c = c.with(dim, s).expect("not empty");
        }
    }
    c.into()
}

fn end((a, port): (IpAddr, u16), proto: u8) -> String {
    match (proto, a) {
        (6 | 17, IpAddr::V6(v)) => format!("[{v}]:{port}"),
        (6 | 17, a) => format!("{a}:{port}"),
        (_, a) => a.to_string(),
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
        Fate::IcmpError { kind, code } => {
            let v6 = f.local.0.is_ipv6();
            let name = icmp::name_of(kind, code, v6).unwrap_or("an error");
            let rejected = if (v6 && (kind, code) == (1, 1))
                || (!v6 && kind == 3 && matches!(code, 9 | 10 | 13))
            {
                ": a firewall rejected it"
            } else {
                ""
            };
            format!("an ICMP error came back: {name} (type {kind}, code {code}){rejected}")
        }
        Fate::NoSynAck => format!(
            "{} SYN{} sent, no SYN-ACK came back",
            f.syns,
            if f.syns == 1 { "" } else { "s" }
        ),
        Fate::Reset => "the connection was reset by the other end or on the way".into(),
        Fate::Stalled => format!(
            "the handshake completed, but data was sent again {} time{} and never acknowledged \
             (something on the way drops it after the handshake: a filtering proxy, an IPS, \
             an MTU black hole)",
            f.retransmitted,
            if f.retransmitted == 1 { "" } else { "s" }
        ),
        Fate::DnsError { rcode } => {
            let name = f
                .dns
                .as_ref()
                .and_then(|d| d.name.as_deref())
                .unwrap_or("the name asked");
            format!(
                "the DNS server answered {} for {name}: the query and its answer passed, \
                 the name is what fails",
                rcode_name(rcode)
            )
        }
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

/// A DNS response code as DNS tools print it.
fn rcode_name(rcode: u8) -> String {
    match rcode {
        1 => "FORMERR (the query was malformed)".into(),
        2 => "SERVFAIL (the server could not resolve it)".into(),
        3 => "NXDOMAIN (no such name)".into(),
        4 => "NOTIMP (not implemented)".into(),
        5 => "REFUSED (the server refuses to answer the dialler)".into(),
        n => format!("response code {n}"),
    }
}
