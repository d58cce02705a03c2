//! `octaverify lint` on the lint cases (`corpus/lint/`): reviewed snapshots
//! of the text and JSON reports, and the exit code.

use octaverify::cli::{self, Terminal};

fn run(args: &[&str]) -> (String, i32) {
    let mut argv = vec!["octaverify".to_string(), "lint".to_string()];
    argv.extend(args.iter().map(|s| s.to_string()));
    std::env::set_current_dir(env!("CARGO_MANIFEST_DIR")).unwrap();
    let r = cli::run(argv, Terminal::plain()).unwrap_or_else(|e| panic!("{e}"));
    (r.stdout, r.code)
}

#[test]
fn lint_cases() {
    let mut files: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/lint"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let file = format!("corpus/lint/{name}");
        let (text, code) = run(&[&file]);
        assert_eq!(code, 1, "{file}: lint finds something in every case");
        insta::assert_snapshot!(format!("lint-text@{name}"), text);
        let (json, _) = run(&[&file, "--output", "json"]);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        insta::assert_json_snapshot!(format!("lint-json@{name}"), v);
    }
}

#[test]
fn a_clean_export_lints_to_exit_0() {
    let (text, code) = run(&["corpus/iptables/goto-return/ruleset.rules"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("0 shadowed, 0 redundant, 0 unmodelled, 0 unreachable chains"),
        "{text}"
    );
}
