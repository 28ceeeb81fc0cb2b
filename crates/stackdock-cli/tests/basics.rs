//! The command without provider servers: state, docks, principals, exit
//! codes, denials, secrets, help and completions.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{contains, Sd};

#[test]
fn init_makes_a_private_state_and_is_idempotent() {
    let sd = Sd::new();
    let out = sd.json(&["init"]);
    assert_eq!(out["created"], true);
    let mode = |p: &str| {
        std::fs::metadata(sd.state().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("vault.key"), 0o600);
    assert_eq!(mode("."), 0o700);
    let key_before = std::fs::read(sd.state().join("vault.key")).unwrap();
    assert_eq!(sd.json(&["init"])["created"], false);
    assert_eq!(
        std::fs::read(sd.state().join("vault.key")).unwrap(),
        key_before
    );
    let principals = sd.json(&["principal", "list"]);
    assert_eq!(principals["principals"]["operator"]["role"], "operator");
}

#[test]
fn commands_before_init_say_what_to_do() {
    let sd = Sd::new();
    let err = sd.fails(1, &["dock", "list"]);
    assert!(err.contains("no StackDock state in"), "{err}");
    assert!(err.contains("init"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
}

#[test]
fn usage_errors_exit_2() {
    let sd = Sd::init();
    sd.fails(2, &["dock", "add"]);
    sd.fails(2, &["apply"]);
    sd.fails(2, &["reconcile"]);
    sd.fails(2, &["--output", "yaml", "runs"]);
    let err = sd.fails(
        2,
        &[
            "dock",
            "add",
            "x",
            "--provider",
            "postgres",
            "--set",
            "password=hunter2",
        ],
    );
    assert!(!err.contains("hunter2"), "{err}");
    assert!(err.contains("--secret password=env:VAR"), "{err}");
}

#[test]
fn dock_secrets_go_only_into_the_vault() {
    let sd = Sd::init();
    let secret = "sentinel-Pdns-Key-91f2c7";
    sd.add_powerdns_dock(
        "http://127.0.0.1:9",
        secret,
        &["--set", "adapter.owner=stackdock"],
    );
    let token_file = sd.file("token", &format!("{secret}-file\n"));
    let token = format!("token=file:{}", token_file.display());
    let add_vercel = [
        "dock",
        "add",
        "vc",
        "--provider",
        "vercel",
        "--secret",
        &token,
    ];
    sd.ok(&add_vercel);
    let docks = sd.json(&["dock", "list"]);
    let dns = &docks["docks"][0];
    assert_eq!(dns["id"], "dns");
    assert_eq!(dns["credentials"]["api_key"], "vault:api_key");
    assert_eq!(dns["settings"]["adapter"]["owner"], "stackdock");
    let bytes = sd.state_bytes();
    assert!(
        !contains(&bytes, secret),
        "a dock secret is in the state in clear"
    );
    // An unset variable is refused before anything is written.
    let err = sd.fails(
        2,
        &[
            "dock",
            "add",
            "pg",
            "--provider",
            "postgres",
            "--secret",
            "password=env:SD_UNSET_VAR_X",
        ],
    );
    assert!(err.contains("SD_UNSET_VAR_X is not set"), "{err}");
    assert_eq!(
        sd.json(&["dock", "list"])["docks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Adding it again needs --replace.
    let err = sd.fails(1, &add_vercel);
    assert!(err.contains("--replace"), "{err}");
    assert_eq!(sealed_docks(&sd), ["dns", "vc"]);
    sd.ok(&["dock", "remove", "vc"]);
    assert_eq!(
        sd.json(&["dock", "list"])["docks"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Its ciphertexts went with it (audited); the other dock's stayed.
    assert_eq!(sealed_docks(&sd), ["dns"]);
    let audit = sd.json(&["audit"]);
    let deleted: Vec<&serde_json::Value> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "vault_delete")
        .collect();
    assert_eq!(deleted.len(), 1, "{audit}");
    assert_eq!(deleted[0]["dock"], "vc");
    assert_eq!(deleted[0]["actor"], "operator");
}

/// The docks the state's vault holds ciphertexts of.
fn sealed_docks(sd: &Sd) -> Vec<String> {
    use stackdock_runtime::store::{SqliteStore, Store};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = SqliteStore::open(sd.state()).await.unwrap();
        let mut docks: Vec<String> = store
            .list_secrets()
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.dock)
            .collect();
        docks.dedup();
        docks
    })
}

#[test]
fn dock_check_opens_the_sealed_credentials_and_reports_a_dead_endpoint() {
    let sd = Sd::init();
    sd.add_zone_dock();
    let out = sd.json(&["dock", "check", "files"]);
    assert_eq!(out["credentials"], "ok");
    sd.add_powerdns_dock("http://127.0.0.1:9", "some-key", &[]);
    let err = sd.fails(1, &["dock", "check", "dns"]);
    assert!(err.contains("dns"), "{err}");
    assert!(!err.contains("some-key"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line without -v: {err}");
    // -v adds the cause chain, still without the secret.
    let verbose = sd.fails(1, &["-v", "dock", "check", "dns"]);
    assert!(verbose.contains("caused by: "), "{verbose}");
    assert!(!verbose.contains("some-key"), "{verbose}");
    // The decryption is audited.
    let audit = sd.json(&["audit", "--actor", "operator"]);
    let decrypts: Vec<_> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "decrypt")
        .collect();
    assert!(!decrypts.is_empty(), "{audit}");
}

#[test]
fn a_read_only_principal_is_denied_with_exit_4_and_audited() {
    let sd = Sd::init();
    sd.ok(&["principal", "add", "val", "--role", "viewer"]);
    sd.ok(&["--as", "val", "dock", "list"]);
    sd.add_zone_dock();
    let bp = sd.file("t.toml", "scope = \"t\"\n[steps.zone]\ndock = \"files\"\nspec = { kind = \"dns_zone\", name = \"t.example\" }\n");
    let bp = bp.display().to_string();
    // Read access plans; it does not apply.
    sd.ok(&["--as", "val", "plan", "-f", &bp]);
    sd.fails(4, &["--as", "val", "apply", "-f", &bp]);
    let err = sd.fails(
        4,
        &[
            "--as",
            "val",
            "dock",
            "add",
            "x",
            "--provider",
            "zonefile",
            "--set",
            "directory=/tmp/x",
        ],
    );
    assert!(err.contains("permission denied"), "{err}");
    sd.fails(4, &["--as", "val", "vault", "rotate"]);
    sd.fails(4, &["--as", "mallory", "dock", "list"]);
    let audit = sd.json(&["audit", "--since", "1h"]);
    let denied: Vec<(String, String)> = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["outcome"] == "denied")
        .map(|e| {
            (
                e["actor"].as_str().unwrap().to_owned(),
                e["operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        denied,
        vec![
            ("val".to_owned(), "apply".to_owned()),
            ("val".to_owned(), "dock_add".to_owned()),
            ("val".to_owned(), "vault_rotate".to_owned()),
            ("mallory".to_owned(), "authenticate".to_owned()),
        ]
    );
}

#[test]
fn vault_rotate_reseals_and_retires_the_old_key() {
    let sd = Sd::init();
    sd.add_powerdns_dock("http://127.0.0.1:9", "rotate-me", &[]);
    let before = std::fs::read_to_string(sd.state().join("vault.key")).unwrap();
    let out = sd.json(&["vault", "rotate"]);
    assert_eq!(out["key_id"], "k2");
    assert_eq!(out["resealed"], 1);
    let after = std::fs::read_to_string(sd.state().join("vault.key")).unwrap();
    assert!(
        after.starts_with("k2:") && after.lines().count() == 1,
        "old key kept"
    );
    assert_ne!(before, after);
    let mode = std::fs::metadata(sd.state().join("vault.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    // The dock still builds: its credential opens with the new key.
    let err = sd.fails(1, &["dock", "check", "dns"]);
    assert!(!err.contains("vault"), "{err}");
}

#[test]
fn a_key_file_readable_by_others_is_refused() {
    let sd = Sd::init();
    let key = sd.state().join("vault.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = sd.fails(1, &["dock", "list"]);
    assert!(err.contains("chmod 600"), "{err}");
}

#[test]
fn completions_for_every_shell() {
    let sd = Sd::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = sd.ok(&["completions", shell]);
        assert!(out.contains("stackdock"), "{shell}");
        assert!(out.contains("reconcile"), "{shell}");
    }
}

#[test]
fn help_snapshots() {
    let sd = Sd::new();
    insta::assert_snapshot!("help", sd.ok(&["--help"]));
    insta::assert_snapshot!("apply_help", sd.ok(&["apply", "--help"]));
    insta::assert_snapshot!("dock_add_help", sd.ok(&["dock", "add", "--help"]));
    insta::assert_snapshot!("deploy_help", sd.ok(&["deploy", "--help"]));
}

#[test]
fn the_example_blueprints_parse_and_name_their_docks() {
    let sd = Sd::init();
    for (example, dock) in [
        ("hosting-tenant.toml", "pg"),
        ("agency-site.toml", "vercel"),
    ] {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/").to_owned() + example;
        // Valid (parsed, references and needs resolved, specs checked) up to
        // the docks, which this state does not have.
        let err = sd.fails(2, &["plan", "-f", &path]);
        assert!(
            err.contains("not configured") && err.contains(dock),
            "{example}: {err}"
        );
    }
    let broken = sd.file("broken.toml", "scope = \"x\"\n[steps.a]\ndock = \"d\"\nspec = { kind = \"dns_record\", zone = \"${b.name}\" }\n");
    let err = sd.fails(2, &["apply", "-f", &broken.display().to_string()]);
    assert!(err.contains("broken.toml"), "{err}");
}

#[test]
fn a_replaced_dock_keeps_only_the_credentials_it_is_given_now() {
    let sd = Sd::init();
    sd.add_powerdns_dock("http://127.0.0.1:9", "old-key-1", &[]);
    // The same key again is resealed: still one ciphertext.
    sd.add_powerdns_dock("http://127.0.0.1:9", "new-key-2", &["--replace"]);
    assert_eq!(sealed_docks(&sd), ["dns"]);
    // The dock switched to a provider without that credential: the old API
    // key is deleted (audited), not kept in the vault.
    let zones = sd.dir.path().join("zones");
    sd.ok(&[
        "dock",
        "add",
        "dns",
        "--provider",
        "zonefile",
        "--replace",
        "--set",
        &format!("directory={}", zones.display()),
    ]);
    assert!(sealed_docks(&sd).is_empty(), "{:?}", sealed_docks(&sd));
    let audit = sd.json(&["audit"]);
    let deleted = audit["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "vault_delete" && e["dock"] == "dns")
        .count();
    assert_eq!(deleted, 1, "{audit}");
}

#[test]
fn a_dock_holding_a_tenants_resource_is_not_removed_until_the_tenant_is_destroyed() {
    let sd = Sd::init();
    sd.add_zone_dock();
    let bp = sd.file(
        "t.toml",
        "scope = \"t\"\n[steps.zone]\ndock = \"files\"\nspec = { kind = \"dns_zone\", name = \"t.example\" }\n",
    );
    let bp = bp.display().to_string();
    sd.ok(&["apply", "-f", &bp]);
    let err = sd.fails(1, &["dock", "remove", "files"]);
    assert!(
        err.contains("dock files still holds step zone of tenant t"),
        "{err}"
    );
    assert!(err.contains("stackdock destroy t"), "{err}");
    assert_eq!(sd.json(&["dock", "list"])["docks"][0]["id"], "files");
    sd.ok(&["destroy", "t", "--yes"]);
    sd.ok(&["dock", "remove", "files"]);
    assert!(sd.json(&["dock", "list"])["docks"]
        .as_array()
        .unwrap()
        .is_empty());
}
