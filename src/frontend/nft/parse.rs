//! The structure of an nftables ruleset: tables, chains, sets and maps, and
//! each rule's tokens, with `define`s expanded and `include`s read. The
//! commands of nft scripts (`add rule …`, `insert rule …`, `flush ruleset`)
//! are replayed in order into the same structure.

use super::lex::{self, Kind, Token};
use crate::diag::InputError;
use crate::model::{SourceFile, Text};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableFamily {
    Ip,
    Ip6,
    Inet,
    /// Ingress and egress of devices: packets of every family.
    Netdev,
    /// bridge, arp: parsed, but not on the IP forward path.
    Other,
}

impl TableFamily {
    pub fn parse(s: &str) -> Option<TableFamily> {
        Some(match s {
            "ip" => TableFamily::Ip,
            "ip6" => TableFamily::Ip6,
            "inet" => TableFamily::Inet,
            "netdev" => TableFamily::Netdev,
            "bridge" | "arp" => TableFamily::Other,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            TableFamily::Ip => "ip",
            TableFamily::Ip6 => "ip6",
            TableFamily::Inet => "inet",
            TableFamily::Netdev => "netdev",
            TableFamily::Other => "other",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Table<'a> {
    pub family: TableFamily,
    /// `bridge`, `netdev`, … as written, for notes.
    pub family_word: &'a str,
    pub name: &'a str,
    pub chains: Vec<ChainDef<'a>>,
    pub sets: HashMap<&'a str, SetDef<'a>>,
}

#[derive(Debug, Clone)]
pub struct ChainDef<'a> {
    pub name: &'a str,
    pub decl: Token<'a>,
    pub base: Option<BaseDef<'a>>,
    pub rules: Vec<RuleDef<'a>>,
}

#[derive(Debug, Clone)]
pub struct BaseDef<'a> {
    pub kind: Token<'a>,
    pub hook: Token<'a>,
    pub priority: i32,
    /// The `policy drop;` token, if the policy is drop.
    pub policy: Option<Token<'a>>,
    pub policy_drop: bool,
    /// `device eth0` / `devices = { eth0, eth1 }` of ingress and egress chains.
    pub devices: Vec<Token<'a>>,
}

#[derive(Debug, Clone)]
pub struct RuleDef<'a> {
    pub tokens: Vec<Token<'a>>,
    /// Where the rule's text starts and ends in its file.
    pub file: usize,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub struct SetDef<'a> {
    pub name: &'a str,
    /// Whether its elements come and go at run time (`flags dynamic`,
    /// `flags timeout`, a `timeout`): what a listing shows is a moment's.
    pub dynamic: bool,
    /// Each element's tokens, as written between commas.
    pub elements: Vec<Vec<Token<'a>>>,
}

/// Every file read (the first is the one named on the command line).
pub struct Sources {
    pub files: Vec<SourceFile>,
    /// The files each `include` (by file and offset of its name) stands for.
    includes: HashMap<(usize, usize), Vec<usize>>,
    /// For JSON input: file 1 is the nft script written from the JSON of
    /// file 0, and this is the byte range of the JSON object behind each
    /// line of the script.
    origins: Vec<(usize, usize)>,
}

impl Sources {
    /// A JSON document (file 0) and the script written from it (file 1).
    pub fn from_json(path: &str, json: Text, script: String, origins: Vec<(usize, usize)>) -> Self {
        let script_path = format!("{path} (as nft commands)");
        Sources {
            files: vec![
                SourceFile {
                    path: path.to_string(),
                    text: json,
                },
                SourceFile {
                    path: script_path,
                    text: script.into(),
                },
            ],
            includes: HashMap::new(),
            origins,
        }
    }

    /// The file the replay starts from.
    pub fn entry(&self) -> usize {
        if self.origins.is_empty() { 0 } else { 1 }
    }

    /// The JSON object behind a (1-based) line of the script, if `file` is the script.
    pub fn origin(&self, file: usize, line: u32) -> Option<(usize, usize)> {
        (file == 1 && !self.origins.is_empty())
            .then(|| self.origins.get(line as usize - 1).copied())
            .flatten()
    }

