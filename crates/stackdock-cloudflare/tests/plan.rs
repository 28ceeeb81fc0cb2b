//! Whole-zone plan/apply through the batch endpoint: only our records are
//! touched, the safety threshold holds, and a second plan is empty.

mod common;

use common::{client, fake};
use serde_json::{json, Value};
use stackdock_core::dns::RecordData;
use stackdock_core::ErrorKind;
use stackdock_dns::model::Zone;
use stackdock_dns::plan::PlanOptions;

const MARKER: &str = "managed-by:stackdock";

fn a(last: u8) -> RecordData {
    RecordData::A {
        address: [192, 0, 2, last].into(),
    }
}

#[tokio::test]
async fn sync_touches_only_our_records_in_few_batches() {
    let fake = fake();
    let zone_id = fake.state().add_zone("plan.example");
    let server = fake.start().await;
    let mut cf = client(&server.uri());
    cf.batch_size = 3;
    // Another tool's record, and one of ours the desired zone drops.
    let records = |s: &mut common::State| s.records.get_mut(&zone_id).unwrap().clone();
    for (name, content, comment) in [
        ("mail.plan.example", "192.0.2.99", json!(null)),
        ("old.plan.example", "192.0.2.98", json!(MARKER)),
    ] {
        let body = json!({ "type": "A", "name": name, "content": content, "ttl": 300, "comment": comment });
        reqwest::Client::new()
            .post(format!("{}/zones/{zone_id}/dns_records", server.uri()))
            .bearer_auth(common::TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    let mut desired = Zone::new("plan.example").unwrap();
    desired.add("www", 300, a(1)).unwrap();
    desired.add("www", 300, a(2)).unwrap();
    desired
        .add(
            "@",
            3600,
            RecordData::TXT {
                text: "v=spf1 -all".into(),
            },
        )
        .unwrap();
    desired
        .add(
            "_sip._tcp",
            600,
            RecordData::SRV {
                priority: 10,
                weight: 5,
                port: 5060,
                target: "sip.plan.example".into(),
            },
        )
        .unwrap();
    desired
        .add(
            "@",
            3600,
            RecordData::CAA {
                flags: 0,
                tag: "issue".into(),
                value: "letsencrypt.org".into(),
            },
        )
        .unwrap();

    fake.clear_requests();
    let zone_plan = cf
        .plan_zone(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert_eq!(zone_plan.plan.counts(), (4, 0, 1), "{}", zone_plan.plan);
    // One delete and five posts, three changes a request: two batches.
    assert_eq!(zone_plan.batches.len(), 2);
    insta::assert_json_snapshot!("batches", zone_plan.batches);
    assert_eq!(cf.apply_zone(&zone_plan).await.unwrap(), 2);
    let batches = fake
        .requests()
        .into_iter()
        .filter(|(_, path, _)| path.ends_with("/batch"))
        .count();
    assert_eq!(batches, 2);

    let after = records(&mut fake.state());
    let foreign = after
        .iter()
        .find(|r| r["name"] == "mail.plan.example")
        .expect("another tool's record stays");
    assert_eq!(foreign["comment"], json!(null));
    assert!(
        !after.iter().any(|r| r["name"] == "old.plan.example"),
        "our dropped record is deleted"
    );
    assert_eq!(after.iter().filter(|r| r["comment"] == MARKER).count(), 5);

    // Applied: planning again changes nothing.
    let again = cf
        .plan_zone(&desired, &PlanOptions::default())
        .await
        .unwrap();
    assert!(again.plan.is_empty(), "{}", again.plan);
    assert!(again.batches.is_empty());
}

#[tokio::test]
async fn the_safety_threshold_refuses_a_large_delete_unless_forced() {
    let fake = fake();
    fake.state().add_zone("big.example");
    let server = fake.start().await;
    let cf = client(&server.uri());
    let mut full = Zone::new("big.example").unwrap();
    for i in 0..20 {
        full.add(&format!("h{i}"), 300, a(i)).unwrap();
    }
    cf.sync_zone(&full, &PlanOptions::default()).await.unwrap();
    let mut small = Zone::new("big.example").unwrap();
    small.add("h0", 300, a(0)).unwrap();
    let err = cf
        .sync_zone(&small, &PlanOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Refused, "{err}");
    assert_eq!(
        fake.state().records.values().map(Vec::len).sum::<usize>(),
        20,
        "nothing applied"
    );
    let plan = cf
        .sync_zone(&small, &PlanOptions::default().forced())
        .await
        .unwrap();
    assert_eq!(plan.counts(), (0, 0, 19));
    assert_eq!(
        fake.state().records.values().map(Vec::len).sum::<usize>(),
        1
    );
}

#[tokio::test]
async fn a_zone_of_several_pages_is_read_whole() {
    let fake = fake();
    let zone_id = fake.state().add_zone("pages.example");
    let server = fake.start().await;
    let cf = client(&server.uri());
    // 5,000 records a page: 12,003 records are three pages, read in parallel.
    let address = |i: u32| std::net::Ipv4Addr::from(0x0a00_0000 + i);
    let mut desired = Zone::new("pages.example").unwrap();
    {
        let mut state = fake.state();
        let records = state.records.get_mut(&zone_id).unwrap();
        for i in 0..12_003u32 {
            let name = format!("h{i}.pages.example");
            records.push(json!({
                "id": format!("{i:032x}"), "name": name, "type": "A",
                "content": address(i).to_string(), "ttl": 300, "comment": MARKER,
            }));
            if i != 11_000 {
                desired
                    .add(
                        &name,
                        300,
                        RecordData::A {
                            address: address(i),
                        },
                    )
                    .unwrap();
            }
        }
    }
    fake.clear_requests();
    let zone_plan = cf
        .plan_zone(&desired, &PlanOptions::default())
        .await
        .unwrap();
    let mut pages: Vec<_> = (fake.requests().into_iter())
        .filter(|(_, path, _)| path.contains("/dns_records?"))
        .map(|(_, path, _)| path)
        .collect();
    pages.sort();
    assert_eq!(pages.len(), 3, "{pages:?}");
    assert!(
        pages.iter().all(|p| p.contains("per_page=5000")),
        "{pages:?}"
    );
    // Only the record left out of the desired zone changes, found on page 3.
    assert_eq!(zone_plan.plan.counts(), (0, 0, 1), "{}", zone_plan.plan);
    let id = format!("{:032x}", 11_000);
    assert_eq!(
        zone_plan.batches,
        vec![json!({ "deletes": [{ "id": id }], "patches": [], "posts": [] })]
    );
}

#[tokio::test]
async fn an_invalid_desired_zone_fails_before_any_call() {
    let mut desired = Zone::new("bad.example").unwrap();
    desired.add("www", 300, a(1)).unwrap();
    for set in desired.rrsets.values_mut() {
        set.ttl = 0;
    }
    refused_before_any_call(&desired, None).await;
}

#[tokio::test]
async fn a_marker_the_planner_cannot_own_by_fails_before_any_call() {
    let mut desired = Zone::new("marked.example").unwrap();
    desired.add("www", 300, a(1)).unwrap();
    // Spaces: not an owner marker.
    refused_before_any_call(&desired, Some("managed by stackdock")).await;
}

/// Planning `desired` (on a dock with `marker`, else the default) against
/// a fake holding its zone fails with `InvalidInput`, and the fake saw no
/// request.
async fn refused_before_any_call(desired: &Zone, marker: Option<&str>) {
    let fake = fake();
    fake.state().add_zone(&desired.name);
    let server = fake.start().await;
    let mut config = common::config(&server.uri(), None);
    config.marker = marker.map(str::to_owned);
    let cf = stackdock_cloudflare::CloudflareClient::new(&config).unwrap();
    fake.clear_requests();
    let err = cf
        .plan_zone(desired, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(fake.requests(), Vec::new(), "no call for bad input");
}

/// A Cloudflare-shaped server whose zone `pages.example` lists `pages`
/// (record lists, page 1 first), page `slow` answered 300 ms late.
async fn paged_server(pages: &[Value], slow: usize) -> wiremock::MockServer {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};
    let server = wiremock::MockServer::start().await;
    let envelope = |result: Value, page: usize, total: usize| {
        let info = json!({ "page": page, "per_page": 5000, "count": 1, "total_count": total, "total_pages": total });
        json!({ "success": true, "errors": [], "messages": [], "result": result, "result_info": info })
    };
    let zone = json!([{ "id": "023e105f4ecef8ad9ca31a8372d0c353", "name": "pages.example", "status": "active" }]);
    Mock::given(method("GET"))
        .and(path("/zones"))
        .respond_with(ResponseTemplate::new(200).set_body_json(envelope(zone, 1, 1)))
        .mount(&server)
        .await;
    for (i, records) in pages.iter().enumerate() {
        let delay = std::time::Duration::from_millis(if i + 1 == slow { 300 } else { 0 });
        let body = envelope(records.clone(), i + 1, pages.len());
        Mock::given(method("GET"))
            .and(path("/zones/023e105f4ecef8ad9ca31a8372d0c353/dns_records"))
            .and(query_param("page", (i + 1).to_string()))
            .respond_with(
                ResponseTemplate::new(200)
                    .set_body_json(body)
                    .set_delay(delay),
            )
            .mount(&server)
            .await;
    }
    server
}

fn listed(id: u32, name: &str, content: &str, ttl: u32) -> Value {
    json!({
        "id": format!("{id:032x}"), "name": name, "type": "A", "content": content,
        "proxiable": true, "proxied": false, "ttl": ttl, "settings": {}, "meta": {},
        "comment": MARKER, "tags": [],
        "created_on": "2026-12-06T10:00:00Z", "modified_on": "2026-12-06T10:00:00Z",
    })
}

#[tokio::test]
async fn pages_are_joined_in_page_order_whatever_order_they_arrive_in() {
    // One set spread over pages 2 and 3 with two TTLs: the set's TTL is its
    // first record's, so reading pages in arrival order would plan
    // differently depending on which page came back first.
    let pages = [
        json!([listed(1, "api.pages.example", "192.0.2.3", 300)]),
        json!([listed(2, "www.pages.example", "192.0.2.1", 300)]),
        json!([listed(3, "www.pages.example", "192.0.2.2", 600)]),
    ];
    let mut desired = Zone::new("pages.example").unwrap();
    for (name, last) in [("api", 3), ("www", 1), ("www", 2)] {
        desired.add(name, 300, a(last)).unwrap();
    }
    let mut plans = Vec::new();
    for slow in [2, 3] {
        let server = paged_server(&pages, slow).await;
        let zone_plan = client(&server.uri())
            .plan_zone(&desired, &PlanOptions::default())
            .await
            .unwrap();
        assert_eq!(server.received_requests().await.unwrap().len(), 4);
        plans.push((zone_plan.plan, zone_plan.batches));
    }
    assert_eq!(plans[0], plans[1], "slow page 2 vs slow page 3");
    assert!(plans[0].0.is_empty(), "{}", plans[0].0);
}

#[tokio::test]
async fn an_unreadable_page_fails_the_plan_as_an_invalid_response() {
    let pages = [
        json!([listed(1, "api.pages.example", "192.0.2.3", 300)]),
        json!([{ "id": 7, "name": ["not", "a", "name"] }]),
        json!([listed(3, "www.pages.example", "192.0.2.2", 300)]),
    ];
    let server = paged_server(&pages, 0).await;
    let mut desired = Zone::new("pages.example").unwrap();
    desired.add("api", 300, a(3)).unwrap();
    let err = client(&server.uri())
        .plan_zone(&desired, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::InvalidResponse), "{err}");
    let batches = (server.received_requests().await.unwrap().into_iter())
        .filter(|r| r.method.as_str() != "GET")
        .count();
    assert_eq!(batches, 0, "a plan sends no change");
}

#[tokio::test]
async fn a_bogus_page_count_fails_at_the_first_missing_page_with_eight_in_flight() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};
    // Page 1 claims 4 billion pages; no other page exists (404).
    let server = paged_server(&[], 0).await;
    let info = json!({ "page": 1, "per_page": 5000, "count": 1, "total_count": u64::from(u32::MAX) * 5000, "total_pages": u32::MAX });
    let body = json!({ "success": true, "errors": [], "messages": [], "result_info": info,
        "result": [listed(1, "api.pages.example", "192.0.2.3", 300)] });
    Mock::given(method("GET"))
        .and(path("/zones/023e105f4ecef8ad9ca31a8372d0c353/dns_records"))
        .and(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(body))
        .mount(&server)
        .await;
    let mut desired = Zone::new("pages.example").unwrap();
    desired.add("api", 300, a(3)).unwrap();
    let err = client(&server.uri())
        .plan_zone(&desired, &PlanOptions::default())
        .await
        .unwrap_err();
    assert!(!matches!(err.kind(), ErrorKind::Internal), "{err}");
    let requests = server.received_requests().await.unwrap().len();
    // The lookup, page 1, then at most 8 pages before the first failure stops the read.
    assert!(requests <= 10, "{requests} requests");
}

