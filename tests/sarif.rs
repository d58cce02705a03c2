//! `--output sarif` against the SARIF 2.1.0 JSON schema (a copy in tests/data),
//! over the whole corpus: every format, findings of every kind, warnings, and
//! files that cannot be read (as tool notifications).

use octaverify::cli::{self, Terminal};

fn sarif(args: &[&str]) -> (serde_json::Value, i32) {
    let mut argv = vec!["octaverify".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    argv.extend(["--output".into(), "sarif".into()]);
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let r = cli::run(argv, Terminal::plain()).unwrap_or_else(|e| panic!("{e}"));
    (
        serde_json::from_str(&r.stdout).expect("SARIF is JSON"),
        r.code,
    )
}

fn validator() -> jsonschema::Validator {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json"))
            .expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema compiles")
}

fn assert_valid(log: &serde_json::Value) {
    let v = validator();
    let errors: Vec<String> = v
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(
        errors.is_empty(),
        "SARIF does not match the 2.1.0 schema:\n{}",
        errors.join("\n")
    );
}

#[test]
fn the_whole_corpus_as_sarif_matches_the_schema() {
    let (log, code) = sarif(&["corpus"]);
    assert_valid(&log);
    // The invalid inputs make the run an error, reported as notifications.
    assert_eq!(code, 2);
    let run = &log["runs"][0];
    assert_eq!(run["invocations"][0]["executionSuccessful"], false);
    let notes = run["invocations"][0]["toolExecutionNotifications"]
        .as_array()
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n["locations"][0]["physicalLocation"]["region"]["startLine"].is_u64())
    );
    let results = run["results"].as_array().unwrap();
    for kind in [
        "missing",
        "shadowed",
        "reply-blocked",
        "unknown",
        "internal-reach",
        "pinned-address",
    ] {
        assert!(
            results.iter().any(|r| r["ruleId"] == kind),
            "no {kind} result"
        );
    }
    // Every result names a rule of the driver, and stands at a line of its file.
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    for r in results {
        let i = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[i]["id"], r["ruleId"]);
        assert!(
            !r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                .as_str()
                .unwrap()
                .is_empty()
        );
    }
}

#[test]
fn a_finding_stands_at_its_blocking_rule_with_the_allowing_one_related() {
    let (log, code) = sarif(&["corpus/iptables/udp-range-dropped/ruleset.rules"]);
    assert_valid(&log);
    assert_eq!(code, 1);
    let result = &log["runs"][0]["results"][0];
    assert_eq!(result["ruleId"], "shadowed");
    assert_eq!(result["level"], "error");
    let at = &result["locations"][0]["physicalLocation"];
    assert_eq!(
        at["artifactLocation"]["uri"],
        "corpus/iptables/udp-range-dropped/ruleset.rules"
    );
    assert_eq!(at["region"]["startLine"], 20);
    assert!(
        result["properties"]["fix"]
            .as_str()
            .unwrap()
            .starts_with("-I FORWARD")
    );
    assert_eq!(result["relatedLocations"][0]["message"]["text"], "allowing");
}

#[test]
fn advisories_are_warnings_and_errors_with_strict() {
    let file = "corpus/iptables/compliant/ruleset.rules";
    let levels = |log: &serde_json::Value| -> Vec<(String, String)> {
        log["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["ruleId"].as_str().unwrap().into(),
                    r["level"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let (log, code) = sarif(&[file]);
    assert_valid(&log);
    assert_eq!(code, 0);
    assert_eq!(
        levels(&log),
        [("internal-reach".to_string(), "warning".to_string())]
    );
    let (log, code) = sarif(&[file, "--strict"]);
    assert_valid(&log);
    assert_eq!(code, 1);
    assert_eq!(
        levels(&log),
        [("internal-reach".to_string(), "error".to_string())]
    );
}

#[test]
fn the_schema_check_can_fail() {
    let (mut log, _) = sarif(&["corpus/iptables/udp-range-dropped/ruleset.rules"]);
    log["runs"][0]["results"][0]["level"] = serde_json::json!("fatal");
    assert!(!validator().is_valid(&log));
}

#[test]
fn lint_as_sarif_matches_the_schema() {
    let mut argv: Vec<String> = [
        "octaverify",
        "lint",
        "corpus/lint/mixed.rules",
        "--output",
        "sarif",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.shrink_to_fit();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let r = cli::run(argv, Terminal::plain()).unwrap();
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_valid(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    assert!(results.iter().any(|x| x["ruleId"] == "shadowed-rule"));
    assert!(results.iter().any(|x| x["ruleId"] == "redundant-rule"));
}

#[test]
fn diff_as_sarif_matches_the_schema() {
    let argv: Vec<String> = [
        "octaverify",
        "diff",
        "corpus/iptables/udp-range-dropped/ruleset.rules",
        "corpus/iptables/compliant/ruleset.rules",
        "--output",
        "sarif",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let r = cli::run(argv, Terminal::plain()).unwrap();
    let log: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_valid(&log);
    let results = log["runs"][0]["results"].as_array().unwrap();
    let accepted = results
        .iter()
        .find(|x| x["ruleId"] == "newly-accepted")
        .unwrap();
    // At the rule that accepts it now, in the new file.
    let at = &accepted["locations"][0]["physicalLocation"];
    assert_eq!(
        at["artifactLocation"]["uri"],
        "corpus/iptables/compliant/ruleset.rules"
    );
    assert_eq!(at["region"]["startLine"], 14);
}

#[test]
fn a_failing_flow_of_a_capture_stands_at_the_rule_that_drops_it() {
    let (log, code) = sarif(&[
        "pcap",
        "corpus/iptables/udp-range-dropped/dump.pcap",
        "--ruleset",
        "corpus/iptables/udp-range-dropped/ruleset.rules",
    ]);
    assert_valid(&log);
    assert_eq!(code, 1);
    let results = log["runs"][0]["results"].as_array().expect("results");
    assert_eq!(results.len(), 1, "{log:#}");
    let r = &results[0];
    assert_eq!(r["ruleId"], "no-answer");
    assert_eq!(r["level"], "error");
    let message = r["message"]["text"].as_str().expect("a message");
    assert!(message.ends_with("; the ruleset drops it"), "{message}");
    let at = &r["locations"][0]["physicalLocation"];
    assert_eq!(
        at["artifactLocation"]["uri"],
        "corpus/iptables/udp-range-dropped/ruleset.rules"
    );
    assert_eq!(at["region"]["startLine"], 20);
}