    pub fn err(
        &self,
        t: &Token<'_>,
        message: impl Into<String>,
        expected: impl Into<String>,
    ) -> InputError {
        let f = &self.files[t.file];
        let line = f.text[..t.at].matches('\n').count() as u32 + 1;
        if let Some((start, end)) = self.origin(t.file, line) {
            let written = f.text.lines().nth(line as usize - 1).unwrap_or("");
            let j = &self.files[0];
            // The object's first line, at most: `nft -j` writes one long line.
            let first_line = j.text[start..end].find('\n').unwrap_or(end - start);
            return InputError::at(
                &j.path,
                &j.text,
                start,
                first_line.min(60),
                format!("{} (in this object, read as `{written}`)", message.into()),
                expected,
            );
        }
        InputError::at(&f.path, &f.text, t.at, t.text.len(), message, expected)
    }
}

/// Where an included file's statements land.
#[derive(Clone, Copy)]
enum Scope {
    Top,
    Table(usize),
    Chain(usize, usize),
}

/// The ruleset being built, command by command.
#[derive(Default)]
pub struct Builder<'a> {
    pub tables: Vec<Table<'a>>,
    defines: HashMap<&'a str, Vec<Token<'a>>>,
    /// The files being replayed, innermost last, to refuse include loops.
    replaying: Vec<usize>,
}

type Res<T> = Result<T, InputError>;

/// Reads the file and every file it includes, relative to the including
/// file; a glob pattern includes its matches in name order (none is not an
/// error, as for nft), a plain name that cannot be read is.
pub fn load_all(path: &str, text: Text) -> Res<Sources> {
    let mut files = vec![SourceFile {
        path: path.to_string(),
        text,
    }];
    let mut includes = HashMap::new();
    let mut i = 0;
    while i < files.len() {
        let dir = Path::new(&files[i].path).parent().map(Path::to_path_buf);
        // (name, offset, length) of each include, read before the next file is added.
        let found: Vec<(String, usize, usize)> = {
            let toks = lex::tokens(&files[i].path, &files[i].text, i)?;
            toks.windows(2)
                .filter(|w| w[0].is("include") && w[1].kind == Kind::Str)
                .map(|w| (w[1].unquoted().to_string(), w[1].at, w[1].text.len()))
                .collect()
        };
        for (name, at, len) in found {
            let full = match &dir {
                Some(d) if !Path::new(&name).is_absolute() => d.join(&name),
                _ => Path::new(&name).to_path_buf(),
            };
            // `./rules/x.nft` names the file as `rules/x.nft` does.
            let full: std::path::PathBuf = full
                .components()
                .filter(|c| *c != std::path::Component::CurDir)
                .collect();
            let err = |files: &[SourceFile], why: String| {
                InputError::at(
                    &files[i].path,
                    &files[i].text,
                    at,
                    len,
                    why,
                    "expected an include of a readable file, relative to the including file",
                )
            };
            let pattern = full.display().to_string();
            let paths: Vec<std::path::PathBuf> = if name.contains(['*', '?', '[']) {
                let matches = glob::glob(&pattern)
                    .map_err(|e| err(&files, format!("bad include pattern {pattern}: {e}")))?;
                matches
                    .filter_map(Result::ok)
                    .filter(|p| p.is_file())
                    .collect()
            } else {
                vec![full]
            };
            let mut indexes = Vec::new();
            for p in paths {
                let shown = p.display().to_string();
                if let Some(k) = files.iter().position(|f| f.path == shown) {
                    indexes.push(k);
                    continue;
                }
                let body = std::fs::read_to_string(&p)
                    .map_err(|e| err(&files, format!("cannot read included file {shown}: {e}")))?;
                if body.len() > crate::model::MAX_TEXT {
                    let n = body.len();
                    return Err(err(
                        &files,
                        format!(
                            "included file {shown} has {n} bytes, more than the 4 GiB octaverify reads in one file"
                        ),
                    ));
                }
                indexes.push(files.len());
                files.push(SourceFile {
                    path: shown,
                    text: body.into(),
                });
            }
            includes.insert((i, at), indexes);
        }
        i += 1;
    }
    Ok(Sources {
        files,
        includes,
        origins: Vec::new(),
    })
}

impl<'a> Builder<'a> {
    /// Replays one file's statements (and, in place, the files it includes).
    pub fn file(&mut self, src: &'a Sources, index: usize) -> Res<()> {
        self.replay(src, index, Scope::Top)
    }

