//! The upload state machine: one request in flight at a time, the oldest data file
//! first and health rows when no data file waits; replies turned into the schedule's
//! faults ([`RetryPolicy`] decides when to go on), refusals pausing the tree of the
//! refused key, clock corrections from S3's `Date`, a finite run's give-up rule.
//!
//! Kept apart from recording so that its state (what is in flight, the head of the
//! queue and its failed attempts, the pauses, the cursors over the spool) is one named
//! struct the [`Station`](super::Station) owns, and a reader of the upload rules does
//! not wade through sealing and dating.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use jiff::SignedDuration;

use crate::clock::{bounded_correction, is_plausible};
use crate::health::Tree;
use crate::layout::{Prefix, StationId, own_key_tree};
use crate::recorder::Recorder;
use crate::s3::{PutObject, PutOutcome, PutReply, S3Client, S3Failure};
use crate::schedule::{Decision, Fault, ResendStreak, RetryPolicy};
use crate::transport::{HttpRequest, HttpResponse, TransportError};
use crate::{Error, Result};

use super::batch::{Batching, Gate};
use super::{Counters, Delivery, Event, Now};

/// What the uploader works on, lent by the station for one call.
pub(super) struct Ctx<'a> {
    /// The spool and the recording configuration (prefix, station).
    pub(super) recorder: &'a mut Recorder,
    /// The station's counters.
    pub(super) counters: &'a mut Counters,
    /// The station's events.
    pub(super) events: &'a mut VecDeque<Event>,
}

/// A refusal's pause.
#[derive(Debug, Clone)]
pub(super) struct Pause {
    /// Monotonic ms.
    pub(super) until: u64,
    /// The key refused.
    pub(super) key: String,
    /// The refusal.
    pub(super) failure: S3Failure,
}

/// The two pauses a refusal can set.
#[derive(Debug, Default)]
pub(super) struct Pauses {
    /// After a data file's refusal: every upload pauses (the credentials or the bucket
    /// are likely wrong, and health rows would be refused too).
    pub(super) all: Option<Pause>,
    /// After a health file's refusal: health rows pause, data files keep going.
    pub(super) health: Option<Pause>,
}

/// The request out.
#[derive(Debug)]
struct InFlight {
    /// Spool id.
    id: u64,
    key: String,
    bytes: usize,
    /// How to read its reply (the body's MD5 against the `ETag`).
    reply: PutReply,
}

/// The file at the head of the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Head {
    /// Spool id.
    id: u64,
    /// Its failed attempts so far.
    failed: u32,
}

/// What the uploader knows of the spool, so that the loop does not list or read it on
/// every turn.
#[derive(Debug)]
struct Backlog {
    /// Whether the spool may hold files: false once a listing found it empty, true again
    /// when a file is spooled.
    maybe_pending: bool,
    /// Whether data files may be waiting: false once a scan of the spool found only
    /// health rows, true again when a window is sealed.
    data_waiting: bool,
    /// Every pending spool id below this holds a health row (found by a scan): the
    /// next scan for the oldest data file starts here, so each entry's key is read once.
    health_below: u64,
    /// Entries that could neither be read nor moved to quarantine: skipped.
    unreadable: BTreeSet<u64>,
}

/// A finite run's give-up rule: no file confirmed for `after` means giving up.
#[derive(Debug, Clone, Copy)]
struct GiveUpRule {
    after: Duration,
    /// Monotonic ms.
    deadline_ms: u64,
}

impl GiveUpRule {
    fn new(after: Duration, now: &Now) -> Self {
        Self {
            after,
            deadline_ms: now.mono_ms.saturating_add(ms(after)),
        }
    }

    /// A file was confirmed: the clock starts again.
    fn restart(&mut self, now: &Now) {
        *self = Self::new(self.after, now);
    }
}

