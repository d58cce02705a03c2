//! The requirement set: which traffic the dialler needs, grouped into the
//! vendor's alternative options. It is data (`requirements/octalarm.toml`,
//! embedded in the binary, replaceable with `--requirements FILE`), so that a
//! change on the vendor's side is an edit, not a release.

use crate::diag::{Error, InputError};
use serde::Deserialize;

/// The set shipped in the binary.
pub const BUILTIN: &str = include_str!("../requirements/octalarm.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequirementSet {
    pub schema: String,
    #[serde(rename = "option")]
    pub options: Vec<EgressOption>,
    #[serde(rename = "requirement")]
    pub requirements: Vec<Requirement>,
}

/// One of the vendor's alternatives; it holds when all its requirements do.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressOption {
    pub id: String,
    pub summary: String,
    pub requirements: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub summary: String,
    pub from: Endpoint,
    pub to: Endpoint,
    pub traffic: Vec<Traffic>,
    #[serde(default)]
    pub severity: Severity,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Required,
    /// A warning, failing only with `--strict`.
    Advisory,
}

/// Where traffic comes from or goes to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Endpoint {
    Named(Place),
    /// DNS names, resolved through the site's `[resolve]` table.
    Names(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Place {
    Dialler,
    Management,
    Internet,
    DnsServers,
}

/// A kind of traffic: `any`, `tcp`, `udp/53`, `tcp/443`, `icmp-echo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Traffic {
    Any,
    Tcp(u16, u16),
    Udp(u16, u16),
    IcmpEcho,
}

impl TryFrom<String> for Traffic {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let ports = |p: Option<&str>| -> Result<(u16, u16), String> {
            let Some(p) = p else { return Ok((1, 65535)) };
            let (a, b) = p.split_once('-').unwrap_or((p, p));
            match (a.parse(), b.parse()) {
                (Ok(a), Ok(b)) if a <= b => Ok((a, b)),
                _ => Err(format!("bad port range `{p}`")),
            }
        };
        let (proto, port) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s.as_str(), None),
        };
        match (proto, port) {
            ("any", None) => Ok(Traffic::Any),
            ("icmp-echo", None) => Ok(Traffic::IcmpEcho),
            ("tcp", p) => ports(p).map(|(a, b)| Traffic::Tcp(a, b)),
            ("udp", p) => ports(p).map(|(a, b)| Traffic::Udp(a, b)),
            _ => Err(format!(
                "unknown traffic `{s}`: expected any, tcp, udp, tcp/PORT, udp/PORT or icmp-echo"
            )),
        }
    }
}

impl RequirementSet {
    pub fn builtin() -> RequirementSet {
        Self::parse("<built-in requirements>", BUILTIN)
            .expect("the built-in requirement set is valid")
    }

    pub fn parse(path: &str, text: &str) -> Result<RequirementSet, Error> {
        let set: RequirementSet = toml::from_str(text).map_err(|e| toml_error(path, text, &e))?;
        for o in &set.options {
            for r in &o.requirements {
                if set.requirement(r).is_none() {
                    return Err(Error::Usage(format!(
                        "{path}: option `{}` names requirement `{r}`, which is not defined",
                        o.id
                    )));
                }
            }
        }
        Ok(set)
    }

    pub fn requirement(&self, id: &str) -> Option<&Requirement> {
        self.requirements.iter().find(|r| r.id == id)
    }

    /// Requirements on traffic towards the dialler: checked whatever the option.
    pub fn ingress(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements
            .iter()
            .filter(|r| r.to == Endpoint::Named(Place::Dialler))
    }
}

/// A TOML error as a located input error.
pub fn toml_error(path: &str, text: &str, e: &toml::de::Error) -> Error {
    let range = e.span().unwrap_or(0..0);
    InputError::at(
        path,
        text,
        range.start,
        range.len(),
        e.message().trim().to_string(),
        "expected valid TOML for this file",
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_set_has_the_spec_ids() {
        let s = RequirementSet::builtin();
        let ids: Vec<&str> = s.options.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["source-any", "source-ports", "dns-any", "dns-ports"]);
        assert_eq!(
            s.requirement("egress-udp-all").unwrap().traffic,
            vec![Traffic::Udp(1, 65535)]
        );
        assert_eq!(s.ingress().count(), 2);
        assert_eq!(
            s.requirement("ingress-icmp-echo").unwrap().severity,
            Severity::Advisory
        );
    }

    #[test]
    fn bad_traffic_is_located() {
        let text = "schema = \"x\"\noption = []\n[[requirement]]\nid = \"a\"\nsummary = \"\"\nfrom = \"dialler\"\nto = \"internet\"\ntraffic = [\"sctp\"]\n";
        let Err(Error::Input(e)) = RequirementSet::parse("r.toml", text) else {
            panic!("expected an input error")
        };
        assert_eq!(e.line, 8);
    }
}
