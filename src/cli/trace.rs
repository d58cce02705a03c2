//! `octaverify trace`: one packet's path through the rules, like a
//! packet tracer, and its verdict.

use super::{Output, RunResult, StateArg, TraceArgs, load};
use crate::diag::Error;
use crate::eval::concrete::{Effect, Evaluator as Concrete};
use crate::frontend;
use crate::model::{Action, Policy};
use crate::space::dim::{addr, icmp, iface, proto};
use crate::space::{Dim, Family, Packet, State, TcpFlag};
use serde::Serialize;

#[derive(Serialize)]
struct TraceOut {
    verdict: crate::eval::Verdict,
    packet: crate::space::PacketView,
    path: Vec<TraceStep>,
}

#[derive(Serialize)]
struct TraceStep {
    file: String,
    line: u32,
    chain: String,
    action: String,
}

pub(super) fn run_trace(a: &TraceArgs) -> Result<RunResult, Error> {
    let policy = load(&a.file, a.common.format, &frontend::Options::default())?;
    let packet = trace_packet(a)?;
    let t = Concrete::new(&policy).trace(&packet);
    // Each step's rule as the text report shows it: its line, or for a
    // translated input the command it reads as.
    let texts: Vec<&str> = t
        .steps
        .iter()
        .map(|s| {
            let rule = policy.rule(s.rule);
            let text = policy.text(rule.written().unwrap_or(rule.span));
            text.lines().next().unwrap_or("").trim()
        })
        .collect();
    let path: Vec<TraceStep> = t
        .steps
        .iter()
        .map(|s| {
            let rule = policy.rule(s.rule);
            let chain = &policy.chains[s.rule.chain];
            let mut action = action_word(&policy, &rule.action, s.rule.index.is_none());
            if s.effect == Effect::MayMatch {
                action = format!("may {action} (unmodelled: {})", rule.opaque().unwrap_or(""));
            }
            TraceStep {
                file: policy.file_path(rule.span).to_string(),
                line: rule.span.line,
                chain: format!("{} {}", chain.table, chain.name),
                action,
            }
        })
        .collect();
    let out = TraceOut {
        verdict: t.verdict,
        packet: packet.describe(),
        path,
    };
    let code = if t.verdict == crate::eval::Verdict::Accept {
        0
    } else {
        1
    };
    let stdout = match a.common.output {
        Output::Sarif => {
            return Err(Error::Usage(
                "trace follows one packet and has no SARIF output: use --output json".into(),
            ));
        }
        Output::Json => serde_json::to_string_pretty(&out).expect("traces serialise") + "\n",
        Output::Text => {
            let mut s = format!("packet: {}\n", out.packet);
            for (step, text) in out.path.iter().zip(&texts) {
                s.push_str(&format!(
                    "  {}:{:<5} {:<22} {:<10} {text}\n",
                    step.file, step.line, step.chain, step.action
                ));
            }
            s.push_str(&format!(
                "verdict: {}\n",
                serde_json::to_value(out.verdict)
                    .expect("verdicts serialise")
                    .as_str()
                    .unwrap_or("")
            ));
            s
        }
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code,
    })
}

fn action_word(policy: &Policy, a: &Action, is_policy: bool) -> String {
    let word = match a {
        Action::Accept => "accept".to_string(),
        Action::Drop => "drop".into(),
        Action::Reject => "reject".into(),
        Action::Return => "return".into(),
        Action::Jump(c) => format!("jump {}", policy.chains[*c].name),
        Action::Goto(c) => format!("goto {}", policy.chains[*c].name),
        Action::Continue => "continue".into(),
        Action::SourceNat(_) => "snat".into(),
        Action::Unknown(r) => format!("unknown ({r})"),
    };
    if is_policy {
        format!("policy {word}")
    } else {
        word
    }
}

fn trace_packet(a: &TraceArgs) -> Result<Packet, Error> {
    let fam = Family::of(a.src);
    if Family::of(a.dst) != fam {
        return Err(Error::Usage(
            "--src and --dst must be of one address family".into(),
        ));
    }
    let p = proto::parse(&a.proto)
        .ok_or_else(|| Error::Usage(format!("unknown protocol `{}`", a.proto)))?;
    let mut pk = Packet::default();
    pk.set(Dim::Family, fam as u128);
    pk.set(Dim::Src, addr::value(a.src));
    pk.set(Dim::Dst, addr::value(a.dst));
    pk.set(Dim::Proto, p as u128);
    pk.set(
        Dim::Sport,
        a.sport
            .unwrap_or(if proto::has_ports(p) { 1024 } else { 0 }) as u128,
    );
    pk.set(Dim::Dport, a.dport.unwrap_or(0) as u128);
    let state = match a.state {
        StateArg::New => State::NEW,
        StateArg::Established => State::ESTABLISHED,
        StateArg::Related => State::RELATED,
        StateArg::Invalid => State::INVALID,
        StateArg::Untracked => State::UNTRACKED,
    };
    pk.set(Dim::State, state);
    if p == proto::TCP {
        let flags = match a.tcp_flags.as_deref() {
            Some(list) => TcpFlag::parse_list(list).ok_or_else(|| {
                Error::Usage(format!(
                    "unknown TCP flags `{list}`: expected names from FIN, SYN, RST, PSH, ACK, URG, ECE, CWR, joined by commas"
                ))
            })?,
            None if state == State::NEW => TcpFlag::SYN,
            None => TcpFlag::ACK,
        };
        pk.set(Dim::Flags, flags as u128);
    }
    if p == fam.icmp_proto() {
        let name = a.icmp_type.as_deref().unwrap_or("echo-request");
        let (lo, _) = icmp::parse(name, fam == Family::Ipv6)
            .ok_or_else(|| Error::Usage(format!("unknown ICMP type `{name}`")))?;
        pk.set(Dim::Icmp, lo);
    }
    pk.set(
        Dim::In,
        iface::encode(a.in_iface.as_deref().unwrap_or("eth1")),
    );
    pk.set(
        Dim::Out,
        iface::encode(a.out_iface.as_deref().unwrap_or("eth0")),
    );
    Ok(pk)
}
