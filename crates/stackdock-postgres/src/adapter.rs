//! [`PostgresAdapter`]: tenant databases as [`Database`] resources.

use std::fmt;

use async_trait::async_trait;
use chrono::Utc;
use rand::distributions::{Alphanumeric, DistString};

use stackdock_core::extension::{PasswordRotation, RotatedPassword};
use stackdock_core::resource::{ConnectionDetails, Database};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{
    Arguments, Capabilities, Created, DockAdapter, Error, ErrorKind, ListOptions, Observation,
    Operation, Operations, Page, ProviderInfo, Resource, ResourceId, ResourceKind, ResourceMeta,
    ResourceSpec, ResourceStatus, Result,
};

use crate::catalog::{
    fetch_db, fetch_roles, password_matches, DbRow, Ownership, DB_COLUMNS, MARKER_PREFIX,
    STATE_READY,
};
use crate::client::{PgClient, Session};
use crate::config::PostgresConfig;
use crate::executor::Executor;
use crate::plan::{drop_database_sql, drop_role_sql, set_password_sql, Plan};
use crate::scram;
use crate::sql::identifier;

/// Provider id of this adapter.
pub const PROVIDER_ID: &str = "postgres";
/// Length of generated passwords (alphanumeric, about 190 bits).
pub const GENERATED_PASSWORD_LEN: usize = 32;
/// Default page size of [`DockAdapter::list`].
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page of [`DockAdapter::list`].
pub const MAX_PAGE_SIZE: u32 = 1000;
/// URL scheme of the connection details handed to tenants.
pub const CONNECTION_SCHEME: &str = "postgres";

pub use crate::executor::{FaultTiming, ProvisionStep, INJECTED_FAULT_CODE};

/// A PostgreSQL server as a StackDock dock: each [`Database`] resource is a
/// tenant database with its own login role.
///
/// See the [crate documentation](crate) for the SQL it runs and the guarantees.
pub struct PostgresAdapter {
    info: ProviderInfo,
    dock_id: String,
    config: PostgresConfig,
    exec: Executor,
}

impl fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("dock_id", &self.dock_id)
            .field("config", &self.config)
            .field("client", self.exec.client())
            .finish()
    }
}

fn generate_password() -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rngs::OsRng, GENERATED_PASSWORD_LEN))
}

impl PostgresAdapter {
    /// An adapter for the server in `config`, known as dock `dock_id`.
    /// Connects lazily: nothing is sent until the first operation.
    pub fn new(dock_id: impl Into<String>, config: PostgresConfig) -> Result<Self> {
        let client = PgClient::new(&config)?;
        Ok(PostgresAdapter {
            info: ProviderInfo::new(PROVIDER_ID, "PostgreSQL"),
            dock_id: dock_id.into(),
            config,
            exec: Executor::new(client),
        })
    }

    /// An adapter from a connection URL (see [`PostgresConfig::from_url`]).
    pub fn from_url(dock_id: impl Into<String>, url: &str) -> Result<Self> {
        Self::new(dock_id, PostgresConfig::from_url(url)?)
    }

    /// An adapter from the `PG*` environment variables (see [`PostgresConfig::from_env`]).
    pub fn from_env(dock_id: impl Into<String>) -> Result<Self> {
        Self::new(dock_id, PostgresConfig::from_env()?)
    }

    /// The admin settings.
    pub fn config(&self) -> &PostgresConfig {
        &self.config
    }

    /// How many SQL texts this adapter has sent (every query and every batch counts one).
    pub fn sql_sent(&self) -> usize {
        self.exec.client().sql_sent()
    }

    /// The admin connection pool.
    #[doc(hidden)]
    pub fn client(&self) -> &PgClient {
        self.exec.client()
    }

    /// Make the next provisioning fail at `step`, before running it.
    /// For rollback tests; the fault fires once.
    #[doc(hidden)]
    pub fn fail_at(&self, step: ProvisionStep) {
        self.inject(step, FaultTiming::Before);
    }

