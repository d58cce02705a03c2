//! The report for people: a verdict line, each option with its requirements,
//! and for each finding the deciding source lines with carets, a witness and
//! the fix to add.

use super::{
    Finding, FindingKind, OptionStatus, Report, RequirementResult, Role, RuleCite, Status, Verdict,
};
use annotate_snippets::{Level, Message, Renderer, Snippet};
use std::collections::HashSet;
use std::fmt::Write;

pub fn render(r: &Report, color: bool) -> String {
    let mut out = String::new();
    let renderer = if color {
        Renderer::styled()
    } else {
        Renderer::plain()
    };
    let _ = writeln!(out, "octaverify: {} ({})", r.input.file, r.input.format);
    let (addresses, unchecked) = addresses(r);
    let several = addresses.len() > 1;
    let mut site = format!("dialler {}", addresses.join(", "));
    if !unchecked.is_empty() {
        let _ = write!(site, " ({} not checked)", unchecked.join(", "));
    }
    if !r.site.management.is_empty() {
        let _ = write!(site, "; management {}", r.site.management.join(", "));
    }
    if !r.site.dns_servers.is_empty() {
        let _ = write!(site, "; DNS servers {}", r.site.dns_servers.join(", "));
    }
    let _ = writeln!(out, "{site}; mode {}", r.site.mode);
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", verdict_line(r));
    // Notes often repeat across requirements (a family not in the export): once each.
    let mut noted: HashSet<&str> = HashSet::new();

    for o in &r.options {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "option {}: {} ({})",
            o.option,
            option_word(o.status),
            o.summary
        );
        // Where the addresses differ, each one's own status.
        let checked: Vec<_> = o
            .diallers
            .iter()
            .filter(|d| d.status != OptionStatus::Skipped)
            .collect();
        if checked.iter().any(|d| d.status != o.status) {
            let each: Vec<String> = o
                .diallers
                .iter()
                .map(|d| format!("{} ({}): {}", d.dialler, d.family, option_word(d.status)))
                .collect();
            let _ = writeln!(out, "  for {}", each.join("; "));
        }
        let rows = r
            .requirements
            .iter()
            .filter(|q| q.option.as_deref() == Some(&o.option));
        if o.status == OptionStatus::Skipped {
            // Why it could not be evaluated, once, rather than per requirement.
            for n in rows.flat_map(|q| q.notes.iter().map(String::as_str)) {
                if noted.insert(n) {
                    let _ = writeln!(out, "  note: {n}");
                }
            }
            continue;
        }
        for q in rows {
            requirement_line(&mut out, q, "", several, &mut noted);
        }
    }
    let ingress: Vec<_> = r
        .requirements
        .iter()
        .filter(|q| q.option.is_none())
        .collect();
    if !ingress.is_empty() {
        let _ = writeln!(out);
        let _ = writeln!(out, "ingress (web interface and monitoring):");
        for q in &ingress {
            let adv = if q.severity == crate::requirements::Severity::Advisory {
                " (advisory)"
            } else {
                ""
            };
            requirement_line(&mut out, q, adv, several, &mut noted);
        }
    }

    // The findings that matter; the other options' are in the JSON output.
    let focus = r.focus_findings();
    for (q, f) in &focus {
        let _ = writeln!(out);
        out.push_str(&finding(&renderer, &q.id, f));
    }
    let coded = !r.warnings.is_empty() || !focus.is_empty();
    for w in &r.warnings {
        let _ = writeln!(out);
        let title = if w.advisory {
            format!("{} (advisory: fails with --strict)", w.message)
        } else {
            w.message.clone()
        };
        let mut msg = Level::Warning.title(&title).id(w.id);
        for c in &w.rules {
            let label = match c.role {
                Role::Allowing => "accepts it",
                Role::Policy => "policy: accepts what no rule matches",
                r => role_label(r),
            };
            msg = msg.snippet(snippet(c, Level::Warning, label));
        }
        let _ = writeln!(out, "{}", renderer.render(msg));
    }
    if coded {
        let _ = writeln!(
            out,
            "\nWhat a code in brackets means, and what to do: octaverify explain CODE"
        );
    }
    out
}

/// The dialler addresses some requirement was checked for (with their
/// family, where there are several), and those none was.
fn addresses(r: &Report) -> (Vec<String>, Vec<String>) {
    let Some(q) = r.requirements.first() else {
        return (r.site.dialler.clone(), Vec::new());
    };
    let (checked, unchecked): (Vec<_>, Vec<_>) =
        q.diallers.iter().enumerate().partition(|(i, _)| {
            r.requirements
                .iter()
                .any(|q| q.diallers[*i].status != Status::Skipped)
        });
    let name = |d: &super::DiallerStatus, labelled: bool| {
        if labelled {
            format!("{} ({})", d.dialler, d.family)
        } else {
            d.dialler.clone()
        }
    };
    let labelled = checked.len() > 1;
    (
        checked.iter().map(|(_, d)| name(d, labelled)).collect(),
        unchecked.iter().map(|(_, d)| d.dialler.clone()).collect(),
    )
}

