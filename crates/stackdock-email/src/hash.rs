//! Password hashing in the formats Dovecot (and Stalwart) verify.
//!
//! Passwords arrive as [`SecretString`] and leave only as a [`PasswordHash`],
//! whose `Debug` is redacted: neither ever appears in logs, errors or
//! `provider_data`.
//!
//! | [`PasswordScheme`] | Stored as (Dovecot)                              |
//! |--------------------|--------------------------------------------------|
//! | `BlfCrypt` (default) | `{BLF-CRYPT}$2y$<cost>$…`                      |
//! | `Sha512Crypt`      | `{SHA512-CRYPT}$6$[rounds=N$]<salt>$…`           |
//! | `Argon2id`         | `{ARGON2ID}$argon2id$v=19$m=…,t=…,p=…$…`         |
//!
//! ```
//! use stackdock_email::hash::{PasswordHasher, PasswordScheme};
//! use stackdock_core::secret::SecretString;
//!
//! let hasher = PasswordHasher::new(PasswordScheme::Sha512Crypt);
//! let password = SecretString::from("correct horse battery staple");
//! let hash = hasher.hash(&password).unwrap();
//! assert!(hash.dovecot().starts_with("{SHA512-CRYPT}$6$"));
//! assert!(hash.verify(&password).unwrap());
//! assert!(!format!("{hash:?}").contains("$6$")); // Debug is redacted
//! ```

use std::fmt;
use std::str::FromStr;

use rand::RngCore;
use serde::{Deserialize, Serialize};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{Error, Result};

/// Longest password accepted (bytes). Long enough for passphrases, short
/// enough that hashing cannot be used to burn CPU.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// bcrypt only looks at the first 72 bytes; longer passwords would be
/// silently truncated, so `BLF-CRYPT` refuses them.
pub const BCRYPT_MAX_PASSWORD_LEN: usize = 72;

/// Default bcrypt cost (2^10 rounds, ~50 ms on one core).
pub const DEFAULT_BCRYPT_COST: u32 = 10;

/// Default SHA512-CRYPT rounds (the algorithm's and Dovecot's default).
pub const DEFAULT_SHA512_ROUNDS: u32 = 5_000;

/// A password scheme the mail server verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING-KEBAB-CASE")]
pub enum PasswordScheme {
    /// bcrypt (`{BLF-CRYPT}`), the default.
    #[default]
    #[serde(rename = "BLF-CRYPT")]
    BlfCrypt,
    /// SHA-512 crypt (`{SHA512-CRYPT}`).
    #[serde(rename = "SHA512-CRYPT")]
    Sha512Crypt,
    /// Argon2id (`{ARGON2ID}`); Dovecot needs libsodium for it (Debian's build has it).
    #[serde(rename = "ARGON2ID")]
    Argon2id,
}

impl PasswordScheme {
    /// Every scheme.
    pub const ALL: [PasswordScheme; 3] = [
        PasswordScheme::BlfCrypt,
        PasswordScheme::Sha512Crypt,
        PasswordScheme::Argon2id,
    ];

    /// Dovecot's name for it, as in `{NAME}` prefixes and `doveadm pw -s NAME`.
    pub fn dovecot_name(self) -> &'static str {
        match self {
            PasswordScheme::BlfCrypt => "BLF-CRYPT",
            PasswordScheme::Sha512Crypt => "SHA512-CRYPT",
            PasswordScheme::Argon2id => "ARGON2ID",
        }
    }
}

impl fmt::Display for PasswordScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.dovecot_name())
    }
}

impl FromStr for PasswordScheme {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        PasswordScheme::ALL
            .into_iter()
            .find(|scheme| scheme.dovecot_name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                Error::invalid_input(
                    "password_scheme",
                    "expected BLF-CRYPT, SHA512-CRYPT or ARGON2ID",
                )
            })
    }
}

/// A stored password hash. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash {
    scheme: PasswordScheme,
    /// The crypt-style string without the `{SCHEME}` prefix (`$2y$…`, `$6$…`, `$argon2id$…`).
    crypt: String,
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHash")
            .field("scheme", &self.scheme)
            .field("hash", &stackdock_core::secret::REDACTED)
            .finish()
    }
}

impl PasswordHash {
    /// The scheme it was made with.
    pub fn scheme(&self) -> PasswordScheme {
        self.scheme
    }

    /// The form Dovecot stores: `{SCHEME}` prefix plus the crypt string.
    pub fn dovecot(&self) -> String {
        format!("{{{}}}{}", self.scheme.dovecot_name(), self.crypt)
    }

    /// The bare crypt string (`$2y$…`, `$6$…`, `$argon2id$…`), as Stalwart stores it.
    pub fn crypt(&self) -> &str {
        &self.crypt
    }

