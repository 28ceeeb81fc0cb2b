//! Validators shared by every adapter.
//!
//! Each validator checks one kind of value *before* anything is sent to a
//! provider and returns its canonical form, or an [`ErrorKind::InvalidInput`]
//! error naming the field.
//!
//! **Canonical DNS names** (one rule, applied everywhere): lower-case ASCII,
//! internationalised labels converted to punycode, **no trailing dot**.
//! `Example.COM.` and `example.com` are the same name. Adapters whose
//! protocol wants absolute names append the dot themselves ([`fqdn`]).
//!
//! [`ErrorKind::InvalidInput`]: crate::ErrorKind::InvalidInput

use std::borrow::Cow;

use crate::{Error, Result};

/// Maximum length of a DNS name in presentation form without the trailing dot.
pub const MAX_DNS_NAME_LEN: usize = 253;
/// Maximum length of one DNS label.
pub const MAX_DNS_LABEL_LEN: usize = 63;
/// Maximum length of an e-mail address (RFC 5321 path limit minus the brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// Maximum length of an e-mail local part (RFC 5321).
pub const MAX_LOCAL_PART_LEN: usize = 64;

/// Rules for which labels a DNS name may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRules {
    /// Host names (RFC 1123): letters, digits, hyphens; no leading/trailing hyphen.
    Hostname,
    /// Owner names of records: like hosts, but labels may start with `_`
    /// (`_dmarc`, `_sip._tcp`) and the first label may be `*` (wildcard).
    RecordOwner,
}

fn reject_control(field: &str, value: &str) -> Result<()> {
    // The ASCII controls are the bytes `is_ascii_control` finds; no decoding
    // of characters for the common case (names of a 50,000-set zone).
    let control = if value.is_ascii() {
        value.bytes().find(u8::is_ascii_control).map(char::from)
    } else {
        value.chars().find(|c| c.is_control())
    };
    if let Some(c) = control {
        return Err(Error::invalid_input(
            field,
            format!("contains control character U+{:04X}", c as u32),
        ));
    }
    Ok(())
}

/// Whether `c` is a Unicode default-ignorable code point (zero-width space,
/// joiners, soft hyphen, variation selectors, bidi controls ...).
///
/// IDNA mapping deletes these silently (`exa\u{200B}mple.com` would become
/// `example.com`): a name that looks like one thing and is stored as another.
/// StackDock rejects them instead.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x206F
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFF8
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

/// An `xn--` label must be valid punycode of a valid internationalised label
/// that encodes back to itself (`xn--zz` is not).
fn check_a_label(field: &str, label: &str) -> Result<()> {
    let bad = || Error::invalid_input(field, format!("label {label:?} is not valid punycode"));
    let (unicode, checked) = idna::domain_to_unicode(label);
    checked.map_err(|_| bad())?;
    if unicode.is_ascii() || idna::domain_to_ascii(&unicode).ok().as_deref() != Some(label) {
        return Err(bad());
    }
    Ok(())
}

/// Validate and canonicalise a DNS name.
///
/// ```
/// use stackdock_core::validate::{dns_name, NameRules};
/// assert_eq!(dns_name("domain", "WWW.Example.com.", NameRules::Hostname).unwrap(), "www.example.com");
/// assert_eq!(dns_name("domain", "bücher.de", NameRules::Hostname).unwrap(), "xn--bcher-kva.de");
/// assert!(dns_name("domain", "-bad.example.com", NameRules::Hostname).is_err());
/// assert!(dns_name("name", "_dmarc.example.com", NameRules::RecordOwner).is_ok());
/// ```
pub fn dns_name(field: &str, name: &str, rules: NameRules) -> Result<String> {
    canonical_dns_name(field, name, rules).map(Cow::into_owned)
}

