//! The `fakeai` command.

use std::{
    io::{Read, Write},
    net::TcpStream,
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use fakeai::config::{Cli, ClientArgs, Command, MetricsFormat, prepare_environment};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    if let Err(e) = prepare_environment(&argv) {
        eprintln!("fakeai: {e}");
        return ExitCode::from(2);
    }
    let cli = Cli::parse();
    let code = match cli.command {
        Command::Server(args) => fakeai::server::serve(*args),
        Command::Status(c) => client_get(&c, "/health"),
        Command::Metrics(m) => match m.format {
            MetricsFormat::Json => client_get(&m.client, "/metrics?format=json"),
            MetricsFormat::Prometheus => client_get(&m.client, "/metrics"),
        },
    };
    ExitCode::from(code as u8)
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
