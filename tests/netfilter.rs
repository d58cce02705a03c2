//! Netfilter behaviours octaverify got wrong, each pinned with the packets
//! whose verdicts the kernel gives (most found by the kernel judge,
//! tests/kernel.rs): `th` on protocols without ports, nat chains without
//! connection tracking, user chains that base chains of several stages
//! reach (and the copies of one settled before it was copied), and nat
//! chains after one that bound the connection.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs octaverify with `args` on `rules`, written to a file of its own
/// (the tests run in parallel), the file's path in place of `FILE`.
fn run(rules: &str, args: &[&str]) -> Output {
    static N: AtomicUsize = AtomicUsize::new(0);
    let path = std::env::temp_dir().join(format!(
        "octaverify-netfilter-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::write(&path, rules).expect("a temporary file");
    let file = path.to_str().expect("a UTF-8 path");
    let args: Vec<&str> = args
        .iter()
        .map(|&a| if a == "FILE" { file } else { a })
        .collect();
    let out = Command::new(env!("CARGO_BIN_EXE_octaverify"))
        .args(&args)
        .output()
        .expect("the binary runs");
    std::fs::remove_file(&path).expect("removed");
    out
}

/// `octaverify trace` of one packet through `rules`, as the verdict of its
/// JSON output. `packet` is the trace flags.
fn verdict(rules: &str, packet: &str) -> String {
    let mut args = vec!["trace", "FILE", "--output", "json"];
    args.extend(packet.split_whitespace());
    let out = run(rules, &args);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
        panic!(
            "no trace for {packet}: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    json["verdict"].as_str().expect("a verdict").to_string()
}

const FORWARD: &str = "--in eth1 --out eth0 --src 10.0.0.6 --dst 10.0.0.1 --state new";

fn udp(sport: u16, dport: u16) -> String {
    format!("{FORWARD} --proto udp --sport {sport} --dport {dport}")
}

#[test]
fn th_on_a_protocol_without_ports_is_unknown_and_exact_elsewhere() {
    let rules = "table ip t {
  chain f {
    type filter hook forward priority filter; policy accept;
    th dport != { 1-5 } drop
  }
}
";
    assert_eq!(verdict(rules, &udp(9, 3)), "accept");
    assert_eq!(verdict(rules, &udp(9, 7)), "drop");
    // ICMP has no ports: th reads its checksum and id bytes there.
    let echo = format!("{FORWARD} --proto icmp --icmp-type echo-request");
    assert_eq!(verdict(rules, &echo), "unknown");
}

#[test]
fn nat_chains_run_only_where_something_tracks_connections() {
    let nat = "table ip n {
  chain post {
    type nat hook postrouting priority srcnat; policy drop;
  }
}
";
    // Nothing makes the kernel track connections: the nat chain never runs.
    assert_eq!(verdict(nat, &udp(1, 2)), "accept");
    let tracked = format!(
        "{nat}table ip t {{
  chain f {{
    type filter hook forward priority filter; policy accept;
    ct state invalid drop
  }}
}}
"
    );
    assert_eq!(verdict(&tracked, &udp(1, 2)), "drop");

    let ipt = "*nat\n:POSTROUTING DROP [0:0]\nCOMMIT\n*filter\n:FORWARD ACCEPT [0:0]\nCOMMIT\n";
    assert_eq!(verdict(ipt, &udp(1, 2)), "accept");
    let ipt_tracked = ipt.replace(
        ":FORWARD ACCEPT [0:0]\n",
        ":FORWARD ACCEPT [0:0]\n-A FORWARD -m conntrack --ctstate INVALID -j DROP\n",
    );
    assert_eq!(verdict(&ipt_tracked, &udp(1, 2)), "drop");
}

