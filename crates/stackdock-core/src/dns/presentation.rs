//! DNS presentation format (RFC 1035 §5.1): tokens, escapes and RDATA parsing.
//!
//! Rendering is [`RecordData`]'s `Display`; this module is the inverse. The
//! same tokenizer serves a provider's record `content` (one line, names
//! absolute) and zone files (names relative to `$ORIGIN`), so every DNS
//! provider crate parses record text the same way.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::{RecordData, RecordType};
use crate::validate::{self, NameRules};
use crate::{Error, Result};

/// One whitespace-separated token of presentation text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The text as written, escapes kept, quotes removed.
    pub raw: String,
    /// Whether it was written inside double quotes.
    pub quoted: bool,
}

impl Token {
    /// The bytes the token stands for, with `\X` and `\DDD` escapes decoded.
    pub fn decoded(&self) -> Result<Vec<u8>> {
        decode_escapes(&self.raw)
    }
}

/// Decode `\X` and `\DDD` escapes.
pub fn decode_escapes(raw: &str) -> Result<Vec<u8>> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'\\' {
            out.push(b);
            i += 1;
            continue;
        }
        let rest = &bytes[i + 1..];
        if rest.len() >= 3 && rest[..3].iter().all(u8::is_ascii_digit) {
            let value = u32::from(rest[0] - b'0') * 100
                + u32::from(rest[1] - b'0') * 10
                + u32::from(rest[2] - b'0');
            let byte = u8::try_from(value).map_err(|_| {
                Error::invalid_input("content", format!("escape \\{value} is above 255"))
            })?;
            out.push(byte);
            i += 4;
        } else if let Some(&next) = rest.first() {
            out.push(next);
            i += 2;
        } else {
            return Err(Error::invalid_input("content", "dangling backslash"));
        }
    }
    Ok(out)
}

/// Split one line of presentation text into tokens (no comments, no parentheses).
///
/// ```
/// use stackdock_core::dns::tokenize;
/// let t = tokenize(r#"10 issue "letsencrypt.org; x=\"y\"""#).unwrap();
/// assert_eq!(t.len(), 3);
/// assert!(t[2].quoted);
/// ```
pub fn tokenize(line: &str) -> Result<Vec<Token>> {
    let mut lexer = Lexer::new(line);
    let mut out = Vec::new();
    while let Some(item) = lexer.next_item()? {
        match item {
            Lexed::Token(t) => out.push(t),
            Lexed::Open | Lexed::Close => {
                return Err(Error::invalid_input("content", "unexpected parenthesis"))
            }
            Lexed::Comment(_) => {
                return Err(Error::invalid_input("content", "unexpected ';'"));
            }
            Lexed::Newline => {
                return Err(Error::invalid_input("content", "unexpected line break"));
            }
        }
    }
    Ok(out)
}

/// What the lexer found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lexed {
    /// A token.
    Token(Token),
    /// `(`: the record continues over line breaks.
    Open,
    /// `)`.
    Close,
    /// A `;` comment up to the end of the line (text after the `;`).
    Comment(String),
    /// A line break.
    Newline,
}

