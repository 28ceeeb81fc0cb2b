//! [`PowerDns`]: a throwaway `pdns_server` for tests that need the real
//! PowerDNS API — its own temporary directory, an SQLite backend loaded with
//! the packaged schema, free loopback ports, the HTTP API on; killed and
//! removed on drop — and [`query`]/[`ask`], a tiny DNS-over-UDP client to
//! check what it serves. `scripts/services/powerdns.sh` installs what it
//! needs (`pdns_server`, `pdns-backend-sqlite3`, `sqlite3`).
//!
//! [`PowerDns::start`] returns once the API accepts connections *and* the
//! server answers DNS queries, so a test may query it at once.
//!
//! ```no_run
//! use hickory_proto::rr::RecordType;
//! use stackdock_testkit::powerdns::{ask, PowerDns, API_KEY};
//!
//! let pdns = PowerDns::start();
//! println!("API at {} with key {API_KEY}", pdns.api_url());
//! let answer = ask(pdns.dns_port, "example.org.", RecordType::SOA);
//! println!("{:?}: {:?}", answer.rcode, answer.texts());
//! ```

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RData, RecordType};

/// The packaged SQLite schema of the gsqlite3 backend.
pub const SCHEMA: &str = "/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql";

/// The API key every [`PowerDns`] is started with (a test server on
/// loopback: not a secret).
pub const API_KEY: &str = "stackdock-test-key";

/// How many fresh port pairs [`PowerDns::start`] tries: a port found free
/// can be taken by another test before the server binds it.
const START_ATTEMPTS: usize = 5;

/// How long one attempt waits for the server to answer.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// A running `pdns_server`; stopped and its files removed on drop.
#[derive(Debug)]
pub struct PowerDns {
    child: Child,
    dir: tempfile::TempDir,
    /// The port of its HTTP API on 127.0.0.1.
    pub api_port: u16,
    /// The port it answers DNS on (UDP and TCP) on 127.0.0.1.
    pub dns_port: u16,
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
    /// Start one; panics with its log when it does not come up
    /// (5 tries on fresh ports, 15 s each).
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
        for attempt in 1..=START_ATTEMPTS {
            let (dns_port, api_port) = (free_port(), free_port());
            let mut child = spawn(dir.path(), &db, dns_port, api_port);
            if wait_ready(&mut child, api_port, dns_port) {
                return PowerDns {
                    child,
                    dir,
                    api_port,
                    dns_port,
                };
            }
            let _ = child.kill();
            let _ = child.wait();
            eprintln!("pdns_server attempt {attempt} did not come up, retrying on other ports");
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

    /// Its data directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Its SQLite database, for a test that changes the backend behind the
    /// API's back (as another PowerDNS client would).
    pub fn database(&self) -> PathBuf {
        self.dir.path().join("pdns.sqlite3")
    }
}

/// Whether the server came up: its API accepts connections and it answers
/// a DNS query; `false` when it exited or [`START_TIMEOUT`] passed.
fn wait_ready(child: &mut Child, api_port: u16, dns_port: u16) -> bool {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
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

/// One DNS answer: the response code and the answer records' data.
#[derive(Debug)]
pub struct Answer {
    /// The response code (`NoError`, `NXDomain`, `Refused`, ...).
    pub rcode: ResponseCode,
    /// Whether the AA bit is set.
    pub authoritative: bool,
    /// The data of the answer records of the type asked for.
    pub records: Vec<RData>,
}

impl Answer {
    /// Answer data in presentation form, sorted.
    ///
    /// ```
    /// use hickory_proto::op::ResponseCode;
    /// use hickory_proto::rr::rdata::A;
    /// use hickory_proto::rr::RData;
    /// use stackdock_testkit::powerdns::Answer;
    ///
    /// let answer = Answer {
    ///     rcode: ResponseCode::NoError,
    ///     authoritative: true,
    ///     records: vec![RData::A(A::new(192, 0, 2, 2)), RData::A(A::new(192, 0, 2, 1))],
    /// };
    /// assert_eq!(answer.texts(), ["192.0.2.1", "192.0.2.2"]);
    /// ```
    pub fn texts(&self) -> Vec<String> {
        let mut texts: Vec<String> = self.records.iter().map(|r| r.to_string()).collect();
        texts.sort();
        texts
    }

    /// The serial of the first SOA record, if any.
    ///
    /// ```
    /// use hickory_proto::op::ResponseCode;
    /// use stackdock_testkit::powerdns::Answer;
    ///
    /// let empty = Answer { rcode: ResponseCode::NXDomain, authoritative: true, records: vec![] };
    /// assert_eq!(empty.soa_serial(), None);
    /// ```
    pub fn soa_serial(&self) -> Option<u32> {
        self.records.iter().find_map(|r| match r {
            RData::SOA(soa) => Some(soa.serial()),
            _ => None,
        })
    }

    /// The TXT records, each one's strings joined.
    ///
    /// ```
    /// use hickory_proto::op::ResponseCode;
    /// use hickory_proto::rr::rdata::TXT;
    /// use hickory_proto::rr::RData;
    /// use stackdock_testkit::powerdns::Answer;
    ///
    /// let answer = Answer {
    ///     rcode: ResponseCode::NoError,
    ///     authoritative: true,
    ///     records: vec![RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()]))],
    /// };
    /// assert_eq!(answer.txt(), ["v=spf1 -all"]);
    /// ```
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

/// Ask the server at 127.0.0.1:`port` over UDP (no recursion); `None` when
/// no answer comes within 500 ms or `name` is not a domain name.
///
/// ```no_run
/// use hickory_proto::rr::RecordType;
///
/// let pdns = stackdock_testkit::powerdns::PowerDns::start();
/// let answer = stackdock_testkit::powerdns::query(pdns.dns_port, "example.org.", RecordType::A);
/// assert!(answer.is_some());
/// ```
pub fn query(port: u16, name: &str, rtype: RecordType) -> Option<Answer> {
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .ok()?;
    let mut msg = Message::new();
    msg.set_id(query_id())
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

/// A query id that differs between queries (the sub-second clock is enough
/// for one test's sequential queries).
fn query_id() -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    (nanos & 0xffff) as u16
}

/// [`query`] that must answer: up to 5 tries (a loaded 2-core machine may
/// drop or delay a UDP answer), then a panic naming the question.
///
/// ```no_run
/// use hickory_proto::rr::RecordType;
/// use stackdock_testkit::powerdns::{ask, PowerDns};
///
/// let pdns = PowerDns::start();
/// let answer = ask(pdns.dns_port, "nothing-here.invalid.", RecordType::A);
/// assert!(answer.records.is_empty());
/// ```
pub fn ask(port: u16, name: &str, rtype: RecordType) -> Answer {
    for _ in 0..5 {
        if let Some(answer) = query(port, name, rtype) {
            return answer;
        }
    }
    panic!("no DNS answer for {name} {rtype}");
}
