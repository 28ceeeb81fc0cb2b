//! RFC 1035 master files: render, parse, write atomically.
//!
//! Rendering writes `$ORIGIN` and `$TTL`, owner names relative to the origin
//! (`@` for the apex), names inside RDATA absolute, TXT quoted and split
//! into 255-byte strings. StackDock's own metadata rides in comments, which
//! every other tool ignores: `; stackdock:tenant=<tenant>` in the header and
//! `; owner=<marker>` after each record of a set that carries an ownership
//! marker.
//!
//! Parsing accepts what people and other tools write: `$ORIGIN`, `$TTL`
//! (with `1h`-style units), relative and absolute names, `@`, omitted owners
//! (blank first column), omitted TTL and class, TTL/class in either order,
//! parentheses across lines, `;` comments and quoted strings with escapes.
//! `$INCLUDE` and `$GENERATE` are refused.

use std::path::{Path, PathBuf};

use stackdock_core::dns::RecordType;
use stackdock_core::validate;
use stackdock_core::{Error, Result};

use crate::model::{check_ttl, RecordSet, RecordSetKey, Zone, DEFAULT_TTL};
use crate::presentation::{parse_rdata_tokens, resolve_name, Lexed, Lexer, Token};

const TENANT_TAG: &str = "stackdock:tenant=";
const OWNER_TAG: &str = "owner=";

/// Render `zone` as a master file.
///
/// ```
/// use stackdock_core::dns::RecordData;
/// use stackdock_dns::{model::Zone, zonefile};
/// let mut z = Zone::new("example.com").unwrap();
/// z.add("www", 300, RecordData::A { address: "192.0.2.1".parse().unwrap() }).unwrap();
/// let text = zonefile::render(&z);
/// assert!(text.contains("$ORIGIN example.com.\n"));
/// assert!(text.contains("www\t300\tIN\tA\t192.0.2.1\n"));
/// assert_eq!(zonefile::parse(&text, "example.com").unwrap(), z);
/// ```
pub fn render(zone: &Zone) -> String {
    let mut out = String::with_capacity(64 + zone.record_count() * 48);
    out.push_str("; zone file written by stackdock-dns\n");
    if let Some(tenant) = &zone.tenant {
        out.push_str(&format!("; {TENANT_TAG}{tenant}\n"));
    }
    let default_ttl = zone
        .get(&zone.name, RecordType::SOA)
        .map(|s| s.ttl)
        .unwrap_or(DEFAULT_TTL);
    out.push_str(&format!("$ORIGIN {}.\n$TTL {default_ttl}\n", zone.name));
    // SOA first: named-checkzone and RFC 1035 expect it at the top.
    let soa = zone.get(&zone.name, RecordType::SOA);
    for set in soa
        .into_iter()
        .chain(zone.rrsets.values().filter(|s| Some(*s) != soa))
    {
        let owner = relative(&set.name, &zone.name);
        for data in &set.records {
            out.push_str(&owner);
            out.push('\t');
            out.push_str(&set.ttl.to_string());
            out.push_str("\tIN\t");
            out.push_str(set.rtype.as_str());
            out.push('\t');
            out.push_str(&data.to_string());
            if let Some(marker) = &set.owner {
                out.push_str(" ; ");
                out.push_str(OWNER_TAG);
                out.push_str(marker);
            }
            out.push('\n');
        }
    }
    out
}

fn relative(name: &str, origin: &str) -> String {
    if name == origin {
        "@".to_owned()
    } else if let Some(prefix) = name.strip_suffix(origin).and_then(|p| p.strip_suffix('.')) {
        prefix.to_owned()
    } else {
        format!("{name}.")
    }
}

/// One logical entry: the tokens of a line (joined across parentheses).
struct Entry {
    owner_omitted: bool,
    tokens: Vec<Token>,
    comments: Vec<String>,
    line: usize,
}

/// The entries of a master file, one at a time: a 50,000-record file is
/// never held as tokens all at once.
struct Entries<'a> {
    lexer: Lexer<'a>,
    line: usize,
    depth: usize,
    current: Option<Entry>,
}

