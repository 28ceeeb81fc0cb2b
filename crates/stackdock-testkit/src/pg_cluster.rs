//! [`PgCluster`]: a private, throwaway PostgreSQL server for tests that need
//! what the shared test server cannot give them — restarts, hundreds of
//! databases, SCRAM logins, TLS, their own `pg_hba.conf`. A temporary data
//! directory, a free loopback port, no Unix socket; durability off (`fsync`,
//! `synchronous_commit`, `full_page_writes`: nothing here must survive a
//! power cut, and `CREATE DATABASE` gets ~10x faster). Started with the
//! server binaries of the `postgresql` package (`scripts/services/postgres.sh`
//! checks they exist; as root, they run as the `postgres` user, since
//! `initdb` refuses root); stopped and removed on drop. The machine's own
//! PostgreSQL and its configuration are never touched.
//!
//! ```no_run
//! use stackdock_testkit::pg_cluster::PgCluster;
//!
//! // Trust logins, for tests that restart the server or make many databases.
//! let plain = PgCluster::start();
//! println!("superuser at {}", plain.url());
//! plain.restart(); // every session is cut
//!
//! // Host logins by SCRAM-SHA-256 and TLS with a certificate for 127.0.0.1
//! // signed by a throwaway CA.
//! let secured = PgCluster::builder().password("Throwaway-Admin-Pw-1").tls().start();
//! println!("{} trusting\n{}", secured.url(), secured.ca_pem().unwrap());
//! ```

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// How to start a [`PgCluster`]: [`PgCluster::builder`], then
/// [`start`](PgClusterBuilder::start).
#[derive(Debug, Clone, Default)]
pub struct PgClusterBuilder {
    password: Option<String>,
    tls: bool,
    settings: Vec<(String, String)>,
}

impl PgClusterBuilder {
    /// The superuser's password; with one, logins over TCP need it
    /// (`scram-sha-256` in `pg_hba.conf`, passwords stored as SCRAM).
    /// Without one (the default) every login is trusted.
    ///
    /// ```no_run
    /// let cluster = stackdock_testkit::pg_cluster::PgCluster::builder().password("pw").start();
    /// assert!(cluster.url().ends_with("/postgres"));
    /// ```
    pub fn password(mut self, password: &str) -> Self {
        self.password = Some(password.to_owned());
        self
    }

    /// Serve TLS with a certificate for IP 127.0.0.1 signed by a throwaway CA
    /// ([`PgCluster::ca_pem`]); needs `openssl` on the `PATH`.
    ///
    /// ```no_run
    /// let cluster = stackdock_testkit::pg_cluster::PgCluster::builder().tls().start();
    /// assert!(cluster.ca_pem().unwrap().contains("BEGIN CERTIFICATE"));
    /// ```
    pub fn tls(mut self) -> Self {
        self.tls = true;
        self
    }

    /// One more server setting (`-c name=value`), e.g.
    /// `max_connections` for tests that open many sessions.
    ///
    /// ```no_run
    /// let cluster = stackdock_testkit::pg_cluster::PgCluster::builder()
    ///     .setting("max_connections", "300")
    ///     .start();
    /// # drop(cluster);
    /// ```
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_owned(), value.to_owned()));
        self
    }

    /// `initdb` and start; panics with the server's log when it fails.
    ///
    /// ```no_run
    /// let cluster = stackdock_testkit::pg_cluster::PgCluster::builder().start();
    /// # drop(cluster);
    /// ```
    pub fn start(self) -> PgCluster {
        let bin = bindir();
        let dir = tempfile::Builder::new()
            .prefix("stackdock-pg-cluster")
            .tempdir()
            .expect("a temporary directory");
        let data = dir.path().join("data");
        let mut initdb = vec![
            "-D".to_owned(),
            data.display().to_string(),
            "-U".into(),
            "postgres".into(),
            "-E".into(),
            "UTF8".into(),
            "--no-sync".into(),
        ];
        let mut settings: Vec<(String, String)> =
            ["fsync", "synchronous_commit", "full_page_writes"]
                .into_iter()
                .map(|name| (name.to_owned(), "off".to_owned()))
                .collect();
        match &self.password {
            Some(password) => {
                let pwfile = dir.path().join("pw");
                std::fs::write(&pwfile, password).expect("the password file");
                initdb.extend([
                    "--auth-local=trust".to_owned(),
                    "--auth-host=scram-sha-256".into(),
                    format!("--pwfile={}", pwfile.display()),
                ]);
                settings.push(("password_encryption".into(), "scram-sha-256".into()));
            }
            None => initdb.push("--auth=trust".into()),
        }
        let ca_pem = self.tls.then(|| {
            let ca_pem = make_certificates(dir.path());
            let d = dir.path().display();
            settings.extend([
                ("ssl".to_owned(), "on".to_owned()),
                ("ssl_cert_file".into(), format!("{d}/server.crt")),
                ("ssl_key_file".into(), format!("{d}/server.key")),
            ]);
            ca_pem
        });
        settings.extend(self.settings);
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown the cluster's directory");
            assert!(status.success(), "chown of the cluster's directory failed");
        }
        let initdb: Vec<&str> = initdb.iter().map(String::as_str).collect();
        run(&bin.join("initdb"), &initdb);
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free loopback port")
            .port();
        let mut options = format!("-h 127.0.0.1 -p {port} -k ''");
        for (name, value) in &settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        let cluster = PgCluster {
            bin,
            data,
            port,
            options,
            ca_pem,
            dir,
        };
        cluster.pg_ctl(&["start"]);
        cluster
    }
}

