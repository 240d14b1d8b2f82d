//! The encoder's peak heap for one 15-minute window (178 rows, compat and compact
//! profiles), counted by a global allocator as `lakenode bench` counts it: bytes live
//! during the encode above the level before it, the output going to a counting sink.
//! Its own binary (no test harness) so that nothing else allocates meanwhile:
//! `cargo test -p lakenode --test encode_heap`.
#![allow(unsafe_code, clippy::unwrap_used, missing_docs)] // a counting allocator; a failed unwrap is a failed test

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use lakenode::encode::{Encoder, FileMetadata, WriterProfile};
use lakenode::layout::StationId;
use lakenode::sample::Sample;
use lakenode::schema::Schema;
use lakenode::sim::Simulator;
use lakenode::window::{Window, WindowSpec};

/// The budget for one window's encode (docs/encoding.md).
const BUDGET: usize = 28 * 1024;
/// 2026-01-01T00:00:00Z.
const START_MS: i64 = 1_767_225_600_000;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE.fetch_sub(layout.size(), Relaxed);
            grew(new_size);
        }
        p
    }
}

fn grew(size: usize) {
    let live = LIVE.fetch_add(size, Relaxed) + size;
    PEAK.fetch_max(live, Relaxed);
}

#[global_allocator]
static HEAP: Counting = Counting;

/// Counts bytes only, so the output costs no heap.
struct Sink(u64);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    let sim = Simulator::new(42);
    let samples: Vec<Sample> = (0..178)
        .map(|i| sim.sample_at(START_MS + i * 5_000))
        .collect();
    let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").unwrap();
    let window = Window {
        start_ms: START_MS,
        end_ms: START_MS + 900_000,
        samples: Vec::new(),
    };
    let meta = FileMetadata::new(&station, WindowSpec::default(), &window);
    let mut over = Vec::new();
    for profile in [WriterProfile::Compat, WriterProfile::Compact] {
        let encoder = Encoder::new(&Schema::default(), profile).unwrap();
        let before = LIVE.load(Relaxed);
        PEAK.store(before, Relaxed);
        let sink = encoder.encode_to(&samples, Some(&meta), Sink(0)).unwrap();
        let peak = PEAK.load(Relaxed) - before;
        println!(
            "encode_heap: {} profile, 178 rows, {} bytes: peak heap {peak} B (budget {BUDGET})",
            profile.name(),
            sink.0
        );
        if peak > BUDGET {
            over.push(profile.name());
        }
    }
    assert!(over.is_empty(), "over the heap budget: {over:?}");
}
