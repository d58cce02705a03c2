//! The Linux kernel as the judge (opt-in: `OCTAVERIFY_KERNEL_TESTS=1`, as
//! root, with `iptables-restore` and `nft` installed).
//!
//! Each random ruleset is loaded with `iptables-restore` or `nft -f` into a
//! router namespace between a client and a server namespace that the test
//! makes for it. Probe frames are sent into the router from either side,
//! then the far side's answers to the connections that went through as they
//! were sent (SYN-ACK, UDP, echo reply: ESTABLISHED to conntrack), and what
//! comes out on the far side is compared with the verdict `octaverify trace`
//! gives the same packet: accepted packets must arrive, dropped ones must
//! not; packets octaverify calls unknown are counted, not compared.
//!
//! Safety: the namespaces are joined only by veth pairs made inside them;
//! nothing touches the host's interfaces or routes; every address a probe
//! is sent from or to (10.0.0.0 to 10.0.0.8) is first assigned to both end
//! namespaces; the namespaces are deleted when a ruleset is done, also when
//! the test fails (and those of an earlier run that was killed, at start).
//! Loops are bounded in count (`OCTAVERIFY_KERNEL_RULESETS`, probes per
//! ruleset) and time (`OCTAVERIFY_KERNEL_SECONDS`). A failure shows the
//! first disagreements (`OCTAVERIFY_KERNEL_SHOW`, 3) with their rulesets cut
//! down to the rules that make them; `OCTAVERIFY_KERNEL_REPORT` names a file
//! to write those and every other disagreement to.

#[allow(dead_code, reason = "the property tests use more of it")]
#[path = "support/random.rs"]
mod random;

use etherparse::{
    IpHeaders, IpNumber, Ipv4Header, NetSlice, PacketBuilder, SlicedPacket, TransportSlice,
};
use random::{Rng, Shape, gen_nft_ruleset, gen_ruleset};
use std::collections::{HashMap, HashSet};
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x01];
const SERVER_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x02];
/// The router's side of the client's link (its `eth0`) and of the server's (`eth1`).
const ROUTER_IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
const ROUTER_OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x20];
/// The probes' addresses, 10.0.0.0 to 10.0.0.8: the region the generated
/// rules speak of (and 10.0.0.2, where their DNAT rules send packets).
const HOSTS: u8 = 9;
const PROBES_PER_RULESET: usize = 24;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Format {
    Iptables,
    Nft,
}

#[test]
fn iptables_verdicts_are_the_kernels() {
    judge(Format::Iptables);
}

#[test]
fn nft_verdicts_are_the_kernels() {
    judge(Format::Nft);
}

