//! Reading captures (`octaverify::capture::read`) on files written here:
//! pcap and pcapng, each link type, VLAN tags, IPv6, ICMP errors, frames
//! cut short, and files that are not captures or end inside a block.

#[path = "support/capture.rs"]
mod capture;

use capture::*;
use octaverify::capture::read::{CaptureError, Seen, Summary, read};
use std::net::IpAddr;

const DIALLER: [u8; 4] = [192, 168, 1, 10];
const SERVER: [u8; 4] = [203, 0, 113, 7];

fn all(bytes: &[u8]) -> Result<(Vec<Seen>, Summary), CaptureError> {
    let mut seen = Vec::new();
    let summary = read(bytes, |s| seen.push(s))?;
    Ok((seen, summary))
}

fn syn(sport: u16, dport: u16) -> Carry {
    Carry::Tcp {
        sport,
        dport,
        seq: 1000,
        syn: true,
        ack: false,
        rst: false,
    }
}

#[test]
fn pcap_ethernet_frames_read_into_packets() {
    let frames = [
        (
            10.5,
            v4(Some(ethernet(None)), DIALLER, SERVER, syn(40000, 443)),
            0,
        ),
        (
            11.25,
            v4(
                Some(ethernet(None)),
                DIALLER,
                [8, 8, 8, 8],
                Carry::Udp {
                    sport: 5353,
                    dport: 53,
                    payload: b"query".to_vec(),
                },
            ),
            0,
        ),
    ]
    .map(|(at, b, _)| {
        let n = b.len();
        (at, b, n)
    });
    let (seen, summary) = all(&pcap(ETHERNET, &frames)).unwrap();
    assert_eq!(summary.frames, 2);
    assert_eq!(summary.packets, 2);
    assert_eq!(seen[0].src, IpAddr::from(DIALLER));
    assert_eq!(seen[0].dst, IpAddr::from(SERVER));
    assert_eq!(
        (seen[0].proto, seen[0].sport, seen[0].dport),
        (6, 40000, 443)
    );
    let tcp = seen[0].tcp.expect("a TCP header");
    assert_eq!((tcp.flags, tcp.seq), (0x02, 1000));
    assert!((seen[0].at - 10.5).abs() < 1e-6);
    assert_eq!((seen[1].proto, seen[1].dport, seen[1].payload), (17, 53, 5));
    assert!((seen[1].at - 11.25).abs() < 1e-6);
}

#[test]
fn every_link_type_and_vlan_tags_give_the_same_packet() {
    let ip = v4(None, DIALLER, SERVER, syn(1, 2));
    let framed = [
        (
            ETHERNET,
            v4(Some(ethernet(None)), DIALLER, SERVER, syn(1, 2)),
        ),
        (
            ETHERNET,
            v4(Some(ethernet(Some(42))), DIALLER, SERVER, syn(1, 2)),
        ),
        (LINUX_SLL, v4(Some(sll()), DIALLER, SERVER, syn(1, 2))),
        (LINUX_SLL2, sll2(0x0800, &ip)),
        (RAW, ip.clone()),
    ];
    for (link, frame) in framed {
        let n = frame.len();
        let (seen, summary) = all(&pcap(link, &[(1.0, frame, n)])).unwrap();
        assert_eq!(summary.packets, 1, "link type {link}");
        assert_eq!(
            (seen[0].src, seen[0].dst, seen[0].sport, seen[0].dport),
            (IpAddr::from(DIALLER), IpAddr::from(SERVER), 1, 2),
            "link type {link}"
        );
    }
}

