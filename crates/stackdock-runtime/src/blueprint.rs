//! Blueprints: a scope (a tenant) as named steps, each a resource spec on a
//! named dock, with dependencies and outputs flowing between steps.
//!
//! ```toml
//! scope = "acme"
//! org = "agency"
//!
//! [steps.db]
//! dock = "pg"
//! spec = { kind = "database", name = "acme_app" }
//! secrets = { password = "generate" }          # generated, sealed in the vault
//!
//! [steps.zone]
//! dock = "dns"
//! spec = { kind = "dns_zone", name = "acme.example" }
//!
//! [steps.db_txt]
//! dock = "dns"
//! # `${zone.name}` and `${db.host}` make this step depend on zone and db.
//! spec = { kind = "dns_record", zone = "${zone.name}", name = "_db", data = { type = "TXT", text = "host=${db.host}" } }
//! ```
//!
//! * **Dependencies** are the explicit `needs` plus every step a reference
//!   `${step.field}` names. [`Blueprint::order`] is a topological order; a
//!   cycle is [`BlueprintError::Cycle`].
//! * **Outputs** of a step are its resource as serialised (no secrets):
//!   `${db.name}`, `${db.id}`, `${db.dock}`, any field of the resource
//!   (`${db.connection.port}`), and the connection fields of a database
//!   hoisted (`${db.host}`, `${db.port}`, `${db.user}`, `${db.database}`).
//!   A string that is exactly one reference takes the output's JSON type.
//! * **Secrets** are references in `secrets` (`generate`, `vault:KEY`,
//!   `env:NAME`, `template:TEXT`), injected into the spec only in memory,
//!   just before the call: specs serialise with secret fields skipped, so no
//!   secret reaches the state store. A literal `password` / `token` /
//!   `secret` in a spec is refused. A `template:` is text with references
//!   to earlier steps' outputs *and secrets*
//!   (`template:postgres://${db.user}:${db.password}@${db.host}/${db.name}`);
//!   the steps it names are dependencies.
//! * **Environment variables** of a web service are steps of kind
//!   `env_var` ([`EnvVarStep`]), their value the `value` secret.
//!
//! The same blueprint in code, with the typed builder:
//!
//! ```
//! use stackdock_core::spec::{DatabaseSpec, DnsZoneSpec};
//! use stackdock_runtime::blueprint::{Blueprint, SecretRef};
//! let bp = Blueprint::builder("acme")
//!     .org("agency")
//!     .step("db", "pg", DatabaseSpec { name: "acme_app".into(), ..Default::default() })
//!     .secret("password", SecretRef::Generate)
//!     .step("zone", "dns", DnsZoneSpec { name: "acme.example".into(), ..Default::default() })
//!     .step_json("db_txt", "dns", serde_json::json!({
//!         "kind": "dns_record", "zone": "${zone.name}", "name": "_db",
//!         "data": { "type": "TXT", "text": "host=${db.host}" }
//!     }))
//!     .build()?;
//! assert_eq!(bp.order()?.last().map(String::as_str), Some("db_txt"));
//! let again = Blueprint::from_toml(&bp.to_toml()?)?;
//! assert_eq!(again, bp);
//! # Ok::<(), stackdock_runtime::blueprint::BlueprintError>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use stackdock_core::{Resource, ResourceSpec};

