//! Hostile and malformed inputs through the binary: each finishes with a
//! verdict or stops with a located error (exit 2), never a crash, a hang or
//! a stack overflow. Sizes are kept so that a debug build runs them in
//! seconds; `benches/whole-run` and the figures in the README cover scale.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const SITE: &[&str] = &["--config", "/dev/null", "--dialler", "10.0.0.1"];

/// A file of the test's own in a fresh folder.
fn file(test: &str, name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("octaverify-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("a temporary file");
    path
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_octaverify"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("piped");
    input.write_all(stdin.unwrap_or_default()).expect("stdin");
    drop(input);
    let out = child.wait_with_output().expect("it ends");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    let code = out
        .status
        .code()
        .unwrap_or_else(|| panic!("killed: {}", text(out.stderr.clone())));
    (code, text(out.stdout), text(out.stderr))
}

fn check(path: &Path) -> (i32, String, String) {
    let mut args = vec!["check"];
    args.extend(SITE);
    args.push(path.to_str().expect("UTF-8 path"));
    run(&args, None)
}

/// FORWARD jumps to C0, each Ci to C(i+1): `chains` chains nested under
/// FORWARD, each with a rule before its jump that drops what no checked
/// traffic is (invalid packets), so that the walks go all the way down
/// without a finding per level (each of which would walk the chains again).
fn nested(chains: usize) -> String {
    let mut s =
        String::from("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n");
    for i in 0..chains {
        s += &format!(":C{i} - [0:0]\n");
    }
    s += "-A FORWARD -j C0\n";
    for i in 0..chains - 1 {
        s += &format!(
            "-A C{i} -p tcp --dport {} -m conntrack --ctstate INVALID -j DROP\n-A C{i} -j C{}\n",
            i % 60000 + 1,
            i + 1
        );
    }
    s += &format!("-A C{} -j ACCEPT\nCOMMIT\n", chains - 1);
    s
}

#[test]
fn jumps_nested_past_the_limit_are_too_complex() {
    let path = file("deep", "deep.rules", nested(1000).as_bytes());
    let (code, out, err) = check(&path);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("too complex: jumps nest 1001 chains deep from FORWARD"),
        "{err}"
    );
    // The jump from the 1000th chain (C998) to the 1001st.
    assert!(err.contains("deep.rules:3003:12"), "{err}");
}

#[test]
fn jumps_nested_to_the_limit_are_followed() {
    let path = file("limit", "limit.rules", nested(999).as_bytes());
    let (code, out, err) = check(&path);
    assert!(code == 0 || code == 1, "{out}{err}");
    let (code, out, err) = run(&["lint", path.to_str().unwrap()], None);
    assert!(code == 0 || code == 1, "{out}{err}");
}

#[test]
fn a_megabyte_line_is_read() {
    let comment = "x".repeat(1 << 20);
    let text = format!(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -m comment --comment \"{comment}\" -j ACCEPT\nCOMMIT\n"
    );
    let (code, out, err) = check(&file("long", "long.rules", text.as_bytes()));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("COMPLIANT"));
    // The report quotes the start of the rule, not the megabyte.
    assert!(
        out.contains("cut here: the line goes on in the file") && out.len() < 20_000,
        "{}",
        out.len()
    );
    // A bad option at the end of a long line: the error shows where, not the line.
    let text = format!(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD {} --bogus\nCOMMIT\n",
        "-p tcp ".repeat(150_000)
    );
    let (code, _, err) = check(&file("longbad", "long.rules", text.as_bytes()));
    assert_eq!(code, 2);
    assert!(
        err.contains("long.rules:3:1050013") && err.len() < 2000,
        "{}",
        &err[..err.len().min(2000)]
    );
}

/// Negated rules by the hundred cut the space ever finer: the check
/// decides them, or stops at its work bound with a located error.
#[test]
fn hundreds_of_negated_rules_finish_or_stop_as_too_complex() {
    let mut s = String::from("*filter\n:FORWARD DROP [0:0]\n");
    for i in 0..800u32 {
        let (a, b) = (i.wrapping_mul(2654435761), i.wrapping_mul(40503));
        s += &format!(
            "-A FORWARD ! -s {}.{}.{}.0/24 -d {}.{}.0.0/16 -p udp ! --dport {} -j DROP\n",
            a >> 24 | 1,
            (a >> 16) & 255,
            (a >> 8) & 255,
            b >> 8 & 223 | 1,
            b & 255,
            i % 65535 + 1
        );
    }
    s += "-A FORWARD -j ACCEPT\nCOMMIT\n";
    let (code, out, err) = check(&file("neg", "neg.rules", s.as_bytes()));
    assert!(
        code == 0 || code == 1 || err.contains("too complex"),
        "{out}{err}"
    );
    assert!(code != 2 || err.contains("neg.rules:"), "{err}");
}

#[test]
fn wildcards_that_fragment_the_space_stop_as_too_complex() {
    let mut s = String::from(
        "interface GigabitEthernet0/1\n ip address 10.0.0.254 255.255.255.0\n ip access-group 101 in\n!\n",
    );
    for i in 0..300 {
        s += &format!(
            "access-list 101 deny udp 10.{}.0.0 85.85.85.85 any eq {}\n",
            i % 200,
            i + 1
        );
    }
    s += "access-list 101 permit ip any any\n";
    let path = file("wild", "wild.ios", s.as_bytes());
    let (code, out, err) = check(&path);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("too complex: the rules up to here cut the packet space"),
        "{err}"
    );
    assert!(err.contains("wild.ios:"), "{err}");
    // Where it stops does not depend on how the threads went.
    assert_eq!(check(&path).2, err);
}

