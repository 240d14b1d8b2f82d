//! The node loop's stack: `run_live` as the firmware runs it (samples, two windows
//! sealed and encoded, their health rows built and encoded, uploads signed and
//! answered), on a thread of [`LOOP_STACK`] / 1.5, the firmware's loop stack less a
//! 50% margin. A stack overflow aborts the process, failing the test.
//!
//! It also measures the loop's peak stack, and checks it against the same bound: a
//! thread's stack is filled with a pattern below the loop's frame, the loop runs, and
//! the bytes no longer holding the pattern are counted. The figure that matters is the
//! device build's:
//! `cargo test -p lakenode --test loop_stack --profile flash --target i686-unknown-linux-gnu`
//! (32-bit, opt-level "s", LTO). Other builds only report their figure: unoptimised
//! ones use about three times more stack, 64-bit ones half as much again (pointers).
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)] // reads below the stack pointer; a failed unwrap is a failed test

#[path = "support/example.rs"]
mod example;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use jiff::Timestamp;
use lakenode::device::LOOP_STACK;
use lakenode::digest::md5_hex;
use lakenode::driver::Reply;
use lakenode::sim::Simulator;
use lakenode::{
    Adapter, Event, HealthRow, HttpRequest, HttpResponse, Link, Now, Sample, Station, run_live,
};

/// 2026-12-01T00:00:00Z plus the virtual monotonic clock.
const T0: i64 = 1_796_083_200_000;
/// Virtual time the loop runs: two 15-minute windows sealed, and a bit.
const RUN_MS: u64 = 31 * 60_000;
/// Filled with the pattern below the loop's frame, far more than it may use.
const PAINTED: usize = 256 * 1024;
const PATTERN: u8 = 0xA5;

/// A device whose time moves only when the link waits.
struct Device {
    mono: Rc<Cell<u64>>,
    sealed: usize,
    health_rows: usize,
    errors: Vec<String>,
}

impl Adapter for Device {
    fn now(&mut self) -> Now {
        let mono = self.mono.get();
        let wall = Timestamp::from_millisecond(T0 + i64::try_from(mono).unwrap()).unwrap();
        Now::synced(mono, wall)
    }

    fn read_sensors(&mut self, at: &Now) -> Sample {
        Simulator::new(7).sample_at(at.wall_ms().unwrap())
    }

    fn fill_health(&mut self, row: &mut HealthRow) {
        self.health_rows += 1;
        row.free_heap = Some(120_000);
        row.min_free_heap = Some(90_000);
        row.wifi_rssi = Some(-61);
        row.reset_reason = "poweron".into();
    }

    fn on_event(&mut self, event: &Event) {
        match event {
            Event::Sealed { .. } => self.sealed += 1,
            Event::Error { .. } | Event::Dropped { .. } | Event::Skipped { .. } => {
                self.errors.push(event.to_string());
            }
            _ => {}
        }
    }

    fn keep_running(&mut self) -> bool {
        self.mono.get() < RUN_MS
    }
}

/// S3 answering 200 with the body's MD5 as ETag, 200 ms after the request.
struct Bucket {
    mono: Rc<Cell<u64>>,
    out: Option<(u64, HttpRequest)>,
    stored: usize,
}

impl Link for Bucket {
    fn busy(&self) -> bool {
        self.out.is_some()
    }

    fn start(&mut self, request: HttpRequest) {
        self.out = Some((self.mono.get() + 200, request));
    }

    fn wait(&mut self, timeout: Duration) -> Option<Reply> {
        let now = self.mono.get();
        let until = now + u64::try_from(timeout.as_millis()).unwrap();
        match self.out.take() {
            Some((done, request)) if done <= until => {
                self.mono.set(done.max(now));
                self.stored += 1;
                let etag = format!("\"{}\"", md5_hex(&request.body));
                Some(Ok(HttpResponse {
                    status: 200,
                    headers: vec![("etag".into(), etag)],
                    body: vec![],
                }))
            }
            other => {
                self.out = other;
                self.mono.set(until);
                None
            }
        }
    }
}

