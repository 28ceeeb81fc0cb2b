//! Layers: cross-cutting behaviour wrapped around any adapter, once.
//!
//! A [`Layer`] turns an `Arc<dyn DockAdapter>` into another one that adds
//! behaviour and delegates the rest (OpenDAL's `layers/` are the model). The
//! [`DockRegistry`](crate::DockRegistry) wraps every dock it holds, outermost
//! first:
//!
//! 1. [`RetryLayer`] — retries temporary failures of adapters that have no
//!    retrying transport of their own (SQL, files); never retries an error
//!    whose retries a deeper layer already exhausted
//!    ([`ErrorStatus::Persistent`]).
//! 2. [`CheckedLayer`] — what every adapter used to repeat: the capability
//!    gate for operations *and arguments*, id/spec kind agreement, spec and
//!    list-option validation before any remote call, and error context
//!    (dock, provider, operation, endpoint).
//!
//! An adapter inside these layers receives only supported operations with
//! canonical, validated input.
//!
//! [`standard`] builds both as **one** wrapper ([`Checked`] with a retry
//! policy): the same behaviour as `RetryLayer` around `CheckedLayer`, with
//! one boxed future per call instead of two. The layer validates a spec
//! without copying it when it is canonical already
//! ([`ResourceSpec::canonical`]), so an adapter that validates again (as it
//! must, to stay safe when called without the layer) pays no allocation for
//! it either. `cargo bench --bench core_overhead` measures what is left.
//!
//! ```
//! use std::sync::Arc;
//! use stackdock_core::layer::{CheckedLayer, Layer};
//! use stackdock_core::spec::{DatabaseSpec, Common, ResourceSpec};
//! use stackdock_core::{DockAdapter, ErrorKind, InMemoryAdapter};
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dock = CheckedLayer.layer(Arc::new(InMemoryAdapter::new("local")));
//! let bad = ResourceSpec::from(DatabaseSpec { name: "".into(), ..Default::default() });
//! let err = dock.create(&bad).await.unwrap_err();
//! assert!(matches!(err.kind(), ErrorKind::InvalidInput { .. }));
//! // Every error names the dock and the provider.
//! assert!(err.to_string().contains("dock=local"), "{err}");
//! # });
//! ```

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures::TryFutureExt;
use rand::Rng;
use tokio::time::Instant;

use crate::adapter::{Created, DockAdapter, ListOptions, Observation, Page, ProviderInfo};
use crate::capability::{Capabilities, Operation};
use crate::extension::{Backups, EnvVars, PasswordRotation, SystemUsers};
use crate::resource::{Resource, ResourceId, ResourceKind};
use crate::spec::ResourceSpec;
use crate::{Error, ErrorStatus, Result};

/// Wraps an adapter in behaviour of its own.
pub trait Layer: Send + Sync {
    /// `inner` with this layer's behaviour around it.
    fn layer(&self, inner: Arc<dyn DockAdapter>) -> Arc<dyn DockAdapter>;
}

/// The layers the [`DockRegistry`](crate::DockRegistry) puts around every
/// dock: [`RetryLayer`] (default policy) outside [`CheckedLayer`], built as
/// one wrapper ([`Checked::with_retry`]).
///
/// ```
/// use std::sync::Arc;
/// use stackdock_core::layer::standard;
/// use stackdock_core::spec::{DatabaseSpec, ResourceSpec};
/// use std::time::Duration;
/// use stackdock_core::{DockAdapter, Error, InMemoryAdapter, Operation};
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let memory = Arc::new(InMemoryAdapter::new("local"));
/// let dock = standard(memory.clone());
/// // A temporary failure is retried; the caller sees the create succeed.
/// let busy = Error::rate_limited(Some(Duration::from_millis(1)));
/// memory.fail_next(Operation::Create, busy);
/// let spec = ResourceSpec::from(DatabaseSpec { name: "shop".into(), ..Default::default() });
/// assert!(dock.create(&spec).await.unwrap().was_created());
/// # });
/// ```
pub fn standard(inner: Arc<dyn DockAdapter>) -> Arc<dyn DockAdapter> {
    Arc::new(Checked::new(inner).with_retry(RetryPolicy::default()))
}

// ---------------------------------------------------------------------------
// CheckedLayer

/// The checks every adapter needs, done once. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckedLayer;