#[test]
fn a_huge_set_loads() {
    let elements: Vec<String> = (0..20_000u32)
        .map(|i| format!("{}.{}.{}.0/24", i / 65536 + 1, i / 256 % 256, i % 256))
        .collect();
    let text = format!(
        "table inet f {{\n set ban {{ type ipv4_addr; flags interval; elements = {{ {} }} }}\n chain forward {{\n  type filter hook forward priority 0; policy accept;\n  ip saddr @ban drop\n }}\n}}\n",
        elements.join(", ")
    );
    let (code, out, err) = check(&file("set", "set.nft", text.as_bytes()));
    assert!(code == 0 || code == 1, "{out}{err}");
}

#[test]
fn an_include_cycle_is_refused() {
    let a = file("incl", "a.nft", b"include \"b.nft\"\ntable inet f {\n chain c { type filter hook forward priority 0; }\n}\n");
    file("incl", "b.nft", b"include \"a.nft\"\n");
    let (code, _, err) = check(&a);
    assert_eq!(code, 2);
    assert!(
        err.contains("include loop") && err.contains("b.nft:1:9"),
        "{err}"
    );
}

const GOOD: &str = "*filter\n:FORWARD DROP [0:0]\n-A FORWARD -s 10.0.0.1/32 -j ACCEPT\n-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A FORWARD -d 10.0.0.1/32 -p tcp --dport 80 -j ACCEPT\nCOMMIT\n";

/// Malformed bytes: a located error each, with what was expected.
#[test]
fn malformed_text_gets_a_located_error() {
    let cases: &[(&str, Vec<u8>, &str)] = &[
        (
            "utf8",
            b"*filter\n# caf\xe9\nCOMMIT\n".to_vec(),
            "x.rules:2:6",
        ),
        (
            "nul",
            b"*filter\n:FORWARD\0 DROP\nCOMMIT\n".to_vec(),
            "x.rules:2:9",
        ),
        (
            "crlf",
            GOOD.replace('\n', "\r\n").into_bytes(),
            "x.rules:1:8",
        ),
        (
            "truncated",
            GOOD.as_bytes()[..GOOD.len() - 30].to_vec(),
            "x.rules:",
        ),
        (
            "port",
            GOOD.replace("--dport 80", "--dport 70000").into_bytes(),
            "x.rules:5:",
        ),
        (
            "prefix",
            GOOD.replace("10.0.0.1/32", "10.0.0.1/33").into_bytes(),
            "x.rules:3:",
        ),
        (
            "icmp",
            GOOD.replace("-p tcp --dport 80", "-p icmp --icmp-type 300")
                .into_bytes(),
            "x.rules:5:",
        ),
    ];
    for (name, bytes, at) in cases {
        let (code, out, err) = check(&file(name, "x.rules", bytes));
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(
            err.contains(at) && err.contains('^') && err.contains("expected"),
            "{name}: {err}"
        );
    }
}

/// Tabs and a byte-order mark are no errors: the export is as good without.
#[test]
fn tabs_and_a_byte_order_mark_are_read() {
    let plain = check(&file("plain", "x.rules", GOOD.as_bytes()));
    let tabs = check(&file("tabs", "x.rules", GOOD.replace(' ', "\t").as_bytes()));
    let bom = check(&file(
        "bom",
        "x.rules",
        format!("\u{feff}{GOOD}").as_bytes(),
    ));
    assert_eq!(plain.0, 0, "{}", plain.2);
    assert_eq!((tabs.0, bom.0), (0, 0), "{}{}", tabs.2, bom.2);
}

#[test]
fn standard_input_is_read_for_a_dash() {
    let mut args = vec!["check"];
    args.extend(SITE);
    args.push("-");
    let (code, out, _) = run(&args, Some(GOOD.as_bytes()));
    assert_eq!(code, 0);
    assert!(out.starts_with("octaverify: <stdin> (iptables)"), "{out}");
    let (code, _, err) = run(
        &args,
        Some(b"*filter\n-A FORWARD -s 1.2.3.4/33 -j ACCEPT\nCOMMIT\n"),
    );
    assert_eq!(code, 2);
    assert!(err.contains("<stdin>:2:"), "{err}");
}

/// The inputs are read, never written: every command leaves them as they were.
#[test]
fn inputs_are_left_as_they_were() {
    let path = file("ro", "x.rules", GOOD.as_bytes());
    let p = path.to_str().unwrap();
    let before = std::fs::metadata(&path).unwrap().modified().unwrap();
    let mut check = vec!["check"];
    check.extend(SITE);
    check.push(p);
    run(&check, None);
    run(&["lint", p], None);
    run(
        &[
            "diff",
            "--config",
            "/dev/null",
            "--dialler",
            "10.0.0.1",
            p,
            p,
        ],
        None,
    );
    assert_eq!(std::fs::read(&path).unwrap(), GOOD.as_bytes());
    assert_eq!(
        std::fs::metadata(&path).unwrap().modified().unwrap(),
        before
    );
}
