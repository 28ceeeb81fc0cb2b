#![doc = include_str!("../README.md")]

pub mod adapter;
mod catalog;
pub mod client;
pub mod config;
pub mod error;
mod executor;
pub mod factory;
mod plan;
pub mod scram;
pub mod sql;

pub use adapter::{PostgresAdapter, ProvisionStep, PROVIDER_ID};
pub use client::PgClient;
pub use config::{PostgresConfig, SslMode, TlsMode};
pub use error::map_pg_error;
pub use factory::PostgresFactory;