/// [`dns_name`], borrowing `name` when it is already canonical (the common
/// case of a spec checked twice: no allocation the second time).
///
/// ```
/// use std::borrow::Cow;
/// use stackdock_core::validate::{canonical_dns_name, NameRules};
/// let same = canonical_dns_name("name", "www.example.com", NameRules::Hostname).unwrap();
/// assert!(matches!(same, Cow::Borrowed(_)));
/// let fixed = canonical_dns_name("name", "WWW.example.com.", NameRules::Hostname).unwrap();
/// assert_eq!(fixed, "www.example.com");
/// ```
pub fn canonical_dns_name<'a>(
    field: &str,
    name: &'a str,
    rules: NameRules,
) -> Result<Cow<'a, str>> {
    reject_control(field, name)?;
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if trimmed.is_empty() {
        return Err(Error::invalid_input(field, "DNS name must not be empty"));
    }
    let ascii = trimmed.is_ascii();
    let space = if ascii {
        trimmed.bytes().any(|b| matches!(b, b'\t'..=b'\r' | b' '))
    } else {
        trimmed.contains(char::is_whitespace)
    };
    if space {
        return Err(Error::invalid_input(
            field,
            "DNS name must not contain spaces",
        ));
    }
    // Every default-ignorable code point is outside ASCII.
    if let Some(c) = (!ascii)
        .then(|| trimmed.chars().find(|c| is_default_ignorable(*c)))
        .flatten()
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "DNS name contains the invisible character U+{:04X}",
                c as u32
            ),
        ));
    }
    let ascii =
        if !ascii {
            Cow::Owned(idna::domain_to_ascii(trimmed).map_err(|_| {
                Error::invalid_input(field, "invalid internationalised domain name")
            })?)
        } else if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(trimmed.to_ascii_lowercase())
        } else if trimmed.len() == name.len() {
            Cow::Borrowed(name)
        } else {
            Cow::Owned(trimmed.to_owned()) // only the trailing dot goes
        };
    if ascii.len() > MAX_DNS_NAME_LEN {
        return Err(Error::invalid_input(
            field,
            format!(
                "DNS name is {} bytes, at most {MAX_DNS_NAME_LEN} allowed",
                ascii.len()
            ),
        ));
    }
    for (i, label) in ascii.split('.').enumerate() {
        check_label(field, label, i == 0, rules)?;
        if label.starts_with("xn--") {
            check_a_label(field, label)?;
        }
    }
    Ok(ascii)
}

/// A host name inside record data (MX exchange, CNAME/NS/SRV/PTR target):
/// a [`NameRules::Hostname`] name whose last label is not numeric, so an IP
/// literal such as `1.2.3.4` is refused (those records need a name).
///
/// ```
/// use stackdock_core::validate::host_name;
/// assert_eq!(host_name("exchange", "Mail.Example.com.").unwrap(), "mail.example.com");
/// assert!(host_name("exchange", "1.2.3.4").is_err());
/// ```
pub fn host_name(field: &str, name: &str) -> Result<String> {
    canonical_host_name(field, name).map(Cow::into_owned)
}

/// [`host_name`], borrowing `name` when it is already canonical.
pub(crate) fn canonical_host_name<'a>(field: &str, name: &'a str) -> Result<Cow<'a, str>> {
    let canonical = canonical_dns_name(field, name, NameRules::Hostname)?;
    let last = canonical.rsplit('.').next().unwrap_or_default();
    if last.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_input(
            field,
            format!("{canonical} is an IP address, not a host name"),
        ));
    }
    Ok(canonical)
}

/// The root name as record data gives it: `.` or empty (held as empty).
pub fn is_root(name: &str) -> bool {
    name.is_empty() || name == "."
}

fn check_label(field: &str, label: &str, first: bool, rules: NameRules) -> Result<()> {
    if label.is_empty() {
        return Err(Error::invalid_input(field, "DNS name has an empty label"));
    }
    if label.len() > MAX_DNS_LABEL_LEN {
        return Err(Error::invalid_input(
            field,
            format!("label {label:?} is longer than {MAX_DNS_LABEL_LEN} bytes"),
        ));
    }
    if rules == NameRules::RecordOwner && first && label == "*" {
        return Ok(());
    }
    let body = match rules {
        NameRules::RecordOwner => label.strip_prefix('_').unwrap_or(label),
        NameRules::Hostname => label,
    };
    if body.is_empty()
        || !body.bytes().all(|b| {
            b.is_ascii_alphanumeric() || b == b'-' || (b == b'_' && rules == NameRules::RecordOwner)
        })
    {
        return Err(Error::invalid_input(
            field,
            format!("label {label:?} may only hold letters, digits and hyphens"),
        ));
    }
    if body.starts_with('-') || body.ends_with('-') {
        return Err(Error::invalid_input(
            field,
            format!("label {label:?} must not start or end with a hyphen"),
        ));
    }
    Ok(())
}

