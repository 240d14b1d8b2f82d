//! Retries of a bucket lake's requests ([`crate::lake::S3Lake`]).
//!
//! Why: a compaction or a report makes hundreds of requests, and a bucket answers some
//! of them `503 SlowDown` or `500 InternalError`, or drops the connection; without
//! retries the first one ended the run. The decision is the station's own
//! ([`lakenode::schedule::RetryPolicy::decide`]: bounded, jittered exponential backoff,
//! quick resends after `BadDigest`), fed with the reply classified as the station
//! classifies it ([`fault_of`]). What differs is the bound: a station retries a file
//! until its run gives up, a lake tool retries each request at most
//! [`RetryBudget::attempts`] times within [`RetryBudget::per_request`], then stops with
//! an error that says how many attempts were made. Refusals (403 ...) and rejections are
//! never retried: the caller reads the reply. A stop flag (set by SIGTERM or Ctrl-C)
//! ends the retries: the wait between two attempts wakes within [`STOP_POLL`] and the
//! request fails with [`Error::Stopped`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lakenode::s3::{S3Failure, check_response};
use lakenode::schedule::{Decision, Fault, RetryPolicy};
use lakenode::transport::{HttpResponse, TransportError};

use crate::error::Error;

/// How far one request is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryBudget {
    /// Most attempts of one request (the first included).
    pub attempts: u32,
    /// Longest time from a request's first attempt to its last.
    pub per_request: Duration,
}

impl Default for RetryBudget {
    /// 8 attempts within 2 minutes: with the station's 1 s doubling backoff, about a
    /// minute of waiting, long enough for a bucket's throttling to pass.
    fn default() -> Self {
        Self {
            attempts: 8,
            per_request: Duration::from_secs(120),
        }
    }
}

/// The schedule's view of an S3 error reply, as the station sees it: the reply side's
/// own classification ([`S3Failure::fault`]). The station may make a clock correction of
/// it; a lake tool signs with the system clock, so a skewed clock is retried like any
/// transient failure, as the station does when it cannot correct. The one place a
/// reply becomes a [`Fault`] here.
#[must_use]
pub const fn fault_of(failure: &S3Failure) -> Fault {
    failure.fault
}

/// The fault of one key's `<Error>` in a `DeleteObjects` reply (S3 gives a code, no
/// status): the transient codes of S3's error table are retried, any other refuses.
#[must_use]
pub fn key_fault(code: &str) -> Fault {
    match code {
        "SlowDown"
        | "RequestTimeout"
        | "InternalError"
        | "ServiceUnavailable"
        | "Throttling"
        | "RequestLimitExceeded" => Fault::Transient,
        _ => Fault::Refused,
    }
}

/// How often a retry's wait looks at the stop flag. Polled, not woken: a signal handler
/// may only set a flag, and 50 ms is soon enough for a person or systemd.
pub const STOP_POLL: Duration = Duration::from_millis(50);

/// What an attempt's reply means for the retry loop.
pub enum Verdict {
    /// A reply to hand to the caller: a success, or a failure retrying cannot change
    /// (404, 409, 412, a refusal).
    Done(HttpResponse),
    /// A failure worth another attempt.
    Retry {
        /// Its fault.
        fault: Fault,
        /// How long the server asked us to wait.
        retry_after: Option<Duration>,
        /// Why, for messages.
        reason: String,
        /// Whether the request may have been carried out anyway (the connection broke
        /// after it was sent, or a 5xx): a conditional write must look before it
        /// writes again.
        uncertain: bool,
    },
    /// The request could not even be sent (refused by the transport): give up now.
    Stop(String),
}

/// Classifies one attempt's reply.
#[must_use]
pub fn verdict(reply: Result<HttpResponse, TransportError>) -> Verdict {
    match reply {
        Ok(response) => match check_response(&response) {
            Ok(()) => Verdict::Done(response),
            Err(f) => match fault_of(&f) {
                fault @ (Fault::Transient | Fault::BadDigest | Fault::ClockCorrected) => {
                    Verdict::Retry {
                        fault,
                        retry_after: f.retry_after,
                        uncertain: f.status >= 500,
                        reason: f.to_string(),
                    }
                }
                Fault::Refused | Fault::Rejected => Verdict::Done(response),
            },
        },
        Err(e @ TransportError::Refused(_)) => Verdict::Stop(e.to_string()),
        Err(e) => Verdict::Retry {
            fault: Fault::Transient,
            retry_after: None,
            // A connection that could not be opened sent nothing.
            uncertain: !matches!(e, TransportError::Connect(_)),
            reason: e.to_string(),
        },
    }
}

