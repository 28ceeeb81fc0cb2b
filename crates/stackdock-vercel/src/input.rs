//! Vercel's own input rules, checked before any remote call: each
//! function answers `InvalidInput` naming the field, or `Ok`.

use stackdock_core::dns::RecordData;
use stackdock_core::spec::{DnsRecordSpec, ResourceSpec};
use stackdock_core::validate;
use stackdock_core::{Error, Result};

use crate::mapping::{self, DEFAULT_TTL};
use crate::types::{
    DeploymentSource, EnvTarget, EnvType, NewDeployment, NewEnvVar, NewProject, NewProjectDomain,
    ProjectUpdate, ReadyState,
};

/// Project names: 1..=100 bytes of lower-case letters, digits, `.`, `_`, `-`,
/// without `---` (Vercel's rule).
pub(crate) fn project_name(field: &str, name: &str) -> Result<()> {
    validate::resource_name(field, name, 100)?;
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
    {
        return Err(Error::invalid_input(
            field,
            "Vercel project names hold only lower-case letters, digits, '.', '_' and '-'",
        ));
    }
    if name.contains("---") {
        return Err(Error::invalid_input(field, "must not contain '---'"));
    }
    Ok(())
}

/// A project id or name as used in a path.
pub(crate) fn project_ref(field: &str, value: &str) -> Result<()> {
    validate::resource_name(field, value, 100)?;
    if value.contains('/') {
        return Err(Error::invalid_input(field, "must not contain '/'"));
    }
    Ok(())
}

/// A deployment id (`dpl_…`) or URL.
pub(crate) fn deployment_ref(field: &str, value: &str) -> Result<()> {
    validate::resource_name(field, value, 253)?;
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
    {
        return Err(Error::invalid_input(field, "not a deployment id"));
    }
    Ok(())
}

/// The framework presets Vercel accepts on create and update: the
/// `CreateProjectFramework` / `UpdateProjectFramework` enums of @vercel/sdk
/// 1.28 (commit 426eb4b). Vercel answers any other value with a 400.
const FRAMEWORKS: &[&str] = &[
    "actix-web",
    "angular",
    "ash",
    "astro",
    "axum",
    "blitzjs",
    "brunch",
    "bun",
    "container",
    "create-react-app",
    "django",
    "docusaurus",
    "docusaurus-2",
    "dojo",
    "eleventy",
    "elysia",
    "ember",
    "eve",
    "express",
    "fastapi",
    "fasthtml",
    "fastify",
    "flask",
    "gatsby",
    "go",
    "gridsome",
    "h3",
    "hexo",
    "hono",
    "hugo",
    "hydrogen",
    "ionic-angular",
    "ionic-react",
    "jekyll",
    "koa",
    "mastra",
    "middleman",
    "nestjs",
    "nextjs",
    "nitro",
    "node",
    "nuxtjs",
    "parcel",
    "polymer",
    "preact",
    "python",
    "react-router",
    "redwoodjs",
    "remix",
    "ruby",
    "rust",
    "saber",
    "sanity",
    "sanity-v2",
    "sapper",
    "scully",
    "services",
    "solidstart",
    "solidstart-1",
    "stencil",
    "storybook",
    "svelte",
    "sveltekit",
    "sveltekit-1",
    "tanstack-start",
    "tanstack-start-lovable",
    "umijs",
    "vite",
    "vitepress",
    "vue",
    "vuepress",
    "xmcp",
    "zola",
];

/// The Node.js versions a project can be set to: @vercel/sdk 1.28
/// `UpdateProjectNodeVersion` (responses may still show `8.10.x`).
const NODE_VERSIONS: &[&str] = &[
    "24.x", "22.x", "20.x", "18.x", "16.x", "14.x", "12.x", "10.x",
];

/// A framework preset Vercel knows (checked here so a typo fails before
/// the project is created, not after).
pub(crate) fn framework(value: &str) -> Result<()> {
    if FRAMEWORKS.contains(&value) {
        return Ok(());
    }
    Err(Error::invalid_input(
        "framework",
        "not a Vercel framework preset (e.g. nextjs, astro, vite, sveltekit)",
    ))
}

/// A Node.js version Vercel accepts (`24.x` ... `10.x`).
pub(crate) fn node_version(value: &str) -> Result<()> {
    if NODE_VERSIONS.contains(&value) {
        return Ok(());
    }
    Err(Error::invalid_input(
        "runtime",
        format!("Vercel accepts Node.js {}", NODE_VERSIONS.join(", ")),
    ))
}

/// A `state` filter of the deployments listing: the values its `state`
/// query parameter documents (`DELETED` and unknown states are not filters).
pub(crate) fn state_filter(state: &ReadyState) -> Result<()> {
    match state {
        ReadyState::Queued
        | ReadyState::Building
        | ReadyState::Initializing
        | ReadyState::Ready
        | ReadyState::Error
        | ReadyState::Canceled
        | ReadyState::Blocked => Ok(()),
        other => Err(Error::invalid_input(
            "states",
            format!(
                "{} is not a state Vercel filters deployments by \
                 (QUEUED, BUILDING, INITIALIZING, READY, ERROR, CANCELED, BLOCKED)",
                other.as_str()
            ),
        )),
    }
}

