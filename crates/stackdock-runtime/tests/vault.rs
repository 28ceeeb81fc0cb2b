//! The AES-256-GCM vault: round trip, AAD binding, wrong / unknown keys,
//! rotation, audited decryptions, keys from env and file.

use std::sync::Arc;

use stackdock_core::factory::{CredentialRef, CredentialSource};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_runtime::audit::StoreAudit;
use stackdock_runtime::model::{AuditOutcome, AuditQuery};
use stackdock_runtime::store::{MemoryStore, SqliteStore, Store};
use stackdock_runtime::vault::{
    AesGcmVault, CredentialVault, MasterKeys, VaultCredentials, VaultError,
};
use stackdock_runtime::Error;

fn vault(store: &Arc<dyn Store>, keys: MasterKeys) -> AesGcmVault {
    AesGcmVault::new(
        store.clone(),
        keys,
        Arc::new(StoreAudit::new(store.clone())),
    )
}

const SENTINEL: &str = "S3NTINEL-vault-secret-42";

#[tokio::test]
async fn round_trip_with_fresh_nonces_and_no_plaintext_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let v = vault(&store, MasterKeys::generate("k1"));
    v.seal("acme", "pg", "password", &SecretString::from(SENTINEL))
        .await
        .unwrap();
    let first = store
        .get_secret("acme", "pg", "password")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.key_id, "k1");
    assert_eq!(first.nonce.len(), 12);
    assert_eq!(
        v.open("acme", "pg", "password")
            .await
            .unwrap()
            .expose_secret(),
        SENTINEL
    );
    v.seal("acme", "pg", "password", &SecretString::from(SENTINEL))
        .await
        .unwrap();
    let second = store
        .get_secret("acme", "pg", "password")
        .await
        .unwrap()
        .unwrap();
    assert_ne!(first.nonce, second.nonce, "a fresh nonce per seal");
    assert_ne!(first.ciphertext, second.ciphertext);
    store_has_no(&dir, SENTINEL);
    assert!(!format!("{v:?}").contains(SENTINEL));
}

fn store_has_no(dir: &tempfile::TempDir, needle: &str) {
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "the state directory holds a plaintext secret"
        );
    }
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_dock_org_or_name_does_not_open() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let v = vault(&store, MasterKeys::generate("k1"));
    v.seal("acme", "pg-a", "password", &SecretString::from(SENTINEL))
        .await
        .unwrap();
    let sealed = store
        .get_secret("acme", "pg-a", "password")
        .await
        .unwrap()
        .unwrap();
    for (org, dock, name) in [
        ("acme", "pg-b", "password"),
        ("other", "pg-a", "password"),
        ("acme", "pg-a", "token"),
    ] {
        let moved = stackdock_runtime::model::SealedSecret {
            org: org.into(),
            dock: dock.into(),
            name: name.into(),
            ..sealed.clone()
        };
        store.put_secret(&moved).await.unwrap();
        match v.open(org, dock, name).await {
            Err(Error::Vault(VaultError::Decrypt { key_id, .. })) => assert_eq!(key_id, "k1"),
            other => panic!("a moved ciphertext must not open: {other:?}"),
        }
    }
    let mut tampered = sealed.clone();
    tampered.ciphertext[0] ^= 1;
    store.put_secret(&tampered).await.unwrap();
    assert!(matches!(
        v.open("acme", "pg-a", "password").await,
        Err(Error::Vault(VaultError::Decrypt { .. }))
    ));
}