fn entries(text: &str) -> Entries<'_> {
    let lexer = Lexer::new(text);
    let current = Some(Entry {
        owner_omitted: lexer.at_blank(),
        tokens: Vec::new(),
        comments: Vec::new(),
        line: 1,
    });
    Entries {
        lexer,
        line: 1,
        depth: 0,
        current,
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<Entry>;

    fn next(&mut self) -> Option<Result<Entry>> {
        // Taken out while it is filled; not put back after an error or the end.
        let mut current = self.current.take()?;
        loop {
            let item = match self.lexer.next_item() {
                Ok(item) => item,
                Err(e) => return Some(Err(at_line(self.line, e))),
            };
            match item {
                None if self.depth != 0 => {
                    return Some(Err(at_line(
                        self.line,
                        Error::invalid_input("", "unclosed '('"),
                    )));
                }
                None => return Some(Ok(current)),
                Some(Lexed::Token(t)) => current.tokens.push(t),
                Some(Lexed::Comment(c)) => current.comments.push(c),
                Some(Lexed::Open) => self.depth += 1,
                Some(Lexed::Close) => {
                    let Some(depth) = self.depth.checked_sub(1) else {
                        let e = Error::invalid_input("", "unbalanced ')'");
                        return Some(Err(at_line(self.line, e)));
                    };
                    self.depth = depth;
                }
                Some(Lexed::Newline) => {
                    self.line += 1;
                    if self.depth == 0 {
                        self.current = Some(Entry {
                            owner_omitted: self.lexer.at_blank(),
                            tokens: Vec::new(),
                            comments: Vec::new(),
                            line: self.line,
                        });
                        return Some(Ok(current));
                    }
                }
            }
        }
    }
}

/// An input error of the lexer, placed at `line`.
fn at_line(line: usize, e: Error) -> Error {
    match e.kind() {
        stackdock_core::ErrorKind::InvalidInput { reason, .. } => {
            Error::invalid_input(format!("line {line}"), reason.clone())
        }
        _ => e,
    }
}

/// Parse a TTL: seconds, or BIND units (`1h30m`, `2d`, `1w`); one rule for
/// every DNS crate, kept in core.
pub use stackdock_core::dns::presentation::parse_ttl;

/// Parse a master file whose initial origin is `zone`.
///
/// Records outside the zone are an error. Returns the zone validated.
pub fn parse(text: &str, zone: &str) -> Result<Zone> {
    let mut out = Zone::new(zone)?;
    let mut origin = out.name.clone();
    let mut default_ttl: Option<u32> = None;
    let mut last_owner: Option<String> = None;
    let mut last_ttl: Option<u32> = None;
    let mut lines = Vec::new();
    for entry in entries(text) {
        let entry = entry?;
        let field = format!("line {}", entry.line);
        if entry.tokens.is_empty() {
            for c in &entry.comments {
                if let Some(t) = c.trim().strip_prefix(TENANT_TAG) {
                    out.tenant = Some(t.trim().to_owned());
                }
            }
            continue;
        }
        let mut tokens = entry.tokens.as_slice();
        let first = &tokens[0];
        if !first.quoted && first.raw.starts_with('$') {
            match first.raw.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let name = tokens
                        .get(1)
                        .ok_or_else(|| Error::invalid_input(&field, "$ORIGIN needs a name"))?;
                    origin = resolve_name(&field, &name.raw, &origin)?;
                }
                "$TTL" => {
                    let ttl = tokens
                        .get(1)
                        .and_then(|t| parse_ttl(&t.raw))
                        .ok_or_else(|| Error::invalid_input(&field, "$TTL needs a TTL"))?;
                    default_ttl = Some(ttl);
                }
                other => {
                    return Err(Error::invalid_input(
                        field,
                        format!("directive {other} is not supported"),
                    ));
                }
            }
            continue;
        }
        let owner = if entry.owner_omitted {
            last_owner
                .clone()
                .ok_or_else(|| Error::invalid_input(&field, "first record has no owner name"))?
        } else {
            let name = resolve_name(&field, &first.raw, &origin)?;
            tokens = &tokens[1..];
            name
        };
        let mut ttl = None;
        let mut rtype = None;
        while let Some(t) = tokens.first() {
            tokens = &tokens[1..];
            if t.quoted {
                return Err(Error::invalid_input(&field, "expected TTL, class or type"));
            }
            if ttl.is_none() && t.raw.starts_with(|c: char| c.is_ascii_digit()) {
                ttl =
                    Some(parse_ttl(&t.raw).ok_or_else(|| Error::invalid_input(&field, "bad TTL"))?);
                continue;
            }
            if t.raw.eq_ignore_ascii_case("IN") {
                continue;
            }
            if ["CH", "HS", "CS"]
                .iter()
                .any(|c| t.raw.eq_ignore_ascii_case(c))
            {
                return Err(Error::invalid_input(&field, "only class IN is supported"));
            }
            rtype = Some(t.raw.parse::<RecordType>().map_err(|_| {
                Error::invalid_input(&field, format!("unknown record type {:?}", t.raw))
            })?);
            break;
        }
        let rtype = rtype.ok_or_else(|| Error::invalid_input(&field, "missing record type"))?;
        let data = parse_rdata_tokens(rtype, tokens, &origin).map_err(|e| match e.kind() {
            stackdock_core::ErrorKind::InvalidInput { reason, .. } => {
                Error::invalid_input(&field, reason.clone())
            }
            _ => e,
        })?;
        let soa_minimum = match &data {
            stackdock_core::dns::RecordData::SOA { minimum, .. } => Some(*minimum),
            _ => None,
        };
        let ttl = ttl
            .or(default_ttl)
            .or(last_ttl)
            .or(soa_minimum)
            .ok_or_else(|| Error::invalid_input(&field, "no TTL and no $TTL"))?;
        check_ttl(ttl).map_err(|_| Error::invalid_input(&field, "TTL out of range"))?;
        let mut data = data;
        data.canonicalise().map_err(|e| match e.kind() {
            stackdock_core::ErrorKind::InvalidInput { reason, .. } => {
                Error::invalid_input(&field, reason.clone())
            }
            _ => e,
        })?;
        if !validate::is_in_zone(&owner, &out.name) {
            return Err(Error::invalid_input(
                &field,
                format!("{owner} is not inside zone {}", out.name),
            ));
        }
        // One entry per record line, grouped into sets at the end and
        // validated once there (Zone::validate).
        let mut set = RecordSet {
            name: owner.clone(),
            rtype,
            ttl,
            // Most sets hold one record: a first push would reserve four.
            records: Vec::with_capacity(1),
            owner: None,
        };
        set.records.push(data);
        for c in &entry.comments {
            if let Some(m) = c.trim().strip_prefix(OWNER_TAG) {
                set.owner = Some(m.trim().to_owned());
            }
        }
        lines.push((set.key(), lines.len(), set));
        last_owner = Some(owner);
        last_ttl = Some(ttl);
    }
    out.rrsets = into_sets(lines).collect();
    out.validate()?;
    Ok(out)
}

