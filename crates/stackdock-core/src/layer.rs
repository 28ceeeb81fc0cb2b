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
//! one boxed future per call instead of two. What that wrapper costs per
//! call:
//!
//! * **One validation, not two.** The layer validates a spec without
//!   copying it when it is canonical already ([`ResourceSpec::canonical`])
//!   and hands it on as a [`Canonical`] through the adapter's `*_checked`
//!   methods ([`DockAdapter::create_checked`] and its siblings). An adapter
//!   that validates in `create` — as it must, to stay safe when called
//!   without the layer — overrides them to skip its second pass; the
//!   defaults forward to `create` and friends, so other adapters work
//!   unchanged.
//! * **One small future.** The adapter's future is driven by a hand-written
//!   future, not an `async` state machine around it; the retry loop is
//!   built only after a failure, and error context only on the error path.
//! * **No clock read on success.** The retry budget's clock is read only
//!   when the first attempt does not finish on its first poll, or fails.
//!
//! `cargo bench --bench core_overhead` measures what is left.
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
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::TryFutureExt;
use rand::Rng;
use tokio::time::Instant;

use crate::adapter::{
    Created, DockAdapter, ListOptions, Observation, Page, ProviderInfo, RateLimit,
};
use crate::capability::{Capabilities, Operation};
use crate::extension::{Backups, EnvVars, PasswordRotation, SystemUsers};
use crate::resource::{Resource, ResourceId, ResourceKind};
use crate::spec::{Canonical, ResourceSpec};
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

    /// The wrapped adapter.
    pub fn inner(&self) -> &Arc<dyn DockAdapter> {
        &self.inner
    }

    /// Adds the dock, provider, endpoint and the caller's operation.
    fn context(&self, op: Operation, kind: ResourceKind) -> impl Fn(Error) -> Error + Copy + '_ {
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

    fn checked_spec<'s>(
        &self,
        op: Operation,
        spec: &'s ResourceSpec,
    ) -> Result<Cow<'s, ResourceSpec>> {
        self.gate(op, spec.kind())?;
        self.gate_spec(op, spec)?;
        spec.canonical()
    }

    /// The first attempt of a checked call, `attempt`, with the caller's
    /// error context and this layer's retries (see [`Call`]).
    fn call<'a, T, F>(&'a self, op: Operation, kind: ResourceKind, attempt: F) -> Call<'a, T, F>
    where
        F: Fn() -> BoxFuture<'a, Result<T>> + Send + Unpin + 'a,
        T: Send + 'a,
    {
        Call {
            layer: self,
            op,
            kind,
            state: CallState::First {
                attempt: attempt(),
                started: None,
            },
            again: Some(attempt),
        }
    }

    /// A call its checks refused: `error`, with the caller's context.
    fn refused<'a, T: Send + 'a>(
        &'a self,
        op: Operation,
        kind: ResourceKind,
        error: Error,
    ) -> BoxFuture<'a, Result<T>> {
        Box::pin(std::future::ready(Err(self.context(op, kind)(error))))
    }

    fn observe_at<'a>(
        &'a self,
        id: &'a ResourceId,
        desired: Option<&'a ResourceSpec>,
    ) -> BoxFuture<'a, Result<Observation>> {
        let (op, kind) = (Operation::Observe, id.kind);
        if let Err(e) = self.gate(op, kind) {
            return self.refused(op, kind, e);
        }
        let Some(spec) = desired else {
            return Box::pin(self.call(op, kind, move || self.inner.observe_checked(id, None)));
        };
        match Self::kinds_agree(id, spec).and_then(|()| spec.canonical()) {
            Err(e) => self.refused(op, kind, e),
            Ok(Cow::Borrowed(spec)) => {
                let spec = Some(Canonical::trusted(spec));
                Box::pin(self.call(op, kind, move || self.inner.observe_checked(id, spec)))
            }
            // The canonical copy lives in the call's future.
            Ok(Cow::Owned(spec)) => Box::pin(async move {
                let spec = Some(Canonical::trusted(&spec));
                self.call(op, kind, || self.inner.observe_checked(id, spec))
                    .await
            }),
        }
    }

    fn create_at<'a>(&'a self, spec: &'a ResourceSpec) -> BoxFuture<'a, Result<Created>> {
        let (op, kind) = (Operation::Create, spec.kind());
        match self.checked_spec(op, spec) {
            Err(e) => self.refused(op, kind, e),
            Ok(Cow::Borrowed(spec)) => {
                let spec = Canonical::trusted(spec);
                Box::pin(self.call(op, kind, move || self.inner.create_checked(spec)))
            }
            Ok(Cow::Owned(spec)) => Box::pin(async move {
                let spec = Canonical::trusted(&spec);
                self.call(op, kind, || self.inner.create_checked(spec))
                    .await
            }),
        }
    }

    fn update_at<'a>(
        &'a self,
        id: &'a ResourceId,
        spec: &'a ResourceSpec,
    ) -> BoxFuture<'a, Result<Resource>> {
        let (op, kind) = (Operation::Update, id.kind);
        let checked = Self::kinds_agree(id, spec).and_then(|()| self.checked_spec(op, spec));
        match checked {
            Err(e) => self.refused(op, kind, e),
            Ok(Cow::Borrowed(spec)) => {
                let spec = Canonical::trusted(spec);
                Box::pin(self.call(op, kind, move || self.inner.update_checked(id, spec)))
            }
            Ok(Cow::Owned(spec)) => Box::pin(async move {
                let spec = Canonical::trusted(&spec);
                self.call(op, kind, || self.inner.update_checked(id, spec))
                    .await
            }),
        }
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

    fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.rate_limit()
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
        let attempt = || self.inner.check_credentials().map_err(context);
        match &self.retry {
            None => attempt().await,
            Some(policy) => retry_temporary(policy, attempt).await,
        }
    }

    async fn list(&self, kind: ResourceKind, options: &ListOptions) -> Result<Page<Resource>> {
        let options = self
            .checked_list_options(kind, options)
            .map_err(self.context(Operation::List, kind))?;
        let options = &options;
        self.call(Operation::List, kind, || self.inner.list(kind, options))
            .await
    }

    // The checked operations are written out (no `async fn`): the checks
    // run at once, and the adapter's own future is driven by one small
    // hand-written future ([`Call`]) instead of a state machine around it.
    fn observe<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        id: &'life1 ResourceId,
        desired: Option<&'life2 ResourceSpec>,
    ) -> BoxFuture<'async_trait, Result<Observation>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.observe_at(id, desired)
    }

    fn create<'life0, 'life1, 'async_trait>(
        &'life0 self,
        spec: &'life1 ResourceSpec,
    ) -> BoxFuture<'async_trait, Result<Created>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.create_at(spec)
    }

    fn update<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        id: &'life1 ResourceId,
        spec: &'life2 ResourceSpec,
    ) -> BoxFuture<'async_trait, Result<Resource>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.update_at(id, spec)
    }

    fn delete<'life0, 'life1, 'async_trait>(
        &'life0 self,
        id: &'life1 ResourceId,
    ) -> BoxFuture<'async_trait, Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        let (op, kind) = (Operation::Delete, id.kind);
        match self.gate(op, kind) {
            Err(e) => self.refused(op, kind, e),
            Ok(()) => Box::pin(self.call(op, kind, move || self.inner.delete(id))),
        }
    }
}