/// The attempts of one request: counts them, and waits as the policy decides.
#[derive(Debug)]
pub struct Attempts {
    policy: RetryPolicy,
    budget: RetryBudget,
    started: Instant,
    /// Attempts made so far.
    pub made: u32,
    quick: u32,
    /// An attempt so far may have been carried out although it failed.
    pub uncertain: bool,
    sleep: fn(Duration),
    stop: Option<Arc<AtomicBool>>,
}

impl Attempts {
    /// The first attempt is about to be made.
    #[must_use]
    pub fn new(policy: RetryPolicy, budget: RetryBudget, sleep: fn(Duration)) -> Self {
        Self {
            policy,
            budget,
            started: Instant::now(),
            made: 1,
            quick: 0,
            uncertain: false,
            sleep,
            stop: None,
        }
    }

    /// Stops retrying once `stop` is set (a signal): [`Attempts::wait`] then fails with
    /// [`Error::Stopped`], at once or as soon as its wait notices.
    #[must_use]
    pub fn with_stop(mut self, stop: Option<Arc<AtomicBool>>) -> Self {
        self.stop = stop;
        self
    }

    fn stopped(&self) -> bool {
        self.stop
            .as_ref()
            .is_some_and(|s| s.load(Ordering::Relaxed))
    }

    fn stopped_error(&self, what: &str, reason: &str) -> Error {
        Error::Stopped(format!(
            "{what}: stopped by a signal while retrying ({reason}; {} attempt(s) made)",
            self.made
        ))
    }

    /// After attempt [`Attempts::made`] failed with `fault`: waits until the next may
    /// go out and counts it, or gives up.
    ///
    /// # Errors
    /// [`Error::Request`] for `what`, naming the last failure and the attempts made, when
    /// the budget is spent or the policy gives up; [`Error::Stopped`] when the stop flag
    /// is set before or during the wait.
    pub fn wait(
        &mut self,
        what: &str,
        fault: Fault,
        retry_after: Option<Duration>,
        reason: &str,
    ) -> Result<(), Error> {
        let now_ms = millis(self.started.elapsed());
        let deadline = millis(self.budget.per_request);
        let n = if matches!(fault, Fault::BadDigest | Fault::ClockCorrected) {
            self.quick += 1;
            self.quick
        } else {
            self.quick = 0;
            self.made
        };
        if self.stopped() {
            return Err(self.stopped_error(what, reason));
        }
        if self.made >= self.budget.attempts {
            return Err(self.gave_up(what, reason));
        }
        let at = match self.policy.decide(fault, n, now_ms, Some(deadline)) {
            Decision::ResendNow => now_ms,
            // A server that says when to come back is not asked sooner; the request's
            // deadline still holds.
            Decision::RetryAt(at) => retry_after.map_or(at, |d| {
                at.max(now_ms.saturating_add(millis(d)).min(deadline))
            }),
            Decision::GiveUp | Decision::Quarantine | Decision::PauseUntil(_) => {
                return Err(self.gave_up(what, reason));
            }
        };
        let pause = Duration::from_millis(at.saturating_sub(now_ms));
        tracing::warn!(
            "{what}: {reason}; attempt {} of {} failed, retrying in {:.1} s",
            self.made,
            self.budget.attempts,
            pause.as_secs_f64()
        );
        if self.stop.is_none() {
            (self.sleep)(pause);
        } else {
            // In slices, counted rather than timed so that a test's sleep that does
            // not sleep still ends.
            let mut left = pause;
            while !left.is_zero() {
                if self.stopped() {
                    return Err(self.stopped_error(what, reason));
                }
                let slice = left.min(STOP_POLL);
                (self.sleep)(slice);
                left -= slice;
            }
            if self.stopped() {
                return Err(self.stopped_error(what, reason));
            }
        }
        self.made += 1;
        Ok(())
    }

    /// The error of a request that was retried in vain.
    #[must_use]
    pub fn gave_up(&self, what: &str, reason: &str) -> Error {
        Error::request(
            what,
            format!(
                "{reason} (gave up after {} attempt(s) in {:.1} s)",
                self.made,
                self.started.elapsed().as_secs_f64()
            ),
        )
    }