/// The record lines of a file (key, line order, one-record set) as record
/// sets in key order: the records of a set joined, its TTL and marker the
/// last line's that has one (as a zone filled line by line would have).
///
/// Sorted and merged in place, then bulk-built into the zone's map (full
/// nodes, built once): filling a map in key order would leave its nodes
/// half full, and the memory of a rebuild's discarded nodes stays with the
/// process (a 50,000-set zone: ~5 MiB).
fn into_sets(
    mut lines: Vec<(RecordSetKey, usize, RecordSet)>,
) -> impl Iterator<Item = (RecordSetKey, RecordSet)> {
    // Unstable (no scratch buffer the size of the file): the line number
    // keeps the records of a set in file order.
    lines.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    lines.dedup_by(|later, kept| {
        if later.0 != kept.0 {
            return false;
        }
        kept.2.records.append(&mut later.2.records);
        kept.2.ttl = later.2.ttl;
        if later.2.owner.is_some() {
            kept.2.owner = later.2.owner.take();
        }
        true
    });
    lines.into_iter().map(|(key, _, set)| (key, set))
}

/// Longest file name common file systems allow (ext4, XFS, btrfs, APFS: 255 bytes).
const MAX_FILE_NAME: usize = 255;
const ZONE_SUFFIX: &str = ".zone";
/// Marks a shortened file name; `~` never occurs in a canonical zone name.
const HASHED_MARK: char = '~';

/// The file a zone is stored in under `dir`: `<zone>.zone`, or for names
/// too long for that (251–253 bytes) `<first 233 bytes>~<64-bit hash>.zone`,
/// which always fits in 255 bytes. A shortened file is only used when its
/// `$ORIGIN` names the zone (see [`read`]), so a hash collision is an
/// error, never another zone's data.
///
/// The name is validated first (a zone name holds no `/` and no empty
/// label), so the path never leaves `dir`.
pub fn path_for(dir: &Path, zone: &str) -> Result<PathBuf> {
    let zone = crate::backend::zone_name(zone)?;
    Ok(dir.join(file_name(&zone)))
}

fn file_name(zone: &str) -> String {
    if zone.len() + ZONE_SUFFIX.len() <= MAX_FILE_NAME {
        return format!("{zone}{ZONE_SUFFIX}");
    }
    let keep = MAX_FILE_NAME - ZONE_SUFFIX.len() - 1 - 16;
    // Canonical names are ASCII: any byte index is a char boundary.
    format!(
        "{}{HASHED_MARK}{:016x}{ZONE_SUFFIX}",
        &zone[..keep],
        fnv1a(zone.as_bytes())
    )
}

