//! The credential vault: secrets encrypted at rest with AES-256-GCM.
//!
//! * A **random 96-bit nonce** per seal, stored with the ciphertext.
//! * The **key id** of the master key that sealed a record is stored with
//!   it; [`MasterKeys`] holds one current key (seals) and any number of old
//!   keys (open only) until [`CredentialVault::rotate`] re-seals everything
//!   with the current key and the old ones can be dropped.
//! * **Associated data** binds a ciphertext to its `(org, dock, name)`: a
//!   ciphertext copied to another dock, org or name does not open.
//! * Master keys come from a file or an environment variable, never from
//!   the store; key bytes and plaintext buffers are zeroized on drop.
//! * Every open (decryption) is audited, success or failure, never with
//!   the value.
//!
//! [`VaultCredentials`] resolves `vault:KEY` credential references for the
//! dock factory ([`CredentialSource`]), so the factory is the one place that
//! decrypts dock credentials.
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_runtime::audit::StoreAudit;
//! use stackdock_runtime::store::{MemoryStore, Store};
//! use stackdock_runtime::vault::{AesGcmVault, CredentialVault, MasterKeys};
//! use stackdock_core::secret::{ExposeSecret, SecretString};
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
//! let keys = MasterKeys::parse("k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
//! let vault = AesGcmVault::new(store.clone(), keys, Arc::new(StoreAudit::new(store)));
//! vault.seal("acme", "pg-eu", "password", &SecretString::from("hunter2")).await?;
//! assert_eq!(vault.open("acme", "pg-eu", "password").await?.expose_secret(), "hunter2");
//! assert!(vault.open("acme", "pg-us", "password").await.is_err());
//! # Ok::<(), stackdock_runtime::Error>(()) }).unwrap();
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use async_trait::async_trait;
use base64::Engine as _;
use chrono::Utc;
use rand::RngCore;
use stackdock_core::context::CallContext;
use stackdock_core::factory::{CredentialRef, CredentialSource, EnvAndFiles};
use stackdock_core::secret::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::audit::AuditSink;
use crate::model::{AuditEntry, AuditOutcome, RunId, SealedSecret};
use crate::store::Store;
use crate::Result;

/// Why the vault refused. Never carries key bytes or plaintext.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VaultError {
    /// The record was sealed with a key id the keyring does not have
    /// (rotated out, or the wrong keyring).
    #[error("secret {name} of dock {dock} was sealed with key {key_id}, which is not loaded")]
    UnknownKeyId {
        /// The dock.
        dock: String,
        /// The secret's name.
        name: String,
        /// The key id recorded with the ciphertext.
        key_id: String,
    },
    /// Authentication failed: wrong key bytes for the key id, a tampered
    /// ciphertext, or one moved to another (org, dock, name).
    #[error("secret {name} of dock {dock} does not open with key {key_id} (wrong key, tampered, or moved)")]
    Decrypt {
        /// The dock.
        dock: String,
        /// The secret's name.
        name: String,
        /// The key id tried.
        key_id: String,
    },
    /// No secret of that name for that dock.
    #[error("no secret {name} for dock {dock}")]
    NotFound {
        /// The dock.
        dock: String,
        /// The secret's name.
        name: String,
    },
    /// The master key material is unusable (bad format, wrong length).
    #[error("master keys: {0}")]
    BadKey(String),
}

