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

/// A valid zone name of exactly `len` bytes ending in `.example`.
fn zone_of_len(len: usize, last: char) -> String {
    let mut labels = Vec::new();
    let mut left = len - ".example".len();
    while left > 0 {
        let n = left.min(63);
        labels.push("z".repeat(n));
        left -= n;
        left = left.saturating_sub(1); // the dot before the next label
    }
    let mut name = format!("{}.example", labels.join("."));
    // Vary one byte near the end: same long prefix, different zones.
    let at = name.len() - ".example".len() - 1;
    name.replace_range(at..=at, &last.to_string());
    assert_eq!(name.len(), len);
    name
}

/// A zone with only an SOA and NS outside it (`ns1.<zone>` would be too long).
fn small_zone(name: &str) -> stackdock_dns::Zone {
    let mut template =
        stackdock_dns::ZoneTemplate::disabled().with_nameservers(vec!["ns1.example.net".into()]);
    template.hostmaster = "hostmaster.example.net".into();
    template.build(name, 1).unwrap()
}

#[tokio::test]
async fn longest_zone_names_are_stored() {
    use stackdock_dns::{Dns, PlanOptions};
    let dir = tempfile::tempdir().unwrap();
    let dns = Dns::new(ZoneFileBackend::new(dir.path()).unwrap());
    let names: Vec<String> = [(250, 'a'), (251, 'a'), (252, 'a'), (253, 'a'), (253, 'b')]
        .into_iter()
        .map(|(len, last)| zone_of_len(len, last))
        .collect();
    for name in &names {
        let desired = small_zone(name);
        dns.converge(&desired, &PlanOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{} bytes: {e}", name.len()));
        let again = dns.plan(&desired, &PlanOptions::default()).await.unwrap();
        assert!(again.is_empty(), "{again}");
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let file = entry.unwrap().file_name();
        assert!(file.len() <= 255, "{file:?}");
    }
    let listed: Vec<String> = dns
        .backend()
        .list_zones(None)
        .await
        .unwrap()
        .into_iter()
        .map(|z| z.name)
        .collect();
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(listed, expected);
    for name in &names {
        assert!(dns.backend().delete_zone(name).await.unwrap(), "{name}");
        assert!(dns.backend().get_zone(name).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn a_shortened_file_holding_another_zone_is_never_used() {
    use stackdock_dns::zonefile;
    let dir = tempfile::tempdir().unwrap();
    let backend = ZoneFileBackend::new(dir.path()).unwrap();
    let (mine, other) = (zone_of_len(253, 'a'), zone_of_len(253, 'b'));
    let zone = small_zone(&other);
    backend.create_zone(&zone).await.unwrap();
    // As if the two shortened names collided: other's file under mine's name.
    let (from, to) = (
        zonefile::path_for(dir.path(), &other).unwrap(),
        zonefile::path_for(dir.path(), &mine).unwrap(),
    );
    std::fs::copy(&from, &to).unwrap();
    let err = backend.get_zone(&mine).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    let err = backend.delete_zone(&mine).await.unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Conflict, "{err}");
    assert!(to.exists(), "not deleted");
    let listed = backend.list_zones(None).await.unwrap();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].name, other);
}
