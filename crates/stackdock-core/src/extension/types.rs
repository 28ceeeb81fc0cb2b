//! The data of the extension traits, with the provider-independent checks
//! the [`CheckedLayer`](crate::layer::CheckedLayer) runs before any call.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::resource::{ConnectionDetails, ResourceId};
use crate::secret::{ExposeSecret, SecretString, REDACTED};
use crate::validate::{resource_name, slug};
use crate::{Error, Result};

/// Whether a backup was taken by hand or by a schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupTrigger {
    /// Taken on request ([`Backups::create_backup`](super::Backups::create_backup)).
    Manual,
    /// Taken by a schedule.
    Automatic,
}

impl BackupTrigger {
    /// `manual` or `automatic`.
    pub fn as_str(self) -> &'static str {
        match self {
            BackupTrigger::Manual => "manual",
            BackupTrigger::Automatic => "automatic",
        }
    }
}

/// Names one backup of a site, exactly as
/// [`list_backups`](super::Backups::list_backups) reported it.
///
/// ```
/// use stackdock_core::extension::{BackupRef, BackupTrigger};
/// let backup = BackupRef::new("2021-11-24 08:59 mytag", "aws-s3", BackupTrigger::Manual);
/// assert!(backup.validate().is_ok());
/// assert!(BackupRef::new("", "local", BackupTrigger::Manual).validate().is_err());
/// assert!(BackupRef::new("x", "../etc", BackupTrigger::Manual).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BackupRef {
    /// The provider's name of the backup (GridPane: `date time [tag]`).
    pub name: String,
    /// Where it is stored: `local` (on the server) or the remote storage
    /// service (`aws-s3`, `backblaze`, `dropbox`, `wasabi`, ...).
    pub storage: String,
    /// Taken by hand or by a schedule.
    pub trigger: BackupTrigger,
}

impl BackupRef {
    /// A reference to the backup `name` in `storage`.
    pub fn new(
        name: impl Into<String>,
        storage: impl Into<String>,
        trigger: BackupTrigger,
    ) -> Self {
        BackupRef {
            name: name.into(),
            storage: storage.into(),
            trigger,
        }
    }

    /// Provider-independent checks: a name of 1–128 bytes without control
    /// characters, a storage slug.
    pub fn validate(&self) -> Result<()> {
        resource_name("backup.name", &self.name, 128)?;
        slug("backup.storage", &self.storage, 64, false)
    }
}

/// One backup that can be restored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Backup {
    /// What to pass to restore or delete it.
    pub backup: BackupRef,
    /// The tag given when it was taken, if any.
    pub tag: Option<String>,
    /// When it was taken, as the provider reports it.
    pub taken_at: Option<String>,
    /// The provider's raw entry, secrets removed (for display; correctness
    /// never depends on it).
    pub provider_data: serde_json::Value,
}

/// A backup to take now.
///
/// ```
/// use stackdock_core::extension::NewBackup;
/// assert!(NewBackup::local().with_tag("before-upgrade").validate().is_ok());
/// assert!(NewBackup::local().with_tag("a\nb").validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewBackup {
    /// The provider's id of the remote storage to send it to (a GridPane
    /// backup integration id); `None` keeps it on the server.
    pub remote_storage: Option<String>,
    /// A tag to find it again by.
    pub tag: Option<String>,
}

impl NewBackup {
    /// A backup kept on the server.
    pub fn local() -> Self {
        NewBackup::default()
    }

    /// A backup sent to the remote storage `id`.
    pub fn remote(id: impl Into<String>) -> Self {
        NewBackup {
            remote_storage: Some(id.into()),
            tag: None,
        }
    }

    /// With a tag.
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = Some(tag.into());
        self
    }

    /// Provider-independent checks (the provider adds its own tag rules).
    pub fn validate(&self) -> Result<()> {
        if let Some(remote) = &self.remote_storage {
            resource_name("remote_storage", remote, 64)?;
        }
        if let Some(tag) = &self.tag {
            resource_name("tag", tag, 64)?;
        }
        Ok(())
    }
}