#[tokio::test]
async fn wrong_and_unknown_keys_are_typed_errors() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    vault(&store, MasterKeys::new("k1", [7; 32]))
        .seal("acme", "pg", "password", &SecretString::from(SENTINEL))
        .await
        .unwrap();
    let wrong = vault(&store, MasterKeys::new("k1", [8; 32]));
    assert!(matches!(
        wrong.open("acme", "pg", "password").await,
        Err(Error::Vault(VaultError::Decrypt { .. }))
    ));
    let unknown = vault(&store, MasterKeys::new("k2", [7; 32]));
    match unknown.open("acme", "pg", "password").await {
        Err(Error::Vault(VaultError::UnknownKeyId { key_id, .. })) => assert_eq!(key_id, "k1"),
        other => panic!("expected UnknownKeyId, got {other:?}"),
    }
    assert!(matches!(
        unknown.open("acme", "pg", "absent").await,
        Err(Error::Vault(VaultError::NotFound { .. }))
    ));
    // Every decryption attempt is audited, failures included, never with the value.
    let audit = store
        .list_audit(&AuditQuery {
            operation: Some("decrypt".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let reasons: Vec<_> = audit
        .iter()
        .map(|e| (e.outcome, e.reason.clone().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (AuditOutcome::Failed, "decrypt_failed".to_owned()),
            (AuditOutcome::Failed, "unknown_key_id".to_owned()),
            (AuditOutcome::Failed, "not_found".to_owned()),
        ]
    );
    assert!(audit
        .iter()
        .all(|e| e.dock.as_deref() == Some("pg") && !format!("{e:?}").contains(SENTINEL)));
}

#[tokio::test]
async fn rotation_reseals_with_the_new_key_and_the_old_key_can_then_go() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let old = vault(&store, MasterKeys::new("k1", [1; 32]));
    for dock in ["pg", "dns", "mail"] {
        old.seal(
            "acme",
            dock,
            "password",
            &SecretString::from(format!("{SENTINEL}-{dock}")),
        )
        .await
        .unwrap();
    }
    // The new keyring: k2 seals, k1 still opens.
    let both = vault(
        &store,
        MasterKeys::new("k2", [2; 32]).with_old_key("k1", [1; 32]),
    );
    assert_eq!(
        both.open("acme", "dns", "password")
            .await
            .unwrap()
            .expose_secret(),
        format!("{SENTINEL}-dns")
    );
    assert_eq!(both.rotate().await.unwrap(), 3);
    assert_eq!(both.rotate().await.unwrap(), 0, "rotation is idempotent");
    assert!(store
        .list_secrets()
        .await
        .unwrap()
        .iter()
        .all(|s| s.key_id == "k2"));
    let new_only = vault(
        &store,
        MasterKeys::new("k2", [2; 32])
            .with_old_key("k1", [1; 32])
            .without("k1")
            .unwrap(),
    );
    for dock in ["pg", "dns", "mail"] {
        assert_eq!(
            new_only
                .open("acme", dock, "password")
                .await
                .unwrap()
                .expose_secret(),
            format!("{SENTINEL}-{dock}")
        );
    }
    assert!(matches!(
        old.open("acme", "pg", "password").await,
        Err(Error::Vault(VaultError::UnknownKeyId { .. }))
    ));
    let rotations = store
        .list_audit(&AuditQuery {
            operation: Some("rotate".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rotations.len(), 3);
}

#[tokio::test]
async fn master_keys_from_env_and_file_never_print() {
    let b64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE="; // 32 × 0x01
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        format!(
            "# keys\nk2:{}\nk1:{b64}\n",
            "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI="
        ),
    )
    .unwrap();
    let keys = MasterKeys::from_file(file.path()).unwrap();
    assert_eq!(keys.current_id(), "k2");
    assert!(!format!("{keys:?}").contains(b64));
    std::env::set_var("STACKDOCK_TEST_VAULT_KEYS", format!("k1:{b64}"));
    assert_eq!(
        MasterKeys::from_env("STACKDOCK_TEST_VAULT_KEYS")
            .unwrap()
            .current_id(),
        "k1"
    );
    assert!(matches!(
        MasterKeys::parse("k1:AAAA"),
        Err(VaultError::BadKey(_))
    ));
    assert!(matches!(MasterKeys::parse(""), Err(VaultError::BadKey(_))));
    assert!(matches!(
        MasterKeys::from_env("STACKDOCK_TEST_UNSET_VAR"),
        Err(VaultError::BadKey(_))
    ));

    // Same bytes as `vault(…, MasterKeys::new("k1", [1; 32]))`.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    vault(&store, MasterKeys::new("k1", [1; 32]))
        .seal("o", "d", "n", &SecretString::from("x"))
        .await
        .unwrap();
    let from_text = vault(&store, MasterKeys::parse(&format!("k1:{b64}")).unwrap());
    assert_eq!(
        from_text.open("o", "d", "n").await.unwrap().expose_secret(),
        "x"
    );
}

#[tokio::test]
async fn vault_references_resolve_for_the_dock_factory() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let v: Arc<dyn CredentialVault> = Arc::new(vault(&store, MasterKeys::generate("k1")));
    v.seal("acme", "pg-eu", "admin", &SecretString::from(SENTINEL))
        .await
        .unwrap();
    let source = VaultCredentials::new(v, "acme");
    let got = source
        .resolve("pg-eu", "password", &CredentialRef::Vault("admin".into()))
        .await
        .unwrap();
    assert_eq!(got.expose_secret(), SENTINEL);
    let err = source
        .resolve("pg-us", "password", &CredentialRef::Vault("admin".into()))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pg-us") && !err.to_string().contains(SENTINEL));
    std::env::set_var("STACKDOCK_TEST_ENV_CRED", "from-env");
    let env = source
        .resolve(
            "pg-eu",
            "password",
            &CredentialRef::Env("STACKDOCK_TEST_ENV_CRED".into()),
        )
        .await
        .unwrap();
    assert_eq!(env.expose_secret(), "from-env");
}

#[tokio::test]
async fn deleting_a_dock_deletes_its_ciphertexts_only_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(dir.path()).await.unwrap());
    let v = vault(&store, MasterKeys::generate("k1"));
    for (dock, name) in [("pg", "password"), ("pg", "url"), ("dns", "api_key")] {
        v.seal("@docks", dock, name, &SecretString::from(SENTINEL))
            .await
            .unwrap();
    }
    assert_eq!(v.delete_dock("@docks", "pg").await.unwrap(), 2);
    assert!(!v.contains("@docks", "pg", "password").await.unwrap());
    assert!(matches!(
        v.open("@docks", "pg", "url").await,
        Err(Error::Vault(VaultError::NotFound { .. }))
    ));
    assert!(v.contains("@docks", "dns", "api_key").await.unwrap());
    let remaining: Vec<_> = store.list_secrets().await.unwrap();
    assert_eq!(remaining.len(), 1);

    let deletes = store
        .list_audit(&AuditQuery {
            operation: Some("vault_delete".into()),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(deletes.len(), 1);
    assert_eq!(deletes[0].dock.as_deref(), Some("pg"));
    assert_eq!(deletes[0].outcome, AuditOutcome::Succeeded);
    assert!(!format!("{deletes:?}").contains(SENTINEL));
}