/// A running private PostgreSQL server; stopped (immediate shutdown) and its
/// files removed on drop.
#[derive(Debug)]
pub struct PgCluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    /// The server's command-line options (`pg_ctl -o`).
    options: String,
    ca_pem: Option<String>,
    dir: tempfile::TempDir,
}

impl PgCluster {
    /// A cluster with trust logins and the default settings.
    pub fn start() -> PgCluster {
        PgCluster::builder().start()
    }

    /// Start one with a password, TLS or more settings.
    pub fn builder() -> PgClusterBuilder {
        PgClusterBuilder::default()
    }

    /// Its port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's URL, without a password.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The superuser's URL with `password` (any: a test may want a wrong one).
    pub fn url_with_password(&self, password: &str) -> String {
        format!(
            "postgres://postgres:{password}@127.0.0.1:{}/postgres",
            self.port
        )
    }

    /// The PEM of the CA that signed the server's certificate, when it
    /// serves TLS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Its data directory (`pg_hba.conf`, `postgresql.conf`, ...).
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Restart the server (fast shutdown: every session is cut).
    pub fn restart(&self) {
        self.pg_ctl(&["restart"]);
    }

    /// Reload its configuration (`pg_hba.conf` after a test rewrote it).
    /// Asynchronous: the server applies it a moment later.
    pub fn reload(&self) {
        let data = self.data.display().to_string();
        run(&self.bin.join("pg_ctl"), &["-D", &data, "reload"]);
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    fn pg_ctl(&self, action: &[&str]) {
        let data = self.data.display().to_string();
        let log = self.log_path().display().to_string();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-o", &self.options];
        args.extend(["-m", "fast"]);
        args.extend_from_slice(action);
        if !run_status(&self.bin.join("pg_ctl"), &args) {
            panic!("pg_ctl {action:?} failed; server log:\n{}", self.log());
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data.display().to_string();
        // Nothing to keep: no checkpoint, no waiting for sessions.
        run_status(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-w", "-m", "immediate", "stop"],
        );
    }
}

/// The newest PostgreSQL server binaries on this machine.
fn bindir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (package postgresql; scripts/test.sh installs it)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .expect("initdb under /usr/lib/postgresql/*/bin (package postgresql)")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// Run a server binary and panic when it fails.
fn run(bin: &Path, args: &[&str]) {
    assert!(run_status(bin, args), "{} {args:?} failed", bin.display());
}

/// Run a server binary, as `postgres` when we are root; whether it succeeded.
fn run_status(bin: &Path, args: &[&str]) -> bool {
    let status = if is_root() {
        let mut line = shell_quote(&bin.to_string_lossy());
        for a in args {
            line.push(' ');
            line.push_str(&shell_quote(a));
        }
        Command::new("su")
            .args(["postgres", "-s", "/bin/sh", "-c", &line])
            .stdout(Stdio::null())
            .status()
    } else {
        Command::new(bin).args(args).stdout(Stdio::null()).status()
    };
    status.is_ok_and(|s| s.success())
}

fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("openssl runs (apt-get install openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A throwaway CA and a server certificate for 127.0.0.1 signed by it, in
/// `dir` (`server.crt`, `server.key`); the CA's PEM.
fn make_certificates(dir: &Path) -> String {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=stackdock test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    // PostgreSQL refuses a key file others can read.
    std::fs::set_permissions(
        dir.join("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod 600 server.key");
    std::fs::read_to_string(dir.join("ca.crt")).expect("ca.crt")
}
