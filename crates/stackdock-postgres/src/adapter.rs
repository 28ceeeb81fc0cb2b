//! [`PostgresAdapter`]: tenant databases as [`Database`] resources.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rand::distributions::{Alphanumeric, DistString};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use stackdock_core::resource::{ConnectionDetails, Database};
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{
    Capabilities, DockAdapter, Error, ErrorKind, ListOptions, Observation, Operation, Operations,
    Page, ProviderInfo, Resource, ResourceId, ResourceKind, ResourceMeta, ResourceSpec,
    ResourceStatus, Result,
};

use crate::client::{PgClient, Session};
use crate::config::PostgresConfig;
use crate::scram;
use crate::sql::{identifier, quote_ident, quote_literal};

/// Provider id of this adapter.
pub const PROVIDER_ID: &str = "postgres";
/// Length of generated passwords (alphanumeric, about 190 bits).
pub const GENERATED_PASSWORD_LEN: usize = 32;
/// Default page size of [`DockAdapter::list`].
pub const DEFAULT_PAGE_SIZE: u32 = 100;
/// Largest page of [`DockAdapter::list`].
pub const MAX_PAGE_SIZE: u32 = 1000;

/// Marker state once every provisioning step has run.
const STATE_READY: &str = "ready";
/// Marker state while provisioning runs.
const STATE_PROVISIONING: &str = "provisioning";

/// Start of every comment StackDock puts on its databases and roles.
const MARKER_PREFIX: &str = "{\"managed_by\":\"stackdock\",";

/// The steps of provisioning, in order. `CREATE DATABASE` cannot run in a
/// transaction, so these are separate; a failure at any step undoes the
/// steps this call already made, in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProvisionStep {
    /// `CREATE ROLE ... LOGIN PASSWORD '<SCRAM verifier>'` plus its marker
    /// comment, in one transaction (or `ALTER ROLE ... PASSWORD` when an
    /// earlier, interrupted provisioning left the role).
    CreateRole,
    /// `CREATE DATABASE ... OWNER ... TEMPLATE template0 [CONNECTION LIMIT n]`.
    CreateDatabase,
    /// In one transaction: revoke every privilege on the database from
    /// `PUBLIC` (CONNECT and TEMPORARY are PUBLIC's defaults), grant all of
    /// them to the owner, and set the role's marker to `ready` (copied onto
    /// the database's comment), which makes the database StackDock's.
    SecureDatabase,
}

impl ProvisionStep {
    /// Every step, in order.
    pub const ALL: [ProvisionStep; 3] = [
        ProvisionStep::CreateRole,
        ProvisionStep::CreateDatabase,
        ProvisionStep::SecureDatabase,
    ];

    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProvisionStep::CreateRole => "create_role",
            ProvisionStep::CreateDatabase => "create_database",
            ProvisionStep::SecureDatabase => "secure_database",
        }
    }
}

/// When an injected fault fires, relative to its step.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultTiming {
    /// Instead of running the step.
    Before,
    /// After the step ran and succeeded (as if the reply was lost).
    After,
    /// After the step ran and succeeded, never return: the caller's future
    /// has to be dropped, as when its reply is lost and it gives up.
    HangAfter,
}

/// The SQLSTATE-like code of injected faults.
#[doc(hidden)]
pub const INJECTED_FAULT_CODE: &str = "stackdock_injected_fault";

/// The JSON marker in `COMMENT ON ROLE` (authoritative: tenants cannot
/// change it) and, as a copy for people, `COMMENT ON DATABASE`.
///
/// Field order matters: serialisation starts with [`MARKER_PREFIX`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Marker {
    managed_by: String,
    v: u32,
    /// `database` or `role`.
    object: String,
    /// `provisioning` until the last step, then `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    database: String,
    role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tenant: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
}

impl Marker {
    fn parse(comment: Option<&str>) -> Option<Marker> {
        let c = comment?;
        if !c.starts_with(MARKER_PREFIX) {
            return None;
        }
        serde_json::from_str::<Marker>(c)
            .ok()
            .filter(|m| m.managed_by == "stackdock")
    }