/// Why the test cannot run here, if it cannot.
fn unavailable(format: Format) -> Option<String> {
    if std::env::var("OCTAVERIFY_KERNEL_TESTS").as_deref() != Ok("1") {
        return Some("set OCTAVERIFY_KERNEL_TESTS=1 (as root) to run it".into());
    }
    let loader = match format {
        Format::Iptables => "iptables-restore",
        Format::Nft => "nft",
    };
    for (tool, version) in [("ip", "-V"), (loader, "--version")] {
        let found = Command::new(tool)
            .arg(version)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    // A lab and an empty ruleset: namespaces, veth pairs and the loader's
    // kernel side must all work, or nothing can be judged.
    let lab = Lab::new(format, usize::MAX - 1)
        .map_err(|e| format!("cannot make the test namespaces: {e}"));
    let empty = match format {
        Format::Iptables => "*filter\nCOMMIT\n",
        Format::Nft => "table ip t {}\n",
    };
    lab.and_then(|lab| {
        lab.load(format, empty)
            .map_err(|e| format!("cannot load rules: {e}"))
    })
    .err()
}

fn judge(format: Format) {
    if let Some(why) = unavailable(format) {
        eprintln!("kernel test skipped: {why}");
        return;
    }
    remove_stale_labs();
    let rulesets: usize = setting("OCTAVERIFY_KERNEL_RULESETS", 150);
    let seconds: u64 = setting("OCTAVERIFY_KERNEL_SECONDS", 240);
    let first_seed: u64 = setting("OCTAVERIFY_KERNEL_SEED", 0x6f63_7461);
    let show: usize = setting("OCTAVERIFY_KERNEL_SHOW", 3);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let dir = std::env::temp_dir().join(format!(
        "octaverify-kernel-{}-{format:?}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).expect("a scratch folder");
    let mut tally = Tally::default();
    let mut shown = Vec::new();
    for i in 0..rulesets {
        if Instant::now() > deadline {
            eprintln!("kernel test: time bound ({seconds} s) reached after {i} rulesets");
            break;
        }
        let seed = first_seed
            .wrapping_add(i as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            | 1;
        let before = tally.disagreements.len();
        one_ruleset(format, seed, &dir, &mut tally);
        // The first few disagreements, cut down to the rules that make them.
        if tally.disagreements.len() > before && shown.len() < show {
            let (text, probe) = &tally.failing[0];
            shown.push(format!(
                "{}\n\nThe rules that disagree, cut down:\n{}",
                tally.disagreements[before],
                minimal(format, text, probe, &dir)
            ));
        }
        tally.failing.clear();
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!("kernel test ({format:?}): {tally}");
    if let Ok(path) = std::env::var("OCTAVERIFY_KERNEL_REPORT") {
        let all = tally.disagreements.join("\n\n");
        std::fs::write(path, shown.join("\n\n") + "\n\nAll:\n\n" + &all)
            .expect("the report is written");
    }
    assert!(
        tally.disagreements.is_empty(),
        "{} of {} probes: octaverify trace and the kernel disagree\n\n{}",
        tally.disagreements.len(),
        tally.probes,
        shown.join("\n\n")
    );
    assert!(tally.rulesets > 0, "no ruleset was judged");
}

fn setting<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Default)]
struct Tally {
    rulesets: usize,
    probes: usize,
    accepted: usize,
    dropped: usize,
    unknown: usize,
    disagreements: Vec<String>,
    /// The ruleset and probes of the last ruleset's disagreements.
    failing: Vec<(String, Probe)>,
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rulesets, {} probes: {} accepted and arrived, {} dropped and did not, \
             {} unknown to octaverify (not compared), {} disagreements",
            self.rulesets,
            self.probes,
            self.accepted,
            self.dropped,
            self.unknown,
            self.disagreements.len()
        )
    }
}

fn one_ruleset(format: Format, seed: u64, dir: &Path, tally: &mut Tally) {
    let mut r = Rng::Seeded(seed);
    let (text, file) = match format {
        Format::Iptables => (gen_ruleset(&mut r, Shape::KERNEL), "ruleset.rules"),
        Format::Nft => (gen_nft_ruleset(&mut r, Shape::KERNEL), "ruleset.nft"),
    };
    let file = dir.join(file);
    std::fs::write(&file, &text).expect("the ruleset is written");
    let lab = Lab::new(format, tally.rulesets).unwrap_or_else(|e| panic!("the namespaces: {e}"));
    lab.load(format, &text).unwrap_or_else(|e| {
        panic!("the kernel refuses generated ruleset (seed {seed}): {e}\n{text}")
    });
    let mut probes = gen_probes(&mut r);
    let mut arrived = lab
        .send(&probes)
        .unwrap_or_else(|e| panic!("sending probes: {e}"));
    // The answers to the connections that went through untranslated.
    let answers: Vec<(u16, Probe)> = probes
        .iter()
        .filter(|(id, _)| arrived.get(id) == Some(&true))
        .filter_map(|(id, p)| Some((id + ANSWER_IDS, p.answer(*id)?)))
        .collect();
    arrived.extend(
        lab.send(&answers)
            .unwrap_or_else(|e| panic!("sending answers: {e}")),
    );
    probes.extend(answers);
    drop(lab);
    tally.rulesets += 1;
    for (id, p) in &probes {
        tally.probes += 1;
        let verdict = trace(&file, p);
        let came = arrived.contains_key(id);
        match (verdict.as_str(), came) {
            ("accept", true) => tally.accepted += 1,
            ("drop", false) => tally.dropped += 1,
            ("unknown", _) => tally.unknown += 1,
            _ => {
                tally.disagreements.push(format!(
                    "seed {seed}: {p:?}\noctaverify trace says {verdict}; the kernel {}\n{}",
                    if came {
                        "forwarded it"
                    } else {
                        "did not forward it"
                    },
                    text
                ));
                tally.failing.push((text.clone(), *p));
            }
        }
    }
}

/// Whether `octaverify trace` and the kernel disagree on one probe of a
/// ruleset (loaded in a lab of its own).
fn disagrees(format: Format, text: &str, probe: &Probe, dir: &Path) -> bool {
    let lab = Lab::new(format, usize::MAX).unwrap_or_else(|e| panic!("the namespaces: {e}"));
    // A cut the loader refuses is no smaller case of the disagreement.
    if lab.load(format, text).is_err() {
        return false;
    }
    let send = |probes: &[(u16, Probe)]| {
        lab.send(probes)
            .unwrap_or_else(|e| panic!("sending probes: {e}"))
    };
    // An answer needs its connection opened first, as it was sent.
    if let Some(opener) = probe.opener()
        && send(&[(probe.of, opener)]).get(&probe.of) != Some(&true)
    {
        return false;
    }
    let id = probe.of + ANSWER_IDS;
    let came = send(&[(id, *probe)]).contains_key(&id);
    drop(lab);
    let file = dir.join(match format {
        Format::Iptables => "cut.rules",
        Format::Nft => "cut.nft",
    });
    std::fs::write(&file, text).expect("the ruleset is written");
    matches!(
        (trace(&file, probe).as_str(), came),
        ("accept", false) | ("drop", true)
    )
}

/// The ruleset with every rule left out whose absence keeps the
/// disagreement (a few passes over the rules, bounded by their number).
fn minimal(format: Format, text: &str, probe: &Probe, dir: &Path) -> String {
    let rule = |line: &str| match format {
        Format::Iptables => line.starts_with("-A "),
        Format::Nft => {
            let t = line.trim();
            !["table", "chain", "set ", "type ", "}"]
                .iter()
                .any(|k| t.starts_with(k))
        }
    };
    let mut lines: Vec<&str> = text.lines().collect();
    for _pass in 0..3 {
        let mut cut = false;
        for i in (0..lines.len()).rev() {
            if !rule(lines[i]) {
                continue;
            }
            let mut fewer = lines.clone();
            fewer.remove(i);
            if disagrees(format, &(fewer.join("\n") + "\n"), probe, dir) {
                lines = fewer;
                cut = true;
            }
        }
        if !cut {
            break;
        }
    }
    lines.join("\n") + "\n"
}

/// What a probe is: the kinds a first packet can be, and the answers to
/// those that went through, with the state the kernel's connection
/// tracking gives them.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A TCP SYN (NEW).
    Syn,
    /// A UDP datagram (NEW).
    Udp,
    /// An ICMP echo request (NEW).
    Echo,
    /// An ICMP echo reply with no request before it (INVALID).
    EchoReply,
    /// An ICMP port-unreachable about no connection (INVALID).
    Unreachable,
    /// GRE (NEW).
    Gre,
    /// The answer to a SYN that went through: SYN-ACK (ESTABLISHED).
    SynAck,
    /// The answer to a UDP datagram that went through (ESTABLISHED).
    UdpAnswer,
    /// The answer to an echo request that went through (ESTABLISHED).
    EchoAnswer,
}