    /// Make the next provisioning fail right after `step` succeeded.
    #[doc(hidden)]
    pub fn fail_after(&self, step: ProvisionStep) {
        self.inject(step, FaultTiming::After);
    }

    /// Make the next provisioning fail (or hang) at `step`, at `timing`.
    #[doc(hidden)]
    pub fn inject(&self, step: ProvisionStep, timing: FaultTiming) {
        self.exec.inject(step, timing);
    }

    /// Make the `k`-th SQL text from now fail unsent (a temporary
    /// `Unavailable`): the fault hook of the conformance suite.
    #[doc(hidden)]
    pub fn fail_statement(&self, k: usize) {
        self.exec.client().fail_statement(k);
    }

    /// Remove a pending [`fail_statement`](Self::fail_statement) fault.
    #[doc(hidden)]
    pub fn clear_faults(&self) {
        self.exec.client().clear_faults();
    }

    /// Set a new password for the owner of database `id` (generated when
    /// `password` is `None`); returns the new connection details.
    pub async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<ConnectionDetails> {
        let op = Operation::Update.on(ResourceKind::Database);
        // Not a trait method, so no layer gates it: check the kind here.
        if id.kind != ResourceKind::Database {
            return Err(self.unsupported(Operation::Update, id.kind));
        }
        identifier("id", &id.id).map_err(|e| e.with_operation(op.clone()))?;
        let password = password.unwrap_or_else(generate_password);
        let verifier = scram::hash_password(password.expose_secret())
            .map_err(|e| e.with_operation(op.clone()))?;
        let mut session = self
            .exec
            .client()
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        session
            .lock(&id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let result = async {
            let row = fetch_db(&session, &id.id)
                .await?
                .ok_or_else(|| Error::not_found(id.to_string()))?;
            match row.ownership() {
                Ownership::Ours(_) => {}
                Ownership::HalfMade(_) => {
                    return Err(Error::conflict(
                        "the database is not fully provisioned; create it again to finish",
                    ))
                }
                Ownership::Foreign => return Err(refuse_foreign(&id.id)),
            }
            session
                .batch(&set_password_sql(&row.owner, &verifier)?)
                .await?;
            Ok(self.connection(&row.name, &row.owner, Some(password)))
        }
        .await;
        let _ = session.unlock(&id.id).await;
        result.map_err(|e| e.with_operation(op))
    }

    /// This provider's own rules on a (layer-validated) spec, as a plan. No SQL.
    fn plan(&self, op: Operation, spec: &ResourceSpec) -> Result<Plan> {
        let ResourceSpec::Database(s) = spec else {
            return Err(self.unsupported(op, spec.kind()));
        };
        Plan::from_spec(s.clone())
    }

    fn connection(
        &self,
        name: &str,
        role: &str,
        password: Option<SecretString>,
    ) -> ConnectionDetails {
        ConnectionDetails::new(
            CONNECTION_SCHEME,
            self.config.tenant_host(),
            self.config.tenant_port(),
            name,
            role,
        )
        .with_password(password)
    }

    fn resource_from(&self, row: &DbRow, password: Option<SecretString>) -> Resource {
        let ownership = row.ownership();
        let (status, marker, managed) = match &ownership {
            Ownership::Ours(m) => (ResourceStatus::Active, Some(m), true),
            Ownership::HalfMade(m) => (ResourceStatus::Provisioning, Some(m), true),
            Ownership::Foreign => (ResourceStatus::Unknown, None, false),
        };
        // -2 marks a database whose DROP was interrupted (PostgreSQL 15.4+).
        let status = if row.connection_limit == -2 {
            ResourceStatus::Error
        } else {
            status
        };
        let mut meta = ResourceMeta::new(
            PROVIDER_ID,
            &self.dock_id,
            ResourceKind::Database,
            &row.name,
            &row.name,
        )
        .with_status(status)
        .with_provider_data(serde_json::json!({
            "oid": row.oid,
            "owner": row.owner,
            "datconnlimit": row.connection_limit,
            "managed": managed,
        }));
        if let Some(m) = marker {
            meta.tenant = m.tenant.clone();
            meta.labels = m.labels.clone();
            meta.created_at = m.created_at;
        }
        Resource::Database(Database {
            meta,
            engine: "postgresql".into(),
            owner: Some(row.owner.clone()),
            size_bytes: row.size_bytes.and_then(|s| u64::try_from(s).ok()),
            connection_limit: (row.connection_limit >= 0).then_some(row.connection_limit),
            connection: Some(self.connection(&row.name, &row.owner, password)),
        })
    }
}

fn refuse_foreign(name: &str) -> Error {
    Error::new(ErrorKind::Refused).with_message(format!(
        "database {name} exists but is not managed by StackDock; it is never changed or dropped"
    ))
}

/// The cursor is a database name (the last one of the previous page):
/// checked as one before any SQL. The layer validates the filters.
fn check_cursor(options: &ListOptions) -> Result<()> {
    match &options.cursor {
        Some(cursor) => identifier("cursor", cursor),
        None => Ok(()),
    }
}

#[async_trait]
impl DockAdapter for PostgresAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    /// Databases, with tenants and labels kept in the owner role's marker
    /// and listings filtered by both. Ids are database names: planned.
    fn capabilities(&self) -> Capabilities {
        Capabilities::new()
            .with_kind(ResourceKind::Database, Operations::ALL)
            .with_arguments(
                Arguments::new()
                    .with_tenancy()
                    .with_labels()
                    .with_list_by_tenant()
                    .with_list_by_labels()
                    .with_max_page_size(MAX_PAGE_SIZE),
            )
    }

