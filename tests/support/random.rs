//! Random rulesets (iptables, nft, ASA) over a small region of the packet
//! space, and random packets in it: shared by the evaluator property tests
//! and the engine fuzz target, which drives the same choices from its bytes.

use octaverify::space::dim::iface;
use octaverify::space::{Cube, Dim, Family, IntervalSet, Packet, PacketSet};

/// The choices of a generator: from a seed (property tests: a failing
/// seed reproduces), or from bytes (fuzzing: the fuzzer's mutations of the
/// bytes are mutations of the ruleset; past the end every choice is 0).
pub enum Rng {
    Seeded(u64),
    Bytes(Vec<u8>, usize),
}

impl Rng {
    fn next(&mut self) -> u64 {
        match self {
            Rng::Seeded(s) => {
                *s ^= *s << 13;
                *s ^= *s >> 7;
                *s ^= *s << 17;
                *s
            }
            Rng::Bytes(b, at) => {
                let v = b.get(*at).copied().unwrap_or(0);
                *at += 1;
                v as u64
            }
        }
    }
    /// One of `0..n`; every caller asks for at most 256 choices.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const ADDRS: &[&str] = &[
    "10.0.0.1",
    "10.0.0.0/30",
    "10.0.0.4/31",
    "10.0.0.0/29",
    "10.0.0.6",
];
const IFACES: &[&str] = &["eth0", "eth1", "eth+", "ppp0"];
const IFACE_NAMES: &[&str] = &["eth0", "eth1", "ppp0"];
const STATES: &[&str] = &[
    "NEW",
    "ESTABLISHED",
    "RELATED,ESTABLISHED",
    "INVALID",
    "NEW,INVALID",
];

/// What a generated ruleset is for.
#[derive(Clone, Copy)]
pub struct Shape {
    /// Chains sometimes long enough that the symbolic walk takes them in
    /// blocks rather than one by one (lint, which walks a chain once per
    /// rule, keeps to a few).
    pub long: bool,
    /// Only what the kernel's loaders take (`iptables-restore`, `nft -f`):
    /// the kernel-judge test loads it into a namespace. octaverify reads
    /// more than they take (a REJECT in the nat table, `-o` in PREROUTING,
    /// a nat chain before conntrack), so its own tests are not held to this.
    pub loadable: bool,
}

impl Shape {
    pub const SHORT: Shape = Shape {
        long: false,
        loadable: false,
    };
    pub const LONG: Shape = Shape {
        long: true,
        loadable: false,
    };
    pub const KERNEL: Shape = Shape {
        long: true,
        loadable: true,
    };
}

/// How many rules a generated chain has: a few, or for a long shape
/// sometimes a dozen or two.
fn chain_length(r: &mut Rng, long: bool) -> u64 {
    if long && r.chance(25) {
        9 + r.below(16)
    } else {
        r.below(6)
    }
}

/// Random matches of a rule; `-i` only where `ins`, `-o` only where `outs`
/// (the choices are drawn either way, so a seed gives the same ruleset
/// whatever is left out).
fn gen_matches(r: &mut Rng, ins: bool, outs: bool) -> String {
    let mut m = String::new();
    let neg = |r: &mut Rng| if r.chance(25) { "! " } else { "" };
    if r.chance(40) {
        m += &format!(" {}-s {}", neg(r), r.pick(ADDRS));
    }
    if r.chance(40) {
        m += &format!(" {}-d {}", neg(r), r.pick(ADDRS));
    }
    if r.chance(30) {
        let i = format!(" {}-i {}", neg(r), r.pick(IFACES));
        if ins {
            m += &i;
        }
    }
    if r.chance(20) {
        let o = format!(" {}-o {}", neg(r), r.pick(IFACES));
        if outs {
            m += &o;
        }
    }
    match r.below(6) {
        0 => {
            let p = r.pick(&["tcp", "udp"]);
            let lo = r.below(8);
            let hi = lo + r.below(4);
            m += &format!(" -p {p} -m {p} {}--dport {lo}:{hi}", neg(r));
            if p == "tcp" && r.chance(30) {
                m += &format!(" {}--tcp-flags SYN,ACK SYN", neg(r));
            }
        }
        1 => {
            let p = r.pick(&["tcp", "udp"]);
            m += &format!(
                " -p {p} -m multiport {}--ports {},{}:{}",
                neg(r),
                r.below(8),
                r.below(4),
                4 + r.below(4)
            );
        }
        2 => {
            m += &format!(
                " -p icmp -m icmp {}--icmp-type {}",
                neg(r),
                r.pick(&["echo-request", "0", "3/1"])
            )
        }
        3 => m += &format!(" {}-p {}", neg(r), r.pick(&["tcp", "udp", "icmp", "gre"])),
        _ => {}
    }
    if r.chance(30) {
        m += &format!(" -m conntrack {}--ctstate {}", neg(r), r.pick(STATES));
    }
    if r.chance(8) {
        m += " -m recent --rcheck --seconds 60 --name probe";
    }
    m
}