#[derive(Clone, Copy, Debug)]
struct Probe {
    kind: Kind,
    /// Sent from the server's side (in at the router's eth1, out at eth0)
    /// rather than the client's.
    inward: bool,
    src: u8,
    dst: u8,
    sport: u16,
    dport: u16,
    /// For an answer, the IPv4 id of the probe it answers.
    of: u16,
}

/// Answers have the ids of the probes they answer, plus this.
const ANSWER_IDS: u16 = 1000;

impl Probe {
    /// The answer the far side sends to this probe (`id`), if it is the
    /// first packet of a connection conntrack can answer.
    fn answer(&self, id: u16) -> Option<Probe> {
        let kind = match self.kind {
            Kind::Syn => Kind::SynAck,
            Kind::Udp => Kind::UdpAnswer,
            Kind::Echo => Kind::EchoAnswer,
            _ => return None,
        };
        Some(self.turned(kind, id))
    }

    /// For an answer, the probe it answers.
    fn opener(&self) -> Option<Probe> {
        let kind = match self.kind {
            Kind::SynAck => Kind::Syn,
            Kind::UdpAnswer => Kind::Udp,
            Kind::EchoAnswer => Kind::Echo,
            _ => return None,
        };
        Some(self.turned(kind, 0))
    }

    /// A probe of `kind` the other way round, answering probe `of` (0: none).
    fn turned(&self, kind: Kind, of: u16) -> Probe {
        Probe {
            kind,
            inward: !self.inward,
            src: self.dst,
            dst: self.src,
            sport: self.dport,
            dport: self.sport,
            of,
        }
    }
}