impl Layer for CheckedLayer {
    fn layer(&self, inner: Arc<dyn DockAdapter>) -> Arc<dyn DockAdapter> {
        Arc::new(Checked::new(inner))
    }
}

/// An adapter behind the [`CheckedLayer`].
pub struct Checked {
    inner: Arc<dyn DockAdapter>,
    caps: Capabilities,
    endpoint: Option<String>,
    /// Retries of the checked calls ([`Checked::with_retry`]).
    retry: Option<RetryPolicy>,
}

impl fmt::Debug for Checked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Checked")
            .field("inner", &self.inner)
            .field("retry", &self.retry)
            .finish()
    }
}

impl Checked {
    /// `inner` behind the checks. Capabilities and endpoint are read once.
    pub fn new(inner: Arc<dyn DockAdapter>) -> Self {
        let caps = inner.capabilities();
        let endpoint = inner.endpoint();
        Checked {
            inner,
            caps,
            endpoint,
            retry: None,
        }
    }

    /// Also retry temporary failures of the checked calls by `policy`:
    /// what [`RetryLayer`] outside this layer does, in this one wrapper.
    /// Errors of the checks themselves are permanent and never retried.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }

    /// When the first attempt starts, if a retry policy will need it.
    fn retry_clock(&self) -> Option<Instant> {
        self.retry.as_ref().and_then(RetryPolicy::clock)
    }

    /// After the first attempt of a checked call failed with `error`:
    /// `call` again as the retry policy allows, every error with the
    /// caller's `context`.
    ///
    /// Each operation awaits its first attempt inline and boxes this
    /// future only after a failure: an operation's future is moved into a
    /// box on every call, so the retry loop (and its timer) must not make
    /// it bigger.
    async fn after_failure<T, Fut>(
        &self,
        error: Error,
        started: Option<Instant>,
        context: &(impl Fn(Error) -> Error + Sync),
        mut call: impl FnMut() -> Fut + Send,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>> + Send,
        T: Send,
    {
        let error = context(error);
        match &self.retry {
            None => Err(error),
            Some(policy) => retry_failed(policy, started, error, || call().map_err(context)).await,
        }
    }

    /// The wrapped adapter.
    pub fn inner(&self) -> &Arc<dyn DockAdapter> {
        &self.inner
    }

    /// Adds the dock, provider, endpoint and the caller's operation.
    fn context(&self, op: Operation, kind: ResourceKind) -> impl Fn(Error) -> Error + '_ {
        move |e: Error| {
            if e.context().iter().any(|(k, _)| *k == "dock") {
                return e; // already wrapped by another Checked layer
            }
            let e = e
                .in_operation(op.on(kind))
                .with_context("dock", self.inner.dock_id())
                .with_context("provider", self.inner.provider().id.clone());
            match &self.endpoint {
                Some(endpoint) => e.with_context("endpoint", endpoint.clone()),
                None => e,
            }
        }
    }

    fn gate(&self, op: Operation, kind: ResourceKind) -> Result<()> {
        if self.caps.supports(kind, op) {
            Ok(())
        } else {
            Err(self.inner.unsupported(op, kind))
        }
    }

    fn unsupported_argument(&self, op: Operation, kind: ResourceKind, argument: &str) -> Error {
        Error::unsupported(
            format!("{} with {argument}", op.on(kind)),
            self.inner.provider().id.clone(),
        )
    }

    /// The spec's own arguments (tenant, labels) must be honoured.
    fn gate_spec(&self, op: Operation, spec: &ResourceSpec) -> Result<()> {
        let args = self.caps.arguments;
        let common = spec.common();
        if common.tenant.is_some() && !args.tenancy {
            return Err(self.unsupported_argument(op, spec.kind(), "a tenant"));
        }
        if !common.labels.is_empty() && !args.labels {
            return Err(self.unsupported_argument(op, spec.kind(), "labels"));
        }
        Ok(())
    }

