//! The state directory: the embedded SQLite store, the configuration
//! (`stackdock.toml`: docks, roles, principals — never a secret) and the
//! vault's master key file (`vault.key`, mode 0600, never in the store).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use stackdock_core::factory::DockConfig;
use stackdock_runtime::rbac::{Access, Area, Principal};
use stackdock_runtime::vault::MasterKeys;

use crate::error::{io_error, CliError, CliResult};

/// The configuration file in a state directory.
pub(crate) const CONFIG_FILE: &str = "stackdock.toml";
/// The vault's master key file in a state directory.
pub(crate) const KEY_FILE: &str = "vault.key";
const LOCK_FILE: &str = ".lock";

/// A state directory on disk.
#[derive(Debug, Clone)]
pub(crate) struct Home {
    pub(crate) dir: PathBuf,
}

/// What `stackdock.toml` holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The organisation of this state's local operator.
    pub(crate) org: String,
    /// Roles: permissions per area (an area not given is `none`).
    #[serde(default)]
    pub(crate) roles: BTreeMap<String, BTreeMap<Area, Access>>,
    /// Principals (what `--as` names).
    #[serde(default)]
    pub(crate) principals: BTreeMap<String, PrincipalEntry>,
    /// Docks; credentials are `vault:` references.
    #[serde(default)]
    pub(crate) docks: Vec<DockConfig>,
}

/// One principal of the role table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrincipalEntry {
    pub(crate) org: String,
    pub(crate) role: String,
}

/// The principal `init` creates.
pub(crate) const LOCAL_OPERATOR: &str = "operator";

impl Config {
    /// A fresh configuration: the built-in roles and the local operator.
    pub(crate) fn initial(org: &str) -> Self {
        let all = |access| {
            [Area::Provisioning, Area::Docks, Area::Audit]
                .into_iter()
                .map(|a| (a, access))
                .collect()
        };
        let mut roles = BTreeMap::new();
        roles.insert("operator".to_owned(), all(Access::Full));
        roles.insert("viewer".to_owned(), all(Access::Read));
        roles.insert(
            "auditor".to_owned(),
            [(Area::Audit, Access::Read)].into_iter().collect(),
        );
        let mut principals = BTreeMap::new();
        principals.insert(
            LOCAL_OPERATOR.to_owned(),
            PrincipalEntry {
                org: org.to_owned(),
                role: "operator".to_owned(),
            },
        );
        Config {
            org: org.to_owned(),
            roles,
            principals,
            docks: Vec::new(),
        }
    }

    /// `name` as a runtime principal, or denied (never guessed).
    pub(crate) fn principal(&self, name: &str) -> CliResult<Principal> {
        let entry = self.principals.get(name).ok_or_else(|| {
            CliError::denied(format!("unknown principal {name:?}"))
                .hint("act as a principal of the state's role table (`stackdock principal list`)")
        })?;
        let permissions = self.roles.get(&entry.role).ok_or_else(|| {
            CliError::denied(format!(
                "principal {name:?} has role {:?}, which is not defined",
                entry.role
            ))
        })?;
        let mut principal = Principal::new(name, &entry.org);
        for (area, access) in permissions {
            principal = principal.with(*area, *access);
        }
        Ok(principal)
    }

    /// One dock's configuration.
    pub(crate) fn dock(&self, id: &str) -> CliResult<&DockConfig> {
        self.docks.iter().find(|d| d.id == id).ok_or_else(|| {
            CliError::failed(format!("no dock {id:?} is configured"))
                .hint("see `stackdock dock list`, or add it with `stackdock dock add`")
        })
    }
}

