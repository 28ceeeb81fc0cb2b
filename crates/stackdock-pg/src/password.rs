//! Role passwords: what PostgreSQL accepts, and SCRAM-SHA-256 verifiers
//! made on the client so the plaintext never reaches the server or its logs.
//!
//! Hashing is postgres-protocol's `password::scram_sha_256` (SASLprep,
//! random 16-byte salt, 4096 iterations, like libpq's
//! `PQencryptPasswordConn`). [`verify`] checks a password against a stored
//! verifier by running a SCRAM exchange: postgres-protocol's client against
//! the server side here.
//!
//! ```
//! use stackdock_pg::password;
//! let v = password::scram_verifier("correct horse").unwrap();
//! assert!(v.starts_with("SCRAM-SHA-256$4096:"));
//! assert!(password::verify(&v, "correct horse").unwrap());
//! assert!(!password::verify(&v, "wrong").unwrap());
//! assert!(password::scram_verifier("\u{00AD}").is_err()); // empty after SASLprep
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256};
use rand::RngCore;
use sha2::{Digest, Sha256};

use stackdock_core::{Error, Result};

/// Refuse passwords PostgreSQL would not keep or a client could not send:
/// empty, holding NUL (libpq passes passwords as C strings), or empty once
/// SASLprep has removed what it maps to nothing (U+00AD, zero-width
/// characters ...): the server then clears the role's password and nobody
/// can log in.
pub fn check(field: &str, password: &str) -> Result<()> {
    if password.contains('\0') {
        return Err(Error::invalid_input(field, "must not contain a NUL byte"));
    }
    // A failed SASLprep (prohibited characters) is fine: the raw bytes are used.
    let prepared_empty = stringprep::saslprep(password).is_ok_and(|p| p.is_empty());
    if password.is_empty() || prepared_empty {
        return Err(Error::invalid_input(
            field,
            "must not be empty (also after SASLprep, which drops soft hyphens and zero-width characters)",
        ));
    }
    Ok(())
}

/// A `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>` verifier
/// for `password`, after [`check`]ing it.
pub fn scram_verifier(password: &str) -> Result<String> {
    check("password", password)?;
    Ok(postgres_protocol::password::scram_sha_256(
        password.as_bytes(),
    ))
}