    fn checked_spec<'s>(&self, op: Operation, spec: &'s ResourceSpec) -> Result<CheckedSpec<'s>> {
        self.gate(op, spec.kind())?;
        self.gate_spec(op, spec)?;
        spec.canonical().map(CheckedSpec::from)
    }

    fn kinds_agree(id: &ResourceId, spec: &ResourceSpec) -> Result<()> {
        if id.kind == spec.kind() {
            Ok(())
        } else {
            Err(Error::invalid_input(
                "kind",
                format!(
                    "a {} spec cannot describe the {} {}",
                    spec.kind(),
                    id.kind,
                    id.id
                ),
            ))
        }
    }

    fn checked_list_options(
        &self,
        kind: ResourceKind,
        options: &ListOptions,
    ) -> Result<ListOptions> {
        self.gate(Operation::List, kind)?;
        options.validate()?;
        let args = self.caps.arguments;
        let unsupported = |what| Err(self.unsupported_argument(Operation::List, kind, what));
        if options.tenant.is_some() && !args.list_by_tenant {
            return unsupported("a tenant filter");
        }
        if !options.labels.is_empty() && !args.list_by_labels {
            return unsupported("a label filter");
        }
        if options.parent.is_some() && !args.parent_filter {
            return unsupported("a parent filter");
        }
        let mut options = options.clone();
        if let (Some(max), Some(size)) = (args.max_page_size, options.page_size) {
            options.page_size = Some(size.min(max));
        }
        Ok(options)
    }
}

