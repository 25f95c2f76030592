//! The `fakeai` command.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::ExitCode,
    time::Duration,
};

use fakeai::config::{Cli, ClientArgs, Command, ConfigCommand, MetricsArgs, MetricsFormat};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match Cli::load() {
        Ok(cli) => cli,
        Err(e) => {
            eprintln!("fakeai: {e}");
            return ExitCode::from(2);
        }
    };
    let code = match cli.command {
        Command::Server(args) => {
            let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
            eprintln!("fakeai: {}", args.summary(cores));
            let code = fakeai::server::serve(*args);
            // After the drain: the last usage snapshot (with --data-dir) is on disk before exit.
            fakeai::state::persist::flush();
            code
        }
        Command::Config(ConfigCommand::Print(_)) => emit(fakeai::config::render_settings(&cli.settings).as_bytes()),
        Command::Completions(c) => {
            let mut script = Vec::new();
            fakeai::config::completions(c.shell, &mut script);
            emit(&script)
        }
        Command::Man(m) => {
            let mut page = Vec::new();
            match fakeai::config::man_page(m.subcommand.as_deref(), &mut page) {
                Ok(()) => emit(&page),
                Err(e) => {
                    eprintln!("fakeai: {e}");
                    2
                }
            }
        }
        Command::Status(c) => client_get(&c, "/health"),
        Command::Metrics(m) => metrics(&m),
    };
    ExitCode::from(code as u8)
}

/// Writes generated text to stdout; a reader that stopped early (`| head`) is not an error.
fn emit(bytes: &[u8]) -> i32 {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            eprintln!("fakeai: cannot write to stdout: {e}");
            1
        }
        _ => 0,
    }
}

/// `fakeai metrics`: prints the server's metrics once, or every `--interval` with `--watch`.
fn metrics(m: &MetricsArgs) -> i32 {
    let mut shown = 0u64;
    loop {
        let code = match m.format {
            MetricsFormat::Prometheus => client_get(&m.client, "/metrics"),
            MetricsFormat::Json => client_get(&m.client, "/metrics?format=json"),
            MetricsFormat::Pretty | MetricsFormat::Csv => {
                match http_get(&m.client.host, m.client.port, "/metrics?format=json") {
                    Ok((200, body)) => match serde_json::from_str::<serde_json::Value>(&body) {
                        Ok(v) => {
                            let rows = flatten("", &v);
                            match m.format {
                                MetricsFormat::Csv => {
                                    println!("metric,value");
                                    rows.iter().for_each(|(k, v)| println!("{k},{v}"));
                                }
                                _ => {
                                    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
                                    rows.iter().for_each(|(k, v)| println!("{k:<width$}  {v}"));
                                }
                            }
                            0
                        }
                        Err(e) => {
                            eprintln!("fakeai: the server's metrics are not JSON: {e}");
                            1
                        }
                    },
                    Ok((status, _)) => {
                        eprintln!("fakeai: metrics answered HTTP {status}");
                        1
                    }
                    Err(e) => {
                        eprintln!("fakeai: cannot reach http://{}:{}: {e}", m.client.host, m.client.port);
                        1
                    }
                }
            }
        };
        shown += 1;
        if !m.watch || code != 0 || m.count.is_some_and(|c| shown >= c) {
            return code;
        }
        std::thread::sleep(Duration::from_secs_f64(m.interval.max(0.1)));
        println!();
    }
}

/// Leaf values of a JSON object as dotted keys, in document order.
fn flatten(prefix: &str, v: &serde_json::Value) -> Vec<(String, String)> {
    match v {
        serde_json::Value::Object(map) => map
            .iter()
            .flat_map(|(k, v)| flatten(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v))
            .collect(),
        other => vec![(prefix.to_owned(), other.to_string())],
    }
}

/// GETs `path` from a running server and prints the body; exit code 1 on failure.
fn client_get(c: &ClientArgs, path: &str) -> i32 {
    match http_get(&c.host, c.port, path) {
        Ok((status, body)) => {
            println!("{body}");
            if (200..300).contains(&status) { 0 } else { 1 }
        }
        Err(e) => {
            eprintln!("fakeai: cannot reach http://{}:{}{path}: {e}", c.host, c.port);
            1
        }
    }
}

fn http_get(host: &str, port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect((host, port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_owned()))
}