    /// Parse a stored Dovecot hash (`{SCHEME}…`) of one of the supported schemes.
    pub fn parse_dovecot(stored: &str) -> Result<PasswordHash> {
        let unknown = || Error::invalid_input("password", "not a supported {SCHEME} hash");
        let rest = stored.strip_prefix('{').ok_or_else(unknown)?;
        let (name, crypt) = rest.split_once('}').ok_or_else(unknown)?;
        let scheme: PasswordScheme = name.parse().map_err(|_| unknown())?;
        let well_formed = match scheme {
            PasswordScheme::BlfCrypt => crypt.starts_with("$2"),
            PasswordScheme::Sha512Crypt => crypt.starts_with("$6$"),
            PasswordScheme::Argon2id => crypt.starts_with("$argon2id$"),
        };
        if !well_formed {
            return Err(unknown());
        }
        Ok(PasswordHash {
            scheme,
            crypt: crypt.to_owned(),
        })
    }

    /// Whether `password` matches this hash.
    pub fn verify(&self, password: &SecretString) -> Result<bool> {
        let pw = password.expose_secret();
        let malformed = || Error::invalid_response("stored password hash is malformed");
        match self.scheme {
            PasswordScheme::BlfCrypt => bcrypt::verify(pw, &self.crypt).map_err(|_| malformed()),
            PasswordScheme::Sha512Crypt => match sha_crypt::sha512_check(pw, &self.crypt) {
                Ok(()) => Ok(true),
                // sha-crypt 0.5 does not export its error type; its Debug names the variant.
                Err(e) if format!("{e:?}") == "HashMismatch" => Ok(false),
                Err(_) => Err(malformed()),
            },
            PasswordScheme::Argon2id => {
                use argon2::password_hash::PasswordVerifier;
                let parsed = argon2::password_hash::PasswordHash::new(&self.crypt)
                    .map_err(|_| malformed())?;
                Ok(argon2::Argon2::default()
                    .verify_password(pw.as_bytes(), &parsed)
                    .is_ok())
            }
        }
    }
}

/// Check a password before hashing: not empty, no NUL (SASL PLAIN cannot
/// carry it), at most [`MAX_PASSWORD_LEN`] bytes, and for bcrypt at most
/// [`BCRYPT_MAX_PASSWORD_LEN`]. Errors never contain the password.
pub fn validate_password(password: &SecretString, scheme: PasswordScheme) -> Result<()> {
    let pw = password.expose_secret();
    if pw.is_empty() {
        return Err(Error::invalid_input("password", "must not be empty"));
    }
    if pw.contains('\0') {
        return Err(Error::invalid_input("password", "must not contain NUL"));
    }
    if pw.len() > MAX_PASSWORD_LEN {
        return Err(Error::invalid_input(
            "password",
            format!("longer than {MAX_PASSWORD_LEN} bytes"),
        ));
    }
    if scheme == PasswordScheme::BlfCrypt && pw.len() > BCRYPT_MAX_PASSWORD_LEN {
        return Err(Error::invalid_input(
            "password",
            format!("BLF-CRYPT uses only the first {BCRYPT_MAX_PASSWORD_LEN} bytes; use a shorter password or SHA512-CRYPT/ARGON2ID"),
        ));
    }
    Ok(())
}

/// Makes [`PasswordHash`]es in one scheme with fixed cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordHasher {
    scheme: PasswordScheme,
    bcrypt_cost: u32,
    sha512_rounds: u32,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        PasswordHasher::new(PasswordScheme::default())
    }
}

impl PasswordHasher {
    /// A hasher for `scheme` with default costs.
    pub fn new(scheme: PasswordScheme) -> Self {
        PasswordHasher {
            scheme,
            bcrypt_cost: DEFAULT_BCRYPT_COST,
            sha512_rounds: DEFAULT_SHA512_ROUNDS,
        }
    }

    /// The scheme.
    pub fn scheme(&self) -> PasswordScheme {
        self.scheme
    }

    /// bcrypt cost, 4 to 31 (Dovecot's limits).
    pub fn with_bcrypt_cost(mut self, cost: u32) -> Result<Self> {
        if !(4..=31).contains(&cost) {
            return Err(Error::config("bcrypt cost must be between 4 and 31"));
        }
        self.bcrypt_cost = cost;
        Ok(self)
    }

    /// SHA512-CRYPT rounds, 1000 to 999999999.
    pub fn with_sha512_rounds(mut self, rounds: u32) -> Result<Self> {
        if !(1_000..=999_999_999).contains(&rounds) {
            return Err(Error::config(
                "SHA512-CRYPT rounds must be between 1000 and 999999999",
            ));
        }
        self.sha512_rounds = rounds;
        Ok(self)
    }

