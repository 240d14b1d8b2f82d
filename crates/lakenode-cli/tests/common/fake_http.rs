//! A fake HTTP endpoint on loopback that is *not* S3: it answers every request with
//! the same canned reply (a proxy's 404 page, a portal's 200, S3's `EntityTooLarge`),
//! or accepts and never answers (from the first request or the second). Each request reads fully (headers and
//! `Content-Length` body) before the reply.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the endpoint does with each request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Sends these bytes (a whole HTTP response) and closes.
    Reply(Vec<u8>),
    /// Reads the request and never answers (until the server is dropped).
    Stall,
    /// Answers like S3 (200, the body's MD5 as ETag) after this delay.
    AcceptAfter(Duration),
    /// Sends these bytes to the first request, then stalls every later one.
    ReplyOnceThenStall(Vec<u8>),
}

/// A whole HTTP/1.1 response with `Connection: close`.
pub fn response(status: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    r.push_str("\r\n");
    r.push_str(body);
    r.into_bytes()
}

pub struct FakeHttp {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    pub requests: Arc<AtomicU64>,
}

impl FakeHttp {
    pub fn start(behaviour: Behaviour) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let (s, n) = (Arc::clone(&stop), Arc::clone(&requests));
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (b, s, n) = (behaviour.clone(), Arc::clone(&s), Arc::clone(&n));
                        std::thread::spawn(move || serve(stream, &b, &s, &n));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            addr,
            stop,
            requests,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeHttp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, behaviour: &Behaviour, stop: &AtomicBool, n: &AtomicU64) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let header_end = loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => data.extend_from_slice(&buf[..k]),
        }
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..header_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while data.len() < header_end + length {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(k) => data.extend_from_slice(&buf[..k]),
        }
    }
    let earlier = n.fetch_add(1, Ordering::Relaxed);
    match behaviour {
        Behaviour::Reply(bytes) => {
            let _ = stream.write_all(bytes);
        }
        Behaviour::ReplyOnceThenStall(bytes) if earlier == 0 => {
            let _ = stream.write_all(bytes);
        }
        Behaviour::AcceptAfter(delay) => {
            std::thread::sleep(*delay);
            let etag = format!("\"{}\"", lakenode::digest::md5_hex(&data[header_end..]));
            let _ = stream.write_all(&response("200 OK", &[("ETag", &etag)], ""));
        }
        Behaviour::Stall | Behaviour::ReplyOnceThenStall(_) => {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}