/// Runs the loop in a fresh spool; returns (windows sealed, health rows, objects stored).
#[inline(never)]
fn node_loop() -> (usize, usize, usize) {
    let tmp = tempfile::tempdir().unwrap();
    // As the firmware configures it (firmware/esp32s3/src/main.rs).
    let config = example::device_station_s3(example::AWS_ENDPOINT, None);
    let mono = Rc::new(Cell::new(0));
    let mut device = Device {
        mono: mono.clone(),
        sealed: 0,
        health_rows: 0,
        errors: Vec::new(),
    };
    let mut bucket = Bucket {
        mono,
        out: None,
        stored: 0,
    };
    let mut node = Station::open(config, tmp.path()).unwrap();
    run_live(&mut node, &mut device, &mut bucket).unwrap();
    assert!(device.errors.is_empty(), "{:?}", device.errors);
    (device.sealed, device.health_rows, bucket.stored)
}

/// An address in the caller's frame: the stack pointer, near enough.
#[inline(never)]
fn stack_pointer() -> usize {
    let marker = 0u8;
    std::hint::black_box(&raw const marker).addr()
}

/// Fills `PAINTED` bytes below this frame with the pattern; returns the lowest address.
#[inline(never)]
fn paint() -> usize {
    let top = stack_pointer() - 1024; // this frame and paint's callees stay clear
    let low = top - PAINTED;
    for addr in low..top {
        // SAFETY: below the stack pointer, inside the thread's 1 MiB stack (the loop
        // has not run yet: nothing lives there).
        unsafe { std::ptr::with_exposed_provenance_mut::<u8>(addr).write_volatile(PATTERN) };
    }
    low
}

/// The loop's peak stack in bytes, measured on a thread with a 1 MiB stack.
fn measure() -> usize {
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(|| {
            let base = stack_pointer();
            let low = paint();
            std::hint::black_box(node_loop());
            let deepest = (low..base)
                // SAFETY: the painted range, in this thread's stack, below live frames.
                .find(|&a| unsafe {
                    std::ptr::with_exposed_provenance::<u8>(a).read_volatile() != PATTERN
                })
                .unwrap_or(base);
            base - deepest
        })
        .unwrap()
        .join()
        .unwrap()
}

fn main() {
    let optimised = !cfg!(debug_assertions);
    let device_like = optimised && usize::BITS == 32;
    let peak = measure();
    println!(
        "loop_stack: run_live, 2 windows sealed + 2 health rows + uploads: peak stack {peak} B \
         ({}-bit, {}); LOOP_STACK {LOOP_STACK} B = {:.2}x that",
        usize::BITS,
        if optimised {
            "optimised"
        } else {
            "unoptimised"
        },
        LOOP_STACK as f64 / peak as f64,
    );
    if !device_like {
        println!("loop_stack: not a 32-bit optimised build, only measured (see the file's doc)");
        return;
    }
    let size = LOOP_STACK * 2 / 3;
    let (sealed, health_rows, stored) = std::thread::Builder::new()
        .name("loop-stack".into())
        .stack_size(size)
        .spawn(node_loop)
        .unwrap()
        .join()
        .unwrap();
    println!(
        "loop_stack: on a {size} B stack (LOOP_STACK / 1.5): {sealed} windows sealed, \
         {health_rows} health rows, {stored} objects stored"
    );
    assert_eq!((sealed, health_rows), (2, 2));
    assert_eq!(stored, 4, "two data files and two health rows uploaded");
    // Linux rounds a small thread stack up (to pages, and to glibc's minimum with its
    // guard page and static TLS), so the run above is lenient by up to a few KiB: the
    // measured peak is the exact check.
    assert!(
        peak * 3 / 2 <= LOOP_STACK,
        "the loop's peak stack {peak} B leaves less than 50% margin in LOOP_STACK"
    );
}
