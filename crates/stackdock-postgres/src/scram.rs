//! Client-side SCRAM-SHA-256 password verifiers (RFC 5802, RFC 7677).
//!
//! PostgreSQL stores a password given in SCRAM form as-is, so hashing it here
//! means the plaintext never reaches the server (nor its statement log, which
//! records failing `ALTER ROLE ... PASSWORD` statements).
//!
//! The verifier is `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`
//! (base64), with `SaltedPassword = PBKDF2-HMAC-SHA256(SASLprep(password),
//! salt, iterations)`, `ClientKey = HMAC(SaltedPassword, "Client Key")`,
//! `StoredKey = SHA-256(ClientKey)`, `ServerKey = HMAC(SaltedPassword, "Server Key")`.
//!
//! [`verify_password`] checks a password against a stored verifier by running
//! both sides of a SCRAM exchange (client proof, server check, server
//! signature), which is how the tests prove a stored verifier accepts the
//! password even on servers whose `pg_hba.conf` says `trust`.
//!
//! ```
//! use stackdock_postgres::scram;
//! let verifier = scram::hash_password("correct horse");
//! assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
//! assert!(scram::verify_password(&verifier, "correct horse").unwrap());
//! assert!(!scram::verify_password(&verifier, "wrong").unwrap());
//! ```

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use stackdock_core::{Error, Result};

/// PBKDF2 iterations; PostgreSQL's default (`scram_iterations`).
pub const ITERATIONS: u32 = 4096;
/// Salt length in bytes; PostgreSQL's default.
pub const SALT_LEN: usize = 16;

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], msg: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// The password bytes PostgreSQL feeds to PBKDF2: SASLprep'd when that
/// succeeds, the raw bytes otherwise (as the server does).
fn normalize(password: &str) -> Vec<u8> {
    match stringprep::saslprep(password) {
        Ok(p) => p.into_owned().into_bytes(),
        Err(_) => password.as_bytes().to_vec(),
    }
}

fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; 32] {
    let mut out = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(&normalize(password), salt, iterations, &mut out);
    out
}

/// A verifier for `password` with a random 16-byte salt and 4096 iterations.
pub fn hash_password(password: &str) -> String {
    let mut salt = [0u8; SALT_LEN];
    rand::rngs::OsRng.fill_bytes(&mut salt);
    hash_password_with(password, &salt, ITERATIONS)
}

/// A verifier for `password` with the given salt and iteration count
/// (deterministic; for tests and for checking known vectors).
pub fn hash_password_with(password: &str, salt: &[u8], iterations: u32) -> String {
    let salted = salted_password(password, salt, iterations);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let server_key = hmac(&salted, b"Server Key");
    format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        B64.encode(salt),
        B64.encode(stored_key),
        B64.encode(server_key)
    )
}

/// A parsed verifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    /// PBKDF2 iterations.
    pub iterations: u32,
    /// Salt.
    pub salt: Vec<u8>,
    /// `SHA-256(ClientKey)`.
    pub stored_key: [u8; 32],
    /// `HMAC(SaltedPassword, "Server Key")`.
    pub server_key: [u8; 32],
}

impl Verifier {
    /// Parse `SCRAM-SHA-256$<iter>:<salt>$<StoredKey>:<ServerKey>`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = || Error::invalid_response("not a SCRAM-SHA-256 verifier");
        let rest = s.strip_prefix("SCRAM-SHA-256$").ok_or_else(bad)?;
        let (params, keys) = rest.split_once('$').ok_or_else(bad)?;
        let (iter, salt) = params.split_once(':').ok_or_else(bad)?;
        let (stored, server) = keys.split_once(':').ok_or_else(bad)?;
        let key = |k: &str| -> Result<[u8; 32]> {
            B64.decode(k)
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or_else(bad)
        };
        Ok(Verifier {
            iterations: iter.parse().map_err(|_| bad())?,
            salt: B64.decode(salt).map_err(|_| bad())?,
            stored_key: key(stored)?,
            server_key: key(server)?,
        })
    }
}