/// A host (last address byte) and port, as a connection-tracking key holds it.
type Endpoint = (u8, u16);

/// Random probes, each the first packet of its connection: no two share a
/// connection-tracking entry either way round, also after the rules'
/// DNAT to 10.0.0.2 (a second packet of a connection would skip the nat
/// chains; one the other way would be ESTABLISHED), nor, for GRE, which
/// has no ports to tell them apart, after MASQUERADE to the router's
/// address (the second would be dropped for want of a free tuple). Keyed
/// by IPv4 id.
fn gen_probes(r: &mut Rng) -> Vec<(u16, Probe)> {
    let mut probes = Vec::new();
    let mut taken: HashSet<(u8, Endpoint, Endpoint)> = HashSet::new();
    for _ in 0..PROBES_PER_RULESET * 4 {
        if probes.len() == PROBES_PER_RULESET {
            break;
        }
        let kind = [
            Kind::Syn,
            Kind::Syn,
            Kind::Udp,
            Kind::Udp,
            Kind::Echo,
            Kind::EchoReply,
            Kind::Unreachable,
            Kind::Gre,
        ][r.below(8) as usize];
        let src = r.below(HOSTS as u64) as u8;
        let dst = r.below(HOSTS as u64) as u8;
        if src == dst {
            continue;
        }
        let (sport, dport) = match kind {
            Kind::Syn | Kind::Udp => (r.below(10) as u16, r.below(10) as u16),
            _ => (0, 0),
        };
        let p = Probe {
            kind,
            inward: r.chance(30),
            src,
            dst,
            sport,
            dport,
            of: 0,
        };
        // ICMP probes carry ids of their own; what is left is tracked by
        // protocol and both ends (GRE with ports 0).
        let proto = match kind {
            Kind::Syn => 6,
            Kind::Udp => 17,
            Kind::Gre => 47,
            _ => 0,
        };
        if proto != 0 {
            let pair = |a: (u8, u16), b: (u8, u16)| (proto, a.min(b), a.max(b));
            let mut keys = vec![
                pair((src, sport), (dst, dport)),
                pair((src, sport), (2, dport)),
            ];
            if kind == Kind::Gre {
                let router = if p.inward { 201 } else { 202 };
                keys.extend([pair((router, 0), (dst, 0)), pair((router, 0), (2, 0))]);
            }
            if keys.iter().any(|k| taken.contains(k)) {
                continue;
            }
            taken.extend(keys);
        }
        probes.push((probes.len() as u16 + 1, p));
    }
    probes
}

