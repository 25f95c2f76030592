//! Test harness: runs the real `fakeai` binary on an ephemeral port and speaks raw HTTP/1.1.
#![allow(dead_code)]

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A running server, killed on drop.
pub struct Server {
    pub addr: SocketAddr,
    pub child: Child,
    pub startup_line: String,
}

impl Server {
    /// Starts `fakeai server --port 0` plus `args`, with `env` added.
    pub fn start_with_env(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_fakeai"));
        cmd.args(["server", "--host", "127.0.0.1", "--port", "0"]).args(args);
        // Tests run many servers at once: none takes the DCGM ports unless its test asks
        // (`--dcgm-port`, or the variable in `env`).
        cmd.env("FAKEAI_DCGM_PORT", "off");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::inherit()).spawn().expect("spawn fakeai");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("startup line");
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address in startup line {line:?}"))
            .parse()
            .unwrap();
        let server = Server { addr, child, startup_line: line };
        server.wait_ready();
        server
    }

    /// Polls /health until the server reports ready.
    pub fn wait_ready(&self) {
        let t = Instant::now();
        while self.request("GET", "/health", None).status != 200 {
            assert!(t.elapsed() < Duration::from_secs(20), "server never became ready");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Starts a server with zero latency unless `args` say otherwise.
    pub fn start(args: &[&str]) -> Server {
        Server::start_with_env(args, &[])
    }

    /// A fresh connection.
    pub fn connect(&self) -> Conn {
        Conn::new(TcpStream::connect(self.addr).expect("connect"))
    }

    /// One request on a fresh connection.
    pub fn request(&self, method: &str, path: &str, body: Option<&str>) -> Response {
        let mut c = self.connect();
        c.send(method, path, body, &[]);
        c.response()
    }

    /// POSTs JSON and returns the response.
    pub fn post(&self, path: &str, body: &str) -> Response {
        self.request("POST", path, Some(body))
    }

    /// Uploads `bytes` as file `filename` for `purpose` (`POST /v1/files`, multipart).
    pub fn upload(&self, purpose: &str, filename: &str, bytes: &[u8]) -> Response {
        upload_to(self.addr, purpose, filename, bytes)
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        unsafe_kill(self.child.id(), 15);
    }
}

fn unsafe_kill(pid: u32, sig: i32) {
    let _ = Command::new("kill").arg(format!("-{sig}")).arg(pid.to_string()).status();
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `GET path` on a fresh connection to `addr` is answered 200 (false when nothing listens
/// or the connection closes unanswered).
pub fn answers_200(addr: SocketAddr, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(addr) else { return false };
    let mut reply = Vec::new();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let asked = stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes());
    asked.is_ok() && stream.read_to_end(&mut reply).is_ok() && reply.starts_with(b"HTTP/1.1 200")
}

/// A parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Arrival time of each body read, with the bytes it carried (for SSE timing).
    pub reads: Vec<(Instant, usize)>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8(self.body.clone()).expect("utf-8 body")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", self.text()))
    }

    /// The JSON payloads of `data:` events, `[DONE]` excluded; asserts framing.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let text = self.text();
        assert!(text.ends_with("data: [DONE]\n\n"), "stream must end with [DONE]: {text}");
        text.split_terminator("\n\n")
            .map(|e| e.strip_prefix("data: ").unwrap_or_else(|| panic!("not a data event: {e:?}")))
            .filter(|d| *d != "[DONE]")
            .map(|d| serde_json::from_str(d).unwrap_or_else(|e| panic!("bad event JSON {d}: {e}")))
            .collect()
    }

    /// Concatenated content of a chat or completion stream.
    pub fn streamed_text(&self) -> String {
        self.events()
            .iter()
            .filter_map(|e| {
                let c = e["choices"].get(0)?;
                c["delta"]["content"].as_str().or(c["text"].as_str()).map(str::to_owned)
            })
            .collect()
    }

    /// Number of content events (one per token).
    pub fn content_events(&self) -> usize {
        self.events()
            .iter()
            .filter(|e| {
                let c = &e["choices"][0];
                c["delta"]["content"].as_str().is_some_and(|s| !s.is_empty())
                    || c["text"].as_str().is_some_and(|s| !s.is_empty())
            })
            .count()
    }
}