/// A run of rules in `chain` that a walk may take in one step: sixteen or
/// more alike but in one match (addresses, some overlapping, or ports), all
/// accepting or all dropping (dropping only where `drops`: the filter
/// table), matching `-i` only where `ins`.
fn gen_run(r: &mut Rng, chain: &str, drops: bool, ins: bool) -> String {
    let common = match r.pick(&["", " -i eth0", " -p udp", " -m conntrack --ctstate NEW"]) {
        " -i eth0" if !ins => "",
        c => c,
    };
    let target = match r.below(3) {
        0 if drops => "-j DROP",
        1 if drops => "-j REJECT --reject-with icmp-port-unreachable",
        _ => "-j ACCEPT",
    };
    let by_port = r.chance(40);
    let mut text = String::new();
    for _ in 0..16 + r.below(9) {
        let m = if by_port {
            format!(" -p tcp -m tcp --dport {}", r.below(40))
        } else {
            match r.below(4) {
                0 => format!(" -s 10.0.0.{}/31", 2 * r.below(20)),
                _ => format!(" -s 10.0.0.{}", r.below(40)),
            }
        };
        // Drops mix DROP and REJECT now and then.
        let t = if target != "-j ACCEPT" && r.chance(20) {
            "-j DROP"
        } else {
            target
        };
        let m = if by_port && common == " -p udp" {
            m
        } else {
            format!("{common}{m}")
        };
        text += &format!("-A {chain}{m} {t}\n");
    }
    text
}

