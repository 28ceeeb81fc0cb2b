#![doc = include_str!("../README.md")]

pub mod adapter;
pub mod client;
pub mod config;
pub mod error;
pub mod factory;
#[cfg(feature = "plan")]
pub mod plan;

pub use crate::{client::CloudflareClient, config::*, factory::CloudflareFactory};
pub use adapter::{adapter, CloudflareAdapter, Records, Zones};