/// A raw HTTP/1.1 client connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn new(stream: TcpStream) -> Conn {
        stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        stream.set_nodelay(true).unwrap();
        Conn { stream, buf: Vec::new() }
    }

    pub fn write_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    pub fn send(&mut self, method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) {
        self.write_raw(&encode(method, path, body, headers));
    }

    fn fill(&mut self) -> usize {
        let mut tmp = [0u8; 65536];
        match self.stream.read(&mut tmp) {
            Ok(n) => {
                self.buf.extend_from_slice(&tmp[..n]);
                n
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => 0,
            Err(e) => panic!("read: {e}"),
        }
    }

    /// True when the server closed the connection (EOF) with nothing buffered.
    pub fn is_closed(&mut self) -> bool {
        self.buf.is_empty() && self.fill() == 0
    }

    /// Reads one response (Content-Length, chunked, or close-delimited).
    pub fn response(&mut self) -> Response {
        self.response_to("GET")
    }

    /// Reads the response to a request with `method` (HEAD responses have no body).
    pub fn response_to(&mut self, method: &str) -> Response {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(
                self.fill() > 0,
                "connection closed before a response head: {:?}",
                String::from_utf8_lossy(&self.buf)
            );
        };
        let head = String::from_utf8(self.buf[..head_end].to_vec()).unwrap();
        self.buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let status: u16 = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
        let headers: Vec<(String, String)> = lines
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once(':').unwrap();
                (k.trim().to_owned(), v.trim().to_owned())
            })
            .collect();
        let mut resp = Response { status, headers, body: Vec::new(), reads: Vec::new() };
        if method == "HEAD" || status == 100 || status == 204 {
            return resp;
        }
        if let Some(len) = resp.header("content-length").map(|v| v.parse::<usize>().unwrap()) {
            while self.buf.len() < len {
                assert!(self.fill() > 0, "closed mid-body");
            }
            resp.body = self.buf.drain(..len).collect();
        } else if resp.header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            self.read_chunked(&mut resp);
        } else {
            resp.body = std::mem::take(&mut self.buf);
            loop {
                let before = self.buf.len();
                let n = self.fill();
                if n == 0 {
                    break;
                }
                resp.reads.push((Instant::now(), n));
                resp.body.extend(self.buf.drain(before..));
            }
        }
        resp
    }

    fn read_chunked(&mut self, resp: &mut Response) {
        if !self.buf.is_empty() {
            resp.reads.push((Instant::now(), self.buf.len()));
        }
        loop {
            let line_end = loop {
                if let Some(i) = find(&self.buf, b"\r\n") {
                    break i;
                }
                let n = self.fill();
                assert!(n > 0, "closed mid-chunk");
                resp.reads.push((Instant::now(), n));
            };
            let size = usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap().trim(), 16).unwrap();
            while self.buf.len() < line_end + 2 + size + 2 {
                let n = self.fill();
                assert!(n > 0, "closed mid-chunk");
                resp.reads.push((Instant::now(), n));
            }
            assert_eq!(&self.buf[line_end + 2 + size..line_end + 4 + size], b"\r\n", "chunk must end in CRLF");
            resp.body.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
            self.buf.drain(..line_end + 4 + size);
            if size == 0 {
                return;
            }
        }
    }

    /// Reads SSE events as they arrive, timestamping each `data:` event.
    pub fn timed_events(&mut self) -> Vec<(Instant, serde_json::Value)> {
        let resp_head = self.response_head();
        assert_eq!(resp_head, 200);
        let mut events = Vec::new();
        let mut pending = Vec::new();
        loop {
            let now = Instant::now();
            let mut done = false;
            // Decode complete chunks from buf into pending.
            while let Some(line_end) = find(&self.buf, b"\r\n") {
                let size = usize::from_str_radix(std::str::from_utf8(&self.buf[..line_end]).unwrap(), 16).unwrap();
                if self.buf.len() < line_end + 4 + size {
                    break;
                }
                pending.extend_from_slice(&self.buf[line_end + 2..line_end + 2 + size]);
                self.buf.drain(..line_end + 4 + size);
                if size == 0 {
                    done = true;
                    break;
                }
            }
            while let Some(i) = find(&pending, b"\n\n") {
                let ev = String::from_utf8(pending.drain(..i + 2).collect()).unwrap();
                let data = ev.trim_end().strip_prefix("data: ").unwrap().to_owned();
                if data != "[DONE]" {
                    events.push((now, serde_json::from_str(&data).unwrap()));
                }
            }
            if done {
                return events;
            }
            assert!(self.fill() > 0, "closed mid-stream");
        }
    }

    fn response_head(&mut self) -> u16 {
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            assert!(self.fill() > 0);
        };
        let head = String::from_utf8(self.buf.drain(..head_end).collect()).unwrap();
        head.split(' ').nth(1).unwrap().parse().unwrap()
    }
}

pub fn encode(method: &str, path: &str, body: Option<&str>, headers: &[(&str, &str)]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
    // Anthropic's API requires its version header, as its SDK sends it.
    if path.starts_with("/v1/messages") && !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("anthropic-version")) {
        req.push_str("anthropic-version: 2023-06-01\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("content-type")) {
            req.push_str("Content-Type: application/json\r\n");
        }
        req.push_str(&format!("Content-Length: {}\r\n\r\n{b}", b.len()));
    } else {
        req.push_str("\r\n");
    }
    req.into_bytes()
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// POSTs `body` to `path` on a fresh connection from another thread; join for the response.
pub fn spawn_post(addr: SocketAddr, path: &'static str, body: String) -> std::thread::JoinHandle<Response> {
    std::thread::spawn(move || {
        let mut c = Conn::new(TcpStream::connect(addr).unwrap());
        c.send("POST", path, Some(&body), &[]);
        c.response()
    })
}

