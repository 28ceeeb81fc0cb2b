//! Password hashes never reach logs, not even the driver's DEBUG lines that
//! `tracing-log` forwards to `tracing` (its own binary: the subscriber is global).

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use stackdock_core::secret::SecretString;
use stackdock_email::model::{MailboxChange, NewMailbox, Scope};
use stackdock_email::PasswordScheme;
use support::{raw_client, TestSchema};

/// Everything every subscriber line wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The stored `{SCHEME}hash` of `address`, read past the crate.
async fn stored_hash(schema: &TestSchema, address: &str) -> String {
    let sql = format!(
        "SELECT password FROM \"{}\".virtual_users WHERE email = $1",
        schema.name
    );
    raw_client()
        .await
        .query_one(&sql, &[&address])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn debug_logs_carry_no_password_hash() {
    let logs = Captured::default();
    let writer = logs.clone();
    // Installs `tracing-log` too: the driver's `log` records arrive here.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .try_init()
        .unwrap();

    let schema = TestSchema::new();
    let mut hashes = Vec::new();
    for (i, scheme) in PasswordScheme::ALL.into_iter().enumerate() {
        let store = schema.store(scheme).await;
        let address = format!("user{i}@logs.example.com");
        let new = NewMailbox {
            address: address.clone(),
            password: SecretString::from("Logged-Password-1"),
            quota_bytes: None,
            enabled: true,
            tenant: None,
            labels: Default::default(),
        };
        store.create_mailbox(&Scope::All, &new).await.unwrap();
        hashes.push(stored_hash(&schema, &address).await);
        store.create_mailbox(&Scope::All, &new).await.unwrap(); // adopts: reads the hash
        let change = MailboxChange {
            password: Some(SecretString::from("Logged-Password-2")),
            ..Default::default()
        };
        store
            .update_mailbox(&Scope::All, &address, &change)
            .await
            .unwrap();
        hashes.push(stored_hash(&schema, &address).await);
    }
    schema.cleanup().await;

    let text = logs.text();
    // The test can only fail if the driver's parameter lines were captured.
    assert!(text.contains("executing statement"), "{text}");
    assert!(text.contains("stackdock_email::audit"), "{text}");
    for hash in &hashes {
        let crypt = hash.split_once('}').unwrap().1;
        assert!(!text.contains(crypt), "a password hash reached the logs");
    }
    for leak in [
        "{BLF-CRYPT}",
        "{SHA512-CRYPT}",
        "{ARGON2ID}",
        "Logged-Password",
    ] {
        assert!(!text.contains(leak), "{leak} reached the logs");
    }
}
