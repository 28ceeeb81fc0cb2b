//! DNS presentation format (RFC 1035 §5.1): tokens, escapes and RDATA parsing.
//!
//! Rendering is [`RecordData`]'s `Display` (in `stackdock-core`); this module
//! is the inverse. The same tokenizer serves PowerDNS record `content` (one
//! line, names absolute) and zone files (names relative to `$ORIGIN`).

use std::net::{Ipv4Addr, Ipv6Addr};

use stackdock_core::dns::{RecordData, RecordType};
use stackdock_core::validate::{self, NameRules};
use stackdock_core::{Error, Result};

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
/// use stackdock_dns::presentation::tokenize;
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
pub(crate) enum Lexed {
    Token(Token),
    Open,
    Close,
    /// A `;` comment up to the end of the line (text after the `;`).
    Comment(String),
    Newline,
}

/// A zone-file lexer: quotes, escapes, parentheses, comments, line breaks.
pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer { src, pos: 0 }
    }

    /// Whether the next byte is a blank (used to detect an omitted owner).
    pub(crate) fn at_blank(&self) -> bool {
        matches!(self.src.as_bytes().get(self.pos), Some(b' ' | b'\t'))
    }

    pub(crate) fn next_item(&mut self) -> Result<Option<Lexed>> {
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
    crate::zonefile::parse_ttl(&token.raw)
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
                format!("record type {other} is not supported by stackdock-dns"),
            ))
        }
    };
    Ok(data)
}

/// Parse presentation-format RDATA from one line of text.
///
/// ```
/// use stackdock_core::dns::{RecordData, RecordType};
/// use stackdock_dns::presentation::parse_rdata;
/// let mx = parse_rdata(RecordType::MX, "10 mail", "example.com").unwrap();
/// assert_eq!(mx, RecordData::MX { preference: 10, exchange: "mail.example.com".into() });
/// let txt = parse_rdata(RecordType::TXT, r#""v=spf1 " "-all""#, "").unwrap();
/// assert_eq!(txt, RecordData::TXT { text: "v=spf1 -all".into() });
/// ```
pub fn parse_rdata(rtype: RecordType, text: &str, origin: &str) -> Result<RecordData> {
    parse_rdata_tokens(rtype, &tokenize(text)?, origin)
}

/// The record types this crate manages.
pub const SUPPORTED_TYPES: [RecordType; 10] = [
    RecordType::A,
    RecordType::AAAA,
    RecordType::CNAME,
    RecordType::MX,
    RecordType::TXT,
    RecordType::NS,
    RecordType::SOA,
    RecordType::SRV,
    RecordType::PTR,
    RecordType::CAA,
];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn host() -> impl Strategy<Value = String> {
        proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", 1..4)
            .prop_map(|l| format!("{}.example", l.join(".")))
    }

    fn any_data() -> impl Strategy<Value = RecordData> {
        prop_oneof![
            any::<[u8; 4]>().prop_map(|b| RecordData::A {
                address: Ipv4Addr::from(b)
            }),
            any::<[u8; 16]>().prop_map(|b| RecordData::AAAA {
                address: Ipv6Addr::from(b)
            }),
            host().prop_map(|target| RecordData::CNAME { target }),
            host().prop_map(|target| RecordData::PTR { target }),
            host().prop_map(|nameserver| RecordData::NS { nameserver }),
            (any::<u16>(), host()).prop_map(|(preference, exchange)| RecordData::MX {
                preference,
                exchange
            }),
            "\\PC{0,700}".prop_map(|text| RecordData::TXT { text }),
            (
                host(),
                host(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>(),
                any::<u32>()
            )
                .prop_map(|(mname, rname, serial, refresh, retry, expire, minimum)| {
                    RecordData::SOA {
                        mname,
                        rname,
                        serial,
                        refresh,
                        retry,
                        expire,
                        minimum,
                    }
                }),
            (any::<u16>(), any::<u16>(), any::<u16>(), host()).prop_map(
                |(priority, weight, port, target)| RecordData::SRV {
                    priority,
                    weight,
                    port,
                    target
                }
            ),
            (any::<u8>(), "[a-z0-9]{1,15}", "\\PC{0,100}")
                .prop_map(|(flags, tag, value)| RecordData::CAA { flags, tag, value }),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(data in any_data()) {
            let text = data.to_string();
            let back = parse_rdata(data.record_type(), &text, "").unwrap();
            prop_assert_eq!(back, data);
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,200}", t in 0usize..10) {
            let _ = parse_rdata(SUPPORTED_TYPES[t], &text, "example.com");
        }
    }

    #[test]
    fn every_type_round_trips_through_display() {
        let samples = [
            RecordData::A {
                address: "192.0.2.1".parse().unwrap(),
            },
            RecordData::AAAA {
                address: "2001:db8::1".parse().unwrap(),
            },
            RecordData::CNAME {
                target: "www.example.com".into(),
            },
            RecordData::MX {
                preference: 10,
                exchange: "mail.example.com".into(),
            },
            RecordData::TXT {
                text: format!("v=spf1 \"quoted\" \\ {}", "x".repeat(300)),
            },
            RecordData::NS {
                nameserver: "ns1.example.net".into(),
            },
            RecordData::SOA {
                mname: "ns1.example.com".into(),
                rname: "hostmaster.example.com".into(),
                serial: 2024010101,
                refresh: 10800,
                retry: 3600,
                expire: 604800,
                minimum: 3600,
            },
            RecordData::SRV {
                priority: 1,
                weight: 2,
                port: 5060,
                target: "sip.example.com".into(),
            },
            RecordData::PTR {
                target: "host.example.com".into(),
            },
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        ];
        for data in samples {
            let text = data.to_string();
            let back = parse_rdata(data.record_type(), &text, "").unwrap();
            assert_eq!(back, data, "{text}");
        }
    }

    #[test]
    fn relative_names_and_errors() {
        assert_eq!(
            parse_rdata(RecordType::CNAME, "@", "example.com").unwrap(),
            RecordData::CNAME {
                target: "example.com".into()
            }
        );
        assert_eq!(
            parse_rdata(RecordType::SRV, "0 0 0 .", "example.com").unwrap(),
            RecordData::SRV {
                priority: 0,
                weight: 0,
                port: 0,
                target: String::new()
            }
        );
        assert_eq!(
            parse_rdata(RecordType::MX, "0 .", "example.com").unwrap(),
            RecordData::MX {
                preference: 0,
                exchange: String::new()
            }
        );
        assert!(parse_rdata(RecordType::A, "300.1.1.1", "").is_err());
        assert!(parse_rdata(RecordType::MX, "mail.example.com.", "").is_err());
        assert!(parse_rdata(RecordType::MX, "70000 mail.example.com.", "").is_err());
        assert!(parse_rdata(RecordType::TXT, "\"unterminated", "").is_err());
        assert!(parse_rdata(RecordType::TXT, "\"\\256\"", "").is_err());
        assert!(parse_rdata(RecordType::ALIAS, "x.example.com.", "").is_err());
    }
}
