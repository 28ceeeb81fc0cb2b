//! Project env vars through `Arc<dyn DockAdapter>` from the registry (issue
//! 12 item 20): upsert, list, delete by key, against the stateful fake.

mod common;

use std::sync::Arc;

use common::{FakeVercel, TEAM, TOKEN};
use serde_json::json;
use stackdock_core::extension::EnvVarSpec;
use stackdock_core::factory::{Credentials, DockConfig, DockFactories};
use stackdock_core::secret::SecretString;
use stackdock_core::{
    DockAdapter, DockAdapterExt, DockRegistry, ErrorKind, ResourceId, ResourceKind,
};
use stackdock_vercel::VercelFactory;
use wiremock::MockServer;

const SECRET: &str = "sk_live_51HbXq-never-print-me";

/// A Vercel dock as a control plane builds it: configuration, factory, registry.
async fn dock() -> (FakeVercel, MockServer, Arc<dyn DockAdapter>) {
    let fake = FakeVercel::new();
    let server = fake.start().await;
    let config: DockConfig = serde_json::from_value(json!({
        "id": "vercel-main", "provider": "vercel",
        "settings": {"team": {"id": TEAM}, "base_url": server.uri()},
        "credentials": {"token": "env:UNUSED_HERE"}
    }))
    .unwrap();
    let credentials = Credentials::from_values(
        "vercel-main",
        [("token".to_owned(), SecretString::from(TOKEN))],
    );
    let adapter = DockFactories::new()
        .with(VercelFactory)
        .build(&config, &credentials)
        .unwrap();
    let mut registry = DockRegistry::new();
    registry.insert(adapter).unwrap();
    let dock = registry.require("vercel-main").unwrap();
    (fake, server, dock)
}

#[tokio::test]
async fn env_vars_are_set_listed_and_deleted_through_the_registry() {
    let (fake, server, dock) = dock().await;
    let project = ResourceId::new(ResourceKind::WebService, fake.seed_project("acme-web"));
    let env = dock.require_env_vars().unwrap();
    let vars = [
        EnvVarSpec::new("API_URL", "https://one.example", ["production", "preview"]),
        EnvVarSpec::new("STRIPE_KEY", SECRET, ["production"]).sensitive(),
    ];
    let stored = env.set_env_vars(&project, &vars).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[1].key, "STRIPE_KEY");
    assert!(stored[1].sensitive && stored[1].value.is_none());
    assert_eq!(stored[0].environments, vec!["production", "preview"]);
    // One upsert call with Vercel's body.
    let sent = common::bodies(&server).await;
    assert_eq!(sent.len(), 1);
    assert!(sent[0].0.starts_with("POST /v10/projects/"), "{sent:?}");
    assert_eq!(
        sent[0].1,
        json!([
            {"key": "API_URL", "value": "https://one.example", "type": "encrypted", "target": ["production", "preview"]},
            {"key": "STRIPE_KEY", "value": SECRET, "type": "sensitive", "target": ["production"]},
        ])
    );
    let upserts = server.received_requests().await.unwrap();
    assert_eq!(
        upserts[0]
            .url
            .query_pairs()
            .find(|(k, _)| k == "upsert")
            .unwrap()
            .1,
        "true"
    );

    // Setting again overwrites (an upsert): still two variables, new value.
    let changed = [EnvVarSpec::new(
        "API_URL",
        "https://two.example",
        ["production", "preview"],
    )];
    env.set_env_vars(&project, &changed).await.unwrap();
    let listed = env.list_env_vars(&project).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(fake
        .env_values(&project.id)
        .contains(&"https://two.example".to_owned()));
    assert!(!format!("{listed:?}").contains(SECRET));

    env.delete_env_var(&project, "STRIPE_KEY").await.unwrap();
    env.delete_env_var(&project, "STRIPE_KEY").await.unwrap(); // gone: still Ok
    let keys: Vec<String> = env
        .list_env_vars(&project)
        .await
        .unwrap()
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(keys, vec!["API_URL"]);
}

#[tokio::test]
async fn invalid_env_vars_send_nothing_and_never_echo_the_value() {
    let (fake, _server, dock) = dock().await;
    let project = ResourceId::new(ResourceKind::WebService, fake.seed_project("acme-web"));
    let env = dock.env_vars().unwrap();
    let before = fake.calls();
    let batches = [
        vec![EnvVarSpec::new("BAD KEY", SECRET, ["production"])],
        vec![EnvVarSpec::new("OK", SECRET, ["staging"])],
        vec![EnvVarSpec::new("OK", SECRET, ["development"]).sensitive()],
        vec![EnvVarSpec::new("OK", format!("{SECRET}\0"), ["production"])],
        vec![
            EnvVarSpec::new("TWICE", SECRET, ["production"]),
            EnvVarSpec::new("TWICE", SECRET, ["production"]),
        ],
    ];
    for vars in &batches {
        let err = env.set_env_vars(&project, vars).await.unwrap_err();
        assert!(
            matches!(err.kind(), ErrorKind::InvalidInput { .. }),
            "{err}"
        );
        let text = format!("{err} {err:?}");
        assert!(
            !text.contains(SECRET) && text.contains("dock=vercel-main"),
            "{text}"
        );
    }
    let deployment = ResourceId::new(ResourceKind::Deployment, "dpl_1");
    let err = env.list_env_vars(&deployment).await.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert_eq!(fake.calls(), before, "nothing was sent");
}

#[tokio::test]
async fn a_missing_project_is_not_found_without_the_token() {
    let (_fake, _server, dock) = dock().await;
    let missing = ResourceId::new(ResourceKind::WebService, "prj_missing");
    let vars = [EnvVarSpec::new("A", SECRET, ["preview"])];
    let err = dock
        .require_env_vars()
        .unwrap()
        .set_env_vars(&missing, &vars)
        .await
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN) && !text.contains(SECRET), "{text}");
}
