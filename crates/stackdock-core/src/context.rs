//! Who is asking: an optional actor / request context for adapter calls.
//!
//! The context travels with the task (a tokio task-local), not through the
//! [`DockAdapter`](crate::DockAdapter) methods, so the trait stays small and
//! object-safe and adapters that do not care never see it. Adapters that
//! write audit lines of their own, and the runtime's audit, read
//! [`CallContext::current`].
//!
//! ```
//! use stackdock_core::context::CallContext;
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let ctx = CallContext::new().with_actor("alice").with_run_id("run-42");
//! let seen = ctx.scope(async { CallContext::current() }).await;
//! assert_eq!(seen.unwrap().actor.as_deref(), Some("alice"));
//! assert!(CallContext::current().is_none()); // outside the scope
//! # });
//! ```

use std::future::Future;

use serde::{Deserialize, Serialize};

/// Who a call is made for. Never holds a secret.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallContext {
    /// The principal (user, service account, CLI operator).
    pub actor: Option<String>,
    /// The organisation the principal acts in.
    pub org: Option<String>,
    /// The request id of the caller (HTTP request, CLI invocation).
    pub request_id: Option<String>,
    /// The control-plane run this call belongs to.
    pub run_id: Option<String>,
}

tokio::task_local! {
    static CONTEXT: CallContext;
}

impl CallContext {
    /// An empty context.
    pub fn new() -> Self {
        Self::default()
    }

    /// Set the actor.
    pub fn with_actor(mut self, actor: impl Into<String>) -> Self {
        self.actor = Some(actor.into());
        self
    }

    /// Set the organisation.
    pub fn with_org(mut self, org: impl Into<String>) -> Self {
        self.org = Some(org.into());
        self
    }

    /// Set the request id.
    pub fn with_request_id(mut self, id: impl Into<String>) -> Self {
        self.request_id = Some(id.into());
        self
    }

    /// Set the run id.
    pub fn with_run_id(mut self, id: impl Into<String>) -> Self {
        self.run_id = Some(id.into());
        self
    }

    /// Run `future` with this context as [`current`](CallContext::current).
    pub async fn scope<F: Future>(self, future: F) -> F::Output {
        CONTEXT.scope(self, future).await
    }

    /// The context of the running task, if a caller set one.
    pub fn current() -> Option<CallContext> {
        CONTEXT.try_with(Clone::clone).ok()
    }
}