/// The frame of a probe, as its end namespace sends it to the router.
fn frame(id: u16, p: &Probe) -> Vec<u8> {
    let (from, to) = if p.inward {
        (SERVER_MAC, ROUTER_OUT_MAC)
    } else {
        (CLIENT_MAC, ROUTER_IN_MAC)
    };
    let mut ip = Ipv4Header::new(0, 64, IpNumber::UDP, [10, 0, 0, p.src], [10, 0, 0, p.dst])
        .expect("an empty payload fits");
    ip.identification = id;
    let b = PacketBuilder::ethernet2(from, to).ip(IpHeaders::Ipv4(ip, Default::default()));
    let payload = b"octaverify probe";
    let mut out = Vec::new();
    let written = match p.kind {
        Kind::Syn => b
            .tcp(p.sport, p.dport, 1000 + id as u32, 64240)
            .syn()
            .write(&mut out, &[]),
        Kind::Udp => b.udp(p.sport, p.dport).write(&mut out, payload),
        Kind::Echo => b.icmpv4_echo_request(id, 1).write(&mut out, payload),
        Kind::EchoReply => b.icmpv4_echo_reply(id, 1).write(&mut out, payload),
        Kind::Unreachable => {
            // About a datagram the destination once sent the source.
            let mut inner = Vec::new();
            PacketBuilder::ipv4([10, 0, 0, p.dst], [10, 0, 0, p.src], 64)
                .udp(40000 + id, 53)
                .write(&mut inner, &[])
                .expect("the inner datagram is written");
            b.icmpv4_raw(3, 3, [0; 4]).write(&mut out, &inner)
        }
        // Acknowledging the SYN's sequence number, so that conntrack's
        // window check takes it.
        Kind::SynAck => b
            .tcp(p.sport, p.dport, 7000 + p.of as u32, 64240)
            .syn()
            .ack(1001 + p.of as u32)
            .write(&mut out, &[]),
        Kind::UdpAnswer => b.udp(p.sport, p.dport).write(&mut out, payload),
        Kind::EchoAnswer => b.icmpv4_echo_reply(p.of, 1).write(&mut out, payload),
        Kind::Gre => {
            let mut gre = vec![0, 0, 0x08, 0x00];
            gre.extend_from_slice(payload);
            b.write(&mut out, IpNumber::GRE, &gre)
        }
    };
    written.expect("the probe is written");
    out
}

/// The verdict `octaverify trace` gives a probe.
fn trace(file: &Path, p: &Probe) -> String {
    let (i, o) = if p.inward {
        ("eth1", "eth0")
    } else {
        ("eth0", "eth1")
    };
    let mut args: Vec<String> = [
        "trace",
        &file.to_string_lossy(),
        "--output",
        "json",
        "--src",
        &format!("10.0.0.{}", p.src),
        "--dst",
        &format!("10.0.0.{}", p.dst),
        "--in",
        i,
        "--out",
        o,
    ]
    .map(String::from)
    .to_vec();
    let (proto, icmp, state) = match p.kind {
        Kind::Syn => ("tcp", None, "new"),
        Kind::Udp => ("udp", None, "new"),
        Kind::Echo => ("icmp", Some("echo-request"), "new"),
        Kind::EchoReply => ("icmp", Some("echo-reply"), "invalid"),
        Kind::Unreachable => ("icmp", Some("3/3"), "invalid"),
        Kind::Gre => ("gre", None, "new"),
        Kind::SynAck => ("tcp", None, "established"),
        Kind::UdpAnswer => ("udp", None, "established"),
        Kind::EchoAnswer => ("icmp", Some("echo-reply"), "established"),
    };
    args.extend(["--proto", proto, "--state", state].map(String::from));
    if p.kind == Kind::SynAck {
        args.extend(["--tcp-flags", "SYN,ACK"].map(String::from));
    }
    if let Some(t) = icmp {
        args.extend(["--icmp-type".to_string(), t.to_string()]);
    }
    if matches!(
        p.kind,
        Kind::Syn | Kind::Udp | Kind::SynAck | Kind::UdpAnswer
    ) {
        args.extend([
            "--sport".to_string(),
            p.sport.to_string(),
            "--dport".to_string(),
            p.dport.to_string(),
        ]);
    }
    let out = Command::new(env!("CARGO_BIN_EXE_octaverify"))
        .args(&args)
        .output()
        .expect("octaverify runs");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "octaverify {} gave no trace: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    json["verdict"].as_str().expect("a verdict").to_string()
}