/// One requirement's status line, each dialler address's own where the site
/// has several, and its notes not shown before.
fn requirement_line<'r>(
    out: &mut String,
    q: &'r RequirementResult,
    suffix: &str,
    several: bool,
    noted: &mut HashSet<&'r str>,
) {
    let checked: Vec<_> = q
        .diallers
        .iter()
        .filter(|d| d.status != Status::Skipped)
        .collect();
    let only = match checked[..] {
        [d] if several => format!(" (for {} only)", d.dialler),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "  {:<8} {:<22} {}{suffix}{only}",
        status_word(q.status),
        q.id,
        q.summary
    );
    // Without a line per address, the status holds for each of them.
    if checked.iter().any(|d| d.status != q.status) {
        for d in &checked {
            let _ = writeln!(
                out,
                "  {:<8} {:<8} {} ({})",
                "",
                status_word(d.status),
                d.dialler,
                d.family
            );
        }
    }
    for n in &q.notes {
        if noted.insert(n) {
            let _ = writeln!(out, "  {:<8} {:<22} note: {n}", "", "");
        }
    }
}

fn verdict_line(r: &Report) -> String {
    let best = r.options.first();
    // Each checked address's own closest option, where they differ.
    let own: Vec<(&str, &super::OptionResult, OptionStatus)> = (0..r.site.dialler.len())
        .filter_map(|i| {
            r.closest(i)
                .map(|o| (r.site.dialler[i].as_str(), o, o.diallers[i].status))
        })
        .collect();
    let mixed = own
        .iter()
        .any(|(_, o, s)| (&o.option, s) != (&own[0].1.option, &own[0].2));
    match r.verdict {
        Verdict::Compliant if mixed => {
            let each: Vec<String> = own.iter().map(|(d, o, _)| format!("{d} by {}", o.option)).collect();
            format!("COMPLIANT: every dialler address has an egress option that holds ({}); ingress as below", each.join(", "))
        }
        Verdict::NonCompliant if mixed => {
            let each: Vec<String> = own
                .iter()
                .map(|(d, o, status)| {
                    let n = o.diallers.iter().find(|x| x.dialler == *d).map_or(0, |x| x.failing);
                    if *status == OptionStatus::Holds {
                        format!("{d}: {} holds", o.option)
                    } else if *status == OptionStatus::Unknown {
                        format!("{d}: {} cannot be decided", o.option)
                    } else {
                        format!("{d}: no egress option holds, {} is closest ({n} requirement{} not allowed)", o.option, if n == 1 { "" } else { "s" })
                    }
                })
                .collect();
            format!("NON-COMPLIANT: {}", each.join("; "))
        }
        Verdict::Compliant => {
            let o = r.options.iter().find(|o| o.holds).map_or("", |o| o.option.as_str());
            let ingress_checked = r.requirements.iter().any(|q| q.option.is_none() && q.status != Status::Skipped);
            if ingress_checked {
                format!("COMPLIANT: option {o} holds and the required ingress is allowed")
            } else if r.site.management.is_empty() {
                format!("COMPLIANT: option {o} holds (ingress not checked: no management PCs given)")
            } else {
                format!("COMPLIANT: option {o} holds (ingress not checked: see its notes)")
            }
        }
        Verdict::Unknown => "UNKNOWN: the answer depends on constructs octaverify does not model (see the unknown findings)".into(),
        Verdict::NonCompliant => match best {
            Some(o) if o.status != OptionStatus::Holds => format!(
                "NON-COMPLIANT: no egress option holds; {} is closest ({} requirement{} not allowed)",
                o.option,
                o.failing,
                if o.failing == 1 { "" } else { "s" }
            ),
            _ if !ingress_fails(r) && r.warnings.iter().any(|w| w.advisory) => {
                "NON-COMPLIANT (--strict): the advisories below fail".into()
            }
            _ => "NON-COMPLIANT: a required ingress requirement is not allowed".into(),
        },
    }
}

/// Whether an ingress requirement that counts is blocked or partial.
fn ingress_fails(r: &Report) -> bool {
    r.requirements
        .iter()
        .any(|q| q.option.is_none() && matches!(q.status, Status::Blocked | Status::Partial))
}

