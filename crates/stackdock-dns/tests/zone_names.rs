//! Zone names reaching a backend are validated before any I/O: nothing
//! outside the zone directory is read or deleted, and nothing is sent.

use stackdock_core::dns::RecordData;
use stackdock_core::ErrorKind;
use stackdock_dns::model::RecordSet;
use stackdock_dns::plan::Change;
use stackdock_dns::{DnsBackend, PowerDnsClient, PowerDnsConfig, ZoneFileBackend};

/// Names that would escape a directory or a URL path if used as they are.
fn hostile_names(outside: &str) -> Vec<String> {
    vec![
        "../outside/victim".into(),
        "../x".into(),
        "..".into(),
        outside.into(),
        "/etc/passwd".into(),
        "a/b".into(),
        "a\\b.example".into(),
        "%2e%2e".into(),
        "%2e%2e/victim.example".into(),
        "".into(),
    ]
}

fn a_change() -> Vec<Change> {
    let set = RecordSet::new(
        "victim.example",
        "www",
        300,
        vec![RecordData::A {
            address: "192.0.2.1".parse().unwrap(),
        }],
    )
    .unwrap();
    vec![Change::Add(set)]
}

async fn every_entry_point_refuses(backend: &dyn DnsBackend, name: &str) {
    let invalid = |what: &str, kind: &ErrorKind| {
        assert!(
            matches!(kind, ErrorKind::InvalidInput { .. }),
            "{what}({name:?}) gave {kind:?}"
        )
    };
    invalid("get_zone", backend.get_zone(name).await.unwrap_err().kind());
    invalid(
        "get_zone_at",
        backend.get_zone_at(name, &[name]).await.unwrap_err().kind(),
    );
    invalid(
        "delete_zone",
        backend.delete_zone(name).await.unwrap_err().kind(),
    );
    invalid(
        "apply_changes",
        backend
            .apply_changes(name, &a_change())
            .await
            .unwrap_err()
            .kind(),
    );
    invalid(
        "apply_changes (empty)",
        backend.apply_changes(name, &[]).await.unwrap_err().kind(),
    );
    let mut zone = stackdock_dns::Zone::new("victim.example").unwrap();
    zone.name = name.to_owned();
    invalid(
        "create_zone",
        backend.create_zone(&zone).await.unwrap_err().kind(),
    );
}

#[tokio::test]
async fn zone_file_backend_never_leaves_its_directory() {
    let root = tempfile::tempdir().unwrap();
    let zones = root.path().join("zones");
    let outside = root.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    // A valid zone file outside the zone directory, and one named like an absolute path.
    let victim = outside.join("victim.zone");
    let text = "$ORIGIN victim.\n$TTL 60\n@ IN SOA ns1 hostmaster 1 2 3 4 5\n";
    std::fs::write(&victim, text).unwrap();
    let absolute = outside.join("victim");
    std::fs::write(outside.join("victim.zone.zone"), text).unwrap();
    let backend = ZoneFileBackend::new(&zones).unwrap();
    for name in hostile_names(absolute.to_str().unwrap()) {
        every_entry_point_refuses(&backend, &name).await;
    }
    assert_eq!(
        std::fs::read_to_string(&victim).unwrap(),
        text,
        "victim untouched"
    );
    assert!(outside.join("victim.zone.zone").exists());
    assert_eq!(backend.remote_calls(), 0, "refused before any file access");
    assert!(
        std::fs::read_dir(&zones).unwrap().next().is_none(),
        "nothing written"
    );
}

#[tokio::test]
async fn powerdns_client_sends_nothing_for_a_bad_zone_name() {
    // Nothing listens here: a request would fail with a connection error, not InvalidInput.
    let client = PowerDnsClient::new(PowerDnsConfig::new("http://127.0.0.1:9", "key")).unwrap();
    for name in hostile_names("/tmp/victim") {
        every_entry_point_refuses(&client, &name).await;
    }
    assert_eq!(client.remote_calls(), 0);
}