/// Master keys: the current one seals, every one opens what it sealed.
/// `Debug` shows key ids only; key bytes are zeroized on drop.
#[derive(Clone)]
pub struct MasterKeys {
    current: String,
    keys: BTreeMap<String, Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for MasterKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKeys")
            .field("current", &self.current)
            .field("ids", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl MasterKeys {
    /// A keyring whose current key is `key` under `id`.
    pub fn new(id: impl Into<String>, key: [u8; 32]) -> Self {
        let id = id.into();
        let mut keys = BTreeMap::new();
        keys.insert(id.clone(), Zeroizing::new(key));
        MasterKeys { current: id, keys }
    }

    /// A keyring with a fresh random key (tests, first start).
    pub fn generate(id: impl Into<String>) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        Self::new(id, *key)
    }

    /// Add an old key that still opens what it sealed (until rotated out).
    pub fn with_old_key(mut self, id: impl Into<String>, key: [u8; 32]) -> Self {
        self.keys
            .entry(id.into())
            .or_insert_with(|| Zeroizing::new(key));
        self
    }

    /// Make `id` (already loaded) the sealing key.
    pub fn with_current(mut self, id: &str) -> Result<Self, VaultError> {
        if !self.keys.contains_key(id) {
            return Err(VaultError::BadKey(format!("key {id} is not loaded")));
        }
        self.current = id.to_owned();
        Ok(self)
    }

    /// Drop a key (after a rotation). The current key cannot be dropped.
    pub fn without(mut self, id: &str) -> Result<Self, VaultError> {
        if id == self.current {
            return Err(VaultError::BadKey(format!("key {id} is the current key")));
        }
        self.keys.remove(id);
        Ok(self)
    }

    /// Parse `id:base64-of-32-bytes` entries, one per line or separated by
    /// commas; the first is the current key. Blank lines and `#` comments
    /// are skipped.
    pub fn parse(text: &str) -> Result<Self, VaultError> {
        let mut entries = text
            .split([',', '\n'])
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let parse_one = |entry: &str| -> Result<(String, [u8; 32]), VaultError> {
            let (id, b64) = entry
                .split_once(':')
                .ok_or_else(|| VaultError::BadKey("expected id:base64".into()))?;
            let id = id.trim();
            if id.is_empty() || id.chars().any(|c| c.is_control() || c.is_whitespace()) {
                return Err(VaultError::BadKey("bad key id".into()));
            }
            let bytes = Zeroizing::new(
                base64::engine::general_purpose::STANDARD
                    .decode(b64.trim())
                    .map_err(|_| VaultError::BadKey(format!("key {id}: not base64")))?,
            );
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                VaultError::BadKey(format!("key {id}: need 32 bytes, got {}", bytes.len()))
            })?;
            Ok((id.to_owned(), key))
        };
        let first = entries
            .next()
            .ok_or_else(|| VaultError::BadKey("no key given".into()))?;
        let (id, key) = parse_one(first)?;
        let mut keys = MasterKeys::new(id, key);
        for entry in entries {
            let (id, key) = parse_one(entry)?;
            if keys.keys.contains_key(&id) {
                return Err(VaultError::BadKey(format!("key {id} given twice")));
            }
            keys = keys.with_old_key(id, key);
        }
        Ok(keys)
    }

    /// [`parse`](MasterKeys::parse) the environment variable `var`.
    pub fn from_env(var: &str) -> Result<Self, VaultError> {
        let text = Zeroizing::new(
            std::env::var(var).map_err(|_| VaultError::BadKey(format!("{var} is not set")))?,
        );
        Self::parse(&text)
    }

    /// [`parse`](MasterKeys::parse) a file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, VaultError> {
        let path = path.as_ref();
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| {
            VaultError::BadKey(format!("cannot read {}: {}", path.display(), e.kind()))
        })?);
        Self::parse(&text)
    }

    /// The id of the sealing key.
    pub fn current_id(&self) -> &str {
        &self.current
    }

    fn cipher(&self, id: &str) -> Option<Aes256Gcm> {
        self.keys
            .get(id)
            .map(|k| Aes256Gcm::new_from_slice(k.as_slice()).expect("32-byte key"))
    }
}

