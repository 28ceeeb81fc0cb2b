#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod client;
pub mod config;
pub mod env;
pub mod error;
pub mod factory;
mod input;
mod inventory;
mod mapping;
mod model;
mod plan;
pub mod types;

pub use adapter::VercelAdapter;
pub use client::VercelClient;
pub use config::{TeamScope, VercelConfig};
pub use error::VercelErrorMapper;
pub use factory::VercelFactory;
pub use mapping::{DEFAULT_TTL, PROVIDER_ID};
pub use types::*;
