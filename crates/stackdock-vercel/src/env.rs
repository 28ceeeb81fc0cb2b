//! A project's environment variables as the core [`EnvVars`] extension:
//! reachable from any `Arc<dyn DockAdapter>` through
//! [`DockAdapter::env_vars`](stackdock_core::DockAdapter::env_vars).
//!
//! | core call | Vercel request |
//! |---|---|
//! | `list_env_vars(project)` | `GET /v10/projects/{idOrName}/env` |
//! | `set_env_vars(project, vars)` | `POST /v10/projects/{idOrName}/env?upsert=true` (one call for the batch) |
//! | `delete_env_var(project, key)` | the list, then `DELETE /v9/projects/{idOrName}/env/{id}` per variable with the key |
//!
//! Environments are Vercel's targets `production`, `preview` and
//! `development`; a sensitive variable is stored with `type: "sensitive"`
//! (write-only; Vercel accepts it for production and preview only), others
//! as `encrypted`. Values travel as secrets: registered with the request so
//! no echo prints them, never in `Debug` or errors.
//!
//! ```no_run
//! use std::sync::Arc;
//! use stackdock_core::extension::EnvVarSpec;
//! use stackdock_core::{DockAdapter, DockAdapterExt, ResourceId, ResourceKind};
//! # async fn f(dock: Arc<dyn DockAdapter>) -> stackdock_core::Result<()> {
//! let project = ResourceId::new(ResourceKind::WebService, "prj_12HKQaOmR5t5Uy6vdcQsNIiZgHGB");
//! let env = dock.require_env_vars()?;
//! env.set_env_vars(&project, &[
//!     EnvVarSpec::new("API_URL", "https://api.example.com", ["production", "preview"]),
//!     EnvVarSpec::new("STRIPE_KEY", "sk_live_…", ["production"]).sensitive(),
//! ]).await?;
//! env.delete_env_var(&project, "OLD_FLAG").await?;
//! # Ok(()) }
//! ```

use stackdock_core::async_trait;
use stackdock_core::extension::{EnvVar as CoreEnvVar, EnvVarSpec, EnvVars};
use stackdock_core::{Error, ResourceId, Result};

use crate::client::VercelClient;
use crate::input;
use crate::types::{EnvTarget, EnvType, EnvVar, NewEnvVar};

#[async_trait]
impl EnvVars for VercelClient {
    async fn list_env_vars(&self, service: &ResourceId) -> Result<Vec<CoreEnvVar>> {
        let project = project(service)?;
        let vars = self.list_env(project).await?;
        Ok(vars.into_iter().map(core_env_var).collect())
    }

    async fn set_env_vars(
        &self,
        service: &ResourceId,
        vars: &[EnvVarSpec],
    ) -> Result<Vec<CoreEnvVar>> {
        let project = project(service)?;
        let vars = vars.iter().map(new_env_var).collect::<Result<Vec<_>>>()?;
        let stored = self.create_env(project, &vars, true).await?;
        Ok(stored.into_iter().map(core_env_var).collect())
    }

    async fn delete_env_var(&self, service: &ResourceId, key: &str) -> Result<()> {
        let project = project(service)?;
        for var in self.list_env(project).await? {
            if var.key == key {
                self.delete_env(project, &var.id).await?;
            }
        }
        Ok(())
    }
}

/// The project id or name a web service id names.
fn project(service: &ResourceId) -> Result<&str> {
    input::project_ref("service", &service.id)?;
    Ok(&service.id)
}

/// Vercel's form of a core variable; Vercel's own rules are checked here.
fn new_env_var(spec: &EnvVarSpec) -> Result<NewEnvVar> {
    let targets = spec
        .environments
        .iter()
        .map(|e| {
            EnvTarget::parse(e).ok_or_else(|| {
                Error::invalid_input(
                    "environments",
                    format!("{e:?} is not one of production, preview, development"),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    if spec.sensitive && targets.contains(&EnvTarget::Development) {
        return Err(Error::invalid_input(
            "environments",
            "Vercel keeps sensitive variables for production and preview only",
        ));
    }
    let kind = if spec.sensitive {
        EnvType::Sensitive
    } else {
        EnvType::Encrypted
    };
    Ok(NewEnvVar {
        key: spec.key.clone(),
        value: spec.value.clone(),
        kind,
        targets,
        git_branch: None,
        comment: spec.comment.clone(),
    })
}

/// A Vercel variable in core terms. Only `plain` values are returned in
/// clear; `encrypted` ones come back as ciphertext, which is not the value.
fn core_env_var(var: EnvVar) -> CoreEnvVar {
    CoreEnvVar {
        value: match var.kind {
            EnvType::Plain => var.value,
            _ => None,
        },
        sensitive: var.kind == EnvType::Sensitive,
        environments: var.targets.iter().map(|t| t.as_str().to_owned()).collect(),
        id: var.id,
        key: var.key,
        comment: var.comment.filter(|c| !c.is_empty()),
    }
}
