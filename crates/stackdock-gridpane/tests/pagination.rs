//! Listings follow every page (Laravel `meta.last_page`, `total_pages` or
//! `links.next`) and never stop early.

mod common;

use serde_json::{json, Value};
use stackdock_core::{DockAdapter, DockAdapterExt, ListOptions, ResourceKind};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use common::FakeGridPane;

/// Add `n` copies of the first fixture item of a collection, with fresh ids.
fn grow(fake: &FakeGridPane, n: u64) {
    let mut s = fake.lock();
    let server = s.servers.values().next().unwrap().clone();
    let site = s.sites.values().next().unwrap().clone();
    let domain = s.domains.values().next().unwrap().clone();
    let user = s.users.values().next().unwrap().clone();
    for i in 0..n {
        let id = 700_000 + i;
        let mut v = server.clone();
        v["id"] = json!(id);
        v["label"] = json!(format!("bulk-{i}"));
        s.servers.insert(id, v);
        let mut v = site.clone();
        v["id"] = json!(id);
        v["url"] = json!(format!("bulk-{i}.example.com"));
        s.sites.insert(id, v);
        let mut v = domain.clone();
        v["id"] = json!(id);
        v["url"] = json!(format!("bulk-{i}.example.com"));
        s.domains.insert(id, v);
        let mut v = user.clone();
        v["id"] = json!(id);
        v["username"] = json!(format!("bulk{i}"));
        s.users.insert(id, v);
    }
}

fn pages_requested(fake: &FakeGridPane, prefix: &str) -> Vec<String> {
    fake.take_requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| r.path)
        .collect()
}