    fn to_json(&self) -> String {
        // A struct of strings and a string map always serialises.
        serde_json::to_string(self).expect("marker serialises")
    }
}

/// What one catalog row says about a database and its owner.
struct DbRow {
    name: String,
    owner: String,
    connection_limit: i32,
    owner_comment: Option<String>,
    size_bytes: Option<i64>,
    oid: u32,
}

/// Columns of [`DbRow`]; `d` is `pg_database`.
/// The size needs CONNECT on the database (or `pg_read_all_stats`), so a
/// non-superuser admin gets `NULL` rather than an error.
const DB_COLUMNS: &str = "d.datname, pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit, \
     pg_catalog.shobj_description(d.datdba, 'pg_authid'), \
     CASE WHEN pg_catalog.has_database_privilege(d.oid, 'CONNECT') \
               OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') \
          THEN pg_catalog.pg_database_size(d.oid) END, \
     d.oid";

impl DbRow {
    fn from_row(row: &Row) -> Result<Self> {
        let bad = |e: tokio_postgres::Error| {
            Error::invalid_response(format!("unexpected pg_database row: {e}"))
        };
        Ok(DbRow {
            name: row.try_get(0).map_err(bad)?,
            owner: row.try_get(1).map_err(bad)?,
            connection_limit: row.try_get(2).map_err(bad)?,
            owner_comment: row.try_get(3).map_err(bad)?,
            size_bytes: row.try_get(4).map_err(bad)?,
            oid: row.try_get(5).map_err(bad)?,
        })
    }

    /// Who the database belongs to, by the **role's** marker: a tenant owns
    /// its database and could rewrite the database's comment, but cannot
    /// comment on roles (that needs CREATEROLE), nor rename the database or
    /// give it away (that needs CREATEDB).
    fn ownership(&self) -> Ownership {
        match Marker::parse(self.owner_comment.as_deref()) {
            Some(m) if m.database == self.name && m.role == self.owner => {
                if m.state.as_deref() == Some(STATE_READY) {
                    Ownership::Ours(m)
                } else {
                    // Created by an interrupted provisioning.
                    Ownership::HalfMade(m)
                }
            }
            _ => Ownership::Foreign,
        }
    }
}

enum Ownership {
    /// Marked as StackDock's.
    Ours(Marker),
    /// Owned by our role for this database, not yet marked (provisioning was interrupted).
    HalfMade(Marker),
    /// Not StackDock's: never changed or dropped.
    Foreign,
}

/// A PostgreSQL server as a StackDock dock: each [`Database`] resource is a
/// tenant database with its own login role.
///
/// See the [crate documentation](crate) for the SQL it runs and the guarantees.
pub struct PostgresAdapter {
    info: ProviderInfo,
    dock_id: String,
    config: PostgresConfig,
    client: PgClient,
    fault: Mutex<Option<(ProvisionStep, FaultTiming)>>,
    /// Whether the admin is a superuser, asked once.
    superuser: tokio::sync::OnceCell<bool>,
}

impl fmt::Debug for PostgresAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresAdapter")
            .field("dock_id", &self.dock_id)
            .field("config", &self.config)
            .field("client", &self.client)
            .finish()
    }
}

fn generate_password() -> SecretString {
    SecretString::from(Alphanumeric.sample_string(&mut rand::rngs::OsRng, GENERATED_PASSWORD_LEN))
}

fn injected(step: ProvisionStep, timing: FaultTiming) -> Error {
    Error::provider(
        None,
        Some(INJECTED_FAULT_CODE.into()),
        format!("fault injected {timing:?} step {}", step.as_str()),
    )
}

