//! A counting global allocator: live bytes, peak and number of allocations, for the
//! encoder benchmark and `LAKENODE_HEAP_REPORT`.
//!
//! It counts only once [`enable`]d (the binary does so first thing for `bench` and when
//! `LAKENODE_HEAP_REPORT` is set): its contended atomic updates on every allocation were a
//! fifth of a 1,000-station report's CPU, paid by every command for nothing.
//!
//! Written here rather than taken from a crate because it is thirty lines over
//! `std::alloc::System` and the maintained profilers (dhat, heaptrack) measure whole
//! runs, while the benchmark needs the peak of one encode call at a time.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, AtomicUsize, Ordering};

/// The allocator; install it with `#[global_allocator]` in the binary.
#[derive(Debug, Default)]
pub struct CountingAlloc;

static ENABLED: AtomicBool = AtomicBool::new(false);
// Signed: a block allocated before `enable` and freed after it takes its size off.
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Starts counting (from zero live bytes); call it first thing in `main`.
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

fn counting() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

#[allow(clippy::cast_possible_wrap)] // no allocation exceeds isize::MAX bytes
const fn signed(size: usize) -> isize {
    size as isize
}

#[allow(unsafe_code)] // GlobalAlloc is an unsafe trait; this only forwards to System.
// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counters are plain atomics and never affect the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() && counting() {
            grow(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        if counting() {
            CURRENT.fetch_sub(signed(layout.size()), Ordering::Relaxed);
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() && counting() {
            grow(layout.size());
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() && counting() {
            CURRENT.fetch_sub(signed(layout.size()), Ordering::Relaxed);
            grow(new_size);
        }
        p
    }
}

fn grow(size: usize) {
    let now = CURRENT.fetch_add(signed(size), Ordering::Relaxed) + signed(size);
    PEAK.fetch_max(now, Ordering::Relaxed);
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
}

/// A snapshot of the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeapStats {
    /// Bytes allocated and not yet freed.
    pub current: usize,
    /// Highest `current` since the last [`reset_peak`].
    pub peak: usize,
    /// Allocations (including reallocations) since start.
    pub allocations: usize,
}

/// Current counters (all zero unless [`CountingAlloc`] is the global allocator and
/// [`enable`]d).
#[must_use]
pub fn stats() -> HeapStats {
    let unsigned = |n: isize| usize::try_from(n).unwrap_or(0);
    HeapStats {
        current: unsigned(CURRENT.load(Ordering::Relaxed)),
        peak: unsigned(PEAK.load(Ordering::Relaxed)),
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
    }
}

/// Starts a new peak measurement from the current live bytes.
pub fn reset_peak() {
    PEAK.store(CURRENT.load(Ordering::Relaxed), Ordering::Relaxed);
}

/// Whether the counting allocator is installed and enabled (something has been counted).
#[must_use]
pub fn is_counting() -> bool {
    ALLOCATIONS.load(Ordering::Relaxed) > 0
}
