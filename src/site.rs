//! Site parameters (SPEC §3): the dialler's addresses, the management PCs, the
//! DNS servers and the rest, from `octaverify.toml` (found beside the ruleset
//! or in a parent folder) with command-line flags taking precedence.

use crate::diag::Error;
use crate::requirements::toml_error;
use ipnet::IpNet;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Which egress options to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Every option that can be evaluated; compliant when one holds.
    #[default]
    Auto,
    SourceAny,
    SourcePorts,
    DnsAny,
    DnsPorts,
}

impl Mode {
    /// The option id the mode selects, `None` for auto.
    pub fn option(self) -> Option<&'static str> {
        match self {
            Mode::Auto => None,
            Mode::SourceAny => Some("source-any"),
            Mode::SourcePorts => Some("source-ports"),
            Mode::DnsAny => Some("dns-any"),
            Mode::DnsPorts => Some("dns-ports"),
        }
    }
}

/// What "internet" means as a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Internet {
    /// All addresses but the IANA special-purpose blocks.
    #[default]
    Global,
    /// Every address.
    Any,
}

/// A single value or a list, as the config file allows for addresses.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> From<OneOrMany<T>> for Vec<T> {
    fn from(v: OneOrMany<T>) -> Vec<T> {
        match v {
            OneOrMany::One(x) => vec![x],
            OneOrMany::Many(v) => v,
        }
    }
}

/// A host address or a prefix: `10.0.0.30` or `10.0.0.0/24`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct HostOrNet(pub IpNet);

impl TryFrom<String> for HostOrNet {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        s.parse::<HostOrNet>()
    }
}

impl std::str::FromStr for HostOrNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        s.parse::<IpNet>()
            .map(|n| HostOrNet(n.trunc()))
            .or_else(|_| s.parse::<IpAddr>().map(|a| HostOrNet(IpNet::from(a))))
            .map_err(|_| format!("`{s}` is neither an address nor a prefix"))
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileParams {
    dialler: Option<OneOrMany<IpAddr>>,
    dialler6: Option<OneOrMany<IpAddr>>,
    management: Option<OneOrMany<HostOrNet>>,
    dns_servers: Option<OneOrMany<IpAddr>>,
    mode: Option<Mode>,
    internet: Option<Internet>,
    #[serde(default)]
    resolve: BTreeMap<String, Vec<IpAddr>>,
    #[serde(default)]
    sets: BTreeMap<String, OneOrMany<String>>,
    interfaces: Option<Interfaces>,
}

/// Where the dialler's traffic enters and leaves the firewall.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interfaces {
    pub lan: Option<String>,
    pub wan: Option<String>,
    /// Where the management PCs' traffic enters (default: anywhere but `wan`).
    pub management: Option<String>,
    /// The firewall's public address, which MASQUERADE uses.
    pub wan_address: Option<IpAddr>,
}

/// Values given on the command line; each one set wins over the file.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config: Option<PathBuf>,
    pub dialler: Option<Vec<IpAddr>>,
    pub dialler6: Option<Vec<IpAddr>>,
    pub management: Option<Vec<IpNet>>,
    pub dns_servers: Option<Vec<IpAddr>>,
    pub mode: Option<Mode>,
    pub internet: Option<Internet>,
    pub lan: Option<String>,
    pub wan: Option<String>,
    pub strict: bool,
}

/// The resolved site parameters.
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// IPv4 and IPv6 addresses of the dialler(s), together.
    pub diallers: Vec<IpAddr>,
    pub management: Vec<IpNet>,
    pub dns_servers: Vec<IpAddr>,
    pub mode: Mode,
    pub internet: Internet,
    /// The addresses of DNS names (keys without case or a trailing dot).
    pub resolve: BTreeMap<String, Vec<IpNet>>,
    /// nft named sets (`inet filter octalarm`) that hold the addresses of DNS
    /// names, as a resolver keeps them filled.
    pub sets: BTreeMap<String, Vec<String>>,
    pub interfaces: Interfaces,
    pub strict: bool,
    /// The config file used, if any.
    pub config_file: Option<PathBuf>,
}

pub const CONFIG_NAME: &str = "octaverify.toml";

impl Site {
    /// Reads the config file (given, or found from the ruleset's folder upwards)
    /// and applies the command-line overrides.
    pub fn load(ruleset: &Path, o: &Overrides) -> Result<Site, Error> {
        let site = Site::read(ruleset, o)?;
        site.require_dialler()?;
        Ok(site)
    }

    /// [`Site::load`] without asking for a dialler address yet: what the
    /// site says of the export is needed to read it, and a bad export is
    /// the first thing to report.
    pub fn read(ruleset: &Path, o: &Overrides) -> Result<Site, Error> {
        let file = match &o.config {
            Some(p) => Some(p.clone()),
            None => find_config(ruleset),
        };
        let params = match &file {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?;
                let path = p.display().to_string();
                toml::from_str::<FileParams>(&text).map_err(|e| toml_error(&path, &text, &e))?
            }
            None => FileParams::default(),
        };
        let list =
            |v: Option<OneOrMany<IpAddr>>| -> Vec<IpAddr> { v.map(Into::into).unwrap_or_default() };
        let dialler4 = o.dialler.clone().unwrap_or_else(|| list(params.dialler));
        let dialler6 = o.dialler6.clone().unwrap_or_else(|| list(params.dialler6));
        let mut interfaces = params.interfaces.unwrap_or_default();
        if o.lan.is_some() {
            interfaces.lan = o.lan.clone();
        }
        if o.wan.is_some() {
            interfaces.wan = o.wan.clone();
        }
        let site = Site {
            diallers: dialler4.into_iter().chain(dialler6).collect(),
            management: o.management.clone().unwrap_or_else(|| {
                params
                    .management
                    .map(Vec::from)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|h| h.0)
                    .collect()
            }),
            dns_servers: o
                .dns_servers
                .clone()
                .unwrap_or_else(|| list(params.dns_servers)),
            mode: o.mode.or(params.mode).unwrap_or_default(),
            internet: o.internet.or(params.internet).unwrap_or_default(),
            resolve: params
                .resolve
                .into_iter()
                .map(|(name, addrs)| {
                    (
                        crate::model::dns_name(&name),
                        addrs.into_iter().map(IpNet::from).collect(),
                    )
                })
                .collect(),
            sets: params
                .sets
                .into_iter()
                .map(|(set, names)| {
                    let names: Vec<String> = names.into();
                    (
                        set.split_whitespace().collect::<Vec<_>>().join(" "),
                        names.iter().map(|n| crate::model::dns_name(n)).collect(),
                    )
                })
                .collect(),
            interfaces,
            strict: o.strict,
            config_file: file,
        };
        Ok(site)
    }

    /// Without a dialler address there is nothing to check.
    pub fn require_dialler(&self) -> Result<(), Error> {
        if self.diallers.is_empty() {
            return Err(Error::Usage(format!(
                "no dialler address: give one with --dialler 192.168.1.10, or put `dialler = \"192.168.1.10\"` in {CONFIG_NAME} beside the ruleset"
            )));
        }
        Ok(())
    }
}

/// `octaverify.toml` in the ruleset's folder or the nearest parent that has one.
fn find_config(ruleset: &Path) -> Option<PathBuf> {
    let start = ruleset.parent().map(Path::to_path_buf).unwrap_or_default();
    let start = if start.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        start
    };
    let abs = start.canonicalize().unwrap_or(start);
    abs.ancestors()
        .map(|d| d.join(CONFIG_NAME))
        .find(|p| p.is_file())
}
