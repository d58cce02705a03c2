//! `octaverify check FILE…`: each export (or every export in a folder)
//! checked in parallel, each with its own report, then a summary; the exit
//! code is the worst of them.

use super::{CheckArgs, Output, RunResult, Terminal, load};
use crate::check;
use crate::diag::Error;
use crate::frontend;
use crate::report::{self, Report, Verdict};
use crate::requirements::RequirementSet;
use crate::site::{Overrides, Site};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One file's outcome: its report and the files it read (its includes), or
/// why it has none.
type Checked = Result<(Report, Vec<PathBuf>), Error>;

pub(super) fn run_check(a: &CheckArgs, term: Terminal) -> Result<RunResult, Error> {
    let reqs = a.site.requirements()?;
    let overrides = a.site.overrides();
    let found = inputs(&a.files)?;
    let results: Vec<(PathBuf, Checked)> = found
        .files
        .par_iter()
        .map(|f| (f.clone(), check_file(f, a, &overrides, &reqs)))
        .collect();
    // A file another export includes was checked as part of it.
    let included: HashSet<PathBuf> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .flat_map(|(_, read)| read.iter().filter_map(|p| p.canonicalize().ok()))
        .collect();
    let results: Vec<(PathBuf, Result<Report, Error>)> = results
        .into_iter()
        .filter(|(f, _)| {
            !found.from_folder || !f.canonicalize().is_ok_and(|c| included.contains(&c))
        })
        .map(|(f, r)| (f, r.map(|(report, _)| report)))
        .collect();
    if a.common.output == Output::Sarif {
        return Ok(sarif(&results));
    }
    // One file named, no folder: its report alone, as before there were several.
    if a.files.len() == 1 && !found.from_folder {
        let (_, r) = results.into_iter().next().expect("one result");
        let report = r?;
        return Ok(RunResult {
            stdout: render(&report, a, term.color_stdout()),
            stderr: String::new(),
            code: report.verdict.exit_code(),
        });
    }
    let summary = Summary::of(&results, found.skipped);
    let mut stderr = String::new();
    for (_, r) in &results {
        if let Err(e) = r {
            stderr.push_str(&e.render(term.color_stderr()));
            stderr.push('\n');
        }
    }
    let stdout = match a.common.output {
        Output::Json | Output::Sarif => {
            let files: Vec<serde_json::Value> = results
                .iter()
                .map(|(f, r)| match r {
                    Ok(report) => serde_json::to_value(report).expect("reports serialise"),
                    Err(e) => serde_json::json!({
                        "file": f.display().to_string(),
                        "error": e.to_string(),
                    }),
                })
                .collect();
            let all = serde_json::json!({
                "schema": report::SCHEMA,
                "files": files,
                "summary": summary,
            });
            serde_json::to_string_pretty(&all).expect("reports serialise") + "\n"
        }
        Output::Text => {
            let mut out: Vec<String> = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok())
                .map(|report| render(report, a, term.color_stdout()))
                .collect();
            out.push(summary.line());
            out.join(if a.quiet { "" } else { "\n" })
        }
    };
    Ok(RunResult {
        stdout,
        stderr,
        code: summary.exit_code(),
    })
}

/// One SARIF log for every file, those that could not be read as
/// notifications; the exit code is the worst, as for the other outputs.
fn sarif(results: &[(PathBuf, Result<Report, Error>)]) -> RunResult {
    let reports: Vec<&Report> = results
        .iter()
        .filter_map(|(_, r)| r.as_ref().ok())
        .collect();
    let names: Vec<String> = results
        .iter()
        .map(|(f, _)| f.display().to_string())
        .collect();
    let errors: Vec<report::sarif::FileError<'_>> = results
        .iter()
        .zip(&names)
        .filter_map(|((_, r), name)| {
            let e = r.as_ref().err()?;
            Some(match e {
                Error::Input(i) => report::sarif::FileError {
                    file: &i.path,
                    message: format!("{} ({})", i.message, i.expected),
                    line: Some(i.line),
                    col: Some(i.col),
                },
                Error::Usage(m) => report::sarif::FileError {
                    file: name,
                    message: m.clone(),
                    line: None,
                    col: None,
                },
            })
        })
        .collect();
    RunResult {
        stdout: report::sarif::render(&reports, &errors),
        stderr: String::new(),
        code: Summary::of(results, 0).exit_code(),
    }
}

