//! What an iptables-save / iptables-restore file says, line by line, before
//! any meaning is given to it. Slices borrow from the input text; offsets are
//! byte positions in the whole file, for error carets.

use ipnet::IpNet;

/// The file being read, for locating errors.
#[derive(Debug, Clone, Copy)]
pub struct Source<'p, 't> {
    pub path: &'p str,
    pub text: &'t str,
}

impl Source<'_, '_> {
    /// An error at byte offset `at` (length `len`) of the file.
    pub fn err(
        &self,
        at: usize,
        len: usize,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> crate::diag::InputError {
        crate::diag::InputError::at(self.path, self.text, at, len, message, expected)
    }

    /// An error under a token.
    pub fn err_at(
        &self,
        t: Located<'_>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> crate::diag::InputError {
        self.err(t.at, t.text.len(), message, expected)
    }
}

/// A piece of the input and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Located<'a> {
    pub text: &'a str,
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Line<'a> {
    pub kind: LineKind<'a>,
    /// 1-based line number and the byte range of the line (without its end).
    pub number: u32,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LineKind<'a> {
    /// `*filter`
    Table(Located<'a>),
    /// `:FORWARD DROP [0:0]` or `:USER - [0:0]`
    Chain {
        name: Located<'a>,
        policy: Option<Located<'a>>,
    },
    Commit,
    /// `-A`/`-I` with the rule's options.
    Rule {
        chain: Located<'a>,
        insert_at: Option<u32>,
        append: bool,
        spec: RuleSpec<'a>,
    },
    /// `-N CHAIN`
    NewChain(Located<'a>),
    /// `-P CHAIN POLICY`
    SetPolicy {
        chain: Located<'a>,
        policy: Located<'a>,
    },
    /// `-F [CHAIN]`
    Flush(Option<Located<'a>>),
    /// `-X [CHAIN]`
    DeleteChain(Option<Located<'a>>),
    /// `-Z`, comments and blank lines leave nothing.
    Nothing,
}

/// The options of one rule.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuleSpec<'a> {
    pub matches: Vec<Match<'a>>,
    pub target: Option<Target<'a>>,
    /// Whether the rule makes the kernel track connections (a conntrack
    /// match, a NAT target, …).
    pub tracks: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Match<'a> {
    pub negated: bool,
    pub cond: Cond<'a>,
    /// The option as written (for messages and `unknown` reasons).
    pub source: Located<'a>,
}

/// One matching condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond<'a> {
    Src(Vec<IpNet>),
    Dst(Vec<IpNet>),
    SrcRange(IpRange),
    DstRange(IpRange),
    Proto(Option<u8>),
    InIface(&'a str),
    OutIface(&'a str),
    Sport(Vec<(u16, u16)>),
    Dport(Vec<(u16, u16)>),
    /// multiport `--ports`: source or destination port.
    AnyPort(Vec<(u16, u16)>),
    /// `[lo, hi]` of the ICMP dimension (type << 8 | code).
    Icmp(u16, u16),
    /// Connection-tracking states (values of the state dimension).
    State(Vec<u8>),
    TcpFlags {
        mask: u8,
        comp: u8,
    },
    /// `-4` / `-6`: the rule applies only to one family's restore.
    OnlyFamily(crate::space::Family),
    /// Parsed but not modelled (`-m recent …`, `-f`, `--ctstate DNAT`, …).
    Opaque,
    /// No effect on matching (`-m comment`).
    Inert,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    pub lo: std::net::IpAddr,
    pub hi: std::net::IpAddr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target<'a> {
    pub kind: TargetKind<'a>,
    /// `-j NAME` or `-g NAME`, for carets.
    pub name: Located<'a>,
    pub goto: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TargetKind<'a> {
    Accept,
    Drop,
    Reject,
    Return,
    /// A user chain, resolved when the file is lowered.
    Chain(&'a str),
    /// A target that does not decide: LOG, MARK, …
    Continue,
    /// SNAT (to these addresses) or MASQUERADE (`None`).
    SourceNat(Option<IpRange>),
    /// A target whose effect is not modelled, and why.
    Unknown(&'static str),
}
