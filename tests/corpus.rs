//! Every corpus case: its text and JSON reports (or its error) as insta
//! snapshots, and every suggested fix applied and re-checked.

use octaverify::cli;
use std::path::Path;

fn run(args: &[&str]) -> Result<(String, i32), String> {
    let mut argv = vec!["octaverify".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    cli::run(argv, cli::Terminal::plain())
        .map(|r| (r.stdout, r.code))
        .map_err(|e| e.render(false))
}

/// The path relative to the package root, as a user would type it.
fn relative(path: &Path) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Files under `corpus/` whose relative path satisfies `keep`, sorted.
fn corpus_files(keep: impl Fn(&str) -> bool) -> Vec<std::path::PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else {
                out.push(p)
            }
        }
    }
    let mut out = Vec::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus"),
        &mut out,
    );
    out.retain(|p| keep(&relative(p)));
    out.sort();
    out
}

/// Runs `f` on each file with snapshots named after the file's path
/// (`iptables__compliant`), then fails listing every file that failed.
fn each_file(files: Vec<std::path::PathBuf>, f: impl Fn(&Path)) {
    assert!(!files.is_empty(), "no corpus files found");
    let mut failed = Vec::new();
    for path in &files {
        let rel = relative(path);
        let name = rel
            .trim_start_matches("corpus/")
            .trim_end_matches("/ruleset.rules")
            .trim_end_matches("/ruleset.nft")
            .trim_end_matches("/ruleset.ios")
            .trim_end_matches("/ruleset.asa")
            .replace("/ruleset.json", "-json")
            .replace('/', "__");
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_suffix(name);
        settings.set_prepend_module_to_snapshot(false);
        let ok = settings
            .bind(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(path))))
            .is_ok();
        if !ok {
            failed.push(rel);
        }
    }
    assert!(failed.is_empty(), "failed: {failed:#?}");
}

fn is_case(rel: &str) -> bool {
    rel.contains("/ruleset.") && !rel.contains("/invalid/")
}

fn is_invalid(rel: &str) -> bool {
    rel.contains("/invalid/") && !rel.ends_with(".toml") && !rel.ends_with(".md")
}

#[test]
fn corpus_reports() {
    each_file(corpus_files(is_case), |path| {
        let file = relative(path);
        match run(&[&file]) {
            Ok((text, code)) => {
                insta::assert_snapshot!("text", format!("exit {code}\n{text}"));
                let (json, _) = run(&[&file, "--output", "json"]).expect("json run");
                let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
                every_code_is_explained(&value);
                insta::assert_json_snapshot!("json", value);
            }
            Err(e) => insta::assert_snapshot!("error", e),
        }
    });
}

/// A capture of the dialler's beside a case's ruleset.
fn is_capture(rel: &str) -> bool {
    rel.ends_with("/dump.pcap") || rel.ends_with("/dump.pcapng")
}

#[test]
fn capture_reports() {
    each_file(corpus_files(is_capture), |path| {
        let dump = relative(path);
        let dir = dump.rsplit_once('/').expect("in a case folder").0;
        let rulesets = corpus_files(|r| r.starts_with(&format!("{dir}/ruleset.")));
        let ruleset = relative(rulesets.first().expect("a ruleset beside the capture"));
        let args = ["pcap", dump.as_str(), "--ruleset", ruleset.as_str()];
        let (text, code) = run(&args).expect("the capture is read");
        insta::assert_snapshot!("text", format!("exit {code}\n{text}"));
        let (json, _) = run(&[&args[..], &["--output", "json"]].concat()).expect("json run");
        let value: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        insta::assert_json_snapshot!("json", value);
    });
}

#[test]
fn invalid_inputs_are_refused_with_a_located_error() {
    each_file(corpus_files(is_invalid), |path| {
        let file = relative(path);
        let err = run(&[&file]).expect_err("invalid input must be refused");
        assert!(
            err.contains(&format!("{file}:")),
            "error names the file and line: {err}"
        );
        insta::assert_snapshot!("error", err);
    });
}