/// A random ruleset: built-in chains with random policies, user chains that
/// jump only to later chains (so there are no loops), random rules.
pub fn gen_ruleset(r: &mut Rng, shape: Shape) -> String {
    let mut text = String::new();
    for (table, builtins) in [
        ("raw", &["PREROUTING"][..]),
        ("mangle", &["PREROUTING", "FORWARD", "POSTROUTING"][..]),
        ("nat", &["PREROUTING", "POSTROUTING"][..]),
        ("filter", &["FORWARD"][..]),
    ] {
        if table != "filter" && r.chance(50) {
            continue;
        }
        let users: Vec<String> = (0..r.below(4)).map(|i| format!("U{i}")).collect();
        text += &format!("*{table}\n");
        for b in builtins {
            let policy = if table == "filter" || r.chance(20) {
                r.pick(&["ACCEPT", "DROP"])
            } else {
                "ACCEPT"
            };
            text += &format!(":{b} {policy} [0:0]\n");
        }
        for u in &users {
            text += &format!(":{u} - [0:0]\n");
        }
        let chains: Vec<String> = builtins
            .iter()
            .map(|s| s.to_string())
            .chain(users.iter().cloned())
            .collect();
        for (ci, chain) in chains.iter().enumerate() {
            let is_user = ci >= builtins.len();
            if shape.long && r.chance(15) {
                let ins = !shape.loadable || chain != "POSTROUTING";
                text += &gen_run(r, chain, table == "filter", ins);
            }
            for _ in 0..chain_length(r, shape.long) {
                let later: Vec<&String> = users
                    .iter()
                    .enumerate()
                    .filter(|(ui, _)| builtins.len() + ui > ci)
                    .map(|(_, u)| u)
                    .collect();
                let target = match r.below(10) {
                    0 | 1 => "-j ACCEPT".to_string(),
                    2 | 3 => "-j DROP".to_string(),
                    4 => "-j REJECT --reject-with icmp-port-unreachable".to_string(),
                    5 if is_user || r.chance(30) => "-j RETURN".to_string(),
                    6 if !later.is_empty() => {
                        format!("-j {}", later[r.below(later.len() as u64) as usize])
                    }
                    7 if !later.is_empty() => {
                        format!("-g {}", later[r.below(later.len() as u64) as usize])
                    }
                    8 if table == "nat" && chain == "POSTROUTING" => "-j MASQUERADE".to_string(),
                    8 if table == "nat" && chain == "PREROUTING" => {
                        "-j DNAT --to-destination 10.0.0.2".to_string()
                    }
                    8 => "-j LOG --log-prefix \"x: \"".to_string(),
                    _ => "-j ACCEPT".to_string(),
                };
                let matches = if shape.loadable {
                    gen_matches(r, chain != "POSTROUTING", chain != "PREROUTING")
                } else {
                    gen_matches(r, true, true)
                };
                let target = match target.as_str() {
                    // iptables-restore refuses DROP in the nat table and
                    // the kernel REJECT outside the filter table.
                    "-j DROP" if shape.loadable && table == "nat" => "-j ACCEPT".to_string(),
                    t if shape.loadable && t.starts_with("-j REJECT") && table != "filter" => {
                        if table == "nat" {
                            "-j ACCEPT"
                        } else {
                            "-j DROP"
                        }
                        .to_string()
                    }
                    _ => target,
                };
                text += &format!("-A {chain}{matches} {target}\n");
            }
        }
        text += "COMMIT\n";
    }
    text
}

/// A random nft match (possibly none).
fn gen_nft_match(r: &mut Rng, loadable: bool) -> String {
    let neg = |r: &mut Rng| if r.chance(25) { "!= " } else { "" };
    match r.below(18) {
        0 => format!("ip saddr {}{}", neg(r), r.pick(ADDRS)),
        1 => format!(
            "ip daddr {}{{ {}, {} }}",
            neg(r),
            r.pick(ADDRS),
            r.pick(ADDRS)
        ),
        2 => format!("ip saddr {}@hosts", neg(r)),
        3 => format!(
            "iifname {}\"{}\"",
            neg(r),
            r.pick(&["eth*", "eth0", "ppp0"])
        ),
        4 => format!(
            "oifname {}{}",
            neg(r),
            r.pick(&["eth1", "\"eth*\"", "ppp0"])
        ),
        5 => format!(
            "meta l4proto {}{}",
            neg(r),
            r.pick(&["tcp", "udp", "{ tcp, udp }", "icmp", "gre"])
        ),
        6 => {
            let lo = r.below(8);
            format!("tcp dport {}{lo}-{}", neg(r), lo + r.below(4))
        }
        7 => format!(
            "th dport {}{{ {}, {}-{} }}",
            neg(r),
            r.below(8),
            r.below(4),
            4 + r.below(5)
        ),
        8 => format!("udp sport {}{}", neg(r), r.below(10)),
        9 => format!(
            "icmp type {}{}",
            neg(r),
            r.pick(&["echo-request", "echo-reply", "{ 3, 8 }"])
        ),
        10 => format!(
            "ct state {}",
            r.pick(&["established,related", "new", "!= new", "{ invalid, new }"])
        ),
        11 => r
            .pick(&[
                "tcp flags syn",
                "tcp flags & (syn|ack) == syn",
                "tcp flags != syn",
                "tcp flags syn / syn,ack,rst",
                "tcp flags { syn, ack }",
            ])
            .to_string(),
        12 => {
            let (n, a, p, b) = (neg(r), r.pick(ADDRS), r.below(8), r.pick(ADDRS));
            let (mut lo, mut hi) = (r.below(4), 4 + r.below(5));
            // nft refuses elements of a concatenation that overlap.
            if loadable && (lo..=hi).contains(&p) {
                lo = p + 1;
                hi = hi.max(lo);
            }
            format!("ip saddr . tcp dport {n}{{ {a} . {p}, {b} . {lo}-{hi} }}")
        }
        13 => "limit rate 5/second".to_string(),
        14 => "meta mark 0x1".to_string(),
        15 => format!("ip protocol {}{}", neg(r), r.pick(&["tcp", "udp", "icmp"])),
        _ => String::new(),
    }
}