    /// `host:port` of the admin connection (never the user or password).
    fn endpoint(&self) -> Option<String> {
        Some(self.config.endpoint())
    }

    /// Owner password rotation, reachable from any dock (see
    /// [`rotate_password`](PostgresAdapter::rotate_password)).
    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        Some(self)
    }

    /// A database's id is its name.
    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        let ResourceSpec::Database(s) = spec else {
            return None;
        };
        identifier("name", &s.name).ok()?;
        Some(ResourceId::new(ResourceKind::Database, s.name.clone()))
    }

    /// Connects and checks the admin may create roles and databases on PostgreSQL 13+.
    async fn check_credentials(&self) -> Result<()> {
        let op = "check credentials";
        let rows = self
            .exec
            .client()
            .query(
                "SELECT pg_catalog.current_setting('server_version_num')::int4, \
                 r.rolsuper, r.rolcreaterole, r.rolcreatedb \
                 FROM pg_catalog.pg_roles r WHERE r.rolname = current_user",
                &[],
            )
            .await
            .map_err(|e| e.with_operation(op))?;
        let row = rows.first().ok_or_else(|| {
            Error::invalid_response("current_user has no pg_roles row").with_operation(op)
        })?;
        let version: i32 = row.get(0);
        let (sup, create_role, create_db): (bool, bool, bool) =
            (row.get(1), row.get(2), row.get(3));
        if version < 130000 {
            return Err(Error::config(format!(
                "PostgreSQL {version} is too old: DROP DATABASE ... WITH (FORCE) needs 13 or later"
            ))
            .with_operation(op));
        }
        if !(sup || (create_role && create_db)) {
            return Err(Error::new(ErrorKind::PermissionDenied)
                .with_message("the admin role needs SUPERUSER, or CREATEROLE and CREATEDB")
                .with_operation(op));
        }
        Ok(())
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let _ = kind; // the layer lets only databases through
        check_cursor(options)?;
        let page_size = options
            .page_size
            .unwrap_or(DEFAULT_PAGE_SIZE)
            .clamp(1, MAX_PAGE_SIZE);
        let labels = if options.labels.is_empty() {
            None
        } else {
            Some(
                serde_json::to_string(&options.labels)
                    .map_err(|e| Error::internal(e.to_string()))?,
            )
        };
        // The owner role's marker decides (see `DbRow::ownership`); it is cast
        // to jsonb only once it is known to be ours (CASE fixes the evaluation
        // order), so foreign comments never break a listing.
        let sql = format!(
            "SELECT {DB_COLUMNS} FROM pg_catalog.pg_database d, \
             LATERAL (SELECT CASE WHEN pg_catalog.starts_with(pg_catalog.shobj_description(d.datdba, 'pg_authid'), $5) \
                      THEN pg_catalog.shobj_description(d.datdba, 'pg_authid')::jsonb END AS marker) m \
             WHERE NOT d.datistemplate AND d.datname <> 'postgres' AND m.marker IS NOT NULL \
               AND m.marker ->> 'database' = d.datname::text \
               AND m.marker ->> 'role' = pg_catalog.pg_get_userbyid(d.datdba)::text \
               AND m.marker ->> 'state' = 'ready' \
               AND ($1::text IS NULL OR d.datname::text COLLATE \"C\" > $1::text) \
               AND ($2::text IS NULL OR m.marker ->> 'tenant' = $2::text) \
               AND ($3::text IS NULL OR m.marker -> 'labels' @> $3::text::jsonb) \
             ORDER BY d.datname::text COLLATE \"C\" LIMIT $4"
        );
        let limit = i64::from(page_size) + 1;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &options.cursor,
            &options.tenant,
            &labels,
            &limit,
            &MARKER_PREFIX,
        ];
        let rows = self.exec.client().query(&sql, &params).await?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            items.push(self.resource_from(&DbRow::from_row(row)?, None));
        }
        let next_cursor = if items.len() > page_size as usize {
            items.truncate(page_size as usize);
            items.last().map(|r| r.name().to_owned())
        } else {
            None
        };
        Ok(Page { items, next_cursor })
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        identifier("id", &id.id)?;
        let session = self.exec.client().session().await?;
        Ok(match fetch_db(&session, &id.id).await? {
            Some(row) => Observation::of(self.resource_from(&row, None), desired),
            None => Observation::absent(),
        })
    }

    /// Under the name's advisory lock: adopt what is ours and compatible,
    /// finish what an interrupted create of ours left, or make it.
    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let plan = self.plan(Operation::Create, spec)?;
        let name = plan.name.clone();
        let mut session = self.exec.client().session().await?;
        session.lock(&name).await?;
        let result = self.create_locked(&session, spec, plan).await;
        // If unlocking fails the session closes its connection, which unlocks.
        let _ = session.unlock(&name).await;
        result
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        identifier("id", &id.id)?;
        let plan = self.plan(Operation::Update, spec)?;
        if plan.name != id.id {
            return Err(Error::invalid_input(
                "name",
                "cannot be changed by an update",
            ));
        }
        let mut session = self.exec.client().session().await?;
        session.lock(&id.id).await?;
        let result = self.update_locked(&session, id, plan).await;
        let _ = session.unlock(&id.id).await;
        result
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        identifier("id", &id.id)?;
        let mut session = self.exec.client().session().await?;
        session.lock(&id.id).await?;
        let result = self.delete_locked(&session, id).await;
        let _ = session.unlock(&id.id).await;
        result
    }
}

