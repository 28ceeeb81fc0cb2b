//! Every hash the crate makes is accepted by the real Dovecot (`doveadm pw -t`).

use std::process::Command;

use stackdock_core::secret::SecretString;
use stackdock_email::hash::{PasswordHasher, PasswordScheme};

fn doveadm_verify(stored: &str, password: &str) -> bool {
    let out = Command::new("doveadm")
        .args(["pw", "-t", stored, "-p", password])
        .output()
        .expect("doveadm is installed (scripts/services/dovecot.sh)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    out.status.success() && stdout.contains("(verified)")
}

#[test]
fn dovecot_verifies_every_scheme() {
    let listed = Command::new("doveadm")
        .args(["pw", "-l"])
        .output()
        .expect("doveadm");
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
        let out = Command::new("doveadm")
            .args(["pw", "-s", scheme.dovecot_name(), "-p", "from-dovecot"])
            .output()
            .expect("doveadm");
        assert!(out.status.success());
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