/// FNV-1a, 64 bits: stable across Rust releases (unlike `DefaultHasher`).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The zone a file in the zone directory holds, from its name, or from
/// its `$ORIGIN` line for shortened names; `None` for other files.
pub fn zone_of_file(dir: &Path, file: &str) -> Result<Option<String>> {
    let Some(stem) = file.strip_suffix(ZONE_SUFFIX) else {
        return Ok(None);
    };
    if stem.starts_with('.') {
        return Ok(None); // temporary files of a write in progress
    }
    if !stem.contains(HASHED_MARK) {
        return Ok(crate::backend::zone_name(stem).ok());
    }
    let text = std::fs::read_to_string(dir.join(file)).map_err(read_error)?;
    Ok(first_origin(&text)
        .and_then(|origin| crate::backend::zone_name(&origin).ok())
        .filter(|zone| file_name(zone) == file))
}

/// The name of the first `$ORIGIN` directive, if any.
fn first_origin(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some(d), Some(name)) if d.eq_ignore_ascii_case("$ORIGIN") => Some(name.to_owned()),
            _ => None,
        }
    })
}

/// A shortened file must say which zone it holds (hash collisions).
fn check_origin(zone: &str, text: &str) -> Result<()> {
    if !file_name(zone).contains(HASHED_MARK) {
        return Ok(());
    }
    let origin = first_origin(text).and_then(|o| crate::backend::zone_name(&o).ok());
    if origin.as_deref() != Some(zone) {
        return Err(Error::conflict(format!(
            "zone file {} holds another zone",
            file_name(zone)
        )));
    }
    Ok(())
}

fn read_error(e: std::io::Error) -> Error {
    Error::provider(None, None, format!("reading zone file: {e}")).with_source(e)
}

/// Write `zone` into `dir` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over `<zone>.zone`. Readers see
/// the old file or the new one, never half of one.
pub fn write_atomic(dir: &Path, zone: &Zone) -> Result<PathBuf> {
    use std::io::Write;
    let io = |e: std::io::Error| {
        Error::provider(None, None, format!("writing zone file: {e}")).with_source(e)
    };
    let target = path_for(dir, &zone.name)?;
    // A short fixed prefix: `.<zone>.` would not fit for the longest names.
    let mut tmp = tempfile::Builder::new()
        .prefix(".stackdock-")
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(io)?;
    tmp.write_all(render(zone).as_bytes()).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    set_readable(tmp.path()).map_err(io)?;
    tmp.persist(&target).map_err(|e| io(e.error))?;
    Ok(target)
}