/// Why a blueprint is refused. Names steps and fields, never values.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlueprintError {
    /// TOML / JSON that does not parse as a blueprint.
    #[error("cannot parse: {0}")]
    Parse(String),
    /// A scope, step or dock name that is not allowed.
    #[error("invalid {what} name {name:?} (letters, digits, `_` and `-`, at most 128)")]
    InvalidName {
        /// `scope`, `step` or `dock`.
        what: &'static str,
        /// The name.
        name: String,
    },
    /// `needs` names a step that does not exist.
    #[error("step {step} needs unknown step {needs}")]
    UnknownStep {
        /// The step.
        step: String,
        /// What it needs.
        needs: String,
    },
    /// A `${step.field}` reference that does not name a step, or is malformed.
    #[error("step {step}: bad reference ${{{reference}}}")]
    BadReference {
        /// The step.
        step: String,
        /// The reference, without `${}`.
        reference: String,
    },
    /// An output a reference names is not there once the step ran.
    #[error("step {step}: ${{{reference}}} has no value")]
    MissingOutput {
        /// The step.
        step: String,
        /// The reference.
        reference: String,
    },
    /// The dependencies form a cycle through these steps.
    #[error("dependency cycle through steps {}", .steps.join(", "))]
    Cycle {
        /// The steps on or behind the cycle.
        steps: Vec<String>,
    },
    /// A secret written as a literal in a spec.
    #[error("step {step}: {field} must be a secret reference (generate, vault:KEY, env:NAME, template:TEXT) in `secrets`, not a literal")]
    LiteralSecret {
        /// The step.
        step: String,
        /// The field.
        field: String,
    },
    /// A bad secret reference.
    #[error(
        "step {step}: secret {field}: expected generate, vault:KEY, env:NAME or template:TEXT"
    )]
    BadSecretRef {
        /// The step.
        step: String,
        /// The field.
        field: String,
    },
    /// A spec that is not a valid resource spec (after references resolve).
    #[error("step {step}: invalid spec: {reason}")]
    InvalidSpec {
        /// The step.
        step: String,
        /// Why (sanitised).
        reason: String,
    },
}

/// Where a secret in a blueprint comes from. Written `generate`,
/// `vault:KEY`, `env:NAME` or `template:TEXT`.
///
/// ```
/// use stackdock_runtime::blueprint::SecretRef;
/// let url: SecretRef = "template:postgres://${db.user}:${db.password}@${db.host}/${db.name}".parse().unwrap();
/// assert_eq!(url.references(), ["db.user", "db.password", "db.host", "db.name"]);
/// assert!("template:".parse::<SecretRef>().is_err());
/// assert!("template:${db".parse::<SecretRef>().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum SecretRef {
    /// Generated once (32 random alphanumerics), sealed in the vault under
    /// `<scope>/<step>/<field>` *before* the create call, reused afterwards.
    Generate,
    /// A secret already in the vault, for the step's dock.
    Vault(String),
    /// An environment variable of the runtime's process.
    Env(String),
    /// Text with `${step.field}` references, built in memory just before
    /// the call. A reference names an output of an earlier step
    /// (`${db.host}`) or one of its secrets (`${db.password}`, opened from
    /// where that step's `secrets` say, never generated here); the steps it
    /// names are dependencies, as references in a spec are. Values are put
    /// in as they are (no URL encoding). The template text itself is not a
    /// secret: it is recorded with the step, the text it makes is not.
    Template(String),
}

/// Longest `template:` text accepted.
const MAX_TEMPLATE_BYTES: usize = 16_384;

impl SecretRef {
    /// The `${...}` references of a template (without the braces); none for
    /// the other kinds.
    pub fn references(&self) -> Vec<&str> {
        match self {
            SecretRef::Template(text) => references_in(text).unwrap_or_default(),
            _ => Vec::new(),
        }
    }
}

fn valid_template(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= MAX_TEMPLATE_BYTES
        && !text.chars().any(char::is_control)
        && references_in(text).is_ok_and(|refs| refs.iter().all(|r| split_reference(r).is_some()))
}

impl FromStr for SecretRef {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        if s == "generate" {
            return Ok(SecretRef::Generate);
        }
        match s.split_once(':') {
            Some(("vault", k)) if valid_secret_name(k) => Ok(SecretRef::Vault(k.to_owned())),
            Some(("env", k)) if valid_secret_name(k) => Ok(SecretRef::Env(k.to_owned())),
            Some(("template", t)) if valid_template(t) => Ok(SecretRef::Template(t.to_owned())),
            _ => Err(()),
        }
    }
}

fn valid_secret_name(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.chars().any(|c| c.is_control() || c.is_whitespace())
}

impl TryFrom<String> for SecretRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
            .map_err(|()| "expected generate, vault:KEY, env:NAME or template:TEXT".to_owned())
    }
}

