//! Every corpus case: its text and JSON reports (or its error) as insta
//! snapshots, and every suggested fix applied and re-checked.

use octaverify::cli;
use std::path::Path;

fn run(args: &[&str]) -> Result<(String, i32), String> {
    let mut argv = vec!["octaverify".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    cli::run(argv, false)
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
                insta::assert_json_snapshot!("json", value);
            }
            Err(e) => insta::assert_snapshot!("error", e),
        }
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

/// Inserts rule lines (`[-t TABLE] -A|-I CHAIN …`) at the end of their table's block.
fn apply_fixes(text: &str, fixes: &[String]) -> String {
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
        let (table, rule) = match fix.strip_prefix("-t ") {
            Some(rest) => rest.split_once(' ').expect("-t TABLE RULE"),
            None => ("filter", fix.as_str()),
        };
        let start = lines
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

/// Applying the fixes a report suggests for a requirement, re-checking, and
/// repeating (a forward fix can uncover a reply problem) clears every
/// missing, shadowed and reply-blocked finding of that requirement.
#[test]
fn suggested_fixes_make_requirements_pass() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static FIXED: AtomicUsize = AtomicUsize::new(0);
    each_file(corpus_files(is_case), |path| {
        let file = relative(path);
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
                let tmp = std::env::temp_dir()
                    .join(format!("octaverify-fix-{}-{id}.rules", std::process::id()));
                std::fs::write(&tmp, &text).unwrap();
                let tmp_s = tmp.display().to_string();
                let mut args = vec![tmp_s.as_str(), "--output", "json"];
                let cfg = config.display().to_string();
                if config.exists() {
                    args.extend(["--config", cfg.as_str()]);
                }
                let (json, _) = run(&args)
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