#[test]
fn a_chain_reached_before_and_after_routing_sees_the_output_interface_only_after() {
    // u is entered from prerouting (no output interface yet: `oifname
    // "eth*"` matches nothing) and, for TCP from 10.0.0.6, from forward.
    let rules = "table ip t {
  chain pre {
    type filter hook prerouting priority filter; policy drop;
    jump u
  }
  chain fwd {
    type filter hook forward priority filter; policy accept;
    meta l4proto tcp jump u
  }
  chain u {
    oifname \"eth*\" drop
    accept
  }
}
";
    assert_eq!(verdict(rules, &udp(1, 2)), "accept");
    let syn = format!("{FORWARD} --proto tcp --sport 1 --dport 2");
    assert_eq!(verdict(rules, &syn), "drop");

    // The same in iptables: a mangle user chain under PREROUTING and FORWARD.
    let ipt = "*mangle
:PREROUTING ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:U - [0:0]
-A PREROUTING -j U
-A FORWARD -p tcp -j U
-A U -o eth+ -j DROP
COMMIT
";
    assert_eq!(verdict(ipt, &udp(1, 2)), "accept");
    assert_eq!(verdict(ipt, &syn), "drop");
}

#[test]
fn a_nat_chain_that_binds_the_connection_ends_the_hooks_nat_chains() {
    let rules = "table ip a {
  chain post {
    type nat hook postrouting priority srcnat - 10; policy accept;
    udp sport 1 masquerade
  }
}
table ip b {
  chain post {
    type nat hook postrouting priority srcnat; policy drop;
  }
}
";
    assert_eq!(verdict(rules, &udp(1, 2)), "accept");
    assert_eq!(verdict(rules, &udp(3, 2)), "drop");
}

#[test]
fn lint_reports_a_rule_of_a_chain_reached_from_two_stages_once() {
    let rules = "table ip t {
  chain pre {
    type filter hook prerouting priority filter; policy accept;
    jump u
  }
  chain fwd {
    type filter hook forward priority filter; policy accept;
    jump u
  }
  chain u {
    oifname \"eth1\" drop
    tcp dport 22 drop
    tcp dport 22 accept
    udp dport 53 accept
  }
}
";
    let out = run(rules, &["lint", "FILE", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let lines: Vec<u64> = json["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| f["rule"]["line"].as_u64().expect("a line"))
        .collect();
    assert_eq!(lines, [13], "{json:#}");
    assert_eq!(json["summary"]["rules"], 6, "{json:#}");
}

#[test]
fn trace_takes_the_tcp_flags_of_an_answer() {
    // What the kernel judge's SYN-ACK answers are traced as.
    let rules = "table ip t {
  chain f {
    type filter hook forward priority filter; policy accept;
    tcp flags & (syn | ack) == syn | ack drop
  }
}
";
    let tcp = format!("{FORWARD} --proto tcp --sport 1 --dport 2");
    assert_eq!(verdict(rules, &tcp), "accept");
    let answer = tcp.replace("--state new", "--state established");
    assert_eq!(
        verdict(rules, &format!("{answer} --tcp-flags SYN,ACK")),
        "drop"
    );
    let out = run(
        rules,
        &[
            "trace",
            "FILE",
            "--proto",
            "tcp",
            "--src",
            "10.0.0.1",
            "--dst",
            "10.0.0.2",
            "--tcp-flags",
            "SYN,BOGUS",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown TCP flags `SYN,BOGUS`"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_chain_copied_after_it_was_settled_jumps_to_the_copies_of_its_own_stage() {
    // x is settled first (for prerouting at filter priority, where t,
    // whose home is input, gets a copy), then copied for the raw
    // prerouting chain, which runs before connection tracking: that copy
    // must reach a copy of t for its own stage, not the first copy.
    let rules = "table inet t {
  chain t {
    ct state established drop
  }
  chain pre_raw {
    type filter hook prerouting priority -300; policy accept;
    jump x
  }
  chain pre {
    type filter hook prerouting priority 0; policy accept;
    jump x
  }
  chain inp {
    type filter hook input priority 0; policy accept;
    jump t
  }
  chain x {
    jump t
  }
}
";
    let packet =
        "--in eth1 --out eth0 --src 10.0.0.6 --dst 10.0.0.1 --proto udp --sport 1 --dport 2";
    assert_eq!(verdict(rules, &format!("{packet} --state new")), "accept");
    assert_eq!(
        verdict(rules, &format!("{packet} --state established")),
        "drop"
    );
}