impl Home {
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Home { dir: dir.into() }
    }

    /// The default directory: `$XDG_STATE_HOME/stackdock`, else
    /// `$HOME/.local/state/stackdock`.
    pub(crate) fn default_dir() -> CliResult<PathBuf> {
        if let Some(x) = std::env::var_os("XDG_STATE_HOME").filter(|x| !x.is_empty()) {
            return Ok(PathBuf::from(x).join("stackdock"));
        }
        let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or_else(|| {
            CliError::usage("no state directory: neither --store, STACKDOCK_STORE, XDG_STATE_HOME nor HOME is set")
        })?;
        Ok(PathBuf::from(home).join(".local/state/stackdock"))
    }

    pub(crate) fn config_path(&self) -> PathBuf {
        self.dir.join(CONFIG_FILE)
    }

    pub(crate) fn key_path(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    /// Whether `init` ran here.
    pub(crate) fn exists(&self) -> bool {
        self.config_path().exists()
    }

    fn not_initialised(&self) -> CliError {
        CliError::failed(format!("no StackDock state in {}", self.dir.display())).hint(format!(
            "run `stackdock --store {} init` first, or point --store / STACKDOCK_STORE at an existing state",
            self.dir.display()
        ))
    }

    /// Read the configuration.
    pub(crate) fn load(&self) -> CliResult<Config> {
        let path = self.config_path();
        if !path.exists() {
            return Err(self.not_initialised());
        }
        let text = fs::read_to_string(&path).map_err(|e| io_error("cannot read", &path, &e))?;
        toml::from_str(&text).map_err(|e| {
            CliError::failed(format!("{}: {}", path.display(), e.message()))
                .hint("fix the file by hand or restore it from a backup")
        })
    }

    /// An exclusive lock on the configuration, held until the returned
    /// file is dropped: two `dock add` at once both land. Writes are a
    /// temporary file renamed into place (a crash never leaves half a file).
    pub(crate) fn lock(&self) -> CliResult<File> {
        let lock_path = self.dir.join(LOCK_FILE);
        let lock =
            File::create(&lock_path).map_err(|e| io_error("cannot create", &lock_path, &e))?;
        lock.lock()
            .map_err(|e| io_error("cannot lock", &lock_path, &e))?;
        Ok(lock)
    }

    /// Write the configuration atomically.
    pub(crate) fn write_config(&self, config: &Config) -> CliResult<()> {
        let text = toml::to_string(config)
            .map_err(|e| CliError::failed(format!("cannot serialise the configuration: {e}")))?;
        let body = format!(
            "# StackDock state configuration: docks (credentials are vault references),\n\
             # roles and principals. No secret is ever written here.\n{text}"
        );
        write_atomically(&self.config_path(), body.as_bytes(), 0o644)
    }

    /// Create a key file with a fresh master key; refuses to overwrite one.
    pub(crate) fn create_key_file(&self) -> CliResult<()> {
        let path = self.key_path();
        let key = MasterKeySpec::generate("k1");
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io_error("cannot create the vault key file", &path, &e))?;
        file.write_all(key.line().as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("cannot write", &path, &e))
    }

    /// The master keys.
    pub(crate) fn keys(&self) -> CliResult<MasterKeys> {
        let path = self.key_path();
        let mode = fs::metadata(&path)
            .map_err(|e| io_error("cannot read the vault key file", &path, &e))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(CliError::failed(format!(
                "the vault key file {} is readable by others (mode {:o})",
                path.display(),
                mode & 0o777
            ))
            .hint(format!("chmod 600 {}", path.display())));
        }
        MasterKeys::from_file(&path).map_err(|e| {
            CliError::failed(format!("vault key file: {e}"))
                .hint("restore the state directory's vault.key from a backup")
        })
    }

    /// Replace the key file's contents (rotation), keeping mode 0600.
    pub(crate) fn write_keys(&self, keys: &[MasterKeySpec]) -> CliResult<()> {
        let text: String = keys.iter().map(MasterKeySpec::line).collect();
        write_atomically(&self.key_path(), text.as_bytes(), 0o600)
    }

    /// The key file's entries, current first.
    pub(crate) fn key_specs(&self) -> CliResult<Vec<MasterKeySpec>> {
        let path = self.key_path();
        let text = zeroize::Zeroizing::new(
            fs::read_to_string(&path).map_err(|e| io_error("cannot read", &path, &e))?,
        );
        Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| {
                let (id, key) = l.split_once(':')?;
                Some(MasterKeySpec {
                    id: id.trim().to_owned(),
                    key: zeroize::Zeroizing::new(key.trim().to_owned()),
                })
            })
            .collect())
    }
}

/// One `id:base64` line of the key file. Never printed.
pub(crate) struct MasterKeySpec {
    pub(crate) id: String,
    key: zeroize::Zeroizing<String>,
}

impl MasterKeySpec {
    /// A fresh random 256-bit key.
    pub(crate) fn generate(id: &str) -> Self {
        use base64::Engine as _;
        use rand::RngCore;
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        MasterKeySpec {
            id: id.to_owned(),
            key: zeroize::Zeroizing::new(
                base64::engine::general_purpose::STANDARD.encode(bytes.as_ref()),
            ),
        }
    }

    fn line(&self) -> String {
        format!("{}:{}\n", self.id, self.key.as_str())
    }
}

/// Write `bytes` to a temporary file beside `path` with `mode`, sync it,
/// and rename it over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> CliResult<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error("cannot write", path, &e)
    })
}
