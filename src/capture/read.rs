//! Reading a capture: pcap or pcapng blocks (pcap-parser, streamed through a
//! fixed buffer, so memory does not grow with the file), each frame decoded
//! by etherparse from its link type down to what the flow analysis needs.
//! Frames that carry no IP packet (ARP, spanning tree, …) are counted and
//! left out; frames the capture's snap length cut short keep the headers
//! that fit.

use etherparse::{
    EtherType, LaxNetSlice, LaxSlicedPacket, LinuxSllProtocolType, LinuxSllSlice, TransportSlice,
};
use pcap_parser::{Block, Linktype, PcapBlockOwned, PcapError};
use std::io::Read;
use std::net::IpAddr;

/// One IP packet of the capture, as far as flows are concerned.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// Seconds since the Unix epoch.
    pub at: f64,
    pub src: IpAddr,
    pub dst: IpAddr,
    /// The IP protocol (after IPv6 extension headers).
    pub proto: u8,
    /// Ports of TCP and UDP; 0 otherwise.
    pub sport: u16,
    pub dport: u16,
    pub tcp: Option<Tcp>,
    pub icmp: Option<Icmp>,
    /// Bytes of transport payload (TCP and UDP), as the headers give it.
    pub payload: usize,
    /// A DNS message carried over UDP port 53, when it reads whole.
    pub dns: Option<Dns>,
}

/// What a DNS message says, as far as fault-finding goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Dns {
    pub response: bool,
    /// The response code: 0 no error, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED, …
    pub rcode: u8,
    /// The first question's name, lower case without the final dot.
    pub name: Option<Box<str>>,
    /// The addresses of the answer's A and AAAA records.
    pub addresses: Vec<IpAddr>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tcp {
    /// The flag byte: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, …
    pub flags: u8,
    pub seq: u32,
    /// The acknowledgment number (meaningful with the ACK flag).
    pub ack: u32,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Icmp {
    pub kind: u8,
    pub code: u8,
    /// The identifier of an echo request or reply.
    pub ident: Option<u16>,
    /// For an error (unreachable, time exceeded, …), the packet it is about,
    /// as its header quotes it.
    pub about: Option<Quoted>,
}

/// The packet an ICMP error quotes: enough to find its flow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quoted {
    pub src: IpAddr,
    pub dst: IpAddr,
    pub proto: u8,
    pub sport: u16,
    pub dport: u16,
}

/// What a capture held besides its IP packets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Summary {
    pub frames: u64,
    /// Frames with an IP packet, handed on.
    pub packets: u64,
    /// Frames without one (or of a link type not read), left out.
    pub other: u64,
    /// Frames the snap length cut short.
    pub cut: u64,
}

/// A capture that cannot be read, and the byte where reading stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct CaptureError {
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for CaptureError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "byte {}: {}", self.offset, self.message)
    }
}

/// The buffer blocks are read through; one block (a frame) must fit.
const BUFFER: usize = 1 << 18;

/// A pcapng interface: how its frames and timestamps are written.
struct Interface {
    link: Linktype,
    /// Timestamp units per second.
    resolution: u64,
    offset: u64,
}

