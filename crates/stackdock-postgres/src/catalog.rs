//! What the server's catalogs say: the ownership marker StackDock puts on its
//! roles and databases, and the read-only queries that find them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_postgres::Row;

use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::{Error, Result};

use crate::client::Session;
use crate::scram;

/// Marker state once every provisioning step has run.
pub(crate) const STATE_READY: &str = "ready";
/// Marker state while provisioning runs.
pub(crate) const STATE_PROVISIONING: &str = "provisioning";

/// Start of every comment StackDock puts on its databases and roles.
pub(crate) const MARKER_PREFIX: &str = "{\"managed_by\":\"stackdock\",";

/// The JSON marker in `COMMENT ON ROLE` (authoritative: tenants cannot
/// change it) and, as a copy for people, `COMMENT ON DATABASE`.
///
/// Field order matters: serialisation starts with [`MARKER_PREFIX`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Marker {
    pub(crate) managed_by: String,
    pub(crate) v: u32,
    /// `database` or `role`.
    pub(crate) object: String,
    /// `provisioning` until the last step, then `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) state: Option<String>,
    pub(crate) database: String,
    pub(crate) role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) tenant: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) dock: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) created_at: Option<DateTime<Utc>>,
}

impl Marker {
    pub(crate) fn parse(comment: Option<&str>) -> Option<Marker> {
        let c = comment?;
        if !c.starts_with(MARKER_PREFIX) {
            return None;
        }
        serde_json::from_str::<Marker>(c)
            .ok()
            .filter(|m| m.managed_by == "stackdock")
    }

    pub(crate) fn to_json(&self) -> String {
        // A struct of strings and a string map always serialises.
        serde_json::to_string(self).expect("marker serialises")
    }
}

/// What one catalog row says about a database and its owner.
pub(crate) struct DbRow {
    pub(crate) name: String,
    pub(crate) owner: String,
    pub(crate) connection_limit: i32,
    pub(crate) owner_comment: Option<String>,
    pub(crate) size_bytes: Option<i64>,
    pub(crate) oid: u32,
}

/// Columns of [`DbRow`]; `d` is `pg_database`.
/// The size needs CONNECT on the database (or `pg_read_all_stats`), so a
/// non-superuser admin gets `NULL` rather than an error.
pub(crate) const DB_COLUMNS: &str =
    "d.datname, pg_catalog.pg_get_userbyid(d.datdba), d.datconnlimit, \
     pg_catalog.shobj_description(d.datdba, 'pg_authid'), \
     CASE WHEN pg_catalog.has_database_privilege(d.oid, 'CONNECT') \
               OR pg_catalog.pg_has_role('pg_read_all_stats', 'USAGE') \
          THEN pg_catalog.pg_database_size(d.oid) END, \
     d.oid";

impl DbRow {
    pub(crate) fn from_row(row: &Row) -> Result<Self> {
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
    pub(crate) fn ownership(&self) -> Ownership {
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

/// Whose a database is, by its owner role's marker.
pub(crate) enum Ownership {
    /// Marked as StackDock's.
    Ours(Marker),
    /// Owned by our role for this database, not yet marked (provisioning was interrupted).
    HalfMade(Marker),
    /// Not StackDock's: never changed or dropped.
    Foreign,
}

pub(crate) async fn fetch_db(s: &Session<'_>, name: &str) -> Result<Option<DbRow>> {
    let sql = format!(
        "SELECT {DB_COLUMNS} FROM pg_catalog.pg_database d \
         WHERE d.datname = $1 AND NOT d.datistemplate"
    );
    let rows = s.query(&sql, &[&name]).await?;
    rows.first().map(DbRow::from_row).transpose()
}

/// Our roles made for database `name` (normally one; none once deleted),
/// and whether role `role` exists at all and what its marker says.
pub(crate) async fn fetch_roles(
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

/// Whether `password` matches the role's stored SCRAM verifier. Needs to
/// read `pg_authid` (superuser); `Err` when that is not possible.
pub(crate) async fn password_matches(
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