impl From<SecretRef> for String {
    fn from(r: SecretRef) -> String {
        r.to_string()
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::Generate => f.write_str("generate"),
            SecretRef::Vault(k) => write!(f, "vault:{k}"),
            SecretRef::Env(k) => write!(f, "env:{k}"),
            SecretRef::Template(t) => write!(f, "template:{t}"),
        }
    }
}

/// One step: a resource spec (a template with `${step.field}` references)
/// on a dock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepDef {
    /// The dock (as registered in the runtime's [`DockRegistry`](stackdock_core::DockRegistry)).
    pub dock: String,
    /// Steps that must be done first (besides those referenced).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// The spec, tagged by `kind` like [`ResourceSpec`]'s JSON, with
    /// references in strings.
    pub spec: serde_json::Value,
    /// Secret fields of the spec (e.g. `password`) and where they come from.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, SecretRef>,
}

/// A scope as named steps. See the [module docs](self).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Blueprint {
    /// The scope (tenant) the steps belong to; the unit of locking.
    pub scope: String,
    /// The organisation that owns the scope (vault binding, audit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// The steps, by name.
    #[serde(default)]
    pub steps: BTreeMap<String, StepDef>,
}

const SECRET_FIELDS: &[&str] = &["password", "token", "secret", "api_key", "install_command"];

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Every `${...}` in `text`, without the braces; `Err` on an unclosed one.
fn references_in(text: &str) -> Result<Vec<&str>, ()> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let end = after.find('}').ok_or(())?;
        out.push(&after[..end]);
        rest = &after[end + 1..];
    }
    Ok(out)
}

fn walk_strings<'a>(value: &'a serde_json::Value, f: &mut dyn FnMut(&'a str)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter().for_each(|v| walk_strings(v, f)),
        serde_json::Value::Object(map) => map.values().for_each(|v| walk_strings(v, f)),
        _ => {}
    }
}

/// `step.path` → (step, path).
fn split_reference(reference: &str) -> Option<(&str, &str)> {
    let (step, path) = reference.split_once('.')?;
    (valid_name(step) && !path.is_empty() && path.split('.').all(|p| !p.is_empty()))
        .then_some((step, path))
}

impl Blueprint {
    /// A typed builder.
    pub fn builder(scope: impl Into<String>) -> BlueprintBuilder {
        BlueprintBuilder {
            blueprint: Blueprint {
                scope: scope.into(),
                org: None,
                steps: BTreeMap::new(),
            },
            last: None,
        }
    }

    /// Parse and [`validate`](Blueprint::validate) TOML.
    pub fn from_toml(text: &str) -> Result<Self, BlueprintError> {
        let bp: Blueprint =
            toml::from_str(text).map_err(|e| BlueprintError::Parse(e.message().to_owned()))?;
        bp.validate()?;
        Ok(bp)
    }

    /// Parse and [`validate`](Blueprint::validate) JSON.
    pub fn from_json(text: &str) -> Result<Self, BlueprintError> {
        let bp: Blueprint =
            serde_json::from_str(text).map_err(|e| BlueprintError::Parse(e.to_string()))?;
        bp.validate()?;
        Ok(bp)
    }

    /// As TOML.
    pub fn to_toml(&self) -> Result<String, BlueprintError> {
        toml::to_string(self).map_err(|e| BlueprintError::Parse(e.to_string()))
    }

