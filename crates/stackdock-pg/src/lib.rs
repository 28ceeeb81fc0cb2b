#![doc = include_str!("../README.md")]

pub mod conninfo;
pub mod error;
pub mod password;
pub mod pool;
pub mod quote;
pub mod tls;

pub use conninfo::ConnInfo;
pub use deadpool_postgres::{Object, Pool, PoolError};
pub use error::{map_pg_error, map_pool_error};
pub use pool::{build_pool, connect, connect_listening, PoolOptions};
pub use quote::{quote_ident, quote_literal};
pub use tls::{SslMode, TlsSettings};
