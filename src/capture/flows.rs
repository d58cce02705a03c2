//! Flows of a capture and what became of each: the packets of one
//! connection (TCP, UDP, ICMP echo by identifier) gathered both ways, ICMP
//! errors filed under the flow they quote, and each flow the dialler opened
//! classified as working or by how it failed. Memory grows with the number
//! of flows, not of packets.

use super::read::{Seen, Tcp};
use rustc_hash::FxHashMap;
use std::net::IpAddr;

/// A flow's end: an address and a port (the echo identifier for ICMP echo; 0
/// for protocols without either).
pub type End = (IpAddr, u16);

/// A flow as seen from the dialler.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    pub proto: u8,
    /// The dialler's end and the other.
    pub local: End,
    pub remote: End,
    /// Whether the dialler sent the flow's first packet.
    pub opened_here: bool,
    pub first: f64,
    pub last: f64,
    pub sent: u64,
    pub received: u64,
    /// SYNs the opening side sent (more than one: retransmitted).
    pub syns: u64,
    /// Data segments the dialler sent again.
    pub retransmitted: u64,
    /// ICMP errors received about the flow's packets (type, code), each once.
    pub errors: Vec<(u8, u8)>,
    pub what: Fate,
}

/// What became of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Works,
    /// An ICMP error came back about it (unreachable, prohibited, …).
    IcmpError {
        kind: u8,
        code: u8,
    },
    /// TCP: SYNs went out, no SYN-ACK came back.
    NoSynAck,
    /// TCP: the other end (or something on the way) answered with a reset.
    Reset,
    /// UDP: datagrams went out, none came back (a DNS query without answer
    /// when the other end's port is 53).
    NoAnswer,
    /// ICMP echo requests without replies.
    NoEchoReply,
    /// Opened from outside and reaching the dialler, which did not answer:
    /// the firewall let it in, so the cause is not there.
    UnansweredByDialler,
}

impl Fate {
    pub fn failed(self) -> bool {
        !matches!(self, Fate::Works)
    }

    /// The report's name for it (the codes `explain` knows, but `works`).
    pub fn code(self) -> &'static str {
        match self {
            Fate::Works => "works",
            Fate::IcmpError { .. } => "icmp-error",
            Fate::NoSynAck => "no-syn-ack",
            Fate::Reset => "reset",
            Fate::NoAnswer => "no-answer",
            Fate::NoEchoReply => "no-echo-reply",
            Fate::UnansweredByDialler => "unanswered-by-dialler",
        }
    }
}

/// A failing flow whose dialler kept sending at least this many packets
/// ("continuously sends messages to our server") is a retry storm.
pub const STORM: u64 = 20;

impl Flow {
    pub fn storm(&self) -> bool {
        self.what.failed() && self.opened_here && self.sent >= STORM
    }
}

/// One side's counts, while the flow's orientation is not yet known.
#[derive(Debug, Clone, Default)]
struct Side {
    packets: u64,
    syn: u64,
    syn_ack: bool,
    rst: bool,
    echo_requests: u64,
    echo_replies: u64,
    /// The highest sequence number past data sent (for retransmissions).
    sent_to: Option<u32>,
    retransmitted: u64,
}

#[derive(Debug, Clone)]
struct Gathered {
    first: f64,
    last: f64,
    /// Which side sent first: 0 for `a`, 1 for `b` of the key.
    opener: usize,
    sides: [Side; 2],
    errors: Vec<(u8, u8)>,
}

/// A flow's key: the protocol and both ends, the lower end first.
type Key = (u8, End, End);

fn key(proto: u8, x: End, y: End) -> (Key, usize) {
    if x <= y {
        ((proto, x, y), 0)
    } else {
        ((proto, y, x), 1)
    }
}

/// Gathers packets into flows.
#[derive(Debug, Default)]
pub struct Flows {
    flows: FxHashMap<Key, Gathered>,
    /// Packets each address sent, for the busiest one.
    senders: FxHashMap<IpAddr, u64>,
}