/// Function regions: three letters and a digit (`iad1`, `fra1`).
pub(crate) fn region(value: &str) -> Result<()> {
    let b = value.as_bytes();
    if b.len() == 4 && b[..3].iter().all(u8::is_ascii_lowercase) && b[3].is_ascii_digit() {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "region",
            "expected a Vercel region like fra1",
        ))
    }
}

/// Build / install commands and directories: one line, at most 256 bytes.
pub(crate) fn setting(field: &str, value: &str) -> Result<()> {
    validate::resource_name(field, value, 256)
}

/// A git branch name as git allows it (no spaces, `..`, `~^:?*[\`).
pub(crate) fn git_ref(field: &str, value: &str) -> Result<()> {
    validate::resource_name(field, value, 255)?;
    let bad = value.contains("..")
        || value.starts_with('-')
        || value.ends_with('/')
        || value.ends_with(".lock")
        || value
            .chars()
            .any(|c| c.is_whitespace() || "~^:?*[\\".contains(c));
    if bad {
        return Err(Error::invalid_input(field, "not a valid git ref"));
    }
    Ok(())
}

/// Env var rules: a shell-style key, at least one target, a branch only for
/// preview-only variables, sensitive values not for development.
pub(crate) fn env_var(var: &NewEnvVar) -> Result<()> {
    let key = var.key.as_bytes();
    let ok = !key.is_empty()
        && key.len() <= 256
        && (key[0].is_ascii_alphabetic() || key[0] == b'_')
        && key.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_');
    if !ok {
        return Err(Error::invalid_input(
            "key",
            "env var keys are letters, digits and '_', not starting with a digit",
        ));
    }
    if var.targets.is_empty() {
        return Err(Error::invalid_input(
            "targets",
            "at least one target is required",
        ));
    }
    if !matches!(
        var.kind,
        EnvType::Plain | EnvType::Encrypted | EnvType::Sensitive
    ) {
        return Err(Error::invalid_input(
            "kind",
            "only plain, encrypted and sensitive variables can be created",
        ));
    }
    if let Some(branch) = &var.git_branch {
        git_ref("git_branch", branch)?;
        if var.targets != [EnvTarget::Preview] {
            return Err(Error::invalid_input(
                "git_branch",
                "a git branch is only allowed for preview-only variables",
            ));
        }
    }
    if var.kind == EnvType::Sensitive && var.targets.contains(&EnvTarget::Development) {
        return Err(Error::invalid_input(
            "targets",
            "sensitive variables cannot target development",
        ));
    }
    if let Some(comment) = &var.comment {
        if comment.len() > 500 || comment.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                "comment",
                "at most 500 bytes, one line",
            ));
        }
    }
    Ok(())
}

/// A domain name in canonical form (StackDock's one rule).
pub(crate) fn domain(field: &str, name: &str) -> Result<String> {
    validate::domain(field, name)
}

