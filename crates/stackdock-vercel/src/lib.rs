#![doc = include_str!("../README.md")]

pub mod adapter;
mod checks;
pub mod client;
pub mod config;
pub mod error;
mod inventory;
mod mapping;
mod models;
pub mod types;

pub use adapter::VercelAdapter;
pub use client::VercelClient;
pub use config::{TeamScope, VercelConfig};
pub use error::VercelErrorMapper;
pub use mapping::{DEFAULT_TTL, PROVIDER_ID};
pub use types::*;