/// Whether two of `ADDRS` share an address.
fn overlap(a: &str, b: &str) -> bool {
    let range = |s: &str| {
        let (host, len) = s.split_once('/').unwrap_or((s, "32"));
        let last: u32 = host
            .rsplit('.')
            .next()
            .and_then(|o| o.parse().ok())
            .unwrap_or(0);
        let size = 1u32 << (32 - len.parse::<u32>().unwrap_or(32));
        (last, last + size - 1)
    };
    let ((a0, a1), (b0, b1)) = (range(a), range(b));
    a0 <= b1 && b0 <= a1
}

/// Whether nft refuses two matches in one rule for naming two protocols
/// (`tcp dport 1 udp sport 2`: "conflicting protocols specified"). A
/// match's protocol is the first it names; a set of protocols (`meta
/// l4proto { tcp, udp }`) conflicts with any one.
fn protocols_conflict(a: &str, b: &str) -> bool {
    let protocol = |m: &str| {
        let mut depth = 0;
        m.split_whitespace().find_map(|w| {
            depth += w.matches('{').count();
            let word = w.trim_matches(|c| c == ',' || c == '{' || c == '}');
            let named = matches!(word, "tcp" | "udp" | "icmp" | "gre");
            let found = named.then(|| if depth > 0 { "set" } else { word }.to_string());
            depth -= w.matches('}').count();
            found
        })
    };
    matches!((protocol(a), protocol(b)), (Some(x), Some(y)) if x != y || x == "set")
}