/// A registrable-looking domain: a host name with at least two labels and a
/// non-numeric top-level label.
///
/// ```
/// use stackdock_core::validate::domain;
/// assert_eq!(domain("domain", "Example.org").unwrap(), "example.org");
/// assert!(domain("domain", "localhost").is_err());
/// assert!(domain("domain", "1.2.3.4").is_err());
/// ```
pub fn domain(field: &str, name: &str) -> Result<String> {
    canonical_domain(field, name).map(Cow::into_owned)
}

/// [`domain`], borrowing `name` when it is already canonical.
pub(crate) fn canonical_domain<'a>(field: &str, name: &'a str) -> Result<Cow<'a, str>> {
    let canonical = canonical_dns_name(field, name, NameRules::Hostname)?;
    let mut labels = canonical.rsplit('.');
    let tld = labels.next().unwrap_or_default();
    if labels.next().is_none() {
        return Err(Error::invalid_input(
            field,
            "domain needs at least two labels",
        ));
    }
    if tld.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Error::invalid_input(
            field,
            "top-level label must not be numeric",
        ));
    }
    Ok(canonical)
}

/// The absolute form of a canonical DNS name (with the trailing dot).
pub fn fqdn(canonical: &str) -> String {
    if canonical.ends_with('.') {
        canonical.to_owned()
    } else {
        format!("{canonical}.")
    }
}

/// Whether `name` is `zone` or below it (both canonical).
///
/// ```
/// use stackdock_core::validate::is_in_zone;
/// assert!(is_in_zone("www.example.com", "example.com"));
/// assert!(is_in_zone("example.com", "example.com"));
/// assert!(!is_in_zone("badexample.com", "example.com"));
/// ```
pub fn is_in_zone(name: &str, zone: &str) -> bool {
    match name.strip_suffix(zone) {
        Some("") => true,
        Some(below) => below.ends_with('.'),
        None => false,
    }
}

/// Characters allowed in a local part besides letters, digits and dots.
///
/// RFC 5322 `atext` also allows ``!#$%&'*/?^`{|}~``; hosting panels and mail
/// servers' SQL and shell integrations routinely choke on those, so StackDock
/// accepts only this conservative subset (it covers sub-addressing `a+tag`).
const LOCAL_PART_SPECIALS: &[u8] = b"+-_=";

/// Validate and canonicalise an e-mail address as mail servers accept it for
/// virtual mailboxes: a dot-atom local part of letters, digits and `.+-_=` (no quoted strings, no leading,
/// trailing or double dots, at most 64 bytes), a host-name domain (IDN to
/// punycode), at most 254 bytes in all. The result is lower-case.
///
/// ```
/// use stackdock_core::validate::email_address;
/// assert_eq!(email_address("address", "Alice@Example.COM").unwrap(), "alice@example.com");
/// assert_eq!(email_address("address", "info@bücher.de").unwrap(), "info@xn--bcher-kva.de");
/// assert!(email_address("address", "a..b@example.com").is_err());
/// assert!(email_address("address", "x@example.com\r\nBcc: y@evil.test").is_err());
/// ```
pub fn email_address(field: &str, address: &str) -> Result<String> {
    canonical_email_address(field, address).map(Cow::into_owned)
}

/// [`email_address`], borrowing `address` when it is already canonical.
pub(crate) fn canonical_email_address<'a>(field: &str, address: &'a str) -> Result<Cow<'a, str>> {
    reject_control(field, address)?;
    let (local, domain_part) = address
        .rsplit_once('@')
        .ok_or_else(|| Error::invalid_input(field, "address needs an @"))?;
    let local = canonical_local_part(field, local)?;
    let domain_part = canonical_domain(field, domain_part)?;
    let len = local.len() + 1 + domain_part.len();
    if len > MAX_EMAIL_LEN {
        return Err(Error::invalid_input(
            field,
            format!("address is {len} bytes, at most {MAX_EMAIL_LEN} allowed"),
        ));
    }
    Ok(match (local, domain_part) {
        // Both halves as given: the address is `local@domain` already.
        (Cow::Borrowed(_), Cow::Borrowed(_)) => Cow::Borrowed(address),
        (local, domain_part) => Cow::Owned(format!("{local}@{domain_part}")),
    })
}

