//! libpq's `sslmode`, carried out with rustls (ring provider).
//!
//! | `sslmode` | encrypted | certificate checked |
//! |---|---|---|
//! | `disable` | never | — |
//! | `allow` | only when the server refuses a plain connection | chain, when CA certificates are given |
//! | `prefer` (libpq's default) | when the server offers TLS | chain, when CA certificates are given |
//! | `require` | always | chain, when CA certificates are given |
//! | `verify-ca` | always | chain (web PKI roots plus the given CAs) |
//! | `verify-full` | always | chain and host name |
//!
//! As in libpq, `allow`/`prefer`/`require` encrypt without proving who
//! answers unless a root certificate is configured (libpq's `root.crt`; here
//! [`TlsSettings::ca_certificates_pem`]), in which case they check the chain
//! like `verify-ca`. Use `verify-full` to be sure of the server.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

use stackdock_core::{Error, Result};

/// A libpq `sslmode` (see the [module docs](self) for what each one checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SslMode {
    /// Plain TCP or a Unix socket.
    Disable,
    /// Plain first; TLS only if the server refuses the plain connection.
    Allow,
    /// TLS when the server offers it, plain otherwise (libpq's default).
    #[default]
    Prefer,
    /// TLS or fail.
    Require,
    /// TLS with a certificate chaining to a trusted root, or fail.
    VerifyCa,
    /// TLS with a trusted certificate issued for the host name, or fail.
    VerifyFull,
}

impl SslMode {
    /// Every mode, weakest first.
    pub const ALL: [SslMode; 6] = [
        SslMode::Disable,
        SslMode::Allow,
        SslMode::Prefer,
        SslMode::Require,
        SslMode::VerifyCa,
        SslMode::VerifyFull,
    ];

    /// The libpq spelling (`verify-full`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    /// Parse a libpq `sslmode` value. The error never repeats the value: a
    /// mis-parsed connection string can put part of a password there.
    pub fn from_sslmode(value: &str) -> Result<Self> {
        SslMode::ALL
            .into_iter()
            .find(|m| m.as_str() == value)
            .ok_or_else(|| {
                Error::config(
                    "unknown sslmode (expected disable, allow, prefer, require, verify-ca or verify-full)",
                )
            })
    }

    /// Whether the mode may use TLS at all.
    pub fn uses_tls(self) -> bool {
        self != SslMode::Disable
    }
}

impl FromStr for SslMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        SslMode::from_sslmode(s)
    }
}

impl fmt::Display for SslMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a connection uses TLS: the mode and any extra trusted CAs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsSettings {
    /// The `sslmode`.
    pub mode: SslMode,
    /// Extra PEM-encoded CA certificates to trust besides the web PKI roots
    /// (libpq's `sslrootcert`). Makes `allow`/`prefer`/`require` check the chain.
    pub ca_certificates_pem: Option<String>,
}

impl TlsSettings {
    /// `mode` with no extra CA.
    pub fn new(mode: SslMode) -> Self {
        TlsSettings {
            mode,
            ca_certificates_pem: None,
        }
    }

    /// Also trust these PEM CA certificates.
    pub fn with_ca_certificates_pem(mut self, pem: impl Into<String>) -> Self {
        self.ca_certificates_pem = Some(pem.into());
        self
    }

    /// What the certificate check must prove for this mode.
    fn check(&self) -> CertCheck {
        match self.mode {
            SslMode::VerifyFull => CertCheck::ChainAndName,
            SslMode::VerifyCa => CertCheck::Chain,
            _ if self.ca_certificates_pem.is_some() => CertCheck::Chain,
            _ => CertCheck::EncryptOnly,
        }
    }

    /// The rustls connector, or `None` for `disable`. Fails on unusable PEM.
    pub fn connector(&self) -> Result<Option<MakeRustlsConnect>> {
        if !self.mode.uses_tls() {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = Arc::new(self.root_store()?);
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| Error::config(format!("TLS set-up failed: {e}")))?;
        let verifier = Arc::new(ModeVerifier {
            webpki,
            check: self.check(),
        });
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("TLS set-up failed: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Ok(Some(MakeRustlsConnect::new(config)))
    }

    fn root_store(&self) -> Result<rustls::RootCertStore> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let Some(pem) = &self.ca_certificates_pem else {
            return Ok(roots);
        };
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|_| Error::config("ca_certificates_pem is not valid PEM"))?;
            roots
                .add(cert)
                .map_err(|_| Error::config("ca_certificates_pem holds an unusable certificate"))?;
            added += 1;
        }
        if added == 0 {
            return Err(Error::config("ca_certificates_pem holds no certificate"));
        }
        Ok(roots)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CertCheck {
    EncryptOnly,
    Chain,
    ChainAndName,
}

/// The web PKI verifier, relaxed as far as the `sslmode` allows. Handshake
/// signatures are always checked: the server proves it holds the key of the
/// certificate it sent, whatever the mode.
#[derive(Debug)]
struct ModeVerifier {
    webpki: Arc<WebPkiServerVerifier>,
    check: CertCheck,
}

impl ServerCertVerifier for ModeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        if self.check == CertCheck::EncryptOnly {
            return Ok(ServerCertVerified::assertion());
        }
        let verdict = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            // verify-ca: a trusted chain is enough, whatever name it is for.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if self.check == CertCheck::Chain => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_libpq_mode_parses_and_prints_back() {
        for mode in SslMode::ALL {
            assert_eq!(SslMode::from_sslmode(mode.as_str()).unwrap(), mode);
            assert_eq!(mode.to_string().parse::<SslMode>().unwrap(), mode);
        }
        assert_eq!(SslMode::default(), SslMode::Prefer);
    }

    #[test]
    fn an_unknown_mode_is_refused_without_echoing_it() {
        let err = SslMode::from_sslmode("hunter2").unwrap_err();
        assert!(!format!("{err} {err:?}").contains("hunter2"));
        assert!(SslMode::from_sslmode("REQUIRE").is_err());
    }

    #[test]
    fn the_check_follows_libpq() {
        let check = |mode, ca: bool| {
            let mut t = TlsSettings::new(mode);
            if ca {
                t.ca_certificates_pem = Some(String::new());
            }
            t.check()
        };
        assert_eq!(check(SslMode::Require, false), CertCheck::EncryptOnly);
        assert_eq!(check(SslMode::Prefer, false), CertCheck::EncryptOnly);
        assert_eq!(check(SslMode::Require, true), CertCheck::Chain);
        assert_eq!(check(SslMode::VerifyCa, false), CertCheck::Chain);
        assert_eq!(check(SslMode::VerifyFull, false), CertCheck::ChainAndName);
        assert_eq!(check(SslMode::VerifyFull, true), CertCheck::ChainAndName);
    }

    #[test]
    fn connectors_build_for_every_mode_and_bad_pem_is_a_config_error() {
        for mode in SslMode::ALL {
            let c = TlsSettings::new(mode).connector().unwrap();
            assert_eq!(c.is_some(), mode.uses_tls());
        }
        let bad = TlsSettings::new(SslMode::VerifyFull).with_ca_certificates_pem("not pem");
        assert_eq!(
            bad.connector().err().unwrap().kind(),
            &stackdock_core::ErrorKind::ConfigInvalid
        );
    }
}
