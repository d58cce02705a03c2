//! Captures written for tests: frames built with etherparse, framed as a
//! pcap file or a pcapng section (little-endian, as capture tools write them).

use etherparse::{IpHeaders, LinuxSllPacketType, PacketBuilder, PacketBuilderStep, VlanId};

/// Link types, as both formats number them.
pub const ETHERNET: u32 = 1;
pub const RAW: u32 = 101;
pub const LINUX_SLL: u32 = 113;
pub const LINUX_SLL2: u32 = 276;

/// A legacy pcap file of one link type, microsecond timestamps; each frame
/// `(seconds, bytes, original length)`.
pub fn pcap(link: u32, frames: &[(f64, Vec<u8>, usize)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(0xa1b2_c3d4u32.to_le_bytes());
    out.extend(2u16.to_le_bytes());
    out.extend(4u16.to_le_bytes());
    out.extend(0i32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(65535u32.to_le_bytes());
    out.extend(link.to_le_bytes());
    for (at, bytes, orig) in frames {
        out.extend((*at as u32).to_le_bytes());
        out.extend((((at.fract()) * 1e6).round() as u32).to_le_bytes());
        out.extend((bytes.len() as u32).to_le_bytes());
        out.extend((*orig as u32).to_le_bytes());
        out.extend(bytes);
    }
    out
}

/// Frames a second apart, each as long as it was on the wire.
pub fn numbered(packets: impl IntoIterator<Item = Vec<u8>>) -> Vec<(f64, Vec<u8>, usize)> {
    packets
        .into_iter()
        .enumerate()
        .map(|(i, p)| {
            let n = p.len();
            (i as f64, p, n)
        })
        .collect()
}

/// A pcapng section with one interface per link type given; each frame
/// `(interface, seconds, bytes)`, in enhanced packet blocks.
pub fn pcapng(links: &[u32], frames: &[(u32, f64, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    // Section header: byte-order magic, version 1.0, section length unknown.
    let mut shb = Vec::new();
    shb.extend(0x1a2b_3c4du32.to_le_bytes());
    shb.extend(1u16.to_le_bytes());
    shb.extend(0u16.to_le_bytes());
    shb.extend((-1i64).to_le_bytes());
    block(&mut out, 0x0a0d_0d0a, &shb);
    for &l in links {
        let mut idb = Vec::new();
        idb.extend((l as u16).to_le_bytes());
        idb.extend(0u16.to_le_bytes());
        idb.extend(65535u32.to_le_bytes());
        block(&mut out, 1, &idb);
    }
    for (interface, at, bytes) in frames {
        let micros = (at * 1e6).round() as u64;
        let mut epb = Vec::new();
        epb.extend(interface.to_le_bytes());
        epb.extend(((micros >> 32) as u32).to_le_bytes());
        epb.extend((micros as u32).to_le_bytes());
        epb.extend((bytes.len() as u32).to_le_bytes());
        epb.extend((bytes.len() as u32).to_le_bytes());
        epb.extend(bytes);
        while epb.len() % 4 != 0 {
            epb.push(0);
        }
        block(&mut out, 6, &epb);
    }
    out
}

/// A pcapng block: type, total length, body, total length again.
fn block(out: &mut Vec<u8>, kind: u32, body: &[u8]) {
    let len = (body.len() + 12) as u32;
    out.extend(kind.to_le_bytes());
    out.extend(len.to_le_bytes());
    out.extend(body);
    out.extend(len.to_le_bytes());
}

pub const DIALLER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const ROUTER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// An Ethernet frame's builder, optionally VLAN-tagged.
pub fn ethernet(vlan: Option<u16>) -> Link {
    let b = PacketBuilder::ethernet2(DIALLER_MAC, ROUTER_MAC);
    match vlan {
        Some(v) => Link::Vlan(b.single_vlan(VlanId::try_new(v).expect("a VLAN id"))),
        None => Link::Ethernet(b),
    }
}

/// A Linux cooked (v1) frame's builder.
pub fn sll() -> Link {
    Link::Sll(PacketBuilder::linux_sll(
        LinuxSllPacketType::OUTGOING,
        6,
        [2, 0, 0, 0, 0, 1, 0, 0],
    ))
}

pub enum Link {
    Ethernet(PacketBuilderStep<etherparse::Ethernet2Header>),
    Vlan(PacketBuilderStep<etherparse::VlanHeader>),
    Sll(PacketBuilderStep<etherparse::LinuxSllHeader>),
}

/// What a frame carries.
pub enum Carry {
    Tcp {
        sport: u16,
        dport: u16,
        seq: u32,
        syn: bool,
        ack: bool,
        rst: bool,
    },
    /// A TCP segment with data, acknowledging `ack`.
    Data {
        sport: u16,
        dport: u16,
        seq: u32,
        ack: u32,
        payload: Vec<u8>,
    },
    Udp {
        sport: u16,
        dport: u16,
        payload: Vec<u8>,
    },
    EchoRequest {
        ident: u16,
    },
    EchoReply {
        ident: u16,
    },
    /// ICMP "administratively prohibited", sent by a firewall on the way,
    /// about an echo request from `dst` to `to`.
    Prohibited {
        ident: u16,
        to: [u8; 4],
    },
    /// ICMP port unreachable about a UDP datagram from `dst` to `src`.
    Unreachable {
        sport: u16,
        dport: u16,
    },
}

/// An IPv4 packet from `src` to `dst` on `link` (`None`: raw IP).
pub fn v4(link: Option<Link>, src: [u8; 4], dst: [u8; 4], carry: Carry) -> Vec<u8> {
    frame(link, Addrs::V4(src, dst), carry)
}

/// The same over IPv6 (ICMPv6 for the ICMP messages).
pub fn v6(link: Option<Link>, src: [u8; 16], dst: [u8; 16], carry: Carry) -> Vec<u8> {
    frame(link, Addrs::V6(src, dst), carry)
}

/// A packet's source and destination.
#[derive(Clone, Copy)]
enum Addrs {
    V4([u8; 4], [u8; 4]),
    V6([u8; 16], [u8; 16]),
}

impl Addrs {
    fn turned(self) -> Addrs {
        match self {
            Addrs::V4(s, d) => Addrs::V4(d, s),
            Addrs::V6(s, d) => Addrs::V6(d, s),
        }
    }

    fn builder(self, link: Option<Link>) -> PacketBuilderStep<IpHeaders> {
        match (self, link) {
            (Addrs::V4(s, d), None) => PacketBuilder::ipv4(s, d, 64),
            (Addrs::V6(s, d), None) => PacketBuilder::ipv6(s, d, 64),
            (Addrs::V4(s, d), Some(Link::Ethernet(b))) => b.ipv4(s, d, 64),
            (Addrs::V6(s, d), Some(Link::Ethernet(b))) => b.ipv6(s, d, 64),
            (Addrs::V4(s, d), Some(Link::Vlan(b))) => b.ipv4(s, d, 64),
            (Addrs::V6(s, d), Some(Link::Vlan(b))) => b.ipv6(s, d, 64),
            (Addrs::V4(s, d), Some(Link::Sll(b))) => b.ipv4(s, d, 64),
            (Addrs::V6(s, d), Some(Link::Sll(b))) => b.ipv6(s, d, 64),
        }
    }
}

fn frame(link: Option<Link>, addrs: Addrs, carry: Carry) -> Vec<u8> {
    let ip = addrs.builder(link);
    let v6 = matches!(addrs, Addrs::V6(..));
    // An ICMP error of (v4, v6) type and code about the packet `inner`.
    let error = |ip: PacketBuilderStep<IpHeaders>, v4: (u8, u8), v6c: (u8, u8), inner: &[u8]| {
        let mut out = Vec::new();
        if v6 {
            ip.icmpv6_raw(v6c.0, v6c.1, [0; 4]).write(&mut out, inner)
        } else {
            ip.icmpv4_raw(v4.0, v4.1, [0; 4]).write(&mut out, inner)
        }
        .expect("the error is written");
        out
    };
    let mut out = Vec::new();
    match carry {
        Carry::Tcp {
            sport,
            dport,
            seq,
            syn,
            ack,
            rst,
        } => {
            let mut t = ip.tcp(sport, dport, seq, 64240);
            if syn {
                t = t.syn();
            }
            if ack {
                t = t.ack(1);
            }
            if rst {
                t = t.rst();
            }
            t.write(&mut out, &[])
        }
        Carry::Data {
            sport,
            dport,
            seq,
            ack,
            payload,
        } => ip
            .tcp(sport, dport, seq, 64240)
            .ack(ack)
            .psh()
            .write(&mut out, &payload),
        Carry::Udp {
            sport,
            dport,
            payload,
        } => ip.udp(sport, dport).write(&mut out, &payload),
        Carry::EchoRequest { ident } if v6 => {
            ip.icmpv6_echo_request(ident, 1).write(&mut out, b"ping")
        }
        Carry::EchoRequest { ident } => ip.icmpv4_echo_request(ident, 1).write(&mut out, b"ping"),
        Carry::EchoReply { ident } if v6 => ip.icmpv6_echo_reply(ident, 1).write(&mut out, b"ping"),
        Carry::EchoReply { ident } => ip.icmpv4_echo_reply(ident, 1).write(&mut out, b"ping"),
        Carry::Prohibited { ident, to } => {
            let Addrs::V4(_, dst) = addrs else {
                panic!("an IPv4 prohibited message")
            };
            let inner = v4(None, dst, to, Carry::EchoRequest { ident });
            return error(ip, (3, 13), (1, 1), &inner);
        }
        Carry::Unreachable { sport, dport } => {
            let inner = frame(
                None,
                addrs.turned(),
                Carry::Udp {
                    sport,
                    dport,
                    payload: b"query".to_vec(),
                },
            );
            return error(ip, (3, 3), (1, 4), &inner);
        }
    }
    .expect("the frame is written");
    out
}

/// A Linux cooked v2 frame around an IP packet (EtherType 0x0800 or 0x86dd).
pub fn sll2(ether_type: u16, ip: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend(ether_type.to_be_bytes());
    out.extend([0, 0]); // reserved
    out.extend(2u32.to_be_bytes()); // interface index
    out.extend(1u16.to_be_bytes()); // ARPHRD_ETHER
    out.push(4); // outgoing
    out.push(6);
    out.extend([2, 0, 0, 0, 0, 1, 0, 0]);
    out.extend(ip);
    out
}

/// A UDP datagram over IPv6 (raw IP).
pub fn v6_udp(src: [u8; 16], dst: [u8; 16], sport: u16, dport: u16) -> Vec<u8> {
    let payload = b"query".to_vec();
    v6(
        None,
        src,
        dst,
        Carry::Udp {
            sport,
            dport,
            payload,
        },
    )
}

/// A DNS query for the A record of `name`.
pub fn dns_query(id: u16, name: &str) -> Vec<u8> {
    asking(simple_dns::Packet::new_query(id), name)
        .build_bytes_vec()
        .expect("the query is written")
}

/// The packet with a question for the A record of `name`.
fn asking<'a>(mut m: simple_dns::Packet<'a>, name: &'a str) -> simple_dns::Packet<'a> {
    use simple_dns::{CLASS, Name, Question, TYPE};
    m.questions.push(Question::new(
        Name::new_unchecked(name),
        TYPE::A.into(),
        CLASS::IN.into(),
        false,
    ));
    m
}

/// The response to [`dns_query`]: response code `rcode`, an A record per address.
pub fn dns_answer(id: u16, name: &str, rcode: simple_dns::RCODE, addrs: &[[u8; 4]]) -> Vec<u8> {
    use simple_dns::rdata::{A, RData};
    use simple_dns::{CLASS, Name, ResourceRecord};
    let mut m = asking(simple_dns::Packet::new_reply(id), name);
    *m.rcode_mut() = rcode;
    for a in addrs {
        m.answers.push(ResourceRecord::new(
            Name::new_unchecked(name),
            CLASS::IN,
            300,
            RData::A(A {
                address: u32::from_be_bytes(*a),
            }),
        ));
    }
    m.build_bytes_vec().expect("the answer is written")
}

/// A DNS query over IPv4 from `client` port `sport` to `server` port 53, and
/// the server's answer to it.
pub fn dns_exchange(
    (client, server): ([u8; 4], [u8; 4]),
    sport: u16,
    name: &str,
    rcode: simple_dns::RCODE,
    addrs: &[[u8; 4]],
) -> [Vec<u8>; 2] {
    let udp = |sport, dport, payload| Carry::Udp {
        sport,
        dport,
        payload,
    };
    [
        v4(None, client, server, udp(sport, 53, dns_query(sport, name))),
        v4(
            None,
            server,
            client,
            udp(53, sport, dns_answer(sport, name, rcode, addrs)),
        ),
    ]
}