/// Everything a new project asks for.
pub(crate) fn new_project(p: &NewProject) -> Result<()> {
    project_name("name", &p.name)?;
    if let Some(f) = &p.framework {
        framework(f)?;
    }
    if let Some(r) = &p.repository {
        let ok = r.split('/').count() >= 2
            && r.split('/').all(|part| {
                !part.is_empty()
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        if !ok {
            return Err(Error::invalid_input("repository", "expected owner/name"));
        }
    }
    settings(&[
        ("build_command", &p.build_command),
        ("dev_command", &p.dev_command),
        ("install_command", &p.install_command),
        ("output_directory", &p.output_directory),
        ("root_directory", &p.root_directory),
    ])?;
    if let Some(v) = &p.node_version {
        node_version(v)?;
    }
    if let Some(r) = &p.region {
        region(r)?;
    }
    p.environment_variables.iter().try_for_each(env_var)
}

/// The changes of a project update, and the project it addresses.
pub(crate) fn project_update(id_or_name: &str, u: &ProjectUpdate) -> Result<()> {
    project_ref("id", id_or_name)?;
    if let Some(n) = &u.name {
        project_name("name", n)?;
    }
    if let Some(f) = &u.framework {
        framework(f)?;
    }
    settings(&[
        ("build_command", &u.build_command),
        ("dev_command", &u.dev_command),
        ("install_command", &u.install_command),
        ("output_directory", &u.output_directory),
        ("root_directory", &u.root_directory),
    ])?;
    if let Some(v) = &u.node_version {
        node_version(v)?;
    }
    if let Some(r) = &u.region {
        region(r)?;
    }
    Ok(())
}

/// Optional build settings, each checked by [`setting`].
fn settings(fields: &[(&str, &Option<String>)]) -> Result<()> {
    for (field, value) in fields {
        if let Some(v) = value {
            setting(field, v)?;
        }
    }
    Ok(())
}

/// A deployment's project and source.
pub(crate) fn new_deployment(d: &NewDeployment) -> Result<()> {
    project_ref("service", &d.project)?;
    match &d.source {
        DeploymentSource::Git { git_ref: r, sha } => {
            if let Some(r) = r {
                git_ref("git_ref", r)?;
            }
            if let Some(sha) = sha {
                if !(7..=64).contains(&sha.len()) || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(Error::invalid_input(
                        "commit_sha",
                        "expected a hex commit id",
                    ));
                }
            }
            Ok(())
        }
        DeploymentSource::Redeploy { deployment_id } => {
            deployment_ref("redeploy_of", deployment_id)
        }
    }
}

/// A domain to attach to `project`: its canonical name and redirect.
pub(crate) fn new_project_domain(
    project: &str,
    d: &NewProjectDomain,
) -> Result<(String, Option<String>)> {
    project_ref("service_id", project)?;
    let name = domain("name", &d.name)?;
    let redirect = d
        .redirect
        .as_deref()
        .map(|r| domain("redirect", r))
        .transpose()?;
    if let Some(code) = d.redirect_status_code {
        if ![301, 302, 307, 308].contains(&code) || redirect.is_none() {
            return Err(Error::invalid_input(
                "redirect_status_code",
                "301, 302, 307 or 308, together with a redirect",
            ));
        }
    }
    if let Some(b) = &d.git_branch {
        git_ref("git_branch", b)?;
    }
    Ok((name, redirect))
}

/// A DNS record's parts, through the universal spec rules and Vercel's:
/// canonical zone and owner, and the TTL to send (at least 60 s).
pub(crate) fn record(
    zone: &str,
    owner: &str,
    ttl: Option<u32>,
    data: &RecordData,
) -> Result<(String, String, u32)> {
    let s = record_spec(zone, owner, ttl, data)?;
    let ttl = s.ttl.unwrap_or(DEFAULT_TTL);
    if ttl < DEFAULT_TTL {
        return Err(Error::invalid_input(
            "ttl",
            "Vercel's minimum TTL is 60 seconds",
        ));
    }
    // Reject types Vercel does not serve before any call.
    mapping::record_body("", &s.data, ttl, None)?;
    Ok((s.zone, s.name, ttl))
}

/// Record data with names in canonical form (as the spec validation leaves them).
pub(crate) fn canonical_data(data: &RecordData) -> Result<RecordData> {
    Ok(record_spec("stackdock.invalid", "@", None, data)?.data)
}

fn record_spec(
    zone: &str,
    owner: &str,
    ttl: Option<u32>,
    data: &RecordData,
) -> Result<DnsRecordSpec> {
    let spec = ResourceSpec::from(DnsRecordSpec {
        zone: zone.to_owned(),
        name: owner.to_owned(),
        ttl,
        data: data.clone(),
        common: Default::default(),
    })
    .validate()?;
    match spec {
        ResourceSpec::DnsRecord(s) => Ok(s),
        _ => Err(Error::internal("validated spec changed kind")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn project_names() {
        assert!(project_name("name", "my-app.v2_x").is_ok());
        assert!(project_name("name", "My-App").is_err());
        assert!(project_name("name", "a---b").is_err());
        assert!(project_name("name", &"a".repeat(101)).is_err());
    }

    #[test]
    fn enums_of_the_api() {
        assert!(framework("nextjs").is_ok());
        assert!(framework("sveltekit-1").is_ok());
        assert!(framework("next-js").is_err());
        assert!(node_version("22.x").is_ok());
        assert!(node_version("23.x").is_err());
        assert!(node_version("8.10.x").is_err());
        assert!(state_filter(&ReadyState::Ready).is_ok());
        assert!(state_filter(&ReadyState::Deleted).is_err());
        assert!(state_filter(&ReadyState::parse("PAUSED")).is_err());
    }

    #[test]
    fn env_rules() {
        let var = NewEnvVar::new("API_URL", "x", &[EnvTarget::Production]);
        assert!(env_var(&var).is_ok());
        assert!(env_var(&NewEnvVar::new("1BAD", "x", &[EnvTarget::Production])).is_err());
        assert!(env_var(&NewEnvVar::new("OK", "x", &[])).is_err());
        assert!(env_var(&var.clone().git_branch("feature")).is_err());
        assert!(
            env_var(&NewEnvVar::new("OK", "x", &[EnvTarget::Preview]).git_branch("feature/x"))
                .is_ok()
        );
        assert!(env_var(
            &NewEnvVar::new("OK", "x", &[EnvTarget::Development]).kind(EnvType::Sensitive)
        )
        .is_err());
    }

    proptest! {
        #[test]
        fn accepted_project_names_are_url_safe(name in "\\PC{0,120}") {
            if project_name("name", &name).is_ok() {
                prop_assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)));
                prop_assert!(!name.is_empty() && name.len() <= 100);
            }
        }

        #[test]
        fn accepted_git_refs_have_no_spaces_or_control(r in "\\PC{0,80}") {
            if git_ref("git_ref", &r).is_ok() {
                prop_assert!(!r.chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert!(!r.contains(".."));
            }
        }
    }
}