    /// Replays a file at the top level, or inside the body of a table or a
    /// chain (an `include` within `table … { }` or `chain … { }`).
    fn replay(&mut self, src: &'a Sources, index: usize, scope: Scope) -> Res<()> {
        let f = &src.files[index];
        let toks = lex::tokens(&f.path, &f.text, index)?;
        let mut p = Cursor {
            toks: &toks,
            i: 0,
            src,
        };
        self.replaying.push(index);
        match scope {
            Scope::Table(ti) => self.table_body(&mut p, ti, true)?,
            Scope::Chain(ti, ci) => self.chain_body(&mut p, ti, ci, true)?,
            Scope::Top => {
                while let Some(t) = p.peek() {
                    if t.kind == Kind::Newline || t.is(";") {
                        p.i += 1;
                        continue;
                    }
                    self.statement(&mut p)?;
                }
            }
        }
        self.replaying.pop();
        Ok(())
    }

    /// `include "NAME"`: replays the files it stands for, in place.
    fn include(&mut self, p: &mut Cursor<'a, '_>, scope: Scope) -> Res<()> {
        let name = p.next()?;
        if name.kind != Kind::Str {
            return Err(p.src.err(
                &name,
                "include without a quoted file name",
                "expected include \"FILE\"",
            ));
        }
        let files = p
            .src
            .includes
            .get(&(name.file, name.at))
            .cloned()
            .unwrap_or_default();
        for index in files {
            if self.replaying.contains(&index) {
                return Err(p.src.err(
                    &name,
                    format!("include loop: {} includes itself", p.src.files[index].path),
                    "expected includes that do not come back to a file being read",
                ));
            }
            self.replay(p.src, index, scope)?;
        }
        Ok(())
    }

