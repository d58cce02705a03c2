//! The command line: raw clap values, then resolved settings (site parameters
//! merged with `octaverify.toml`), then one run per file. `main` only maps the
//! outcome to an exit code.

use crate::check;
use crate::diag::Error;
use crate::eval::concrete::{Effect, Evaluator as Concrete};
use crate::frontend;
use crate::model::{Action, Format, Policy};
use crate::report;
use crate::requirements::RequirementSet;
use crate::site::{HostOrNet, Internet, Mode, Overrides, Site};
use crate::space::dim::{addr, icmp, iface, proto};
use crate::space::{Dim, Family, Packet, State, TcpFlag};
use clap::{Args, Parser, Subcommand, ValueEnum};
use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

#[derive(Parser, Debug)]
#[command(
    name = "octaverify",
    version,
    about = "Proves whether a firewall export lets an Octalarm alarm dialler work"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check rulesets against the Octalarm requirements (the default command).
    Check(CheckArgs),
    /// Follow one packet through the rules and print its path and verdict.
    Trace(TraceArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Iptables,
    Nft,
    NftJson,
    CiscoIos,
    CiscoAsa,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Iptables => Format::Iptables,
            FormatArg::Nft => Format::Nft,
            FormatArg::NftJson => Format::NftJson,
            FormatArg::CiscoIos => Format::CiscoIos,
            FormatArg::CiscoAsa => Format::CiscoAsa,
        }
    }
}

#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Input format (detected from the content when not given).
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// Output for people (text) or programs (json).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Firewall exports (iptables-save output, …).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
    /// Site parameters from this file instead of the nearest octaverify.toml.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The dialler's IPv4 address(es), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub dialler: Option<Vec<IpAddr>>,
    /// The dialler's IPv6 address(es), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub dialler6: Option<Vec<IpAddr>>,
    /// Management PCs (addresses or prefixes), comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub management: Option<Vec<HostOrNet>>,
    /// The dialler's DNS servers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub dns_servers: Option<Vec<IpAddr>>,
    /// Which egress option(s) to evaluate.
    #[arg(long, value_enum)]
    pub mode: Option<Mode>,
    /// What "internet" means: global addresses only, or any.
    #[arg(long, value_enum)]
    pub internet: Option<Internet>,
    /// The interface the dialler's traffic enters the firewall on.
    #[arg(long)]
    pub lan: Option<String>,
    /// The interface towards the internet.
    #[arg(long)]
    pub wan: Option<String>,
    /// A requirement set to use instead of the built-in one.
    #[arg(long)]
    pub requirements: Option<PathBuf>,
    /// Advisory requirements fail too.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    pub file: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    #[arg(long)]
    pub src: IpAddr,
    #[arg(long)]
    pub dst: IpAddr,
    /// Protocol name or number.
    #[arg(long)]
    pub proto: String,
    #[arg(long)]
    pub sport: Option<u16>,
    #[arg(long)]
    pub dport: Option<u16>,
    /// ICMP type by name or TYPE[/CODE] (default: echo-request for ICMP).
    #[arg(long)]
    pub icmp_type: Option<String>,
    #[arg(long = "in")]
    pub in_iface: Option<String>,
    #[arg(long = "out")]
    pub out_iface: Option<String>,
    /// Connection-tracking state of the packet.
    #[arg(long, value_enum, default_value = "new")]
    pub state: StateArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StateArg {
    New,
    Established,
    Related,
    Invalid,
    Untracked,
}

/// What a run prints and how it ends.
pub struct RunResult {
    pub stdout: String,
    pub code: i32,
}

/// Parses the arguments (`octaverify FILE` meaning `octaverify check FILE`) and runs.
pub fn run(args: Vec<String>, color: bool) -> Result<RunResult, Error> {
    let mut args = args;
    let known = ["check", "trace", "help", "-h", "--help", "-V", "--version"];
    if args.len() > 1 && !known.contains(&args[1].as_str()) {
        args.insert(1, "check".into());
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            if code == 2 {
                return Err(Error::Usage(
                    e.to_string()
                        .trim_start_matches("error: ")
                        .trim_end()
                        .to_string(),
                ));
            }
            return Ok(RunResult {
                stdout: e.to_string(),
                code,
            });
        }
    };
    match cli.command {
        Command::Check(a) => run_check(&a, color),
        Command::Trace(a) => run_trace(&a),
    }
}

fn load(
    path: &Path,
    format: Option<FormatArg>,
    options: &frontend::Options,
) -> Result<Policy, Error> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::Usage(format!("cannot read {}: {e}", path.display())))?;
    frontend::load_with(
        &path.display().to_string(),
        bytes,
        format.map(Into::into),
        options,
    )
}

fn run_check(a: &CheckArgs, color: bool) -> Result<RunResult, Error> {
    let reqs = match &a.requirements {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?;
            RequirementSet::parse(&p.display().to_string(), &text)?
        }
        None => RequirementSet::builtin(),
    };
    let overrides = Overrides {
        config: a.config.clone(),
        dialler: a.dialler.clone(),
        dialler6: a.dialler6.clone(),
        management: a
            .management
            .as_ref()
            .map(|v| v.iter().map(|h| h.0).collect()),
        dns_servers: a.dns_servers.clone(),
        mode: a.mode,
        internet: a.internet,
        lan: a.lan.clone(),
        wan: a.wan.clone(),
        strict: a.strict,
    };
    let mut reports = Vec::new();
    for f in &a.files {
        let site = Site::read(f, &overrides)?;
        let options = frontend::Options {
            name_sets: site.sets.clone(),
        };
        let policy = load(f, a.common.format, &options)?;
        site.require_dialler()?;
        reports.push(check::check(&policy, &site, &reqs)?);
    }
    let code = reports
        .iter()
        .map(|r| r.verdict.exit_code())
        .max()
        .unwrap_or(0);
    let stdout = match a.common.output {
        Output::Json if reports.len() == 1 => report::json::render(&reports[0]),
        Output::Json => serde_json::to_string_pretty(&reports).expect("reports serialise") + "\n",
        Output::Text => reports
            .iter()
            .map(|r| report::text::render(r, color))
            .collect::<Vec<_>>()
            .join("\n"),
    };
    Ok(RunResult { stdout, code })
}