/// The upload state; see the module docs.
#[derive(Debug)]
pub(super) struct Uploader {
    client: S3Client,
    policy: RetryPolicy,
    verify_etag: bool,
    /// The offset applied to the wall clock when signing, learnt from S3's `Date`.
    clock_offset: SignedDuration,
    in_flight: Option<InFlight>,
    head: Option<Head>,
    next_attempt_ms: u64,
    backlog: Backlog,
    pub(super) pauses: Pauses,
    give_up: Option<GiveUpRule>,
    gave_up: Option<String>,
    warned_unconfirmed: bool,
    streak: ResendStreak,
    last_failure: Option<String>,
    batch: Batching,
    /// Every prefix the spool wrote to, the current one first: a file waits in the
    /// spool under the prefix it was sealed for.
    prefixes: Vec<Option<Prefix>>,
}

impl Uploader {
    pub(super) fn new(
        client: S3Client,
        policy: RetryPolicy,
        verify_etag: bool,
        batch: Batching,
    ) -> Self {
        Self {
            client,
            policy,
            verify_etag,
            clock_offset: SignedDuration::ZERO,
            in_flight: None,
            head: None,
            next_attempt_ms: 0,
            backlog: Backlog {
                maybe_pending: true,
                data_waiting: true,
                health_below: 0,
                unreadable: BTreeSet::new(),
            },
            pauses: Pauses::default(),
            give_up: None,
            gave_up: None,
            warned_unconfirmed: false,
            streak: ResendStreak::default(),
            last_failure: None,
            batch,
            prefixes: vec![None],
        }
    }

    /// Sets the prefixes the spool has written to, the current one first.
    pub(super) fn set_prefixes(&mut self, prefixes: Vec<Option<Prefix>>) {
        self.prefixes = prefixes;
    }