/// A zone-file lexer: quotes, escapes, parentheses, comments, line breaks.
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    /// A lexer over `src`.
    pub fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// Whether the next byte is a blank (used to detect an omitted owner).
    pub fn at_blank(&self) -> bool {
        matches!(self.src.as_bytes().get(self.pos), Some(b' ' | b'\t'))
    }

    /// The next item, `None` at the end of the input.
    pub fn next_item(&mut self) -> Result<Option<Lexed>> {
        let bytes = self.src.as_bytes();
        while self.pos < bytes.len() && matches!(bytes[self.pos], b' ' | b'\t' | b'\r') {
            self.pos += 1;
        }
        let Some(&b) = bytes.get(self.pos) else {
            return Ok(None);
        };
        match b {
            b'\n' => {
                self.pos += 1;
                Ok(Some(Lexed::Newline))
            }
            b'(' => {
                self.pos += 1;
                Ok(Some(Lexed::Open))
            }
            b')' => {
                self.pos += 1;
                Ok(Some(Lexed::Close))
            }
            b';' => {
                let end = self.src[self.pos..]
                    .find('\n')
                    .map_or(self.src.len(), |i| self.pos + i);
                let text = self.src[self.pos + 1..end]
                    .trim_end_matches('\r')
                    .to_owned();
                self.pos = end;
                Ok(Some(Lexed::Comment(text)))
            }
            b'"' => {
                let start = self.pos + 1;
                let mut i = start;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b'"' => {
                            self.pos = i + 1;
                            return Ok(Some(Lexed::Token(Token {
                                raw: self.src[start..i].to_owned(),
                                quoted: true,
                            })));
                        }
                        _ => i += 1,
                    }
                }
                Err(Error::invalid_input(
                    "content",
                    "unterminated quoted string",
                ))
            }
            _ => {
                let start = self.pos;
                let mut i = start;
                while i < bytes.len() {
                    match bytes[i] {
                        b'\\' => i += 2,
                        b' ' | b'\t' | b'\r' | b'\n' | b'(' | b')' | b';' | b'"' => break,
                        _ => i += 1,
                    }
                }
                let i = i.min(bytes.len());
                self.pos = i;
                Ok(Some(Lexed::Token(Token {
                    raw: self.src[start..i].to_owned(),
                    quoted: false,
                })))
            }
        }
    }
}

/// Resolve a name token against `origin` (canonical, no trailing dot) and
/// canonicalise it: `@` is the origin, names ending in `.` are absolute,
/// others are relative to the origin.
pub fn resolve_name(field: &str, token: &str, origin: &str) -> Result<String> {
    if token == "@" {
        return Ok(origin.to_owned());
    }
    if token.contains('\\') {
        return Err(Error::invalid_input(
            field,
            "escaped characters in names are not supported",
        ));
    }
    let joined;
    let name = if token.ends_with('.') || origin.is_empty() {
        token
    } else {
        joined = format!("{token}.{origin}");
        &joined
    };
    validate::dns_name(field, name, NameRules::RecordOwner)
}

fn number<T: std::str::FromStr>(field: &str, token: Option<&Token>) -> Result<T> {
    let token = token.ok_or_else(|| Error::invalid_input(field, "missing"))?;
    if token.quoted {
        return Err(Error::invalid_input(field, "a number must not be quoted"));
    }
    token
        .raw
        .parse()
        .map_err(|_| Error::invalid_input(field, format!("{:?} is not a valid number", token.raw)))
}

/// A time field (SOA timers): seconds or BIND units (`1h`, `1w`).
fn duration(field: &str, token: Option<&Token>) -> Result<u32> {
    let token = token.ok_or_else(|| Error::invalid_input(field, "missing"))?;
    parse_ttl(&token.raw)
        .filter(|_| !token.quoted)
        .ok_or_else(|| Error::invalid_input(field, format!("{:?} is not a valid time", token.raw)))
}

fn name_at(field: &str, token: Option<&Token>, origin: &str) -> Result<String> {
    let token = token.ok_or_else(|| Error::invalid_input(field, "missing"))?;
    resolve_name(field, &token.raw, origin)
}

fn character_strings(field: &str, tokens: &[Token]) -> Result<String> {
    let mut bytes = Vec::new();
    for t in tokens {
        let decoded = t.decoded()?;
        if decoded.len() > 255 {
            return Err(Error::invalid_input(
                field,
                "a character-string is longer than 255 bytes",
            ));
        }
        bytes.extend(decoded);
    }
    String::from_utf8(bytes).map_err(|_| Error::invalid_input(field, "text is not valid UTF-8"))
}