/// Reads every block of a capture, giving each IP packet to `each` in order.
pub fn read(input: impl Read + Send, mut each: impl FnMut(Seen)) -> Result<Summary, CaptureError> {
    let mut reader = pcap_parser::create_reader(BUFFER, input).map_err(|e| CaptureError {
        offset: 0,
        message: match e {
            PcapError::Eof => "the file is empty".into(),
            PcapError::HeaderNotRecognized => {
                "not a pcap or pcapng capture (its first bytes are neither format's magic number)"
                    .into()
            }
            e => format!("the capture's header cannot be read ({e:?})"),
        },
    })?;
    let mut summary = Summary::default();
    let mut legacy: Option<(Linktype, u64)> = None;
    let mut interfaces: Vec<Interface> = Vec::new();
    // Bytes consumed before the reader's buffer: where it stands in the file.
    let mut offset: u64 = 0;
    loop {
        match reader.next() {
            Ok((used, block)) => {
                let frame = match block {
                    PcapBlockOwned::LegacyHeader(h) => {
                        let units = if h.is_nanosecond_precision() {
                            1_000_000_000
                        } else {
                            1_000_000
                        };
                        legacy = Some((h.network, units));
                        None
                    }
                    PcapBlockOwned::Legacy(b) => {
                        let (link, units) = legacy.expect("the header comes first");
                        let at = b.ts_sec as f64 + b.ts_usec as f64 / units as f64;
                        Some((link, at, b.data, b.caplen < b.origlen))
                    }
                    PcapBlockOwned::NG(Block::SectionHeader(_)) => {
                        interfaces.clear();
                        None
                    }
                    PcapBlockOwned::NG(Block::InterfaceDescription(i)) => {
                        interfaces.push(Interface {
                            link: i.linktype,
                            resolution: i.ts_resolution().unwrap_or(1_000_000),
                            offset: i.if_tsoffset.max(0) as u64,
                        });
                        None
                    }
                    PcapBlockOwned::NG(Block::EnhancedPacket(p)) => {
                        let Some(i) = interfaces.get(p.if_id as usize) else {
                            return Err(CaptureError {
                                offset,
                                message: format!(
                                    "a packet of interface {}, which no interface description block before it declares",
                                    p.if_id
                                ),
                            });
                        };
                        let at = p.decode_ts_f64(i.offset, i.resolution);
                        // What packet_data() gives, but for the buffer's lifetime.
                        let data = &p.data[..(p.caplen as usize).min(p.data.len())];
                        Some((i.link, at, data, p.caplen < p.origlen))
                    }
                    PcapBlockOwned::NG(Block::SimplePacket(p)) => {
                        let Some(i) = interfaces.first() else {
                            return Err(CaptureError {
                                offset,
                                message:
                                    "a simple packet block before any interface description block"
                                        .into(),
                            });
                        };
                        Some((i.link, 0.0, p.data, (p.data.len() as u32) < p.origlen))
                    }
                    PcapBlockOwned::NG(_) => None,
                };
                if let Some((link, at, data, cut)) = frame {
                    summary.frames += 1;
                    summary.cut += u64::from(cut);
                    match decode(link, data) {
                        Some(mut seen) => {
                            seen.at = at;
                            summary.packets += 1;
                            each(seen);
                        }
                        None => summary.other += 1,
                    }
                }
                offset += used as u64;
                reader.consume(used);
            }
            Err(PcapError::Eof) => return Ok(summary),
            Err(PcapError::Incomplete(_)) => {
                if reader.reader_exhausted() {
                    return Err(truncated(offset));
                }
                let before = reader.data().len();
                reader.refill().map_err(|e| CaptureError {
                    offset,
                    message: format!("the capture cannot be read on ({e:?})"),
                })?;
                if reader.data().len() == before && !reader.reader_exhausted() {
                    return Err(too_long(offset));
                }
            }
            Err(PcapError::UnexpectedEof) => return Err(truncated(offset)),
            Err(PcapError::BufferTooSmall) => return Err(too_long(offset)),
            Err(e) => {
                return Err(CaptureError {
                    offset,
                    message: format!("a block cannot be read ({e:?})"),
                });
            }
        }
    }
}

fn too_long(offset: u64) -> CaptureError {
    CaptureError {
        offset,
        message: format!("a block longer than {BUFFER} bytes, which no frame of a capture needs"),
    }
}

fn truncated(offset: u64) -> CaptureError {
    CaptureError {
        offset,
        message: "the capture is truncated: it ends inside the block that starts here".into(),
    }
}

/// The IP packet of a frame of link type `link`, if it holds one.
fn decode(link: Linktype, data: &[u8]) -> Option<Seen> {
    let sliced = match link {
        Linktype::ETHERNET => LaxSlicedPacket::from_ethernet(data).ok()?,
        Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => LaxSlicedPacket::from_ip(data).ok()?,
        Linktype::LINUX_SLL => {
            let sll = LinuxSllSlice::from_slice(data).ok()?;
            let LinuxSllProtocolType::EtherType(t) = sll.protocol_type() else {
                return None;
            };
            LaxSlicedPacket::from_ether_type(t, &data[sll.header_slice().len()..])
        }
        Linktype::LINUX_SLL2 => {
            // The cooked v2 header: the protocol's EtherType first, 20 bytes in all.
            let t = u16::from_be_bytes([*data.first()?, *data.get(1)?]);
            LaxSlicedPacket::from_ether_type(EtherType(t), data.get(20..)?)
        }
        _ => return None,
    };
    let (src, dst, proto, transport) = ends(sliced.net.as_ref()?)?;
    let mut seen = Seen {
        at: 0.0,
        src,
        dst,
        proto,
        sport: 0,
        dport: 0,
        tcp: None,
        icmp: None,
        payload: 0,
        dns: None,
    };
    match sliced.transport {
        Some(TransportSlice::Tcp(t)) => {
            seen.sport = t.source_port();
            seen.dport = t.destination_port();
            seen.tcp = Some(Tcp {
                flags: t.slice()[13],
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
            });
            seen.payload = t.payload().len();
        }
        Some(TransportSlice::Udp(u)) => {
            seen.sport = u.source_port();
            seen.dport = u.destination_port();
            seen.payload = u.payload().len();
            if seen.sport == 53 || seen.dport == 53 {
                seen.dns = dns(u.payload());
            }
        }
        Some(TransportSlice::Icmpv4(i)) => {
            let (kind, code) = (i.type_u8(), i.code_u8());
            seen.icmp = Some(icmp(
                kind,
                code,
                matches!(kind, 0 | 8),
                matches!(kind, 3 | 4 | 5 | 11 | 12),
                i.slice(),
                false,
            ));
        }
        Some(TransportSlice::Icmpv6(i)) => {
            let (kind, code) = (i.type_u8(), i.code_u8());
            seen.icmp = Some(icmp(
                kind,
                code,
                matches!(kind, 128 | 129),
                kind < 128,
                i.slice(),
                true,
            ));
        }
        None => {
            // An ICMP header the lax slicer could not take whole (cut short).
            if matches!(proto, 1 | 58) && transport.len() >= 2 {
                seen.icmp = Some(Icmp {
                    kind: transport[0],
                    code: transport[1],
                    ident: None,
                    about: None,
                });
            }
        }
    }
    Some(seen)
}

