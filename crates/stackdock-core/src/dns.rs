//! Typed DNS record data shared by every adapter that manages DNS records.
//!
//! Names inside record data (CNAME targets, MX exchanges, ...) are held in
//! StackDock's canonical form: lower-case ASCII, IDN as punycode, **without**
//! a trailing dot (see [`crate::validate::dns_name`]). Adapters add the dot
//! when their protocol wants absolute names.

use std::borrow::Cow;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::validate::{self, NameRules};
use crate::Error;

pub mod presentation;

pub use crate::spec::absolute_owner;
pub use presentation::{parse_rdata, parse_ttl, tokenize};

/// A DNS record type that StackDock knows how to carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    #[allow(clippy::upper_case_acronyms)]
    AAAA,
    /// Canonical name (alias to another name).
    #[allow(clippy::upper_case_acronyms)]
    CNAME,
    /// Mail exchange.
    MX,
    /// Text.
    #[allow(clippy::upper_case_acronyms)]
    TXT,
    /// Name server.
    NS,
    /// Start of authority.
    #[allow(clippy::upper_case_acronyms)]
    SOA,
    /// Service locator.
    #[allow(clippy::upper_case_acronyms)]
    SRV,
    /// Pointer (reverse DNS).
    #[allow(clippy::upper_case_acronyms)]
    PTR,
    /// Certification authority authorisation.
    #[allow(clippy::upper_case_acronyms)]
    CAA,
    /// Apex alias, flattened by the provider (Vercel, not in the DNS wire protocol).
    #[allow(clippy::upper_case_acronyms)]
    ALIAS,
    /// HTTPS service binding (RFC 9460).
    #[allow(clippy::upper_case_acronyms)]
    HTTPS,
}

impl RecordType {
    /// The record type's mnemonic, e.g. `"MX"`.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::AAAA => "AAAA",
            RecordType::CNAME => "CNAME",
            RecordType::MX => "MX",
            RecordType::TXT => "TXT",
            RecordType::NS => "NS",
            RecordType::SOA => "SOA",
            RecordType::SRV => "SRV",
            RecordType::PTR => "PTR",
            RecordType::CAA => "CAA",
            RecordType::ALIAS => "ALIAS",
            RecordType::HTTPS => "HTTPS",
        }
    }

    /// Every record type, in a stable order.
    pub const ALL: [RecordType; 12] = [
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
        RecordType::ALIAS,
        RecordType::HTTPS,
    ];
}

impl fmt::Display for RecordType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for RecordType {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RecordType::ALL
            .into_iter()
            .find(|t| t.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                crate::Error::invalid_input("type", format!("unknown record type {s:?}"))
            })
    }
}

/// The data of one DNS record, typed by record type.
///
/// ```
/// use stackdock_core::dns::RecordData;
/// let mx = RecordData::MX { preference: 10, exchange: "mail.example.com".into() };
/// assert_eq!(mx.record_type().as_str(), "MX");
/// assert_eq!(mx.to_string(), "10 mail.example.com.");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "UPPERCASE")]
#[non_exhaustive]
pub enum RecordData {
    /// IPv4 address.
    A {
        /// The address.
        address: Ipv4Addr,
    },
    /// IPv6 address.
    AAAA {
        /// The address.
        address: Ipv6Addr,
    },
    /// Alias of another name.
    CNAME {
        /// The canonical name.
        target: String,
    },
    /// Mail exchange.
    MX {
        /// Lower is preferred.
        preference: u16,
        /// The mail server's name.
        exchange: String,
    },
    /// Text; one logical string (adapters split it into 255-byte chunks on the wire).
    TXT {
        /// The text, unquoted and unescaped.
        text: String,
    },
    /// Name server.
    NS {
        /// The name server's name.
        nameserver: String,
    },
    /// Start of authority.
    SOA {
        /// Primary name server.
        mname: String,
        /// Responsible mailbox, in DNS form (`hostmaster.example.com`).
        rname: String,
        /// Serial number.
        serial: u32,
        /// Refresh interval, seconds.
        refresh: u32,
        /// Retry interval, seconds.
        retry: u32,
        /// Expiry, seconds.
        expire: u32,
        /// Negative-caching TTL, seconds.
        minimum: u32,
    },
    /// Service locator.
    SRV {
        /// Lower is preferred.
        priority: u16,
        /// Relative weight among equal priorities.
        weight: u16,
        /// Port.
        port: u16,
        /// Target host name.
        target: String,
    },
    /// Pointer.
    PTR {
        /// The name pointed to.
        target: String,
    },
    /// Certification authority authorisation.
    CAA {
        /// Flags (128 = critical).
        flags: u8,
        /// Property tag, e.g. `issue`.
        tag: String,
        /// Property value, unquoted.
        value: String,
    },
    /// Provider-flattened apex alias.
    ALIAS {
        /// The name aliased.
        target: String,
    },
    /// HTTPS service binding.
    HTTPS {
        /// 0 for alias mode, otherwise service priority.
        priority: u16,
        /// Target name (`.` for the owner itself is given as an empty string).
        target: String,
        /// SvcParams in presentation form, e.g. `alpn=h2,h3`.
        params: String,
    },
}

