#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod client;
pub mod config;
pub mod error;
pub mod factory;
#[cfg(feature = "plan")]
pub mod plan;

pub use adapter::{adapter, CloudflareAdapter, Records, Zones};
pub use client::CloudflareClient;
pub use config::{CloudflareConfig, API, PROVIDER_ID};
pub use factory::CloudflareFactory;
