//! A throwaway PowerDNS server (sqlite3 backend, API on), killed on drop,
//! and a tiny DNS-over-UDP client.
#![allow(dead_code, unreachable_pub)]

pub mod faults;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";
pub const API_KEY: &str = "stackdock-test-api-key-7f3a";

/// A pdns_server process with its own temp dir, ports and database.
pub struct PdnsServer {
    child: Child,
    pub dir: tempfile::TempDir,
    pub dns_port: u16,
    pub api_port: u16,
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A port free for both UDP and TCP.
fn free_dns_port() -> u16 {
    loop {
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

impl PdnsServer {
    /// Start a server; panics with its log if it does not come up.
    pub fn start() -> PdnsServer {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("pdns.sqlite3");
        let status = Command::new("sqlite3")
            .arg(&db)
            .stdin(
                std::fs::File::open(SCHEMA)
                    .expect("pdns-backend-sqlite3 schema: run scripts/services/powerdns.sh"),
            )
            .status()
            .expect("sqlite3 is installed: run scripts/services/powerdns.sh");
        assert!(status.success(), "loading the sqlite3 schema failed");
        std::fs::write(dir.path().join("pdns.conf"), "").unwrap();
        let log = std::fs::File::create(dir.path().join("pdns.log")).unwrap();
        for attempt in 0..5 {
            let dns_port = free_dns_port();
            let api_port = free_tcp_port();
            let child = Command::new("pdns_server")
                .args([
                    format!("--config-dir={}", dir.path().display()),
                    format!("--socket-dir={}", dir.path().display()),
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
                    // Answers must follow API changes at once, and nothing leaves loopback.
                    "--cache-ttl=0".into(),
                    "--negquery-cache-ttl=0".into(),
                    "--query-cache-ttl=0".into(),
                    "--zone-cache-refresh-interval=0".into(),
                    "--security-poll-suffix=".into(),
                    // Zones of 50,000 records are ~10 MB of JSON (the default limit is 2 MB).
                    "--webserver-max-bodysize=64".into(),
                    "--loglevel=4".into(),
                ])
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log.try_clone().unwrap())
                .spawn()
                .expect("pdns_server is installed: run scripts/services/powerdns.sh");
            let mut child = child;
            if wait_ready(&mut child, api_port, dns_port, Duration::from_secs(15)) {
                return PdnsServer {
                    child,
                    dir,
                    dns_port,
                    api_port,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("pdns_server attempt {attempt} did not come up, retrying on other ports");
        }
        let text = std::fs::read_to_string(dir.path().join("pdns.log")).unwrap_or_default();
        panic!("pdns_server did not start:\n{text}");
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.api_port)
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pdns.log")).unwrap_or_default()
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }
}

fn wait_ready(child: &mut Child, api_port: u16, dns_port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        let api = TcpStream::connect(("127.0.0.1", api_port)).is_ok();
        if api && query(dns_port, "probe.invalid.", RecordType::SOA).is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

impl Drop for PdnsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One DNS answer: the response code and the answer records' data.
#[derive(Debug)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub records: Vec<RData>,
}

impl Answer {
    /// Answer data in presentation form, sorted.
    pub fn texts(&self) -> Vec<String> {
        let mut v: Vec<String> = self.records.iter().map(|r| r.to_string()).collect();
        v.sort();
        v
    }

    pub fn soa_serial(&self) -> Option<u32> {
        self.records.iter().find_map(|r| match r {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        })
    }

    pub fn txt(&self) -> Vec<String> {
        self.records
            .iter()
            .filter_map(|r| match r {
                RData::TXT(t) => Some(
                    t.txt_data()
                        .iter()
                        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
                        .collect::<String>(),
                ),
                _ => None,
            })
            .collect()
    }
}

/// Ask the server at 127.0.0.1:`port` over UDP; `None` on timeout.
pub fn query(port: u16, name: &str, rtype: RecordType) -> Option<Answer> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut msg = Message::new();
    msg.set_id(rand_id())
        .set_message_type(MessageType::Query)
        .set_op_code(OpCode::Query)
        .set_recursion_desired(false)
        .add_query(Query::query(Name::from_ascii(name).ok()?, rtype));
    let bytes = msg.to_vec().ok()?;
    socket
        .send_to(&bytes, SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .ok()?;
    let mut buf = [0u8; 4096];
    let (n, _) = socket.recv_from(&mut buf).ok()?;
    let response = Message::from_vec(&buf[..n]).ok()?;
    Some(Answer {
        rcode: response.response_code(),
        authoritative: response.authoritative(),
        records: response
            .answers()
            .iter()
            .filter(|r| r.record_type() == rtype)
            .filter_map(|r| r.data().cloned())
            .collect(),
    })
}

fn rand_id() -> u16 {
    (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos()
        & 0xffff) as u16
}

/// `query` that must answer.
pub fn ask(port: u16, name: &str, rtype: RecordType) -> Answer {
    // Retries: a loaded 2-core CI machine may drop or delay a UDP answer.
    for _ in 0..5 {
        if let Some(a) = query(port, name, rtype) {
            return a;
        }
    }
    panic!("no DNS answer for {name} {rtype}");
}