impl RecordData {
    /// The type of this record.
    pub fn record_type(&self) -> RecordType {
        match self {
            RecordData::A { .. } => RecordType::A,
            RecordData::AAAA { .. } => RecordType::AAAA,
            RecordData::CNAME { .. } => RecordType::CNAME,
            RecordData::MX { .. } => RecordType::MX,
            RecordData::TXT { .. } => RecordType::TXT,
            RecordData::NS { .. } => RecordType::NS,
            RecordData::SOA { .. } => RecordType::SOA,
            RecordData::SRV { .. } => RecordType::SRV,
            RecordData::PTR { .. } => RecordType::PTR,
            RecordData::CAA { .. } => RecordType::CAA,
            RecordData::ALIAS { .. } => RecordType::ALIAS,
            RecordData::HTTPS { .. } => RecordType::HTTPS,
        }
    }
}

/// Longest CAA property tag (RFC 8659 §4.1: at least 1, SHOULD be at most 15).
pub const MAX_CAA_TAG_LEN: usize = 15;
/// Longest CAA value: one character-string in presentation form; BIND and
/// PowerDNS refuse longer values, so one would make the whole zone unusable.
pub const MAX_CAA_VALUE_LEN: usize = 255;
/// Longest TXT text StackDock accepts (split into 255-byte strings on the wire).
pub const MAX_TXT_LEN: usize = 4000;

impl RecordData {
    /// Validate the content per type and canonicalise every name inside it
    /// (the one record validator; [`crate::ResourceSpec::validate`] calls it).
    ///
    /// Names inside the data are host names ([`validate::host_name`]: no IP
    /// literals). The root `.` is allowed only where RFCs give it a meaning:
    /// a null MX (`0 .`, RFC 7505), an SRV target (RFC 2782) and an HTTPS
    /// target; it is held as an empty string.
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// let mut mx = RecordData::MX { preference: 0, exchange: ".".into() };
    /// mx.canonicalise().unwrap();
    /// assert_eq!(mx.to_string(), "0 .");
    /// let mut ip = RecordData::MX { preference: 10, exchange: "1.2.3.4".into() };
    /// assert!(ip.canonicalise().is_err());
    /// ```
    pub fn canonicalise(&mut self) -> crate::Result<()> {
        if !self.check_canonical()? {
            self.rewrite_names()?;
        }
        Ok(())
    }

    /// The canonical form of this data when it differs (`None`: it is
    /// canonical already, and nothing was allocated to find that out), or the
    /// error [`RecordData::canonicalise`] would give. Checking a big zone
    /// that is canonical already costs no copy.
    ///
    /// ```
    /// use stackdock_core::dns::RecordData;
    /// let cname = RecordData::CNAME { target: "www.example.com".into() };
    /// assert_eq!(cname.canonical_form().unwrap(), None);
    /// let upper = RecordData::CNAME { target: "WWW.Example.com.".into() };
    /// assert_eq!(upper.canonical_form().unwrap(), Some(cname));
    /// assert!(RecordData::CNAME { target: "1.2.3.4".into() }.canonical_form().is_err());
    /// ```
    pub fn canonical_form(&self) -> crate::Result<Option<RecordData>> {
        if self.check_canonical()? {
            return Ok(None);
        }
        let mut fixed = self.clone();
        fixed.rewrite_names()?;
        Ok(Some(fixed))
    }