    /// The key's tree if it is one this station's recorder builds under any prefix the
    /// spool wrote to (a run with another `--prefix` leaves files sealed for the earlier
    /// one; they go there); else why not, for the first (current) prefix.
    fn own_tree(&self, station: &StationId, key: &str) -> std::result::Result<Tree, &'static str> {
        let mut first = None;
        for prefix in &self.prefixes {
            match own_key_tree(prefix.as_ref(), station, key) {
                Ok(tree) => return Ok(tree),
                Err(why) => {
                    first.get_or_insert(why);
                }
            }
        }
        Err(first.unwrap_or("not in this station's data or health tree"))
    }

    /// A file was spooled: a sealed window (`data`) or a health row.
    pub(super) const fn spooled(&mut self, data: bool) {
        self.backlog.maybe_pending = true;
        if data {
            self.backlog.data_waiting = true;
        }
    }

    /// From now on, give up once no file has been confirmed for `after`.
    pub(super) fn give_up_after(&mut self, now: &Now, after: Duration) {
        self.give_up = Some(GiveUpRule::new(after, now));
    }

    pub(super) const fn batches(&self) -> bool {
        self.batch.configured()
    }

    /// From now on, send what waits without waiting for a batch (the input ended, the
    /// node stops).
    pub(super) const fn send_all(&mut self) {
        self.batch.send_all();
    }

    /// Whether the link is wanted now: a request is out, a batch is open or due with
    /// files waiting, or the clock was never synchronised (always, without batching).
    pub(super) fn link_wanted(&mut self, now: &Now, pending_bytes: u64) -> bool {
        let Some(wall) = now.wall_ms() else {
            return true; // the first time sync needs the network
        };
        self.batch.arm(now.mono_ms, wall);
        self.in_flight.is_some()
            || self.batch.is_open()
            || (pending_bytes > 0 && self.batch.due(now.wall_ms(), pending_bytes))
    }

    pub(super) const fn clock_offset(&self) -> SignedDuration {
        self.clock_offset
    }

    pub(super) fn last_failure(&self) -> Option<&str> {
        self.last_failure.as_deref()
    }

    /// For a finite run past its deadline: stops waiting for a request still in flight
    /// 5 s after it (a stalled connection must not hold the run beyond `--give-up-after`)
    /// and gives up.
    /// Returns whether it gave up. The file stays in the spool.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub(super) fn give_up_if_overdue(&mut self, cx: &mut Ctx<'_>, now: &Now) -> Result<bool> {
        // The last attempt goes out at the deadline; it gets this long to be answered.
        const LAST_ANSWER: u64 = 5_000;
        let overdue = self
            .give_up
            .is_some_and(|rule| now.mono_ms >= rule.deadline_ms.saturating_add(LAST_ANSWER));
        // Without a request out, the schedule itself gives up (see `failed`).
        let Some(sent) = self
            .in_flight
            .take_if(|_| overdue && self.gave_up.is_none())
        else {
            return Ok(self.gave_up.is_some());
        };
        cx.recorder.spool_mut().pin(None);
        let last = format!("{}: no answer before the deadline", sent.key);
        cx.events.push_back(Event::GaveUp {
            pending: cx.recorder.spool().pending()?.len(),
            last: last.clone(),
        });
        self.gave_up = Some(last);
        Ok(true)
    }

    /// Where the uploads stand.
    #[must_use]
    pub(super) fn delivery(&self) -> Delivery {
        if self.in_flight.is_some() {
            Delivery::InFlight
        } else if let Some(last) = &self.gave_up {
            Delivery::GaveUp { last: last.clone() }
        } else if let Some(p) = &self.pauses.all {
            Delivery::Paused {
                until: p.until,
                key: p.key.clone(),
                failure: p.failure.clone(),
                tree: Tree::Data,
            }
        } else if let Some(p) = self
            .pauses
            .health
            .as_ref()
            .filter(|_| !self.backlog.data_waiting)
        {
            Delivery::Paused {
                until: p.until,
                key: p.key.clone(),
                failure: p.failure.clone(),
                tree: Tree::Health,
            }
        } else if !self.batch.is_open() {
            Delivery::Waiting {
                next_at: self.batch.wake_at(),
            }
        } else {
            Delivery::Waiting {
                next_at: (self.head.is_some()).then_some(self.next_attempt_ms),
            }
        }
    }

    /// Whether the spool is empty and nothing is in flight.
    ///
    /// # Errors
    /// If the spool cannot be listed.
    pub(super) fn is_drained(&self, recorder: &Recorder) -> Result<bool> {
        Ok(self.in_flight.is_none() && recorder.spool().pending()?.is_empty())
    }

    /// The monotonic instant at which [`Station::poll`] may next hand out a request:
    /// the end of a pause or a retry delay. `None` while a request is in flight, after
    /// giving up, or when no file is waiting for a retry (the adapter polls after each
    /// sample anyway).
    #[must_use]
    pub(super) fn wake_at(&self) -> Option<u64> {
        if self.in_flight.is_some() || self.gave_up.is_some() {
            return None;
        }
        if let Some(p) = &self.pauses.all {
            return Some(p.until);
        }
        if !self.batch.is_open() {
            return self.batch.wake_at();
        }
        // A file waiting for its retry; otherwise the adapter polls after each sample.
        let retry = self.head.map(|_| self.next_attempt_ms);
        // Only health rows wait, paused.
        let health = self
            .pauses
            .health
            .as_ref()
            .filter(|_| !self.backlog.data_waiting)
            .map(|p| p.until);
        match (retry, health) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The request to send now, if one is due: the oldest spooled data file, else the
    /// oldest health row, signed at the wall clock plus the correction learnt from S3.
    /// `None` while a request is in flight, during a retry delay or a pause (of health
    /// rows only: while no data file waits), after giving up, before the clock is
    /// synchronised, or when the spool is empty.
    ///
    /// # Errors
    /// If the spool cannot be read (a damaged entry is quarantined, not an error).
    pub(super) fn poll(&mut self, cx: &mut Ctx<'_>, now: &Now) -> Result<Option<HttpRequest>> {
        if self.in_flight.is_some() || self.gave_up.is_some() {
            return Ok(None);
        }
        if self
            .pauses
            .all
            .as_ref()
            .is_some_and(|p| now.mono_ms >= p.until)
        {
            self.pauses.all = None;
        }
        if self
            .pauses
            .health
            .as_ref()
            .is_some_and(|p| now.mono_ms >= p.until)
        {
            self.pauses.health = None;
        }
        if self.pauses.all.is_some() || now.mono_ms < self.next_attempt_ms {
            return Ok(None);
        }
        let Some(wall) = now.wall.filter(|w| is_plausible(*w)) else {
            return Ok(None); // never sign with an unset clock
        };
        let wall_ms = wall.as_millisecond();
        let waiting = cx.recorder.spool().pending_bytes();
        match self.batch.gate(now.mono_ms, wall_ms, waiting) {
            Gate::Send => {}
            Gate::Hold => return Ok(None),
            Gate::Due => {
                let files = if waiting > 0 && self.backlog.maybe_pending {
                    cx.recorder.spool().pending()?.len()
                } else {
                    0
                };
                if files == 0 {
                    self.batch.close(now.mono_ms, wall_ms);
                    return Ok(None);
                }
                self.batch.open();
                cx.events.push_back(Event::BatchOpened { files });
            }
        }
        loop {
            let Some(id) = self.next_to_send(cx)? else {
                self.head = None;
                if let Some((sent, failed)) = self.batch.close(now.mono_ms, wall_ms) {
                    cx.events.push_back(Event::BatchClosed { sent, failed });
                }
                return Ok(None);
            };
            if self.head.is_none_or(|h| h.id != id) {
                self.head = Some(Head { id, failed: 0 });
            }
            let entry = match cx.recorder.spool().read(id) {
                Ok(entry) => entry,
                Err(Error::CorruptSpoolEntry { reason, path }) => {
                    self.quarantine(cx, id, &path.display().to_string(), &reason)?;
                    continue;
                }
                // Gone since the listing (the spool limit dropped it): list again.
                Err(Error::Spool { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    continue;
                }
                Err(e) => {
                    self.set_aside_unreadable(cx, id, &e);
                    continue;
                }
            };
            // Only keys this station's recorder builds are signed: a forged or stray
            // entry could otherwise write another station's tree, or (through dot
            // segments the HTTP client folds away) another bucket.
            let config = cx.recorder.config();
            if let Err(why) = self.own_tree(&config.station, &entry.key) {
                let key = entry.key.escape_debug().to_string();
                let reason = super::readmit::not_ours(&config.station, config.prefix.as_ref(), why);
                self.quarantine(cx, id, &key, &reason)?;
                continue;
            }
            // Nor bytes that are not a Parquet file: a forged entry must not replace an
            // object in the lake with anything readers cannot open.
            let framed = entry.body.len() >= 12
                && entry.body.starts_with(b"PAR1")
                && entry.body.ends_with(b"PAR1");
            if !framed {
                let key = entry.key.escape_debug().to_string();
                self.quarantine(
                    cx,
                    id,
                    &key,
                    "not a Parquet file (no PAR1 at its start and end)",
                )?;
                continue;
            }
            let signing_time = wall.saturating_add(self.clock_offset).unwrap_or(wall);
            let bytes = entry.body.len();
            let (request, reply) = PutObject::new(entry.key.as_str(), entry.body)
                .check_etag(self.verify_etag)
                .sign(&self.client, signing_time);
            cx.recorder.spool_mut().pin(Some(id));
            self.in_flight = Some(InFlight {
                id,
                key: entry.key,
                bytes,
                reply,
            });
            return Ok(Some(request));
        }
    }

    /// The spool id to send next: the oldest data file; else, unless health rows are
    /// paused, the oldest health row. Data goes first: it is what the lake is for, and
    /// a policy that refuses health rows must not hold it back.
    fn next_to_send(&mut self, cx: &mut Ctx<'_>) -> Result<Option<u64>> {
        if !self.backlog.maybe_pending {
            self.backlog.data_waiting = false;
            return Ok(None);
        }
        let pending = cx.recorder.spool().pending()?;
        if pending.is_empty() {
            self.backlog.maybe_pending = false;
            self.backlog.data_waiting = false;
            return Ok(None);
        }
        if self.backlog.data_waiting {
            let station = cx.recorder.config().station.clone();
            let from = self.backlog.health_below;
            for &id in pending
                .iter()
                .filter(|&&id| id >= from && !self.backlog.unreadable.contains(&id))
            {
                match cx.recorder.spool().read_key(id) {
                    Ok(key) if self.own_tree(&station, &key) == Ok(Tree::Health) => {
                        self.backlog.health_below = id + 1;
                    }
                    // A data file, or a damaged or unreadable one that the full read
                    // sets aside.
                    Ok(_) | Err(_) => return Ok(Some(id)),
                }
            }
            self.backlog.data_waiting = false;
        }
        if self.pauses.health.is_some() {
            return Ok(None);
        }
        Ok(pending
            .into_iter()
            .find(|id| !self.backlog.unreadable.contains(id)))
    }

    /// An entry that cannot be read (EACCES, EIO): moved to quarantine if it can be,
    /// else skipped from now on; one event and one count either way, and the other
    /// entries go on.
    fn set_aside_unreadable(&mut self, cx: &mut Ctx<'_>, id: u64, e: &Error) {
        let reason = format!("unreadable: {e}");
        let name = format!("spool entry {id:016}");
        if self.quarantine(cx, id, &name, &reason).is_err() {
            self.backlog.unreadable.insert(id);
            self.head = None;
            cx.counters.unreadable_files += 1;
            cx.events.push_back(Event::Error {
                message: format!(
                    "{name} is {reason}, and could not be moved to quarantine/; it is skipped until the node restarts"
                ),
            });
        }
    }

    fn quarantine(&mut self, cx: &mut Ctx<'_>, id: u64, key: &str, reason: &str) -> Result<()> {
        cx.recorder.spool_mut().quarantine(id, reason)?;
        cx.counters.quarantined_files += 1;
        self.head = None;
        cx.events.push_back(Event::Quarantined {
            key: key.to_owned(),
            reason: reason.to_owned(),
        });
        Ok(())
    }

    /// The reply to the request [`Station::poll`] handed out (or why none came).
    ///
    /// # Errors
    /// If the spool cannot be updated (the file then stays and is sent again).
    pub(super) fn on_reply(
        &mut self,
        cx: &mut Ctx<'_>,
        now: &Now,
        reply: std::result::Result<HttpResponse, TransportError>,
    ) -> Result<()> {
        let Some(sent) = self.in_flight.take() else {
            return Ok(()); // a reply nobody asked for
        };
        cx.recorder.spool_mut().pin(None);
        let failure = match reply.map(|r| (sent.reply.interpret(&r), r)) {
            Ok((PutOutcome::Stored { .. }, _)) => {
                let attempts = self.head.map_or(1, |h| h.failed + 1);
                cx.recorder.spool_mut().remove(sent.id)?;
                self.head = None;
                self.streak.reset();
                self.next_attempt_ms = now.mono_ms;
                cx.counters.uploaded_files += 1;
                self.batch.sent();
                cx.counters.uploaded_bytes += sent.bytes as u64;
                cx.counters.last_upload_ms = now.wall_ms().or(cx.counters.last_upload_ms);
                if let Some(rule) = &mut self.give_up {
                    rule.restart(now);
                }
                cx.events.push_back(Event::Uploaded {
                    key: sent.key,
                    bytes: sent.bytes,
                    attempts,
                });
                return Ok(());
            }
            Ok((PutOutcome::Failed(f), _)) => Failure::S3(f),
            Err(e) => Failure::Transport(e),
        };
        self.failed(cx, now, sent, failure)
    }

    fn failed(
        &mut self,
        cx: &mut Ctx<'_>,
        now: &Now,
        sent: InFlight,
        failure: Failure,
    ) -> Result<()> {
        cx.counters.upload_failures += 1;
        self.batch.failed();
        let attempt = match &mut self.head {
            Some(head) if head.id == sent.id => {
                head.failed += 1;
                head.failed
            }
            _ => {
                self.head = Some(Head {
                    id: sent.id,
                    failed: 1,
                });
                1
            }
        };
        let fault = match &failure {
            Failure::Transport(_) => Fault::Transient,
            Failure::S3(f) => self.classify(cx, now, f),
        };
        let reason = failure.to_string();
        self.last_failure = Some(format!("{}: {reason}", sent.key));
        let deadline = self.give_up.map(|rule| rule.deadline_ms);
        // Quick resends count their own streak (see `ResendStreak`).
        let (attempt, decision) =
            self.streak
                .decide(&self.policy, fault, attempt, now.mono_ms, deadline);
        match decision {
            Decision::RetryAt(at) => {
                // A server that says when to come back (503 SlowDown with Retry-After)
                // is not asked again sooner; a finite run's deadline still holds.
                let asked = match &failure {
                    Failure::S3(f) => f.retry_after.map(|d| now.mono_ms.saturating_add(ms(d))),
                    Failure::Transport(_) => None,
                };
                let at = match (asked, deadline) {
                    (Some(asked), Some(deadline)) => at.max(asked.min(deadline)),
                    (Some(asked), None) => at.max(asked),
                    (None, _) => at,
                };
                self.next_attempt_ms = at;
                cx.counters.retries += 1;
                cx.events.push_back(Event::Retrying {
                    key: sent.key,
                    attempt,
                    after: Duration::from_millis(at.saturating_sub(now.mono_ms)),
                    reason,
                });
            }
            Decision::ResendNow => {
                cx.counters.retries += 1;
                self.next_attempt_ms = now.mono_ms;
            }
            Decision::Quarantine => self.quarantine(cx, sent.id, &sent.key, &reason)?,
            Decision::PauseUntil(until) => {
                // Only S3 replies are refusals; a transport error never gets here.
                if let Failure::S3(f) = failure {
                    let station = &cx.recorder.config().station;
                    let tree = self.own_tree(station, &sent.key).unwrap_or(Tree::Data);
                    cx.counters.refusals += 1;
                    cx.events.push_back(Event::Paused {
                        key: sent.key.clone(),
                        failure: f.clone(),
                        pause: Duration::from_millis(until.saturating_sub(now.mono_ms)),
                        tree,
                    });
                    let pause = Pause {
                        until,
                        key: sent.key,
                        failure: f,
                    };
                    match tree {
                        Tree::Data => self.pauses.all = Some(pause),
                        Tree::Health => {
                            // Data files go on; none of them waits for this row's retry.
                            self.head = None;
                            self.pauses.health = Some(pause);
                        }
                    }
                } else {
                    self.next_attempt_ms = until;
                }
            }
            Decision::GiveUp => {
                let last = format!("{}: {reason}", sent.key);
                cx.events.push_back(Event::GaveUp {
                    pending: cx.recorder.spool().pending()?.len(),
                    last: last.clone(),
                });
                self.gave_up = Some(last);
            }
        }
        Ok(())
    }

    /// The schedule's view of an S3 failure: the reply's fault, unless it blames our
    /// clock and S3's `Date` can be trusted to correct it.
    fn classify(&mut self, cx: &mut Ctx<'_>, now: &Now, f: &S3Failure) -> Fault {
        let ours = now
            .wall
            .map(|w| w.saturating_add(self.clock_offset).unwrap_or(w));
        if f.blames_clock(ours)
            && let (Some(server), Some(wall)) = (f.server_date, now.wall)
        {
            match bounded_correction(server, wall) {
                Some(offset) => {
                    self.clock_offset = offset;
                    cx.events.push_back(Event::ClockCorrected { offset });
                    return Fault::ClockCorrected;
                }
                None => cx
                    .events
                    .push_back(Event::ClockCorrectionRefused { server }),
            }
        }
        if f.is_unconfirmed() && !self.warned_unconfirmed {
            self.warned_unconfirmed = true;
            cx.events
                .push_back(Event::Unconfirmed { failure: f.clone() });
        }
        f.fault
    }
}

/// Why an attempt failed.
#[derive(Debug)]
enum Failure {
    Transport(TransportError),
    S3(S3Failure),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transport(e) => e.fmt(f),
            Self::S3(e) => e.fmt(f),
        }
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