impl PostgresAdapter {
    async fn create_locked(
        &self,
        s: &Session<'_>,
        spec: &ResourceSpec,
        plan: Plan,
    ) -> Result<Created> {
        let existing = fetch_db(s, &plan.name).await?;
        if let Some(row) = &existing {
            if let Some(adopted) = self.adopt(s, spec, &plan, row).await? {
                return Ok(adopted);
            }
        }
        let role_exists = our_role_exists(s, &plan).await?;
        if existing.is_some() && !role_exists {
            return Err(Error::internal("half-made database without its role"));
        }
        let password = plan.password.clone().unwrap_or_else(generate_password);
        let verifier = scram::hash_password(password.expose_secret())?;
        let dock = &self.dock_id;
        self.exec
            .provision(s, &plan, dock, role_exists, existing.is_some(), &verifier)
            .await?;
        // This call made it, or finished what an interrupted create of ours
        // left (which no caller was told about): created either way.
        Ok(Created::new(self.read_back(s, &plan, password).await))
    }

    /// What the server made (oid, size, creation time in the marker); what
    /// the plan says when the read fails (the database is made either way).
    async fn read_back(&self, s: &Session<'_>, plan: &Plan, password: SecretString) -> Resource {
        if let Ok(Some(actual)) = fetch_db(s, &plan.name).await {
            return self.resource_from(&actual, Some(password));
        }
        let marker = plan.marker(&self.dock_id, STATE_READY, Some(Utc::now()));
        let row = DbRow {
            name: plan.name.clone(),
            owner: plan.role.clone(),
            connection_limit: plan.connection_limit,
            owner_comment: Some(marker.to_json()),
            size_bytes: None,
            oid: 0,
        };
        self.resource_from(&row, Some(password))
    }

