//! `octaverify lint FILE…`: what in each export never applies or changes
//! nothing, as text, JSON or SARIF; exit 1 when anything is found.

use super::{LintArgs, Output, RunResult, Terminal, load};
use crate::diag::Error;
use crate::frontend;
use crate::report::lint::{LintReport, render_json, render_text};

pub(super) fn run_lint(a: &LintArgs, term: Terminal) -> Result<RunResult, Error> {
    let mut reports: Vec<LintReport> = Vec::new();
    for f in &a.files {
        let policy = load(f, a.common.format, &frontend::Options::default())?;
        reports.push(crate::lint::report(&policy, &crate::lint::lint(&policy)));
    }
    let code = reports.iter().map(LintReport::exit_code).max().unwrap_or(0);
    let stdout = match a.common.output {
        Output::Text => reports
            .iter()
            .map(|r| render_text(r, term.color_stdout()))
            .collect::<Vec<_>>()
            .join("\n"),
        Output::Json if reports.len() == 1 => render_json(&reports[0]),
        Output::Json => {
            serde_json::to_string_pretty(&reports).expect("lint reports serialise") + "\n"
        }
        Output::Sarif => crate::report::sarif::render_lint(&reports.iter().collect::<Vec<_>>()),
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code,
    })
}
