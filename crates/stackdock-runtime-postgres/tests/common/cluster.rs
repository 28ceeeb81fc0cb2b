//! A private, throwaway PostgreSQL server for the tests that provision many
//! databases or restart the server: a temporary data directory, a free
//! loopback port, trust auth, durability off (fsync, synchronous_commit,
//! full_page_writes: nothing here must survive a power cut, and CREATE
//! DATABASE gets ~10x faster). Started with the server binaries of the
//! `postgresql` package (scripts/services/postgres.sh checks they exist);
//! stopped and removed on drop. The shared server is never touched.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

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
    dirs.pop().expect("initdb under /usr/lib/postgresql/*/bin")
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

/// Run a server binary, as `postgres` when we are root (initdb refuses root).
fn run(bin: &Path, args: &[&str]) {
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
    }
    .expect("run a PostgreSQL server binary");
    assert!(status.success(), "{} {args:?} failed", bin.display());
}

/// A running private server.
pub(crate) struct PrivateServer {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl PrivateServer {
    /// initdb + start.
    pub(crate) fn start() -> Self {
        let bin = bindir();
        let dir = tempfile::Builder::new()
            .prefix("stackdock-runtime-pg")
            .tempdir()
            .unwrap();
        let data = dir.path().join("data");
        if is_root() {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(status.success());
        }
        run(
            &bin.join("initdb"),
            &[
                "-D",
                &data.to_string_lossy(),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = PrivateServer {
            bin,
            data,
            port,
            _dir: dir,
        };
        server.pg_ctl(&["start"]);
        server
    }

    fn pg_ctl(&self, action: &[&str]) {
        let options = format!(
            "-h 127.0.0.1 -p {} -k '' -c max_connections=300 -c fsync=off \
             -c synchronous_commit=off -c full_page_writes=off",
            self.port
        );
        let data = self.data.to_string_lossy();
        let log = self.data.join("server.log");
        let log = log.to_string_lossy();
        let mut args = vec!["-D", &data, "-l", &log, "-w", "-o", &options, "-m", "fast"];
        args.extend_from_slice(action);
        run(&self.bin.join("pg_ctl"), &args);
    }

    /// Restart the server (fast shutdown: every session is cut).
    pub(crate) fn restart(&self) {
        self.pg_ctl(&["restart"]);
    }

    /// The superuser URL.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let data = self.data.to_string_lossy().into_owned();
        let _ = std::panic::catch_unwind(|| {
            run(
                &self.bin.join("pg_ctl"),
                &["-D", &data, "-w", "-m", "immediate", "stop"],
            )
        });
    }
}
