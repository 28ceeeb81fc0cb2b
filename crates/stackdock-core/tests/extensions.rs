//! Extension traits reached through the registry's layers: forwarded, checked
//! before any call, errors with context, secrets never printed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stackdock_core::extension::{
    Backup, BackupFrequency, BackupRef, BackupSchedule, BackupTrigger, Backups, EnvVar, EnvVarSpec,
    EnvVars, NewBackup, NewSystemUser, PasswordRotation, RotatedPassword, SystemUser, SystemUsers,
};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{
    async_trait, Capabilities, DockAdapter, DockAdapterExt, DockRegistry, Error, ErrorKind,
    Operations, ProviderInfo, ResourceId, ResourceKind, Result,
};

/// An adapter with every extension, counting the calls that reach it.
#[derive(Debug)]
struct Fake {
    info: ProviderInfo,
    calls: AtomicUsize,
}

impl Fake {
    fn new() -> Arc<Self> {
        Arc::new(Fake {
            info: ProviderInfo::new("fake", "Fake"),
            calls: AtomicUsize::new(0),
        })
    }

    fn called(&self) -> Result<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[async_trait]
impl DockAdapter for Fake {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }
    fn dock_id(&self) -> &str {
        "fake-1"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities::new().with_kind(ResourceKind::Database, Operations::ALL)
    }
    async fn check_credentials(&self) -> Result<()> {
        Ok(())
    }
    fn backups(&self) -> Option<&dyn Backups> {
        Some(self)
    }
    fn env_vars(&self) -> Option<&dyn EnvVars> {
        Some(self)
    }
    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        Some(self)
    }
    fn system_users(&self) -> Option<&dyn SystemUsers> {
        Some(self)
    }
}

#[async_trait]
impl SystemUsers for Fake {
    async fn list_system_users(&self, _server: &ResourceId) -> Result<Vec<SystemUser>> {
        self.called().map(|()| Vec::new())
    }
    async fn create_system_user(&self, _s: &ResourceId, u: &NewSystemUser) -> Result<SystemUser> {
        self.called()?;
        Ok(SystemUser {
            id: "1".into(),
            username: u.username.clone(),
            ssh_access: true,
            provider_data: serde_json::Value::Null,
        })
    }
    async fn set_system_user_password(
        &self,
        _server: &ResourceId,
        _username: &str,
        _password: SecretString,
    ) -> Result<()> {
        self.called()
    }
    async fn delete_system_user(&self, _server: &ResourceId, _username: &str) -> Result<()> {
        self.called()
    }
}

#[async_trait]
impl Backups for Fake {
    async fn list_backups(&self, _site: &ResourceId) -> Result<Vec<Backup>> {
        self.called()?;
        Err(Error::not_found("site 7"))
    }
    async fn create_backup(&self, _site: &ResourceId, _request: &NewBackup) -> Result<()> {
        self.called()
    }
    async fn restore_backup(&self, _site: &ResourceId, _backup: &BackupRef) -> Result<()> {
        self.called()
    }
    async fn delete_backup(&self, _site: &ResourceId, _backup: &BackupRef) -> Result<()> {
        self.called()
    }
    async fn backup_schedules(&self, _site: &ResourceId) -> Result<Vec<BackupSchedule>> {
        self.called().map(|()| Vec::new())
    }
    async fn set_backup_schedule(&self, _site: &ResourceId, _s: &BackupSchedule) -> Result<()> {
        self.called()
    }
}

#[async_trait]
impl EnvVars for Fake {
    async fn list_env_vars(&self, _service: &ResourceId) -> Result<Vec<EnvVar>> {
        self.called().map(|()| Vec::new())
    }
    async fn set_env_vars(&self, _s: &ResourceId, _vars: &[EnvVarSpec]) -> Result<Vec<EnvVar>> {
        self.called().map(|()| Vec::new())
    }
    async fn delete_env_var(&self, _service: &ResourceId, _key: &str) -> Result<()> {
        self.called()
    }
}

#[async_trait]
impl PasswordRotation for Fake {
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword> {
        self.called()?;
        Ok(RotatedPassword {
            id: id.clone(),
            user: "owner".into(),
            password: password.unwrap_or_else(|| SecretString::from("generated".to_owned())),
            connection: None,
        })
    }
}

fn registry_with(fake: Arc<Fake>) -> Arc<dyn DockAdapter> {
    let mut registry = DockRegistry::new();
    registry.insert(fake).unwrap();
    registry.require("fake-1").unwrap()
}

fn site() -> ResourceId {
    ResourceId::new(ResourceKind::WebService, "474559")
}

fn is_invalid(err: &Error) -> bool {
    matches!(err.kind(), ErrorKind::InvalidInput { .. })
}