    /// Every rule of [`RecordData::canonicalise`]; `true` when every name in
    /// the data is in canonical form already.
    fn check_canonical(&self) -> crate::Result<bool> {
        let host = |field: &str, v: &str| {
            validate::canonical_host_name(field, v).map(|c| matches!(c, Cow::Borrowed(_)))
        };
        let host_or_root = |field: &str, v: &str| {
            if validate::is_root(v) {
                Ok(v.is_empty())
            } else {
                host(field, v)
            }
        };
        match self {
            RecordData::CNAME { target }
            | RecordData::PTR { target }
            | RecordData::ALIAS { target } => host("data.target", target),
            RecordData::NS { nameserver } => host("data.nameserver", nameserver),
            RecordData::MX {
                preference,
                exchange,
            } => {
                if validate::is_root(exchange) && *preference != 0 {
                    return Err(Error::invalid_input(
                        "data.exchange",
                        "a null MX (exchange \".\") must have preference 0 (RFC 7505)",
                    ));
                }
                host_or_root("data.exchange", exchange)
            }
            RecordData::SRV { target, .. } => host_or_root("data.target", target),
            RecordData::SOA { mname, rname, .. } => {
                let mname = host("data.mname", mname)?;
                let rname =
                    validate::canonical_dns_name("data.rname", rname, NameRules::RecordOwner)?;
                Ok(mname && matches!(rname, Cow::Borrowed(_)))
            }
            RecordData::TXT { text } => check_len("data.text", text, MAX_TXT_LEN).map(|()| true),
            RecordData::CAA { tag, value, .. } => check_caa(tag, value).map(|()| true),
            RecordData::HTTPS { target, params, .. } => {
                if params.chars().any(char::is_control) {
                    return Err(Error::invalid_input("data.params", "control characters"));
                }
                host_or_root("data.target", target)
            }
            RecordData::A { .. } | RecordData::AAAA { .. } => Ok(true),
        }
    }

    /// Rewrites every name in the data to its canonical form (after
    /// [`RecordData::check_canonical`] accepted them).
    fn rewrite_names(&mut self) -> crate::Result<()> {
        let host = |field: &str, v: &mut String| -> crate::Result<()> {
            *v = validate::host_name(field, v)?;
            Ok(())
        };
        let host_or_root = |field: &str, v: &mut String| -> crate::Result<()> {
            if validate::is_root(v) {
                v.clear();
                return Ok(());
            }
            host(field, v)
        };
        match self {
            RecordData::CNAME { target }
            | RecordData::PTR { target }
            | RecordData::ALIAS { target } => host("data.target", target),
            RecordData::NS { nameserver } => host("data.nameserver", nameserver),
            RecordData::MX { exchange, .. } => host_or_root("data.exchange", exchange),
            RecordData::SRV { target, .. } | RecordData::HTTPS { target, .. } => {
                host_or_root("data.target", target)
            }
            RecordData::SOA { mname, rname, .. } => {
                host("data.mname", mname)?;
                *rname = validate::dns_name("data.rname", rname, NameRules::RecordOwner)?;
                Ok(())
            }
            RecordData::TXT { .. }
            | RecordData::CAA { .. }
            | RecordData::A { .. }
            | RecordData::AAAA { .. } => Ok(()),
        }
    }
}

fn check_len(field: &str, value: &str, max: usize) -> crate::Result<()> {
    if value.len() > max {
        return Err(Error::invalid_input(
            field,
            format!("is {} bytes, at most {max} allowed", value.len()),
        ));
    }
    Ok(())
}

fn check_caa(tag: &str, value: &str) -> crate::Result<()> {
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(Error::invalid_input(
            "data.tag",
            "CAA tag must be letters and digits",
        ));
    }
    check_len("data.tag", tag, MAX_CAA_TAG_LEN)?;
    check_len("data.value", value, MAX_CAA_VALUE_LEN)?;
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_input("data.value", "control characters"));
    }
    Ok(())
}

/// Absolute form of a canonical name, for presentation format.
fn abs(name: &str) -> String {
    if name.is_empty() {
        ".".to_owned()
    } else {
        format!("{name}.")
    }
}

