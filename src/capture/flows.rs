//! Flows of a capture and what became of each: the packets of one
//! connection (TCP, UDP, ICMP echo by identifier) gathered both ways, ICMP
//! errors filed under the flow they quote, and each flow the dialler opened
//! classified as working or by how it failed. Memory grows with the number
//! of flows, not of packets.

use super::read::{Dns, Seen, Tcp};
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
    /// What its DNS messages said, for a flow that carried any.
    pub dns: Option<DnsFlow>,
    pub what: Fate,
}

/// The DNS of one flow: the name asked and how it was answered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DnsFlow {
    pub name: Option<Box<str>>,
    /// Whether a response said "no error".
    pub answered: bool,
    /// The code of the first response that reported an error.
    pub error: Option<u8>,
    /// Addresses the answers gave (at most [`ADDRESSES`]).
    pub addresses: Vec<IpAddr>,
}

/// Addresses kept per DNS flow: enough for any real name, and memory stays
/// bounded by the number of flows whatever a capture's answers hold.
pub const ADDRESSES: usize = 16;

impl DnsFlow {
    fn add(&mut self, m: &Dns) {
        if self.name.is_none() {
            self.name.clone_from(&m.name);
        }
        if !m.response {
            return;
        }
        if m.rcode == 0 {
            self.answered = true;
            for &a in &m.addresses {
                if self.addresses.len() < ADDRESSES && !self.addresses.contains(&a) {
                    self.addresses.push(a);
                }
            }
        } else if self.error.is_none() {
            self.error = Some(m.rcode);
        }
    }
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
    /// TCP: the handshake completed, but data the dialler sent (and sent
    /// again) was never acknowledged.
    Stalled,
    /// DNS: the server answered, but only with an error (NXDOMAIN, SERVFAIL, …).
    DnsError {
        rcode: u8,
    },
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
            Fate::Stalled => "stalled",
            Fate::DnsError { .. } => "dns-error",
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
    /// The highest acknowledgment number sent.
    acked_to: Option<u32>,
}

#[derive(Debug, Clone)]
struct Gathered {
    first: f64,
    last: f64,
    /// Which side sent first: 0 for `a`, 1 for `b` of the key.
    opener: usize,
    sides: [Side; 2],
    errors: Vec<(u8, u8)>,
    dns: Option<Box<DnsFlow>>,
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
            dns: None,
        });
        if let Some(m) = &p.dns {
            f.dns.get_or_insert_default().add(m);
        }
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

    /// The flows a dialler is an end of, oriented from it (the first listed,
    /// should both ends be diallers) and classified, in the order they began.
    pub fn of(&self, diallers: &[IpAddr]) -> Vec<Flow> {
        let mut out: Vec<Flow> = self
            .flows
            .iter()
            .filter_map(|(&(proto, a, b), g)| {
                let rank = |e: End| diallers.iter().position(|&d| d == e.0);
                let here = match (rank(a), rank(b)) {
                    (Some(x), Some(y)) => usize::from(y < x),
                    (Some(_), None) => 0,
                    (None, Some(_)) => 1,
                    (None, None) => return None,
                };
                let (local, remote) = if here == 0 { (a, b) } else { (b, a) };
                let (mine, theirs) = (&g.sides[here], &g.sides[1 - here]);
                let opened_here = g.opener == here;
                let dns = g.dns.as_deref();
                let what = fate(proto, opened_here, mine, theirs, &g.errors, dns);
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
                    dns: dns.cloned(),
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
    if t.flags & ACK != 0 {
        match s.acked_to {
            Some(to) if behind(t.ack, to) => {}
            _ => s.acked_to = Some(t.ack),
        }
    }
    if payload > 0 {
        let end = t.seq.wrapping_add(payload as u32);
        match s.sent_to {
            Some(to) if behind(end, to) => s.retransmitted += 1,
            _ => s.sent_to = Some(end),
        }
    }
}

/// Whether sequence number `x` is at or before `y`. Sequence space wraps:
/// "at or before" is the half-space behind.
fn behind(x: u32, y: u32) -> bool {
    y.wrapping_sub(x) < (1 << 31)
}

/// How a flow ended, from the dialler's side (`mine`) and the other's.
fn fate(
    proto: u8,
    opened_here: bool,
    mine: &Side,
    theirs: &Side,
    errors: &[(u8, u8)],
    dns: Option<&DnsFlow>,
) -> Fate {
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
        6 if mine.retransmitted > 0
            && mine
                .sent_to
                .is_some_and(|end| !theirs.acked_to.is_some_and(|a| behind(end, a))) =>
        {
            Fate::Stalled
        }
        1 | 58 if mine.echo_requests > 0 && theirs.echo_replies == 0 => Fate::NoEchoReply,
        17 if theirs.packets == 0 => Fate::NoAnswer,
        _ => match dns {
            Some(&DnsFlow {
                answered: false,
                error: Some(rcode),
                ..
            }) => Fate::DnsError { rcode },
            _ => Fate::Works,
        },
    }
}
