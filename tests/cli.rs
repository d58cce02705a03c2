//! The binary as users and CI run it: exit codes, stdout and stderr.

use std::process::Command;

fn octaverify(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_octaverify"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    let text = |b: Vec<u8>| String::from_utf8(b).expect("UTF-8 output");
    (
        out.status.code().expect("an exit code"),
        text(out.stdout),
        text(out.stderr),
    )
}

#[test]
fn exit_codes_follow_the_verdict() {
    assert_eq!(
        octaverify(&["corpus/iptables/compliant/ruleset.rules"]).0,
        0
    );
    assert_eq!(
        octaverify(&["check", "corpus/iptables/udp-range-dropped/ruleset.rules"]).0,
        1
    );
    assert_eq!(
        octaverify(&["corpus/iptables/unmodelled-module/ruleset.rules"]).0,
        1
    );
}

#[test]
fn bad_input_exits_2_with_a_located_error_on_stderr() {
    let (code, out, err) = octaverify(&[
        "corpus/iptables/invalid/bad-port-range.rules",
        "--dialler",
        "192.168.1.10",
    ]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert!(
        err.contains("corpus/iptables/invalid/bad-port-range.rules:6:34"),
        "{err}"
    );
    assert!(err.contains("^^^^^^^^^"), "{err}");
}

#[test]
fn missing_dialler_says_how_to_give_one() {
    let (code, _, err) = octaverify(&[
        "--config",
        "/dev/null",
        "corpus/iptables/compliant/ruleset.rules",
    ]);
    assert_eq!(code, 2);
    assert!(
        err.contains("--dialler") && err.contains("octaverify.toml"),
        "{err}"
    );
}

#[test]
fn flags_override_the_config_file() {
    // The corpus config names 192.168.1.10; as another host the dialler has no rules at all.
    let (code, out, _) = octaverify(&[
        "corpus/iptables/compliant/ruleset.rules",
        "--dialler",
        "192.168.1.99",
        "--output",
        "json",
    ]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["site"]["dialler"][0], "192.168.1.99");
    assert_eq!(v["verdict"], "non-compliant");
}

#[test]
fn requirement_file_replaces_the_builtin_set() {
    let dir = std::env::temp_dir().join(format!("octaverify-req-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let req = dir.join("req.toml");
    std::fs::write(&req, "schema = \"octaverify-requirements/1\"\n[[option]]\nid = \"web-only\"\nsummary = \"s\"\nrequirements = [\"egress-https\"]\n[[requirement]]\nid = \"egress-https\"\nsummary = \"s\"\nfrom = \"dialler\"\nto = \"internet\"\ntraffic = [\"tcp/443\"]\n").unwrap();
    let (code, out, err) = octaverify(&[
        "corpus/iptables/missing-icmp/ruleset.rules",
        "--requirements",
        req.to_str().unwrap(),
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["options"][0]["option"], "web-only");
}

#[test]
fn trace_follows_one_packet() {
    let args = [
        "trace",
        "corpus/iptables/udp-range-dropped/ruleset.rules",
        "--src",
        "192.168.1.10",
        "--dst",
        "1.1.1.1",
        "--proto",
        "udp",
        "--dport",
        "138",
    ];
    let (code, out, _) = octaverify(&args);
    assert_eq!(code, 1);
    insta::assert_snapshot!("trace_text", out);
    let mut json = args.to_vec();
    json.extend(["--output", "json"]);
    let (_, out, _) = octaverify(&json);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    insta::assert_json_snapshot!("trace_json", v);
}

#[test]
fn trace_of_an_accepted_packet_exits_0() {
    let args = [
        "trace",
        "corpus/iptables/goto-return/ruleset.rules",
        "--src",
        "192.168.1.10",
        "--dst",
        "1.1.1.1",
        "--proto",
        "udp",
        "--dport",
        "40000",
        "--in",
        "eth1",
        "--out",
        "eth0",
    ];
    let (code, out, _) = octaverify(&args);
    assert_eq!(code, 0, "{out}");
    // The goto to VOIP returns to FORWARD, past the jump to LAN, where UDP is accepted.
    assert!(
        out.contains("goto VOIP") && out.contains("verdict: accept"),
        "{out}"
    );
}

#[test]
fn trace_shows_rules_of_included_files_and_of_json_as_nft() {
    let packet = [
        "--src",
        "192.168.1.10",
        "--dst",
        "1.1.1.1",
        "--proto",
        "udp",
        "--dport",
        "53",
        "--in",
        "eth1",
        "--out",
        "eth0",
    ];
    let mut args = vec!["trace", "corpus/nftables/define-include/ruleset.nft"];
    args.extend(packet);
    let (code, out, _) = octaverify(&args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("define-include/rules/dialler.nft:")
            && out.contains("ip saddr $dialler meta l4proto udp accept"),
        "{out}"
    );
    let mut args = vec!["trace", "corpus/nftables/vmap-zones/ruleset.json"];
    args.extend(packet);
    let (code, out, _) = octaverify(&args);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("ruleset.json:259") && out.contains("meta l4proto udp accept # handle 13"),
        "{out}"
    );
}

#[test]
fn strict_makes_advisories_fail() {
    // The compliant case lets the dialler open UDP into internal networks:
    // an advisory, which only `--strict` makes a failure.
    let file = "corpus/iptables/compliant/ruleset.rules";
    let (code, out, _) = octaverify(&[file]);
    assert_eq!(code, 0);
    assert!(out.contains("warning[internal-reach]"), "{out}");
    let (code, out, _) = octaverify(&[file, "--strict"]);
    assert_eq!(code, 1);
    assert!(out.contains("NON-COMPLIANT (--strict)"), "{out}");
    let (code, json, _) = octaverify(&[file, "--strict", "--output", "json"]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["verdict"], "non-compliant");
    let advisory = v["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["id"] == "internal-reach")
        .unwrap();
    assert_eq!(advisory["advisory"], true);
}

#[test]
fn a_dns_mode_without_addresses_says_how_to_give_them() {
    let (code, out, err) = octaverify(&[
        "corpus/iptables/compliant/ruleset.rules",
        "--mode",
        "dns-ports",
    ]);
    assert_eq!(code, 2, "{out}");
    assert!(err.contains("mode dns-ports cannot be evaluated"), "{err}");
    assert!(
        err.contains("[resolve]") && err.contains("vpn.octalarm.nl"),
        "{err}"
    );
    // Once each, though several requirements need the same names.
    assert_eq!(
        err.matches("needs the addresses of vpn.").count(),
        1,
        "{err}"
    );
    // The same mode holds where the export matches the names itself.
    let (code, out, _) = octaverify(&[
        "corpus/cisco-asa/fqdn-dns-ports/ruleset.asa",
        "--mode",
        "dns-ports",
    ]);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn a_bad_export_is_reported_before_a_missing_dialler() {
    let (code, _, err) = octaverify(&["corpus/iptables/invalid/bad-port-range.rules"]);
    assert_eq!(code, 2);
    assert!(err.contains("bad-port-range.rules:"), "{err}");
}

#[test]
fn several_files_get_a_report_each_a_summary_and_the_worst_exit_code() {
    let (code, out, err) = octaverify(&[
        "corpus/iptables/compliant/ruleset.rules",
        "corpus/nftables/no-established/ruleset.nft",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(out.matches("octaverify: corpus/").count(), 2, "{out}");
    assert!(
        out.ends_with("summary: 2 files: 1 compliant, 1 non-compliant, 0 unknown, 0 errors\n"),
        "{out}"
    );
    // A bad file among good ones: the others are still reported.
    let (code, out, err) = octaverify(&[
        "corpus/iptables/compliant/ruleset.rules",
        "corpus/iptables/invalid/bad-port-range.rules",
        "--quiet",
    ]);
    assert_eq!(code, 2);
    assert_eq!(
        out,
        "corpus/iptables/compliant/ruleset.rules: compliant\nsummary: 2 files: 1 compliant, 0 non-compliant, 0 unknown, 1 error\n"
    );
    assert!(err.contains("bad-port-range.rules:"), "{err}");
}

#[test]
fn a_folder_is_checked_export_by_export_without_its_includes() {
    let (code, out, err) = octaverify(&["corpus/nftables/define-include", "--output", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let files: Vec<&str> = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["input"]["file"].as_str().unwrap())
        .collect();
    // The included fragments are checked as part of the file that includes them.
    assert_eq!(
        files,
        [
            "corpus/nftables/define-include/ruleset.json",
            "corpus/nftables/define-include/ruleset.nft"
        ]
    );
    assert_eq!(v["summary"]["compliant"], 2);
    assert_eq!(v["summary"]["errors"], 0);
}

#[test]
fn colour_is_asked_for_or_left_out() {
    let file = "corpus/iptables/udp-range-dropped/ruleset.rules";
    let (_, plain, _) = octaverify(&[file]);
    assert!(!plain.contains('\u{1b}'), "{plain}");
    let (_, coloured, _) = octaverify(&[file, "--color", "always"]);
    assert!(coloured.contains("\u{1b}["), "{coloured}");
    let (_, never, _) = octaverify(&["--color", "never", file]);
    assert_eq!(never, plain);
}

#[test]
fn explain_says_what_each_code_means() {
    let (code, out, _) = octaverify(&["explain"]);
    assert_eq!(code, 0);
    for c in [
        "missing",
        "shadowed",
        "reply-blocked",
        "unknown",
        "broad-source",
        "no-dialler6",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(c)),
            "{c} not listed:\n{out}"
        );
    }
    let (code, out, _) = octaverify(&["explain", "shadowed"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("shadowed (finding): "), "{out}");
    assert!(out.lines().all(|l| l.len() <= 80), "{out}");
    let (code, _, err) = octaverify(&["explain", "E0382"]);
    assert_eq!(code, 2);
    assert!(err.contains("the codes are missing, shadowed"), "{err}");
}

#[test]
fn completions_and_the_manual_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, out, err) = octaverify(&["completions", shell]);
        assert_eq!(code, 0, "{shell}: {err}");
        assert!(
            out.contains("octaverify") && out.contains("explain"),
            "{shell}:\n{out}"
        );
    }
    let (code, out, _) = octaverify(&["man"]);
    assert_eq!(code, 0);
    assert!(out.contains(".TH octaverify 1"), "{out}");
    assert!(out.contains("Proves whether a firewall export"), "{out}");
}

#[test]
fn diff_shows_what_a_change_opens_and_closes() {
    let (code, out, err) = octaverify(&[
        "diff",
        "corpus/iptables/udp-range-dropped/ruleset.rules",
        "corpus/iptables/compliant/ruleset.rules",
    ]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("verdict: non-compliant -> compliant"), "{out}");
    assert!(
        out.contains("egress-udp-all         source-ports  partial -> allowed"),
        "{out}"
    );
    assert!(
        out.contains("newly accepted:\n  udp dport 137-139 from 192.168.1.10"),
        "{out}"
    );
    assert!(
        out.contains("before:  corpus/iptables/udp-range-dropped/ruleset.rules:20:"),
        "{out}"
    );
    // One ruleset in two forms, of two formats: no change.
    let (code, out, _) = octaverify(&[
        "diff",
        "corpus/nftables/compliant/ruleset.nft",
        "corpus/nftables/compliant/ruleset.json",
        "--output",
        "json",
    ]);
    assert_eq!(code, 0, "{out}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["schema"], "octaverify-diff/1");
    assert_eq!(v["accepted"].as_array().unwrap().len(), 0);
    assert_eq!(v["dropped"].as_array().unwrap().len(), 0);
}

#[test]
fn a_large_export_is_mapped_and_reported_as_one_read() {
    // From 16 MiB on a file is mapped and its pages given back once parsed:
    // the report, quoting lines read in again, is the one its text gives
    // when read (a byte-order mark skipped in both).
    let case = "corpus/iptables/udp-range-dropped";
    let dir = std::env::temp_dir().join(format!("octaverify-map-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(
        format!("{case}/octaverify.toml"),
        dir.join("octaverify.toml"),
    )
    .unwrap();
    let rules = std::fs::read_to_string(format!("{case}/ruleset.rules")).unwrap();
    let padding = "# a comment line after the tables, to make the file large\n".repeat(300_000);
    let big = dir.join("ruleset.rules");
    std::fs::write(&big, format!("\u{FEFF}{rules}{padding}")).unwrap();
    assert!(std::fs::metadata(&big).unwrap().len() >= 16 << 20);
    let big = big.to_str().unwrap();
    let (code, out, err) = octaverify(&[big, "--output", "json"]);
    let (want_code, want, _) = octaverify(&[&format!("{case}/ruleset.rules"), "--output", "json"]);
    assert_eq!((code, err.as_str()), (want_code, ""));
    assert_eq!(
        out.replace(big, "F"),
        want.replace(&format!("{case}/ruleset.rules"), "F")
    );
    // Bytes that are not UTF-8 are found in a mapped file too.
    std::fs::write(
        dir.join("ruleset.rules"),
        [rules.as_bytes(), b"\xFF\n", padding.as_bytes()].concat(),
    )
    .unwrap();
    let (code, _, err) = octaverify(&[big]);
    assert_eq!(code, 2);
    assert!(err.contains("byte 0xFF is not UTF-8"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
