//! Samples from a CSV file: a `timestamp` column (RFC 3339 or epoch milliseconds) and
//! measurement columns named as in the schema; an empty field is a missing reading.
//!
//! Malformed input (unknown columns, text where a number belongs, timestamps out of
//! order, ragged rows) is an error naming the line and column, found before anything
//! is written. NaN and out-of-range numbers are failed readings: they become null and
//! are counted as warnings, like on the node.

use std::collections::BTreeMap;
use std::io::Read;

use jiff::Timestamp;
use lakenode::sample::Sample;
use lakenode::schema::{Measurement, Schema, TIMESTAMP_COLUMN, known_names};

use crate::error::{CliError, CliResult};

/// Longest line accepted: a real sample line is under 200 bytes; anything far longer is
/// not a sample file, and is refused before it can take memory.
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Largest number of readings reported one by one; the rest are only counted.
const MAX_LISTED_WARNINGS: usize = 10;

/// The parsed file.
#[derive(Debug, Clone)]
pub struct CsvSamples {
    /// The measurement columns found in the header.
    pub schema: Schema,
    /// Samples in file order (strictly increasing time).
    pub samples: Vec<Sample>,
    /// Readings stored as null because they were invalid (first few, described).
    pub warnings: Vec<String>,
    /// Total invalid readings.
    pub invalid_readings: usize,
}

/// Parses CSV samples into memory. `name` is used in messages (the file path). For a
/// file of any size, stream it with [`CsvReader`].
///
/// # Errors
/// [`CliError::Input`] with the line and column of the first problem.
pub fn read_samples(name: &str, input: impl Read) -> CliResult<CsvSamples> {
    let mut reader = CsvReader::new(name, input)?;
    let mut samples = Vec::new();
    while let Some(sample) = reader.next_sample()? {
        samples.push(sample);
    }
    Ok(CsvSamples {
        schema: reader.schema().clone(),
        samples,
        warnings: reader.warnings,
        invalid_readings: reader.invalid_readings,
    })
}

/// Samples read one at a time from a CSV: memory stays that of one line whatever the
/// file's length.
pub struct CsvReader<R: Read> {
    name: String,
    reader: csv::Reader<LineLimit<R>>,
    record: csv::StringRecord,
    schema: Schema,
    columns: Vec<Measurement>,
    last: Option<i64>,
    rows: u64,
    /// Readings stored as null because they were invalid (first few, described).
    pub warnings: Vec<String>,
    /// Total invalid readings.
    pub invalid_readings: usize,
}

impl<R: Read> std::fmt::Debug for CsvReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CsvReader")
            .field("name", &self.name)
            .field("rows", &self.rows)
            .finish_non_exhaustive()
    }
}