#[derive(Serialize)]
struct TraceOut {
    verdict: crate::eval::Verdict,
    packet: crate::space::PacketView,
    path: Vec<TraceStep>,
}

#[derive(Serialize)]
struct TraceStep {
    file: String,
    line: u32,
    chain: String,
    action: String,
}

fn run_trace(a: &TraceArgs) -> Result<RunResult, Error> {
    let policy = load(&a.file, a.common.format, &frontend::Options::default())?;
    let packet = trace_packet(a)?;
    let t = Concrete::new(&policy).trace(&packet);
    // Each step's rule as the text report shows it: its line, or for a
    // translated input the command it reads as.
    let texts: Vec<&str> = t
        .steps
        .iter()
        .map(|s| {
            let rule = policy.rule(s.rule);
            let text = policy.text(rule.written.unwrap_or(rule.span));
            text.lines().next().unwrap_or("").trim()
        })
        .collect();
    let path: Vec<TraceStep> = t
        .steps
        .iter()
        .map(|s| {
            let rule = policy.rule(s.rule);
            let chain = &policy.chains[s.rule.chain];
            let mut action = action_word(&policy, &rule.action, s.rule.index.is_none());
            if s.effect == Effect::MayMatch {
                action = format!(
                    "may {action} (unmodelled: {})",
                    rule.opaque.as_deref().unwrap_or("")
                );
            }
            TraceStep {
                file: policy.file_path(rule.span).to_string(),
                line: rule.span.line,
                chain: format!("{} {}", chain.table, chain.name),
                action,
            }
        })
        .collect();
    let out = TraceOut {
        verdict: t.verdict,
        packet: packet.describe(),
        path,
    };
    let code = if t.verdict == crate::eval::Verdict::Accept {
        0
    } else {
        1
    };
    let stdout = match a.common.output {
        Output::Json => serde_json::to_string_pretty(&out).expect("traces serialise") + "\n",
        Output::Text => {
            let mut s = format!("packet: {}\n", out.packet);
            for (step, text) in out.path.iter().zip(&texts) {
                s.push_str(&format!(
                    "  {}:{:<5} {:<22} {:<10} {text}\n",
                    step.file, step.line, step.chain, step.action
                ));
            }
            s.push_str(&format!(
                "verdict: {}\n",
                serde_json::to_value(out.verdict)
                    .expect("verdicts serialise")
                    .as_str()
                    .unwrap_or("")
            ));
            s
        }
    };
    Ok(RunResult { stdout, code })
}

fn action_word(policy: &Policy, a: &Action, is_policy: bool) -> String {
    let word = match a {
        Action::Accept => "accept".to_string(),
        Action::Drop => "drop".into(),
        Action::Reject => "reject".into(),
        Action::Return => "return".into(),
        Action::Jump(c) => format!("jump {}", policy.chains[*c].name),
        Action::Goto(c) => format!("goto {}", policy.chains[*c].name),
        Action::Continue => "continue".into(),
        Action::SourceNat(_) => "snat".into(),
        Action::Unknown(r) => format!("unknown ({r})"),
    };
    if is_policy {
        format!("policy {word}")
    } else {
        word
    }
}

fn trace_packet(a: &TraceArgs) -> Result<Packet, Error> {
    let fam = Family::of(a.src);
    if Family::of(a.dst) != fam {
        return Err(Error::Usage(
            "--src and --dst must be of one address family".into(),
        ));
    }
    let p = proto::parse(&a.proto)
        .ok_or_else(|| Error::Usage(format!("unknown protocol `{}`", a.proto)))?;
    let mut pk = Packet::default();
    pk.set(Dim::Family, fam as u128);
    pk.set(Dim::Src, addr::value(a.src));
    pk.set(Dim::Dst, addr::value(a.dst));
    pk.set(Dim::Proto, p as u128);
    pk.set(
        Dim::Sport,
        a.sport
            .unwrap_or(if proto::has_ports(p) { 1024 } else { 0 }) as u128,
    );
    pk.set(Dim::Dport, a.dport.unwrap_or(0) as u128);
    let state = match a.state {
        StateArg::New => State::NEW,
        StateArg::Established => State::ESTABLISHED,
        StateArg::Related => State::RELATED,
        StateArg::Invalid => State::INVALID,
        StateArg::Untracked => State::UNTRACKED,
    };
    pk.set(Dim::State, state);
    if p == proto::TCP {
        let flags = if state == State::NEW {
            TcpFlag::SYN
        } else {
            TcpFlag::ACK
        };
        pk.set(Dim::Flags, flags as u128);
    }
    if p == fam.icmp_proto() {
        let name = a.icmp_type.as_deref().unwrap_or("echo-request");
        let (lo, _) = icmp::parse(name, fam == Family::Ipv6)
            .ok_or_else(|| Error::Usage(format!("unknown ICMP type `{name}`")))?;
        pk.set(Dim::Icmp, lo);
    }
    pk.set(
        Dim::In,
        iface::encode(a.in_iface.as_deref().unwrap_or("eth1")),
    );
    pk.set(
        Dim::Out,
        iface::encode(a.out_iface.as_deref().unwrap_or("eth0")),
    );
    Ok(pk)
}
