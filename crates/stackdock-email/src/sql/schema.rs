//! The crate's own schema, applied by versioned migrations.
//!
//! Tables (ISPmail layout in PostgreSQL types, plus tenant, enabled and labels):
//!
//! * `virtual_domains(id, name, tenant, created_at)`
//! * `virtual_users(id, domain_id → domains ON DELETE CASCADE, email, password,
//!   quota, enabled, tenant, labels, created_at, updated_at)` — `password`
//!   holds `{SCHEME}hash`, `quota` bytes with 0 = unlimited
//! * `virtual_aliases(id, domain_id → domains, source, destination, enabled,
//!   tenant, labels, created_at)` — one row per destination; `source` is an
//!   address or `@domain` (catch-all)
//! * `stackdock_schema_migrations(version, description, applied_at)`
//!
//! CHECK constraints repeat the crate's validation (lower-case dot-atom
//! addresses, positive quotas) so that nothing else writing to the tables can
//! store what Postfix or Dovecot would misread.

/// One migration: `{schema}` in `sql` is replaced by the quoted schema name.
pub(crate) struct Migration {
    pub(crate) version: i32,
    pub(crate) description: &'static str,
    pub(crate) sql: &'static str,
}

/// Every migration, in order. Never edit a released one; append.
pub(crate) const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    description: "domains, users and aliases with tenant column",
    sql: r#"
CREATE TABLE {schema}.virtual_domains (
    id          serial PRIMARY KEY,
    name        varchar(253) NOT NULL UNIQUE
                CHECK (name ~ '^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$'),
    tenant      varchar(128),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE {schema}.virtual_users (
    id          serial PRIMARY KEY,
    domain_id   integer NOT NULL REFERENCES {schema}.virtual_domains(id) ON DELETE CASCADE,
    email       varchar(254) NOT NULL UNIQUE
                CHECK (email ~ '^[a-z0-9.+=_-]{1,64}@[a-z0-9.-]+$'),
    password    varchar(255) NOT NULL CHECK (password ~ '^\{[A-Z0-9-]+\}'),
    quota       bigint NOT NULL DEFAULT 0 CHECK (quota >= 0),
    enabled     boolean NOT NULL DEFAULT true,
    tenant      varchar(128),
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX virtual_users_domain_idx ON {schema}.virtual_users (domain_id);
CREATE INDEX virtual_users_tenant_idx ON {schema}.virtual_users (tenant, email);
CREATE TABLE {schema}.virtual_aliases (
    id          serial PRIMARY KEY,
    domain_id   integer NOT NULL REFERENCES {schema}.virtual_domains(id) ON DELETE CASCADE,
    source      varchar(254) NOT NULL
                CHECK (source ~ '^([a-z0-9.+=_-]{1,64})?@[a-z0-9.-]+$'),
    destination varchar(254) NOT NULL
                CHECK (destination ~ '^[a-z0-9.+=_-]{1,64}@[a-z0-9.-]+$'),
    enabled     boolean NOT NULL DEFAULT true,
    tenant      varchar(128),
    labels      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source, destination)
);
CREATE INDEX virtual_aliases_domain_idx ON {schema}.virtual_aliases (domain_id);
CREATE INDEX virtual_aliases_tenant_idx ON {schema}.virtual_aliases (tenant, source);
"#,
}];

/// The version a fully migrated schema has.
pub const CURRENT_VERSION: i32 = 1;