    fn statement(&mut self, p: &mut Cursor<'a, '_>) -> Res<()> {
        let t = p.next_word("a statement")?;
        match t.text {
            "table" => self.table(p)?,
            "define" | "redefine" => {
                let name = p.next_word("a variable name")?;
                p.expect("=")?;
                let value = p.until_end_of_statement();
                self.defines.insert(name.text, self.expand(p.src, &value)?);
            }
            "undefine" => {
                let name = p.next_word("a variable name")?;
                self.defines.remove(name.text);
            }
            "include" => self.include(p, Scope::Top)?,
            "flush" => {
                let what = p.next_word("ruleset, table or chain")?;
                match what.text {
                    "ruleset" => self.tables.clear(),
                    "table" => {
                        let (fam, _, name) = self.table_name(p)?;
                        if let Some(t) = self
                            .tables
                            .iter_mut()
                            .find(|t| t.family == fam && t.name == name.text)
                        {
                            t.chains.iter_mut().for_each(|c| c.rules.clear());
                        }
                    }
                    "chain" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let chain = p.next_word("a chain name")?;
                        if let Some(c) = self.find_chain(fam, table.text, chain.text) {
                            c.rules.clear();
                        }
                    }
                    "set" | "map" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let name = p.next_word("a set name")?;
                        if let Some(set) = self.find_set(fam, table.text, name.text) {
                            set.elements.clear();
                        }
                    }
                    _ => {
                        p.until_end_of_statement();
                    }
                }
            }
            "delete" | "destroy" => {
                let what = p.next_word("what to delete")?;
                match what.text {
                    "table" => {
                        let (fam, _, name) = self.table_name(p)?;
                        p.until_end_of_statement();
                        self.tables
                            .retain(|t| !(t.family == fam && t.name == name.text));
                    }
                    "chain" | "set" | "map" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let name = p.next_word("a name")?;
                        p.until_end_of_statement();
                        if let Some(t) = self.find_table(fam, table.text) {
                            if what.is("chain") {
                                t.chains.retain(|c| c.name != name.text);
                            } else {
                                t.sets.remove(name.text);
                            }
                        }
                    }
                    "element" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let name = p.next_word("a set name")?;
                        p.expect("{")?;
                        let gone = self.elements(p)?;
                        let text = |e: &[Token<'a>]| -> Vec<&'a str> {
                            e.iter().map(|t| t.text).collect()
                        };
                        if let Some(set) = self.find_set(fam, table.text, name.text) {
                            set.elements
                                .retain(|e| !gone.iter().any(|g| text(g) == text(e)));
                        }
                    }
                    "rule" => {
                        return Err(p.src.err(
                            &what,
                            "unsupported construct: delete rule by handle (a listing carries no handles)",
                            "expected rules removed by flushing their chain",
                        ));
                    }
                    _ => {
                        // Objects the model has no use for (counters, quotas, flowtables, …).
                        p.until_end_of_statement();
                    }
                }
            }
            "add" | "create" | "insert" | "replace" => {
                let what = p.next_word("table, chain, rule, set, map or element")?;
                match what.text {
                    "table" => self.table(p)?,
                    "chain" => {
                        let (fam, fam_word, table) = self.table_name(p)?;
                        let ti = self.table_index(fam, fam_word, table);
                        let name = p.next_word("a chain name")?;
                        let ci = self.chain_index(ti, name);
                        if p.eat("{") {
                            self.chain_body(p, ti, ci, false)?;
                        }
                    }
                    "rule" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let chain = p.next_word("a chain name")?;
                        let mut position = None;
                        if p.peek()
                            .is_some_and(|t| t.is("position") || t.is("index") || t.is("handle"))
                        {
                            let k = p.next()?;
                            let n = p.next_word("a number")?;
                            let v: usize = n.text.parse().map_err(|_| {
                                p.src
                                    .err(&n, "expected a number", "expected position/index N")
                            })?;
                            if !k.is("index") {
                                return Err(p.src.err(
                                    &k,
                                    format!("unsupported construct: a rule placed by `{}` (a listing carries no handles)", k.text),
                                    "expected index N, or a rule added at the end or inserted at the start",
                                ));
                            }
                            position = Some(v);
                        }
                        if t.is("replace") {
                            return Err(p.src.err(
                                &what,
                                "unsupported construct: replace rule (it needs a rule handle)",
                                "expected add rule or insert rule",
                            ));
                        }
                        let rule = self.rule_def(p)?;
                        let insert = t.is("insert");
                        let Some(c) = self.find_chain(fam, table.text, chain.text) else {
                            return Err(p.src.err(
                                &chain,
                                format!("no chain `{}` in table {}", chain.text, table.text),
                                "expected a chain added before its rules",
                            ));
                        };
                        // `insert … index N` goes before the rule at N, `add … index N` after it.
                        match position {
                            Some(n) if n < c.rules.len() => {
                                c.rules.insert(if insert { n } else { n + 1 }, rule)
                            }
                            Some(_) => {
                                return Err(p.src.err(
                                    &chain,
                                    format!(
                                        "no rule at index {} in chain {}",
                                        position.unwrap_or(0),
                                        chain.text
                                    ),
                                    "expected an index of a rule the chain has",
                                ));
                            }
                            None if insert => c.rules.insert(0, rule),
                            None => c.rules.push(rule),
                        }
                    }
                    "set" | "map" => {
                        let (fam, fam_word, table) = self.table_name(p)?;
                        let ti = self.table_index(fam, fam_word, table);
                        let name = p.next_word("a set name")?;
                        p.expect("{")?;
                        let set = self.set_body(p, name.text)?;
                        self.define_set(ti, set);
                    }
                    "element" => {
                        let (fam, _, table) = self.table_name(p)?;
                        let name = p.next_word("a set name")?;
                        p.expect("{")?;
                        let elements = self.elements(p)?;
                        match self.find_set(fam, table.text, name.text) {
                            Some(s) => s.elements.extend(elements),
                            None => {
                                return Err(p.src.err(
                                    &name,
                                    format!("no set `{}` in table {}", name.text, table.text),
                                    "expected a set added before its elements",
                                ));
                            }
                        }
                    }
                    _ => {
                        // Objects the model has no use for (counters, quotas, flowtables, …).
                        p.skip_statement()?;
                    }
                }
            }
            _ => {
                return Err(p.src.err(
                    &t,
                    format!("unexpected `{}`", t.text),
                    "expected table, define, include, flush, add, insert, delete or a comment",
                ));
            }
        }
        Ok(())
    }

    /// `[add] table [FAMILY] NAME [{ … }]`: a table opened (again) and its body.
    fn table(&mut self, p: &mut Cursor<'a, '_>) -> Res<()> {
        let (fam, fam_word, name) = self.table_name(p)?;
        let ti = self.table_index(fam, fam_word, name);
        if p.eat("{") {
            self.table_body(p, ti, false)?;
        }
        Ok(())
    }

    /// `[FAMILY] NAME`, with `ip` as the default family.
    fn table_name(&self, p: &mut Cursor<'a, '_>) -> Res<(TableFamily, &'a str, Token<'a>)> {
        let first = p.next_word("a table family or name")?;
        match TableFamily::parse(first.text) {
            Some(f) if p.peek().is_some_and(|t| t.kind == Kind::Word && !t.is("{")) => {
                Ok((f, first.text, p.next_word("a table name")?))
            }
            _ => Ok((TableFamily::Ip, "ip", first)),
        }
    }

    fn table_index(&mut self, family: TableFamily, family_word: &'a str, name: Token<'a>) -> usize {
        if let Some(i) = self
            .tables
            .iter()
            .position(|t| t.family == family && t.name == name.text)
        {
            return i;
        }
        self.tables.push(Table {
            family,
            family_word,
            name: name.text,
            chains: Vec::new(),
            sets: HashMap::new(),
        });
        self.tables.len() - 1
    }

    fn chain_index(&mut self, ti: usize, name: Token<'a>) -> usize {
        let t = &mut self.tables[ti];
        if let Some(i) = t.chains.iter().position(|c| c.name == name.text) {
            return i;
        }
        t.chains.push(ChainDef {
            name: name.text,
            decl: name,
            base: None,
            rules: Vec::new(),
        });
        t.chains.len() - 1
    }

    fn find_table(&mut self, fam: TableFamily, name: &str) -> Option<&mut Table<'a>> {
        self.tables
            .iter_mut()
            .find(|t| t.family == fam && t.name == name)
    }

    fn find_set(&mut self, fam: TableFamily, table: &str, name: &str) -> Option<&mut SetDef<'a>> {
        self.find_table(fam, table)?.sets.get_mut(name)
    }

    /// A set declared again keeps its elements (nft adds to an existing set).
    fn define_set(&mut self, ti: usize, set: SetDef<'a>) {
        match self.tables[ti].sets.get_mut(set.name) {
            Some(old) => {
                old.dynamic |= set.dynamic;
                old.elements.extend(set.elements);
            }
            None => {
                self.tables[ti].sets.insert(set.name, set);
            }
        }
    }

    fn find_chain(
        &mut self,
        fam: TableFamily,
        table: &str,
        chain: &str,
    ) -> Option<&mut ChainDef<'a>> {
        self.tables
            .iter_mut()
            .find(|t| t.family == fam && t.name == table)?
            .chains
            .iter_mut()
            .find(|c| c.name == chain)
    }

    /// A table's body up to its `}`, or, for a file included inside the
    /// body, to the end of that file.
    fn table_body(&mut self, p: &mut Cursor<'a, '_>, ti: usize, included: bool) -> Res<()> {
        loop {
            if included && p.peek().is_none() {
                return Ok(());
            }
            let t = p.next()?;
            if t.kind == Kind::Newline || t.is(";") {
                continue;
            }
            if t.is("}") && t.kind == Kind::Punct {
                return Ok(());
            }
            match t.text {
                "include" => self.include(p, Scope::Table(ti))?,
                "define" | "redefine" | "undefine" => {
                    p.i -= 1;
                    self.statement(p)?;
                }
                "chain" => {
                    let name = p.next_word("a chain name")?;
                    let ci = self.chain_index(ti, name);
                    p.expect("{")?;
                    self.chain_body(p, ti, ci, false)?;
                }
                "set" | "map" => {
                    let name = p.next_word("a set name")?;
                    p.expect("{")?;
                    let set = self.set_body(p, name.text)?;
                    self.define_set(ti, set);
                }
                _ => {
                    // flags, comment, and objects without effect on verdicts
                    // (counter, quota, limit, ct helper, flowtable, secmark, …).
                    p.i -= 1;
                    p.skip_statement()?;
                }
            }
        }
    }

    /// A chain's body up to its `}`, or, for a file included inside the
    /// body, to the end of that file.
    fn chain_body(
        &mut self,
        p: &mut Cursor<'a, '_>,
        ti: usize,
        ci: usize,
        included: bool,
    ) -> Res<()> {
        loop {
            let Some(t) = p.peek() else {
                if included {
                    return Ok(());
                }
                return Err(p.eof("`}` closing the chain"));
            };
            if t.kind == Kind::Newline || t.is(";") {
                p.i += 1;
                continue;
            }
            if t.is("}") {
                p.i += 1;
                return Ok(());
            }
            match t.text {
                "include" if t.kind == Kind::Word => {
                    p.i += 1;
                    self.include(p, Scope::Chain(ti, ci))?;
                }
                "define" | "redefine" | "undefine" if t.kind == Kind::Word => self.statement(p)?,
                "type" if t.kind == Kind::Word => {
                    p.i += 1;
                    let kind = p.next_word("filter, nat or route")?;
                    let hook_kw = p.next_word("hook")?;
                    if !hook_kw.is("hook") {
                        return Err(p.src.err(
                            &hook_kw,
                            "expected `hook`",
                            "expected type TYPE hook HOOK priority PRIORITY;",
                        ));
                    }
                    let hook = p.next_word("a hook name")?;
                    let mut devices = Vec::new();
                    if p.peek().is_some_and(|t| t.is("device") || t.is("devices")) {
                        p.i += 1;
                        devices = self.devices(p)?;
                    }
                    let prio_kw = p.next_word("priority")?;
                    if !prio_kw.is("priority") {
                        return Err(p.src.err(
                            &prio_kw,
                            "expected `priority`",
                            "expected type TYPE hook HOOK priority PRIORITY;",
                        ));
                    }
                    let prio_toks = p.until_end_of_statement();
                    let priority = priority(&prio_toks).ok_or_else(|| {
                        let at = prio_toks.first().copied().unwrap_or(prio_kw);
                        p.src.err(&at, "bad chain priority", "expected a number or raw, mangle, dstnat, filter, security, srcnat, with an optional + or - offset")
                    })?;
                    let c = &mut self.tables[ti].chains[ci];
                    let (policy, policy_drop) = c
                        .base
                        .as_ref()
                        .map_or((None, false), |b| (b.policy, b.policy_drop));
                    c.base = Some(BaseDef {
                        kind,
                        hook,
                        priority,
                        policy,
                        policy_drop,
                        devices,
                    });
                }
                "policy" if t.kind == Kind::Word => {
                    p.i += 1;
                    let v = p.next_word("accept or drop")?;
                    let drop = match v.text {
                        "accept" => false,
                        "drop" => true,
                        _ => {
                            return Err(p.src.err(
                                &v,
                                format!("unknown policy `{}`", v.text),
                                "expected accept or drop",
                            ));
                        }
                    };
                    p.until_end_of_statement();
                    match &mut self.tables[ti].chains[ci].base {
                        Some(b) => {
                            b.policy = Some(v);
                            b.policy_drop = drop;
                        }
                        None => {
                            return Err(p.src.err(
                                &v,
                                "policy on a chain without a hook",
                                "expected policy only in a base chain (after type … hook …)",
                            ));
                        }
                    }
                }
                "devices" if p.toks.get(p.i + 1).is_some_and(|n| n.is("=")) => {
                    p.i += 1;
                    let devices = self.devices(p)?;
                    p.until_end_of_statement();
                    if let Some(b) = &mut self.tables[ti].chains[ci].base {
                        b.devices = devices;
                    }
                }
                "comment" if p.toks.get(p.i + 1).is_some_and(|n| n.kind == Kind::Str) => {
                    p.until_end_of_statement();
                }
                _ => {
                    let rule = self.rule_def(p)?;
                    if !rule.tokens.is_empty() {
                        self.tables[ti].chains[ci].rules.push(rule);
                    }
                }
            }
        }
    }

    /// `[=] NAME` or `[=] { NAME, … }` after `device(s)`, with defines expanded.
    fn devices(&self, p: &mut Cursor<'a, '_>) -> Res<Vec<Token<'a>>> {
        p.eat("=");
        let raw = if p.eat("{") {
            self.elements(p)?.into_iter().flatten().collect()
        } else {
            let mut one = vec![p.next()?];
            if one[0].is("$") {
                one.push(p.next()?);
            }
            self.expand(p.src, &one)?
        };
        Ok(raw.into_iter().filter(|t| t.kind != Kind::Punct).collect())
    }

    /// A rule's tokens, up to a line end or `;` outside braces, with defines expanded.
    fn rule_def(&self, p: &mut Cursor<'a, '_>) -> Res<RuleDef<'a>> {
        let raw = p.until_end_of_statement();
        unclosed_set(p.src, &raw)?;
        let (file, start, end) = match (raw.first(), raw.last()) {
            (Some(a), Some(b)) => (a.file, a.at, b.at + b.text.len()),
            _ => (0, 0, 0),
        };
        Ok(RuleDef {
            tokens: self.expand(p.src, &raw)?,
            file,
            start,
            end,
        })
    }

    /// Replaces `$name` by the tokens it was defined as.
    fn expand(&self, src: &Sources, toks: &[Token<'a>]) -> Res<Vec<Token<'a>>> {
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            if toks[i].is("$") {
                let Some(name) = toks.get(i + 1) else {
                    return Err(src.err(&toks[i], "`$` without a name", "expected $NAME"));
                };
                let value = self.defines.get(name.text).ok_or_else(|| {
                    src.err(
                        name,
                        format!("undefined variable `${}`", name.text),
                        "expected a variable defined earlier with define",
                    )
                })?;
                out.extend_from_slice(value);
                i += 2;
            } else {
                out.push(toks[i]);
                i += 1;
            }
        }
        Ok(out)
    }

    fn set_body(&self, p: &mut Cursor<'a, '_>, name: &'a str) -> Res<SetDef<'a>> {
        let mut set = SetDef {
            name,
            dynamic: false,
            elements: Vec::new(),
        };
        loop {
            let t = p.next()?;
            if t.kind == Kind::Newline || t.is(";") {
                continue;
            }
            if t.is("}") {
                return Ok(set);
            }
            match t.text {
                "flags" => {
                    let flags = p.until_end_of_statement();
                    set.dynamic |= flags.iter().any(|f| f.is("dynamic") || f.is("timeout"));
                }
                "timeout" => {
                    set.dynamic = true;
                    p.until_end_of_statement();
                }
                "elements" => {
                    p.expect("=")?;
                    p.expect("{")?;
                    set.elements = self.elements(p)?;
                }
                _ => {
                    p.i -= 1;
                    p.skip_statement()?;
                }
            }
        }
    }

    /// Elements up to the closing `}`, split at top-level commas.
    fn elements(&self, p: &mut Cursor<'a, '_>) -> Res<Vec<Vec<Token<'a>>>> {
        let mut out = Vec::new();
        let mut cur = Vec::new();
        let mut depth = 0;
        loop {
            let t = p.next()?;
            match t.text {
                "}" if t.kind == Kind::Punct && depth == 0 => break,
                "," if t.kind == Kind::Punct && depth == 0 => {
                    if !cur.is_empty() {
                        out.push(std::mem::take(&mut cur));
                    }
                }
                _ if t.kind == Kind::Newline => {}
                _ => {
                    if t.is("{") {
                        depth += 1;
                    } else if t.is("}") {
                        depth -= 1;
                    }
                    cur.push(t);
                }
            }
        }
        if !cur.is_empty() {
            out.push(cur);
        }
        out.into_iter().map(|e| self.expand(p.src, &e)).collect()
    }
}