/// Quote a string as DNS presentation-format character strings: `"..."`,
/// escaping `"` and `\`, non-printable bytes as `\DDD`, split into chunks of
/// at most 255 bytes.
pub fn quote_character_strings(text: &str) -> String {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return "\"\"".to_owned();
    }
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(255).enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in chunk {
            match b {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// Presentation (zone-file) form of the RDATA, names absolute.
impl fmt::Display for RecordData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordData::A { address } => write!(f, "{address}"),
            // Rust prints IPv4-mapped addresses dotted (`::ffff:1.2.3.4`);
            // PowerDNS and others canonicalise to hex groups and reject it.
            RecordData::AAAA { address } => match address.to_ipv4_mapped() {
                Some(_) => {
                    let s = address.segments();
                    write!(f, "::ffff:{:x}:{:x}", s[6], s[7])
                }
                None => write!(f, "{address}"),
            },
            RecordData::CNAME { target }
            | RecordData::PTR { target }
            | RecordData::ALIAS { target } => f.write_str(&abs(target)),
            RecordData::NS { nameserver } => f.write_str(&abs(nameserver)),
            RecordData::MX {
                preference,
                exchange,
            } => write!(f, "{preference} {}", abs(exchange)),
            RecordData::TXT { text } => f.write_str(&quote_character_strings(text)),
            RecordData::SOA {
                mname,
                rname,
                serial,
                refresh,
                retry,
                expire,
                minimum,
            } => write!(
                f,
                "{} {} {serial} {refresh} {retry} {expire} {minimum}",
                abs(mname),
                abs(rname)
            ),
            RecordData::SRV {
                priority,
                weight,
                port,
                target,
            } => write!(f, "{priority} {weight} {port} {}", abs(target)),
            RecordData::CAA { flags, tag, value } => {
                write!(f, "{flags} {tag} {}", quote_character_strings(value))
            }
            RecordData::HTTPS {
                priority,
                target,
                params,
            } => {
                write!(f, "{priority} {}", abs(target))?;
                if !params.is_empty() {
                    write!(f, " {params}")?;
                }
                Ok(())
            }
        }
    }
}

/// The owner name relative to `zone`, as many provider APIs want it: `""`
/// for the apex, `www` for `www.example.com`; a name outside the zone is
/// returned whole. Both arguments canonical (see [`absolute_owner`] for the
/// inverse).
///
/// ```
/// use stackdock_core::dns::relative_owner;
/// assert_eq!(relative_owner("www.example.com", "example.com"), "www");
/// assert_eq!(relative_owner("example.com", "example.com"), "");
/// assert_eq!(relative_owner("wwwexample.com", "example.com"), "wwwexample.com");
/// ```
pub fn relative_owner<'a>(owner: &'a str, zone: &str) -> &'a str {
    if owner == zone {
        return "";
    }
    owner
        .strip_suffix(zone)
        .and_then(|n| n.strip_suffix('.'))
        .filter(|n| !n.is_empty())
        .unwrap_or(owner)
}

/// The TXT quoting policy every adapter applies to a provider's TXT
/// `content`: content made only of quoted character-strings (`"v=spf1 " "-all"`,
/// escapes allowed) is decoded and joined; anything else is the text itself.
/// Providers that render TXT quoted and those that store it raw then read
/// back the same [`RecordData::TXT`].
///
/// ```
/// use stackdock_core::dns::txt_text;
/// assert_eq!(txt_text(r#""v=spf1 " "-all""#), "v=spf1 -all");
/// assert_eq!(txt_text("plain text"), "plain text");
/// assert_eq!(txt_text(r#""say \"hi\"""#), r#"say "hi""#);
/// ```
pub fn txt_text(content: &str) -> String {
    let quoted = presentation::tokenize(content)
        .ok()
        .filter(|tokens| !tokens.is_empty() && tokens.iter().all(|t| t.quoted));
    let decoded = quoted.and_then(|tokens| {
        let mut bytes = Vec::new();
        for t in tokens {
            bytes.extend(t.decoded().ok()?);
        }
        String::from_utf8(bytes).ok()
    });
    decoded.unwrap_or_else(|| content.to_owned())
}

/// Parse a provider's record `content` of type `rtype`: TXT by
/// [`txt_text`], everything else as presentation text with names relative to
/// `origin` (absolute when they end in a dot). Pass `""` for providers that
/// write absolute names without the trailing dot.
///
/// ```
/// use stackdock_core::dns::{parse_content, RecordData, RecordType};
/// let mx = parse_content(RecordType::MX, "10 mail.example.com", "").unwrap();
/// assert_eq!(mx, RecordData::MX { preference: 10, exchange: "mail.example.com".into() });
/// ```
pub fn parse_content(rtype: RecordType, content: &str, origin: &str) -> crate::Result<RecordData> {
    if rtype == RecordType::TXT {
        return Ok(RecordData::TXT {
            text: txt_text(content),
        });
    }
    presentation::parse_rdata(rtype, content, origin)
}

