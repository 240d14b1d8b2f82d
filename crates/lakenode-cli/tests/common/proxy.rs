//! A fault-injecting HTTP proxy on loopback, between the node and the S3 server.
//!
//! Each request gets its own connection (the proxy answers `Connection: close`), so a
//! fault is decided per request, deterministically from a seed:
//! - reset: part of the request is read, then the connection is reset (RST);
//! - slowdown: S3's `503 SlowDown` error document, the request never reaches S3;
//! - stall: the request is read and nothing is answered until well past the client's
//!   timeout;
//! - internal: the request is forwarded and carried out, but S3's answer is replaced by
//!   `500 InternalError` (the client cannot tell whether it was done);
//! - lost reply: the request is forwarded and carried out, then the connection is reset
//!   instead of relaying the answer;
//! - outage: for a scheduled period the proxy stops listening (connections refused);
//! - refusal: a request whose path contains a given text gets S3's `403 AccessDenied`
//!   (what a bucket policy leaving a tree out answers);
//! - throttled path: a request whose path contains a given text always gets `503 SlowDown`;
//! - otherwise the request is forwarded and S3's answer relayed.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use lakenode::sim::mix64;

/// Fault probabilities per request and an optional outage.
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Share of requests reset mid-request.
    pub reset: f64,
    /// Share answered 503 SlowDown.
    pub slowdown: f64,
    /// Share stalled past the client's timeout.
    pub stall: f64,
    /// Share forwarded with one body byte flipped.
    pub corrupt: f64,
    /// Share forwarded, then answered `500 InternalError` instead of S3's answer.
    pub internal: f64,
    /// Share forwarded, then reset instead of relaying S3's answer.
    pub lost_reply: f64,
    /// How long a stall holds the connection.
    pub stall_for: Duration,
    /// (after how many requests, for how long) the server goes down once.
    pub outage: Option<(u64, Duration)>,
    /// Seed of the fault decisions.
    pub seed: u64,
    /// Requests whose path contains this are refused with 403 `AccessDenied`.
    pub refuse_path: Option<&'static str>,
    /// Requests whose path contains this are all answered 503 `SlowDown`.
    pub slow_path: Option<&'static str>,
}

impl FaultPlan {
    /// No fault at all: every request forwarded (set the fields wanted).
    pub const fn clean() -> Self {
        Self {
            reset: 0.0,
            slowdown: 0.0,
            stall: 0.0,
            corrupt: 0.0,
            internal: 0.0,
            lost_reply: 0.0,
            stall_for: Duration::ZERO,
            outage: None,
            seed: 0,
            refuse_path: None,
            slow_path: None,
        }
    }
}

/// Counters of what the proxy did.
#[derive(Debug, Default)]
pub struct FaultCounts {
    pub requests: AtomicU64,
    pub resets: AtomicU64,
    pub slowdowns: AtomicU64,
    pub stalls: AtomicU64,
    pub corrupted: AtomicU64,
    pub internal: AtomicU64,
    pub lost_replies: AtomicU64,
    pub refused_periods: AtomicU64,
    pub denied: AtomicU64,
    pub forwarded: AtomicU64,
    /// Requests being handled now, and the most at once so far.
    pub in_flight: AtomicU64,
    pub most_in_flight: AtomicU64,
}

impl FaultCounts {
    /// Faults injected in all (resets, 503s, stalls, outages).
    pub fn injected(&self) -> u64 {
        self.resets.load(Ordering::Relaxed)
            + self.slowdowns.load(Ordering::Relaxed)
            + self.stalls.load(Ordering::Relaxed)
            + self.corrupted.load(Ordering::Relaxed)
            + self.internal.load(Ordering::Relaxed)
            + self.lost_replies.load(Ordering::Relaxed)
            + self.refused_periods.load(Ordering::Relaxed)
    }

    pub fn summary(&self) -> String {
        format!(
            "{} requests: {} reset, {} 503 SlowDown, {} stalled, {} corrupted, {} 500 InternalError \
             after forwarding, {} reset after forwarding, {} forwarded; {} outage(s)",
            self.requests.load(Ordering::Relaxed),
            self.resets.load(Ordering::Relaxed),
            self.slowdowns.load(Ordering::Relaxed),
            self.stalls.load(Ordering::Relaxed),
            self.corrupted.load(Ordering::Relaxed),
            self.internal.load(Ordering::Relaxed),
            self.lost_replies.load(Ordering::Relaxed),
            self.forwarded.load(Ordering::Relaxed),
            self.refused_periods.load(Ordering::Relaxed),
        )
    }
}