#[tokio::test]
async fn extensions_are_reachable_through_the_registry_layers() {
    let fake = Fake::new();
    let dock = registry_with(fake.clone());
    let backups = dock.require_backups().unwrap();
    backups
        .create_backup(&site(), &NewBackup::local())
        .await
        .unwrap();
    let schedule = BackupSchedule {
        id: "59474".into(),
        storage: "local".into(),
        frequency: BackupFrequency::Daily {
            hour: 3,
            minute: 30,
        },
    };
    backups
        .set_backup_schedule(&site(), &schedule)
        .await
        .unwrap();
    let vars = [EnvVarSpec::new("API_URL", "https://x", ["production"])];
    dock.require_env_vars()
        .unwrap()
        .set_env_vars(&site(), &vars)
        .await
        .unwrap();
    let db = ResourceId::new(ResourceKind::Database, "shop");
    let rotated = dock
        .require_password_rotation()
        .unwrap()
        .rotate_password(&db, Some(SecretString::from("n3w-pass".to_owned())))
        .await
        .unwrap();
    assert_eq!(rotated.password.expose_secret(), "n3w-pass");
    assert!(!format!("{rotated:?}").contains("n3w-pass"));
    assert_eq!(fake.calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn invalid_arguments_fail_before_the_adapter_is_called() {
    let fake = Fake::new();
    let dock = registry_with(fake.clone());
    let backups = dock.backups().unwrap();
    let server = ResourceId::new(ResourceKind::Server, "1");
    let good = BackupRef::new("2021-11-24 08:59", "local", BackupTrigger::Manual);
    let bad_ref = BackupRef::new("2021\n", "local", BackupTrigger::Manual);
    let bad_schedule = BackupSchedule {
        id: "1".into(),
        storage: "local".into(),
        frequency: BackupFrequency::Weekly {
            weekday: 7,
            hour: 0,
            minute: 0,
        },
    };
    let errors = [
        backups.restore_backup(&server, &good).await.unwrap_err(),
        backups.restore_backup(&site(), &bad_ref).await.unwrap_err(),
        backups
            .delete_backup(&ResourceId::new(ResourceKind::WebService, ""), &good)
            .await
            .unwrap_err(),
        backups
            .set_backup_schedule(&site(), &bad_schedule)
            .await
            .unwrap_err(),
        backups
            .create_backup(&site(), &NewBackup::local().with_tag("a\u{1b}[31m"))
            .await
            .unwrap_err(),
    ];
    for err in &errors {
        assert!(is_invalid(err), "{err}");
        assert!(err.to_string().contains("dock=fake-1"), "{err}");
    }
    let env = dock.env_vars().unwrap();
    let twice = [
        EnvVarSpec::new("A", "1", ["production"]),
        EnvVarSpec::new("A", "2", ["production"]),
    ];
    assert!(is_invalid(
        &env.set_env_vars(&site(), &twice).await.unwrap_err()
    ));
    assert!(is_invalid(
        &env.delete_env_var(&site(), "bad-key").await.unwrap_err()
    ));
    let rotation = dock.password_rotation().unwrap();
    let db = ResourceId::new(ResourceKind::Database, "shop");
    let err = rotation
        .rotate_password(
            &db,
            Some(SecretString::from("line\nbreak-secret".to_owned())),
        )
        .await
        .unwrap_err();
    assert!(
        is_invalid(&err) && !err.to_string().contains("break-secret"),
        "{err}"
    );
    // A kind the dock cannot update is unsupported, as for CRUD.
    let mailbox = ResourceId::new(ResourceKind::Mailbox, "a@example.com");
    let err = rotation.rotate_password(&mailbox, None).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }), "{err}");
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        0,
        "nothing reached the adapter"
    );
}

#[tokio::test]
async fn adapter_errors_get_the_dock_context() {
    let dock = registry_with(Fake::new());
    let err = dock
        .backups()
        .unwrap()
        .list_backups(&site())
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.operation(), Some("list backups"));
    let text = err.to_string();
    assert!(
        text.contains("dock=fake-1") && text.contains("provider=fake"),
        "{text}"
    );
}

#[tokio::test]
async fn a_dock_without_an_extension_says_unsupported() {
    let mut registry = DockRegistry::new();
    registry
        .insert(Arc::new(stackdock_core::InMemoryAdapter::new("mem")))
        .unwrap();
    let dock = registry.require("mem").unwrap();
    assert!(dock.backups().is_none() && dock.env_vars().is_none());
    let Err(err) = dock.require_password_rotation() else {
        panic!("the in-memory dock has no password rotation")
    };
    assert!(matches!(err.kind(), ErrorKind::Unsupported { .. }), "{err}");
}

#[tokio::test]
async fn system_user_calls_are_checked_before_the_adapter() {
    let fake = Fake::new();
    let dock = registry_with(fake.clone());
    let users = dock.require_system_users().unwrap();
    let server = ResourceId::new(ResourceKind::Server, "29330");
    let made = users
        .create_system_user(&server, &NewSystemUser::new("acme", "Long-Pass-5"))
        .await
        .unwrap();
    assert_eq!(made.username, "acme");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 1);
    let site = ResourceId::new(ResourceKind::WebService, "1");
    let errors = [
        users.list_system_users(&site).await.unwrap_err(),
        users
            .create_system_user(&server, &NewSystemUser::new("Root;id", "Long-Pass-5"))
            .await
            .unwrap_err(),
        users
            .set_system_user_password(&server, "acme", SecretString::from("nl\nsecret-pw"))
            .await
            .unwrap_err(),
        users
            .delete_system_user(&server, "../etc")
            .await
            .unwrap_err(),
    ];
    for err in &errors {
        assert!(is_invalid(err), "{err}");
        assert!(!err.to_string().contains("secret-pw"), "{err}");
    }
    assert_eq!(
        fake.calls.load(Ordering::SeqCst),
        1,
        "nothing more reached the adapter"
    );
}

#[tokio::test]
async fn hand_built_layer_stacks_forward_every_extension() {
    use stackdock_core::layer::{CheckedLayer, Layer, RetryLayer};
    let fake = Fake::new();
    let dock = RetryLayer::default().layer(CheckedLayer.layer(fake.clone()));
    assert!(dock.backups().is_some() && dock.env_vars().is_some());
    assert!(dock.password_rotation().is_some() && dock.system_users().is_some());
    // Through both layers the checks still run before the adapter.
    let err = dock
        .require_env_vars()
        .unwrap()
        .delete_env_var(&site(), "no such key!")
        .await
        .unwrap_err();
    assert!(is_invalid(&err), "{err}");
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
}