/// The associated data binding a ciphertext to its owner; length-prefixed so
/// no two (org, dock, name) triples give the same bytes.
fn aad(org: &str, dock: &str, name: &str) -> Vec<u8> {
    let mut out = b"stackdock-vault/v1".to_vec();
    for part in [org, dock, name] {
        out.extend_from_slice(&(part.len() as u64).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

/// Encrypted credentials, by (org, dock, name).
#[async_trait]
pub trait CredentialVault: Send + Sync + fmt::Debug {
    /// Encrypt and store `secret` (replacing one of the same name).
    async fn seal(&self, org: &str, dock: &str, name: &str, secret: &SecretString) -> Result<()>;

    /// Decrypt one secret; audited. Absent is [`VaultError::NotFound`].
    async fn open(&self, org: &str, dock: &str, name: &str) -> Result<SecretString>;

    /// Whether a secret is stored (no decryption).
    async fn contains(&self, org: &str, dock: &str, name: &str) -> Result<bool>;

    /// Re-seal every secret not sealed with the current key; returns how many.
    async fn rotate(&self) -> Result<usize>;

    /// Delete every secret sealed for `dock` in `org` — a removed dock's
    /// credentials — and return how many there were. Audited (`vault_delete`,
    /// resource `secrets:<dock>`), even when there were none.
    async fn delete_dock(&self, org: &str, dock: &str) -> Result<u64>;
}

/// The AES-256-GCM [`CredentialVault`] over a [`Store`].
#[derive(Debug, Clone)]
pub struct AesGcmVault {
    store: Arc<dyn Store>,
    keys: MasterKeys,
    audit: Arc<dyn AuditSink>,
}

impl AesGcmVault {
    /// A vault keeping ciphertexts in `store`, keyed by `keys`, auditing
    /// every decryption to `audit`.
    pub fn new(store: Arc<dyn Store>, keys: MasterKeys, audit: Arc<dyn AuditSink>) -> Self {
        AesGcmVault { store, keys, audit }
    }

    fn seal_with_current(
        &self,
        org: &str,
        dock: &str,
        name: &str,
        plaintext: &[u8],
    ) -> Result<SealedSecret> {
        let cipher = self
            .keys
            .cipher(&self.keys.current)
            .ok_or_else(|| VaultError::BadKey("current key missing".into()))?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let aad = aad(org, dock, name);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| VaultError::BadKey("encryption failed".into()))?;
        Ok(SealedSecret {
            org: org.to_owned(),
            dock: dock.to_owned(),
            name: name.to_owned(),
            key_id: self.keys.current.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
            updated_at: Utc::now(),
        })
    }

    fn decrypt(&self, sealed: &SealedSecret) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let cipher = self
            .keys
            .cipher(&sealed.key_id)
            .ok_or_else(|| VaultError::UnknownKeyId {
                dock: sealed.dock.clone(),
                name: sealed.name.clone(),
                key_id: sealed.key_id.clone(),
            })?;
        let wrong = || VaultError::Decrypt {
            dock: sealed.dock.clone(),
            name: sealed.name.clone(),
            key_id: sealed.key_id.clone(),
        };
        if sealed.nonce.len() != 12 {
            return Err(wrong());
        }
        let aad = aad(&sealed.org, &sealed.dock, &sealed.name);
        cipher
            .decrypt(
                Nonce::from_slice(&sealed.nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| wrong())
    }

    async fn audit_open(
        &self,
        org: &str,
        dock: &str,
        name: &str,
        operation: &str,
        result: Result<(), &VaultError>,
    ) -> Result<()> {
        let ctx = CallContext::current().unwrap_or_default();
        let (outcome, reason) = match result {
            Ok(()) => (AuditOutcome::Succeeded, "decrypted"),
            Err(VaultError::NotFound { .. }) => (AuditOutcome::Failed, "not_found"),
            Err(VaultError::UnknownKeyId { .. }) => (AuditOutcome::Failed, "unknown_key_id"),
            Err(VaultError::Decrypt { .. }) => (AuditOutcome::Failed, "decrypt_failed"),
            Err(VaultError::BadKey(_)) => (AuditOutcome::Failed, "bad_key"),
        };
        let mut entry = AuditEntry::new(
            ctx.actor.unwrap_or_else(|| "system".into()),
            operation,
            outcome,
        );
        entry.org = Some(org.to_owned());
        entry.dock = Some(dock.to_owned());
        entry.resource = Some(format!("secret:{name}"));
        entry.reason = Some(reason.to_owned());
        entry.run_id = ctx.run_id.map(RunId);
        self.audit.record(entry).await
    }
}

#[async_trait]
impl CredentialVault for AesGcmVault {
    async fn seal(&self, org: &str, dock: &str, name: &str, secret: &SecretString) -> Result<()> {
        let sealed = self.seal_with_current(org, dock, name, secret.expose_secret().as_bytes())?;
        self.store.put_secret(&sealed).await
    }

    async fn open(&self, org: &str, dock: &str, name: &str) -> Result<SecretString> {
        let opened = match self.store.get_secret(org, dock, name).await? {
            None => Err(VaultError::NotFound {
                dock: dock.to_owned(),
                name: name.to_owned(),
            }),
            Some(sealed) => self.decrypt(&sealed),
        };
        self.audit_open(org, dock, name, "decrypt", opened.as_ref().map(|_| ()))
            .await?;
        let plaintext = opened?;
        let text = std::str::from_utf8(&plaintext).map_err(|_| VaultError::Decrypt {
            dock: dock.to_owned(),
            name: name.to_owned(),
            key_id: "utf-8".into(),
        })?;
        Ok(SecretString::from(text.to_owned()))
    }

    async fn contains(&self, org: &str, dock: &str, name: &str) -> Result<bool> {
        Ok(self.store.get_secret(org, dock, name).await?.is_some())
    }

    async fn rotate(&self) -> Result<usize> {
        let mut rotated = 0;
        for sealed in self.store.list_secrets().await? {
            if sealed.key_id == self.keys.current {
                continue;
            }
            let opened = self.decrypt(&sealed);
            self.audit_open(
                &sealed.org,
                &sealed.dock,
                &sealed.name,
                "rotate",
                opened.as_ref().map(|_| ()),
            )
            .await?;
            let plaintext = opened?;
            let resealed =
                self.seal_with_current(&sealed.org, &sealed.dock, &sealed.name, &plaintext)?;
            self.store.put_secret(&resealed).await?;
            rotated += 1;
        }
        Ok(rotated)
    }

    async fn delete_dock(&self, org: &str, dock: &str) -> Result<u64> {
        let deleted = self.store.delete_secrets(org, dock).await?;
        let ctx = CallContext::current().unwrap_or_default();
        let mut entry = AuditEntry::new(
            ctx.actor.unwrap_or_else(|| "system".into()),
            "vault_delete",
            AuditOutcome::Succeeded,
        );
        entry.org = Some(org.to_owned());
        entry.dock = Some(dock.to_owned());
        entry.resource = Some(format!("secrets:{dock}"));
        entry.reason = Some("deleted".to_owned());
        entry.message = Some(format!("{deleted} sealed secret(s) deleted"));
        entry.run_id = ctx.run_id.map(RunId);
        self.audit.record(entry).await?;
        Ok(deleted)
    }
}

/// Resolves dock credential references for the dock factory: `vault:KEY`
/// opens secret `KEY` of the dock in `org`'s vault (audited); `env:` and
/// `file:` as [`EnvAndFiles`] does.
#[derive(Debug, Clone)]
pub struct VaultCredentials {
    vault: Arc<dyn CredentialVault>,
    org: String,
}

impl VaultCredentials {
    /// Resolve against `vault` for `org`.
    pub fn new(vault: Arc<dyn CredentialVault>, org: impl Into<String>) -> Self {
        VaultCredentials {
            vault,
            org: org.into(),
        }
    }
}

#[async_trait]
impl CredentialSource for VaultCredentials {
    async fn resolve(
        &self,
        dock: &str,
        key: &str,
        reference: &CredentialRef,
    ) -> stackdock_core::Result<SecretString> {
        match reference {
            CredentialRef::Vault(name) => {
                self.vault.open(&self.org, dock, name).await.map_err(|e| {
                    e.into_core()
                        .with_context("dock", dock)
                        .with_context("credential", key)
                })
            }
            other => EnvAndFiles.resolve(dock, key, other).await,
        }
    }
}