impl<R: Read> CsvReader<R> {
    /// Reads and checks the header.
    ///
    /// # Errors
    /// [`CliError::Input`] for a missing `timestamp` column, an unknown or repeated
    /// column, or an unreadable header.
    pub fn new(name: &str, input: R) -> CliResult<Self> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .flexible(false)
            .from_reader(LineLimit::new(input));
        let at = |msg: String| CliError::Input {
            location: format!("{name}:1"),
            message: msg,
        };
        let headers = reader
            .headers()
            .map_err(|e| at(format!("cannot read the header: {}", csv_error_message(&e))))?
            .clone();
        if headers.get(0) != Some(TIMESTAMP_COLUMN) {
            return Err(at(format!("the first column must be `{TIMESTAMP_COLUMN}`")));
        }
        let mut columns = Vec::with_capacity(headers.len() - 1);
        for h in headers.iter().skip(1) {
            let m = Measurement::from_name(h).ok_or_else(|| {
                at(format!(
                    "unknown column `{h}`; known columns: {}",
                    known_names()
                ))
            })?;
            if columns.contains(&m) {
                return Err(at(format!("column `{h}` appears twice")));
            }
            columns.push(m);
        }
        let schema = Schema::new(columns.iter().copied()).map_err(|e| at(e.to_string()))?;
        Ok(Self {
            name: name.to_owned(),
            reader,
            record: csv::StringRecord::new(),
            schema,
            columns,
            last: None,
            rows: 0,
            warnings: Vec::new(),
            invalid_readings: 0,
        })
    }

    /// The measurement columns found in the header.
    pub const fn schema(&self) -> &Schema {
        &self.schema
    }

    /// Data rows read so far.
    pub const fn rows(&self) -> u64 {
        self.rows
    }

    /// The next sample, `None` at the end of the file.
    ///
    /// # Errors
    /// [`CliError::Input`] with the line and column of the problem; a file without a
    /// single data row is an error too.
    pub fn next_sample(&mut self) -> CliResult<Option<Sample>> {
        let name = &self.name;
        let at = |line: u64, msg: String| CliError::Input {
            location: format!("{name}:{line}"),
            message: msg,
        };
        let line = self.reader.position().line();
        let read = self.reader.read_record(&mut self.record);
        // Known only once the header's line end has been read (see `LineLimit`).
        let crlf_shift = u64::from(self.reader.get_ref().crlf);
        match read {
            Ok(false) if self.rows == 0 => return Err(at(1, "no data rows".into())),
            Ok(false) => return Ok(None),
            Ok(true) => {}
            Err(e) => return Err(at(line + crlf_shift, csv_error_message(&e))),
        }
        let line = self.record.position().map_or(line, csv::Position::line) + crlf_shift;
        let ts_text = self.record.get(0).unwrap_or_default();
        let ts = parse_timestamp(ts_text).map_err(|m| at(line, m))?;
        if self.last == Some(ts) {
            return Err(at(
                line,
                format!(
                    "timestamp {ts_text} is in the same millisecond as the previous row's; times are stored to the millisecond and rows must be in increasing time order"
                ),
            ));
        }
        if self.last.is_some_and(|prev| ts < prev) {
            return Err(at(
                line,
                format!(
                    "timestamp {ts_text} is not after the previous row's; rows must be in increasing time order"
                ),
            ));
        }
        let mut sample = Sample::new(ts);
        for (field, &m) in self.record.iter().skip(1).zip(&self.columns) {
            if field.is_empty() {
                continue;
            }
            let raw: f64 = field
                .parse()
                .map_err(|_| at(line, format!("column `{m}`: {field:?} is not a number")))?;
            if let Err(why) = sample.record(m, raw) {
                self.invalid_readings += 1;
                if self.warnings.len() < MAX_LISTED_WARNINGS {
                    self.warnings.push(format!(
                        "{name}:{line}: column `{m}`: {why}; stored as null"
                    ));
                }
            }
        }
        self.last = Some(ts);
        self.rows += 1;
        Ok(Some(sample))
    }
}

/// What a first pass over a CSV found: every line checked, nothing kept but this.
#[derive(Debug, Clone)]
pub struct CsvCheck {
    /// The measurement columns found in the header.
    pub schema: Schema,
    /// The first sample's time.
    pub first_ms: i64,
    /// Data rows.
    pub rows: u64,
    /// MD5 (hex) of the file's bytes: its identity for a resumed import.
    pub md5: String,
    /// Readings stored as null because they were invalid (first few, described).
    pub warnings: Vec<String>,
    /// The spacing of the first rows' timestamps.
    pub spacing: Spacing,
}

/// Spacings between the first rows looked at to tell a CSV's sampling interval.
const SPACING_SAMPLE: usize = 1000;

/// How the first rows of a CSV are spaced in time: the most common spacing among the
/// first [`SPACING_SAMPLE`] gaps between rows, and how many of them had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Spacing {
    /// The most common spacing, ms (the shortest of equally common ones); 0 for one row.
    pub most_common_ms: i64,
    /// Gaps with that spacing.
    pub count: usize,
    /// Gaps looked at (rows - 1, at most [`SPACING_SAMPLE`]).
    pub of: usize,
}

impl Spacing {
    /// The spacing of gaps counted by length (ms, each > 0).
    fn of_counts(counts: &BTreeMap<i64, usize>) -> Self {
        let (most_common_ms, count) =
            counts.iter().fold(
                (0, 0),
                |best, (&g, &n)| if n > best.1 { (g, n) } else { best },
            );
        Self {
            most_common_ms,
            count,
            of: counts.values().sum(),
        }
    }