    /// Hash `password` (validated with [`validate_password`] first).
    pub fn hash(&self, password: &SecretString) -> Result<PasswordHash> {
        validate_password(password, self.scheme)?;
        let pw = password.expose_secret();
        let failed = |_| Error::internal(format!("{} hashing failed", self.scheme));
        let crypt = match self.scheme {
            PasswordScheme::BlfCrypt => bcrypt::hash_with_result(pw, self.bcrypt_cost)
                .map_err(|e| failed(e.to_string()))?
                .format_for_version(bcrypt::Version::TwoY),
            PasswordScheme::Sha512Crypt => {
                let params = sha_crypt::Sha512Params::new(self.sha512_rounds as usize)
                    .map_err(|_| failed(String::new()))?;
                sha_crypt::sha512_simple(pw, &params).map_err(|_| failed(String::new()))?
            }
            PasswordScheme::Argon2id => {
                use argon2::password_hash::{PasswordHasher as _, SaltString};
                let mut salt = [0u8; 16];
                rand::thread_rng().fill_bytes(&mut salt);
                let salt = SaltString::encode_b64(&salt).map_err(|e| failed(e.to_string()))?;
                argon2::Argon2::default()
                    .hash_password(pw.as_bytes(), &salt)
                    .map_err(|e| failed(e.to_string()))?
                    .to_string()
            }
        };
        Ok(PasswordHash {
            scheme: self.scheme,
            crypt,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast(scheme: PasswordScheme) -> PasswordHasher {
        PasswordHasher::new(scheme).with_bcrypt_cost(4).unwrap()
    }

    #[test]
    fn every_scheme_round_trips_and_rejects_wrong_passwords() {
        let pw = SecretString::from("pässwörd with spaces 'and' quotes");
        for scheme in PasswordScheme::ALL {
            let hash = fast(scheme).hash(&pw).unwrap();
            let stored = hash.dovecot();
            assert!(stored.starts_with(&format!("{{{}}}$", scheme.dovecot_name())));
            let parsed = PasswordHash::parse_dovecot(&stored).unwrap();
            assert_eq!(parsed, hash);
            assert!(parsed.verify(&pw).unwrap(), "{scheme}");
            assert!(
                !parsed.verify(&SecretString::from("wrong")).unwrap(),
                "{scheme}"
            );
        }
    }

    #[test]
    fn prefixes_are_what_dovecot_expects() {
        let pw = SecretString::from("secret");
        assert!(fast(PasswordScheme::BlfCrypt)
            .hash(&pw)
            .unwrap()
            .dovecot()
            .starts_with("{BLF-CRYPT}$2y$04$"));
        assert!(fast(PasswordScheme::Sha512Crypt)
            .hash(&pw)
            .unwrap()
            .crypt()
            .starts_with("$6$"));
        let rounds = PasswordHasher::new(PasswordScheme::Sha512Crypt)
            .with_sha512_rounds(6000)
            .unwrap();
        assert!(rounds
            .hash(&pw)
            .unwrap()
            .crypt()
            .starts_with("$6$rounds=6000$"));
        assert!(fast(PasswordScheme::Argon2id)
            .hash(&pw)
            .unwrap()
            .dovecot()
            .starts_with("{ARGON2ID}$argon2id$v=19$"));
    }

    #[test]
    fn bad_passwords_are_rejected_without_echo() {
        let h = fast(PasswordScheme::BlfCrypt);
        for bad in ["", "nul\0byte"] {
            let err = h.hash(&SecretString::from(bad)).unwrap_err();
            assert!(matches!(
                err.kind(),
                stackdock_core::ErrorKind::InvalidInput { .. }
            ));
        }
        let long = "x".repeat(73);
        let err = h.hash(&SecretString::from(long.clone())).unwrap_err();
        assert!(!err.to_string().contains(&long));
        assert!(fast(PasswordScheme::Sha512Crypt)
            .hash(&SecretString::from(long))
            .is_ok());
        assert!(fast(PasswordScheme::Argon2id)
            .hash(&SecretString::from("y".repeat(MAX_PASSWORD_LEN + 1)))
            .is_err());
    }

    #[test]
    fn parse_rejects_unknown_or_mismatched() {
        for bad in [
            "$2y$05$abc",
            "{PLAIN}secret",
            "{BLF-CRYPT}$6$x$y",
            "{SHA512-CRYPT}",
            "{ARGON2ID}$argon2i$v",
        ] {
            assert!(PasswordHash::parse_dovecot(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scheme_names_parse() {
        assert_eq!(
            "blf-crypt".parse::<PasswordScheme>().unwrap(),
            PasswordScheme::BlfCrypt
        );
        assert_eq!(PasswordScheme::default(), PasswordScheme::BlfCrypt);
        assert!("MD5".parse::<PasswordScheme>().is_err());
        assert_eq!(
            serde_json::to_string(&PasswordScheme::Sha512Crypt).unwrap(),
            "\"SHA512-CRYPT\""
        );
    }
}
