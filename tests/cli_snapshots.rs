//! Every subcommand and output format as a user sees it: exit code, stdout
//! and stderr of the binary, as reviewed snapshots.

use std::process::Command;

fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_octaverify"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs");
    format!(
        "$ octaverify {}\nexit {}\n--- stdout\n{}--- stderr\n{}",
        args.join(" "),
        out.status.code().expect("an exit code"),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap()
    )
}

/// The first lines only, where the whole is generated (completions, manual).
fn head(s: String, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join("\n") + "\n…\n"
}

const SHADOWED: &str = "corpus/iptables/udp-range-dropped/ruleset.rules";
const COMPLIANT: &str = "corpus/iptables/compliant/ruleset.rules";

#[test]
fn check() {
    insta::assert_snapshot!("check-text", run(&[SHADOWED]));
    insta::assert_snapshot!("check-json", run(&["check", SHADOWED, "--output", "json"]));
    insta::assert_snapshot!("check-sarif", run(&[SHADOWED, "--output", "sarif"]));
    insta::assert_snapshot!("check-several", run(&[COMPLIANT, SHADOWED, "--quiet"]));
    insta::assert_snapshot!(
        "check-folder-json",
        run(&[
            "corpus/nftables/define-include",
            "--output",
            "json",
            "--quiet"
        ])
    );
    insta::assert_snapshot!(
        "check-bad-input",
        run(&["corpus/iptables/invalid/bad-port-range.rules"])
    );
    insta::assert_snapshot!(
        "check-no-dialler",
        run(&["corpus/lint/mixed.rules", "--config", "/dev/null"])
    );
    insta::assert_snapshot!("check-strict", run(&[COMPLIANT, "--strict", "--quiet"]));
}

#[test]
fn trace() {
    let args = [
        "trace",
        SHADOWED,
        "--src",
        "192.168.1.10",
        "--dst",
        "1.1.1.1",
        "--proto",
        "udp",
        "--dport",
        "137",
    ];
    insta::assert_snapshot!("trace-text", run(&args));
    let mut json = args.to_vec();
    json.extend(["--output", "json"]);
    insta::assert_snapshot!("trace-json", run(&json));
    let mut sarif = args.to_vec();
    sarif.extend(["--output", "sarif"]);
    insta::assert_snapshot!("trace-sarif", run(&sarif));
}

#[test]
fn lint() {
    let file = "corpus/lint/mixed.rules";
    insta::assert_snapshot!("lint-text", run(&["lint", file]));
    insta::assert_snapshot!("lint-json", run(&["lint", file, "--output", "json"]));
    insta::assert_snapshot!("lint-sarif", run(&["lint", file, "--output", "sarif"]));
}

#[test]
fn diff() {
    insta::assert_snapshot!("diff-text", run(&["diff", SHADOWED, COMPLIANT]));
    insta::assert_snapshot!(
        "diff-json",
        run(&["diff", SHADOWED, COMPLIANT, "--output", "json"])
    );
    insta::assert_snapshot!(
        "diff-sarif",
        run(&["diff", SHADOWED, COMPLIANT, "--output", "sarif"])
    );
}

#[test]
fn explain_completions_man_help() {
    insta::assert_snapshot!("explain-all", run(&["explain"]));
    insta::assert_snapshot!("explain-one", run(&["explain", "reply-blocked"]));
    insta::assert_snapshot!("explain-unknown", run(&["explain", "nope"]));
    insta::assert_snapshot!("completions-fish", head(run(&["completions", "fish"]), 8));
    insta::assert_snapshot!("man", head(run(&["man"]), 12));
    insta::assert_snapshot!("help", run(&["--help"]));
    insta::assert_snapshot!("check-help", run(&["check", "--help"]));
}