    /// As pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a blueprint serialises")
    }

    /// The organisation, `default` when none is set.
    pub fn org(&self) -> &str {
        self.org.as_deref().unwrap_or("default")
    }

    /// The steps `step` depends on: its `needs` and every step it references.
    pub fn dependencies(&self, step: &str) -> Result<BTreeSet<String>, BlueprintError> {
        let def = self
            .steps
            .get(step)
            .ok_or_else(|| BlueprintError::UnknownStep {
                step: step.to_owned(),
                needs: step.to_owned(),
            })?;
        let mut deps: BTreeSet<String> = def.needs.iter().cloned().collect();
        let mut bad = None;
        for reference in def.secrets.values().flat_map(SecretRef::references) {
            if let Some((target, _)) = split_reference(reference) {
                deps.insert(target.to_owned());
            }
        }
        walk_strings(&def.spec, &mut |s| match references_in(s) {
            Ok(refs) => {
                for r in refs {
                    match split_reference(r) {
                        Some((target, _)) => {
                            deps.insert(target.to_owned());
                        }
                        None => bad = Some(r.to_owned()),
                    }
                }
            }
            Err(()) => bad = Some(s.to_owned()),
        });
        if let Some(reference) = bad {
            return Err(BlueprintError::BadReference {
                step: step.to_owned(),
                reference,
            });
        }
        Ok(deps)
    }

    /// Check names, dependencies, references, secrets and (for steps with
    /// no references) the spec itself; and that there is no cycle.
    pub fn validate(&self) -> Result<(), BlueprintError> {
        if !valid_name(&self.scope) {
            return Err(BlueprintError::InvalidName {
                what: "scope",
                name: self.scope.clone(),
            });
        }
        if let Some(org) = &self.org {
            if !valid_name(org) {
                return Err(BlueprintError::InvalidName {
                    what: "org",
                    name: org.clone(),
                });
            }
        }
        for (name, def) in &self.steps {
            if !valid_name(name) {
                return Err(BlueprintError::InvalidName {
                    what: "step",
                    name: name.clone(),
                });
            }
            if !valid_name(&def.dock) {
                return Err(BlueprintError::InvalidName {
                    what: "dock",
                    name: def.dock.clone(),
                });
            }
            for needed in &def.needs {
                if !self.steps.contains_key(needed) {
                    return Err(BlueprintError::UnknownStep {
                        step: name.clone(),
                        needs: needed.clone(),
                    });
                }
            }
            let deps = self.dependencies(name)?;
            for dep in &deps {
                if !self.steps.contains_key(dep) {
                    return Err(BlueprintError::BadReference {
                        step: name.clone(),
                        reference: dep.clone(),
                    });
                }
            }
            let object = def
                .spec
                .as_object()
                .ok_or_else(|| BlueprintError::InvalidSpec {
                    step: name.clone(),
                    reason: "a spec is a table / object with a `kind`".into(),
                })?;
            if is_env_var(&def.spec) {
                validate_env_var_step(name, def)?;
                continue;
            }
            for field in SECRET_FIELDS {
                if object.get(*field).is_some_and(|v| !v.is_null()) {
                    return Err(BlueprintError::LiteralSecret {
                        step: name.clone(),
                        field: (*field).to_owned(),
                    });
                }
            }
            let has_refs = {
                let mut any = false;
                walk_strings(&def.spec, &mut |s| any |= s.contains("${"));
                any
            };
            if !has_refs {
                spec_from_json(name, &def.spec)?;
            }
        }
        self.order().map(|_| ())
    }

    /// A topological order of the steps (dependencies first, ties by name).
    pub fn order(&self) -> Result<Vec<String>, BlueprintError> {
        let mut deps = BTreeMap::new();
        for name in self.steps.keys() {
            let d: BTreeSet<String> = self
                .dependencies(name)?
                .into_iter()
                .filter(|d| self.steps.contains_key(d))
                .collect();
            deps.insert(name.clone(), d);
        }
        topological(&deps)
    }
}