impl Flows {
    pub fn add(&mut self, p: &Seen) {
        *self.senders.entry(p.src).or_default() += 1;
        // An ICMP error belongs to the flow of the packet it quotes.
        if let Some(about) = p.icmp.and_then(|i| i.about.map(|a| (i, a))) {
            let (icmp, q) = about;
            let (k, _) = key(q.proto, (q.src, q.sport), (q.dst, q.dport));
            if let Some(f) = self.flows.get_mut(&k) {
                if !f.errors.contains(&(icmp.kind, icmp.code)) {
                    f.errors.push((icmp.kind, icmp.code));
                }
                f.last = f.last.max(p.at);
            }
            return;
        }
        let (sport, dport) = match p.icmp {
            Some(i) => (i.ident.unwrap_or(0), i.ident.unwrap_or(0)),
            None => (p.sport, p.dport),
        };
        let (k, side) = key(p.proto, (p.src, sport), (p.dst, dport));
        let f = self.flows.entry(k).or_insert_with(|| Gathered {
            first: p.at,
            last: p.at,
            opener: side,
            sides: Default::default(),
            errors: Vec::new(),
        });
        f.last = f.last.max(p.at);
        let s = &mut f.sides[side];
        s.packets += 1;
        if let Some(t) = p.tcp {
            tcp(s, t, p.payload);
        }
        if let Some(i) = p.icmp {
            match (i.kind, p.dst.is_ipv4()) {
                (8, true) | (128, false) => s.echo_requests += 1,
                (0, true) | (129, false) => s.echo_replies += 1,
                _ => {}
            }
        }
    }

    /// The address that sent the most packets, preferring private ones
    /// (the dialler sits on a LAN), if any packet was read.
    pub fn busiest(&self) -> Option<IpAddr> {
        let private = |a: &IpAddr| match a {
            IpAddr::V4(v) => v.is_private(),
            IpAddr::V6(v) => (v.segments()[0] & 0xfe00) == 0xfc00,
        };
        self.senders
            .iter()
            .max_by_key(|(a, n)| (private(a), **n, std::cmp::Reverse(**a)))
            .map(|(a, _)| *a)
    }

    /// The flows `dialler` is an end of, oriented from it and classified,
    /// in the order they began.
    pub fn of(&self, dialler: IpAddr) -> Vec<Flow> {
        let mut out: Vec<Flow> = self
            .flows
            .iter()
            .filter_map(|(&(proto, a, b), g)| {
                let here = if a.0 == dialler {
                    0
                } else if b.0 == dialler {
                    1
                } else {
                    return None;
                };
                let (local, remote) = if here == 0 { (a, b) } else { (b, a) };
                let (mine, theirs) = (&g.sides[here], &g.sides[1 - here]);
                let opened_here = g.opener == here;
                let what = fate(proto, opened_here, mine, theirs, &g.errors);
                Some(Flow {
                    proto,
                    local,
                    remote,
                    opened_here,
                    first: g.first,
                    last: g.last,
                    sent: mine.packets,
                    received: theirs.packets,
                    syns: if opened_here { mine.syn } else { theirs.syn },
                    retransmitted: mine.retransmitted,
                    errors: g.errors.clone(),
                    what,
                })
            })
            .collect();
        out.sort_by(|x, y| {
            x.first
                .total_cmp(&y.first)
                .then_with(|| (x.proto, x.remote, x.local).cmp(&(y.proto, y.remote, y.local)))
        });
        out
    }
}

fn tcp(s: &mut Side, t: Tcp, payload: usize) {
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const ACK: u8 = 0x10;
    match (t.flags & SYN != 0, t.flags & ACK != 0) {
        (true, false) => s.syn += 1,
        (true, true) => s.syn_ack = true,
        _ => {}
    }
    if t.flags & RST != 0 {
        s.rst = true;
    }
    if payload > 0 {
        let end = t.seq.wrapping_add(payload as u32);
        match s.sent_to {
            // Sequence space wraps: "at or before" is a half-space behind.
            Some(to) if to.wrapping_sub(end) < (1 << 31) => s.retransmitted += 1,
            _ => s.sent_to = Some(end),
        }
    }
}

/// How a flow ended, from the dialler's side (`mine`) and the other's.
fn fate(proto: u8, opened_here: bool, mine: &Side, theirs: &Side, errors: &[(u8, u8)]) -> Fate {
    if let Some(&(kind, code)) = errors.first() {
        return Fate::IcmpError { kind, code };
    }
    if !opened_here {
        let answered = match proto {
            6 => mine.syn_ack || theirs.syn == 0,
            _ => mine.packets > 0,
        };
        return if answered {
            Fate::Works
        } else {
            Fate::UnansweredByDialler
        };
    }
    match proto {
        6 if theirs.rst => Fate::Reset,
        6 if mine.syn > 0 && !theirs.syn_ack => Fate::NoSynAck,
        1 | 58 if mine.echo_requests > 0 && theirs.echo_replies == 0 => Fate::NoEchoReply,
        17 if theirs.packets == 0 => Fate::NoAnswer,
        _ => Fate::Works,
    }
}