#[tokio::test]
async fn every_adapter_listing_reads_all_pages() {
    let fake = FakeGridPane::seeded();
    grow(&fake, 23);
    let server = fake.start().await;
    let adapter =
        stackdock_gridpane::GridPaneAdapter::new(common::config_for(&server).with_per_page(5))
            .unwrap();

    let servers = adapter
        .list_all(ResourceKind::Server, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(servers.len(), 3 + 23);
    let pages = pages_requested(&fake, "/oauth/api/v1/server");
    assert_eq!(pages.len(), 6, "{pages:?}");
    assert_eq!(pages[5], "/oauth/api/v1/server?page=6&per_page=5");

    let sites = adapter
        .list_all(ResourceKind::WebService, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(sites.len(), 3 + 23);
    assert_eq!(pages_requested(&fake, "/oauth/api/v1/site").len(), 6);

    let domains = adapter
        .list_all(ResourceKind::Domain, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(domains.len(), 4 + 23);
    assert_eq!(pages_requested(&fake, "/oauth/api/v1/domain").len(), 6);

    // Filtered by parent (a site): client-side, still across every page.
    let of_site = adapter
        .list_all(ResourceKind::Domain, &ListOptions::in_parent("425622"))
        .await
        .unwrap();
    assert_eq!(
        of_site.len(),
        2 + 23,
        "bulk copies belong to the first fixture's site"
    );

    // No duplicates across page boundaries.
    let mut ids: Vec<_> = servers.iter().map(|r| r.id()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), servers.len());
}

#[tokio::test]
async fn system_users_read_all_pages() {
    let fake = FakeGridPane::seeded();
    grow(&fake, 11);
    let server = fake.start().await;
    let client =
        stackdock_gridpane::GridPaneClient::new(common::config_for(&server).with_per_page(4))
            .unwrap();
    let users = client.list_system_users().await.unwrap();
    assert_eq!(users.len(), 2 + 11);
    assert_eq!(pages_requested(&fake, "/oauth/api/v1/system-user").len(), 4);
    let first = client.system_users_page(1, Some(4)).await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.next_page, Some(2));
}

#[tokio::test]
async fn one_page_at_a_time_with_cursor() {
    let fake = FakeGridPane::seeded();
    grow(&fake, 3);
    let server = fake.start().await;
    let adapter = stackdock_gridpane::GridPaneAdapter::new(common::config_for(&server)).unwrap();
    let options = ListOptions {
        page_size: Some(4),
        ..Default::default()
    };
    let first = adapter.list(ResourceKind::Server, &options).await.unwrap();
    assert_eq!(first.items.len(), 4);
    assert_eq!(first.next_cursor.as_deref(), Some("2"));
    let second = adapter
        .list(
            ResourceKind::Server,
            &ListOptions {
                cursor: first.next_cursor.clone(),
                ..options.clone()
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_cursor, None);
    let bad = adapter
        .list(
            ResourceKind::Server,
            &ListOptions {
                cursor: Some("page-two".into()),
                ..options
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(
        bad.kind(),
        stackdock_core::ErrorKind::InvalidInput { .. }
    ));
    // GridPane keeps no tenants or labels: behind the standard layers (as
    // every registry dock is) such filters are Unsupported, without a request,
    // never a silently empty page.
    let dock = stackdock_core::layer::standard(std::sync::Arc::new(adapter));
    let before = fake.calls();
    let mut by_label = ListOptions::default();
    by_label.labels.insert("team".into(), "a".into());
    for filter in [ListOptions::for_tenant("acme"), by_label] {
        let e = dock.list(ResourceKind::Server, &filter).await.unwrap_err();
        assert!(
            matches!(e.kind(), stackdock_core::ErrorKind::Unsupported { .. }),
            "{e}"
        );
    }
    // Servers have no parent: a parent filter is refused, not ignored.
    let e = dock
        .list(ResourceKind::Server, &ListOptions::in_parent("29330"))
        .await
        .unwrap_err();
    assert!(
        matches!(e.kind(), stackdock_core::ErrorKind::InvalidInput { .. }),
        "{e}"
    );
    assert_eq!(fake.calls(), before);
}

fn site_page(id: u64, meta: Value, links: Value) -> Value {
    let mut site = common::fixture("site.json")["data"].clone();
    site["id"] = json!(id);
    site["url"] = json!(format!("site-{id}.example.com"));
    json!({ "data": [site], "meta": meta, "links": links })
}

async fn mount_pages(server: &MockServer, bodies: Vec<Value>) {
    for (i, body) in bodies.into_iter().enumerate() {
        Mock::given(method("GET"))
            .and(path("/oauth/api/v1/site"))
            .and(query_param("page", (i + 1).to_string()))
            .respond_with(ResponseTemplate::new(200).set_body_json(body))
            .expect(1..)
            .mount(server)
            .await;
    }
}

#[tokio::test]
async fn total_pages_without_links_is_followed() {
    // The captured /site answer carried only {current_page, total_pages, total}.
    let server = MockServer::start().await;
    let no_links = json!({"first": null, "last": null, "prev": null, "next": null});
    mount_pages(
        &server,
        (1..=3)
            .map(|p| {
                site_page(
                    p,
                    json!({"current_page": p, "total_pages": 3, "total": 3}),
                    no_links.clone(),
                )
            })
            .collect(),
    )
    .await;
    let client = stackdock_gridpane::GridPaneClient::new(common::config_for(&server)).unwrap();
    let sites = client.list_sites().await.unwrap();
    assert_eq!(
        sites.iter().map(|s| s.id).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
}

#[tokio::test]
async fn links_next_without_meta_is_followed_and_an_empty_page_ends() {
    let server = MockServer::start().await;
    let next =
        |p: u32| json!({"next": format!("https://my.gridpane.com/oauth/api/v1/site?page={p}")});
    let mut bodies = vec![
        site_page(1, Value::Null, next(2)),
        site_page(2, Value::Null, next(3)),
    ];
    // A page that says "more" but is empty ends the listing instead of looping.
    bodies.push(json!({"data": [], "links": next(4)}));
    mount_pages(&server, bodies).await;
    let client = stackdock_gridpane::GridPaneClient::new(common::config_for(&server)).unwrap();
    let sites = client.list_sites().await.unwrap();
    assert_eq!(sites.len(), 2);
}

#[tokio::test]
async fn last_page_per_meta_wins_over_a_missing_next_link() {
    // links.next is null on page 1 but meta says there are 2 pages: read both.
    let server = MockServer::start().await;
    let null_next = json!({"next": null});
    mount_pages(
        &server,
        vec![
            site_page(
                1,
                json!({"current_page": 1, "last_page": 2}),
                null_next.clone(),
            ),
            site_page(2, json!({"current_page": 2, "last_page": 2}), null_next),
        ],
    )
    .await;
    let client = stackdock_gridpane::GridPaneClient::new(common::config_for(&server)).unwrap();
    assert_eq!(client.list_sites().await.unwrap().len(), 2);
    let adapter = stackdock_gridpane::GridPaneAdapter::new(common::config_for(&server)).unwrap();
    let page = adapter
        .list(ResourceKind::WebService, &ListOptions::default())
        .await
        .unwrap();
    assert_eq!(page.next_cursor.as_deref(), Some("2"));
}