#[test]
fn pcapng_interfaces_keep_their_link_types_and_ipv6_is_read() {
    let a: [u8; 16] = [0x20, 0x01, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
    let b: [u8; 16] = [0x20, 0x01, 0xd, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];
    let bytes = pcapng(
        &[ETHERNET, RAW],
        &[
            (
                0,
                100.0,
                v4(Some(ethernet(None)), DIALLER, SERVER, syn(5, 6)),
            ),
            (1, 100.5, v6_udp(a, b, 40000, 53)),
        ],
    );
    let (seen, summary) = all(&bytes).unwrap();
    assert_eq!(summary.packets, 2);
    assert_eq!(seen[1].src, IpAddr::from(a));
    assert_eq!((seen[1].proto, seen[1].dport), (17, 53));
    assert!((seen[1].at - 100.5).abs() < 1e-6);
}

#[test]
fn each_pcapng_section_numbers_its_own_interfaces() {
    // Two sections (two captures joined, as mergecap writes them): interface
    // 0 is raw IP in the first and Linux cooked v2 in the second.
    let ip = v4(None, DIALLER, SERVER, syn(5, 6));
    let mut bytes = pcapng(&[RAW, ETHERNET], &[(0, 1.0, ip.clone())]);
    bytes.extend(pcapng(&[LINUX_SLL2], &[(0, 2.0, sll2(0x0800, &ip))]));
    let (seen, summary) = all(&bytes).unwrap();
    assert_eq!((summary.frames, summary.packets), (2, 2));
    assert_eq!(seen[0].src, seen[1].src);
    assert_eq!((seen[1].sport, seen[1].dport), (5, 6));
    // The first section's second interface is gone in the second section.
    let mut bad = pcapng(&[RAW, ETHERNET], &[]);
    let at = bad.len() as u64;
    bad.extend(pcapng(&[RAW], &[(1, 2.0, ip)]));
    let err = all(&bad).unwrap_err();
    assert!(err.message.contains("interface 1"), "{err}");
    assert!(err.offset > at, "{err} (the second section starts at {at})");
}

#[test]
fn an_icmp_error_names_the_packet_it_is_about() {
    let frame = v4(
        Some(ethernet(None)),
        SERVER,
        DIALLER,
        Carry::Unreachable {
            sport: 40000,
            dport: 53,
        },
    );
    let n = frame.len();
    let (seen, _) = all(&pcap(ETHERNET, &[(1.0, frame, n)])).unwrap();
    let icmp = seen[0].icmp.expect("an ICMP message");
    assert_eq!((icmp.kind, icmp.code), (3, 3));
    let about = icmp.about.expect("the quoted datagram");
    assert_eq!(about.src, IpAddr::from(DIALLER));
    assert_eq!((about.proto, about.sport, about.dport), (17, 40000, 53));

    let echo = v4(None, DIALLER, SERVER, Carry::EchoRequest { ident: 77 });
    let n = echo.len();
    let (seen, _) = all(&pcap(RAW, &[(1.0, echo, n)])).unwrap();
    assert_eq!(seen[0].icmp.expect("ICMP").ident, Some(77));
}

#[test]
fn frames_without_ip_are_counted_and_cut_frames_keep_their_headers() {
    // An ARP request: no IP packet.
    let mut arp = Vec::new();
    arp.extend(ROUTER_MAC);
    arp.extend(DIALLER_MAC);
    arp.extend([0x08, 0x06]);
    arp.extend([0u8; 28]);
    let full = v4(
        Some(ethernet(None)),
        DIALLER,
        SERVER,
        Carry::Udp {
            sport: 1,
            dport: 2,
            payload: vec![0; 400],
        },
    );
    let cut = full[..60].to_vec();
    let (seen, summary) = all(&pcap(
        ETHERNET,
        &[(1.0, arp.clone(), arp.len()), (2.0, cut, full.len())],
    ))
    .unwrap();
    assert_eq!(
        (summary.frames, summary.packets, summary.other, summary.cut),
        (2, 1, 1, 1)
    );
    assert_eq!((seen[0].sport, seen[0].dport), (1, 2));
}

#[test]
fn a_truncated_capture_says_where_its_last_block_starts() {
    let frame = v4(Some(ethernet(None)), DIALLER, SERVER, syn(1, 2));
    let n = frame.len();
    let bytes = pcap(ETHERNET, &[(1.0, frame.clone(), n), (2.0, frame, n)]);
    let second = 24 + 16 + n;
    let err = all(&bytes[..bytes.len() - 10]).unwrap_err();
    assert_eq!(err.offset, second as u64, "{err}");
    assert!(err.message.contains("truncated"), "{err}");

    let ng = pcapng(
        &[ETHERNET],
        &[(0, 1.0, v4(Some(ethernet(None)), DIALLER, SERVER, syn(1, 2)))],
    );
    let err = all(&ng[..ng.len() - 3]).unwrap_err();
    assert!(err.message.contains("truncated"), "{err}");
}

#[test]
fn what_is_no_capture_is_refused_at_byte_0() {
    let err = all(b"*filter\n:FORWARD DROP [0:0]\nCOMMIT\n").unwrap_err();
    assert_eq!(err.offset, 0);
    assert!(
        err.message.contains("not a pcap or pcapng capture"),
        "{err}"
    );
    let err = all(b"").unwrap_err();
    assert!(err.message.contains("empty"), "{err}");
}

mod flows {
    use super::*;
    use octaverify::capture::flows::{Fate, Flow, Flows};

    fn tcp(sport: u16, dport: u16, syn: bool, ack: bool, rst: bool) -> Carry {
        Carry::Tcp {
            sport,
            dport,
            seq: 1000,
            syn,
            ack,
            rst,
        }
    }

    /// The dialler's flows in a capture of these packets (raw IP, a
    /// second apart), with the dialler found as the busiest address.
    fn flows_of(packets: Vec<Vec<u8>>) -> Vec<Flow> {
        let frames = numbered(packets);
        let mut flows = Flows::default();
        read(&pcap(RAW, &frames)[..], |p| flows.add(&p)).unwrap();
        let dialler = flows.busiest().expect("packets were read");
        assert_eq!(dialler, IpAddr::from(DIALLER));
        flows.of(&[dialler])
    }

    #[test]
    fn each_way_of_failing_is_told_apart() {
        let dns = [8, 8, 8, 8];
        let udp = |sport, dport| Carry::Udp {
            sport,
            dport,
            payload: b"q".to_vec(),
        };
        let f = flows_of(vec![
            // 443: three SYNs, nothing back.
            v4(None, DIALLER, SERVER, tcp(40001, 443, true, false, false)),
            v4(None, DIALLER, SERVER, tcp(40001, 443, true, false, false)),
            v4(None, DIALLER, SERVER, tcp(40001, 443, true, false, false)),
            // 8443: refused with a reset.
            v4(None, DIALLER, SERVER, tcp(40002, 8443, true, false, false)),
            v4(None, SERVER, DIALLER, tcp(8443, 40002, false, true, true)),
            // 4443: a whole handshake.
            v4(None, DIALLER, SERVER, tcp(40003, 4443, true, false, false)),
            v4(None, SERVER, DIALLER, tcp(4443, 40003, true, true, false)),
            v4(None, DIALLER, SERVER, tcp(40003, 4443, false, true, false)),
            // DNS: one query answered, one not.
            v4(None, DIALLER, dns, udp(5000, 53)),
            v4(None, dns, DIALLER, udp(53, 5000)),
            v4(None, DIALLER, dns, udp(5001, 53)),
            // Echo without reply, and with one.
            v4(None, DIALLER, SERVER, Carry::EchoRequest { ident: 9 }),
            v4(None, DIALLER, SERVER, Carry::EchoRequest { ident: 10 }),
            v4(None, SERVER, DIALLER, Carry::EchoReply { ident: 10 }),
            // UDP 137, answered by port unreachable.
            v4(None, DIALLER, SERVER, udp(40000, 137)),
            v4(
                None,
                SERVER,
                DIALLER,
                Carry::Unreachable {
                    sport: 40000,
                    dport: 137,
                },
            ),
            // Echo refused by a firewall on the way.
            v4(None, DIALLER, SERVER, Carry::EchoRequest { ident: 11 }),
            v4(
                None,
                [10, 0, 0, 1],
                DIALLER,
                Carry::Prohibited {
                    ident: 11,
                    to: SERVER,
                },
            ),
            // The web interface opened from a management PC, not answered.
            v4(
                None,
                [10, 0, 0, 30],
                DIALLER,
                tcp(50000, 80, true, false, false),
            ),
        ]);
        let fate_of = |proto: u8, port: u16| {
            f.iter()
                .find(|x| x.proto == proto && (x.remote.1 == port || x.local.1 == port))
                .unwrap_or_else(|| panic!("a flow of {proto}/{port} in {f:#?}"))
        };
        assert_eq!(fate_of(6, 443).what, Fate::NoSynAck);
        assert_eq!(fate_of(6, 443).syns, 3);
        assert_eq!(fate_of(6, 8443).what, Fate::Reset);
        assert_eq!(fate_of(6, 4443).what, Fate::Works);
        assert_eq!(fate_of(17, 53).what, Fate::Works);
        assert_eq!(fate_of(17, 53).received, 1);
        assert!(
            f.iter()
                .any(|x| x.local.1 == 5001 && x.what == Fate::NoAnswer)
        );
        assert_eq!(fate_of(1, 9).what, Fate::NoEchoReply);
        assert_eq!(fate_of(1, 10).what, Fate::Works);
        assert_eq!(fate_of(17, 137).what, Fate::IcmpError { kind: 3, code: 3 });
        assert_eq!(fate_of(1, 11).what, Fate::IcmpError { kind: 3, code: 13 });
        let web = fate_of(6, 80);
        assert!(!web.opened_here);
        assert_eq!(web.what, Fate::UnansweredByDialler);
        assert!(f.iter().all(|x| !x.storm()));
    }

    #[test]
    fn ipv6_flows_are_classified_the_same_way() {
        let dialler: [u8; 16] = [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10];
        let server: [u8; 16] = [0x20, 0x01, 0x4, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];
        let frames = numbered([
            v6_udp(dialler, server, 40000, 53),
            v6_udp(dialler, server, 40000, 53),
            v6_udp(dialler, server, 40001, 123),
            v6_udp(server, dialler, 123, 40001),
        ]);
        let mut flows = Flows::default();
        read(&pcap(RAW, &frames)[..], |p| flows.add(&p)).unwrap();
        assert_eq!(flows.busiest(), Some(IpAddr::from(dialler)));
        let f = flows.of(&[IpAddr::from(dialler)]);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].remote.1, f[0].what, f[0].sent),
            (53, Fate::NoAnswer, 2)
        );
        assert_eq!((f[1].remote.1, f[1].what), (123, Fate::Works));
    }

    #[test]
    fn data_sent_again_and_never_acknowledged_is_a_stalled_connection() {
        let data = |sport, seq, ack| Carry::Data {
            sport,
            dport: 443,
            seq,
            ack,
            payload: b"client hello".to_vec(),
        };
        let answer = |dport, ack| Carry::Tcp {
            sport: 443,
            dport,
            seq: 5000,
            syn: true,
            ack,
            rst: false,
        };
        let f = flows_of(vec![
            // Handshake, then the hello three times: never acknowledged.
            v4(None, DIALLER, SERVER, tcp(40000, 443, true, false, false)),
            v4(None, SERVER, DIALLER, answer(40000, true)),
            v4(None, DIALLER, SERVER, data(40000, 1001, 5001)),
            v4(None, DIALLER, SERVER, data(40000, 1001, 5001)),
            v4(None, DIALLER, SERVER, data(40000, 1001, 5001)),
            // The same, sent twice but acknowledged in the end: it works.
            v4(None, DIALLER, SERVER, tcp(40001, 443, true, false, false)),
            v4(None, SERVER, DIALLER, answer(40001, true)),
            v4(None, DIALLER, SERVER, data(40001, 1001, 5001)),
            v4(None, DIALLER, SERVER, data(40001, 1001, 5001)),
            v4(
                None,
                SERVER,
                DIALLER,
                Carry::Data {
                    sport: 443,
                    dport: 40001,
                    seq: 5001,
                    ack: 1001 + 12,
                    payload: b"server hello".to_vec(),
                },
            ),
        ]);
        assert_eq!(f.len(), 2, "{f:#?}");
        assert_eq!((f[0].what, f[0].retransmitted), (Fate::Stalled, 2));
        assert_eq!((f[1].what, f[1].retransmitted), (Fate::Works, 1));
    }

    #[test]
    fn a_dns_error_is_told_from_no_answer_and_answers_keep_their_addresses() {
        use simple_dns::RCODE;
        let dns = [8, 8, 8, 8];
        let udp = |sport, dport, payload| Carry::Udp {
            sport,
            dport,
            payload,
        };
        let [nx_query, nx] = dns_exchange(
            (DIALLER, dns),
            5001,
            "vpn.octalarm.nl",
            RCODE::NameError,
            &[],
        );
        let [fail_query, fail] = dns_exchange(
            (DIALLER, dns),
            5002,
            "vpn.octalarm.com",
            RCODE::ServerFailure,
            &[],
        );
        let f = flows_of(vec![
            v4(
                None,
                DIALLER,
                dns,
                udp(5000, 53, dns_query(1, "Config.Octalarm.NL.")),
            ),
            v4(
                None,
                dns,
                DIALLER,
                udp(
                    53,
                    5000,
                    dns_answer(1, "config.octalarm.nl", RCODE::NoError, &[SERVER]),
                ),
            ),
            nx_query,
            nx,
            fail_query,
            fail,
            // Not DNS at all on port 53: an answer is an answer.
            v4(None, DIALLER, dns, udp(5003, 53, b"q".to_vec())),
            v4(None, dns, DIALLER, udp(53, 5003, b"a".to_vec())),
        ]);
        let by_port = |p: u16| f.iter().find(|x| x.local.1 == p).expect("the flow");
        let ok = by_port(5000);
        assert_eq!(ok.what, Fate::Works);
        let d = ok.dns.as_ref().expect("DNS was read");
        assert_eq!(d.name.as_deref(), Some("config.octalarm.nl"));
        assert_eq!(d.addresses, [IpAddr::from(SERVER)]);
        assert_eq!(by_port(5001).what, Fate::DnsError { rcode: 3 });
        assert_eq!(by_port(5002).what, Fate::DnsError { rcode: 2 });
        assert_eq!(by_port(5003).what, Fate::Works);
        assert!(by_port(5003).dns.is_none());
    }

    #[test]
    fn unanswered_datagrams_sent_on_and_on_are_a_storm_too() {
        let mut packets = Vec::new();
        for _ in 0..30 {
            packets.push(v4(
                None,
                DIALLER,
                SERVER,
                Carry::Udp {
                    sport: 40000,
                    dport: 1194,
                    payload: b"hello".to_vec(),
                },
            ));
        }
        // A few unanswered datagrams elsewhere are no storm.
        for _ in 0..3 {
            packets.push(v4(
                None,
                DIALLER,
                SERVER,
                Carry::Udp {
                    sport: 40001,
                    dport: 5060,
                    payload: b"hello".to_vec(),
                },
            ));
        }
        let f = flows_of(packets);
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].what, f[0].sent, f[0].storm()),
            (Fate::NoAnswer, 30, true)
        );
        assert_eq!((f[1].what, f[1].storm()), (Fate::NoAnswer, false));
    }

    #[test]
    fn every_dialler_given_has_its_flows_and_one_between_two_is_the_first_ones() {
        let other = [192, 168, 1, 11];
        let frames = numbered([
            v4(None, DIALLER, SERVER, Carry::EchoRequest { ident: 1 }),
            v4(None, other, SERVER, Carry::EchoRequest { ident: 2 }),
            v4(None, other, DIALLER, Carry::EchoRequest { ident: 3 }),
            v4(None, [10, 0, 0, 1], SERVER, Carry::EchoRequest { ident: 4 }),
        ]);
        let mut flows = Flows::default();
        read(&pcap(RAW, &frames)[..], |p| flows.add(&p)).unwrap();
        let f = flows.of(&[IpAddr::from(DIALLER), IpAddr::from(other)]);
        let ends: Vec<(IpAddr, IpAddr, bool)> = f
            .iter()
            .map(|x| (x.local.0, x.remote.0, x.opened_here))
            .collect();
        assert_eq!(
            ends,
            [
                (DIALLER.into(), SERVER.into(), true),
                (other.into(), SERVER.into(), true),
                (DIALLER.into(), other.into(), false),
            ]
        );
    }

    #[test]
    fn a_dialler_that_keeps_sending_into_silence_is_a_storm() {
        let mut packets = Vec::new();
        for _ in 0..25 {
            packets.push(v4(
                None,
                DIALLER,
                SERVER,
                tcp(40000, 443, true, false, false),
            ));
        }
        let f = flows_of(packets);
        assert_eq!(f.len(), 1);
        assert!(f[0].storm(), "{f:#?}");
        assert_eq!(f[0].sent, 25);
    }
}

