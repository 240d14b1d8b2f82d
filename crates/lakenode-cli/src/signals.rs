//! SIGTERM and SIGINT as a flag: long commands check it between steps and stop cleanly
//! (`run` after the current sample, `compact` and `report` after the current station-day
//! or at once in a request's retries (exit 4), `encode`
//! removing its temporary files) instead of dying mid-write.
//!
//! ```
//! let stop = lakenode_cli::signals::stop_flag();
//! assert!(!stop.load(std::sync::atomic::Ordering::Relaxed));
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

/// The process's stop flag, set by SIGTERM or SIGINT (registered on first use).
pub fn stop_flag() -> Arc<AtomicBool> {
    static FLAG: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    Arc::clone(FLAG.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        #[cfg(unix)]
        for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            // A second signal while stopping ends the process at once, as usual.
            let _ = signal_hook::flag::register_conditional_shutdown(signal, 1, Arc::clone(&flag));
            let _ = signal_hook::flag::register(signal, Arc::clone(&flag));
        }
        flag
    }))
}

/// Whether a stop was asked for.
pub fn stopping() -> bool {
    stop_flag().load(Ordering::Relaxed)
}