fn finding(renderer: &Renderer, id: &str, f: &Finding) -> String {
    let title = format!("{id}: {} {}", f.headline(), f.space);
    let code = match f.kind {
        FindingKind::Missing => "missing",
        FindingKind::Shadowed => "shadowed",
        FindingKind::ReplyBlocked => "reply-blocked",
        FindingKind::Unknown => "unknown",
    };
    let level = if f.kind == FindingKind::Unknown {
        Level::Warning
    } else {
        Level::Error
    };
    let witness = format!("witness: {}", f.witness);
    let reason = f.reason.as_ref().map(|r| format!("unmodelled: {r}"));
    let mut msg: Message<'_> = level.title(&title).id(code);
    // Rules that play the first one's part (a run's, a ban list's) beyond
    // the first few are folded into a note; the others are all shown.
    let lead = f.rules.first().map(|c| c.role);
    let (alike, others): (Vec<&RuleCite>, Vec<&RuleCite>) =
        f.rules.iter().partition(|c| Some(c.role) == lead);
    let (shown, more) = alike.split_at(alike.len().min(MAX_SNIPPETS));
    for c in shown.iter().chain(&others) {
        let lvl = if matches!(c.role, Role::Blocking | Role::Policy | Role::Unmodelled) {
            level
        } else {
            Level::Info
        };
        msg = msg.snippet(snippet(c, lvl, role_label(c.role)));
    }
    let more = more_rules(more);
    if let Some(m) = &more {
        msg = msg.footer(Level::Note.title(m));
    }
    msg = msg.footer(Level::Note.title(&witness));
    if let Some(r) = &reason {
        msg = msg.footer(Level::Note.title(r));
    }
    let mut s = renderer.render(msg).to_string();
    s.push('\n');
    if let Some(fix) = &f.fix {
        let at = f.rules.iter().find(|c| c.role != Role::Allowing);
        let place = match at {
            Some(c) if c.role == Role::Policy => {
                format!("to the chain whose policy is on line {}", c.line)
            }
            Some(c) => format!("(it goes above line {})", c.line),
            None => String::new(),
        };
        // Line up with the renderer's `= note` gutter, which is as wide as the largest line number.
        let width = shown
            .iter()
            .chain(&others)
            .map(|c| c.line.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(width + 1);
        let _ = writeln!(s, "{pad}= fix: add {place}");
        for line in fix.lines() {
            let _ = writeln!(s, "{pad}  + {line}");
        }
    }
    s
}

/// The rules a finding shows as source lines; the JSON and SARIF reports
/// list them all (a ban list cites a rule per banned address).
const MAX_SNIPPETS: usize = 4;

/// A line for the rules a finding cites beyond those it shows.
fn more_rules(rest: &[&RuleCite]) -> Option<String> {
    let (first, last) = (rest.first()?, rest.last()?);
    let lines = if first.file == last.file {
        format!("{}:{} to line {}", first.file, first.line, last.line)
    } else {
        format!(
            "{}:{} to {}:{}",
            first.file, first.line, last.file, last.line
        )
    };
    let chain = if rest.iter().all(|c| c.chain == first.chain) {
        format!(" of {}", first.chain)
    } else {
        String::new()
    };
    Some(format!(
        "and {} more rules{chain}, from {lines}",
        rest.len()
    ))
}

/// The cited rule as written, or, for a translated input, as the command it
/// reads as (a JSON object spans many lines that say less).
/// Rule lines are quoted up to this many bytes (a rule with a megabyte
/// comment is a megabyte line); JSON and SARIF keep them whole.
const MAX_QUOTE: usize = 400;

pub(super) fn snippet<'a>(c: &'a RuleCite, level: Level, label: &'a str) -> Snippet<'a> {
    let whole = c.written.as_deref().unwrap_or(&c.text);
    let text = &whole[..whole.floor_char_boundary(MAX_QUOTE)];
    let quoted = Snippet::source(text)
        .line_start(c.line as usize)
        .origin(&c.file)
        .annotation(level.span(0..text.len().max(1)).label(label));
    if text.len() == whole.len() {
        return quoted;
    }
    quoted.annotation(
        Level::Note
            .span(text.len() - 1..text.len())
            .label("cut here: the line goes on in the file"),
    )
}

fn role_label(r: Role) -> &'static str {
    match r {
        Role::Blocking => "blocking: decides first",
        Role::Allowing => "allowing: would accept it, but comes later",
        Role::Policy => "policy: decides what no rule matches",
        Role::Unmodelled => "its verdict depends on what octaverify does not model",
        Role::Subject => "this rule",
        Role::Covering => "decides its packets",
    }
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Allowed => "allowed",
        Status::Blocked => "BLOCKED",
        Status::Partial => "PARTIAL",
        Status::Unknown => "unknown",
        Status::Skipped => "skipped",
    }
}

fn option_word(s: OptionStatus) -> &'static str {
    match s {
        OptionStatus::Holds => "holds",
        OptionStatus::Unknown => "unknown",
        OptionStatus::Fails => "fails",
        OptionStatus::Skipped => "skipped",
    }
}