#[async_trait]
impl DockAdapter for Checked {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }

    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }

    fn capabilities(&self) -> Capabilities {
        self.caps
    }

    fn endpoint(&self) -> Option<String> {
        self.endpoint.clone()
    }

    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        let spec = spec.canonical().ok()?;
        self.inner.planned_id(&spec)
    }

    // Extensions the inner adapter has are served by this layer's checked
    // versions (crate::extension's `checked` module).
    fn backups(&self) -> Option<&dyn Backups> {
        self.inner.backups().map(|_| self as &dyn Backups)
    }

    fn env_vars(&self) -> Option<&dyn EnvVars> {
        self.inner.env_vars().map(|_| self as &dyn EnvVars)
    }

    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        self.inner
            .password_rotation()
            .map(|_| self as &dyn PasswordRotation)
    }

    fn system_users(&self) -> Option<&dyn SystemUsers> {
        self.inner.system_users().map(|_| self as &dyn SystemUsers)
    }

    async fn check_credentials(&self) -> Result<()> {
        let context = |e: Error| {
            e.with_context("dock", self.inner.dock_id())
                .with_context("provider", self.inner.provider().id.clone())
        };
        let started = self.retry_clock();
        match self.inner.check_credentials().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let again = || self.inner.check_credentials();
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let context = self.context(Operation::List, kind);
        let options = self.checked_list_options(kind, options).map_err(&context)?;
        let options = &options;
        let started = self.retry_clock();
        match self.inner.list(kind, options).await {
            Ok(page) => Ok(page),
            Err(e) => {
                let again = || self.inner.list(kind, options);
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        let context = self.context(Operation::Observe, id.kind);
        self.gate(Operation::Observe, id.kind).map_err(&context)?;
        let desired = match desired {
            Some(spec) => {
                Self::kinds_agree(id, spec).map_err(&context)?;
                Some(CheckedSpec::from(spec.canonical().map_err(&context)?))
            }
            None => None,
        };
        let desired = desired.as_deref();
        let started = self.retry_clock();
        match self.inner.observe(id, desired).await {
            Ok(observation) => Ok(observation),
            Err(e) => {
                let again = || self.inner.observe(id, desired);
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        let context = self.context(Operation::Create, spec.kind());
        let spec = self
            .checked_spec(Operation::Create, spec)
            .map_err(&context)?;
        let spec = &*spec;
        let started = self.retry_clock();
        match self.inner.create(spec).await {
            Ok(created) => Ok(created),
            Err(e) => {
                let again = || self.inner.create(spec);
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        let context = self.context(Operation::Update, id.kind);
        Self::kinds_agree(id, spec).map_err(&context)?;
        let spec = self
            .checked_spec(Operation::Update, spec)
            .map_err(&context)?;
        let spec = &*spec;
        let started = self.retry_clock();
        match self.inner.update(id, spec).await {
            Ok(resource) => Ok(resource),
            Err(e) => {
                let again = || self.inner.update(id, spec);
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        let context = self.context(Operation::Delete, id.kind);
        self.gate(Operation::Delete, id.kind).map_err(&context)?;
        let started = self.retry_clock();
        match self.inner.delete(id).await {
            Ok(()) => Ok(()),
            Err(e) => {
                let again = || self.inner.delete(id);
                Box::pin(self.after_failure(e, started, &context, again)).await
            }
        }
    }
}

/// A checked spec in a pointer's room: the caller's, when it was canonical
/// already, else its canonical copy, boxed. (Held across the adapter call,
/// it is part of the call's future, which is moved into a box on every call.)
enum CheckedSpec<'s> {
    Given(&'s ResourceSpec),
    Fixed(Box<ResourceSpec>),
}

impl<'s> From<Cow<'s, ResourceSpec>> for CheckedSpec<'s> {
    fn from(spec: Cow<'s, ResourceSpec>) -> Self {
        match spec {
            Cow::Borrowed(given) => CheckedSpec::Given(given),
            Cow::Owned(fixed) => CheckedSpec::Fixed(Box::new(fixed)),
        }
    }
}

impl std::ops::Deref for CheckedSpec<'_> {
    type Target = ResourceSpec;

    fn deref(&self) -> &ResourceSpec {
        match self {
            CheckedSpec::Given(given) => given,
            CheckedSpec::Fixed(fixed) => fixed,
        }
    }
}

// ---------------------------------------------------------------------------
// RetryLayer

/// When and how long to retry temporary failures: the same rules as
/// `stackdock-http`'s retries. The wait before retry `n` is drawn uniformly
/// from `[0, min(max_backoff, initial_backoff * 2^(n-1))]` ("full jitter"),
/// or the provider's `retry_after` when the error carries one; no wait ends
/// past `retry_timeout` after the first attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt (default 3). `0` disables retries.
    pub max_retries: u32,
    /// Upper bound of the first backoff (default 100 ms).
    pub initial_backoff: Duration,
    /// Upper bound of any computed backoff (default 10 s).
    pub max_backoff: Duration,
    /// No retry starts later than this after the first attempt (default 60 s).
    pub retry_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            retry_timeout: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// When a call's first attempt starts, read only if a retry may follow
    /// (a retry may not start later than `retry_timeout` after it).
    fn clock(&self) -> Option<Instant> {
        (self.max_retries > 0).then(Instant::now)
    }

    /// The jittered wait before retry number `retry` (1-based), before any
    /// provider-requested wait.
    pub fn backoff(&self, retry: u32) -> Duration {
        full_jitter(
            backoff_ceiling(self.initial_backoff, self.max_backoff, retry),
            &mut rand::thread_rng(),
        )
    }
}

/// `min(max, initial * 2^(retry-1))`: the upper bound of the wait before
/// retry number `retry` (1-based). The one rule every retrying layer uses
/// (this crate's [`RetryLayer`] and `stackdock-http`'s retries).
///
/// ```
/// use std::time::Duration;
/// use stackdock_core::layer::backoff_ceiling;
/// let ms = Duration::from_millis;
/// assert_eq!(backoff_ceiling(ms(100), ms(1000), 1), ms(100));
/// assert_eq!(backoff_ceiling(ms(100), ms(1000), 3), ms(400));
/// assert_eq!(backoff_ceiling(ms(100), ms(1000), 40), ms(1000));
/// ```
pub fn backoff_ceiling(initial: Duration, max: Duration, retry: u32) -> Duration {
    let exponent = retry.saturating_sub(1).min(31);
    initial
        .checked_mul(1u32 << exponent)
        .unwrap_or(max)
        .min(max)
}

/// A wait drawn uniformly from `[0, ceiling]` ("full jitter", AWS
/// architecture blog): retries of many clients spread over the whole window
/// instead of arriving in synchronised storms.
pub fn full_jitter(ceiling: Duration, rng: &mut impl Rng) -> Duration {
    if ceiling.is_zero() {
        return Duration::ZERO;
    }
    let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rng.gen_range(0..=nanos))
}

/// Retries temporary failures. See the [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct RetryLayer {
    /// The policy.
    pub policy: RetryPolicy,
}

impl RetryLayer {
    /// A layer with `policy`.
    pub fn new(policy: RetryPolicy) -> Self {
        RetryLayer { policy }
    }
}

impl Layer for RetryLayer {
    fn layer(&self, inner: Arc<dyn DockAdapter>) -> Arc<dyn DockAdapter> {
        Arc::new(Retrying {
            inner,
            policy: self.policy,
        })
    }
}

/// An adapter behind the [`RetryLayer`].
///
/// Every operation of the adapter contract is idempotent (create adopts,
/// delete of what is gone succeeds), so all of them are retried. A create
/// retried after a failure whose effect is unknown may report
/// [`Adopted`](crate::CreateOutcome::Adopted) for a resource its first
/// attempt made: the outcome errs on the side of never claiming — and so
/// never rolling back — what this call cannot prove it made.
pub struct Retrying {
    inner: Arc<dyn DockAdapter>,
    policy: RetryPolicy,
}

impl fmt::Debug for Retrying {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Retrying")
            .field("inner", &self.inner)
            .field("policy", &self.policy)
            .finish()
    }
}

impl Retrying {
    async fn retry<'a, T, F, Fut>(&'a self, call: F) -> Result<T>
    where
        F: FnMut() -> Fut + Send + 'a,
        Fut: std::future::Future<Output = Result<T>> + Send + 'a,
        T: Send,
    {
        retry_temporary(&self.policy, call).await
    }
}

