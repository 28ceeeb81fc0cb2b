//! Read-only checks against the real GridPane API.
//!
//! Run with `GRIDPANE_TOKEN=... cargo test -p stackdock-gridpane --test live -- --ignored`
//! (optionally `GRIDPANE_HOST=panel.agency.example` for agency accounts).

use stackdock_core::{DockAdapter, DockAdapterExt, ListOptions, ResourceKind};
use stackdock_gridpane::{GridPaneAdapter, GridPaneConfig};

#[tokio::test]
#[ignore = "needs GRIDPANE_TOKEN"]
async fn live_user_and_servers() {
    let config = GridPaneConfig::from_env().expect("GRIDPANE_TOKEN is set");
    let adapter = GridPaneAdapter::new(config).unwrap();
    adapter.check_credentials().await.unwrap();
    let user = adapter.client().current_user().await.unwrap();
    assert!(user.is_object());
    let servers = adapter
        .list_all(ResourceKind::Server, &ListOptions::default())
        .await
        .unwrap();
    let records = adapter.client().list_servers().await.unwrap();
    assert_eq!(servers.len(), records.len());
    for s in &servers {
        assert!(!s.meta().provider_data.to_string().contains("server_key"));
    }
    eprintln!("GridPane account lists {} servers", servers.len());
}
