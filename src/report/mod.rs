//! The result of a check, as data every renderer shares (text for people,
//! JSON for programs). These types are the JSON contract of SPEC §6; they hold
//! only strings and numbers, nothing of any vendor.

pub mod codes;
pub mod diff;
pub mod json;
pub mod lint;
pub mod pcap;
pub mod sarif;
pub mod text;

use crate::requirements::Severity;
use crate::space::PacketView;
use serde::Serialize;

pub const SCHEMA: &str = "octaverify/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Compliant,
    NonCompliant,
    Unknown,
}

impl Verdict {
    /// The process exit code (SPEC §6): 0 compliant, 1 otherwise.
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Compliant => 0,
            _ => 1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub input: Input,
    pub verdict: Verdict,
    pub site: SiteView,
    pub options: Vec<OptionResult>,
    pub requirements: Vec<RequirementResult>,
    pub warnings: Vec<Warning>,
}

impl Report {
    /// The option that holds, or comes closest, for the `i`th dialler
    /// address: by status, then fewest failing requirements; ties keep the
    /// report's order.
    pub fn closest(&self, i: usize) -> Option<&OptionResult> {
        self.options
            .iter()
            .filter(|o| o.diallers[i].status != OptionStatus::Skipped)
            .min_by_key(|o| (o.diallers[i].status, o.diallers[i].failing))
    }

    /// The findings that matter: for each dialler address, those of the
    /// option that holds or comes closest for it, then those of ingress;
    /// each requirement's once per address.
    pub fn focus_findings(&self) -> Vec<(&RequirementResult, &Finding)> {
        let mut shown = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (i, d) in self.site.dialler.iter().enumerate() {
            let focus = self.closest(i).map(|o| o.option.as_str());
            for q in &self.requirements {
                let relevant = q.option.is_none() || q.option.as_deref() == focus;
                if !relevant || !shown.insert((&q.id, d)) {
                    continue;
                }
                out.extend(
                    q.findings
                        .iter()
                        .filter(|f| &f.dialler == d)
                        .map(|f| (q, f)),
                );
            }
        }
        out
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Input {
    pub file: String,
    pub format: &'static str,
}

/// The parameters the check used, so a report stands on its own.
#[derive(Debug, Clone, Serialize)]
pub struct SiteView {
    pub dialler: Vec<String>,
    pub management: Vec<String>,
    pub dns_servers: Vec<String>,
    pub mode: String,
    /// `--strict`: advisories fail the check.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strict: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OptionStatus {
    Holds,
    Unknown,
    Fails,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct OptionResult {
    pub option: String,
    pub holds: bool,
    pub status: OptionStatus,
    pub summary: String,
    /// How many of its requirements are not allowed.
    pub failing: usize,
    /// The option for each dialler address on its own: each address needs
    /// an option that holds for it, not necessarily the same one.
    pub diallers: Vec<DiallerOption>,
}

/// An option's status for one dialler address.
#[derive(Debug, Clone, Serialize)]
pub struct DiallerOption {
    pub dialler: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub status: OptionStatus,
    pub failing: usize,
}

/// A requirement's status for one dialler address.
#[derive(Debug, Clone, Serialize)]
pub struct DiallerStatus {
    pub dialler: String,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
    pub status: Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Allowed,
    Blocked,
    Partial,
    Unknown,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct RequirementResult {
    pub id: String,
    /// The egress option it belongs to; `None` for ingress.
    pub option: Option<String>,
    pub summary: String,
    pub severity: Severity,
    /// Over every dialler address together.
    pub status: Status,
    /// Each dialler address's own status (`skipped` where it was not checked).
    pub diallers: Vec<DiallerStatus>,
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    Missing,
    Shadowed,
    ReplyBlocked,
    Unknown,
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The dialler address whose traffic this is.
    pub dialler: String,
    /// The failing sub-space, exactly, as ranges.
    pub space: String,
    pub witness: PacketView,
    pub rules: Vec<RuleCite>,
    /// Rule lines to add, in the input's syntax, one per line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// For `unknown`: the construct the answer depends on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Finding {
    /// What the finding says of its space, which follows it.
    pub fn headline(&self) -> &'static str {
        let blocking = self.rules.iter().filter(|c| c.role == Role::Blocking);
        match self.kind {
            FindingKind::Missing => "nothing accepts",
            FindingKind::Shadowed if blocking.count() > 1 => {
                "earlier rules drop what a later rule accepts:"
            }
            FindingKind::Shadowed => "an earlier rule drops what a later rule accepts:",
            FindingKind::ReplyBlocked => "replies are dropped for",
            FindingKind::Unknown => "cannot be decided for",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Blocking,
    Allowing,
    Policy,
    Unmodelled,
    /// In lint: the rule the finding is about.
    Subject,
    /// In lint: a rule that takes the subject's packets first, or decides
    /// them the same way after it.
    Covering,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCite {
    pub file: String,
    pub line: u32,
    pub text: String,
    pub role: Role,
    /// The chain the rule belongs to (`filter FORWARD`).
    pub chain: String,
    /// For a translated input (`nft -j` JSON), the rule as the command it
    /// reads as (`add rule inet filter forward … drop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Warning {
    pub id: &'static str,
    pub message: String,
    pub rules: Vec<RuleCite>,
    /// An advisory of SPEC §4: the traffic works but grants more than the
    /// dialler needs; it fails the check with `--strict`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub advisory: bool,
}

impl Warning {
    /// A warning that cites no rule and is not an advisory.
    pub fn plain(id: &'static str, message: String) -> Self {
        Warning {
            id,
            message,
            rules: Vec::new(),
            advisory: false,
        }
    }
}
