//! Client-side SCRAM-SHA-256 password verifiers, from the workspace's one
//! implementation ([`stackdock_pg::password`], built on postgres-protocol).
//!
//! PostgreSQL stores a password given in SCRAM form as-is, so hashing it here
//! means the plaintext never reaches the server (nor its statement log, which
//! records failing `ALTER ROLE ... PASSWORD` statements).
//!
//! ```
//! use stackdock_postgres::scram;
//! let verifier = scram::hash_password("correct horse").unwrap();
//! assert!(verifier.starts_with("SCRAM-SHA-256$4096:"));
//! assert!(scram::verify_password(&verifier, "correct horse").unwrap());
//! assert!(!scram::verify_password(&verifier, "wrong").unwrap());
//! // Empty once SASLprep drops the soft hyphen: PostgreSQL would clear the password.
//! assert!(scram::hash_password("\u{00AD}").is_err());
//! ```

pub use stackdock_pg::password::{
    check as check_password, scram_verifier as hash_password, verify as verify_password,
};