/// Applies suggested rules: iptables rule lines go at the end of their
/// table's block, nft commands at the end of the script.
fn apply_fixes(text: &str, fixes: &[String]) -> String {
    if fixes.iter().all(|f| f.starts_with("nft ")) {
        return apply_nft_fixes(text, fixes);
    }
    // ASA and IOS configuration lines, in order (a list opened again, its entries).
    let cisco = [
        "ip access-list ",
        "ipv6 access-list ",
        " ",
        "access-list ",
        "access-group ",
    ];
    if fixes.iter().all(|f| cisco.iter().any(|p| f.starts_with(p))) {
        return format!("{text}\n{}\n", fixes.join("\n"));
    }
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Later positions first, so that earlier positions still mean what they meant.
    let mut fixes: Vec<&String> = fixes.iter().collect();
    let position = |f: &str| -> u32 {
        let words: Vec<&str> = f.split_whitespace().collect();
        words
            .iter()
            .position(|w| *w == "-I")
            .and_then(|i| words.get(i + 2)?.parse().ok())
            .unwrap_or(0)
    };
    fixes.sort_by_key(|f| std::cmp::Reverse(position(f)));
    for fix in fixes {
        // A file with both dumps gets `iptables …`/`ip6tables …` commands:
        // the rule goes into the dump of that tool.
        let (dump, fix) = match fix.split_once(' ') {
            Some((tool @ ("iptables" | "ip6tables"), rest)) => {
                let header = format!("# Generated by {tool}-save");
                let at = lines.iter().position(|l| l.starts_with(&header));
                (at.expect("the tool's dump in the file"), rest)
            }
            _ => (0, fix.as_str()),
        };
        let (table, rule) = match fix.strip_prefix("-t ") {
            Some(rest) => rest.split_once(' ').expect("-t TABLE RULE"),
            None => ("filter", fix),
        };
        let start = dump
            + lines[dump..]
                .iter()
                .position(|l| l.trim() == format!("*{table}"))
                .expect("table in file");
        let commit = start
            + lines[start..]
                .iter()
                .position(|l| l.trim() == "COMMIT")
                .expect("COMMIT");
        lines.insert(commit, rule.to_string());
    }
    lines.join("\n") + "\n"
}

/// Appends nft commands (as script lines, without `nft`), higher `index`
/// first, so that each still means the position it was written for.
fn apply_nft_fixes(text: &str, fixes: &[String]) -> String {
    let index = |f: &str| -> usize {
        let words: Vec<&str> = f.split_whitespace().collect();
        words
            .iter()
            .position(|w| *w == "index")
            .and_then(|i| words.get(i + 1)?.parse().ok())
            .unwrap_or(usize::MAX)
    };
    let mut fixes: Vec<&String> = fixes.iter().collect();
    fixes.sort_by_key(|f| std::cmp::Reverse(index(f)));
    let mut out = text.to_string();
    for f in fixes {
        out.push_str(f.trim_start_matches("nft "));
        out.push('\n');
    }
    out
}