/// A record as many REST APIs hold it: a priority field (MX preference,
/// SRV priority; `None` for other types) and the rest of the data as
/// presentation text with names absolute and **without** trailing dots.
///
/// ```
/// use stackdock_core::dns::{content_parts, RecordData};
/// let mx = RecordData::MX { preference: 10, exchange: "mail.example.com".into() };
/// assert_eq!(content_parts(&mx), (Some(10), "mail.example.com".to_owned()));
/// let srv = RecordData::SRV { priority: 1, weight: 5, port: 5060, target: "sip.example.com".into() };
/// assert_eq!(content_parts(&srv), (Some(1), "5 5060 sip.example.com".to_owned()));
/// let txt = RecordData::TXT { text: "v=spf1 -all".into() };
/// assert_eq!(content_parts(&txt), (None, "\"v=spf1 -all\"".to_owned()));
/// ```
pub fn content_parts(data: &RecordData) -> (Option<u16>, String) {
    let bare = |name: &str| {
        if name.is_empty() {
            ".".to_owned()
        } else {
            name.to_owned()
        }
    };
    match data {
        RecordData::MX {
            preference,
            exchange,
        } => (Some(*preference), bare(exchange)),
        RecordData::SRV {
            priority,
            weight,
            port,
            target,
        } => (Some(*priority), format!("{weight} {port} {}", bare(target))),
        RecordData::CNAME { target }
        | RecordData::PTR { target }
        | RecordData::ALIAS { target } => (None, target.clone()),
        RecordData::NS { nameserver } => (None, nameserver.clone()),
        other => (None, other.to_string()),
    }
}

