//! Every hash the crate makes is accepted by the real Dovecot (`doveadm pw -t`).

use std::process::Command;

use stackdock_core::secret::SecretString;
use stackdock_email::hash::{PasswordHasher, PasswordScheme};

/// `doveadm` on a private, empty configuration: `doveadm pw` reads
/// `dovecot.conf` first, and the tests must not depend on the machine's.
fn doveadm() -> Command {
    static CONFIG: std::sync::OnceLock<tempfile::NamedTempFile> = std::sync::OnceLock::new();
    let config = CONFIG.get_or_init(|| tempfile::NamedTempFile::new().expect("temp file"));
    let mut command = Command::new("doveadm");
    command.arg("-c").arg(config.path());
    command
}

fn doveadm_verify(stored: &str, password: &str) -> bool {
    let out = doveadm()
        .args(["pw", "-t", stored, "-p", password])
        .output()
        .expect("doveadm is installed (scripts/services/dovecot.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A mismatch is doveadm's own verdict; anything else is the tool failing,
    // which must not read as "not verified".
    match out.status.code() {
        Some(0) if stdout.contains("(verified)") => true,
        _ if stderr.contains("Password mismatch") => false,
        other => panic!("doveadm pw -t failed to run ({other:?}): {stdout} {stderr}"),
    }
}

#[test]
fn dovecot_verifies_every_scheme() {
    let listed = doveadm().args(["pw", "-l"]).output().expect("doveadm");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let password = "Tr0ub4dor & 3 'quoted'";
    for scheme in PasswordScheme::ALL {
        assert!(
            listed
                .split_whitespace()
                .any(|s| s == scheme.dovecot_name()),
            "this Dovecot build lacks {scheme}: {listed}"
        );
        let hash = PasswordHasher::new(scheme)
            .hash(&SecretString::from(password))
            .unwrap();
        assert!(
            doveadm_verify(&hash.dovecot(), password),
            "{scheme} not verified by doveadm"
        );
        assert!(
            !doveadm_verify(&hash.dovecot(), "wrong password"),
            "{scheme} verified a wrong password"
        );
    }
}

#[test]
fn hashes_made_by_dovecot_verify_here() {
    for scheme in PasswordScheme::ALL {
        let out = doveadm()
            .args(["pw", "-s", scheme.dovecot_name(), "-p", "from-dovecot"])
            .output()
            .expect("doveadm");
        assert!(
            out.status.success(),
            "doveadm pw -s failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stored = String::from_utf8(out.stdout).unwrap();
        let hash = stackdock_email::PasswordHash::parse_dovecot(stored.trim()).unwrap();
        assert!(
            hash.verify(&SecretString::from("from-dovecot")).unwrap(),
            "{scheme}"
        );
        assert!(
            !hash.verify(&SecretString::from("nope")).unwrap(),
            "{scheme}"
        );
    }
}