#[test]
fn a_flow_belongs_to_the_requirements_of_its_traffic_and_places() {
    use octaverify::capture::flows::Flows;
    use octaverify::capture::needs::requirements_of;
    use octaverify::requirements::RequirementSet;
    let public = [1, 1, 1, 1];
    let dns = [192, 168, 1, 254];
    let packets = [
        v4(None, DIALLER, public, syn(40000, 443)),
        v4(
            None,
            DIALLER,
            dns,
            Carry::Udp {
                sport: 5000,
                dport: 53,
                payload: b"q".to_vec(),
            },
        ),
        v4(None, DIALLER, public, Carry::EchoRequest { ident: 1 }),
        v4(None, [10, 0, 0, 30], DIALLER, syn(50000, 80)),
    ];
    let frames = numbered(packets);
    let mut flows = Flows::default();
    read(&pcap(RAW, &frames)[..], |p| flows.add(&p)).unwrap();
    let site = octaverify::site::Site {
        diallers: vec![IpAddr::from(DIALLER)],
        management: vec!["10.0.0.30/32".parse().unwrap()],
        dns_servers: vec![IpAddr::from(dns)],
        ..Default::default()
    };
    let set = RequirementSet::builtin();
    let of: Vec<Vec<&str>> = flows
        .of(&[IpAddr::from(DIALLER)])
        .iter()
        .map(|f| requirements_of(f, &set, &site))
        .collect();
    assert_eq!(
        of,
        [
            vec!["egress-any", "egress-https"],
            vec!["egress-dns"],
            vec!["egress-any", "egress-icmp-echo"],
            vec!["ingress-web"],
        ]
    );
}

