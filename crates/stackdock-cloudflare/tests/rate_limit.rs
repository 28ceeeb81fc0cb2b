//! A 429 storm: every wait is exactly the `Retry-After` Cloudflare sent
//! (octoDNS sleeps a fixed 300 s instead), and the storm outlasting the
//! retry budget ends in a typed, persistent `RateLimited`.

mod common;

use std::time::{Duration, UNIX_EPOCH};

use common::{config, fake};
use stackdock_cloudflare::adapter;
use stackdock_core::dns::RecordData;
use stackdock_core::spec::{DnsRecordSpec, ResourceSpec};
use stackdock_core::{DockAdapter, ErrorKind, ErrorStatus};
use stackdock_http::{ManualClock, RetryConfig};
use stackdock_testkit::fake_rest::Fault;

fn spec(name: &str) -> ResourceSpec {
    ResourceSpec::from(DnsRecordSpec {
        zone: "storm.example".into(),
        name: name.into(),
        ttl: Some(300),
        data: RecordData::A {
            address: [192, 0, 2, 7].into(),
        },
        common: Default::default(),
    })
}

#[tokio::test]
async fn a_storm_of_429s_is_waited_out_exactly_as_asked() {
    let fake = fake();
    fake.state().add_zone("storm.example");
    let server = fake.start().await;
    let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(1_800_000_000));
    let mut config = config(&server.uri(), Some(RetryConfig::default()));
    config.rest = config.rest.clock(clock.clone());
    let dock = adapter(&config).unwrap();

    // Five 429s in a row, each saying "retry after 7 s", then the API answers.
    fake.inject(Fault::RateLimited { retry_after: 7 }, 5);
    let made = dock.create(&spec("www")).await.unwrap();
    assert!(made.was_created());
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(7); 5]);
    assert_eq!(
        fake.state().records.values().map(Vec::len).sum::<usize>(),
        1
    );

    // A storm longer than the five retries: a typed error, marked persistent
    // so that no outer layer retries it again, and nothing was created.
    fake.inject(Fault::RateLimited { retry_after: 3 }, 6);
    let err = dock.create(&spec("api")).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::RateLimited { retry_after: Some(d) } if *d == Duration::from_secs(3)),
        "{err}"
    );
    assert_eq!(err.status(), ErrorStatus::Persistent, "{err}");
    assert_eq!(
        fake.state().records.values().map(Vec::len).sum::<usize>(),
        1
    );
}
