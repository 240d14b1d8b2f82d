//! Progress of a long command (`compact`, `report`, a fleet `demo`): a bar with the
//! total and an ETA on a terminal, a `progress:` log line every few seconds otherwise.
//!
//! Why two ways: a bar redraws itself with control characters that a log file, a pipe
//! or journald would keep as garbage, and a line per step floods them. On a terminal
//! (stderr, with text logs) [`indicatif`] draws the bar and log lines are printed above
//! it ([`suspend`]); elsewhere the same figures go through `tracing`, in the run's log
//! format, with `done`, `total` and `eta_s` as fields.

use std::io::IsTerminal as _;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// The bars on stderr, once one was drawn.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Runs `write` with any bar hidden (for a log line written meanwhile).
pub(crate) fn suspend<R>(write: impl FnOnce() -> R) -> R {
    match BARS.get() {
        Some(bars) => bars.suspend(write),
        None => write(),
    }
}

/// Whether progress is drawn as a bar: stderr is a terminal and logs are text.
fn bars_wanted() -> bool {
    std::io::stderr().is_terminal() && crate::logging::format() == crate::logging::LogFormat::Text
}

/// The progress of one task of known (or soon known) size.
#[derive(Debug)]
pub struct Meter {
    unit: &'static str,
    total: u64,
    done: u64,
    started: Instant,
    bar: Option<ProgressBar>,
    last_line: Instant,
    every: Duration,
}

impl Meter {
    /// A meter counting `unit`s (`station-days`, `files`) out of `total`, logging a line
    /// at most every `every` when no bar is drawn.
    #[must_use]
    pub fn new(unit: &'static str, total: u64, every: Duration) -> Self {
        // Test hook: a line at every step, to see them in a short test run.
        let every = if cfg!(debug_assertions)
            && std::env::var_os("LAKENODE_TEST_PROGRESS_EVERY_STEP").is_some()
        {
            Duration::ZERO
        } else {
            every
        };
        let bar = bars_wanted().then(|| {
            let bars =
                BARS.get_or_init(|| MultiProgress::with_draw_target(ProgressDrawTarget::stderr()));
            let bar = bars.add(ProgressBar::new(total));
            if let Ok(style) = ProgressStyle::with_template(
                "{wide_bar} {pos}/{len} {prefix} ({percent}%) ETA {eta} {msg}",
            ) {
                bar.set_style(style);
            }
            bar.set_prefix(unit);
            bar
        });
        let now = Instant::now();
        Self {
            unit,
            total,
            done: 0,
            started: now,
            bar,
            last_line: now,
            every,
        }
    }

    /// The total, once known (a listing finished).
    pub fn set_total(&mut self, total: u64) {
        if total != self.total {
            self.total = total;
            if let Some(bar) = &self.bar {
                bar.set_length(total);
            }
        }
    }

    /// `done` units are done; `detail` (`30 files into 12`) is shown beside the count.
    pub fn set(&mut self, done: u64, detail: impl FnOnce() -> String) {
        self.done = done;
        if let Some(bar) = &self.bar {
            bar.set_position(done);
            bar.set_message(detail());
            return;
        }
        if self.last_line.elapsed() < self.every {
            return;
        }
        self.last_line = Instant::now();
        let eta = self.eta();
        let eta_s = eta.map(|e| e.as_secs());
        #[allow(clippy::cast_precision_loss)]
        let pct = done as f64 * 100.0 / self.total.max(1) as f64;
        let mut detail = detail();
        if !detail.is_empty() {
            detail.insert_str(0, ", ");
        }
        tracing::info!(
            done,
            total = self.total,
            unit = self.unit,
            eta_s,
            "progress: {done}/{} {} ({pct:.0}%){detail}, ETA {}",
            self.total,
            self.unit,
            eta.map_or_else(|| "unknown".to_owned(), show)
        );
    }

    /// The time left at the rate so far.
    fn eta(&self) -> Option<Duration> {
        if self.done == 0 || self.done > self.total {
            return None;
        }
        let per_unit = self.started.elapsed().as_secs_f64() / self.done as f64;
        #[allow(clippy::cast_precision_loss)]
        let left = (self.total - self.done) as f64 * per_unit;
        Duration::try_from_secs_f64(left).ok()
    }
}

impl Drop for Meter {
    fn drop(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
            if let Some(bars) = BARS.get() {
                bars.remove(&bar);
            }
        }
    }
}

/// `1 h 05 min`, `3 min 20 s`, `12 s`.
fn show(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min {:02} s", s / 60, s % 60),
        _ => format!("{} h {:02} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_eta_is_the_rate_so_far_times_what_is_left() {
        let mut m = Meter::new("files", 10, Duration::from_secs(3600));
        assert_eq!(m.eta(), None);
        m.started = Instant::now()
            .checked_sub(Duration::from_secs(4))
            .expect("4 s ago");
        m.set(2, String::new);
        let eta = m.eta().expect("an eta").as_secs_f64();
        assert!((15.9..17.0).contains(&eta), "{eta}");
        m.set(10, String::new);
        assert_eq!(m.eta(), Some(Duration::ZERO));
    }

    #[test]
    fn durations_read_as_hours_minutes_seconds() {
        assert_eq!(show(Duration::from_secs(12)), "12 s");
        assert_eq!(show(Duration::from_secs(200)), "3 min 20 s");
        assert_eq!(show(Duration::from_secs(3900)), "1 h 05 min");
    }
}