/// The spec of an `env_var` step: one environment variable of a web
/// service, set through its dock's
/// [`EnvVars`](stackdock_core::extension::EnvVars) extension. The value is
/// the step's `value` secret (usually a `template:`), never a spec field.
///
/// ```toml
/// [steps.database_url]
/// dock = "vercel"
/// spec = { kind = "env_var", service = "${project.id}", key = "DATABASE_URL", targets = ["production", "preview"] }
/// secrets = { value = "template:postgres://${db.user}:${db.password}@${db.host}:${db.port}/${db.name}" }
/// ```
///
/// What the state store keeps of it: this spec (service resolved), the
/// template text (a reference, not a value), and in the step's outputs a
/// salted SHA-256 of the value (`value_sha256`, salted with the scope, step
/// and key) that tells a later apply whether the value changed. The value
/// itself is built in memory just before the call and dropped after it.
///
/// ```
/// use stackdock_runtime::blueprint::{Blueprint, EnvVarStep, SecretRef};
/// let bp = Blueprint::builder("site")
///     .step_json("project", "vercel", serde_json::json!({"kind": "web_service", "name": "site"}))
///     .step_json("db", "pg", serde_json::json!({"kind": "database", "name": "site"}))
///     .secret("password", SecretRef::Generate)
///     .step_json("url", "vercel", EnvVarStep::new("${project.id}", "DATABASE_URL", ["production"]).to_json())
///     .secret("value", "template:postgres://${db.user}:${db.password}@${db.host}/${db.name}".parse().unwrap())
///     .build()?;
/// assert_eq!(bp.dependencies("url")?.into_iter().collect::<Vec<_>>(), ["db", "project"]);
/// # Ok::<(), stackdock_runtime::blueprint::BlueprintError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVarStep {
    /// The web service's provider id, usually `${project.id}`.
    pub service: String,
    /// The variable's name (letters, digits and `_`, not starting with a digit).
    pub key: String,
    /// The environments it applies to (Vercel: `production`, `preview`,
    /// `development`); at least one.
    pub targets: Vec<String>,
    /// Write-only at the provider (Vercel: production and preview only).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// A note shown next to the variable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// The `kind` of an [`EnvVarStep`] spec.
pub const ENV_VAR_KIND: &str = "env_var";

impl EnvVarStep {
    /// `key` on `service` in `targets`, not sensitive, no comment.
    pub fn new(
        service: impl Into<String>,
        key: impl Into<String>,
        targets: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        EnvVarStep {
            service: service.into(),
            key: key.into(),
            targets: targets.into_iter().map(Into::into).collect(),
            sensitive: false,
            comment: None,
        }
    }

    /// As a step spec: this with `kind = "env_var"`.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("an env var step serialises");
        if let Some(object) = value.as_object_mut() {
            object.insert("kind".into(), ENV_VAR_KIND.into());
        }
        value
    }

    /// Parse a step spec of kind `env_var` (references resolved) and check it
    /// as core checks an [`EnvVarSpec`](stackdock_core::extension::EnvVarSpec).
    pub(crate) fn from_spec(step: &str, spec: &serde_json::Value) -> Result<Self, BlueprintError> {
        let invalid = |reason: String| BlueprintError::InvalidSpec {
            step: step.to_owned(),
            reason: stackdock_core::provisioning::sanitize_message(&reason),
        };
        let mut fields = spec.clone();
        if let Some(object) = fields.as_object_mut() {
            object.remove("kind");
        }
        let parsed: EnvVarStep =
            serde_json::from_value(fields).map_err(|e| invalid(e.to_string()))?;
        if parsed.service.trim().is_empty() {
            return Err(invalid(
                "service: name the web service (`${project.id}`)".into(),
            ));
        }
        parsed
            .core_spec(stackdock_core::secret::SecretString::from(String::new()))
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        Ok(parsed)
    }

    /// The core variable with `value`.
    pub(crate) fn core_spec(
        &self,
        value: stackdock_core::secret::SecretString,
    ) -> stackdock_core::extension::EnvVarSpec {
        stackdock_core::extension::EnvVarSpec {
            key: self.key.clone(),
            value,
            environments: self.targets.clone(),
            sensitive: self.sensitive,
            comment: self.comment.clone(),
        }
    }
}

/// Whether a step spec is an [`EnvVarStep`].
pub(crate) fn is_env_var(spec: &serde_json::Value) -> bool {
    spec.get("kind").and_then(serde_json::Value::as_str) == Some(ENV_VAR_KIND)
}

