//! `PostfixDovecotAdapter` through the universal interface, on real
//! PostgreSQL (the shared conformance suite is in `conformance.rs`).

mod support;

use stackdock_core::spec::{MailForwarderSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{
    DockAdapter, DockAdapterExt, ErrorKind, ListOptions, ResourceId, ResourceKind, ResourceStatus,
};
use stackdock_email::sql::PostfixDovecotAdapter;
use support::{Dovecot, TestSchema};

fn mailbox(address: &str, password: Option<&str>, quota: Option<u64>) -> MailboxSpec {
    MailboxSpec {
        address: address.into(),
        password: password.map(|p| p.to_owned().into()),
        quota_bytes: quota,
        ..Default::default()
    }
}

fn forwarder(source: &str, destinations: &[&str]) -> MailForwarderSpec {
    MailForwarderSpec {
        source: source.into(),
        destinations: destinations.iter().map(|d| d.to_string()).collect(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_authenticate_forward_delete_through_the_adapter() {
    let schema = TestSchema::new();
    let adapter = PostfixDovecotAdapter::connect("mail-e2e", schema.config())
        .await
        .unwrap();
    let dovecot = Dovecot::start(&schema.name);

    let created = adapter
        .create(&ResourceSpec::from(mailbox(
            "Erin@E2E.example.com",
            Some("Erin-Password-1"),
            Some(1 << 30),
        )))
        .await
        .unwrap();
    assert_eq!(
        created.id(),
        ResourceId::new(ResourceKind::Mailbox, "erin@e2e.example.com")
    );
    assert_eq!(created.meta().status, ResourceStatus::Active);
    assert!(
        !serde_json::to_string(&created).unwrap().contains("$2y$"),
        "no hash in the resource"
    );
    assert!(
        dovecot
            .auth_async("erin@e2e.example.com", "Erin-Password-1")
            .await
    );

    let fwd = adapter
        .create(&ResourceSpec::from(forwarder(
            "@e2e.example.com",
            &["erin@e2e.example.com"],
        )))
        .await
        .unwrap();
    assert_eq!(fwd.id().id, "@e2e.example.com");

    // Update: new password, disable.
    let spec = MailboxSpec {
        enabled: false,
        ..mailbox("erin@e2e.example.com", Some("Erin-Password-2"), None)
    };
    let updated = adapter
        .update(&created.id(), &ResourceSpec::from(spec))
        .await
        .unwrap();
    assert_eq!(updated.meta().status, ResourceStatus::Suspended);
    if let stackdock_core::Resource::Mailbox(m) = &updated {
        assert_eq!(
            m.quota_bytes,
            Some(1 << 30),
            "quota None on update keeps it"
        );
    }
    assert!(
        !dovecot
            .auth_async("erin@e2e.example.com", "Erin-Password-2")
            .await,
        "disabled"
    );
    let spec = mailbox("erin@e2e.example.com", None, None);
    adapter
        .update(&created.id(), &ResourceSpec::from(spec))
        .await
        .unwrap();
    assert!(
        dovecot
            .auth_async("erin@e2e.example.com", "Erin-Password-2")
            .await,
        "enabled, new password kept"
    );
    assert!(
        !dovecot
            .auth_async("erin@e2e.example.com", "Erin-Password-1")
            .await,
        "old password gone"
    );

    // Renaming through update is refused.
    let err = adapter
        .update(
            &created.id(),
            &ResourceSpec::from(mailbox("other@e2e.example.com", None, None)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));

    // IDN domains are stored (and authenticate) in punycode.
    let idn = adapter
        .create(&ResourceSpec::from(mailbox(
            "Info@Bücher.example",
            Some("Idn-Password-1"),
            None,
        )))
        .await
        .unwrap();
    assert_eq!(idn.id().id, "info@xn--bcher-kva.example");
    assert!(
        dovecot
            .auth_async("info@xn--bcher-kva.example", "Idn-Password-1")
            .await
    );
    adapter.delete(&idn.id()).await.unwrap();

    adapter.delete(&fwd.id()).await.unwrap();
    adapter.delete(&created.id()).await.unwrap();
    assert!(
        !dovecot
            .auth_async("erin@e2e.example.com", "Erin-Password-2")
            .await,
        "deleted"
    );
    assert!(schema.snapshot().await.is_empty());
    drop(dovecot);
    schema.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_pages_filters_and_isolates_tenants() {
    let schema = TestSchema::new();
    let operator = PostfixDovecotAdapter::connect("ops", schema.config())
        .await
        .unwrap();
    let acme = PostfixDovecotAdapter::connect("acme", schema.config().with_tenant("acme"))
        .await
        .unwrap();
    let globex = PostfixDovecotAdapter::connect("globex", schema.config().with_tenant("globex"))
        .await
        .unwrap();

    for i in 0..5 {
        let mut spec = mailbox(
            &format!("user{i}@acme.example.com"),
            Some("Acme-Password-1"),
            None,
        );
        if i % 2 == 0 {
            spec.common.labels.insert("plan".into(), "pro".into());
        }
        acme.create(&ResourceSpec::from(spec)).await.unwrap();
    }
    globex
        .create(&ResourceSpec::from(mailbox(
            "user@globex.example.com",
            Some("Globex-Password-1"),
            None,
        )))
        .await
        .unwrap();

    let paged = ListOptions {
        page_size: Some(2),
        ..Default::default()
    };
    let mine = acme.list_all(ResourceKind::Mailbox, &paged).await.unwrap();
    assert_eq!(mine.len(), 5);
    assert!(mine
        .iter()
        .all(|r| r.meta().tenant.as_deref() == Some("acme")));
    let first = acme.list(ResourceKind::Mailbox, &paged).await.unwrap();
    assert_eq!(first.items.len(), 2);
    assert!(first.next_cursor.is_some());

    assert_eq!(
        operator
            .list_all(ResourceKind::Mailbox, &paged)
            .await
            .unwrap()
            .len(),
        6
    );
    let by_domain = operator
        .list_all(
            ResourceKind::Mailbox,
            &ListOptions::in_parent("globex.example.com"),
        )
        .await
        .unwrap();
    assert_eq!(by_domain.len(), 1);
    let by_tenant = operator
        .list_all(ResourceKind::Mailbox, &ListOptions::for_tenant("acme"))
        .await
        .unwrap();
    assert_eq!(by_tenant.len(), 5);
    let mut labelled = ListOptions::default();
    labelled.labels.insert("plan".into(), "pro".into());
    assert_eq!(
        acme.list_all(ResourceKind::Mailbox, &labelled)
            .await
            .unwrap()
            .len(),
        3
    );

    // Globex neither sees nor touches Acme.
    assert!(globex
        .list_all(ResourceKind::Mailbox, &ListOptions::for_tenant("acme"))
        .await
        .unwrap()
        .is_empty());
    let acme_id = ResourceId::new(ResourceKind::Mailbox, "user0@acme.example.com");
    assert!(!globex.observe(&acme_id, None).await.unwrap().exists());
    globex.delete(&acme_id).await.unwrap();
    assert!(
        acme.observe(&acme_id, None).await.unwrap().exists(),
        "globex's delete did nothing"
    );
    let err = globex
        .update(
            &acme_id,
            &ResourceSpec::from(mailbox("user0@acme.example.com", Some("Stolen-1"), None)),
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = globex
        .create(&ResourceSpec::from(mailbox(
            "user0@acme.example.com",
            Some("Acme-Password-1"),
            None,
        )))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::AlreadyExists);

    let err = operator
        .list(ResourceKind::Mailbox, &ListOptions::in_parent("x'; --"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
    schema.cleanup().await;
}
