//! The command line: raw clap values, then resolved settings (site parameters
//! merged with `octaverify.toml`), then the run. `main` only prints what a
//! run gives and maps it to an exit code.

mod check;
mod diff;
mod lint;
mod pcap;
mod trace;

use crate::diag::Error;
use crate::frontend;
use crate::model::{Format, Policy};
use crate::requirements::RequirementSet;
use crate::site::{HostOrNet, Internet, Mode, Overrides};
use clap::{Args, CommandFactory, Parser, Subcommand, ValueEnum};
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
    /// When to colour the output: on a terminal unless NO_COLOR is set (auto), always, or never.
    #[arg(long, value_enum, global = true, default_value = "auto")]
    pub color: ColorArg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    Auto,
    Always,
    Never,
}

/// Where the output goes, as far as colour is concerned.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal {
    pub stdout_tty: bool,
    pub stderr_tty: bool,
    /// `NO_COLOR` is set (to anything): no colour unless asked for.
    pub no_color: bool,
    pub color: Option<ColorArg>,
}

impl Terminal {
    /// No terminal and no colour: what tests and pipes see.
    pub fn plain() -> Terminal {
        Terminal::default()
    }

    fn colors(&self, tty: bool) -> bool {
        match self.color.unwrap_or(ColorArg::Auto) {
            ColorArg::Always => true,
            ColorArg::Never => false,
            ColorArg::Auto => tty && !self.no_color,
        }
    }

    pub fn color_stdout(&self) -> bool {
        self.colors(self.stdout_tty)
    }

    pub fn color_stderr(&self) -> bool {
        self.colors(self.stderr_tty)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check rulesets against the Octalarm requirements (the default command).
    Check(CheckArgs),
    /// Follow one packet through the rules and print its path and verdict.
    Trace(TraceArgs),
    /// What a change does: the requirement statuses that change, and the packets newly accepted or dropped (the two versions may be of different formats).
    Diff(DiffArgs),
    /// Find rules that never apply (shadowed), rules that change nothing (redundant), rules whose effect is not modelled, and chains no packet enters.
    Lint(LintArgs),
    /// The dialler's flows in a TCP dump (pcap or pcapng): which failed and how, the requirements they belong to, and with --ruleset the rules that drop them.
    Pcap(PcapArgs),
    /// What a finding or warning code means and what to do about it (all codes without one).
    Explain {
        /// A code of the reports: missing, shadowed, broad-source, …
        code: Option<String>,
    },
    /// Print a shell completion script (e.g. `octaverify completions bash > /etc/bash_completion.d/octaverify`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff; e.g. `octaverify man | man -l -`).
    Man,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
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
    /// Output for people (text), programs (json) or code scanning (sarif).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Firewall exports (iptables-save output, …), or folders: every export below a folder is checked; `-` reads standard input.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// One line per file (its verdict), and the summary; errors still in full.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub site: SiteArgs,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    /// The version before the change.
    pub old: PathBuf,
    /// The version after it (its octaverify.toml gives the site).
    pub new: PathBuf,
    #[command(flatten)]
    pub common: CommonArgs,
    #[command(flatten)]
    pub site: SiteArgs,
}

/// The site parameters and requirements of a check.
#[derive(Args, Debug)]
pub struct SiteArgs {
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
pub struct LintArgs {
    /// Firewall exports (`-` reads standard input).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Args, Debug)]
pub struct PcapArgs {
    /// The dialler's capture (pcap or pcapng; `-` reads standard input).
    pub dump: PathBuf,
    /// A firewall export to trace each failing flow through.
    #[arg(long)]
    pub ruleset: Option<PathBuf>,
    /// Output for people (text), programs (json) or code scanning (sarif).
    #[arg(long, value_enum, default_value = "text")]
    pub output: Output,
    #[command(flatten)]
    pub site: SiteArgs,
}

#[derive(Args, Debug)]
pub struct TraceArgs {
    /// The firewall export (`-` reads standard input).
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
    /// TCP flags, comma-separated (`SYN,ACK`); default SYN for a new
    /// packet, ACK otherwise.
    #[arg(long)]
    pub tcp_flags: Option<String>,
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
    /// Errors of single files in a run over several, which goes on without them.
    pub stderr: String,
    pub code: i32,
}

/// Parses the arguments (`octaverify FILE` meaning `octaverify check FILE`) and runs.
pub fn run(args: Vec<String>, term: Terminal) -> Result<RunResult, Error> {
    let mut args = args;
    // `octaverify FILE` means `octaverify check FILE`.
    let command = Cli::command();
    let first = args.get(1).map(String::as_str).unwrap_or("");
    let known = command.get_subcommands().any(|c| c.get_name() == first)
        || ["help", "-h", "--help", "-V", "--version"].contains(&first);
    if args.len() > 1 && !known {
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
                stderr: String::new(),
                code,
            });
        }
    };
    let term = Terminal {
        color: Some(cli.color),
        ..term
    };
    match cli.command {
        Command::Check(a) => check::run_check(&a, term),
        Command::Trace(a) => trace::run_trace(&a),
        Command::Lint(a) => lint::run_lint(&a, term),
        Command::Diff(a) => diff::run_diff(&a),
        Command::Pcap(a) => pcap::run_pcap(&a),
        Command::Explain { code } => explain(code.as_deref()),
        Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "octaverify", &mut out);
            Ok(RunResult {
                stdout: String::from_utf8(out).expect("completion scripts are text"),
                stderr: String::new(),
                code: 0,
            })
        }
        Command::Man => {
            let mut out = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .expect("writing to memory does not fail");
            Ok(RunResult {
                stdout: String::from_utf8(out).expect("the manual is text"),
                stderr: String::new(),
                code: 0,
            })
        }
    }
}