    /// The sampling interval of the CSV `name`, in ms: its most common spacing, which a
    /// given `--interval` (`given_ms`) must match; a file of one row takes `given_ms`.
    ///
    /// # Errors
    /// [`CliError::Usage`] naming the file and both intervals when they differ, and
    /// without `given_ms`, when the file has one row, the spacing is irregular (the most
    /// common is less than half the gaps) or not whole seconds.
    pub fn interval_ms(&self, name: &str, given_ms: Option<i64>) -> CliResult<i64> {
        let show = |ms: i64| {
            humantime::format_duration(std::time::Duration::from_millis(
                u64::try_from(ms).unwrap_or_default(),
            ))
            .to_string()
        };
        let seen = format!(
            "{name}: its samples are {} apart ({} of the {} spacings between its first {} rows)",
            show(self.most_common_ms),
            self.count,
            self.of,
            self.of + 1
        );
        match given_ms {
            Some(given) if self.of == 0 || self.most_common_ms == given => Ok(given),
            Some(given) => Err(CliError::Usage(format!(
                "{seen}, but --interval is {}: every file's footer would state the wrong sampling interval. Give --interval {}, or leave --interval out to take the CSV's",
                show(given),
                show(self.most_common_ms)
            ))),
            None if self.of == 0 => Err(CliError::Usage(format!(
                "{name}: one data row does not tell the sampling interval; give --interval"
            ))),
            None if self.count * 2 < self.of => Err(CliError::Usage(format!(
                "{seen}: too irregular to tell the sampling interval; give --interval"
            ))),
            None if self.most_common_ms < 1000 || self.most_common_ms % 1000 != 0 => {
                Err(CliError::Usage(format!(
                    "{seen}: the sampling interval must be a whole number of seconds; \
                     resample the file, or give --interval"
                )))
            }
            None => Ok(self.most_common_ms),
        }
    }
}

/// The spacing of a CSV's first rows, counted while they are read: only the distinct
/// gaps are kept (one or two in a regular file), not the rows.
#[derive(Debug, Clone, Default)]
pub struct SpacingCounter {
    previous: Option<i64>,
    counts: BTreeMap<i64, usize>,
    of: usize,
}

impl SpacingCounter {
    /// Counts the gap between the previous row's time and `timestamp_ms` (rows in
    /// increasing time), among the first [`SPACING_SAMPLE`].
    pub fn push(&mut self, timestamp_ms: i64) {
        if let Some(p) = self.previous
            && self.of < SPACING_SAMPLE
        {
            *self.counts.entry(timestamp_ms - p).or_default() += 1;
            self.of += 1;
        }
        self.previous = Some(timestamp_ms);
    }

    /// The spacing of the rows counted so far.
    #[must_use]
    pub fn spacing(&self) -> Spacing {
        Spacing::of_counts(&self.counts)
    }
}

/// Reads a whole CSV once, checking every line, in the memory of one line.
///
/// # Errors
/// [`CliError::Input`] with the line and column of the first problem.
pub fn check_file(name: &str, input: impl Read) -> CliResult<CsvCheck> {
    let mut hashed = Md5Reader {
        inner: input,
        hasher: <md5::Md5 as md5::Digest>::new(),
    };
    let mut reader = CsvReader::new(name, &mut hashed)?;
    let mut first = None;
    let mut spacing = SpacingCounter::default();
    while let Some(s) = reader.next_sample()? {
        first.get_or_insert(s.timestamp_ms);
        spacing.push(s.timestamp_ms);
    }
    let (schema, rows, warnings) = (reader.schema().clone(), reader.rows(), reader.warnings);
    drop(reader.reader);
    let md5: Vec<u8> = md5::Digest::finalize(hashed.hasher).to_vec();
    Ok(CsvCheck {
        schema,
        first_ms: first.unwrap_or_default(),
        rows,
        md5: md5.iter().map(|b| format!("{b:02x}")).collect(),
        warnings,
        spacing: spacing.spacing(),
    })
}

/// Hashes what is read through it.
struct Md5Reader<R> {
    inner: R,
    hasher: md5::Md5,
}

impl<R: Read> Read for Md5Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        md5::Digest::update(&mut self.hasher, &buf[..n]);
        Ok(n)
    }
}