/// Validate a local part alone (see [`email_address`]); returns it lower-cased.
pub fn local_part(field: &str, local: &str) -> Result<String> {
    canonical_local_part(field, local).map(Cow::into_owned)
}

/// [`local_part`], borrowing `local` when it is already lower-case.
fn canonical_local_part<'a>(field: &str, local: &'a str) -> Result<Cow<'a, str>> {
    reject_control(field, local)?;
    if local.is_empty() {
        return Err(Error::invalid_input(field, "local part must not be empty"));
    }
    if local.len() > MAX_LOCAL_PART_LEN {
        return Err(Error::invalid_input(
            field,
            format!("local part is longer than {MAX_LOCAL_PART_LEN} bytes"),
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(Error::invalid_input(
            field,
            "local part must not start or end with a dot or hold two dots in a row",
        ));
    }
    if let Some(bad) = local
        .bytes()
        .find(|b| !(b.is_ascii_alphanumeric() || *b == b'.' || LOCAL_PART_SPECIALS.contains(b)))
    {
        return Err(Error::invalid_input(
            field,
            format!(
                "local part holds a character mail servers reject: {:?}",
                bad as char
            ),
        ));
    }
    Ok(if local.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(local.to_ascii_lowercase())
    } else {
        Cow::Borrowed(local)
    })
}

/// A generic resource name: 1 to `max_len` bytes, no control characters, no
/// leading or trailing white space.
pub fn resource_name(field: &str, name: &str, max_len: usize) -> Result<()> {
    reject_control(field, name)?;
    if name.is_empty() {
        return Err(Error::invalid_input(field, "must not be empty"));
    }
    if name.len() > max_len {
        return Err(Error::invalid_input(
            field,
            format!("is {} bytes, at most {max_len} allowed", name.len()),
        ));
    }
    if name.trim() != name {
        return Err(Error::invalid_input(
            field,
            "must not start or end with white space",
        ));
    }
    Ok(())
}

/// A slug: 1 to `max_len` bytes of lower-case ASCII letters, digits and
/// hyphens (and `_` when `allow_underscore`), starting with a letter.
///
/// ```
/// use stackdock_core::validate::slug;
/// assert!(slug("name", "acme-web", 100, false).is_ok());
/// assert!(slug("name", "Acme", 100, false).is_err());
/// assert!(slug("name", "x\"; DROP DATABASE postgres; --", 63, true).is_err());
/// ```
pub fn slug(field: &str, value: &str, max_len: usize, allow_underscore: bool) -> Result<()> {
    reject_control(field, value)?;
    if value.is_empty() || value.len() > max_len {
        return Err(Error::invalid_input(
            field,
            format!("must be 1 to {max_len} bytes long"),
        ));
    }
    if !value.as_bytes()[0].is_ascii_lowercase() {
        return Err(Error::invalid_input(
            field,
            "must start with a lower-case letter",
        ));
    }
    if let Some(bad) = value.chars().find(|c| {
        !(c.is_ascii_lowercase()
            || c.is_ascii_digit()
            || *c == '-'
            || (allow_underscore && *c == '_'))
    }) {
        return Err(Error::invalid_input(
            field,
            format!(
                "may only hold lower-case letters, digits, '-'{}; found {bad:?}",
                if allow_underscore { " and '_'" } else { "" }
            ),
        ));
    }
    Ok(())
}