/// One checked call after its checks passed: the adapter's first attempt,
/// polled in place; its error given the caller's context; then, if the
/// layer retries and the error is temporary, the retry loop (boxed, built
/// only after a failure).
///
/// The clock a retry budget counts from is read only when it can matter:
/// when the first attempt does not finish on its first poll, or fails. An
/// adapter that answers at once and succeeds (in memory, or from a cache)
/// pays for no clock read; for any other the budget starts at most one poll
/// late.
struct Call<'a, T, F> {
    layer: &'a Checked,
    op: Operation,
    kind: ResourceKind,
    state: CallState<'a, T>,
    /// Makes another attempt; taken by the retry loop.
    again: Option<F>,
}

enum CallState<'a, T> {
    First {
        attempt: BoxFuture<'a, Result<T>>,
        started: Option<Instant>,
    },
    Retrying(BoxFuture<'a, Result<T>>),
}

impl<'a, T, F> Future for Call<'a, T, F>
where
    F: Fn() -> BoxFuture<'a, Result<T>> + Send + Unpin + 'a,
    T: Send + 'a,
{
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let call = self.get_mut();
        let policy = call.layer.retry.as_ref();
        let (error, started) = match &mut call.state {
            CallState::Retrying(retries) => return retries.as_mut().poll(cx),
            CallState::First { attempt, started } => match attempt.as_mut().poll(cx) {
                Poll::Ready(Ok(value)) => return Poll::Ready(Ok(value)),
                Poll::Ready(Err(error)) => (
                    error,
                    started.or_else(|| policy.and_then(RetryPolicy::clock)),
                ),
                Poll::Pending => {
                    if started.is_none() {
                        *started = policy.and_then(RetryPolicy::clock);
                    }
                    return Poll::Pending;
                }
            },
        };
        let context = call.layer.context(call.op, call.kind);
        let (Some(policy), Some(again)) = (policy, call.again.take()) else {
            return Poll::Ready(Err(context(error)));
        };
        let mut retries: BoxFuture<'a, Result<T>> =
            Box::pin(retry_failed(policy, started, context(error), move || {
                again().map_err(context)
            }));
        let poll = retries.as_mut().poll(cx);
        call.state = CallState::Retrying(retries);
        poll
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

    fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.rate_limit()
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

    fn observe_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        desired: Option<Canonical<'a>>,
    ) -> BoxFuture<'a, Result<Observation>> {
        Box::pin(self.retry(move || self.inner.observe_checked(id, desired)))
    }

    fn create_checked<'a>(&'a self, spec: Canonical<'a>) -> BoxFuture<'a, Result<Created>> {
        Box::pin(self.retry(move || self.inner.create_checked(spec)))
    }

    fn update_checked<'a>(
        &'a self,
        id: &'a ResourceId,
        spec: Canonical<'a>,
    ) -> BoxFuture<'a, Result<Resource>> {
        Box::pin(self.retry(move || self.inner.update_checked(id, spec)))
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::spec::{DatabaseSpec, DnsZoneSpec};
    use crate::InMemoryAdapter;

    /// The in-memory adapter, counting which entry point the layer used.
    #[derive(Debug)]
    struct Counting {
        memory: InMemoryAdapter,
        plain: AtomicUsize,
        checked: AtomicUsize,
    }

    impl Counting {
        fn new() -> Self {
            Counting {
                memory: InMemoryAdapter::new("counting"),
                plain: AtomicUsize::new(0),
                checked: AtomicUsize::new(0),
            }
        }

        fn plain(&self) {
            self.plain.fetch_add(1, Ordering::SeqCst);
        }

        fn checked(&self) {
            self.checked.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[async_trait]
    impl DockAdapter for Counting {
        fn provider(&self) -> &ProviderInfo {
            self.memory.provider()
        }

        fn dock_id(&self) -> &str {
            self.memory.dock_id()
        }

        fn capabilities(&self) -> Capabilities {
            self.memory.capabilities()
        }

        fn rate_limit(&self) -> Option<RateLimit> {
            Some(BUDGET)
        }

        async fn check_credentials(&self) -> Result<()> {
            Ok(())
        }

        async fn observe(
            &self,
            id: &ResourceId,
            desired: Option<&ResourceSpec>,
        ) -> Result<Observation> {
            self.plain();
            self.memory.observe(id, desired).await
        }

        async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
            self.plain();
            self.memory.create(spec).await
        }

        async fn update(&self, id: &ResourceId, spec: &ResourceSpec) -> Result<Resource> {
            self.plain();
            self.memory.update(id, spec).await
        }

        fn observe_checked<'a>(
            &'a self,
            id: &'a ResourceId,
            desired: Option<Canonical<'a>>,
        ) -> BoxFuture<'a, Result<Observation>> {
            self.checked();
            self.memory.observe_checked(id, desired)
        }

        fn create_checked<'a>(&'a self, spec: Canonical<'a>) -> BoxFuture<'a, Result<Created>> {
            self.checked();
            self.memory.create_checked(spec)
        }

        fn update_checked<'a>(
            &'a self,
            id: &'a ResourceId,
            spec: Canonical<'a>,
        ) -> BoxFuture<'a, Result<Resource>> {
            self.checked();
            self.memory.update_checked(id, spec)
        }
    }

    const BUDGET: RateLimit = RateLimit {
        limit: Some(100),
        remaining: Some(42),
        reset_at: None,
    };

    #[test]
    fn every_layer_reports_the_inner_adapters_rate_limit() {
        let counting: Arc<dyn DockAdapter> = Arc::new(Counting::new());
        let retry = RetryLayer {
            policy: RetryPolicy::default(),
        };
        for dock in [
            standard(counting.clone()),
            CheckedLayer.layer(counting.clone()),
            retry.layer(counting.clone()),
            retry.layer(CheckedLayer.layer(counting)),
        ] {
            assert_eq!(dock.rate_limit(), Some(BUDGET), "{dock:?}");
        }
    }

    fn zone(name: &str) -> ResourceSpec {
        DnsZoneSpec {
            name: name.into(),
            ..Default::default()
        }
        .into()
    }

    #[tokio::test]
    async fn the_layer_hands_adapters_validated_specs_through_the_checked_methods() {
        let counting = Arc::new(Counting::new());
        for dock in [
            standard(counting.clone()),
            CheckedLayer.layer(counting.clone()),
        ] {
            // Canonical already (borrowed on), and not (the canonical copy handed on).
            for name in ["example.com", "Example.COM."] {
                let spec = zone(name);
                let created = dock.create(&spec).await.unwrap();
                assert_eq!(created.resource.name(), "example.com");
                let seen = dock.observe(&created.id(), Some(&spec)).await.unwrap();
                assert!(seen.up_to_date, "{name}: {:?}", seen.diff);
                dock.update(&created.id(), &spec).await.unwrap();
            }
        }
        assert_eq!(counting.plain.load(Ordering::SeqCst), 0);
        assert_eq!(counting.checked.load(Ordering::SeqCst), 12);
    }

    #[tokio::test]
    async fn adapter_errors_carry_the_callers_context_and_permanent_ones_are_not_retried() {
        let memory = Arc::new(InMemoryAdapter::new("dock-a"));
        let dock = standard(memory.clone());
        let spec = ResourceSpec::from(DatabaseSpec {
            name: "shop".into(),
            ..Default::default()
        });
        let id = dock.create(&spec).await.unwrap().id();
        let calls = memory.remote_calls();
        memory.fail_next(Operation::Observe, Error::not_found("backend said no"));
        let err = dock.observe(&id, Some(&spec)).await.unwrap_err();
        assert_eq!(
            memory.remote_calls(),
            calls + 1,
            "a permanent error is not retried"
        );
        let text = err.to_string();
        for part in ["observe database", "dock=dock-a", "provider=memory"] {
            assert!(text.contains(part), "{part} missing from {text}");
        }
    }

    /// Fails its first `failures` creates with `error` after `delay` (a
    /// first poll that is pending), then creates in memory.
    #[derive(Debug)]
    struct Slow {
        memory: InMemoryAdapter,
        delay: Duration,
        failures: usize,
        error: fn() -> Error,
        attempts: AtomicUsize,
    }

    #[async_trait]
    impl DockAdapter for Slow {
        fn provider(&self) -> &ProviderInfo {
            self.memory.provider()
        }

        fn dock_id(&self) -> &str {
            self.memory.dock_id()
        }

        fn capabilities(&self) -> Capabilities {
            self.memory.capabilities()
        }

        async fn check_credentials(&self) -> Result<()> {
            Ok(())
        }

        async fn create(&self, spec: &ResourceSpec) -> Result<Created> {
            let attempt = self.attempts.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if attempt < self.failures {
                return Err((self.error)());
            }
            self.memory.create(spec).await
        }
    }

    fn slow(delay: Duration, failures: usize) -> Arc<Slow> {
        Arc::new(Slow {
            memory: InMemoryAdapter::new("slow"),
            delay,
            failures,
            error: || Error::rate_limited(Some(Duration::from_millis(1))),
            attempts: AtomicUsize::new(0),
        })
    }

    #[tokio::test]
    async fn a_pending_first_attempt_that_fails_is_retried() {
        let adapter = slow(Duration::from_millis(5), 2);
        let dock = standard(adapter.clone());
        let spec = zone("example.com");
        assert!(dock.create(&spec).await.unwrap().was_created());
        assert_eq!(adapter.attempts.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn the_retry_budget_counts_from_the_start_of_the_first_attempt() {
        // The first attempt alone outlasts the budget: no retry may start,
        // though the failure itself asks for a wait of only 1 ms.
        let adapter = slow(Duration::from_millis(60), 1);
        let policy = RetryPolicy {
            retry_timeout: Duration::from_millis(40),
            ..RetryPolicy::default()
        };
        let dock = Checked::new(adapter.clone()).with_retry(policy);
        let err = dock.create(&zone("example.com")).await.unwrap_err();
        assert_eq!(adapter.attempts.load(Ordering::SeqCst), 1);
        assert_eq!(err.status(), ErrorStatus::Persistent, "{err}");
        assert!(err.to_string().contains("dock=slow"), "{err}");
    }
}