/// A random nft ruleset: one to three tables (ip or inet), each with base
/// chains on the forward path at random priorities, user chains that jump
/// only to later chains, a named address set, and random rules.
pub fn gen_nft_ruleset(r: &mut Rng, shape: Shape) -> String {
    let mut text = String::new();
    for t in 0..1 + r.below(3) {
        let family = r.pick(&["ip", "inet"]);
        text += &format!("table {family} t{t} {{\n");
        let (a, b) = (r.pick(ADDRS), r.pick(ADDRS));
        // nft refuses overlapping elements in a named interval set.
        let elements = if shape.loadable && overlap(a, b) {
            a.to_string()
        } else {
            format!("{a}, {b}")
        };
        text += &format!(
            "  set hosts {{ type ipv4_addr; flags interval; elements = {{ {elements} }} }}\n"
        );
        let users: Vec<String> = (0..r.below(3)).map(|i| format!("u{i}")).collect();
        let bases = 1 + r.below(2);
        let mut chains: Vec<(String, Option<&str>)> = Vec::new();
        for b in 0..bases {
            let hook = r.pick(&["prerouting", "forward", "forward", "postrouting"]);
            chains.push((format!("b{b}"), Some(hook)));
        }
        chains.extend(users.iter().map(|u| (u.clone(), None)));
        for (ci, (name, hook)) in chains.iter().enumerate() {
            text += &format!("  chain {name} {{\n");
            let nat = *hook == Some("postrouting") && r.chance(50);
            if let Some(hook) = hook {
                let kind = if nat { "nat" } else { "filter" };
                let mut prio = r.pick(&["raw", "mangle", "filter", "filter + 10", "-5", "srcnat"]);
                // The kernel takes no nat chain before conntrack; nft
                // knows `srcnat` only at postrouting.
                if shape.loadable && nat && prio == "raw" {
                    prio = "srcnat";
                }
                if shape.loadable && prio == "srcnat" && *hook != "postrouting" {
                    prio = "filter";
                }
                let policy = r.pick(&["accept", "drop"]);
                text += &format!("    type {kind} hook {hook} priority {prio}; policy {policy};\n");
            }
            let later: Vec<&String> = users
                .iter()
                .enumerate()
                .filter(|(ui, _)| bases as usize + ui > ci)
                .map(|(_, u)| u)
                .collect();
            for _ in 0..chain_length(r, shape.long) {
                let mut m = gen_nft_match(r, shape.loadable);
                if r.chance(40) {
                    let second = gen_nft_match(r, shape.loadable);
                    if !(shape.loadable && protocols_conflict(&m, &second)) {
                        m = format!("{m} {second}");
                    }
                }
                let jump = |r: &mut Rng, kw: &str| {
                    format!("{kw} {}", later[r.below(later.len() as u64) as usize])
                };
                let verdict = match r.below(11) {
                    0 | 1 => "accept".to_string(),
                    2 | 3 => "drop".to_string(),
                    // The kernel rejects only on the input, forward and
                    // output paths (and prerouting in inet tables): not
                    // at postrouting, nor in a chain a postrouting chain
                    // could jump to.
                    4 if shape.loadable && (hook.is_none() || *hook == Some("postrouting")) => {
                        "drop".to_string()
                    }
                    4 => "reject".to_string(),
                    5 if hook.is_none() => "return".to_string(),
                    6 if !later.is_empty() => jump(r, "jump"),
                    7 if !later.is_empty() => jump(r, "goto"),
                    8 if nat => "masquerade".to_string(),
                    8 => "counter".to_string(),
                    9 => {
                        let target = if later.is_empty() {
                            "drop".to_string()
                        } else {
                            jump(r, "jump")
                        };
                        format!(
                            "vmap {{ {} : accept, {}-{} : {target}, {} : drop }}",
                            r.below(2),
                            2 + r.below(2),
                            4 + r.below(2),
                            6 + r.below(3)
                        )
                    }
                    _ => "accept".to_string(),
                };
                let line = if let Some(map) = verdict.strip_prefix("vmap ") {
                    let mut key = r.pick(&["tcp dport", "th sport", "udp dport"]);
                    if shape.loadable && protocols_conflict(&m, key) {
                        key = "th sport";
                    }
                    format!("{m} {key} vmap {map}")
                } else {
                    format!("{m} {verdict}")
                };
                text += &format!("    {}\n", line.trim());
            }
            text += "  }\n";
        }
        text += "}\n";
    }
    text
}