/// A chat request body.
pub fn chat(model: &str, content: &str, extra: &str) -> String {
    let extra = if extra.is_empty() { String::new() } else { format!(",{extra}") };
    format!(
        r#"{{"model":"{model}","messages":[{{"role":"user","content":{}}}]{extra}}}"#,
        serde_json::to_string(content).unwrap()
    )
}

/// A tool a test needs, or `None` to skip: `what` names it for the message. Under CI (`CI` set)
/// a missing tool fails the test, so a run without it can never pass silently.
pub fn tool_or_skip<T>(found: Option<T>, what: &str) -> Option<T> {
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI is set but {what} is missing (.ci/run installs it)");
        eprintln!("skipping: {what} is missing (.ci/run installs it)");
    }
    found
}

/// The Python named by `FAKEAI_SDK_PYTHON` (a venv with the official SDKs; `.ci/run` makes one).
pub fn sdk_python() -> Option<String> {
    tool_or_skip(std::env::var("FAKEAI_SDK_PYTHON").ok(), "FAKEAI_SDK_PYTHON (a Python with the SDKs)")
}

/// Runs `tests/sdk/<script>` with `args` on the SDK Python; panics with its output unless it
/// exits 0 and prints `checks passed`. Returns its stdout; `None` when skipped.
pub fn run_sdk_script(script: &str, args: &[&str]) -> Option<String> {
    let python = sdk_python()?;
    let path = format!("{}/tests/sdk/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python).arg(&path).args(args).output().expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stdout.contains("checks passed"), "{script} failed:\n{stdout}\n{stderr}");
    eprintln!("{stdout}");
    Some(stdout)
}

/// Server flags that make every token due at once.
pub const FAST: &[&str] = &["--ttft", "0:0", "--itl", "0:0"];

/// Runs SDK check `script` against a server `start` makes, at `http://{addr}{base_path}` (`/v1`
/// for the OpenAI SDK; `""` for clients that add their own prefix). Skipped, with no server
/// started, without the SDK Python.
pub fn sdk_check(script: &str, base_path: &str, start: impl FnOnce() -> Server) {
    if sdk_python().is_none() {
        return;
    }
    let s = start();
    run_sdk_script(script, &[&format!("http://{}{base_path}", s.addr)]);
}

/// `Some` when ffprobe (Debian's ffmpeg) runs; `None` to skip (a failure under CI).
pub fn ffprobe() -> Option<()> {
    let found = Command::new("ffprobe").arg("-version").output().ok().filter(|o| o.status.success());
    tool_or_skip(found.map(drop), "ffprobe (Debian's ffmpeg)")
}

/// `bytes` written to a temporary file whose name ends in `name` (unique per test process).
pub fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("fakeai-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The values ffprobe reads for `entries` (`codec_name,width,height`) of the stream in `path`.
pub fn probe_stream(path: &std::path::Path, entries: &str) -> Vec<String> {
    let show = format!("stream={entries}");
    let out =
        Command::new("ffprobe").args(["-v", "error", "-show_entries", &show, "-of", "csv=p=0"]).arg(path).output();
    let out = out.unwrap();
    assert!(out.status.success(), "ffprobe failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().split(',').map(str::to_owned).collect()
}

/// Reads one WebSocket frame from the server (unmasked, as RFC 6455 requires): (opcode, payload).
pub fn ws_read(sock: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut h = [0u8; 2];
    sock.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            sock.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            sock.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    sock.read_exact(&mut payload).unwrap();
    (h[0] & 0x0F, payload)
}

/// `POST /v1/files` of `bytes` as file `filename` for `purpose` (multipart) to the server at
/// `addr` (usable from threads that hold no [`Server`]).
pub fn upload_to(addr: std::net::SocketAddr, purpose: &str, filename: &str, bytes: &[u8]) -> Response {
    const BOUNDARY: &str = "fakeai-common-boundary-51c9";
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\n{purpose}\r\n--{BOUNDARY}\r\n\
         Content-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let mut c = Conn::new(TcpStream::connect(addr).expect("connect"));
    let head = format!(
        "POST /v1/files HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary={BOUNDARY}\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    c.write_raw(head.as_bytes());
    c.write_raw(&body);
    c.response()
}

/// The value of the first sample line starting with `prefix` (a name plus labels) in `text`.
pub fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(prefix)?.trim().parse().ok())
}

/// Scrapes `path` until `prefix` reads `want` (workers publish every 20 ms); the last scrape.
pub fn eventually(s: &Server, path: &str, prefix: &str, want: f64) -> String {
    let t = Instant::now();
    loop {
        let text = s.request("GET", path, None).text();
        if sample(&text, prefix) == Some(want) || t.elapsed() > Duration::from_secs(3) {
            assert_eq!(sample(&text, prefix), Some(want), "{prefix} in\n{text}");
            return text;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The `usage` of a chat completion that must succeed.
pub fn usage_of(s: &Server, body: &str) -> serde_json::Value {
    let r = s.post("/v1/chat/completions", body);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["usage"].clone()
}

/// `usage.prompt_tokens_details.cached_tokens`.
pub fn cached(usage: &serde_json::Value) -> u64 {
    usage["prompt_tokens_details"]["cached_tokens"].as_u64().unwrap()
}