/// When a schedule runs. Minutes are 0–59, hours 0–23.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "every", rename_all = "snake_case")]
pub enum BackupFrequency {
    /// Every hour at `minute`.
    Hourly {
        /// Minute of the hour.
        minute: u8,
    },
    /// Every day at `hour:minute`.
    Daily {
        /// Hour of the day.
        hour: u8,
        /// Minute of the hour.
        minute: u8,
    },
    /// Every week on `weekday` (0 = Sunday … 6) at `hour:minute`.
    Weekly {
        /// Day of the week, 0 = Sunday.
        weekday: u8,
        /// Hour of the day.
        hour: u8,
        /// Minute of the hour.
        minute: u8,
    },
    /// Every month on `day` (1–28, so every month has it) at `hour:minute`.
    Monthly {
        /// Day of the month.
        day: u8,
        /// Hour of the day.
        hour: u8,
        /// Minute of the hour.
        minute: u8,
    },
}

impl BackupFrequency {
    /// The ranges above.
    ///
    /// ```
    /// use stackdock_core::extension::BackupFrequency;
    /// assert!(BackupFrequency::Monthly { day: 1, hour: 0, minute: 0 }.validate().is_ok());
    /// assert!(BackupFrequency::Monthly { day: 31, hour: 0, minute: 0 }.validate().is_err());
    /// assert!(BackupFrequency::Hourly { minute: 60 }.validate().is_err());
    /// ```
    pub fn validate(&self) -> Result<()> {
        let (minute, hour) = match *self {
            BackupFrequency::Hourly { minute } => (minute, 0),
            BackupFrequency::Daily { hour, minute } => (minute, hour),
            BackupFrequency::Weekly {
                weekday,
                hour,
                minute,
            } => {
                in_range("frequency.weekday", weekday, 0, 6)?;
                (minute, hour)
            }
            BackupFrequency::Monthly { day, hour, minute } => {
                in_range("frequency.day", day, 1, 28)?;
                (minute, hour)
            }
        };
        in_range("frequency.minute", minute, 0, 59)?;
        in_range("frequency.hour", hour, 0, 23)
    }
}

fn in_range(field: &str, value: u8, min: u8, max: u8) -> Result<()> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(Error::invalid_input(
            field,
            format!("{value} is outside {min}..={max}"),
        ))
    }
}

/// One backup schedule of a site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupSchedule {
    /// The provider's id of the schedule.
    pub id: String,
    /// `local` or the remote storage service it sends to (`aws-s3`, ...).
    pub storage: String,
    /// When it runs.
    pub frequency: BackupFrequency,
}

impl BackupSchedule {
    /// Provider-independent checks.
    pub fn validate(&self) -> Result<()> {
        resource_name("schedule.id", &self.id, 64)?;
        slug("schedule.storage", &self.storage, 64, false)?;
        self.frequency.validate()
    }
}

/// An environment variable to set. The value is a secret.
///
/// ```
/// use stackdock_core::extension::EnvVarSpec;
/// let var = EnvVarSpec::new("DATABASE_URL", "postgres://…", ["production"]);
/// assert!(var.validate().is_ok());
/// assert!(!format!("{var:?}").contains("postgres"));
/// assert!(EnvVarSpec::new("1BAD", "x", ["production"]).validate().is_err());
/// assert!(EnvVarSpec::new("OK", "x", Vec::<String>::new()).validate().is_err());
/// ```
#[derive(Clone)]
pub struct EnvVarSpec {
    /// The name: a letter or `_`, then letters, digits and `_`; at most 256 bytes.
    pub key: String,
    /// The value. Never serialised or printed.
    pub value: SecretString,
    /// The environments it applies to (Vercel: `production`, `preview`,
    /// `development`); at least one.
    pub environments: Vec<String>,
    /// Write-only: the provider never returns the value again.
    pub sensitive: bool,
    /// A note shown next to the variable.
    pub comment: Option<String>,
}

impl fmt::Debug for EnvVarSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVarSpec")
            .field("key", &self.key)
            .field("value", &REDACTED)
            .field("environments", &self.environments)
            .field("sensitive", &self.sensitive)
            .field("comment", &self.comment)
            .finish()
    }
}

/// Largest value accepted (Vercel's limit for one variable is 64 KB).
pub const MAX_ENV_VALUE_BYTES: usize = 65_536;

