//! Read-only check against the real Vercel API.
//!
//! Ignored by default; run with
//! `VERCEL_TOKEN=... [VERCEL_TEAM_ID=team_...] cargo test -p stackdock-vercel --test live -- --ignored`.
//! It only lists projects and checks the token: nothing is created.

use stackdock_core::{DockAdapter, DockAdapterExt, ListOptions, ResourceKind};
use stackdock_vercel::{VercelAdapter, VercelConfig};

#[tokio::test]
#[ignore = "needs VERCEL_TOKEN (read-only: lists projects on the real Vercel API)"]
async fn live_lists_projects() {
    let config = VercelConfig::from_env()
        .expect("this ignored test was run explicitly, so VERCEL_TOKEN must be set");
    let adapter = VercelAdapter::new(config).unwrap();
    adapter.check_credentials().await.unwrap();
    let projects = adapter
        .list_all(ResourceKind::WebService, &ListOptions::default())
        .await
        .unwrap();
    for p in &projects {
        assert_eq!(p.kind(), ResourceKind::WebService);
        assert!(p.id().id.starts_with("prj_"), "{}", p.id());
    }
    eprintln!("live: {} projects", projects.len());
}
