#![doc = include_str!("../README.md")]

mod breaker;
mod client;
mod clock;
mod config;
mod error;
mod paginate;
mod redact;
mod request;
mod rest;
mod retry_after;
mod scrub;

pub use client::HttpClient;
pub use clock::{Clock, ManualClock, TokioClock};
pub use config::{Auth, CircuitBreakerConfig, HttpConfig, RetryConfig, DEFAULT_MAX_RESPONSE_BYTES};
pub use error::{
    error_message, rejected_input, status_error, ErrorCodes, ErrorMapper, StatusErrorMapper,
};
pub use paginate::{paginate, PageOf};
pub use request::{encode_path_segment, RateLimitInfo, Request, Response};
pub use rest::{
    found, gone, rest_dock, AuthStyle, PageNumber, Paging, RestApi, RestClient, RestConfig,
};
pub use retry_after::parse_retry_after;

/// Re-exported so provider crates use the same versions as this layer.
pub use bytes::Bytes;
/// Re-exported: the header map type of [`Response`] and [`ErrorMapper`].
pub use reqwest::header::HeaderMap;
/// Re-exported: header values, e.g. to build a [`HeaderMap`] in mapper tests.
pub use reqwest::header::HeaderValue;
/// Re-exported: HTTP methods for [`Request::new`].
pub use reqwest::Method;
/// Re-exported: the base URL type of [`HttpConfig`].
pub use url::Url;