    /// An existing database of the plan's name: `Some` when it is ours,
    /// this tenant's and compatible (adopted); `None` when it is this
    /// tenant's unfinished provisioning, for this call to finish; an error
    /// otherwise (another tenant's or not ours: `AlreadyExists`).
    async fn adopt(
        &self,
        s: &Session<'_>,
        spec: &ResourceSpec,
        plan: &Plan,
        row: &DbRow,
    ) -> Result<Option<Created>> {
        let marker = match row.ownership() {
            Ownership::Foreign => {
                return Err(Error::already_exists(format!(
                    "database {} exists and is not managed by StackDock",
                    plan.name
                )))
            }
            Ownership::Ours(m) | Ownership::HalfMade(m) => m,
        };
        if marker.tenant != plan.tenant {
            return Err(Error::already_exists(format!(
                "database {} belongs to another tenant",
                plan.name
            )));
        }
        if row.owner != plan.role {
            // Also when the spec left the owner to be derived.
            return Err(Error::conflict(format!(
                "database {} exists owned by {}, not {}",
                plan.name, row.owner, plan.role
            )));
        }
        if matches!(row.ownership(), Ownership::HalfMade(_)) {
            return Ok(None);
        }
        let resource = self.resource_from(row, None);
        let (diff, _) = spec.diff(&resource);
        if !diff.is_empty() {
            let fields: Vec<_> = diff.iter().map(|d| d.field.as_str()).collect();
            return Err(Error::conflict(format!(
                "database {} exists with a different {}",
                plan.name,
                fields.join(", ")
            )));
        }
        let password = self.adopt_password(s, plan).await?;
        Ok(Some(Created::adopted(self.resource_from(row, password))))
    }

    async fn update_locked(
        &self,
        s: &Session<'_>,
        id: &ResourceId,
        plan: Plan,
    ) -> Result<Resource> {
        let not_found = || Error::not_found(id.to_string());
        let row = fetch_db(s, &id.id).await?.ok_or_else(not_found)?;
        let marker = match row.ownership() {
            Ownership::Ours(m) => m,
            Ownership::HalfMade(_) => {
                return Err(Error::conflict(format!(
                    "database {} is not fully provisioned; create it again to finish",
                    id.id
                )))
            }
            Ownership::Foreign => return Err(refuse_foreign(&id.id)),
        };
        if marker.tenant != plan.tenant {
            // A request scoped to another tenant never learns of this one.
            return Err(match plan.tenant {
                Some(_) => not_found(),
                None => Error::conflict("the tenant of a database cannot be changed"),
            });
        }
        let mut plan = plan;
        if !plan.owner_given {
            // An update without an owner keeps the one there is.
            plan.role = row.owner.clone();
        }
        if row.owner != plan.role {
            return Err(Error::conflict(format!(
                "the owner of database {} is {}; it cannot be changed by an update",
                id.id, row.owner
            )));
        }
        let statements = plan.update_statements(row.connection_limit, &marker)?;
        if !statements.is_empty() {
            // One implicit transaction: all of it or none.
            s.batch(&statements.join("; ")).await?;
        }
        let row = fetch_db(s, &id.id).await?.ok_or_else(not_found)?;
        Ok(self.resource_from(&row, plan.password))
    }