/// A set left open runs on into the next rules: a verdict inside braces
/// that is no map's value (`{ 10.0.0.1, 8.8.8.8 udp dport 53 accept`) shows
/// where, and the error points at the brace that is not closed.
fn unclosed_set(src: &Sources, rule: &[Token<'_>]) -> Res<()> {
    // Each open brace, and whether it opens an anonymous chain (`jump { … }`).
    let mut open: Vec<(Token<'_>, bool)> = Vec::new();
    for (k, t) in rule.iter().enumerate() {
        if t.is("{") {
            let chain = k > 0 && (rule[k - 1].is("jump") || rule[k - 1].is("goto"));
            open.push((*t, chain || open.last().is_some_and(|o| o.1)));
        } else if t.is("}") {
            open.pop();
        } else if let Some((brace, false)) = open.last()
            && t.kind == Kind::Word
            && super::lower::VERDICTS.contains(&t.text)
            && !(k > 0 && rule[k - 1].is(":"))
        {
            return Err(src.err(
                brace,
                format!("this `{{` is not closed before `{}`", t.text),
                "expected `}` closing the set",
            ));
        }
    }
    Ok(())
}

/// `filter`, `filter - 10`, `-150`, `mangle+5`: named priorities and offsets.
fn priority(toks: &[Token<'_>]) -> Option<i32> {
    let text: String = toks.iter().map(|t| t.text).collect();
    let named = |s: &str| -> Option<i32> {
        Some(match s {
            "raw" => -300,
            "mangle" => -150,
            "dstnat" => -100,
            "filter" => 0,
            "security" => 50,
            "srcnat" => 100,
            "out" => 100,
            _ => return None,
        })
    };
    if let Ok(n) = text.parse::<i32>() {
        return Some(n);
    }
    let split = text
        .char_indices()
        .skip(1)
        .find(|(_, c)| *c == '+' || *c == '-')
        .map(|(i, _)| i);
    match split {
        Some(i) => {
            let base = named(&text[..i])?;
            let off: i32 = text[i + 1..].parse().ok()?;
            Some(if &text[i..=i] == "-" {
                base - off
            } else {
                base + off
            })
        }
        None => named(&text),
    }
}

struct Cursor<'a, 'b> {
    toks: &'b [Token<'a>],
    i: usize,
    src: &'a Sources,
}

impl<'a> Cursor<'a, '_> {
    fn peek(&self) -> Option<Token<'a>> {
        self.toks.get(self.i).copied()
    }

    fn eof(&self, expected: &str) -> InputError {
        let f = &self.src.files[self.toks.last().map_or(0, |t| t.file)];
        let end = f.text.trim_end().len();
        InputError::at(
            &f.path,
            &f.text,
            end,
            0,
            "unexpected end of the file",
            format!("expected {expected}"),
        )
    }

    fn next(&mut self) -> Res<Token<'a>> {
        let t = self.peek().ok_or_else(|| self.eof("more input"))?;
        self.i += 1;
        Ok(t)
    }

    /// The next token that is not a line end.
    fn next_word(&mut self, expected: &str) -> Res<Token<'a>> {
        while self.peek().is_some_and(|t| t.kind == Kind::Newline) {
            self.i += 1;
        }
        let t = self.peek().ok_or_else(|| self.eof(expected))?;
        if t.kind == Kind::Punct {
            return Err(self.src.err(
                &t,
                format!("unexpected `{}`", t.text),
                format!("expected {expected}"),
            ));
        }
        self.i += 1;
        Ok(t)
    }

    fn eat(&mut self, s: &str) -> bool {
        if self.peek().is_some_and(|t| t.is(s)) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, s: &str) -> Res<()> {
        while self.peek().is_some_and(|t| t.kind == Kind::Newline) && s != ";" {
            self.i += 1;
        }
        match self.peek() {
            Some(t) if t.is(s) => {
                self.i += 1;
                Ok(())
            }
            Some(t) => Err(self.src.err(
                &t,
                format!("unexpected `{}`", t.text),
                format!("expected `{s}`"),
            )),
            None => Err(self.eof(&format!("`{s}`"))),
        }
    }

    /// Tokens up to a line end or `;` outside braces (consumed), or a `}` that
    /// closes the enclosing block (left in place).
    fn until_end_of_statement(&mut self) -> Vec<Token<'a>> {
        let mut out = Vec::new();
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth == 0 && (t.kind == Kind::Newline || t.is(";")) {
                self.i += 1;
                break;
            }
            if t.is("}") && depth == 0 {
                break;
            }
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                depth -= 1;
            }
            if t.kind != Kind::Newline {
                out.push(t);
            }
            self.i += 1;
        }
        out
    }

    /// Skips a statement, with its block if it has one.
    fn skip_statement(&mut self) -> Res<()> {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if depth == 0 && (t.kind == Kind::Newline || t.is(";")) {
                self.i += 1;
                return Ok(());
            }
            if t.is("}") {
                if depth == 0 {
                    return Ok(());
                }
                depth -= 1;
                self.i += 1;
                if depth == 0 {
                    return Ok(());
                }
                continue;
            }
            if t.is("{") {
                depth += 1;
            }
            self.i += 1;
        }
        if depth > 0 {
            return Err(self.eof("`}`"));
        }
        Ok(())
    }
}
