//! The command line's conveniences: shell completions, man pages, `config print` and the
//! startup summary, run as a user would run them.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Output, Stdio},
};

/// `fakeai ARGS` with `env` added (and no stray `FAKEAI_*` settings from the caller).
fn fakeai(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fakeai"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("FAKEAI_")) {
        cmd.env_remove(k);
    }
    cmd.args(args).envs(env.iter().copied()).output().expect("run fakeai")
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "fakeai failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("UTF-8")
}

#[test]
fn completions_for_each_shell() {
    let bash = stdout(&fakeai(&["completions", "bash"], &[]));
    assert!(bash.contains("complete -F _fakeai") && bash.contains("--drain-timeout"), "{bash}");
    let check = Command::new("bash").args(["-n", "-c", &bash]).status().expect("bash");
    assert!(check.success(), "the bash script does not parse");
    let zsh = stdout(&fakeai(&["completions", "zsh"], &[]));
    assert!(zsh.starts_with("#compdef fakeai") && zsh.contains("--drain-timeout"), "{zsh}");
    let fish = stdout(&fakeai(&["completions", "fish"], &[]));
    assert!(fish.contains("complete -c fakeai") && fish.contains("drain-timeout"), "{fish}");
    assert!(!fakeai(&["completions", "tcsh"], &[]).status.success(), "an unknown shell is an error");
}

#[test]
fn man_pages_for_the_overview_and_each_subcommand() {
    let overview = stdout(&fakeai(&["man"], &[]));
    assert!(overview.contains(".TH fakeai 1"), "{overview}");
    for sub in ["server", "status", "metrics", "config", "completions"] {
        assert!(overview.contains(sub), "the overview lists {sub}");
    }
    let server = stdout(&fakeai(&["man", "server"], &[]));
    assert!(server.contains(".TH fakeai-server 1") && server.contains(r"\-\-drain\-timeout"), "{server}");
    let unknown = fakeai(&["man", "nope"], &[]);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("expected one of"), "names the known pages");
}

#[test]
fn config_print_shows_each_value_and_where_it_came_from() {
    let dir = std::env::temp_dir().join(format!("fakeai-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("fakeai.toml");
    std::fs::write(&file, "port = 1\n[server]\nbacklog = 7\n[generation]\nitl_ms = 3\n").unwrap();
    let file_arg = file.to_str().unwrap();
    let env = [("FAKEAI_SERVER__HOST", "0.0.0.0"), ("FAKEAI_API_KEYS", "sk-hidden")];
    let text = stdout(&fakeai(&["config", "print", "--config-file", file_arg, "--port", "9000"], &env));
    let line = |key: &str| text.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_default().to_owned();
    assert_eq!(line("port"), "port = 9000  # flag --port", "{text}");
    assert_eq!(line("host"), "host = \"0.0.0.0\"  # env FAKEAI_SERVER__HOST");
    assert_eq!(line("backlog"), format!("backlog = 7  # file {file_arg} (server.backlog)"));
    assert_eq!(line("itl"), format!("itl = \"3:10\"  # file {file_arg} (generation.itl_ms)"));
    assert_eq!(line("drain_timeout"), "drain_timeout = \"30s\"  # default");
    assert_eq!(line("api_key"), "api_key = \"***\"  # env FAKEAI_API_KEYS");
    assert!(!text.contains("sk-hidden") && text.contains("# seed is not set"), "{text}");

    // The output is a config file that gives the same settings back.
    let again = dir.join("again.toml");
    std::fs::write(&again, text.replace("api_key = \"***\"", "api_key = \"sk-hidden\"")).unwrap();
    let text2 = stdout(&fakeai(&["config", "print", "--config-file", again.to_str().unwrap()], &[]));
    let values = |t: &str| -> Vec<String> {
        t.lines().filter(|l| !l.starts_with('#')).map(|l| l.split("  # ").next().unwrap().to_owned()).collect()
    };
    assert_eq!(values(&text2), values(&text));

    let bad = fakeai(&["config", "print"], &[("FAKEAI_SERVER__PORT", "x")]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("FAKEAI_SERVER__PORT"), "the error names the variable");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn startup_summary_lists_the_active_features() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fakeai"))
        .args(["server", "--host", "127.0.0.1", "--port", "0", "--workers", "1", "--api-key", "sk-a"])
        .args(["--fault-rate", "503=0.1", "--rate-limit-rpm", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fakeai");
    let mut line = String::new();
    BufReader::new(child.stderr.take().unwrap()).read_line(&mut line).expect("summary line");
    child.kill().ok();
    child.wait().ok();
    for feature in
        ["engine=off", "auth=1 key(s)", "faults=1 rule(s)", "persistence=off", "rate_limits=rpm:60,", "workers=1"]
    {
        assert!(line.contains(feature), "{feature} missing from {line:?}");
    }
    assert!(line.contains("listen=127.0.0.1:0"), "{line}");
}