/// A label key or value: at most 63 bytes of `[A-Za-z0-9._-]` (keys may be
/// prefixed `domain/`, as in Kubernetes).
pub fn label(field: &str, key: &str, value: &str) -> Result<()> {
    let (prefix, name) = key.rsplit_once('/').unwrap_or(("", key));
    if !prefix.is_empty() {
        dns_name(field, prefix, NameRules::Hostname)?;
    }
    let ok = |s: &str, allow_empty: bool| {
        (allow_empty || !s.is_empty())
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    };
    if !ok(name, false) {
        return Err(Error::invalid_input(
            field,
            format!("bad label key {key:?}"),
        ));
    }
    if !ok(value, true) {
        return Err(Error::invalid_input(
            field,
            format!("bad value for label {key:?}"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dns_names() {
        let r = NameRules::Hostname;
        assert!(dns_name("f", "a.b", r).is_ok());
        assert!(dns_name("f", "", r).is_err());
        assert!(dns_name("f", ".", r).is_err());
        assert!(dns_name("f", "a..b", r).is_err());
        assert!(dns_name("f", &format!("{}.com", "a".repeat(64)), r).is_err());
        assert!(dns_name("f", &format!("{}.com", "a".repeat(63)), r).is_ok());
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(long.len() > 253);
        assert!(dns_name("f", &long, r).is_err());
        assert!(dns_name("f", "a_b.com", r).is_err());
        assert!(dns_name("f", "*.example.com", r).is_err());
        assert!(dns_name("f", "*.example.com", NameRules::RecordOwner).is_ok());
        assert!(dns_name("f", "a.*.example.com", NameRules::RecordOwner).is_err());
        assert!(dns_name("f", "exa mple.com", r).is_err());
        assert!(dns_name("f", "evil.com\0", r).is_err());
        assert!(dns_name("f", "x';drop table--.com", r).is_err());
    }

    #[test]
    fn names_that_would_change_or_lie_are_refused() {
        let r = NameRules::Hostname;
        assert!(
            dns_name("f", "exa\u{200b}mple.com", r).is_err(),
            "zero-width space"
        );
        assert!(
            dns_name("f", "exa\u{00ad}mple.com", r).is_err(),
            "soft hyphen"
        );
        assert!(
            dns_name("f", "b\u{fe0f}cher.de", r).is_err(),
            "variation selector"
        );
        assert!(
            dns_name("f", "xn--zz.com", r).is_err(),
            "incomplete punycode"
        );
        assert!(
            dns_name("f", "XN--ZZ.com", r).is_err(),
            "upper-case A-label"
        );
        assert!(
            dns_name("f", "xn--abc-.com", r).is_err(),
            "punycode of plain ASCII"
        );
        assert_eq!(
            dns_name("f", "xn--bcher-kva.de", r).unwrap(),
            "xn--bcher-kva.de",
            "valid A-label"
        );
        assert!(host_name("f", "1.2.3.4").is_err());
        assert!(host_name("f", "1.2.3.4.").is_err());
        assert!(host_name("f", "10.0.0.1.example.com").is_ok());
        assert!(host_name("f", "localhost").is_ok());
    }

    #[test]
    fn emails() {
        assert!(email_address("a", "first.last+tag@example.co.uk").is_ok());
        assert!(email_address("a", "@example.com").is_err());
        assert!(email_address("a", "a@b").is_err());
        assert!(email_address("a", ".a@example.com").is_err());
        assert!(email_address("a", "a.@example.com").is_err());
        assert!(email_address("a", "\"quoted\"@example.com").is_err());
        assert!(email_address("a", "a b@example.com").is_err());
        assert!(email_address("a", "a'; DROP TABLE users; --@example.com").is_err());
        assert!(email_address("a", &format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(email_address("a", "x@example.com\nBcc: y@z.com").is_err());
        // domain alone is fine (247 bytes), the whole address is not (258 > 254)
        let long_domain = format!(
            "{}@{}.com",
            "a".repeat(10),
            vec!["b".repeat(60); 4].join(".")
        );
        assert!(domain("d", long_domain.split('@').nth(1).unwrap()).is_ok());
        assert!(email_address("a", &long_domain).is_err());
    }

    proptest! {
        #[test]
        fn canonical_names_are_fixed_points(labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?", 2..6)) {
            // An `xn--` label is punycode and must decode (a separate test);
            // plain LDH labels are what this property is about.
            prop_assume!(labels.iter().all(|l| !l.starts_with("xn--")));
            let name = labels.join(".");
            let once = dns_name("f", &name, NameRules::Hostname).unwrap();
            let twice = dns_name("f", &format!("{}.", once.to_uppercase()), NameRules::Hostname).unwrap();
            prop_assert_eq!(once, twice);
        }

        #[test]
        fn validator_never_panics_and_output_is_clean(s in "\\PC{0,80}") {
            if let Ok(name) = dns_name("f", &s, NameRules::RecordOwner) {
                prop_assert!(name.len() <= MAX_DNS_NAME_LEN);
                prop_assert!(name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._*".contains(&b)));
            }
            if let Ok(addr) = email_address("f", &s) {
                prop_assert!(addr.len() <= MAX_EMAIL_LEN);
                prop_assert!(!addr.contains(['\r', '\n', '\'', '"', ';', ' ']));
            }
        }
    }
}