impl EnvVarSpec {
    /// `key = value` in `environments`, not sensitive, no comment.
    pub fn new(
        key: impl Into<String>,
        value: impl Into<String>,
        environments: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        EnvVarSpec {
            key: key.into(),
            value: SecretString::from(value.into()),
            environments: environments.into_iter().map(Into::into).collect(),
            sensitive: false,
            comment: None,
        }
    }

    /// Make it write-only.
    pub fn sensitive(mut self) -> Self {
        self.sensitive = true;
        self
    }

    /// Provider-independent checks. Errors never quote the value.
    pub fn validate(&self) -> Result<()> {
        env_key("key", &self.key)?;
        let value = self.value.expose_secret();
        if value.len() > MAX_ENV_VALUE_BYTES {
            return Err(Error::invalid_input(
                "value",
                format!("is {} bytes, at most {MAX_ENV_VALUE_BYTES}", value.len()),
            ));
        }
        if value.contains('\0') {
            return Err(Error::invalid_input("value", "must not contain NUL"));
        }
        if self.environments.is_empty() {
            return Err(Error::invalid_input("environments", "name at least one"));
        }
        for environment in &self.environments {
            slug("environments", environment, 64, false)?;
        }
        if let Some(comment) = &self.comment {
            resource_name("comment", comment, 500)?;
        }
        Ok(())
    }
}

/// An environment variable name: a letter or `_`, then letters, digits and
/// `_`, at most 256 bytes (what POSIX shells and every provider accept).
pub fn env_key(field: &str, key: &str) -> Result<()> {
    let mut bytes = key.bytes();
    let first_ok = bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_');
    if !first_ok || key.len() > 256 || !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Error::invalid_input(
            field,
            "must be 1 to 256 bytes of letters, digits and '_', not starting with a digit",
        ));
    }
    Ok(())
}

/// Checks a batch for [`EnvVars::set_env_vars`](super::EnvVars::set_env_vars):
/// every variable valid, no key set twice for one environment.
pub(crate) fn validate_env_batch(vars: &[EnvVarSpec]) -> Result<()> {
    let mut seen = BTreeSet::new();
    for (i, var) in vars.iter().enumerate() {
        var.validate()
            .map_err(|e| e.with_context("index", i.to_string()))?;
        for environment in &var.environments {
            if !seen.insert((var.key.as_str(), environment.as_str())) {
                return Err(Error::invalid_input(
                    "vars",
                    format!("{} is set twice for {environment}", var.key),
                ));
            }
        }
    }
    Ok(())
}

/// An environment variable as the provider stores it.
#[derive(Clone, Serialize, Deserialize)]
pub struct EnvVar {
    /// The provider's id of the variable.
    pub id: String,
    /// Its name.
    pub key: String,
    /// The value, when the provider returns it in clear (never for
    /// sensitive variables). Never serialised or printed.
    #[serde(skip)]
    pub value: Option<SecretString>,
    /// The environments it applies to.
    pub environments: Vec<String>,
    /// Whether it is write-only.
    pub sensitive: bool,
    /// Its note, if any.
    pub comment: Option<String>,
}

impl fmt::Debug for EnvVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvVar")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("value", &self.value.as_ref().map(|_| REDACTED))
            .field("environments", &self.environments)
            .field("sensitive", &self.sensitive)
            .field("comment", &self.comment)
            .finish()
    }
}

/// The password now in force after a rotation.
#[derive(Debug, Clone)]
pub struct RotatedPassword {
    /// The resource whose password changed.
    pub id: ResourceId,
    /// The login name it belongs to (the owner role, the mailbox address).
    pub user: String,
    /// The new password. Never printed.
    pub password: SecretString,
    /// How to connect with it, where the resource is a database.
    pub connection: Option<ConnectionDetails>,
}