    /// The error of a failure retrying cannot change, saying how many attempts led to
    /// it when there were several.
    #[must_use]
    pub fn failed(&self, what: &str, failure: impl std::fmt::Display) -> Error {
        if self.made > 1 {
            Error::request(what, format!("{failure} (at attempt {})", self.made))
        } else {
            Error::request(what, failure)
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, code: &str) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status,
            headers: vec![("retry-after".into(), "3".into())],
            body: format!("<Error><Code>{code}</Code><Message>m</Message></Error>").into_bytes(),
        })
    }

    #[test]
    fn transient_replies_and_broken_connections_are_retried_refusals_are_not() {
        for (r, retried, uncertain) in [
            (reply(503, "SlowDown"), true, true),
            (reply(500, "InternalError"), true, true),
            (reply(400, "BadDigest"), true, false),
            (Err(TransportError::Io("reset".into())), true, true),
            (Err(TransportError::Timeout("slow".into())), true, true),
            (Err(TransportError::Connect("refused".into())), true, false),
            (reply(403, "AccessDenied"), false, false),
            (reply(404, "NoSuchKey"), false, false),
            (reply(412, "PreconditionFailed"), false, false),
        ] {
            match verdict(r) {
                Verdict::Retry { uncertain: u, .. } => {
                    assert!(retried);
                    assert_eq!(u, uncertain);
                }
                Verdict::Done(_) => assert!(!retried),
                Verdict::Stop(why) => panic!("stopped: {why}"),
            }
        }
        assert!(matches!(
            verdict(Err(TransportError::Refused("invalid".into()))),
            Verdict::Stop(_)
        ));
        assert_eq!(key_fault("InternalError"), Fault::Transient);
        assert_eq!(key_fault("AccessDenied"), Fault::Refused);
    }

    fn no_sleep(_: Duration) {}

    #[test]
    fn the_budget_bounds_the_attempts_and_the_error_counts_them() {
        let budget = RetryBudget {
            attempts: 4,
            per_request: Duration::from_secs(600),
        };
        let mut a = Attempts::new(RetryPolicy::new(1), budget, no_sleep);
        for _ in 0..3 {
            a.wait("downloading k", Fault::Transient, None, "S3 answered 500")
                .expect("within the budget");
        }
        assert_eq!(a.made, 4);
        let e = a
            .wait("downloading k", Fault::Transient, None, "S3 answered 500")
            .expect_err("spent");
        let text = e.to_string();
        assert!(
            text.starts_with("downloading k: S3 answered 500 (gave up after 4 attempt(s) in "),
            "{text}"
        );
    }

    #[test]
    fn a_stop_ends_the_retries_during_the_wait() {
        static STOP: std::sync::OnceLock<Arc<AtomicBool>> = std::sync::OnceLock::new();
        static SLICES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        fn slice(d: Duration) {
            assert!(d <= STOP_POLL, "{d:?}");
            if SLICES.fetch_add(1, Ordering::Relaxed) == 3 {
                STOP.get().expect("set").store(true, Ordering::Relaxed);
            }
        }
        let stop = Arc::clone(STOP.get_or_init(|| Arc::new(AtomicBool::new(false))));
        let budget = RetryBudget::default();
        let mut a = Attempts::new(RetryPolicy::new(1), budget, slice).with_stop(Some(stop));
        let e = a
            .wait(
                "listing",
                Fault::Transient,
                Some(Duration::from_secs(30)),
                "503",
            )
            .expect_err("stopped");
        assert!(matches!(e, Error::Stopped(_)), "{e}");
        assert_eq!(SLICES.load(Ordering::Relaxed), 4, "woke at the next slice");
        assert_eq!(
            e.to_string(),
            "listing: stopped by a signal while retrying (503; 1 attempt(s) made)"
        );
        // Once stopped, no retry is even waited for.
        let e = a
            .wait("listing", Fault::Transient, None, "503")
            .expect_err("stopped");
        assert!(matches!(e, Error::Stopped(_)));
        assert_eq!(SLICES.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn retry_after_is_honoured_within_the_deadline() {
        static SLEPT: std::sync::Mutex<Vec<Duration>> = std::sync::Mutex::new(Vec::new());
        fn record(d: Duration) {
            SLEPT.lock().expect("lock").push(d);
        }
        let budget = RetryBudget {
            attempts: 8,
            per_request: Duration::from_secs(10),
        };
        let mut a = Attempts::new(RetryPolicy::new(1), budget, record);
        a.wait("w", Fault::Transient, Some(Duration::from_secs(5)), "503")
            .expect("retry");
        a.wait(
            "w",
            Fault::Transient,
            Some(Duration::from_secs(3600)),
            "503",
        )
        .expect("retry");
        let slept = SLEPT.lock().expect("lock").clone();
        assert!(slept[0] >= Duration::from_millis(4900), "{slept:?}");
        // Bounded by the request's deadline (10 s from the first attempt).
        assert!(slept[1] <= Duration::from_secs(10), "{slept:?}");
        assert!(slept[1] >= Duration::from_millis(9000), "{slept:?}");
    }
}
