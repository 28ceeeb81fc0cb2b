//! Running the real `stackdock` binary on a throwaway state directory.
#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};

use assert_cmd::Command;

/// A state directory in a temp dir, removed on drop.
pub struct Sd {
    pub dir: tempfile::TempDir,
    /// Set on every command run on this state (e.g. a PostgreSQL store).
    env: Vec<(String, String)>,
}

impl Sd {
    /// A state directory that `init` has not run in yet.
    pub fn new() -> Sd {
        Sd {
            dir: tempfile::tempdir().unwrap(),
            env: Vec::new(),
        }
    }

    /// Every command on this state also gets `name=value` (after the
    /// defaults: `STACKDOCK_STORE` may name another store).
    pub fn with_env(mut self, name: &str, value: impl Into<String>) -> Sd {
        self.env.push((name.to_owned(), value.into()));
        self
    }

    /// A state directory after `init`.
    pub fn init() -> Sd {
        let sd = Sd::new();
        sd.ok(&["init"]);
        sd
    }

    pub fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `stackdock` on this state, with no inherited StackDock settings.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("stackdock").unwrap();
        cmd.env("STACKDOCK_STORE", self.state())
            .env("COLUMNS", "100")
            .env_remove("STACKDOCK_AS")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        cmd
    }

    /// `stackdock args` started in the background with the same environment
    /// as [`Sd::cmd`], stdout and stderr piped (for `worker` and concurrent
    /// commands; `wait_with_output` collects them).
    pub fn spawn(&self, args: &[&str]) -> Child {
        std::process::Command::new(assert_cmd::cargo::cargo_bin("stackdock"))
            .env("STACKDOCK_STORE", self.state())
            .env("COLUMNS", "100")
            .env_remove("STACKDOCK_AS")
            .env_remove("RUST_LOG")
            .env("NO_COLOR", "1")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `dock add files`: a zone-file dock writing into `<temp dir>/zones`.
    pub fn add_zone_dock(&self) {
        let zones = self.dir.path().join("zones");
        self.ok(&[
            "dock",
            "add",
            "files",
            "--provider",
            "zonefile",
            "--set",
            &format!("directory={}", zones.display()),
        ]);
    }

    /// `dock add dns`: a PowerDNS dock at `url` whose API key comes from an
    /// environment variable holding `api_key` (so it is sealed in the
    /// vault), with `more` arguments of `dock add`.
    pub fn add_powerdns_dock(&self, url: &str, api_key: &str, more: &[&str]) {
        self.cmd()
            .env("SD_TEST_PDNS_KEY", api_key)
            .args(["dock", "add", "dns", "--provider", "powerdns"])
            .args(["--set", &format!("url={url}")])
            .args(["--secret", "api_key=env:SD_TEST_PDNS_KEY"])
            .args(more)
            .assert()
            .success();
    }

    /// Run with `args`; return the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run and expect exit 0; stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "stackdock {args:?} failed ({:?}):\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run with `-o json` and expect exit 0; the last line of stdout as JSON.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = vec!["-o", "json"];
        all.extend_from_slice(args);
        let text = self.ok(&all);
        last_json(&text)
    }

    /// Run and expect exit `code`; stderr.
    pub fn fails(&self, code: i32, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "stackdock {args:?}:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }

    /// Write a file in the temp dir; its path.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Every byte of the state directory (store, WAL, configuration), for
    /// "this secret is nowhere" checks.
    pub fn state_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        collect(&self.state(), &mut all);
        all
    }
}

fn collect(dir: &Path, out: &mut Vec<u8>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if let Ok(bytes) = std::fs::read(&path) {
            out.extend(bytes);
        }
    }
}

/// The last non-empty line of `text` as JSON.
pub fn last_json(text: &str) -> serde_json::Value {
    let line = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

/// Whether `needle` occurs in `haystack`.
pub fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}
