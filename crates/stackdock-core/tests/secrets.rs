//! Secrets never print: Debug, Display, errors and serialisation.

use stackdock_core::resource::ConnectionDetails;
use stackdock_core::secret::{ExposeSecret, SecretString};
use stackdock_core::spec::{DatabaseSpec, MailboxSpec, ResourceSpec};
use stackdock_core::{provisioning::sanitize_message, Error};

const PW: &str = "pa$$w0rd-very-secret";

#[test]
fn connection_details_redact_everywhere() {
    let c = ConnectionDetails::new("postgres", "db.internal", 5432, "app", "app")
        .with_password(Some(SecretString::from(PW)));
    for out in [
        format!("{c:?}"),
        format!("{c:#?}"),
        format!("{c}"),
        c.redacted_url(),
        serde_json::to_string(&c).unwrap(),
    ] {
        assert!(!out.contains(PW), "leaked in {out}");
        assert!(!out.contains("very-secret"), "leaked in {out}");
    }
    assert_eq!(
        c.redacted_url(),
        "postgres://app:[REDACTED]@db.internal:5432/app"
    );
    // The real URL is there for whoever explicitly asks for it, percent-encoded.
    assert_eq!(
        c.url().expose_secret(),
        "postgres://app:pa%24%24w0rd-very-secret@db.internal:5432/app"
    );
}

#[test]
fn specs_with_passwords_do_not_print_them() {
    let specs: [ResourceSpec; 2] = [
        DatabaseSpec {
            name: "app".into(),
            password: Some(SecretString::from(PW)),
            ..Default::default()
        }
        .into(),
        MailboxSpec {
            address: "a@example.com".into(),
            password: Some(SecretString::from(PW)),
            ..Default::default()
        }
        .into(),
    ];
    for spec in specs {
        for out in [
            format!("{spec:?}"),
            format!("{spec:#?}"),
            serde_json::to_string(&spec).unwrap(),
        ] {
            assert!(!out.contains(PW), "leaked in {out}");
        }
    }
}

#[test]
fn sanitised_failure_messages_hold_no_secret() {
    let err = Error::provider(
        Some(400),
        None,
        format!("login failed for postgres://u:{PW}@h/db"),
    );
    let msg = sanitize_message(&err.to_string());
    assert!(!msg.contains(PW));
    let msg = sanitize_message(&format!("Authorization: Bearer {PW}"));
    assert!(!msg.contains(PW), "{msg}");
    let msg = sanitize_message(&format!("password={PW}"));
    assert!(!msg.contains(PW), "{msg}");
}