/// A running proxy; stops when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    pub counts: Arc<FaultCounts>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FaultProxy {
    pub fn start(upstream: SocketAddr, plan: FaultPlan) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind proxy");
        let addr = listener.local_addr().expect("proxy addr");
        let counts = Arc::new(FaultCounts::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s) = (Arc::clone(&counts), Arc::clone(&stop));
        let thread =
            std::thread::spawn(move || accept_loop(listener, addr, upstream, plan, &c, &s));
        Self {
            addr,
            counts,
            stop,
            thread: Some(thread),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    addr: SocketAddr,
    upstream: SocketAddr,
    plan: FaultPlan,
    counts: &Arc<FaultCounts>,
    stop: &AtomicBool,
) {
    let mut listener = Some(listener);
    let mut n = 0u64;
    let mut outage_since: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if let Some((after, _)) = plan.outage
            && n == after
            && outage_since.is_none()
        {
            outage_since = Some(Instant::now());
        }
        let in_outage = match (plan.outage, outage_since) {
            (Some((_, len)), Some(since)) => since.elapsed() < len,
            _ => false,
        };
        match (&listener, in_outage) {
            (Some(_), true) => {
                // Server down: stop listening, so connections are refused.
                listener = None;
                counts.refused_periods.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            (None, false) => match TcpListener::bind(addr) {
                Ok(l) => listener = Some(l),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
            },
            (None, true) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
            (Some(_), false) => {}
        }
        let Some(l) = &listener else { continue };
        l.set_nonblocking(true).expect("nonblocking");
        match l.accept() {
            Ok((client, _)) => {
                n += 1;
                let fate = (mix64(plan.seed ^ mix64(n)) >> 11) as f64 / (1u64 << 53) as f64;
                let counts = Arc::clone(counts);
                counts.requests.fetch_add(1, Ordering::Relaxed);
                std::thread::spawn(move || {
                    let now = counts.in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                    counts.most_in_flight.fetch_max(now, Ordering::Relaxed);
                    let _ = client.set_nonblocking(false);
                    handle(client, upstream, plan, fate, &counts);
                    counts.in_flight.fetch_sub(1, Ordering::Relaxed);
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

/// Reads one request: head (with `Connection: close` forced) and body; returns the
/// bytes and the length of the body at their end.
fn read_request(client: &TcpStream) -> std::io::Result<(Vec<u8>, usize)> {
    client.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(client);
    let mut head = Vec::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            head.extend_from_slice(b"connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(line.as_bytes());
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    head.extend_from_slice(&body);
    Ok((head, length))
}

fn handle(
    client: TcpStream,
    upstream: SocketAddr,
    plan: FaultPlan,
    fate: f64,
    counts: &FaultCounts,
) {
    if fate < plan.reset {
        counts.resets.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 300];
        let _ = (&client).read(&mut buf);
        let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
        drop(client); // RST
        return;
    }
    let Ok((mut request, body_len)) = read_request(&client) else {
        return;
    };
    let mut client = client;
    let request_line = request.split(|b| *b == b'\n').next().unwrap_or_default();
    if let Some(path) = plan.refuse_path
        && String::from_utf8_lossy(request_line).contains(path)
    {
        counts.denied.fetch_add(1, Ordering::Relaxed);
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>PROXY</RequestId></Error>";
        let _ = write!(
            client,
            "HTTP/1.1 403 Forbidden\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let throttled = plan
        .slow_path
        .is_some_and(|p| String::from_utf8_lossy(request_line).contains(p));
    if throttled || fate < plan.reset + plan.slowdown {
        counts.slowdowns.fetch_add(1, Ordering::Relaxed);
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message><RequestId>PROXY</RequestId></Error>";
        let _ = write!(
            client,
            "HTTP/1.1 503 Slow Down\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    if fate < plan.reset + plan.slowdown + plan.stall {
        counts.stalls.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(plan.stall_for);
        return;
    }
    let mut after = plan.reset + plan.slowdown + plan.stall + plan.corrupt;
    if fate < after && body_len > 0 {
        counts.corrupted.fetch_add(1, Ordering::Relaxed);
        let at = request.len() - 1 - (mix64(plan.seed ^ body_len as u64) as usize % body_len);
        request[at] ^= 0x20;
    } else {
        counts.forwarded.fetch_add(1, Ordering::Relaxed);
    }
    // What happens to S3's answer: relayed, replaced by a 500, or lost.
    let (internal, lost) = if fate >= after {
        after += plan.internal;
        (
            fate < after,
            fate >= after && fate < after + plan.lost_reply,
        )
    } else {
        (false, false)
    };
    let Ok(mut server) = TcpStream::connect(upstream) else {
        return;
    };
    if server.write_all(&request).is_err() {
        return;
    }
    let mut response = Vec::new();
    let _ = server.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = server.read_to_end(&mut response);
    if internal {
        counts.internal.fetch_add(1, Ordering::Relaxed);
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message><RequestId>PROXY</RequestId></Error>";
        let _ = write!(
            client,
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: application/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    if lost {
        counts.lost_replies.fetch_add(1, Ordering::Relaxed);
        let _ = socket2::SockRef::from(&client).set_linger(Some(Duration::ZERO));
        drop(client); // RST
        return;
    }
    let _ = client.write_all(&response);
}