/// Parse the RDATA of `rtype` from tokens, resolving relative names against
/// `origin` (canonical, no trailing dot; empty = names must be absolute).
pub fn parse_rdata_tokens(rtype: RecordType, tokens: &[Token], origin: &str) -> Result<RecordData> {
    let exact = |n: usize| -> Result<()> {
        if tokens.len() == n {
            Ok(())
        } else {
            Err(Error::invalid_input(
                "content",
                format!("{rtype} needs {n} field(s), found {}", tokens.len()),
            ))
        }
    };
    let first = || tokens.first().map(|t| t.raw.as_str()).unwrap_or_default();
    let data = match rtype {
        RecordType::A => {
            exact(1)?;
            RecordData::A {
                address: first().parse::<Ipv4Addr>().map_err(|_| {
                    Error::invalid_input("content", format!("{:?} is not an IPv4 address", first()))
                })?,
            }
        }
        RecordType::AAAA => {
            exact(1)?;
            RecordData::AAAA {
                address: first().parse::<Ipv6Addr>().map_err(|_| {
                    Error::invalid_input("content", format!("{:?} is not an IPv6 address", first()))
                })?,
            }
        }
        RecordType::CNAME => {
            exact(1)?;
            RecordData::CNAME {
                target: name_at("content", tokens.first(), origin)?,
            }
        }
        RecordType::PTR => {
            exact(1)?;
            RecordData::PTR {
                target: name_at("content", tokens.first(), origin)?,
            }
        }
        RecordType::NS => {
            exact(1)?;
            RecordData::NS {
                nameserver: name_at("content", tokens.first(), origin)?,
            }
        }
        RecordType::MX => {
            exact(2)?;
            // "." is a null MX (RFC 7505), held as an empty exchange.
            let exchange = match tokens.get(1) {
                Some(t) if t.raw == "." => String::new(),
                other => name_at("content.exchange", other, origin)?,
            };
            RecordData::MX {
                preference: number("content.preference", tokens.first())?,
                exchange,
            }
        }
        RecordType::TXT => {
            if tokens.is_empty() {
                return Err(Error::invalid_input(
                    "content",
                    "TXT needs at least one string",
                ));
            }
            RecordData::TXT {
                text: character_strings("content", tokens)?,
            }
        }
        RecordType::SOA => {
            exact(7)?;
            RecordData::SOA {
                mname: name_at("content.mname", tokens.first(), origin)?,
                rname: name_at("content.rname", tokens.get(1), origin)?,
                serial: number("content.serial", tokens.get(2))?,
                refresh: duration("content.refresh", tokens.get(3))?,
                retry: duration("content.retry", tokens.get(4))?,
                expire: duration("content.expire", tokens.get(5))?,
                minimum: duration("content.minimum", tokens.get(6))?,
            }
        }
        RecordType::SRV => {
            exact(4)?;
            let target = match tokens.get(3) {
                Some(t) if t.raw == "." => String::new(),
                other => name_at("content.target", other, origin)?,
            };
            RecordData::SRV {
                priority: number("content.priority", tokens.first())?,
                weight: number("content.weight", tokens.get(1))?,
                port: number("content.port", tokens.get(2))?,
                target,
            }
        }
        RecordType::CAA => {
            exact(3)?;
            let tag = tokens[1].raw.clone();
            RecordData::CAA {
                flags: number("content.flags", tokens.first())?,
                tag,
                value: character_strings("content.value", &tokens[2..])?,
            }
        }
        other => {
            return Err(Error::invalid_input(
                "type",
                format!("record type {other} is not supported by StackDock"),
            ))
        }
    };
    Ok(data)
}

/// Parse presentation-format RDATA from one line of text.
///
/// ```
/// use stackdock_core::dns::{RecordData, RecordType};
/// use stackdock_core::dns::parse_rdata;
/// let mx = parse_rdata(RecordType::MX, "10 mail", "example.com").unwrap();
/// assert_eq!(mx, RecordData::MX { preference: 10, exchange: "mail.example.com".into() });
/// let txt = parse_rdata(RecordType::TXT, r#""v=spf1 " "-all""#, "").unwrap();
/// assert_eq!(txt, RecordData::TXT { text: "v=spf1 -all".into() });
/// ```
pub fn parse_rdata(rtype: RecordType, text: &str, origin: &str) -> Result<RecordData> {
    parse_rdata_tokens(rtype, &tokenize(text)?, origin)
}

/// Parse a TTL: seconds, or BIND units (`1h30m`, `2d`, `1w`).
pub fn parse_ttl(text: &str) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if let Ok(v) = text.parse::<u32>() {
        return Some(v);
    }
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let unit: u64 = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return None,
        };
        let n: u64 = digits.parse().ok()?;
        total = total.checked_add(n.checked_mul(unit)?)?;
        digits.clear();
    }
    if !digits.is_empty() {
        return None;
    }
    u32::try_from(total).ok()
}
