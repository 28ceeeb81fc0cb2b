//! Vercel's own input rules, checked before any remote call.

use stackdock_core::validate;
use stackdock_core::{Error, Result};

use crate::types::{EnvTarget, EnvType, NewEnvVar};

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

/// Framework presets are slugs (`nextjs`, `sveltekit-1`, `create-react-app`).
pub(crate) fn framework(value: &str) -> Result<()> {
    validate::slug("framework", value, 64, false)
}

/// `22.x`-style Node.js versions.
pub(crate) fn node_version(value: &str) -> Result<()> {
    let ok = value
        .strip_suffix(".x")
        .is_some_and(|major| !major.is_empty() && major.bytes().all(|b| b.is_ascii_digit()));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(
            "runtime",
            "expected a Node.js version like 22.x",
        ))
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