/// Calls `call` until it succeeds, fails permanently, or `policy` runs out
/// (the error is then [`ErrorStatus::Persistent`], so no outer layer retries
/// it again).
async fn retry_temporary<T, F, Fut>(policy: &RetryPolicy, mut call: F) -> Result<T>
where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = Result<T>> + Send,
    T: Send,
{
    let started = policy.clock();
    match call().await {
        Ok(value) => Ok(value),
        Err(error) => retry_failed(policy, started, error, call).await,
    }
}

/// The rest of [`retry_temporary`] after a first attempt that started at
/// `started` failed with `error`. The one retry loop of [`RetryLayer`] and
/// [`Checked::with_retry`].
async fn retry_failed<T, F, Fut>(
    policy: &RetryPolicy,
    started: Option<Instant>,
    mut error: Error,
    mut call: F,
) -> Result<T>
where
    F: FnMut() -> Fut + Send,
    Fut: std::future::Future<Output = Result<T>> + Send,
    T: Send,
{
    let mut retry = 0;
    loop {
        let retryable = error.is_temporary() && error.status() != ErrorStatus::Persistent;
        if !retryable {
            return Err(error);
        }
        retry += 1;
        let wait = error.retry_after().unwrap_or_else(|| policy.backoff(retry));
        // `started` is `None` only when no retry is allowed at all.
        let late = started.is_none_or(|s| s.elapsed() + wait > policy.retry_timeout);
        if retry > policy.max_retries || late {
            return Err(error.persistent());
        }
        tracing::debug!(retry, wait_ms = wait.as_millis() as u64, error = %error, "retrying");
        tokio::time::sleep(wait).await;
        match call().await {
            Ok(value) => return Ok(value),
            Err(e) => error = e,
        }
    }
}

#[async_trait]
impl DockAdapter for Retrying {
    fn provider(&self) -> &ProviderInfo {
        self.inner.provider()
    }

    fn dock_id(&self) -> &str {
        self.inner.dock_id()
    }

    fn capabilities(&self) -> Capabilities {
        self.inner.capabilities()
    }

    fn endpoint(&self) -> Option<String> {
        self.inner.endpoint()
    }

    fn planned_id(&self, spec: &ResourceSpec) -> Option<ResourceId> {
        self.inner.planned_id(spec)
    }

    // Extension calls are forwarded, not retried: some (taking or restoring
    // a backup) are not idempotent.
    fn backups(&self) -> Option<&dyn Backups> {
        self.inner.backups()
    }

    fn env_vars(&self) -> Option<&dyn EnvVars> {
        self.inner.env_vars()
    }

    fn password_rotation(&self) -> Option<&dyn PasswordRotation> {
        self.inner.password_rotation()
    }

    fn system_users(&self) -> Option<&dyn SystemUsers> {
        self.inner.system_users()
    }

    async fn check_credentials(&self) -> Result<()> {
        self.retry(|| self.inner.check_credentials()).await
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        self.retry(|| self.inner.list(kind, options)).await
    }

    async fn observe(
        &self,
        id: &ResourceId,
        desired: Option<&ResourceSpec>,
    ) -> Result<Observation> {
        self.retry(|| self.inner.observe(id, desired)).await
    }

    async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
        self.retry(|| self.inner.create(spec)).await
    }

    async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
        self.retry(|| self.inner.update(id, spec)).await
    }

    async fn delete(&self, id: &ResourceId) -> Result<()> {
        self.retry(|| self.inner.delete(id)).await
    }
}
