//! PostgreSQL errors map to [`stackdock_core::Error`] through the workspace's
//! one SQLSTATE table, [`stackdock_pg::error`].

pub use stackdock_pg::error::{map_pg_error, map_pool_error};