/// A random ASA configuration: three interfaces named like the packets'
/// (`nameif eth0` …) at random security levels, lists of random entries
/// bound in, out or globally (or not at all), ICMP inspected or not.
pub fn gen_asa_config(r: &mut Rng, names: bool, long: bool) -> String {
    let mut s = String::from("ASA Version 9.8(4)\n");
    for (k, name) in IFACE_NAMES.iter().enumerate() {
        s += &format!(
            "interface GigabitEthernet0/{k}\n nameif {name}\n security-level {}\n ip address 10.0.{k}.1 255.255.255.0\n",
            r.pick(&["0", "50", "100"])
        );
    }
    // a.example (NAMED) stands only as a destination, which is where the
    // traffic of a requirement to a name is assumed to go.
    let addr = |r: &mut Rng, destination: bool| -> String {
        match r.below(if names { 6 } else { 4 }) {
            4 if destination => "object-group NAMED".into(),
            4 | 5 => "object-group OTHER".into(),
            0 => "any".into(),
            1 => format!("host 10.0.0.{}", r.below(9)),
            2 => format!(
                "10.0.0.{} 255.255.255.{}",
                4 * r.below(2),
                r.pick(&["252", "248"])
            ),
            _ => "object-group NETS".into(),
        }
    };
    s += "object-group network NETS\n network-object host 10.0.0.3\n network-object 10.0.0.4 255.255.255.254\n";
    if names {
        // Groups of DNS names the ASA resolves itself, beside a literal host.
        s += "object network FQ-A\n fqdn v4 a.example\nobject network FQ-B\n fqdn b.example\n";
        s += "object-group network NAMED\n network-object object FQ-A\n network-object host 10.0.0.3\n";
        s += "object-group network OTHER\n network-object object FQ-B\n network-object host 10.0.0.7\n";
    }
    for acl in ["A", "B", "G"] {
        for _ in 0..1 + chain_length(r, long) {
            let verb = r.pick(&["permit", "deny"]);
            let entry = match r.below(4) {
                0 => format!("ip {} {}", addr(r, false), addr(r, true)),
                1 => {
                    let p = r.pick(&["tcp", "udp"]);
                    let ports = match r.below(4) {
                        0 => format!("eq {}", r.below(10)),
                        1 => format!("range {} {}", r.below(4), 4 + r.below(5)),
                        2 => format!("neq {}", r.below(10)),
                        _ => format!("gt {}", r.below(8)),
                    };
                    format!("{p} {} {} {ports}", addr(r, false), addr(r, true))
                }
                2 => format!(
                    "icmp {} {} {}",
                    addr(r, false),
                    addr(r, true),
                    r.pick(&["echo", "echo-reply", "unreachable"])
                ),
                _ => format!("gre {} {}", addr(r, false), addr(r, true)),
            };
            let inactive = if r.chance(5) { " inactive" } else { "" };
            s += &format!("access-list {acl} extended {verb} {entry}{inactive}\n");
        }
    }
    for (acl, ifname) in [("A", r.pick(IFACE_NAMES)), ("B", r.pick(IFACE_NAMES))] {
        match r.below(3) {
            0 => s += &format!("access-group {acl} in interface {ifname}\n"),
            1 => s += &format!("access-group {acl} out interface {ifname}\n"),
            _ => {}
        }
    }
    if r.chance(40) {
        s += "access-group G global\n";
    }
    if r.chance(40) {
        s += "same-security-traffic permit inter-interface\n";
    }
    if r.chance(50) {
        s += "policy-map global_policy\n class inspection_default\n  inspect icmp\nservice-policy global_policy global\n";
    }
    s
}

pub fn gen_packet(r: &mut Rng) -> Packet {
    let mut p = Packet::default();
    p.set(Dim::Family, Family::Ipv4 as u128);
    p.set(Dim::Src, 0x0a00_0000 + r.below(9) as u128);
    p.set(Dim::Dst, 0x0a00_0000 + r.below(9) as u128);
    p.set(Dim::Proto, [6u128, 17, 1, 47][r.below(4) as usize]);
    p.set(Dim::Sport, r.below(10) as u128);
    p.set(Dim::Dport, r.below(10) as u128);
    p.set(
        Dim::Icmp,
        [0x0000u128, 0x0800, 0x0301, 0x0302][r.below(4) as usize],
    );
    p.set(Dim::State, r.below(5) as u128);
    p.set(Dim::Flags, r.below(256) as u128);
    p.set(Dim::In, iface::encode(r.pick(IFACE_NAMES)));
    p.set(Dim::Out, iface::encode(r.pick(IFACE_NAMES)));
    p
}

/// The small region of the packet space the random packets come from.
pub fn region() -> PacketSet {
    let names = IntervalSet::from_ranges(
        IFACE_NAMES
            .iter()
            .map(|n| (iface::encode(n), iface::encode(n)))
            .collect(),
    );
    Cube::family(Family::Ipv4)
        .with(Dim::Src, IntervalSet::range(0x0a00_0000, 0x0a00_0008))
        .unwrap()
        .with(Dim::Dst, IntervalSet::range(0x0a00_0000, 0x0a00_0008))
        .unwrap()
        .with(Dim::Sport, IntervalSet::range(0, 9))
        .unwrap()
        .with(Dim::Dport, IntervalSet::range(0, 9))
        .unwrap()
        .with(Dim::In, names.clone())
        .unwrap()
        .with(Dim::Out, names)
        .unwrap()
        .into()
}