#[tokio::test]
async fn the_page_count_is_the_envelopes_in_any_key_order() {
    use wiremock::matchers::{method, path, query_param};
    use wiremock::{Mock, ResponseTemplate};
    // Page 1 of 2, as raw bytes in three key orders; in the last, a record
    // carries a nested "result_info" claiming 9 pages, after the real one.
    let record = listed(1, "api.pages.example", "192.0.2.3", 300).to_string();
    let nested = record.replacen(
        "\"meta\":{}",
        r#""meta":{"result_info":{"total_pages":9}}"#,
        1,
    );
    assert_ne!(nested, record);
    let info =
        r#""result_info":{"page":1,"per_page":5000,"count":1,"total_count":2,"total_pages":2}"#;
    let bodies = [
        format!(r#"{{"success":true,"errors":[],"messages":[],"result":[{record}],{info}}}"#),
        format!(r#"{{"result":[{record}], {info} ,"success":true,"errors":[],"messages":[]}}"#),
        format!(r#"{{"success":true,{info},"errors":[],"messages":[],"result":[{nested}]}}"#),
    ];
    for body in bodies {
        let second = [
            json!([]),
            json!([listed(2, "www.pages.example", "192.0.2.1", 300)]),
        ];
        let server = paged_server(&second, 0).await; // page 2 is the real one
        Mock::given(method("GET"))
            .and(path("/zones/023e105f4ecef8ad9ca31a8372d0c353/dns_records"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_raw(body.clone(), "application/json"))
            .with_priority(1)
            .mount(&server)
            .await;
        let mut desired = Zone::new("pages.example").unwrap();
        desired
            .add("api", 300, a(3))
            .unwrap()
            .add("www", 300, a(1))
            .unwrap();
        let zone_plan = client(&server.uri())
            .plan_zone(&desired, &PlanOptions::default())
            .await
            .unwrap();
        assert!(zone_plan.plan.is_empty(), "{body}: {}", zone_plan.plan);
        let requests = server.received_requests().await.unwrap().len();
        assert_eq!(requests, 3, "{body}: the lookup and two pages");
    }
}
