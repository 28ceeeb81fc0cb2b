//! [`PowerDns`]: a throwaway `pdns_server` for tests that need the real
//! PowerDNS API — its own temporary directory, an SQLite backend loaded with
//! the packaged schema, free loopback ports, the HTTP API on; killed and
//! removed on drop. `scripts/services/powerdns.sh` installs what it needs
//! (`pdns_server`, `pdns-backend-sqlite3`, `sqlite3`).
//!
//! ```no_run
//! let pdns = stackdock_testkit::powerdns::PowerDns::start();
//! println!("API at {} with key {}", pdns.api_url(), stackdock_testkit::powerdns::API_KEY);
//! ```

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The packaged SQLite schema of the gsqlite3 backend.
pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

/// The API key every [`PowerDns`] is started with (a test server on
/// loopback: not a secret).
pub const API_KEY: &str = "stackdock-test-key";

/// A running `pdns_server`; stopped and its files removed on drop.
#[derive(Debug)]
pub struct PowerDns {
    child: Child,
    dir: tempfile::TempDir,
    /// The port of its HTTP API on 127.0.0.1.
    pub api_port: u16,
}

/// A port free for both UDP and TCP on loopback.
fn free_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind a loopback UDP port");
        let port = udp
            .local_addr()
            .expect("a bound socket has an address")
            .port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl PowerDns {
    /// Start one; panics with its log when it does not come up (5 tries on
    /// fresh ports, 15 s each).
    pub fn start() -> PowerDns {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("pdns.sqlite3");
        let schema = std::fs::File::open(SCHEMA)
            .expect("pdns-backend-sqlite3 schema: run scripts/services/powerdns.sh");
        let loaded = Command::new("sqlite3")
            .arg(&db)
            .stdin(schema)
            .status()
            .expect("sqlite3: run scripts/services/powerdns.sh");
        assert!(loaded.success(), "loading the PowerDNS schema failed");
        std::fs::write(dir.path().join("pdns.conf"), "").expect("an empty pdns.conf");
        for _ in 0..5 {
            let (dns_port, api_port) = (free_port(), free_port());
            let mut child = spawn(dir.path(), &db, dns_port, api_port);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(15) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if TcpStream::connect(("127.0.0.1", api_port)).is_ok() {
                    return PowerDns {
                        child,
                        dir,
                        api_port,
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!(
            "pdns_server did not start: {}",
            std::fs::read_to_string(dir.path().join("pdns.log")).unwrap_or_default()
        );
    }

    /// The base URL of its HTTP API.
    pub fn api_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    /// Its log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pdns.log")).unwrap_or_default()
    }
}

fn spawn(dir: &Path, db: &Path, dns_port: u16, api_port: u16) -> Child {
    let log = std::fs::File::create(dir.join("pdns.log")).expect("pdns.log");
    Command::new("pdns_server")
        .args([
            format!("--config-dir={}", dir.display()),
            format!("--socket-dir={}", dir.display()),
            "--launch=gsqlite3".into(),
            format!("--gsqlite3-database={}", db.display()),
            "--local-address=127.0.0.1".into(),
            format!("--local-port={dns_port}"),
            "--api=yes".into(),
            format!("--api-key={API_KEY}"),
            "--webserver=yes".into(),
            "--webserver-address=127.0.0.1".into(),
            format!("--webserver-port={api_port}"),
            "--webserver-allow-from=127.0.0.1".into(),
            "--daemon=no".into(),
            "--guardian=no".into(),
            "--disable-syslog".into(),
            "--setuid=".into(),
            "--setgid=".into(),
            "--cache-ttl=0".into(),
            "--negquery-cache-ttl=0".into(),
            "--query-cache-ttl=0".into(),
            "--zone-cache-refresh-interval=0".into(),
            "--security-poll-suffix=".into(),
        ])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("a second handle on pdns.log"))
        .stderr(log)
        .spawn()
        .expect("pdns_server: run scripts/services/powerdns.sh")
}

impl Drop for PowerDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