/// The validated parts of a database spec.
struct Plan {
    name: String,
    role: String,
    /// Whether the spec named the owner (else it was derived from the name).
    owner_given: bool,
    password: Option<SecretString>,
    connection_limit: i32,
    tenant: Option<String>,
    labels: BTreeMap<String, String>,
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
            client,
            fault: Mutex::new(None),
            superuser: tokio::sync::OnceCell::new(),
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
        self.client.sql_sent()
    }

    /// The admin connection pool.
    #[doc(hidden)]
    pub fn client(&self) -> &PgClient {
        &self.client
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

    /// Make the next provisioning fail at `step`, at `timing`.
    #[doc(hidden)]
    pub fn inject(&self, step: ProvisionStep, timing: FaultTiming) {
        *self.fault.lock().unwrap_or_else(|e| e.into_inner()) = Some((step, timing));
    }

    fn take_fault(&self, step: ProvisionStep, timing: FaultTiming) -> Option<Error> {
        let mut f = self.fault.lock().unwrap_or_else(|e| e.into_inner());
        if *f == Some((step, timing)) {
            *f = None;
            return Some(injected(step, timing));
        }
        None
    }

    /// Set a new password for the owner of database `id` (generated when
    /// `password` is `None`); returns the new connection details.
    pub async fn rotate_password(
        &self,
        id: &ResourceId,
        password: Option<SecretString>,
    ) -> Result<ConnectionDetails> {
        let op = Operation::Update.on(ResourceKind::Database);
        check_kind(self, Operation::Update, id.kind)?;
        identifier("id", &id.id).map_err(|e| e.with_operation(op.clone()))?;
        let password = password.unwrap_or_else(generate_password);
        let verifier = scram::hash_password(password.expose_secret())
            .map_err(|e| e.with_operation(op.clone()))?;
        let mut session = self
            .client
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        session
            .lock(&id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let result = async {
            let row = self
                .fetch_db(&session, &id.id)
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
                .batch(&format!(
                    "ALTER ROLE {} WITH PASSWORD {}",
                    quote_ident(&row.owner)?,
                    quote_literal(&verifier)?
                ))
                .await?;
            Ok(self.connection(&row.name, &row.owner, Some(password)))
        }
        .await;
        let _ = session.unlock(&id.id).await;
        result.map_err(|e| e.with_operation(op))
    }

    /// Validate a spec into a plan. No SQL.
    fn plan(&self, spec: &ResourceSpec) -> Result<Plan> {
        let spec = spec.validate()?;
        let ResourceSpec::Database(s) = spec else {
            return Err(self.unsupported(Operation::Create, spec.kind()));
        };
        identifier("name", &s.name)?;
        let role = s.owner.clone().unwrap_or_else(|| s.name.clone());
        identifier("owner", &role)?;
        if let Some(p) = &s.password {
            // Before any SQL: PostgreSQL would clear a password that is empty
            // after SASLprep, and no client can send one holding NUL.
            scram::check_password("password", p.expose_secret())?;
        }
        if let Some(t) = &s.common.tenant {
            quote_literal(t)?;
        }
        Ok(Plan {
            owner_given: s.owner.is_some(),
            name: s.name,
            role,
            password: s.password,
            connection_limit: s.connection_limit.unwrap_or(-1),
            tenant: s.common.tenant,
            labels: s.common.labels,
        })
    }

    fn marker(
        &self,
        plan: &Plan,
        object: &str,
        state: &str,
        created_at: Option<DateTime<Utc>>,
    ) -> Marker {
        Marker {
            managed_by: "stackdock".into(),
            v: 1,
            object: object.into(),
            state: Some(state.into()),
            database: plan.name.clone(),
            role: plan.role.clone(),
            tenant: plan.tenant.clone(),
            labels: plan.labels.clone(),
            dock: Some(self.dock_id.clone()),
            created_at,
        }
    }

    fn connection(
        &self,
        name: &str,
        role: &str,
        password: Option<SecretString>,
    ) -> ConnectionDetails {
        ConnectionDetails {
            host: self.config.tenant_host().to_owned(),
            port: self.config.tenant_port(),
            database: name.to_owned(),
            user: role.to_owned(),
            password,
        }
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

    async fn fetch_db(&self, s: &Session<'_>, name: &str) -> Result<Option<DbRow>> {
        let sql = format!(
            "SELECT {DB_COLUMNS} FROM pg_catalog.pg_database d \
             WHERE d.datname = $1 AND NOT d.datistemplate"
        );
        let rows = s.query(&sql, &[&name]).await?;
        rows.first().map(DbRow::from_row).transpose()
    }

    /// Our roles made for database `name` (normally one; none once deleted),
    /// and whether role `role` exists at all and what its marker says.
    async fn fetch_roles(
        &self,
        s: &Session<'_>,
        name: &str,
        role: &str,
    ) -> Result<(Vec<String>, Option<Option<Marker>>)> {
        let sql = "SELECT r.rolname, pg_catalog.shobj_description(r.oid, 'pg_authid') \
             FROM pg_catalog.pg_roles r \
             WHERE r.rolname = $2 \
                OR (pg_catalog.starts_with(pg_catalog.shobj_description(r.oid, 'pg_authid'), $3) \
                    AND pg_catalog.shobj_description(r.oid, 'pg_authid') LIKE '%\"database\":' || pg_catalog.to_json($1::text)::text || '%')";
        let rows = s.query(sql, &[&name, &role, &MARKER_PREFIX]).await?;
        let mut ours = Vec::new();
        let mut named = None;
        for row in rows {
            let rolname: String = row
                .try_get(0)
                .map_err(|e| Error::invalid_response(format!("unexpected pg_roles row: {e}")))?;
            let comment: Option<String> = row
                .try_get(1)
                .map_err(|e| Error::invalid_response(format!("unexpected pg_roles row: {e}")))?;
            let marker = Marker::parse(comment.as_deref());
            if marker
                .as_ref()
                .is_some_and(|m| m.database == name && m.role == rolname)
            {
                ours.push(rolname.clone());
            }
            if rolname == role {
                named = Some(marker);
            }
        }
        Ok((ours, named))
    }

    async fn step(&self, s: &Session<'_>, step: ProvisionStep, sql: &str) -> Result<()> {
        if let Some(e) = self.take_fault(step, FaultTiming::Before) {
            return Err(e);
        }
        s.batch(sql).await?;
        if let Some(e) = self.take_fault(step, FaultTiming::After) {
            return Err(e);
        }
        if self.take_fault(step, FaultTiming::HangAfter).is_some() {
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    /// `COMMENT ON ROLE` (authoritative) and `COMMENT ON DATABASE` (a copy
    /// for people browsing `\l+`) for `marker`, as one `;`-joined text.
    fn marker_sql(&self, marker: &Marker) -> Result<String> {
        let role = quote_ident(&marker.role)?;
        let db = quote_ident(&marker.database)?;
        let mut on_role = marker.clone();
        on_role.object = "role".into();
        let mut on_db = marker.clone();
        on_db.object = "database".into();
        Ok(format!(
            "COMMENT ON ROLE {role} IS {}; COMMENT ON DATABASE {db} IS {}",
            quote_literal(&on_role.to_json())?,
            quote_literal(&on_db.to_json())?
        ))
    }

    fn secure_sql(&self, plan: &Plan, created_at: DateTime<Utc>) -> Result<String> {
        let db = quote_ident(&plan.name)?;
        let role = quote_ident(&plan.role)?;
        let marks = self.marker_sql(&self.marker(plan, "role", STATE_READY, Some(created_at)))?;
        Ok(format!(
            "REVOKE ALL PRIVILEGES ON DATABASE {db} FROM PUBLIC; \
             GRANT ALL PRIVILEGES ON DATABASE {db} TO {role}; \
             {marks}"
        ))
    }

    /// Run the provisioning steps; on failure undo what this call made.
    async fn provision(
        &self,
        s: &Session<'_>,
        plan: &Plan,
        role_exists: bool,
        db_exists: bool,
        verifier: &str,
    ) -> Result<()> {
        let created_at = Utc::now();
        let db = quote_ident(&plan.name)?;
        let role = quote_ident(&plan.role)?;
        let verifier_lit = quote_literal(verifier)?;
        let mut made_role = false;
        let mut made_db = false;
        let result: Result<()> = async {
            let role_sql = if role_exists {
                format!("ALTER ROLE {role} WITH PASSWORD {verifier_lit}")
            } else {
                let marker = quote_literal(
                    &self
                        .marker(plan, "role", STATE_PROVISIONING, Some(created_at))
                        .to_json(),
                )?;
                // A CREATEROLE admin that is not a superuser must be able to
                // SET ROLE to the owner to name it in CREATE DATABASE ... OWNER,
                // and to act as owner when securing and dropping the database.
                let membership = if self.is_superuser(s).await? {
                    String::new()
                } else {
                    format!("; GRANT {role} TO CURRENT_USER")
                };
                // The role's limit backs the database's: a tenant owns its
                // database and could raise that one, but not its role's.
                format!(
                    "CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
                     NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT {} PASSWORD {verifier_lit}; \
                     COMMENT ON ROLE {role} IS {marker}{membership}",
                    plan.connection_limit
                )
            };
            // Mark before running: an `After` fault means the step *did* run.
            let r = self.step(s, ProvisionStep::CreateRole, &role_sql).await;
            if !role_exists && !matches!(&r, Err(e) if !is_after_fault(e)) {
                made_role = true;
            }
            r?;
            if !db_exists {
                let sql = format!(
                    "CREATE DATABASE {db} WITH OWNER {role} TEMPLATE template0 CONNECTION LIMIT {}",
                    plan.connection_limit
                );
                let r = self.step(s, ProvisionStep::CreateDatabase, &sql).await;
                if !matches!(&r, Err(e) if !is_after_fault(e)) {
                    made_db = true;
                }
                r?;
            }
            self.step(
                s,
                ProvisionStep::SecureDatabase,
                &self.secure_sql(plan, created_at)?,
            )
            .await
        }
        .await;
        let Err(original) = result else {
            return Ok(());
        };
        // A name taken between our check and the step: by someone outside
        // StackDock (we hold the lock for this name). Worth a retry to adopt or report.
        let mut original = if matches!(original.kind(), ErrorKind::AlreadyExists) {
            Error::conflict(format!(
                "{} was created concurrently by someone else: {}",
                plan.name,
                original.message().unwrap_or_default()
            ))
            .with_status(stackdock_core::ErrorStatus::Temporary)
        } else {
            original
        };
        // Undo in reverse order; keep the original error, note undo failures.
        if made_db {
            if let Err(e) = self
                .undo(s, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
            {
                tracing::warn!(database = %plan.name, error = %e, "rollback: dropping the database failed");
                original = original.with_context("rollback_error", e.to_string());
            }
        }
        if made_role {
            if let Err(e) = self.undo(s, &format!("DROP ROLE IF EXISTS {role}")).await {
                tracing::warn!(role = %plan.role, error = %e, "rollback: dropping the role failed");
                original = original.with_context("rollback_error", e.to_string());
            }
        }
        Err(original)
    }
}

fn is_after_fault(e: &Error) -> bool {
    matches!(e.kind(), ErrorKind::Provider { code: Some(c), message, .. }
        if c == INJECTED_FAULT_CODE && message.starts_with("fault injected After"))
}

fn refuse_foreign(name: &str) -> Error {
    Error::new(ErrorKind::Refused).with_message(format!(
        "database {name} exists but is not managed by StackDock; it is never changed or dropped"
    ))
}

/// Filters and cursor are checked like specs, before any SQL (they travel
/// as bind parameters, but NUL or a malformed cursor would only fail later).
fn check_list_options(options: &ListOptions) -> Result<()> {
    if let Some(cursor) = &options.cursor {
        identifier("cursor", cursor)?;
    }
    if let Some(tenant) = &options.tenant {
        stackdock_core::validate::resource_name("tenant", tenant, 128)?;
    }
    for (k, v) in &options.labels {
        stackdock_core::validate::label("labels", k, v)?;
    }
    if options.parent.is_some() {
        return Err(Error::invalid_input(
            "parent",
            "databases have no parent on this provider",
        ));
    }
    Ok(())
}

fn check_kind(adapter: &PostgresAdapter, op: Operation, kind: ResourceKind) -> Result<()> {
    if kind != ResourceKind::Database {
        return Err(adapter.unsupported(op, kind));
    }
    Ok(())
}

#[async_trait]
impl DockAdapter for PostgresAdapter {
    fn provider(&self) -> &ProviderInfo {
        &self.info
    }

    fn dock_id(&self) -> &str {
        &self.dock_id
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            database: Operations::ALL,
            ..Default::default()
        }
    }

    /// Connects and checks the admin may create roles and databases on PostgreSQL 13+.
    async fn check_credentials(&self) -> Result<()> {
        let op = "check credentials";
        let rows = self
            .client
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
        check_kind(self, Operation::List, kind)?;
        let op = Operation::List.on(kind);
        check_list_options(options).map_err(|e| e.with_operation(op.clone()))?;
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
        let rows = self
            .client
            .query(
                &sql,
                &[
                    &options.cursor,
                    &options.tenant,
                    &labels,
                    &limit,
                    &MARKER_PREFIX,
                ],
            )
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let mut items = Vec::with_capacity(rows.len());
        for row in &rows {
            let row = DbRow::from_row(row).map_err(|e| e.with_operation(op.clone()))?;
            items.push(self.resource_from(&row, None));
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
        check_kind(self, Operation::Observe, id.kind)?;
        let op = Operation::Observe.on(id.kind);
        identifier("id", &id.id).map_err(|e| e.with_operation(op.clone()))?;
        if let Some(spec) = desired {
            if spec.kind() != id.kind {
                return Err(
                    Error::invalid_input("kind", "spec kind does not match id").with_operation(op)
                );
            }
        }
        let session = self
            .client
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let row = self
            .fetch_db(&session, &id.id)
            .await
            .map_err(|e| e.with_operation(op))?;
        Ok(match row {
            Some(row) => Observation::of(self.resource_from(&row, None), desired),
            None => Observation::absent(),
        })
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Resource> {
        check_kind(self, Operation::Create, spec.kind())?;
        let op = Operation::Create.on(spec.kind());
        let plan = self.plan(spec).map_err(|e| e.with_operation(op.clone()))?;
        let mut session = self
            .client
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        session
            .lock(&plan.name)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let name = plan.name.clone();
        let result = self.create_locked(&session, spec, plan, op.clone()).await;
        // If unlocking fails the session closes its connection, which unlocks.
        let _ = session.unlock(&name).await;
        result.map_err(|e| e.with_operation(op))
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        check_kind(self, Operation::Update, id.kind)?;
        let op = Operation::Update.on(id.kind);
        if spec.kind() != id.kind {
            return Err(
                Error::invalid_input("kind", "spec kind does not match id").with_operation(op)
            );
        }
        identifier("id", &id.id).map_err(|e| e.with_operation(op.clone()))?;
        let plan = self.plan(spec).map_err(|e| e.with_operation(op.clone()))?;
        if plan.name != id.id {
            return Err(
                Error::invalid_input("name", "cannot be changed by an update").with_operation(op),
            );
        }
        let mut session = self
            .client
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        session
            .lock(&id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let result = self.update_locked(&session, id, plan, op.clone()).await;
        let _ = session.unlock(&id.id).await;
        result.map_err(|e| e.with_operation(op))
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        check_kind(self, Operation::Delete, id.kind)?;
        let op = Operation::Delete.on(id.kind);
        identifier("id", &id.id).map_err(|e| e.with_operation(op.clone()))?;
        let mut session = self
            .client
            .session()
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        session
            .lock(&id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let result = self.delete_locked(&session, id, op.clone()).await;
        let _ = session.unlock(&id.id).await;
        result.map_err(|e| e.with_operation(op))
    }
}

impl PostgresAdapter {
    async fn create_locked(
        &self,
        s: &Session<'_>,
        spec: &ResourceSpec,
        plan: Plan,
        op: String,
    ) -> Result<Resource> {
        let existing = self
            .fetch_db(s, &plan.name)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        if let Some(row) = &existing {
            match row.ownership() {
                Ownership::Foreign => {
                    return Err(Error::already_exists(format!(
                        "database {} exists and is not managed by StackDock",
                        plan.name
                    ))
                    .with_operation(op))
                }
                Ownership::Ours(m) => {
                    if m.tenant != plan.tenant {
                        return Err(Error::already_exists(format!(
                            "database {} belongs to another tenant",
                            plan.name
                        ))
                        .with_operation(op));
                    }
                    if row.owner != plan.role {
                        // Also when the spec left the owner to be derived.
                        return Err(Error::conflict(format!(
                            "database {} exists owned by {}, not {}",
                            plan.name, row.owner, plan.role
                        ))
                        .with_operation(op));
                    }
                    let resource = self.resource_from(row, None);
                    let (diff, _) = spec.diff(&resource);
                    if !diff.is_empty() {
                        let fields: Vec<_> = diff.iter().map(|d| d.field.as_str()).collect();
                        return Err(Error::conflict(format!(
                            "database {} exists with a different {}",
                            plan.name,
                            fields.join(", ")
                        ))
                        .with_operation(op));
                    }
                    let password = self
                        .adopt_password(s, &plan)
                        .await
                        .map_err(|e| e.with_operation(op))?;
                    return Ok(self.resource_from(row, password));
                }
                Ownership::HalfMade(m) => {
                    if m.tenant != plan.tenant || row.owner != plan.role {
                        return Err(Error::conflict(format!(
                            "database {} is an unfinished provisioning for another tenant or owner",
                            plan.name
                        ))
                        .with_operation(op));
                    }
                }
            }
        }
        let (_, role_state) = self
            .fetch_roles(s, &plan.name, &plan.role)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let role_exists = match role_state {
            None => false,
            Some(Some(m)) if m.database == plan.name && m.tenant == plan.tenant => true,
            Some(Some(_)) => {
                return Err(Error::conflict(format!(
                "role {} already owns another StackDock database; each database gets its own owner",
                plan.role
            ))
                .with_operation(op))
            }
            Some(None) => {
                return Err(Error::already_exists(format!(
                    "role {} exists and is not managed by StackDock",
                    plan.role
                ))
                .with_operation(op))
            }
        };
        if existing.is_some() && !role_exists {
            return Err(Error::internal("half-made database without its role").with_operation(op));
        }
        let password = plan.password.clone().unwrap_or_else(generate_password);
        let verifier = scram::hash_password(password.expose_secret())
            .map_err(|e| e.with_operation(op.clone()))?;
        self.provision(s, &plan, role_exists, existing.is_some(), &verifier)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let row = DbRow {
            name: plan.name.clone(),
            owner: plan.role.clone(),
            connection_limit: plan.connection_limit,
            owner_comment: Some(
                self.marker(&plan, "role", STATE_READY, Some(Utc::now()))
                    .to_json(),
            ),
            size_bytes: None,
            oid: 0,
        };
        // Read back what the server made (oid, size, creation time in the marker).
        match self.fetch_db(s, &plan.name).await {
            Ok(Some(actual)) => Ok(self.resource_from(&actual, Some(password))),
            _ => Ok(self.resource_from(&row, Some(password))),
        }
    }

    async fn update_locked(
        &self,
        s: &Session<'_>,
        id: &ResourceId,
        plan: Plan,
        op: String,
    ) -> Result<Resource> {
        let row = self
            .fetch_db(s, &id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?
            .ok_or_else(|| Error::not_found(id.to_string()).with_operation(op.clone()))?;
        let marker = match row.ownership() {
            Ownership::Ours(m) => m,
            Ownership::HalfMade(_) => {
                return Err(Error::conflict(format!(
                    "database {} is not fully provisioned; create it again to finish",
                    id.id
                ))
                .with_operation(op))
            }
            Ownership::Foreign => return Err(refuse_foreign(&id.id).with_operation(op)),
        };
        if marker.tenant != plan.tenant {
            return Err(
                Error::conflict("the tenant of a database cannot be changed").with_operation(op),
            );
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
            ))
            .with_operation(op));
        }
        let db = quote_ident(&plan.name).map_err(|e| e.with_operation(op.clone()))?;
        let role = quote_ident(&plan.role).map_err(|e| e.with_operation(op.clone()))?;
        let mut statements = Vec::new();
        if row.connection_limit != plan.connection_limit {
            // Both limits, as at creation.
            statements.push(format!(
                "ALTER DATABASE {db} WITH CONNECTION LIMIT {n}; ALTER ROLE {role} WITH CONNECTION LIMIT {n}",
                n = plan.connection_limit
            ));
        }
        if let Some(p) = &plan.password {
            let verifier = scram::hash_password(p.expose_secret())
                .and_then(|v| quote_literal(&v))
                .map_err(|e| e.with_operation(op.clone()))?;
            statements.push(format!("ALTER ROLE {role} WITH PASSWORD {verifier}"));
        }
        if marker.labels != plan.labels {
            let mut m = marker.clone();
            m.labels = plan.labels.clone();
            statements.push(self.marker_sql(&m)?);
        }
        if !statements.is_empty() {
            // One implicit transaction: all of it or none.
            s.batch(&statements.join("; "))
                .await
                .map_err(|e| e.with_operation(op.clone()))?;
        }
        let row = self
            .fetch_db(s, &id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?
            .ok_or_else(|| Error::not_found(id.to_string()).with_operation(op))?;
        Ok(self.resource_from(&row, plan.password))
    }

    async fn delete_locked(&self, s: &Session<'_>, id: &ResourceId, op: String) -> Result<()> {
        let row = self
            .fetch_db(s, &id.id)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        let owner = match &row {
            Some(row) => match row.ownership() {
                Ownership::Foreign => return Err(refuse_foreign(&id.id).with_operation(op)),
                Ownership::Ours(m) | Ownership::HalfMade(m) => m.role,
            },
            None => id.id.clone(),
        };
        if row.is_some() {
            // FORCE terminates the tenant's sessions first (PostgreSQL 13+).
            let db = quote_ident(&id.id).map_err(|e| e.with_operation(op.clone()))?;
            s.batch(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await
                .map_err(|e| e.with_operation(op.clone()))?;
        }
        // Roles made for this database, found by their marker (also after an
        // earlier delete stopped between dropping the database and the role).
        let (roles, _) = self
            .fetch_roles(s, &id.id, &owner)
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        for role in roles {
            let r = quote_ident(&role).map_err(|e| e.with_operation(op.clone()))?;
            // REASSIGN/DROP OWNED clear what the role owns or was granted in
            // this (maintenance) database and in shared catalogs.
            s.batch(&format!(
                "REASSIGN OWNED BY {r} TO CURRENT_USER; DROP OWNED BY {r}; DROP ROLE {r}"
            ))
            .await
            .map_err(|e| e.with_operation(op.clone()))?;
        }
        Ok(())
    }
}

impl PostgresAdapter {
    async fn is_superuser(&self, s: &Session<'_>) -> Result<bool> {
        self.superuser
            .get_or_try_init(|| async {
                let rows = s
                    .query(
                        "SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user",
                        &[],
                    )
                    .await?;
                Ok(rows
                    .first()
                    .and_then(|r| r.try_get::<_, bool>(0).ok())
                    .unwrap_or(false))
            })
            .await
            .copied()
    }

    /// Run a compensating statement on the session, or on a fresh connection
    /// when the session's connection is what broke.
    async fn undo(&self, s: &Session<'_>, sql: &str) -> Result<()> {
        match s.batch(sql).await {
            Err(e) if matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout) => {
                self.client.batch(sql).await
            }
            other => other,
        }
    }

    /// Whether `password` matches the role's stored SCRAM verifier. Needs to
    /// read `pg_authid` (superuser); `Err` when that is not possible.
    async fn password_matches(
        &self,
        s: &Session<'_>,
        role: &str,
        password: &SecretString,
    ) -> Result<bool> {
        let rows = s
            .query(
                "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = $1",
                &[&role],
            )
            .await?;
        let stored: Option<String> = rows.first().and_then(|r| r.try_get(0).ok()).flatten();
        match stored {
            Some(v) => scram::verify_password(&v, password.expose_secret()),
            None => Ok(false),
        }
    }

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
            s.batch(&format!(
                "ALTER ROLE {} WITH PASSWORD {}",
                quote_ident(&plan.role)?,
                quote_literal(&verifier)?
            ))
            .await?;
            return Ok(Some(password));
        }
        let Some(p) = &plan.password else {
            return Ok(None);
        };
        match self.password_matches(s, &plan.role, p).await {
            Ok(true) => Ok(Some(p.clone())),
            Ok(false) => Err(Error::conflict(format!(
                "database {} exists and its owner has a different password; update it to rotate, \
                 or set rotate_password_on_adopt",
                plan.name
            ))),
            // pg_authid unreadable (not a superuser): adopt without a password.
            Err(_) => Ok(None),
        }
    }
}
