//! What a person sees: progress bars in a terminal (a real pty), plain
//! lines in a pipe, and the status table — on a zone-file dock, no server.

mod common;

use common::Sd;

const BLUEPRINT: &str = r#"
scope = "acme"
[steps.zone]
dock = "files"
spec = { kind = "dns_zone", name = "acme.example" }
[steps.shop]
dock = "files"
spec = { kind = "dns_record", zone = "${zone.name}", name = "shop", ttl = 300, data = { type = "A", address = "192.0.2.10" } }
[steps.txt]
dock = "files"
needs = ["shop"]
spec = { kind = "dns_record", zone = "${zone.name}", name = "_info", ttl = 300, data = { type = "TXT", text = "zone ${zone.name}" } }
"#;

fn with_zone_dock() -> (Sd, String) {
    let sd = Sd::init();
    sd.add_zone_dock();
    let file = sd.file("acme.toml", BLUEPRINT).display().to_string();
    (sd, file)
}

/// `YYYY-MM-DD HH:MM:SS` → `[time]`, and the short run id after `run ` → `[run]`.
fn redact(text: &str) -> String {
    let shape = "dddd-dd-dd dd:dd:dd";
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let fits = i + shape.len() <= chars.len()
            && shape.chars().zip(&chars[i..]).all(|(s, c)| {
                if s == 'd' {
                    c.is_ascii_digit()
                } else {
                    s == *c
                }
            });
        if fits {
            out.push_str("[time]");
            i += shape.len();
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out.split(' ')
        .scan(false, |after_run, word| {
            let hex = word.chars().take_while(|c| c.is_ascii_hexdigit()).count();
            let w = if *after_run && hex == 8 {
                format!("[run]{}", &word[8..])
            } else {
                word.to_owned()
            };
            *after_run = word.ends_with("run");
            Some(w)
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn piped_progress_is_plain_lines_and_the_status_table_reads_the_store() {
    let (sd, file) = with_zone_dock();
    insta::assert_snapshot!("plan_before", sd.ok(&["plan", "-f", &file]));
    let out = sd.ok(&["apply", "-f", &file]);
    assert!(!out.contains('\x1b'), "no escape codes in a pipe: {out:?}");
    insta::assert_snapshot!("apply_lines", redact(&out));
    insta::assert_snapshot!("status_table", redact(&sd.ok(&["status", "acme"])));
    insta::assert_snapshot!("plan_after", sd.ok(&["plan", "-f", &file]));
    // Unchanged: nothing to do, and the summary says so.
    let again = sd.ok(&["-q", "apply", "-f", &file]);
    assert_eq!(
        redact(&again).trim(),
        "apply acme: succeeded (run [run]): 3 unchanged"
    );
    insta::assert_snapshot!("runs_after", {
        let runs = sd.json(&["runs", "--scope", "acme"]);
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{} {} {}", r["operation"], r["status"], r["actor"]))
            .collect::<Vec<_>>()
            .join("\n")
    });
}

#[test]
fn a_terminal_gets_progress_bars() {
    let (sd, file) = with_zone_dock();
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("stackdock"));
    cmd.env("STACKDOCK_STORE", sd.state())
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color")
        .args(["apply", "-f", &file]);
    let mut session = expectrl::Session::spawn(cmd).expect("a pty");
    let captured = session.expect(expectrl::Eof).expect("the command ends");
    let screen = String::from_utf8_lossy(captured.get(0).unwrap_or_default()).to_string();
    // Bars redraw in place (escape codes), finish with each step's outcome,
    // and never print the transition lines a pipe gets.
    assert!(
        screen.contains("\u{1b}["),
        "no terminal drawing: {screen:?}"
    );
    for step in ["zone", "shop", "txt"] {
        assert!(screen.contains(step), "{step} missing: {screen:?}");
    }
    assert!(screen.contains("created"), "{screen:?}");
    assert!(
        !screen.contains(" -> "),
        "plain transition lines on a terminal: {screen:?}"
    );
    assert!(screen.contains("apply acme:"), "{screen:?}");
}

#[test]
fn sync_fills_the_inventory_and_reconcile_all_and_run_show_read_back() {
    let (sd, file) = with_zone_dock();
    sd.ok(&["apply", "-f", &file]);
    let synced = sd.json(&["sync"]);
    let report = &synced["syncs"][0];
    assert_eq!(report["run"]["status"], "succeeded", "{synced}");
    let inventory = sd.json(&["inventory", "--dock", "files", "--kind", "dns_zone"]);
    let names: Vec<&str> = inventory["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["acme.example"]);
    let records = sd.json(&["inventory", "--kind", "dns_record"]);
    assert!(
        records["inventory"].as_array().unwrap().len() >= 2,
        "{records}"
    );
    sd.fails(2, &["inventory", "--kind", "planet"]);

    // Every tenant with state: one, up to date.
    let out = sd.ok(&["reconcile", "--all"]);
    assert!(out.contains("acme") && out.contains("succeeded"), "{out}");
    let runs = sd.json(&["runs"]);
    let ops: Vec<String> = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| format!("{} {}", r["scope"], r["operation"]))
        .collect();
    assert_eq!(
        ops,
        vec![
            "\"acme\" \"reconcile\"",
            "\"dock:files\" \"sync\"",
            "\"acme\" \"apply\""
        ]
    );
    let apply_id = runs["runs"][2]["id"].as_str().unwrap().to_owned();
    let shown = sd.json(&["run", "show", &apply_id]);
    assert_eq!(
        shown["run"]["steps"],
        serde_json::json!(["zone", "shop", "txt"])
    );
    let creates = shown["audit"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["operation"] == "create")
        .count();
    assert_eq!(creates, 3, "{shown}");
    // An unknown run and another principal's view of it read the same.
    let err = sd.fails(1, &["run", "show", "00000000-0000-0000-0000-000000000000"]);
    assert!(err.contains("not found"), "{err}");
    sd.ok(&[
        "principal",
        "add",
        "eve",
        "--role",
        "viewer",
        "--org",
        "rival",
    ]);
    let err = sd.fails(1, &["--as", "eve", "run", "show", &apply_id]);
    assert!(err.contains("not found"), "{err}");
    let err = sd.fails(1, &["--as", "eve", "status", "acme"]);
    assert!(err.contains("not found"), "{err}");
}
