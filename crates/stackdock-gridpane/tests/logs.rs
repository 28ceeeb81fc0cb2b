//! Nothing secret reaches the logs, even at TRACE level.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use stackdock_core::secret::SecretString;
use stackdock_core::spec::ServerSpec;
use stackdock_core::{DockAdapter, ResourceId, ResourceKind};
use stackdock_gridpane::{NewSystemUser, SystemUserUpdate};

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn trace_logs_hold_no_secrets() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (_fake, _server, adapter) = common::start_adapter().await;
    let client = adapter.client();
    let user = client
        .create_system_user(&NewSystemUser {
            username: "logcheck".into(),
            server_id: 29330,
            password: SecretString::from("Log-Check-Passw0rd".to_owned()),
            ssh_public_key: None,
        })
        .await
        .unwrap();
    client
        .update_system_user(
            user.id,
            &SystemUserUpdate {
                password: Some(SecretString::from("Log-Check-Rotated1".to_owned())),
                ssh_public_key: None,
            },
        )
        .await
        .unwrap();
    client.list_system_users().await.unwrap();
    adapter
        .create(
            &ServerSpec {
                name: "log-byo".into(),
                region: Some("Ashburn - VA".into()),
                ipv4: Some("203.0.113.77".into()),
                ..Default::default()
            }
            .into(),
        )
        .await
        .unwrap();
    adapter
        .observe(&ResourceId::new(ResourceKind::Domain, "464433"), None)
        .await
        .unwrap();

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("system-user"),
        "the requests were logged: {logs}"
    );
    for secret in [
        "Log-Check-Passw0rd",
        "Log-Check-Rotated1",
        "fixture-plaintext-pw",
        common::INSTALL_TOKEN,
        common::TOKEN,
        "fixture-dns-api-token",
        "fake-callback-token",
    ] {
        assert!(!logs.contains(secret), "{secret} leaked into the logs");
    }
}