mod command {
    use super::*;
    use std::process::Command;

    fn run(dir: &std::path::Path, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_octaverify"))
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the binary runs");
        (
            out.status.code().expect("an exit code"),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[test]
    fn a_failing_flow_is_named_with_its_requirements_and_the_rule_that_drops_it() {
        let dir = std::env::temp_dir().join(format!("octaverify-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let public = [1, 1, 1, 1];
        let packets = [
            v4(None, DIALLER, public, syn(40000, 443)),
            v4(
                None,
                public,
                DIALLER,
                Carry::Tcp {
                    sport: 443,
                    dport: 40000,
                    seq: 5,
                    syn: true,
                    ack: true,
                    rst: false,
                },
            ),
            v4(
                None,
                DIALLER,
                public,
                Carry::Udp {
                    sport: 40001,
                    dport: 137,
                    payload: b"nb".to_vec(),
                },
            ),
        ];
        let frames = numbered(packets);
        let bytes = pcap(RAW, &frames);
        std::fs::write(dir.join("dump.pcap"), &bytes).unwrap();
        std::fs::write(
            dir.join("ruleset.rules"),
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A FORWARD -p udp --dport 137:139 -j DROP\n-A FORWARD -s 192.168.1.10 -j ACCEPT\nCOMMIT\n",
        )
        .unwrap();
        let (code, out, err) = run(
            &dir,
            &[
                "pcap",
                "dump.pcap",
                "--ruleset",
                "ruleset.rules",
                "--output",
                "json",
            ],
        );
        assert_eq!(code, 1, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["input"]["diallers"], serde_json::json!(["192.168.1.10"]));
        assert_eq!(v["input"]["dialler_from"], "busiest");
        let flows = v["flows"].as_array().unwrap();
        assert_eq!(flows.len(), 2, "{v:#}");
        assert_eq!(flows[0]["fate"], "works");
        let udp = &flows[1];
        assert_eq!(udp["fate"], "no-answer");
        assert_eq!(udp["remote"], "1.1.1.1:137");
        assert_eq!(
            udp["requirements"],
            serde_json::json!(["egress-any", "egress-udp-all"])
        );
        assert_eq!(udp["ruleset"]["verdict"], "drops");
        assert_eq!(udp["ruleset"]["rules"][0]["line"], 4);
        let (_, text, _) = run(&dir, &["pcap", "dump.pcap", "--ruleset", "ruleset.rules"]);
        assert!(
            text.contains("no-answer udp 192.168.1.10:40001 -> 1.1.1.1:137"),
            "{text}"
        );
        assert!(text.contains("ruleset.rules:4"), "{text}");

        // A ruleset that accepts the dialler's traffic only from eth1 to eth0:
        // on any interface it depends; with the site's sides, it passes.
        std::fs::write(
            dir.join("sides.rules"),
            "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate ESTABLISHED -j ACCEPT\n-A FORWARD -i eth1 -o eth0 -s 192.168.1.10 -j ACCEPT\nCOMMIT\n",
        )
        .unwrap();
        let verdict = |extra: &[&str]| {
            let mut args = vec![
                "pcap",
                "dump.pcap",
                "--ruleset",
                "sides.rules",
                "--output",
                "json",
            ];
            args.extend(extra);
            let (_, out, err) = run(&dir, &args);
            let v: serde_json::Value =
                serde_json::from_str(&out).unwrap_or_else(|_| panic!("{err}"));
            v["flows"][1]["ruleset"]["verdict"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(verdict(&[]), "depends");
        let (_, text, _) = run(&dir, &["pcap", "dump.pcap", "--ruleset", "sides.rules"]);
        assert!(
            text.contains("dropped: udp from 192.168.1.10 to 1.1.1.1 in any except eth1;"),
            "{text}"
        );
        assert_eq!(verdict(&["--lan", "eth1", "--wan", "eth0"]), "accepts");
        assert_eq!(verdict(&["--lan", "eth2", "--wan", "eth0"]), "drops");

        // Truncated: exit 2, the byte where the cut block starts.
        std::fs::write(dir.join("cut.pcap"), &bytes[..bytes.len() - 5]).unwrap();
        let (code, _, err) = run(&dir, &["pcap", "cut.pcap"]);
        assert_eq!(code, 2, "{err}");
        assert!(
            err.contains("cut.pcap: byte ") && err.contains("truncated"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cisco_interfaces_may_be_named_in_full_as_check_takes_them() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let case = "corpus/cisco-ios/stateless-replies-blocked";
        let (dump, ruleset) = (format!("{case}/dump.pcap"), format!("{case}/ruleset.ios"));
        let args = [
            "pcap",
            &dump,
            "--ruleset",
            &ruleset,
            "--output",
            "json",
            "--lan",
            "GigabitEthernet0/1",
            "--wan",
            "GigabitEthernet0/0",
        ];
        let (code, out, err) = run(root, &args);
        assert_eq!(code, 1, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let dns = v["flows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["remote"] == "8.8.8.8:53")
            .expect("the DNS flow");
        assert_eq!(dns["ruleset"]["verdict"], "drops", "{dns:#}");
        assert_eq!(dns["ruleset"]["drops"], "answer");
        assert_eq!(v["input"]["interfaces"]["lan"], "Gi0/1");
    }

    #[test]
    fn names_the_capture_resolves_place_flows_and_dns_errors_say_the_name() {
        use simple_dns::RCODE;
        let dir = std::env::temp_dir().join(format!("octaverify-pcap-dns-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dns = [192, 168, 1, 254];
        // A public address (SERVER is a documentation one, not the internet's).
        let octalarm = [185, 10, 20, 30];
        let mut packets = Vec::new();
        packets.extend(dns_exchange(
            (DIALLER, dns),
            5000,
            "config.octalarm.nl",
            RCODE::NoError,
            &[octalarm],
        ));
        packets.push(v4(None, DIALLER, octalarm, syn(40000, 443)));
        packets.extend(dns_exchange(
            (DIALLER, dns),
            5001,
            "vpn.octalarm.nl",
            RCODE::NameError,
            &[],
        ));
        std::fs::write(dir.join("dump.pcap"), pcap(RAW, &numbered(packets))).unwrap();
        let args = ["pcap", "dump.pcap", "--dns-servers", "192.168.1.254"];
        let (code, out, err) = run(&dir, &[&args[..], &["--output", "json"]].concat());
        assert_eq!(code, 1, "{out}{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            v["input"]["resolved"],
            serde_json::json!({"config.octalarm.nl": ["185.10.20.30"]})
        );
        let flows = v["flows"].as_array().unwrap();
        let https = flows
            .iter()
            .find(|f| f["remote"] == "185.10.20.30:443")
            .unwrap();
        assert_eq!(https["fate"], "no-syn-ack");
        assert_eq!(
            https["requirements"],
            serde_json::json!([
                "egress-any",
                "egress-https",
                "egress-octalarm-any",
                "egress-config-https"
            ])
        );
        let nx = flows
            .iter()
            .find(|f| f["local"] == "192.168.1.10:5001")
            .unwrap();
        assert_eq!(
            (&nx["fate"], &nx["name"]),
            (&"dns-error".into(), &"vpn.octalarm.nl".into())
        );
        let (_, text, _) = run(&dir, &args);
        assert!(
            text.contains("config.octalarm.nl resolved in the capture to 185.10.20.30"),
            "{text}"
        );
        assert!(
            text.contains("the DNS server answered NXDOMAIN (no such name) for vpn.octalarm.nl"),
            "{text}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// The corpus's captures, written by this code (so a reader sees what each
/// holds, and a change of the writer shows): the test fails when a file
/// differs; `OCTAVERIFY_WRITE_CAPTURES=1` writes them anew. Their reports are
/// snapshots of `tests/corpus.rs`.
mod corpus {
    use super::*;
    use simple_dns::RCODE;

    /// When the captures begin: 2026-11-30 09:00 UTC.
    const T0: f64 = 1_764_493_200.0;

    fn udp(sport: u16, dport: u16, payload: Vec<u8>) -> Carry {
        Carry::Udp {
            sport,
            dport,
            payload,
        }
    }

    fn tcp(sport: u16, dport: u16, seq: u32, syn: bool, ack: bool) -> Carry {
        Carry::Tcp {
            sport,
            dport,
            seq,
            syn,
            ack,
            rst: false,
        }
    }

    fn data(sport: u16, dport: u16, seq: u32, ack: u32, payload: &[u8]) -> Carry {
        Carry::Data {
            sport,
            dport,
            seq,
            ack,
            payload: payload.to_vec(),
        }
    }

    /// cisco-ios/stateless-replies-blocked, as `tcpdump -i any` on the
    /// dialler writes it (Linux cooked v1): WAN-IN lets only TCP answers
    /// back, so the DNS query, the echo and the VPN's UDP get nothing; one
    /// HTTPS connection works, another stalls after its handshake (which the
    /// ruleset passes: the cause is elsewhere); the web interface answers a
    /// management PC.
    fn ios_stateless() -> Vec<u8> {
        let d = [192, 168, 1, 10];
        let (dns, config, vpn, other, pc) = (
            [8, 8, 8, 8],
            [185, 10, 20, 30],
            [185, 10, 20, 31],
            [185, 10, 20, 32],
            [10, 0, 0, 30],
        );
        let q = || dns_query(7, "config.octalarm.nl");
        let mut p = vec![
            v4(Some(sll()), d, dns, udp(41000, 53, q())),
            v4(Some(sll()), d, dns, udp(41000, 53, q())),
            v4(Some(sll()), d, dns, udp(41000, 53, q())),
            v4(Some(sll()), d, config, tcp(42000, 443, 100, true, false)),
            v4(Some(sll()), config, d, tcp(443, 42000, 900, true, true)),
            v4(
                Some(sll()),
                d,
                config,
                data(42000, 443, 101, 901, b"client hello"),
            ),
            v4(
                Some(sll()),
                config,
                d,
                data(443, 42000, 901, 113, b"server hello"),
            ),
            v4(Some(sll()), d, config, Carry::EchoRequest { ident: 0x0a1a }),
            v4(Some(sll()), d, config, Carry::EchoRequest { ident: 0x0a1a }),
            v4(Some(sll()), d, other, tcp(42001, 443, 5000, true, false)),
            v4(Some(sll()), other, d, tcp(443, 42001, 7000, true, true)),
            v4(
                Some(sll()),
                d,
                other,
                data(42001, 443, 5001, 7001, b"client hello"),
            ),
            v4(
                Some(sll()),
                d,
                other,
                data(42001, 443, 5001, 7001, b"client hello"),
            ),
            v4(
                Some(sll()),
                d,
                other,
                data(42001, 443, 5001, 7001, b"client hello"),
            ),
            v4(Some(sll()), pc, d, tcp(50500, 80, 300, true, false)),
            v4(Some(sll()), d, pc, tcp(80, 50500, 600, true, true)),
        ];
        for _ in 0..24 {
            p.push(v4(
                Some(sll()),
                d,
                vpn,
                udp(43000, 1194, b"openvpn".to_vec()),
            ));
        }
        let frames: Vec<(f64, Vec<u8>, usize)> = p
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let n = b.len();
                (T0 + i as f64 * 0.25, b, n)
            })
            .collect();
        pcap(LINUX_SLL, &frames)
    }

    /// nftables/inet-ipv6, a pcapng file of two interfaces: IPv4 on a VLAN
    /// of Ethernet, IPv6 in Linux cooked v2. Over IPv6 the dialler asks the
    /// resolver by UDP (answered: config.octalarm.nl's address, which places
    /// the HTTPS flow to it), then by TCP, which the ruleset does not let out;
    /// pings and HTTPS work on both families.
    fn nft_ipv6() -> Vec<u8> {
        let (d4, server4) = ([192, 168, 1, 10], [185, 10, 20, 30]);
        let mut d6 = [0u8; 16];
        d6[..6].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 1]);
        d6[15] = 0x10;
        let mut dns6 = [0u8; 16];
        dns6[..4].copy_from_slice(&[0x20, 0x01, 0x48, 0x60]);
        dns6[4..6].copy_from_slice(&[0x48, 0x60]);
        dns6[14..].copy_from_slice(&[0x88, 0x88]);
        let mut server6 = [0u8; 16];
        server6[..6].copy_from_slice(&[0x2a, 0x01, 0x04, 0xf8, 0x1c, 0x1c]);
        server6[14..].copy_from_slice(&[0x04, 0x43]);
        let answer = dns_answer(3, "config.octalarm.nl", RCODE::NoError, &[server4]);
        let six = |src, dst, c| (1u32, sll2(0x86dd, &v6(None, src, dst, c)));
        let four = |src, dst, c| (0u32, v4(Some(ethernet(Some(20))), src, dst, c));
        let list = vec![
            six(d6, dns6, udp(44000, 53, dns_query(3, "config.octalarm.nl"))),
            six(dns6, d6, udp(53, 44000, answer)),
            six(d6, dns6, tcp(44001, 53, 10, true, false)),
            six(d6, dns6, tcp(44001, 53, 10, true, false)),
            six(d6, dns6, tcp(44001, 53, 10, true, false)),
            four(d4, server4, tcp(45000, 443, 20, true, false)),
            four(server4, d4, tcp(443, 45000, 80, true, true)),
            four(d4, server4, data(45000, 443, 21, 81, b"client hello")),
            four(server4, d4, data(443, 45000, 81, 33, b"server hello")),
            six(d6, server6, tcp(45001, 443, 40, true, false)),
            six(server6, d6, tcp(443, 45001, 90, true, true)),
            six(d6, server6, Carry::EchoRequest { ident: 0x0b1b }),
            six(server6, d6, Carry::EchoReply { ident: 0x0b1b }),
            four(d4, server4, Carry::EchoRequest { ident: 0x0c1c }),
            four(server4, d4, Carry::EchoReply { ident: 0x0c1c }),
        ];
        let frames: Vec<(u32, f64, Vec<u8>)> = list
            .into_iter()
            .enumerate()
            .map(|(i, (interface, b))| (interface, T0 + i as f64 * 0.5, b))
            .collect();
        pcapng(&[ETHERNET, LINUX_SLL2], &frames)
    }

    #[test]
    fn corpus_captures_are_what_this_code_writes() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let write = std::env::var_os("OCTAVERIFY_WRITE_CAPTURES").is_some();
        for (rel, bytes) in [
            (
                "cisco-ios/stateless-replies-blocked/dump.pcap",
                ios_stateless(),
            ),
            ("nftables/inet-ipv6/dump.pcapng", nft_ipv6()),
        ] {
            let path = root.join(rel);
            if write {
                std::fs::write(&path, &bytes).unwrap();
            }
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert!(
                on_disk == bytes,
                "corpus/{rel} is not what this test writes: run it with OCTAVERIFY_WRITE_CAPTURES=1 and review the report snapshots"
            );
        }
    }
}