/// Longest password accepted by the layer (providers may allow less).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// Provider-independent password checks: not empty, no NUL, no control
/// characters, at most [`MAX_PASSWORD_BYTES`]. Errors never quote it.
///
/// ```
/// use stackdock_core::extension::validate_password;
/// use stackdock_core::secret::SecretString;
/// assert!(validate_password(&SecretString::from("correct horse")).is_ok());
/// assert!(validate_password(&SecretString::from("nul\0")).is_err());
/// ```
pub fn validate_password(password: &SecretString) -> Result<()> {
    let text = password.expose_secret();
    if text.is_empty() {
        return Err(Error::invalid_input("password", "must not be empty"));
    }
    if text.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid_input(
            "password",
            format!("is {} bytes, at most {MAX_PASSWORD_BYTES}", text.len()),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            "password",
            "must not contain control characters (NUL, newline, ...)",
        ));
    }
    Ok(())
}

/// A login user to create on a server. The password is a secret.
///
/// ```
/// use stackdock_core::extension::NewSystemUser;
/// let user = NewSystemUser::new("acme", "Long-Enough-Pass-1");
/// assert!(user.validate().is_ok());
/// assert!(!format!("{user:?}").contains("Long-Enough"));
/// assert!(NewSystemUser::new("Acme;rm", "x").validate().is_err());
/// ```
#[derive(Clone)]
pub struct NewSystemUser {
    /// The Linux user name: a lower-case letter, then lower-case letters,
    /// digits, `-` and `_`; at most 32 bytes.
    pub username: String,
    /// Its password. Never printed.
    pub password: SecretString,
    /// An SSH public key to install, if any.
    pub ssh_public_key: Option<String>,
}

impl fmt::Debug for NewSystemUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewSystemUser")
            .field("username", &self.username)
            .field("password", &REDACTED)
            .field("ssh_public_key", &self.ssh_public_key)
            .finish()
    }
}

impl NewSystemUser {
    /// `username` with `password`, no SSH key.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> Self {
        NewSystemUser {
            username: username.into(),
            password: SecretString::from(password.into()),
            ssh_public_key: None,
        }
    }

    /// Provider-independent checks (the provider adds its own password rules).
    pub fn validate(&self) -> Result<()> {
        system_username("username", &self.username)?;
        validate_password(&self.password)?;
        if let Some(key) = &self.ssh_public_key {
            resource_name("ssh_public_key", key, 16_384)?;
        }
        Ok(())
    }
}

/// A Linux user name as `useradd` accepts it portably: a lower-case letter,
/// then lower-case letters, digits, `-` and `_`, at most 32 bytes.
pub fn system_username(field: &str, name: &str) -> Result<()> {
    slug(field, name, 32, true)
}

/// A login user of a server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemUser {
    /// The provider's id of the user.
    pub id: String,
    /// The Linux user name.
    pub username: String,
    /// Whether it may log in over SSH.
    pub ssh_access: bool,
    /// The provider's raw entry, secrets removed.
    pub provider_data: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_batches_refuse_a_key_twice_per_environment() {
        let a = EnvVarSpec::new("A", "1", ["production", "preview"]);
        let b = EnvVarSpec::new("A", "2", ["development"]);
        assert!(validate_env_batch(&[a.clone(), b]).is_ok());
        let again = EnvVarSpec::new("A", "3", ["preview"]);
        assert!(validate_env_batch(&[a, again]).is_err());
    }

    #[test]
    fn bad_passwords_are_refused_without_echo() {
        for bad in [
            "",
            "a\0b",
            "line\nbreak",
            &"x".repeat(MAX_PASSWORD_BYTES + 1),
        ] {
            let err = validate_password(&SecretString::from(bad.to_owned())).unwrap_err();
            assert!(bad.len() < 3 || !err.to_string().contains(bad), "{err}");
        }
        assert!(validate_password(&SecretString::from("correct horse".to_owned())).is_ok());
    }

    #[test]
    fn env_values_never_print() {
        let spec = EnvVarSpec::new("TOKEN", "s3cr3t-value", ["production"]);
        assert!(!format!("{spec:?}").contains("s3cr3t"));
        let var = EnvVar {
            id: "env_1".into(),
            key: "TOKEN".into(),
            value: Some(SecretString::from("s3cr3t-value".to_owned())),
            environments: vec!["production".into()],
            sensitive: false,
            comment: None,
        };
        assert!(!format!("{var:?}").contains("s3cr3t"));
        assert!(!serde_json::to_string(&var).unwrap().contains("s3cr3t"));
    }
}