/// A parsed verifier.
struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl Verifier {
    fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid_response("not a SCRAM-SHA-256 verifier");
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iterations, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let key = |k: &str| B64.decode(k).ok().filter(|k| k.len() == 32).ok_or_else(bad);
        Ok(Verifier {
            iterations: iterations.parse().map_err(|_| bad())?,
            salt: B64.decode(salt).map_err(|_| bad())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

fn hmac(key: &[u8], message: &[u8]) -> Vec<u8> {
    let mut mac = <Hmac<Sha256>>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Whether a server holding `verifier` accepts `password`, and the client
/// accepts that server (RFC 5802 both ways). `Err` when `verifier` is not a
/// SCRAM-SHA-256 verifier (an MD5 hash, say).
pub fn verify(verifier: &str, password: &str) -> Result<bool> {
    let v = Verifier::parse(verifier)?;
    let protocol = || Error::internal("SCRAM exchange failed");
    let mut client = ScramSha256::new(password.as_bytes(), ChannelBinding::unsupported());
    // client-first: "n,,n=,r=<nonce>"; its bare part drops the "n,," header.
    let client_first = String::from_utf8_lossy(client.message()).into_owned();
    let client_bare = client_first.strip_prefix("n,,").ok_or_else(protocol)?;
    // "n=,r=<nonce>": the nonce is all after the first ",r=" (it holds no
    // comma, but may hold "r=" itself).
    let (_, client_nonce) = client_bare.split_once(",r=").ok_or_else(protocol)?;
    let mut server_part = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut server_part);
    let nonce = format!("{client_nonce}{}", B64.encode(server_part));
    let server_first = format!("r={nonce},s={},i={}", B64.encode(&v.salt), v.iterations);
    client
        .update(server_first.as_bytes())
        .map_err(|_| protocol())?;
    // client-final: "c=biws,r=<nonce>,p=<proof>".
    let client_final = String::from_utf8_lossy(client.message()).into_owned();
    let (without_proof, proof) = client_final.rsplit_once(",p=").ok_or_else(protocol)?;
    let proof = B64.decode(proof).map_err(|_| protocol())?;
    let auth_message = format!("{client_bare},{server_first},{without_proof}");
    let signature = hmac(&v.stored_key, auth_message.as_bytes());
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    if Sha256::digest(&client_key).as_slice() != v.stored_key.as_slice() {
        return Ok(false);
    }
    let server_final = format!(
        "v={}",
        B64.encode(hmac(&v.server_key, auth_message.as_bytes()))
    );
    Ok(client.finish(server_final.as_bytes()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_empty_after_saslprep_or_holding_nul_are_refused() {
        for bad in ["", "\u{00AD}", "\u{FEFF}", "\u{034F}\u{00AD}", "\0", "a\0b"] {
            let err = check("password", bad).unwrap_err();
            assert!(
                matches!(err.kind(), stackdock_core::ErrorKind::InvalidInput { .. }),
                "{bad:?}"
            );
            assert!(scram_verifier(bad).is_err(), "{bad:?}");
        }
        for ok in ["a", " ", "a\u{00AD}", "Pässwört\u{00A0}№1", "\u{0627}1"] {
            check("password", ok).unwrap();
        }
    }

    #[test]
    fn verifiers_accept_their_password_only() {
        let v = scram_verifier("s3cret-Pässwörd").unwrap();
        assert!(verify(&v, "s3cret-Pässwörd").unwrap());
        assert!(!verify(&v, "s3cret-Passwort").unwrap());
        assert!(!v.contains("s3cret"));
        assert_ne!(v, scram_verifier("s3cret-Pässwörd").unwrap(), "random salt");
        assert!(verify("md5abc", "x").is_err());
        assert!(verify("SCRAM-SHA-256$4096:AA==$AA==:AA==", "x").is_err());
    }

    #[test]
    fn saslprep_maps_non_ascii_spaces_like_the_server() {
        let v = scram_verifier("a\u{00A0}b").unwrap();
        assert!(verify(&v, "a b").unwrap());
    }

    /// A verifier of `password` with one iteration (`Hi(p, s, 1)` is
    /// `HMAC(p, s || INT(1))`): cheap enough for thousands of exchanges.
    fn one_iteration_verifier(password: &str) -> String {
        let salt = [7u8; 16];
        let mut first = salt.to_vec();
        first.extend_from_slice(&1u32.to_be_bytes());
        let salted = hmac(password.as_bytes(), &first);
        let stored_key = Sha256::digest(hmac(&salted, b"Client Key"));
        let server_key = hmac(&salted, b"Server Key");
        format!(
            "SCRAM-SHA-256$1:{}${}:{}",
            B64.encode(salt),
            B64.encode(stored_key),
            B64.encode(server_key)
        )
    }

    /// The client's nonce is 24 random printable characters, so it holds
    /// "r=" now and then (~0.27% of exchanges): the server's nonce must
    /// extend all of it, not what follows its last "r=".
    #[test]
    fn every_client_nonce_is_taken_whole() {
        let v = one_iteration_verifier("pencil");
        for _ in 0..20_000 {
            assert!(verify(&v, "pencil").unwrap());
        }
    }

    /// RFC 7677 §3: the verifier of "pencil" with salt W22ZaJ0SNY7soEsUEjb6gQ==
    /// and 4096 iterations, as PostgreSQL would store it, accepts "pencil".
    #[test]
    fn rfc7677_verifier_is_accepted() {
        let v = "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$\
                 WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:\
                 wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=";
        assert!(verify(v, "pencil").unwrap());
        assert!(!verify(v, "pencil2").unwrap());
    }
}
