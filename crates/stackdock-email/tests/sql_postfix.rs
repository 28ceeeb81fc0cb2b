//! Forwarders through the shipped Postfix `pgsql:` maps: the queries run
//! directly (expanded as Postfix does) and through `postmap -q`.

mod support;

use std::process::Command;

use stackdock_core::secret::SecretString;
use stackdock_core::ErrorKind;
use stackdock_email::model::{NewForwarder, NewMailbox, Scope};
use stackdock_email::sql::templates::{expand_postfix_query, ConfigFile};
use stackdock_email::PasswordScheme;
use support::{raw_client, rendered, TestSchema};

/// Run a map's query for `key` the way Postfix would; results sorted.
async fn lookup(map: &ConfigFile, key: &str) -> Vec<String> {
    let Some(sql) = expand_postfix_query(map.postfix_query().unwrap(), key) else {
        return Vec::new();
    };
    let client = raw_client().await;
    let mut out: Vec<String> = client
        .simple_query(&sql)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

/// `postmap -q key pgsql:file`: Postfix's own lookup (comma-joined results).
///
/// Postfix reads `main.cf` before any lookup, and a machine that never had
/// Postfix configured has none. `-c` points it at a private, empty `main.cf`
/// beside the map, so the system's configuration is neither needed nor touched.
/// Exit status 1 means "not found" only when Postfix said nothing: with a
/// message on stderr it is a failure of the tool, never an empty answer.
fn postmap(path: &std::path::Path, key: &str) -> Vec<String> {
    let config_dir = path.parent().expect("map file in a directory");
    let main_cf = config_dir.join("main.cf");
    if !main_cf.exists() {
        std::fs::write(&main_cf, "").unwrap();
    }
    let out = Command::new("postmap")
        .arg("-c")
        .arg(config_dir)
        .arg("-q")
        .arg(key)
        .arg(format!("pgsql:{}", path.display()))
        .output()
        .expect("postmap is installed (postfix-pgsql; scripts/services/dovecot.sh)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => {
            let mut v: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .trim()
                .split(',')
                .map(|s| s.trim().to_owned())
                .collect();
            v.sort();
            v
        }
        Some(1) if stderr.trim().is_empty() => Vec::new(),
        other => panic!("postmap failed ({other:?}): {stderr}"),
    }
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postfix_maps_resolve_forwarders_and_catch_alls() {
    let schema = TestSchema::new();
    let store = schema.store(PasswordScheme::BlfCrypt).await;
    let all = Scope::All;
    let dir = tempfile::tempdir().unwrap();
    let files = rendered(&schema.name, dir.path());
    let map = |name: &str| files.iter().find(|f| f.file_name == name).unwrap().clone();
    let (domains, mailboxes, aliases, email2email) = (
        map("pgsql-virtual-mailbox-domains.cf"),
        map("pgsql-virtual-mailbox-maps.cf"),
        map("pgsql-virtual-alias-maps.cf"),
        map("pgsql-virtual-email2email.cf"),
    );
    for f in &files {
        std::fs::write(dir.path().join(f.file_name), f.contents()).unwrap();
    }
    let alias_cf = dir.path().join("pgsql-virtual-alias-maps.cf");

    store
        .create_mailbox(
            &all,
            &NewMailbox {
                address: "carol@fwd.example.com".into(),
                password: SecretString::from("Carol-Password-1"),
                quota_bytes: None,
                enabled: true,
                tenant: None,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();
    let sales = store
        .create_forwarder(
            &all,
            &NewForwarder {
                source: "Sales@Fwd.Example.com".into(),
                destinations: strings(&["carol@fwd.example.com", "boss@elsewhere.example.org"]),
                enabled: true,
                tenant: None,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();
    assert_eq!(sales.source, "sales@fwd.example.com");
    store
        .create_forwarder(
            &all,
            &NewForwarder {
                source: "@fwd.example.com".into(),
                destinations: strings(&["carol@fwd.example.com"]),
                enabled: true,
                tenant: None,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();

    assert_eq!(lookup(&domains, "fwd.example.com").await, strings(&["1"]));
    assert!(lookup(&domains, "other.example.com").await.is_empty());
    assert_eq!(
        lookup(&mailboxes, "carol@fwd.example.com").await,
        strings(&["1"])
    );
    assert!(lookup(&mailboxes, "sales@fwd.example.com").await.is_empty());
    let both = strings(&["boss@elsewhere.example.org", "carol@fwd.example.com"]);
    assert_eq!(lookup(&aliases, "sales@fwd.example.com").await, both);
    assert_eq!(
        lookup(&aliases, "@fwd.example.com").await,
        strings(&["carol@fwd.example.com"])
    );
    assert_eq!(
        lookup(&email2email, "carol@fwd.example.com").await,
        strings(&["carol@fwd.example.com"])
    );
    // Postfix quotes the key; a hostile key finds nothing and breaks nothing.
    assert!(lookup(&aliases, "x' OR '1'='1").await.is_empty());
    // Postfix itself, through the generated file.
    assert_eq!(postmap(&alias_cf, "sales@fwd.example.com"), both);
    assert_eq!(
        postmap(&alias_cf, "@fwd.example.com"),
        strings(&["carol@fwd.example.com"])
    );
    assert!(postmap(&alias_cf, "nobody@fwd.example.com").is_empty());

    // Add and remove destinations.
    let added = store
        .add_destinations(
            &all,
            "sales@fwd.example.com",
            &strings(&["dave@fwd.example.com"]),
        )
        .await
        .unwrap();
    assert_eq!(added.destinations.len(), 3);
    let removed = store
        .remove_destinations(
            &all,
            "sales@fwd.example.com",
            &strings(&["boss@elsewhere.example.org", "carol@fwd.example.com"]),
        )
        .await
        .unwrap();
    assert_eq!(removed.destinations, strings(&["dave@fwd.example.com"]));
    assert_eq!(
        postmap(&alias_cf, "sales@fwd.example.com"),
        strings(&["dave@fwd.example.com"])
    );
    // The last destination cannot go: delete the forwarder instead. Nothing changes.
    let before = schema.snapshot().await;
    let err = store
        .remove_destinations(
            &all,
            "sales@fwd.example.com",
            &strings(&["dave@fwd.example.com"]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(schema.snapshot().await, before);

    // Disabled forwarders and mailboxes vanish from the maps.
    store
        .set_forwarder_enabled(&all, "sales@fwd.example.com", false)
        .await
        .unwrap();
    assert!(lookup(&aliases, "sales@fwd.example.com").await.is_empty());
    store
        .set_enabled(&all, "carol@fwd.example.com", false)
        .await
        .unwrap();
    assert!(lookup(&mailboxes, "carol@fwd.example.com").await.is_empty());
    assert!(lookup(&email2email, "carol@fwd.example.com")
        .await
        .is_empty());

    // Delete: maps are empty, the domain is gone with its last entry.
    assert!(store
        .delete_forwarder(&all, "sales@fwd.example.com")
        .await
        .unwrap());
    assert!(store
        .delete_forwarder(&all, "@fwd.example.com")
        .await
        .unwrap());
    assert!(!store
        .delete_forwarder(&all, "@fwd.example.com")
        .await
        .unwrap());
    assert!(postmap(&alias_cf, "@fwd.example.com").is_empty());
    assert_eq!(
        lookup(&domains, "fwd.example.com").await,
        strings(&["1"]),
        "carol still holds the domain"
    );
    store
        .delete_mailbox(&all, "carol@fwd.example.com")
        .await
        .unwrap();
    assert!(lookup(&domains, "fwd.example.com").await.is_empty());
    assert!(schema.snapshot().await.is_empty());
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_inputs_are_invalid_and_change_nothing() {
    let schema = TestSchema::new();
    let store = schema.store(PasswordScheme::BlfCrypt).await;
    let all = Scope::All;
    store
        .create_mailbox(
            &all,
            &NewMailbox {
                address: "keep@safe.example.com".into(),
                password: SecretString::from("Keep-Password-1"),
                quota_bytes: None,
                enabled: true,
                tenant: None,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();
    store
        .create_forwarder(
            &all,
            &NewForwarder {
                source: "list@safe.example.com".into(),
                destinations: strings(&["keep@safe.example.com"]),
                enabled: true,
                tenant: None,
                labels: Default::default(),
            },
        )
        .await
        .unwrap();
    let before = schema.snapshot().await;
    let calls_before = store.remote_calls();

    let mut hostile: Vec<String> = stackdock_testkit::hostile_names();
    hostile.extend(strings(&[
        "a'; DROP TABLE virtual_users; --@safe.example.com",
        "keep@safe.example.com'--",
        "keep@safe.example.com\r\nBcc: victim@example.org",
        "keep@safe.example.com\nX-Injected: 1",
        "\"quoted\"@safe.example.com",
        "keep@safe.example.com;DELETE FROM x",
        "keep@safe.example.com%00",
        "%s@safe.example.com",
        "keep@@safe.example.com",
    ]));
    hostile.push(format!("{}@safe.example.com", "a".repeat(65)));
    hostile.push(format!("a@{}.com", "b".repeat(64)));
    hostile.push(format!("a@{}", vec!["b".repeat(60); 5].join(".")));

    for bad in &hostile {
        let m = NewMailbox {
            address: bad.clone(),
            password: SecretString::from("Password-1"),
            quota_bytes: None,
            enabled: true,
            tenant: None,
            labels: Default::default(),
        };
        let invalid = |e: stackdock_core::Error| matches!(e.kind(), ErrorKind::InvalidInput { .. });
        assert!(
            invalid(store.create_mailbox(&all, &m).await.unwrap_err()),
            "create mailbox {bad:?}"
        );
        assert!(
            invalid(
                store
                    .change_password(&all, bad, &SecretString::from("x1"))
                    .await
                    .unwrap_err()
            ),
            "{bad:?}"
        );
        assert!(
            invalid(store.delete_mailbox(&all, bad).await.unwrap_err()),
            "delete {bad:?}"
        );
        let f = NewForwarder {
            source: bad.clone(),
            destinations: strings(&["keep@safe.example.com"]),
            enabled: true,
            tenant: None,
            labels: Default::default(),
        };
        assert!(
            invalid(store.create_forwarder(&all, &f).await.unwrap_err()),
            "create forwarder {bad:?}"
        );
        let f = NewForwarder {
            source: "new@safe.example.com".into(),
            destinations: vec![bad.clone()],
            ..f
        };
        assert!(
            invalid(store.create_forwarder(&all, &f).await.unwrap_err()),
            "destination {bad:?}"
        );
        assert!(
            invalid(
                store
                    .add_destinations(&all, "list@safe.example.com", std::slice::from_ref(bad))
                    .await
                    .unwrap_err()
            ),
            "{bad:?}"
        );
    }
    // Passwords and quotas out of bounds, labels with metacharacters.
    let long_pw = NewMailbox {
        address: "new@safe.example.com".into(),
        password: SecretString::from("x".repeat(73)),
        quota_bytes: None,
        enabled: true,
        tenant: None,
        labels: Default::default(),
    };
    assert!(matches!(
        store
            .create_mailbox(&all, &long_pw)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput { .. }
    ));
    let nul_pw = NewMailbox {
        password: SecretString::from("a\0b"),
        ..long_pw.clone()
    };
    assert!(matches!(
        store
            .create_mailbox(&all, &nul_pw)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidInput { .. }
    ));
    let quota = NewMailbox {
        password: SecretString::from("Fine-1"),
        quota_bytes: Some(u64::MAX),
        ..long_pw.clone()
    };
    assert!(matches!(
        store.create_mailbox(&all, &quota).await.unwrap_err().kind(),
        ErrorKind::InvalidInput { .. }
    ));
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("k'); --".to_owned(), "v".to_owned());
    let label = NewMailbox {
        password: SecretString::from("Fine-1"),
        labels,
        ..long_pw.clone()
    };
    assert!(matches!(
        store.create_mailbox(&all, &label).await.unwrap_err().kind(),
        ErrorKind::InvalidInput { .. }
    ));
    assert!(Scope::tenant("t'; DROP SCHEMA x; --\r\n").is_err());

    assert_eq!(
        store.remote_calls(),
        calls_before,
        "all rejected before touching the database"
    );
    assert_eq!(schema.snapshot().await, before, "table contents unchanged");
    schema.cleanup().await;
}