/// The DNS message of a UDP payload, if it reads whole (simple-dns).
fn dns(payload: &[u8]) -> Option<Dns> {
    use simple_dns::rdata::RData;
    let m = simple_dns::Packet::parse(payload).ok()?;
    let addresses = m
        .answers
        .iter()
        .filter_map(|r| match &r.rdata {
            RData::A(a) => Some(IpAddr::from(std::net::Ipv4Addr::from(a.address))),
            RData::AAAA(a) => Some(IpAddr::from(std::net::Ipv6Addr::from(a.address))),
            _ => None,
        })
        .collect();
    Some(Dns {
        response: m.has_flags(simple_dns::PacketFlag::RESPONSE),
        rcode: m.rcode() as u8,
        name: m
            .questions
            .first()
            .map(|q| crate::model::dns_name(&q.qname.to_string()).into()),
        addresses,
    })
}

/// An IP packet's addresses, protocol and transport bytes.
fn ends<'a>(net: &LaxNetSlice<'a>) -> Option<(IpAddr, IpAddr, u8, &'a [u8])> {
    match net {
        LaxNetSlice::Ipv4(ip) => Some((
            IpAddr::from(ip.header().source()),
            IpAddr::from(ip.header().destination()),
            ip.payload().ip_number.0,
            ip.payload().payload,
        )),
        LaxNetSlice::Ipv6(ip) => Some((
            IpAddr::from(ip.header().source()),
            IpAddr::from(ip.header().destination()),
            ip.payload().ip_number.0,
            ip.payload().payload,
        )),
        LaxNetSlice::Arp(_) => None,
    }
}

/// An ICMP message (header and body `bytes`): its echo identifier, or the
/// packet an error quotes after its 8-byte header.
fn icmp(kind: u8, code: u8, echo: bool, error: bool, bytes: &[u8], v6: bool) -> Icmp {
    let ident = echo
        .then(|| bytes.get(4..6).map(|b| u16::from_be_bytes([b[0], b[1]])))
        .flatten();
    let about = error.then(|| bytes.get(8..)).flatten().and_then(|inner| {
        let q = if v6 {
            LaxSlicedPacket::from_ether_type(EtherType::IPV6, inner)
        } else {
            LaxSlicedPacket::from_ether_type(EtherType::IPV4, inner)
        };
        // Only the first 8 bytes of the quoted transport header are sure to
        // be there: its ports, or an echo request's identifier (which keys
        // echo flows as both their ports).
        let (src, dst, proto, ports) = ends(q.net.as_ref()?)?;
        let (sport, dport) = match (proto, ports.get(..6)) {
            (6 | 17, Some(p)) => (
                u16::from_be_bytes([p[0], p[1]]),
                u16::from_be_bytes([p[2], p[3]]),
            ),
            (1, Some(p)) if p[0] == 8 => {
                let id = u16::from_be_bytes([p[4], p[5]]);
                (id, id)
            }
            (58, Some(p)) if p[0] == 128 => {
                let id = u16::from_be_bytes([p[4], p[5]]);
                (id, id)
            }
            _ => (0, 0),
        };
        Some(Quoted {
            src,
            dst,
            proto,
            sport,
            dport,
        })
    });
    Icmp {
        kind,
        code,
        ident,
        about,
    }
}