/// Applying the fixes a report suggests for a requirement, re-checking, and
/// repeating (a forward fix can uncover a reply problem) clears every
/// missing, shadowed and reply-blocked finding of that requirement.
#[test]
fn suggested_fixes_make_requirements_pass() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static FIXED: AtomicUsize = AtomicUsize::new(0);
    each_file(corpus_files(is_case), |path| {
        let file = relative(path);
        // A JSON twin's fixes are its text twin's (see `nft_text_and_json_agree`).
        if file.ends_with(".json") {
            return;
        }
        let Ok((json, _)) = run(&[&file, "--output", "json"]) else {
            return;
        };
        let report: serde_json::Value = serde_json::from_str(&json).unwrap();
        let dir = path.parent().unwrap();
        let config = dir.join("octaverify.toml");
        let ids: Vec<String> = report["requirements"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| {
                r["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f["fix"].is_string())
            })
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        for id in ids {
            let mut text = std::fs::read_to_string(path).unwrap();
            let mut cleared = false;
            for _round in 0..4 {
                // Beside the original, so that relative includes still resolve;
                // the name is no corpus case's.
                let ext = path.extension().unwrap().to_string_lossy();
                let tmp = dir.join(format!(".fix-{}-{id}.{ext}", std::process::id()));
                std::fs::write(&tmp, &text).unwrap();
                let tmp_s = tmp.display().to_string();
                let mut args = vec![tmp_s.as_str(), "--output", "json"];
                let cfg = config.display().to_string();
                if config.exists() {
                    args.extend(["--config", cfg.as_str()]);
                }
                let result = run(&args);
                let _ = std::fs::remove_file(&tmp);
                let (json, _) = result
                    .unwrap_or_else(|e| panic!("{file}: fixed ruleset is refused: {e}\n{text}"));
                let report: serde_json::Value = serde_json::from_str(&json).unwrap();
                let req = report["requirements"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|r| r["id"] == id.as_str())
                    .unwrap()
                    .clone();
                let definite: Vec<&serde_json::Value> = req["findings"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|f| f["kind"] != "unknown")
                    .collect();
                if definite.is_empty() {
                    cleared = true;
                    break;
                }
                let fixes: Vec<String> = definite
                    .iter()
                    .filter_map(|f| f["fix"].as_str())
                    .flat_map(|f| f.lines().map(str::to_string))
                    .collect();
                assert!(
                    !fixes.is_empty(),
                    "{file}: {id} has findings without fixes: {definite:?}"
                );
                text = apply_fixes(&text, &fixes);
            }
            assert!(cleared, "{file}: fixes for {id} do not converge:\n{text}");
            FIXED.fetch_add(1, Ordering::Relaxed);
        }
    });
    // The corpus has many failing requirements; all of them were repaired.
    let fixed = FIXED.load(Ordering::Relaxed);
    assert!(fixed >= 20, "only {fixed} requirements had fixes to replay");
}

/// The report without what names the input: file, line and quoted text of
/// cited rules (and how a JSON rule reads as nft), and line numbers in messages.
fn without_locations(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "file" | "line" | "text" | "written" | "input")
                })
                .map(|(k, v)| (k.clone(), without_locations(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_locations).collect()),
        Value::String(s) => {
            let words: Vec<&str> = s.split(' ').collect();
            let kept: Vec<&str> = words
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i > 0 && words[i - 1] == "line" {
                        "N"
                    } else {
                        w
                    }
                })
                .collect();
            Value::String(kept.join(" "))
        }
        other => other.clone(),
    }
}

/// Every nft case with an `nft -j` twin gives the same report from both:
/// the same statuses, findings, spaces, witnesses and fixes.
#[test]
fn nft_text_and_json_agree() {
    // A JSON case without a text sibling is no twin (`nft -j` is lossy for some).
    let twins: Vec<_> =
        corpus_files(|rel| rel.starts_with("corpus/nftables/") && rel.ends_with("/ruleset.json"))
            .into_iter()
            .filter(|p| p.with_extension("nft").exists())
            .collect();
    assert!(twins.len() >= 6, "only {} JSON twins", twins.len());
    for json_path in twins {
        let text_path = json_path.with_extension("nft");
        let report = |p: &Path| -> serde_json::Value {
            let (out, _) =
                run(&[&relative(p), "--output", "json"]).unwrap_or_else(|e| panic!("{e}"));
            without_locations(&serde_json::from_str(&out).unwrap())
        };
        assert_eq!(
            report(&text_path),
            report(&json_path),
            "{} and its JSON twin disagree",
            relative(&text_path)
        );
    }
}

/// `octaverify explain` knows every finding kind and warning a report uses.
fn every_code_is_explained(report: &serde_json::Value) {
    let kinds = report["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap())
        .map(|f| f["kind"].as_str().unwrap());
    let warnings = report["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["id"].as_str().unwrap());
    for code in kinds.chain(warnings) {
        assert!(
            octaverify::report::codes::find(code).is_some(),
            "`octaverify explain {code}` has nothing to say"
        );
    }
}