    async fn delete_locked(&self, s: &Session<'_>, id: &ResourceId) -> Result<()> {
        let row = fetch_db(s, &id.id).await?;
        let owner = match &row {
            Some(row) => match row.ownership() {
                Ownership::Foreign => return Err(refuse_foreign(&id.id)),
                Ownership::Ours(m) | Ownership::HalfMade(m) => m.role,
            },
            None => id.id.clone(),
        };
        if row.is_some() {
            // FORCE terminates the tenant's sessions first (PostgreSQL 13+).
            s.batch(&drop_database_sql(&id.id)?).await?;
        }
        // Roles made for this database, found by their marker (also after an
        // earlier delete stopped between dropping the database and the role).
        let (roles, _) = fetch_roles(s, &id.id, &owner).await?;
        for role in roles {
            s.batch(&drop_role_sql(&role)?).await?;
        }
        Ok(())
    }
}

/// Whether the plan's role exists as ours for this database and tenant
/// (left by an interrupted create); an error when the name is taken otherwise.
async fn our_role_exists(s: &Session<'_>, plan: &Plan) -> Result<bool> {
    match fetch_roles(s, &plan.name, &plan.role).await?.1 {
        None => Ok(false),
        Some(Some(m)) if m.database == plan.name && m.tenant == plan.tenant => Ok(true),
        Some(Some(_)) => Err(Error::conflict(format!(
            "role {} already owns another StackDock database; each database gets its own owner",
            plan.role
        ))),
        Some(None) => Err(Error::already_exists(format!(
            "role {} exists and is not managed by StackDock",
            plan.role
        ))),
    }
}

impl PostgresAdapter {
    /// The password to hand back when a create adopts a database of ours.
    ///
    /// With [`PostgresConfig::rotate_password_on_adopt`]: set the spec's
    /// password (or a new one) and return it; the recovery when an earlier
    /// create's reply, and the password it generated, were lost. Otherwise
    /// the spec's password, only if it is the one stored (`None` when that
    /// cannot be read: the admin is not a superuser); no spec password, `None`.
    async fn adopt_password(&self, s: &Session<'_>, plan: &Plan) -> Result<Option<SecretString>> {
        if self.config.rotate_password_on_adopt {
            let password = plan.password.clone().unwrap_or_else(generate_password);
            let verifier = scram::hash_password(password.expose_secret())?;
            s.batch(&set_password_sql(&plan.role, &verifier)?).await?;
            return Ok(Some(password));
        }
        let Some(p) = &plan.password else {
            return Ok(None);
        };
        match password_matches(s, &plan.role, p).await {
            Ok(true) => Ok(Some(p.clone())),
            Ok(false) => Err(Error::conflict(format!(
                "database {} exists and its owner has a different password; update it to rotate, \
                 or set rotate_password_on_adopt",
                plan.name
            ))),
            // pg_authid unreadable (not a superuser): adopt without a password.
            // Any other failure is reported, never read as "no password".
            Err(e) if e.kind() == &stackdock_core::ErrorKind::PermissionDenied => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// [`PostgresAdapter::rotate_password`] as the core extension: a control plane
/// holding `Arc<dyn DockAdapter>` rotates a database owner's password with
/// `dock.require_password_rotation()?.rotate_password(&id, Some(password))`.
/// Same checks (SASLprep, NUL, ownership), same lock, SCRAM verifier only.
#[async_trait]
impl PasswordRotation for PostgresAdapter {
    async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<RotatedPassword> {
        let connection = PostgresAdapter::rotate_password(self, id, password).await?;
        let password = connection
            .password
            .clone()
            .ok_or_else(|| Error::internal("a rotation returned no password"))?;
        Ok(RotatedPassword {
            id: id.clone(),
            user: connection.user.clone(),
            password,
            connection: Some(connection),
        })
    }
}