#[cfg(unix)]
fn set_readable(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    // Name servers run as their own user: zone files are world-readable, like BIND's.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

#[cfg(not(unix))]
fn set_readable(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

/// Read and parse `<zone>.zone` from `dir`; `None` when there is no such file.
pub fn read(dir: &Path, zone: &str) -> Result<Option<Zone>> {
    let zone = crate::backend::zone_name(zone)?;
    match std::fs::read_to_string(path_for(dir, &zone)?) {
        Ok(text) => {
            check_origin(&zone, &text)?;
            parse(&text, &zone).map(Some)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(read_error(e)),
    }
}

/// Delete the file of `zone` from `dir`; `Ok(false)` when there is none.
pub fn remove(dir: &Path, zone: &str) -> Result<bool> {
    let zone = crate::backend::zone_name(zone)?;
    let path = path_for(dir, &zone)?;
    if file_name(&zone).contains(HASHED_MARK) {
        match std::fs::read_to_string(&path) {
            Ok(text) => check_origin(&zone, &text)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(read_error(e)),
        }
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => {
            Err(Error::provider(None, None, format!("deleting zone file: {e}")).with_source(e))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stackdock_core::dns::RecordData;

    #[test]
    fn parses_handwritten_files() {
        let text = r#"
$ORIGIN example.com.
$TTL 1h
@   IN  SOA ns1 hostmaster (
            2024010101 ; serial
            3h 1h 1w 1h )
    IN  NS  ns1
    IN  NS  ns2.example.net.
ns1 300 IN A 192.0.2.1
www IN 300 CNAME @
mail    A   192.0.2.2
        A   192.0.2.3
txt TXT "hello \"world\"" "second;part" ; a comment
_sip._tcp SRV 10 5 5060 sip
@ CAA 0 issue "letsencrypt.org"
$ORIGIN sub.example.com.
deep AAAA 2001:db8::1
"#;
        let z = parse(text, "example.com").unwrap();
        assert_eq!(z.serial(), Some(2024010101));
        assert_eq!(z.nameservers(), vec!["ns1.example.com", "ns2.example.net"]);
        let soa = z.get("example.com", RecordType::SOA).unwrap();
        assert_eq!(soa.ttl, 3600);
        assert_eq!(z.get("ns1.example.com", RecordType::A).unwrap().ttl, 300);
        assert_eq!(z.get("mail.example.com", RecordType::A).unwrap().len(), 2);
        assert_eq!(
            z.get("txt.example.com", RecordType::TXT).unwrap().records[0],
            RecordData::TXT {
                text: "hello \"world\"second;part".into()
            }
        );
        assert!(z.get("_sip._tcp.example.com", RecordType::SRV).is_some());
        assert!(z.get("deep.sub.example.com", RecordType::AAAA).is_some());
        // What we render parses back to the same zone.
        assert_eq!(parse(&render(&z), "example.com").unwrap(), z);
    }

    #[test]
    fn records_of_one_set_may_be_anywhere_in_the_file() {
        // Sets are grouped after the whole file is read: the records of one
        // set join wherever they are, the TTL and marker of the set are the
        // last line's (the last marker given), and duplicates collapse.
        let text = "$ORIGIN example.com.\n\
            www 300 IN A 192.0.2.2 ; owner=me\n\
            api 60 IN A 192.0.2.9\n\
            www 600 IN A 192.0.2.1\n\
            api 60 IN TXT \"x\"\n\
            www 900 IN A 192.0.2.2\n\
            zzz 60 IN A 192.0.2.7 ; owner=a\n\
            zzz 60 IN A 192.0.2.8 ; owner=b\n";
        let z = parse(text, "example.com").unwrap();
        let www = z.get("www.example.com", RecordType::A).unwrap();
        let shown: Vec<String> = www.records.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            ["192.0.2.1", "192.0.2.2"],
            "joined, sorted, no duplicate"
        );
        assert_eq!(www.ttl, 900, "the last line's TTL");
        assert_eq!(
            www.owner.as_deref(),
            Some("me"),
            "a later line without a marker keeps it"
        );
        let zzz = z.get("zzz.example.com", RecordType::A).unwrap();
        assert_eq!(zzz.owner.as_deref(), Some("b"), "the last marker wins");
        assert_eq!(z.rrsets.len(), 4);
        assert_eq!(z.record_count(), 6);
        assert!(matches!(
            z.canonical().unwrap(),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn rejects_bad_files() {
        assert!(parse("www A 192.0.2.1", "example.com").is_err(), "no TTL");
        assert!(parse("$TTL 60\nwww A 192.0.2.300", "example.com").is_err());
        assert!(parse("$TTL 60\nwww.other.org. A 192.0.2.1", "example.com").is_err());
        assert!(parse("$TTL 60\n$INCLUDE /etc/passwd", "example.com").is_err());
        assert!(parse("$TTL 60\nwww A ( 192.0.2.1", "example.com").is_err());
        assert!(parse("$TTL 60\nwww CH A 192.0.2.1", "example.com").is_err());
        let err = parse("$TTL 60\n\nwww CNAME a\nwww A 192.0.2.1", "example.com").unwrap_err();
        assert!(err.to_string().contains("CNAME"), "{err}");
    }

    #[test]
    fn ttl_units() {
        assert_eq!(parse_ttl("3600"), Some(3600));
        assert_eq!(parse_ttl("1h30m"), Some(5400));
        assert_eq!(parse_ttl("1W"), Some(604800));
        assert_eq!(parse_ttl("1x"), None);
        assert_eq!(parse_ttl("5h3"), None);
    }

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let mut z = crate::model::ZoneTemplate::default()
            .build("example.com", 2024010101)
            .unwrap();
        z.tenant = Some("acme".into());
        for s in z.rrsets.values_mut() {
            if s.rtype != RecordType::SOA {
                s.owner = Some("stackdock".into());
            }
        }
        let path = write_atomic(dir.path(), &z).unwrap();
        assert_eq!(path, dir.path().join("example.com.zone"));
        assert_eq!(read(dir.path(), "example.com").unwrap(), Some(z));
        assert_eq!(read(dir.path(), "missing.example").unwrap(), None);
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary files left behind");
    }
}