impl SiteArgs {
    pub fn overrides(&self) -> Overrides {
        Overrides {
            config: self.config.clone(),
            dialler: self.dialler.clone(),
            dialler6: self.dialler6.clone(),
            management: self
                .management
                .as_ref()
                .map(|v| v.iter().map(|h| h.0).collect()),
            dns_servers: self.dns_servers.clone(),
            mode: self.mode,
            internet: self.internet,
            lan: self.lan.clone(),
            wan: self.wan.clone(),
            strict: self.strict,
        }
    }

    /// The requirement set to check: `--requirements FILE`, else the built-in one.
    pub fn requirements(&self) -> Result<RequirementSet, Error> {
        match &self.requirements {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| Error::Usage(format!("cannot read {}: {e}", p.display())))?;
                RequirementSet::parse(&p.display().to_string(), &text)
            }
            None => Ok(RequirementSet::builtin()),
        }
    }
}

fn explain(code: Option<&str>) -> Result<RunResult, Error> {
    use crate::report::codes::{CODES, find};
    let stdout = match code {
        Some(c) => {
            let e = find(c).ok_or_else(|| {
                let all: Vec<&str> = CODES.iter().map(|c| c.code).collect();
                Error::Usage(format!("no code `{c}`; the codes are {}", all.join(", ")))
            })?;
            format!(
                "{} ({}): {}\n\n{}\n",
                e.code,
                e.kind,
                e.title,
                wrap(e.help, 80)
            )
        }
        None => CODES
            .iter()
            .map(|e| format!("{:<22} {:<8} {}\n", e.code, e.kind, e.title))
            .collect(),
    };
    Ok(RunResult {
        stdout,
        stderr: String::new(),
        code: 0,
    })
}

/// A paragraph broken into lines of at most `width` characters.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = 0;
    for word in text.split_whitespace() {
        if line > 0 && line + 1 + word.len() > width {
            out.push('\n');
            line = 0;
        } else if line > 0 {
            out.push(' ');
            line += 1;
        }
        out.push_str(word);
        line += word.len();
    }
    out
}

fn load(
    path: &Path,
    format: Option<FormatArg>,
    options: &frontend::Options,
) -> Result<Policy, Error> {
    let cannot = |e: std::io::Error| Error::Usage(format!("cannot read {}: {e}", path.display()));
    // `-` is standard input (its includes and config are looked up from
    // the working directory).
    let (name, bytes) = if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes).map_err(cannot)?;
        ("<stdin>".to_string(), bytes.into())
    } else {
        (path.display().to_string(), read(path).map_err(cannot)?)
    };
    frontend::load_with(&name, bytes, format.map(Into::into), options)
}

/// Files from this size on are mapped rather than read: a kube-proxy dump's
/// 150 MB then need not stay resident beside the policy built from it. A
/// smaller file costs little to read, and reading it is safe where mapping
/// is not quite: a mapped file cut short while the check runs ends the
/// process with SIGBUS.
const MAP_FROM: u64 = 16 << 20;

/// A file's bytes: mapped when it is a large regular file, read otherwise
/// (a pipe or device cannot be mapped).
fn read(path: &Path) -> std::io::Result<frontend::Bytes> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() >= MAP_FROM {
        // SAFETY: the map is only read, and the file is assumed unchanged
        // while the check runs (see MAP_FROM).
        if let Ok(map) = unsafe { memmap2::Mmap::map(&file) } {
            return Ok(frontend::Bytes::Mapped(map));
        }
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    std::io::Read::read_to_end(&mut &file, &mut bytes)?;
    Ok(bytes.into())
}
