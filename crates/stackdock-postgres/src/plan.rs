//! The pure half of the adapter: a database spec becomes a validated
//! [`Plan`], and a plan becomes the SQL text of each step. No I/O here, so
//! every statement can be checked without a server.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::DatabaseSpec;
use stackdock_core::Result;

use crate::catalog::{Marker, STATE_PROVISIONING, STATE_READY};
use crate::scram;
use crate::sql::{identifier, quote_ident, quote_literal};

/// The validated parts of a database spec.
#[derive(Debug)]
pub(crate) struct Plan {
    /// Database name.
    pub(crate) name: String,
    /// Owner role (the spec's, or the database name).
    pub(crate) role: String,
    /// Whether the spec named the owner (else it was derived from the name).
    pub(crate) owner_given: bool,
    /// The caller's password, if any (else one is generated when needed).
    pub(crate) password: Option<SecretString>,
    /// `-1` for unlimited.
    pub(crate) connection_limit: i32,
    /// Tenant of the database.
    pub(crate) tenant: Option<String>,
    /// Labels kept in the marker.
    pub(crate) labels: BTreeMap<String, String>,
}

impl Plan {
    /// Check a (validated) database spec. Everything that could fail later
    /// as bad input fails here, before any SQL.
    pub(crate) fn from_spec(s: DatabaseSpec) -> Result<Plan> {
        identifier("name", &s.name)?;
        let role = s.owner.clone().unwrap_or_else(|| s.name.clone());
        identifier("owner", &role)?;
        if let Some(p) = &s.password {
            // PostgreSQL would clear a password that is empty after SASLprep,
            // and no client can send one holding NUL.
            scram::check_password("password", p.expose_secret())?;
        }
        // Tenant and labels go into the marker, which listings cast to
        // jsonb: NUL (`\u0000`) would break that cast for every listing.
        if let Some(t) = &s.common.tenant {
            quote_literal(t)?;
        }
        for (k, v) in &s.common.labels {
            quote_literal(k)?;
            quote_literal(v)?;
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

    /// The marker of this plan's role, in `state`.
    pub(crate) fn marker(
        &self,
        dock_id: &str,
        state: &str,
        created_at: Option<DateTime<Utc>>,
    ) -> Marker {
        Marker {
            managed_by: "stackdock".into(),
            v: 1,
            object: "role".into(),
            state: Some(state.into()),
            database: self.name.clone(),
            role: self.role.clone(),
            tenant: self.tenant.clone(),
            labels: self.labels.clone(),
            dock: Some(dock_id.to_owned()),
            created_at,
        }
    }

    /// Step 1, first run: the login role with its password and its
    /// `provisioning` marker, in one transaction. A CREATEROLE admin that is
    /// not a superuser also joins the role, to name it in `CREATE DATABASE
    /// ... OWNER` and to act as owner when securing and dropping.
    pub(crate) fn create_role_sql(
        &self,
        dock_id: &str,
        created_at: DateTime<Utc>,
        verifier: &str,
        admin_joins_role: bool,
    ) -> Result<String> {
        let role = quote_ident(&self.role)?;
        let marker = self.marker(dock_id, STATE_PROVISIONING, Some(created_at));
        let membership = if admin_joins_role {
            format!("; GRANT {role} TO CURRENT_USER")
        } else {
            String::new()
        };
        // The role's limit backs the database's: a tenant owns its
        // database and could raise that one, but not its role's.
        Ok(format!(
            "CREATE ROLE {role} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE \
             NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT {} PASSWORD {}; \
             COMMENT ON ROLE {role} IS {}{membership}",
            self.connection_limit,
            quote_literal(verifier)?,
            quote_literal(&marker.to_json())?,
        ))
    }

    /// Step 2: the database, owned by the role.
    pub(crate) fn create_database_sql(&self) -> Result<String> {
        Ok(format!(
            "CREATE DATABASE {} WITH OWNER {} TEMPLATE template0 CONNECTION LIMIT {}",
            quote_ident(&self.name)?,
            quote_ident(&self.role)?,
            self.connection_limit
        ))
    }

    /// Step 3: only the owner may connect, and the marker says `ready`.
    pub(crate) fn secure_sql(&self, dock_id: &str, created_at: DateTime<Utc>) -> Result<String> {
        let db = quote_ident(&self.name)?;
        let role = quote_ident(&self.role)?;
        let marks = marker_sql(&self.marker(dock_id, STATE_READY, Some(created_at)))?;
        Ok(format!(
            "REVOKE ALL PRIVILEGES ON DATABASE {db} FROM PUBLIC; \
             GRANT ALL PRIVILEGES ON DATABASE {db} TO {role}; \
             {marks}"
        ))
    }

    /// What an update changes, as statements to run in one transaction
    /// (none when nothing differs). `current_limit` and `marker` are what
    /// the server has now.
    pub(crate) fn update_statements(
        &self,
        current_limit: i32,
        marker: &Marker,
    ) -> Result<Vec<String>> {
        let db = quote_ident(&self.name)?;
        let role = quote_ident(&self.role)?;
        let mut statements = Vec::new();
        if current_limit != self.connection_limit {
            // Both limits, as at creation.
            statements.push(format!(
                "ALTER DATABASE {db} WITH CONNECTION LIMIT {n}; ALTER ROLE {role} WITH CONNECTION LIMIT {n}",
                n = self.connection_limit
            ));
        }
        if let Some(p) = &self.password {
            let verifier = scram::hash_password(p.expose_secret())?;
            statements.push(set_password_sql(&self.role, &verifier)?);
        }
        if marker.labels != self.labels {
            let mut m = marker.clone();
            m.labels = self.labels.clone();
            statements.push(marker_sql(&m)?);
        }
        Ok(statements)
    }
}

/// `COMMENT ON ROLE` (authoritative) and `COMMENT ON DATABASE` (a copy for
/// people browsing `\l+`) for `marker`, as one `;`-joined text.
pub(crate) fn marker_sql(marker: &Marker) -> Result<String> {
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

/// Set a role's password to a SCRAM `verifier`.
pub(crate) fn set_password_sql(role: &str, verifier: &str) -> Result<String> {
    Ok(format!(
        "ALTER ROLE {} WITH PASSWORD {}",
        quote_ident(role)?,
        quote_literal(verifier)?
    ))
}

/// Drop a database, ending its sessions first (PostgreSQL 13+).
pub(crate) fn drop_database_sql(name: &str) -> Result<String> {
    Ok(format!(
        "DROP DATABASE IF EXISTS {} WITH (FORCE)",
        quote_ident(name)?
    ))
}

/// Drop a role this call just created (nothing else can refer to it yet).
pub(crate) fn drop_new_role_sql(role: &str) -> Result<String> {
    Ok(format!("DROP ROLE IF EXISTS {}", quote_ident(role)?))
}

/// Drop a role and whatever it owns or was granted in this (maintenance)
/// database and in shared catalogs.
pub(crate) fn drop_role_sql(role: &str) -> Result<String> {
    let r = quote_ident(role)?;
    Ok(format!(
        "REASSIGN OWNED BY {r} TO CURRENT_USER; DROP OWNED BY {r}; DROP ROLE {r}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(spec: DatabaseSpec) -> Result<Plan> {
        Plan::from_spec(spec)
    }

    #[test]
    fn a_spec_becomes_a_plan_or_a_typed_error() {
        let p = plan(DatabaseSpec {
            name: "shop".into(),
            connection_limit: Some(5),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((p.name.as_str(), p.role.as_str()), ("shop", "shop"));
        assert_eq!(p.connection_limit, 5);
        assert!(!p.owner_given);
        for bad in [
            DatabaseSpec {
                name: "information_schema".into(),
                ..Default::default()
            },
            DatabaseSpec {
                name: "shop".into(),
                owner: Some("pg_x".into()),
                ..Default::default()
            },
            DatabaseSpec {
                name: "shop".into(),
                password: Some(SecretString::from("\u{00AD}".to_owned())),
                ..Default::default()
            },
        ] {
            assert!(matches!(
                plan(bad).unwrap_err().kind(),
                stackdock_core::ErrorKind::InvalidInput { .. }
            ));
        }
    }

    #[test]
    fn statements_quote_every_name_and_never_carry_the_password() {
        let p = plan(DatabaseSpec {
            name: "shop".into(),
            owner: Some("shop_owner".into()),
            password: Some(SecretString::from("Plain-Text-9".to_owned())),
            ..Default::default()
        })
        .unwrap();
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let role = p
            .create_role_sql("dock", at, "SCRAM-SHA-256$x", true)
            .unwrap();
        assert!(role.starts_with("CREATE ROLE \"shop_owner\" WITH LOGIN"));
        assert!(role.ends_with("; GRANT \"shop_owner\" TO CURRENT_USER"));
        assert!(role.contains("\"state\":\"provisioning\""));
        assert_eq!(
            p.create_database_sql().unwrap(),
            "CREATE DATABASE \"shop\" WITH OWNER \"shop_owner\" TEMPLATE template0 CONNECTION LIMIT -1"
        );
        assert!(p
            .secure_sql("dock", at)
            .unwrap()
            .contains("\"state\":\"ready\""));
        let marker = p.marker("dock", STATE_READY, Some(at));
        let update = p.update_statements(-1, &marker).unwrap();
        assert_eq!(update.len(), 1, "only the password differs");
        assert!(update[0].starts_with("ALTER ROLE \"shop_owner\" WITH PASSWORD 'SCRAM-SHA-256$"));
        for sql in [role, update[0].clone()] {
            assert!(!sql.contains("Plain-Text-9"));
        }
    }
}