/// Runs a command, its standard input given; its error output on failure.
fn run(cmd: &str, args: &[&str], input: Option<&str>) -> Result<(), String> {
    let mut child = Command::new(cmd)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd}: {e}"))?;
    let mut stdin = child.stdin.take().expect("a pipe");
    stdin
        .write_all(input.unwrap_or("").as_bytes())
        .map_err(|e| format!("{cmd}: {e}"))?;
    drop(stdin);
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Deletes the namespaces of runs that were killed before they could.
fn remove_stale_labs() {
    let Ok(names) = std::fs::read_dir("/run/netns") else {
        return;
    };
    for entry in names.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        let pid = name
            .strip_prefix("ovk")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = run("ip", &["netns", "del", &name], None);
        }
    }
}

/// Three namespaces, client – router – server, joined by two veth pairs.
/// Deleted when dropped.
struct Lab {
    /// Client, router, server.
    names: Vec<String>,
}

impl Lab {
    /// The `n`th lab of a format's test (both run at once, in one process).
    fn new(format: Format, n: usize) -> Result<Lab, String> {
        let f = match format {
            Format::Iptables => 'i',
            Format::Nft => 'n',
        };
        let tag = format!("ovk{}-{f}{n}", std::process::id());
        let mut lab = Lab { names: Vec::new() };
        for side in ["c", "r", "s"] {
            let name = format!("{tag}{side}");
            run("ip", &["netns", "add", &name], None)?;
            lab.names.push(name);
        }
        let [c, r, s] = [&lab.names[0], &lab.names[1], &lab.names[2]];
        let mac = |m: [u8; 6]| m.map(|b| format!("{b:02x}")).join(":");
        // Both ends of each pair are made in their namespaces at once.
        run(
            "ip",
            &["-b", "-"],
            Some(&format!(
                "link add eth0 netns {r} address {} type veth peer name eth0 netns {c} address {}\n\
                 link add eth1 netns {r} address {} type veth peer name eth0 netns {s} address {}\n",
                mac(ROUTER_IN_MAC),
                mac(CLIENT_MAC),
                mac(ROUTER_OUT_MAC),
                mac(SERVER_MAC)
            )),
        )?;
        let mut end = String::from("link set lo up\nlink set eth0 up\n");
        for h in 0..HOSTS {
            end += &format!("addr add 10.0.0.{h}/32 dev eth0\n");
        }
        run("ip", &["-n", c, "-b", "-"], Some(&end))?;
        run("ip", &["-n", s, "-b", "-"], Some(&end))?;
        // The router forwards by the interface a packet came in at: what
        // comes from the client goes to the server and back, whatever its
        // addresses (so that NAT and any address pair can be probed).
        let mut router = String::from(
            "link set lo up\nlink set eth0 up\nlink set eth1 up\n\
             addr add 192.0.2.1/32 dev eth0\naddr add 192.0.2.2/32 dev eth1\n\
             rule add pref 100 iif eth0 lookup 100\nrule add pref 101 iif eth1 lookup 101\n\
             route add default dev eth1 table 100\nroute add default dev eth0 table 101\n",
        );
        for h in 0..HOSTS {
            router += &format!(
                "neigh add 10.0.0.{h} lladdr {} dev eth1 nud permanent\n\
                 neigh add 10.0.0.{h} lladdr {} dev eth0 nud permanent\n",
                mac(SERVER_MAC),
                mac(CLIENT_MAC)
            );
        }
        run("ip", &["-n", r, "-b", "-"], Some(&router))?;
        run(
            "ip",
            &[
                "netns",
                "exec",
                r,
                "sh",
                "-c",
                "echo 1 > /proc/sys/net/ipv4/ip_forward && \
                 for f in /proc/sys/net/ipv4/conf/*/rp_filter; do echo 0 > $f; done",
            ],
            None,
        )?;
        Ok(lab)
    }

    fn load(&self, format: Format, text: &str) -> Result<(), String> {
        let loader: &[&str] = match format {
            Format::Iptables => &["iptables-restore"],
            Format::Nft => &["nft", "-f", "-"],
        };
        let mut args = vec!["netns", "exec", &self.names[1]];
        args.extend(loader);
        run("ip", &args, Some(text))
    }

