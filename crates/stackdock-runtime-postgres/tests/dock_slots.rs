//! `PostgresDockSlots` on the test server: a dock's limit shared by two
//! replicas (two stores, two pools), a slot of a dead holder recovered when
//! its lease lapses, and a lapsed holder fenced off by its token.

mod common;

use std::time::Duration;

use stackdock_runtime::dock_slots::DockSlots;

/// The fencing token of `dock`'s `slot` now, if it is held.
async fn token_of(schema: &str, dock: &str, slot: i32) -> Option<i64> {
    common::client()
        .await
        .query_one(
            &format!("SELECT token FROM {schema}.dock_slots WHERE dock = $1 AND slot = $2"),
            &[&dock, &slot],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_a_docks_slots() {
    common::in_fresh_schema("sdslots", |schema| async move {
        let a = common::store(&schema).await.dock_slots().with_holder("a");
        let b = common::store(&schema).await.dock_slots().with_holder("b");
        let first = a.acquire("dns", 2).await.unwrap();
        let _second = b.acquire("dns", 2).await.unwrap();
        // Another dock has slots of its own.
        let _other = a.acquire("mail", 1).await.unwrap();
        let third = tokio::spawn(async move { b.acquire("dns", 2).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!third.is_finished(), "a third slot of a limit of 2");
        drop(first);
        tokio::time::timeout(Duration::from_secs(10), third)
            .await
            .expect("the released slot is taken by the waiter")
            .unwrap();
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_holders_slot_comes_back_when_its_lease_lapses() {
    common::in_fresh_schema("sdslots", |schema| async move {
        // The holder "dies": its tokio runtime (heartbeat and all) is shut
        // down with the slot still taken and never released.
        let dead_schema = schema.clone();
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            runtime.block_on(async {
                let slots = common::store(&dead_schema)
                    .await
                    .dock_slots()
                    .with_lease(Duration::from_millis(600))
                    .with_holder("dead");
                std::mem::forget(slots.acquire("dns", 1).await.unwrap());
            });
            runtime.shutdown_background();
        })
        .join()
        .unwrap();
        let taken = token_of(&schema, "dns", 0).await;
        assert!(taken.is_some(), "the dead holder's slot is taken");
        let alive = common::store(&schema)
            .await
            .dock_slots()
            .with_holder("alive");
        let slot = tokio::time::timeout(Duration::from_secs(10), alive.acquire("dns", 1))
            .await
            .expect("the lapsed slot is taken again")
            .unwrap();
        assert_ne!(token_of(&schema, "dns", 0).await, taken, "a new token");
        drop(slot);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lapsed_holder_cannot_release_the_slot_another_took() {
    common::in_fresh_schema("sdslots", |schema| async move {
        let old = common::store(&schema).await.dock_slots().with_holder("old");
        let new = common::store(&schema).await.dock_slots().with_holder("new");
        let stale = old.acquire("dns", 1).await.unwrap();
        // The old holder's lease lapses (a pause longer than the lease,
        // long before its next renewal), and "new" takes the slot.
        common::client()
            .await
            .execute(
                &format!(
                    "UPDATE {schema}.dock_slots SET expires_at = clock_timestamp() - interval '1 second'"
                ),
                &[],
            )
            .await
            .unwrap();
        let fresh = new.acquire("dns", 1).await.unwrap();
        let token = token_of(&schema, "dns", 0).await;
        drop(stale); // its release names the old token: it matches nothing
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(token_of(&schema, "dns", 0).await, token, "still held by new");
        let waiting = tokio::spawn(async move { old.acquire("dns", 1).await.unwrap() });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!waiting.is_finished(), "the slot is still taken");
        drop(fresh);
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("free once its holder released it")
            .unwrap();
    })
    .await;
}