/// The inverse of [`content_parts`], lenient the way APIs are: `content`
/// may or may not repeat the priority, names may end in a dot, TXT follows
/// [`txt_text`]. `None` for an unknown type or unreadable data.
///
/// ```
/// use stackdock_core::dns::{from_parts, RecordData};
/// let mx = RecordData::MX { preference: 10, exchange: "mail.example.com".into() };
/// assert_eq!(from_parts("MX", Some(10), "mail.example.com."), Some(mx.clone()));
/// assert_eq!(from_parts("MX", None, "10 mail.example.com"), Some(mx));
/// assert_eq!(from_parts("LOC", None, "x"), None);
/// ```
pub fn from_parts(rtype: &str, priority: Option<u16>, content: &str) -> Option<RecordData> {
    let rtype: RecordType = rtype.parse().ok()?;
    // Addresses, most of a big zone, need no text handling: what parses
    // here is what the presentation parser below would give.
    match rtype {
        RecordType::A => {
            if let Ok(address) = content.parse() {
                return Some(RecordData::A { address });
            }
        }
        RecordType::AAAA => {
            if let Ok(address) = content.parse() {
                return Some(RecordData::AAAA { address });
            }
        }
        _ => {}
    }
    let fields = content.split_whitespace().count();
    let text = match (rtype, priority) {
        (RecordType::MX, Some(p)) if fields == 1 => format!("{p} {content}"),
        (RecordType::SRV, Some(p)) if fields == 3 => format!("{p} {content}"),
        _ => content.to_owned(),
    };
    let absolute = |t: &str| {
        let words = t
            .split_whitespace()
            .map(|w| if w == "." { w } else { w.trim_end_matches('.') });
        words.collect::<Vec<_>>().join(" ")
    };
    let text = match rtype {
        RecordType::TXT | RecordType::CAA => text,
        _ => absolute(&text),
    };
    let mut data = parse_content(rtype, &text, "").ok()?;
    data.canonicalise().ok()?;
    Some(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn txt_is_chunked_and_escaped() {
        let long = "a".repeat(300);
        let q = quote_character_strings(&long);
        assert_eq!(q, format!("\"{}\" \"{}\"", "a".repeat(255), "a".repeat(45)));
        assert_eq!(
            quote_character_strings("say \"hi\"\\"),
            "\"say \\\"hi\\\"\\\\\""
        );
        assert_eq!(quote_character_strings("tab\there"), "\"tab\\009here\"");
    }

    fn canonical(mut data: RecordData) -> crate::Result<RecordData> {
        data.canonicalise().map(|()| data)
    }

    #[test]
    fn caa_is_limited_to_one_character_string() {
        let caa = |tag: &str, value: String| RecordData::CAA {
            flags: 0,
            tag: tag.into(),
            value,
        };
        assert!(canonical(caa("issue", "v".repeat(255))).is_ok());
        assert!(canonical(caa("issue", "v".repeat(256))).is_err());
        assert!(
            canonical(caa("issue", "é".repeat(128))).is_err(),
            "256 bytes"
        );
        assert!(canonical(caa(&"t".repeat(15), "x".into())).is_ok());
        assert!(canonical(caa(&"t".repeat(16), "x".into())).is_err());
        assert!(canonical(caa(&"t".repeat(300), "x".into())).is_err());
        assert!(canonical(caa("", "x".into())).is_err());
        let txt = |n| RecordData::TXT {
            text: "t".repeat(n),
        };
        assert!(canonical(txt(MAX_TXT_LEN)).is_ok());
        assert!(canonical(txt(MAX_TXT_LEN + 1)).is_err());
    }

    #[test]
    fn host_names_in_data_are_names_and_root_only_where_defined() {
        let mx = |preference, exchange: &str| RecordData::MX {
            preference,
            exchange: exchange.into(),
        };
        let srv = |target: &str| RecordData::SRV {
            priority: 0,
            weight: 0,
            port: 0,
            target: target.into(),
        };
        assert!(canonical(mx(10, "1.2.3.4")).is_err());
        assert_eq!(canonical(mx(0, ".")).unwrap().to_string(), "0 .");
        assert_eq!(canonical(mx(0, "")).unwrap(), mx(0, ""));
        assert!(canonical(mx(10, ".")).is_err(), "null MX has preference 0");
        assert_eq!(canonical(srv(".")).unwrap(), srv(""));
        assert!(canonical(srv("1.2.3.4")).is_err());
        assert_eq!(
            canonical(srv("SIP.Example.com.")).unwrap(),
            srv("sip.example.com")
        );
        for bad in ["1.2.3.4", ".", ""] {
            let cname = RecordData::CNAME { target: bad.into() };
            assert!(canonical(cname).is_err(), "CNAME {bad:?}");
            let ns = RecordData::NS {
                nameserver: bad.into(),
            };
            assert!(canonical(ns).is_err(), "NS {bad:?}");
        }
    }

    #[test]
    fn addresses_read_by_from_parts_match_the_presentation_parser() {
        let inputs = [
            "192.0.2.1",
            " 192.0.2.1",
            "192.0.2.1.",
            "010.0.2.1",
            "192.0.2",
            "2001:db8::1",
            "::ffff:1.2.3.4",
            "2001:DB8::1",
            "\"192.0.2.1\"",
            "192.0.2.1 192.0.2.2",
            "",
        ];
        for rtype in [RecordType::A, RecordType::AAAA] {
            for input in inputs {
                let words = input.split_whitespace().map(|w| w.trim_end_matches('.'));
                let slow = parse_content(rtype, &words.collect::<Vec<_>>().join(" "), "").ok();
                assert_eq!(
                    from_parts(rtype.as_str(), None, input),
                    slow,
                    "{rtype} {input:?}"
                );
            }
        }
    }

    #[test]
    fn presentation_forms() {
        let srv = RecordData::SRV {
            priority: 1,
            weight: 2,
            port: 443,
            target: "svc.example.com".into(),
        };
        assert_eq!(srv.to_string(), "1 2 443 svc.example.com.");
        let caa = RecordData::CAA {
            flags: 0,
            tag: "issue".into(),
            value: "letsencrypt.org".into(),
        };
        assert_eq!(caa.to_string(), "0 issue \"letsencrypt.org\"");
        assert_eq!("aaaa".parse::<RecordType>().unwrap(), RecordType::AAAA);
        let mapped = RecordData::AAAA {
            address: "::ffff:1.2.3.4".parse().unwrap(),
        };
        assert_eq!(mapped.to_string(), "::ffff:102:304");
        let plain = RecordData::AAAA {
            address: "2001:db8::1".parse().unwrap(),
        };
        assert_eq!(plain.to_string(), "2001:db8::1");
    }
}