    /// Sends the probes (each from its side) and returns the ids of those
    /// that came out of the router on the other side.
    /// Sends the probes; those that came out on the far side, each with
    /// whether it came as it was sent (no NAT changed its addresses or ports).
    fn send(&self, probes: &[(u16, Probe)]) -> io::Result<HashMap<u16, bool>> {
        let client = Port::open(&self.names[0])?;
        let server = Port::open(&self.names[2])?;
        for (id, p) in probes {
            let port = if p.inward { &server } else { &client };
            port.send(&frame(*id, p))?;
        }
        let sent: HashMap<u16, &Probe> = probes.iter().map(|(id, p)| (*id, p)).collect();
        let mut arrived = HashMap::new();
        let start = Instant::now();
        let mut last = Instant::now();
        // Until nothing has come for a while (veth delivers in microseconds).
        while last.elapsed() < Duration::from_millis(150)
            && start.elapsed() < Duration::from_secs(3)
        {
            for (port, router_mac, inward) in [
                (&server, ROUTER_OUT_MAC, false),
                (&client, ROUTER_IN_MAC, true),
            ] {
                while let Some(f) = port.recv()? {
                    if f.len() < 14 || f[6..12] != router_mac {
                        continue;
                    }
                    let Ok(packet) = SlicedPacket::from_ethernet(&f) else {
                        continue;
                    };
                    if let Some(NetSlice::Ipv4(ip)) = &packet.net {
                        let h = ip.header();
                        let id = h.identification();
                        if let Some(p) = sent.get(&id).filter(|p| p.inward == inward) {
                            let ports = match &packet.transport {
                                Some(TransportSlice::Tcp(t)) => {
                                    (t.source_port(), t.destination_port())
                                }
                                Some(TransportSlice::Udp(u)) => {
                                    (u.source_port(), u.destination_port())
                                }
                                _ => (p.sport, p.dport),
                            };
                            let as_sent = h.source() == [10, 0, 0, p.src]
                                && h.destination() == [10, 0, 0, p.dst]
                                && ports == (p.sport, p.dport);
                            arrived.insert(id, as_sent);
                            last = Instant::now();
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(arrived)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = run("ip", &["netns", "del", name], None);
        }
    }
}

/// A packet socket on an end namespace's `eth0`: what it sends goes to the
/// router as it is; it receives every IPv4 frame on the link.
struct Port {
    fd: OwnedFd,
}

impl Port {
    /// Made on a thread that enters the namespace; the socket stays there.
    fn open(ns: &str) -> io::Result<Port> {
        let path: PathBuf = Path::new("/run/netns").join(ns);
        std::thread::scope(|s| {
            s.spawn(|| -> io::Result<Port> {
                let netns = File::open(&path)?;
                // SAFETY: setns on this thread only, with a namespace fd.
                if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                let proto = (libc::ETH_P_IP as u16).to_be();
                // SAFETY: a plain socket call; the fd is owned at once.
                let fd = unsafe {
                    libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                        proto as i32,
                    )
                };
                if fd < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: fd is a new socket that nothing else owns.
                let fd = unsafe { OwnedFd::from_raw_fd(fd) };
                let name = CString::new("eth0").expect("no NUL");
                // SAFETY: a NUL-terminated name.
                let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
                if index == 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: sockaddr_ll is plain data; all-zero is valid.
                let mut at: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                at.sll_family = libc::AF_PACKET as u16;
                at.sll_protocol = proto;
                at.sll_ifindex = index as i32;
                // SAFETY: `at` is a sockaddr_ll of the size given.
                let bound = unsafe {
                    libc::bind(
                        fd.as_raw_fd(),
                        (&at as *const libc::sockaddr_ll).cast(),
                        std::mem::size_of::<libc::sockaddr_ll>() as u32,
                    )
                };
                if bound != 0 {
                    return Err(io::Error::last_os_error());
                }
                Ok(Port { fd })
            })
            .join()
            .expect("the namespace thread ends")
        })
    }

    fn send(&self, frame: &[u8]) -> io::Result<()> {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::send(self.fd.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        if n as usize == frame.len() {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// The next frame, if one is waiting.
    fn recv(&self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 2048];
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::recv(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(None)
            } else {
                Err(e)
            };
        }
        buf.truncate(n as usize);
        Ok(Some(buf))
    }
}