/// Fails the read once a line exceeds [`MAX_LINE_BYTES`], and notes CRLF line ends.
///
/// The csv crate counts a line when it consumes its `\n`; with CRLF ends a record stops
/// at the `\r`, so each record's position reads one line early. `crlf` lets the reader
/// correct the line numbers in its errors.
struct LineLimit<R> {
    inner: R,
    line_len: usize,
    last: u8,
    crlf: bool,
}

impl<R> LineLimit<R> {
    const fn new(inner: R) -> Self {
        Self {
            inner,
            line_len: 0,
            last: 0,
            crlf: false,
        }
    }
}

impl<R: Read> Read for LineLimit<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for &b in &buf[..n] {
            self.crlf |= b == b'\n' && self.last == b'\r';
            self.last = b;
            self.line_len = if b == b'\n' { 0 } else { self.line_len + 1 };
            if self.line_len > MAX_LINE_BYTES {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("a line is longer than {MAX_LINE_BYTES} bytes"),
                ));
            }
        }
        Ok(n)
    }
}

fn csv_error_message(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => {
            format!("expected {expected_len} fields like the header, found {len}")
        }
        csv::ErrorKind::Utf8 { .. } => "the line is not valid UTF-8 text".into(),
        csv::ErrorKind::Io(io) => io.to_string(),
        _ => e.to_string(),
    }
}

