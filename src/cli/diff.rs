//! `octaverify diff OLD NEW`: what a change to a firewall does, for
//! pre-change review; exit 1 when the versions treat some packet differently.

use super::{DiffArgs, Output, RunResult, load};
use crate::diag::Error;
use crate::frontend;
use crate::report::diff::{render_json, render_text};
use crate::site::Site;

pub(super) fn run_diff(a: &DiffArgs) -> Result<RunResult, Error> {
    let reqs = a.site.requirements()?;
    let site = Site::read(&a.new, &a.site.overrides())?;
    let options = frontend::Options {
        name_sets: site.sets.clone(),
    };
    let old = load(&a.old, a.common.format, &options)?;
    let new = load(&a.new, a.common.format, &options)?;
    site.require_dialler()?;
    let report = crate::diff::report(&old, &new, &site, &reqs)?;
    let stdout = match a.common.output {
        Output::Text => render_text(&report),
        Output::Json => render_json(&report),
        Output::Sarif => crate::report::sarif::render_diff(&report),
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code: report.exit_code(),
    })
}