/// Run a full SCRAM-SHA-256 exchange between a client that knows `password`
/// and a server that holds `verifier`; `true` when the server accepts the
/// client's proof *and* the client accepts the server's signature.
///
/// Follows RFC 5802 §3: `AuthMessage = client-first-bare "," server-first ","
/// client-final-without-proof`, `ClientProof = ClientKey XOR
/// HMAC(StoredKey, AuthMessage)`; the server recovers `ClientKey` from the
/// proof and compares `SHA-256(ClientKey)` with its `StoredKey`.
pub fn verify_password(verifier: &str, password: &str) -> Result<bool> {
    let v = Verifier::parse(verifier)?;
    let mut nonce_bytes = [0u8; 18];
    rand::rngs::OsRng.fill_bytes(&mut nonce_bytes);
    let client_nonce = B64.encode(&nonce_bytes[..9]);
    let server_nonce = format!("{client_nonce}{}", B64.encode(&nonce_bytes[9..]));
    let client_first_bare = format!("n=,r={client_nonce}");
    let server_first = format!(
        "r={server_nonce},s={},i={}",
        B64.encode(&v.salt),
        v.iterations
    );
    let client_final_without_proof = format!("c=biws,r={server_nonce}");
    let auth_message = format!("{client_first_bare},{server_first},{client_final_without_proof}");

    // Client side: only the password and what the server sent.
    let salted = salted_password(password, &v.salt, v.iterations);
    let client_key = hmac(&salted, b"Client Key");
    let client_stored_key: [u8; 32] = Sha256::digest(client_key).into();
    let client_signature = hmac(&client_stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key
        .iter()
        .zip(client_signature.iter())
        .map(|(a, b)| a ^ b)
        .collect();

    // Server side: only the verifier and the proof.
    let server_client_signature = hmac(&v.stored_key, auth_message.as_bytes());
    let recovered_client_key: Vec<u8> = proof
        .iter()
        .zip(server_client_signature.iter())
        .map(|(a, b)| a ^ b)
        .collect();
    let recovered_stored: [u8; 32] = Sha256::digest(&recovered_client_key).into();
    if recovered_stored != v.stored_key {
        return Ok(false);
    }
    // Client checks the server signature (mutual authentication).
    let server_signature = hmac(&v.server_key, auth_message.as_bytes());
    let expected = hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes());
    Ok(server_signature == expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_and_determinism() {
        let salt = [7u8; 16];
        let a = hash_password_with("pencil", &salt, 4096);
        let b = hash_password_with("pencil", &salt, 4096);
        assert_eq!(a, b);
        let v = Verifier::parse(&a).unwrap();
        assert_eq!(v.iterations, 4096);
        assert_eq!(v.salt, salt);
        assert!(!a.contains("pencil"));
        // random salt: two hashes of one password differ
        assert_ne!(hash_password("pencil"), hash_password("pencil"));
    }

    /// RFC 7677 §3 test vector: user "user", password "pencil",
    /// salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096 iterations; the server signature
    /// in the RFC is v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4= for the
    /// exchange it shows, which we replay exactly.
    #[test]
    fn rfc7677_vector() {
        let salt = B64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let verifier = hash_password_with("pencil", &salt, 4096);
        let v = Verifier::parse(&verifier).unwrap();
        let auth_message = "n=user,r=rOprNGfwEbeRWgbNEkqO,\
r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,\
c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let server_signature = hmac(&v.server_key, auth_message.as_bytes());
        assert_eq!(
            B64.encode(server_signature),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        // and the client proof from the RFC
        let salted = salted_password("pencil", &salt, 4096);
        let client_key = hmac(&salted, b"Client Key");
        let sig = hmac(&v.stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(sig.iter())
            .map(|(a, b)| a ^ b)
            .collect();
        assert_eq!(
            B64.encode(proof),
            "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
    }

    #[test]
    fn verify_accepts_right_and_rejects_wrong() {
        let v = hash_password("s3cret-Pässwörd");
        assert!(verify_password(&v, "s3cret-Pässwörd").unwrap());
        assert!(!verify_password(&v, "s3cret-Passwort").unwrap());
        assert!(!verify_password(&v, "").unwrap());
        assert!(verify_password("md5abc", "x").is_err());
        assert!(verify_password("SCRAM-SHA-256$4096:AA==$AA==:AA==", "x").is_err());
    }

    #[test]
    fn saslprep_maps_non_ascii_spaces() {
        // SASLprep maps U+00A0 (no-break space) to a plain space, as the server does.
        let salt = [1u8; 16];
        assert_eq!(
            hash_password_with("a\u{00A0}b", &salt, 4096),
            hash_password_with("a b", &salt, 4096)
        );
    }
}