/// An `env_var` step: its value comes from `secrets.value` and only from
/// there; the spec is checked once its references are resolved.
fn validate_env_var_step(step: &str, def: &StepDef) -> Result<(), BlueprintError> {
    if def.spec.get("value").is_some_and(|v| !v.is_null()) {
        return Err(BlueprintError::LiteralSecret {
            step: step.to_owned(),
            field: "value".into(),
        });
    }
    if !def.secrets.contains_key("value") || def.secrets.len() != 1 {
        return Err(BlueprintError::InvalidSpec {
            step: step.to_owned(),
            reason: "an env_var step takes its value from `secrets = { value = ... }`, and no other secret".into(),
        });
    }
    let mut has_refs = false;
    walk_strings(&def.spec, &mut |s| has_refs |= s.contains("${"));
    if !has_refs {
        EnvVarStep::from_spec(step, &def.spec)?;
    }
    Ok(())
}

/// Kahn's algorithm over `deps` (node → what it needs); ties by name.
pub(crate) fn topological(
    deps: &BTreeMap<String, BTreeSet<String>>,
) -> Result<Vec<String>, BlueprintError> {
    let mut remaining: BTreeMap<&str, usize> =
        deps.iter().map(|(k, v)| (k.as_str(), v.len())).collect();
    let mut ready: BTreeSet<&str> = remaining
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(k, _)| *k)
        .collect();
    let mut order = Vec::with_capacity(deps.len());
    while let Some(next) = ready.pop_first() {
        remaining.remove(next);
        order.push(next.to_owned());
        for (node, needs) in deps {
            if needs.contains(next) {
                if let Some(n) = remaining.get_mut(node.as_str()) {
                    *n -= 1;
                    if *n == 0 {
                        ready.insert(node.as_str());
                    }
                }
            }
        }
    }
    if !remaining.is_empty() {
        return Err(BlueprintError::Cycle {
            steps: remaining.keys().map(|s| (*s).to_owned()).collect(),
        });
    }
    Ok(order)
}

/// Parse and validate a step's resolved spec JSON.
pub(crate) fn spec_from_json(
    step: &str,
    value: &serde_json::Value,
) -> Result<ResourceSpec, BlueprintError> {
    let invalid = |reason: String| BlueprintError::InvalidSpec {
        step: step.to_owned(),
        reason: stackdock_core::provisioning::sanitize_message(&reason),
    };
    let spec = ResourceSpec::deserialize(value).map_err(|e| invalid(e.to_string()))?;
    spec.validate().map_err(|e| invalid(e.to_string()))
}

/// What later steps can reference of a step's resource. See the
/// [module docs](self).
pub fn outputs_of(resource: &Resource) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(resource) {
        for (k, v) in map {
            if k != "meta" {
                out.insert(k, v);
            }
        }
    }
    let meta = resource.meta();
    out.insert("name".into(), meta.name.clone().into());
    out.insert(
        "id".into(),
        meta.reference.provider_resource_id.clone().into(),
    );
    out.insert("dock".into(), meta.reference.dock_id.clone().into());
    if let Some(tenant) = &meta.tenant {
        out.insert("tenant".into(), tenant.clone().into());
    }
    if let Some(serde_json::Value::Object(conn)) = out.get("connection").cloned() {
        for (k, v) in conn {
            out.entry(k).or_insert(v);
        }
    }
    serde_json::Value::Object(out)
}

