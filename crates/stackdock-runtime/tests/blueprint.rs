//! Blueprints: TOML / JSON, the builder, dependency order, typed errors.

use stackdock_core::spec::DatabaseSpec;
use stackdock_runtime::blueprint::{Blueprint, BlueprintError, SecretRef};

const TENANT: &str = r#"
scope = "acme"
org = "agency"

[steps.db]
dock = "pg"
spec = { kind = "database", name = "acme_app", connection_limit = 20 }
secrets = { password = "generate" }

[steps.zone]
dock = "dns"
spec = { kind = "dns_zone", name = "acme.example" }

[steps.db_txt]
dock = "dns"
spec = { kind = "dns_record", zone = "${zone.name}", name = "_db", data = { type = "TXT", text = "host=${db.host}" } }

[steps.mailbox]
dock = "mail"
needs = ["zone"]
spec = { kind = "mailbox", address = "info@acme.example", enabled = true }
secrets = { password = "vault:mailbox-info" }
"#;

#[test]
fn toml_and_json_describe_the_same_blueprint() {
    let bp = Blueprint::from_toml(TENANT).unwrap();
    assert_eq!(bp.org(), "agency");
    assert_eq!(bp.steps["db"].secrets["password"], SecretRef::Generate);
    assert_eq!(
        bp.steps["mailbox"].secrets["password"],
        SecretRef::Vault("mailbox-info".into())
    );
    assert_eq!(Blueprint::from_json(&bp.to_json()).unwrap(), bp);
    assert_eq!(Blueprint::from_toml(&bp.to_toml().unwrap()).unwrap(), bp);
    assert!(!bp.to_json().contains("hunter2"));
}

#[test]
fn dependencies_are_needs_plus_references_in_topological_order() {
    let bp = Blueprint::from_toml(TENANT).unwrap();
    let deps: Vec<_> = bp.dependencies("db_txt").unwrap().into_iter().collect();
    assert_eq!(deps, vec!["db", "zone"]);
    assert_eq!(
        bp.dependencies("mailbox")
            .unwrap()
            .into_iter()
            .collect::<Vec<_>>(),
        vec!["zone"]
    );
    let order = bp.order().unwrap();
    let pos = |s: &str| order.iter().position(|o| o == s).unwrap();
    assert!(
        pos("db") < pos("db_txt") && pos("zone") < pos("db_txt") && pos("zone") < pos("mailbox")
    );
}

#[test]
fn a_cycle_is_a_typed_error_naming_its_steps() {
    let err = Blueprint::builder("acme")
        .step_json(
            "a",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "${b.name}.example"}),
        )
        .step_json(
            "b",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "${c.name}"}),
        )
        .step_json(
            "c",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "c.example"}),
        )
        .needs("a")
        .step_json(
            "free",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "free.example"}),
        )
        .build()
        .unwrap_err();
    assert_eq!(
        err,
        BlueprintError::Cycle {
            steps: vec!["a".into(), "b".into(), "c".into()]
        }
    );
    let self_ref = Blueprint::builder("acme")
        .step_json(
            "a",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "${a.name}"}),
        )
        .build()
        .unwrap_err();
    assert!(matches!(self_ref, BlueprintError::Cycle { .. }));
}

#[test]
fn bad_blueprints_are_refused_before_any_run() {
    let zone = serde_json::json!({"kind": "dns_zone", "name": "a.example"});
    let build = |b: stackdock_runtime::blueprint::BlueprintBuilder| b.build().unwrap_err();
    assert!(matches!(
        build(
            Blueprint::builder("acme")
                .step_json("a", "d", zone.clone())
                .needs("nope")
        ),
        BlueprintError::UnknownStep { .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("acme").step_json(
            "a",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "${nope.name}"})
        )),
        BlueprintError::BadReference { .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("acme").step_json(
            "a",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "${unclosed"})
        )),
        BlueprintError::BadReference { .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("acme").step_json(
            "a",
            "d",
            serde_json::json!({"kind": "database", "name": "x", "password": "hunter2"})
        )),
        BlueprintError::LiteralSecret { .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("acme").step_json(
            "a",
            "d",
            serde_json::json!({"kind": "dns_zone", "name": "not a zone"})
        )),
        BlueprintError::InvalidSpec { .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("ac me").step_json("a", "d", zone.clone())),
        BlueprintError::InvalidName { what: "scope", .. }
    ));
    assert!(matches!(
        build(Blueprint::builder("acme").step_json("a.b", "d", zone)),
        BlueprintError::InvalidName { what: "step", .. }
    ));
    let literal = TENANT.replace(
        "secrets = { password = \"generate\" }",
        "secrets = { password = \"hunter2\" }",
    );
    let err = Blueprint::from_toml(&literal).unwrap_err();
    assert!(matches!(err, BlueprintError::Parse(_)));
    assert!(!err.to_string().contains("hunter2"), "{err}");
    assert!(matches!(
        Blueprint::from_json("{\"scope\": \"a\", \"stpes\": {}}"),
        Err(BlueprintError::Parse(_))
    ));
}

#[test]
fn the_typed_builder_never_carries_a_secret() {
    use stackdock_core::secret::SecretString;
    let bp = Blueprint::builder("acme")
        .step(
            "db",
            "pg",
            DatabaseSpec {
                name: "shop".into(),
                password: Some(SecretString::from("hunter2")),
                ..Default::default()
            },
        )
        .secret("password", SecretRef::Env("SHOP_DB_PASSWORD".into()))
        .build()
        .unwrap();
    assert!(!bp.to_json().contains("hunter2"));
    assert!(bp.to_json().contains("env:SHOP_DB_PASSWORD"));
    assert_eq!(
        "vault:k".parse::<SecretRef>(),
        Ok(SecretRef::Vault("k".into()))
    );
    assert!("file:/etc/x".parse::<SecretRef>().is_err());
    assert!("vault:".parse::<SecretRef>().is_err());
}
