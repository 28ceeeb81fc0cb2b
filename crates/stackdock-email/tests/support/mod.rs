//! Throwaway PostgreSQL schemas and a throwaway Dovecot for the real-server tests.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stackdock_email::sql::templates::{render, ConfigFile, TemplateParams};
use stackdock_email::sql::{MailStore, SqlConfig};
use stackdock_email::PasswordScheme;

pub fn pg_url() -> String {
    std::env::var("STACKDOCK_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub async fn raw_client() -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 or STACKDOCK_TEST_PG_URL");
    tokio::spawn(conn);
    client
}

/// A unique schema, dropped on `cleanup()` (and, as a fallback, on drop).
pub struct TestSchema {
    pub name: String,
    cleaned: bool,
}

impl TestSchema {
    pub fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        TestSchema {
            name: format!("sdmail_{}", &id[..12]),
            cleaned: false,
        }
    }

    pub fn config(&self) -> SqlConfig {
        // Low bcrypt cost keeps the suite fast; the scheme is what matters here.
        SqlConfig::new(pg_url())
            .with_schema(&self.name)
            .with_bcrypt_cost(4)
    }

    pub async fn store(&self, scheme: PasswordScheme) -> MailStore {
        let store = MailStore::connect(&self.config().with_password_scheme(scheme))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    pub async fn scoped_store(&self, tenant: &str) -> MailStore {
        let store = MailStore::connect(&self.config().with_tenant(tenant))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        store
    }

    /// Every row of the three tables, as text, for "nothing changed" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        let c = raw_client().await;
        let mut out = Vec::new();
        for table in ["virtual_domains", "virtual_users", "virtual_aliases"] {
            let rows = c
                .query(
                    &format!("SELECT t::text FROM \"{}\".{table} t ORDER BY 1", self.name),
                    &[],
                )
                .await
                .unwrap();
            out.extend(
                rows.iter()
                    .map(|r| format!("{table}: {}", r.get::<_, String>(0))),
            );
        }
        out
    }

    /// Drop the schema and assert nothing is left behind.
    pub async fn cleanup(mut self) {
        let c = raw_client().await;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.name))
            .await
            .unwrap();
        let left: bool = c
            .query_one("SELECT to_regnamespace($1) IS NOT NULL", &[&self.name])
            .await
            .unwrap()
            .get(0);
        assert!(!left, "schema {} left behind", self.name);
        self.cleaned = true;
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if self.cleaned {
            return;
        }
        // A failed test still must not leave its schema behind.
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok((c, conn)) =
                    tokio_postgres::connect(&pg_url(), tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP SCHEMA IF EXISTS \"{name}\" CASCADE"))
                        .await;
                }
            });
        })
        .join();
    }
}

/// The rendered config files for a schema (connection from the test URL).
pub fn rendered(schema: &str, dir: &Path) -> Vec<ConfigFile> {
    let params = TemplateParams::from_url(&pg_url(), schema)
        .unwrap()
        .with_mail_home(format!("{}/mail/%d/%n", dir.display()))
        .with_owner(65534, 65534)
        .with_postfix_dir(dir.display().to_string());
    render(&params).unwrap()
}

/// A real Dovecot (auth only) on loopback, reading the schema through the
/// crate's rendered `dovecot-sql.conf.ext`. Killed on drop.
pub struct Dovecot {
    dir: tempfile::TempDir,
    conf: PathBuf,
    child: Child,
}

impl Dovecot {
    pub fn start(schema: &str) -> Dovecot {
        let dir = tempfile::Builder::new()
            .prefix("sd-dovecot")
            .tempdir_in("/tmp")
            .unwrap();
        // Dovecot's unprivileged auth process must reach the files.
        set_mode(dir.path(), 0o755);
        let files = rendered(schema, dir.path());
        let sql = files
            .iter()
            .find(|f| f.file_name == "dovecot-sql.conf.ext")
            .unwrap();
        let sql_path = dir.path().join("dovecot-sql.conf.ext");
        std::fs::write(&sql_path, sql.contents()).unwrap();
        set_mode(&sql_path, 0o644);
        let d = dir.path().display();
        let name = dir
            .path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let conf = dir.path().join("dovecot.conf");
        std::fs::write(
            &conf,
            format!(
                "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/dovecot.log\n\
                 instance_name = {name}\nprotocols =\nlisten = 127.0.0.1\nssl = no\n\
                 auth_mechanisms = plain\nauth_failure_delay = 0\nauth_cache_size = 0\n\
                 default_internal_user = dovecot\ndefault_login_user = dovenull\n\
                 passdb {{\n  driver = sql\n  args = {sql}\n}}\n\
                 userdb {{\n  driver = sql\n  args = {sql}\n}}\n\
                 service anvil {{\n  unix_listener anvil-auth-penalty {{\n    mode = 0\n  }}\n}}\n",
                sql = sql_path.display()
            ),
        )
        .unwrap();
        for sub in ["run", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
        }
        let child = Command::new("dovecot")
            .arg("-F")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("dovecot is installed (scripts/services/dovecot.sh)");
        let socket = dir.path().join("run/auth-client");
        let deadline = Instant::now() + Duration::from_secs(15);
        while !socket.exists() {
            assert!(
                Instant::now() < deadline,
                "dovecot did not start: {}",
                std::fs::read_to_string(dir.path().join("dovecot.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Dovecot { dir, conf, child }
    }

    /// `doveadm auth test user password`: whether the passdb accepts it.
    pub fn auth(&self, user: &str, password: &str) -> bool {
        let out = Command::new("doveadm")
            .arg("-c")
            .arg(&self.conf)
            .args(["auth", "test", user, password])
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        match out.status.code() {
            Some(0) => {
                assert!(stdout.contains("auth succeeded"), "{stdout}");
                true
            }
            Some(77) => false,
            other => panic!(
                "doveadm auth test failed to run ({other:?}): {stdout} {} / log: {}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
            ),
        }
    }

    /// Async wrapper: runs doveadm on a blocking thread.
    pub async fn auth_async(&self, user: &str, password: &str) -> bool {
        tokio::task::block_in_place(|| self.auth(user, password))
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // (The auth penalty is off above: mode 0 on anvil-auth-penalty, Dovecot's documented switch.)
        // SIGTERM lets the master stop its auth/config/log children.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}