/// Replace every `${step.path}` in `template` with `outputs[step]`'s value.
pub(crate) fn resolve(
    step: &str,
    template: &serde_json::Value,
    outputs: &BTreeMap<String, serde_json::Value>,
) -> Result<serde_json::Value, BlueprintError> {
    use serde_json::Value;
    let lookup = |reference: &str| -> Result<Value, BlueprintError> {
        let missing = || BlueprintError::MissingOutput {
            step: step.to_owned(),
            reference: reference.to_owned(),
        };
        let (target, path) = split_reference(reference).ok_or_else(missing)?;
        let mut value = outputs.get(target).ok_or_else(missing)?;
        for part in path.split('.') {
            value = value.get(part).ok_or_else(missing)?;
        }
        if value.is_null() {
            return Err(missing());
        }
        Ok(value.clone())
    };
    Ok(match template {
        Value::String(s) => {
            let refs = references_in(s).map_err(|()| BlueprintError::BadReference {
                step: step.to_owned(),
                reference: s.clone(),
            })?;
            if refs.len() == 1 && s.len() == refs[0].len() + 3 {
                lookup(refs[0])?
            } else {
                // One pass over the template: an output that itself holds
                // `${...}` text is copied as it is, never expanded again.
                let mut text = String::with_capacity(s.len());
                let mut rest = s.as_str();
                for r in refs {
                    let marker = format!("${{{r}}}");
                    let (before, after) = rest.split_once(&marker).unwrap_or((rest, ""));
                    text.push_str(before);
                    match lookup(r)? {
                        Value::String(v) => text.push_str(&v),
                        other => text.push_str(&other.to_string()),
                    }
                    rest = after;
                }
                text.push_str(rest);
                Value::String(text)
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| resolve(step, v, outputs))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), resolve(step, v, outputs)?)))
                .collect::<Result<_, BlueprintError>>()?,
        ),
        other => other.clone(),
    })
}

/// Builds a [`Blueprint`] in code; `needs` and `secret` apply to the last step added.
#[derive(Debug, Clone)]
pub struct BlueprintBuilder {
    blueprint: Blueprint,
    last: Option<String>,
}

impl BlueprintBuilder {
    /// Set the organisation.
    pub fn org(mut self, org: impl Into<String>) -> Self {
        self.blueprint.org = Some(org.into());
        self
    }

    /// Add a step with a typed spec (secret fields are not carried: use [`secret`](Self::secret)).
    pub fn step(
        self,
        name: impl Into<String>,
        dock: impl Into<String>,
        spec: impl Into<ResourceSpec>,
    ) -> Self {
        let value = serde_json::to_value(spec.into()).expect("specs serialise");
        self.step_json(name, dock, value)
    }

    /// Add a step with a JSON spec template (references allowed).
    pub fn step_json(
        mut self,
        name: impl Into<String>,
        dock: impl Into<String>,
        spec: serde_json::Value,
    ) -> Self {
        let name = name.into();
        self.blueprint.steps.insert(
            name.clone(),
            StepDef {
                dock: dock.into(),
                needs: Vec::new(),
                spec,
                secrets: BTreeMap::new(),
            },
        );
        self.last = Some(name);
        self
    }

    /// The last step also needs `step`.
    pub fn needs(mut self, step: impl Into<String>) -> Self {
        if let Some(def) = self
            .last
            .as_ref()
            .and_then(|l| self.blueprint.steps.get_mut(l))
        {
            def.needs.push(step.into());
        }
        self
    }

    /// The last step's `field` comes from `secret`.
    pub fn secret(mut self, field: impl Into<String>, secret: SecretRef) -> Self {
        if let Some(def) = self
            .last
            .as_ref()
            .and_then(|l| self.blueprint.steps.get_mut(l))
        {
            def.secrets.insert(field.into(), secret);
        }
        self
    }

    /// The blueprint, validated.
    pub fn build(self) -> Result<Blueprint, BlueprintError> {
        self.blueprint.validate()?;
        Ok(self.blueprint)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_holding_reference_text_is_not_expanded_again() {
        let outputs = BTreeMap::from([
            ("a".to_owned(), serde_json::json!({ "x": "${b.y}" })),
            ("b".to_owned(), serde_json::json!({ "y": "B" })),
        ]);
        let template = serde_json::json!("${a.x}-${b.y}");
        let resolved = resolve("c", &template, &outputs).unwrap();
        assert_eq!(resolved, serde_json::json!("${b.y}-B"));
    }

    #[test]
    fn references_resolve_in_order_with_text_between() {
        let outputs = BTreeMap::from([(
            "db".to_owned(),
            serde_json::json!({ "host": "h", "port": 5432 }),
        )]);
        let template = serde_json::json!("pg://${db.host}:${db.port}/x");
        let resolved = resolve("c", &template, &outputs).unwrap();
        assert_eq!(resolved, serde_json::json!("pg://h:5432/x"));
    }
}