/// The report of one file as `--output` and `--quiet` ask.
fn render(r: &Report, a: &CheckArgs, color: bool) -> String {
    match (a.common.output, a.quiet) {
        (Output::Json | Output::Sarif, _) => report::json::render(r),
        (Output::Text, true) => format!("{}: {}\n", r.input.file, verdict_word(r.verdict)),
        (Output::Text, false) => report::text::render(r, color),
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Compliant => "compliant",
        Verdict::NonCompliant => "non-compliant",
        Verdict::Unknown => "unknown",
    }
}

fn check_file(f: &Path, a: &CheckArgs, overrides: &Overrides, reqs: &RequirementSet) -> Checked {
    // The site is read first: it says which sets hold the addresses of DNS
    // names; a bad export is still reported before a missing dialler.
    let site = Site::read(f, overrides)?;
    let options = frontend::Options {
        name_sets: site.sets.clone(),
    };
    let policy = load(f, a.common.format, &options)?;
    site.require_dialler()?;
    let read = policy
        .files
        .iter()
        .skip(1)
        .map(|s| PathBuf::from(&s.path))
        .collect();
    let report = check::check(&policy, &site, reqs)?;
    // Freeing a large policy takes a tenth of a second per million rules:
    // it is done beside the rendering of the report, not before it.
    std::thread::spawn(move || drop(policy));
    Ok((report, read))
}

/// The files a run checks.
struct Inputs {
    files: Vec<PathBuf>,
    /// Files in the folders given that are no firewall export.
    skipped: usize,
    from_folder: bool,
}

/// The files given, and in each folder given every file below it that reads
/// as a firewall export (hidden files and `octaverify.toml` aside), in name order.
fn inputs(paths: &[PathBuf]) -> Result<Inputs, Error> {
    let mut found = Inputs {
        files: Vec::new(),
        skipped: 0,
        from_folder: false,
    };
    for p in paths {
        if p.is_dir() {
            found.from_folder = true;
            walk(p, &mut found)?;
        } else {
            found.files.push(p.clone());
        }
    }
    if found.files.is_empty() {
        return Err(Error::Usage(format!(
            "no firewall export in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    Ok(found)
}

fn walk(dir: &Path, found: &mut Inputs) -> Result<(), Error> {
    let unreadable =
        |e: std::io::Error| Error::Usage(format!("cannot read {}: {e}", dir.display()));
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with('.') || name == crate::site::CONFIG_NAME {
            continue;
        }
        if p.is_dir() {
            walk(&p, found)?;
        } else if std::fs::read_to_string(&p)
            .is_ok_and(|text| frontend::detect(&p.display().to_string(), &text).is_ok())
        {
            found.files.push(p);
        } else {
            found.skipped += 1;
        }
    }
    Ok(())
}

/// How the files of a run came out.
#[derive(Debug, Default, Serialize)]
struct Summary {
    files: usize,
    compliant: usize,
    #[serde(rename = "non-compliant")]
    non_compliant: usize,
    unknown: usize,
    /// Files that could not be read or checked (input errors).
    errors: usize,
    /// Files in the folders that are no firewall export.
    skipped: usize,
}

impl Summary {
    fn of(results: &[(PathBuf, Result<Report, Error>)], skipped: usize) -> Summary {
        let mut s = Summary {
            files: results.len(),
            skipped,
            ..Summary::default()
        };
        for (_, r) in results {
            match r.as_ref().map(|r| r.verdict) {
                Ok(Verdict::Compliant) => s.compliant += 1,
                Ok(Verdict::NonCompliant) => s.non_compliant += 1,
                Ok(Verdict::Unknown) => s.unknown += 1,
                Err(_) => s.errors += 1,
            }
        }
        s
    }

    /// The worst file decides: 2 for an error, else 1 for any file not compliant.
    fn exit_code(&self) -> i32 {
        if self.errors > 0 {
            2
        } else if self.non_compliant + self.unknown > 0 {
            1
        } else {
            0
        }
    }

    fn line(&self) -> String {
        let plural = |n: usize, word: &str| format!("{n} {word}{}", if n == 1 { "" } else { "s" });
        let mut s = format!(
            "summary: {}: {} compliant, {} non-compliant, {} unknown, {}",
            plural(self.files, "file"),
            self.compliant,
            self.non_compliant,
            self.unknown,
            plural(self.errors, "error")
        );
        if self.skipped > 0 {
            s.push_str(&format!(
                " ({} in the folders not a firewall export, skipped)",
                plural(self.skipped, "file")
            ));
        }
        s + "\n"
    }
}