/// RFC 3339 (`2026-01-01T00:00:05Z`, any offset) or integer epoch milliseconds.
fn parse_timestamp(text: &str) -> Result<i64, String> {
    if text.is_empty() {
        return Err("the timestamp is empty".into());
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return text
            .parse::<i64>()
            .ok()
            .filter(|ms| Timestamp::from_millisecond(*ms).is_ok())
            .ok_or_else(|| format!("timestamp {text:?} is not a valid epoch millisecond value"));
    }
    text.parse::<Timestamp>()
        .map(Timestamp::as_millisecond)
        .map_err(|e| {
            // A date and a time that fail anyway (e.g. beyond the year 9999's last day):
            // say why, rather than that the text is not RFC 3339.
            let dated = text.len() > 10 && text.as_bytes()[4] == b'-' && text.as_bytes()[10] == b'T';
            if dated && text[..4].bytes().all(|b| b.is_ascii_digit()) {
                format!("timestamp {text:?} is RFC 3339 but not a usable time: {e}")
            } else {
                format!("timestamp {text:?} is neither RFC 3339 (2026-01-01T00:00:05Z) nor epoch milliseconds")
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> CliResult<CsvSamples> {
        read_samples("in.csv", text.as_bytes())
    }

    #[test]
    fn reads_rfc3339_and_epoch_ms_with_nulls() {
        let s = parse(
            "timestamp,pm25,temperature\n2026-01-01T00:00:00Z,12,21.374\n1767225605000,,NaN\n",
        )
        .expect("valid csv");
        assert_eq!(
            s.schema.columns(),
            [Measurement::Temperature, Measurement::Pm25]
        );
        assert_eq!(s.samples.len(), 2);
        assert_eq!(s.samples[0].timestamp_ms, 1_767_225_600_000);
        assert_eq!(s.samples[0].count(Measurement::Temperature), Some(2137));
        assert_eq!(s.samples[1].count(Measurement::Pm25), None);
        assert_eq!(s.invalid_readings, 1);
        assert!(
            s.warnings[0].contains("in.csv:3: column `temperature`"),
            "{:?}",
            s.warnings
        );
    }

    fn check(text: &str) -> CsvCheck {
        check_file("in.csv", text.as_bytes()).expect("valid csv")
    }

    fn minutes(rows: i64) -> String {
        let mut text = String::from("timestamp,co2\n");
        for i in 0..rows {
            text.push_str(&format!("{},500\n", 1_767_225_600_000 + i * 60_000));
        }
        text
    }

    #[test]
    fn the_interval_is_the_csvs_most_common_spacing() {
        let c = check(&minutes(10));
        assert_eq!(
            c.spacing.interval_ms("in.csv", None).expect("regular"),
            60_000
        );
        assert_eq!(
            c.spacing
                .interval_ms("in.csv", Some(60_000))
                .expect("matches"),
            60_000
        );
        // A gap (a missing row) does not change it.
        let mut gappy = minutes(10);
        gappy.push_str("1767226800000,500\n");
        assert_eq!(
            check(&gappy)
                .spacing
                .interval_ms("in.csv", None)
                .expect("ok"),
            60_000
        );
    }

    #[test]
    fn an_interval_that_contradicts_the_csv_or_cannot_be_told_is_refused() {
        let err = check(&minutes(10))
            .spacing
            .interval_ms("in.csv", Some(5_000))
            .expect_err("5 s against 1 min")
            .to_string();
        assert!(
            err.contains("in.csv: its samples are 1m apart")
                && err.contains("--interval is 5s")
                && err.contains("--interval 1m"),
            "{err}"
        );
        let one = check(&minutes(1));
        assert!(
            one.spacing
                .interval_ms("in.csv", None)
                .expect_err("one row")
                .to_string()
                .contains("one data row")
        );
        assert_eq!(
            one.spacing
                .interval_ms("in.csv", Some(5_000))
                .expect("given"),
            5_000
        );
        let irregular = check(
            "timestamp,co2\n1767225600000,1\n1767225601000,1\n1767225603000,1\n1767225606000,1\n1767225610000,1\n",
        );
        let err = irregular
            .spacing
            .interval_ms("in.csv", None)
            .expect_err("irregular")
            .to_string();
        assert!(err.contains("too irregular"), "{err}");
        let fast = check("timestamp,co2\n1767225600000,1\n1767225600500,1\n1767225601000,1\n");
        let err = fast
            .spacing
            .interval_ms("in.csv", None)
            .expect_err("500 ms")
            .to_string();
        assert!(err.contains("whole number of seconds"), "{err}");
    }

    #[test]
    fn offsets_are_converted_to_utc() {
        let s = parse("timestamp,co2\n2026-01-01T01:00:00+01:00,500\n").expect("valid");
        assert_eq!(s.samples[0].timestamp_ms, 1_767_225_600_000);
    }

    #[test]
    fn malformed_input_names_line_and_problem() {
        let cases = [
            (
                "time,co2\n1,2\n",
                "in.csv:1: the first column must be `timestamp`",
            ),
            ("timestamp,wind\n1,2\n", "unknown column `wind`"),
            ("timestamp,co2,co2\n1,2,3\n", "appears twice"),
            (
                "timestamp,co2\n1767225600000,abc\n",
                "in.csv:2: column `co2`: \"abc\" is not a number",
            ),
            (
                "timestamp,co2\n1767225600000,1\n1767225600000,2\n",
                "in.csv:3: timestamp",
            ),
            (
                "timestamp,co2\n1767225600000,1,9\n",
                "in.csv:2: expected 2 fields",
            ),
            ("timestamp,co2\nyesterday,1\n", "neither RFC 3339"),
            ("timestamp,co2\n", "no data rows"),
            ("timestamp\n1767225600000\n", "at least one measurement"),
            ("timestamp,co2\n99999999999999999,1\n", "not a valid epoch"),
            (
                "timestamp,co2\r\n1767225600000,1\r\n1767225600000,2\r\n",
                "in.csv:3: timestamp",
            ),
            (
                "timestamp,co2\r\n1767225600000,1\r\n1767225605000,x\r\n",
                "in.csv:3: column",
            ),
            (
                "timestamp,co2\n2026-01-01T00:00:00.0001Z,1\n2026-01-01T00:00:00.0004Z,2\n",
                "in.csv:3: timestamp 2026-01-01T00:00:00.0004Z is in the same millisecond",
            ),
            (
                "timestamp,co2\n9999-12-31T23:59:59Z,1\n",
                "in.csv:2: timestamp \"9999-12-31T23:59:59Z\" is RFC 3339 but",
            ),
        ];
        for (input, expected) in cases {
            let err = parse(input).expect_err(input).to_string();
            assert!(err.contains(expected), "{input:?}: {err}");
        }
        let err = read_samples("bin.csv", &b"timestamp,co2\n1767225600000,\xff\xfe\n"[..])
            .expect_err("binary");
        assert!(err.to_string().contains("bin.csv:2"), "{err}");
    }
}
