//! The report's charts, drawn with `plotters` into SVG strings that the page inlines:
//! the coverage heatmap, each station's small multiples, and the fleet's health charts.
//!
//! Every chart is drawn from bucket figures ([`super::aggregate`]): at most one point
//! per station and hour (or day), so a chart's size grows with stations x buckets,
//! never with the rows in the lake. Plotters draws the axes; the marks (cells, lines,
//! bars, dots) are written here at the pixels plotters maps them to, each with an SVG
//! `<title>` naming whose it is and what it shows (a tooltip in a browser).

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;

use lakenode::schema::Measurement;

use super::aggregate::{Bucket, BucketSize, Fleet, Period, SERIES};
pub use super::band::{BAND, MEDIAN};
use super::band::{band, band_marks};
use super::page::escape;
use super::registry::Registry;
use crate::error::{CliError, CliResult};

/// Width of every chart, px.
pub const WIDTH: u32 = 1100;

/// Colour of a coverage fraction: red (nothing) through amber to green (complete).
#[must_use]
pub fn coverage_colour(f: f64) -> RGBColor {
    let f = f.clamp(0.0, 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let lerp = |a: f64, b: f64, t: f64| (a + (b - a) * t).round() as u8;
    if f < 0.5 {
        let t = f * 2.0;
        RGBColor(
            lerp(200.0, 240.0, t),
            lerp(40.0, 180.0, t),
            lerp(40.0, 40.0, t),
        )
    } else {
        let t = (f - 0.5) * 2.0;
        RGBColor(
            lerp(240.0, 40.0, t),
            lerp(180.0, 160.0, t),
            lerp(40.0, 70.0, t),
        )
    }
}

/// The colour each measurement's line is drawn in.
fn series_colour(m: Measurement) -> RGBColor {
    match m {
        Measurement::Temperature => RGBColor(214, 96, 77),
        Measurement::Humidity => RGBColor(67, 147, 195),
        Measurement::Pm25 => RGBColor(140, 81, 10),
        Measurement::Co2 => RGBColor(118, 42, 131),
        _ => RGBColor(60, 60, 60),
    }
}

/// A heatmap cell wholly before its station's first sample: nothing was expected.
pub const NOT_STARTED: RGBColor = RGBColor(230, 230, 230);

/// The WHO 2021 air quality guideline for the 24-hour mean of PM2.5, µg/m³.
pub const WHO_PM25_24H: f64 = 15.0;

/// A measurement's unit as a person writes it (°C, µg/m³).
#[must_use]
pub const fn unit(m: Measurement) -> &'static str {
    match m {
        Measurement::Temperature => "°C",
        Measurement::Humidity => "% RH",
        Measurement::Pressure => "hPa",
        Measurement::Pm1 | Measurement::Pm25 | Measurement::Pm10 => "µg/m³",
        Measurement::Co2 => "ppm",
        Measurement::VocIndex => "index",
        Measurement::Battery => "V",
    }
}

/// A measurement's name as a person writes it.
#[must_use]
pub fn label(m: Measurement) -> &'static str {
    match m {
        Measurement::Temperature => "temperature",
        Measurement::Humidity => "humidity",
        Measurement::Pm25 => "PM2.5",
        Measurement::Co2 => "CO₂",
        _ => m.name(),
    }
}

/// `#RRGGBB`.
#[must_use]
pub fn hex(c: RGBColor) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

/// The colour of the `i`th station's line in the health charts (and its legend).
#[must_use]
pub fn station_colour(i: usize) -> RGBColor {
    let (r, g, b) = Palette99::pick(i).rgb();
    RGBColor(r, g, b)
}

/// The last 12 hex digits of a station id: unique enough to tell stations apart on a
/// chart (UUIDv7 ids of one fleet often share their leading time digits).
#[must_use]
pub fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(12)..).unwrap_or(id)
}

/// A bucket's start as text: `MM-DD HH:00` for hours, `YYYY-MM-DD` for days.
#[must_use]
pub fn bucket_label(size: BucketSize, bucket: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_millisecond(bucket.saturating_mul(size.ms())) else {
        return String::new();
    };
    let format = match size {
        BucketSize::Hour => "%m-%d %H:00",
        BucketSize::Day => "%Y-%m-%d",
    };
    t.strftime(format).to_string()
}

/// The report's time: ages are measured against it.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// The report's time, ms UTC.
    pub at_ms: i64,
    /// It is the time the report was made (no `--at`): ages read "before now".
    pub now: bool,
}

/// How long before the report's time the instant `t` was, in the largest fitting unit:
/// "41 d before now" (or "before --at" for a historic report). `lakenode status` says
/// ages the same way.
#[must_use]
pub fn ago(clock: &Clock, t: i64) -> String {
    let reference = if clock.now { "now" } else { "--at" };
    let s = (clock.at_ms - t).max(0) / 1000;
    match s {
        0..60 if clock.now => "now".into(),
        0..60 => "0 min before --at".into(),
        60..3_600 => format!("{} min before {reference}", s / 60),
        3_600..172_800 => format!("{} h before {reference}", s / 3_600),
        _ => format!("{} d before {reference}", s / 86_400),
    }
}

fn chart_err<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> CliError {
    move |e| CliError::Chart {
        chart,
        message: e.to_string(),
    }
}

/// An SVG `<title>` (a tooltip) with `text` escaped.
pub(crate) fn title(text: &str) -> String {
    format!("<title>{}</title>", escape(text))
}

/// Puts `marks` into the SVG plotters wrote, on top of everything it drew.
fn inject(svg: &mut String, marks: &str) {
    if let Some(i) = svg.rfind("</svg>") {
        svg.insert_str(i, marks);
    }
}

/// A line through `points` (pixels), or a dot for a single point, with a tooltip.
pub(crate) fn line_mark(points: &[(i32, i32)], colour: RGBColor, width: f64, tip: &str) -> String {
    match points {
        [] => String::new(),
        [(x, y)] => format!(
            "<circle cx=\"{x}\" cy=\"{y}\" r=\"2\" fill=\"{}\">{}</circle>\n",
            hex(colour),
            title(tip)
        ),
        _ => {
            let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
            format!(
                "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{width}\" \
                 stroke-linejoin=\"round\" points=\"{}\">{}</polyline>\n",
                hex(colour),
                pts.join(" "),
                title(tip)
            )
        }
    }
}

/// A station's label on the heatmap's left, cut to fit.
fn fit(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let mut t: String = text.chars().take(chars - 1).collect();
        t.push('…');
        t
    }
}

/// One row of the coverage heatmap: a station, or the whole fleet.
#[derive(Debug, Clone)]
pub struct HeatRow {
    /// The label on the left (cut to fit).
    pub label: String,
    /// The label on the right: how long ago the station was last heard from.
    pub right: String,
    /// Whose row it is, in the tooltips.
    pub name: String,
    /// The coverage of each bucket of the period, `None` before the first sample.
    pub cells: Vec<Option<f64>>,
}

/// The heatmap row of a station.
#[must_use]
pub fn station_row(
    fleet: &Fleet,
    period: &Period,
    id: &str,
    registry: &Registry,
    clock: &Clock,
) -> HeatRow {
    HeatRow {
        label: fit(registry.short(id), 18),
        right: fleet
            .station(id)
            .and_then(|s| s.last_seen)
            .map_or_else(|| "never".to_owned(), |t| ago(clock, t)),
        name: registry.full(id),
        cells: (period.first_bucket..=period.last_bucket)
            .map(|b| fleet.coverage(period, id, b))
            .collect(),
    }
}

/// The fleet's row: per bucket, the mean coverage of the stations that had started.
#[must_use]
pub fn fleet_row(fleet: &Fleet, period: &Period, stations: &[&str]) -> HeatRow {
    let n = period.buckets();
    let mut sums = vec![(0.0, 0u32); n];
    for id in stations {
        for (cell, b) in sums.iter_mut().zip(period.first_bucket..) {
            if let Some(c) = fleet.coverage(period, id, b) {
                cell.0 += c;
                cell.1 += 1;
            }
        }
    }
    HeatRow {
        label: "whole fleet".to_owned(),
        right: format!("{} stations", stations.len()),
        name: format!("the whole fleet (mean of {} stations)", stations.len()),
        cells: sums
            .into_iter()
            .map(|(sum, k)| (k > 0).then(|| sum / f64::from(k)))
            .collect(),
    }
}

/// Stations (rows, in the order given: silent first) x buckets (columns), each cell
/// coloured by the fraction of expected samples that arrived (grey before a station's
/// first sample); the left labels name the station, the right ones say how long before
/// the report's time it was last heard from. Each run of cells has a tooltip.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn heatmap_svg(
    fleet: &Fleet,
    period: &Period,
    stations: &[&str],
    registry: &Registry,
    clock: &Clock,
) -> CliResult<String> {
    let rows: Vec<HeatRow> = stations
        .iter()
        .map(|id| station_row(fleet, period, id, registry, clock))
        .collect();
    heatmap_rows_svg(fleet.size, period, &rows)
}

/// The heatmap of `rows` (see [`heatmap_svg`]).
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn heatmap_rows_svg(size: BucketSize, period: &Period, rows: &[HeatRow]) -> CliResult<String> {
    let err = chart_err("coverage heatmap");
    let n_rows = rows.len().max(1);
    let buckets = period.buckets().max(1);
    let row_px = 14;
    let height = u32::try_from(n_rows * row_px)
        .unwrap_or(u32::MAX)
        .saturating_add(45);
    let mut svg = String::new();
    let mut marks = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let chart = ChartBuilder::on(&root)
            .margin(5)
            .x_label_area_size(28)
            .y_label_area_size(130)
            .right_y_label_area_size(110)
            .build_cartesian_2d((0..buckets).into_segmented(), (0..n_rows).into_segmented())
            .map_err(&err)?;
        let mut chart =
            chart.set_secondary_coord((0..buckets).into_segmented(), (0..n_rows).into_segmented());
        // Row r (from the top) is drawn at y = n_rows - 1 - r: plotters' y grows upwards.
        let row_at = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(y) if *y < rows.len() => Some(&rows[n_rows - 1 - y]),
            _ => None,
        };
        let first = period.first_bucket;
        let x_label = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(x) | SegmentValue::Exact(x) => {
                bucket_label(size, first + i64::try_from(*x).unwrap_or(0))
            }
            SegmentValue::Last => String::new(),
        };
        let label_style = ("sans-serif", 13).into_font();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(8.min(buckets))
            .y_labels(n_rows)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| row_at(v).map_or_else(String::new, |r| r.label.clone()))
            .label_style(label_style.clone())
            .draw()
            .map_err(&err)?;
        chart
            .configure_secondary_axes()
            .y_labels(n_rows)
            .x_labels(1)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&|v| row_at(v).map_or_else(String::new, |r| r.right.clone()))
            .label_style(label_style)
            .draw()
            .map_err(&err)?;
        // Neighbouring cells of one colour are drawn as one rectangle: a healthy fleet's
        // rows are mostly one long green bar, which keeps the page small.
        let pct = |c: f64| format!("{:.0}%", c * 100.0);
        for (r, row) in rows.iter().enumerate() {
            let y = n_rows - 1 - r;
            let mut x = 0;
            let coverage_at = |x: usize| row.cells.get(x).copied().unwrap_or(Some(0.0));
            let colour_of = |c: Option<f64>| c.map_or(NOT_STARTED, coverage_colour);
            while x < buckets {
                let colour = colour_of(coverage_at(x));
                let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
                let mut end = x;
                while end < buckets && colour_of(coverage_at(end)) == colour {
                    if let Some(c) = coverage_at(end) {
                        (lo, hi) = (lo.min(c), hi.max(c));
                    }
                    end += 1;
                }
                let (x0, y0) =
                    chart.backend_coord(&(SegmentValue::Exact(x), SegmentValue::Exact(y + 1)));
                let (x1, y1) =
                    chart.backend_coord(&(SegmentValue::Exact(end), SegmentValue::Exact(y)));
                let span = format!(
                    "{} to {} UTC",
                    bucket_label(size, first + i64::try_from(x).unwrap_or(0)),
                    bucket_label(size, first + i64::try_from(end).unwrap_or(0))
                );
                let what = if !lo.is_finite() {
                    "not started yet (before its first sample)".to_owned()
                } else if (hi - lo).abs() < 0.005 {
                    format!("{} of expected samples", pct(lo))
                } else {
                    format!("{} to {} of expected samples", pct(lo), pct(hi))
                };
                let _ = std::fmt::Write::write_fmt(
                    &mut marks,
                    format_args!(
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\">{}</rect>\n",
                        x0.min(x1),
                        y0.min(y1),
                        (x1 - x0).abs(),
                        (y1 - y0).abs(),
                        hex(colour),
                        title(&format!("{}: {span}: {what}", row.name))
                    ),
                );
                x = end;
            }
        }
        root.present().map_err(&err)?;
    }
    inject(&mut svg, &marks);
    Ok(svg)
}

/// The value range of a measurement's bucket means across the fleet, padded so a flat
/// line is visible. PM2.5's range always holds the WHO guideline, so its line shows.
fn value_range(fleet: &Fleet, stations: &[&str], m: Measurement) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for id in stations {
        if let Some(s) = fleet.station(id) {
            for v in s.buckets.values().filter_map(|b| b.mean(m)) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
    }
    if m == Measurement::Pm25 {
        lo = lo.min(0.0);
        hi = hi.max(WHO_PM25_24H * 1.2);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    // Nothing below zero is drawn for quantities that cannot be negative.
    let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    ((lo - pad).max(floor), hi + pad)
}

/// Runs of consecutive buckets that have a value: a line is broken where data is
/// missing, never drawn across the gap.
fn runs(
    fleet: &Fleet,
    period: &Period,
    id: &str,
    value: impl Fn(&Bucket) -> Option<f64>,
) -> Vec<Vec<(i64, f64)>> {
    let mut out: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut last = None;
    if let Some(s) = fleet.station(id) {
        for (&b, bucket) in s.buckets.range(period.first_bucket..=period.last_bucket) {
            let Some(v) = value(bucket) else { continue };
            let x = b - period.first_bucket;
            if last != Some(x - 1) || out.is_empty() {
                out.push(Vec::new());
            }
            if let Some(run) = out.last_mut() {
                run.push((x, v));
            }
            last = Some(x);
        }
    }
    out
}

pub(crate) type LineChart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
>;

/// The marks of `runs` (bucket x, value) on `chart`: a line per run, a dot for a run of
/// one bucket. A bucket's value is drawn at the bucket's middle.
fn run_marks(
    chart: &LineChart<'_, '_>,
    runs: &[Vec<(i64, f64)>],
    colour: RGBColor,
    tip: &str,
) -> String {
    let mut out = String::new();
    for run in runs {
        let points: Vec<(i32, i32)> = run
            .iter()
            .map(|&(x, v)| {
                let (x0, y) = chart.backend_coord(&(x, v));
                let (x1, _) = chart.backend_coord(&(x + 1, v));
                ((x0 + x1) / 2, y)
            })
            .collect();
        out.push_str(&line_mark(&points, colour, 1.5, tip));
    }
    out
}

/// Height of one station's small multiples, px.
const MULTIPLES_HEIGHT: u32 = 104;

/// One station's small multiples: the bucket means of [`SERIES`] side by side, each on
/// the fleet's common scale for that measurement, with its name, unit and a time axis;
/// PM2.5 with the WHO 24-hour guideline as a dashed, labelled line.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn station_svg(
    fleet: &Fleet,
    period: &Period,
    id: &str,
    ranges: &[(f64, f64)],
    registry: &Registry,
) -> CliResult<String> {
    let err = chart_err("small multiples");
    let mut svg = String::new();
    let mut marks = String::new();
    let who = registry.full(id);
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, MULTIPLES_HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let x_max = i64::try_from(period.buckets()).unwrap_or(1).max(1);
        let size = fleet.size;
        let first = period.first_bucket;
        let panels = root.split_evenly((1, SERIES.len()));
        for ((panel, m), &(lo, hi)) in panels.iter().zip(SERIES).zip(ranges.iter()) {
            let name = format!("{}, {}", label(m), unit(m));
            let mut chart = ChartBuilder::on(panel)
                .margin(4)
                .margin_right(10)
                .caption(&name, ("sans-serif", 13))
                .x_label_area_size(18)
                .y_label_area_size(38)
                .build_cartesian_2d(0..x_max, lo..hi)
                .map_err(&err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .x_labels(3)
                .y_labels(3)
                .light_line_style(WHITE)
                .bold_line_style(RGBColor(235, 235, 235))
                .x_label_formatter(&|x| bucket_label(size, first + x))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 11).into_font())
                .draw()
                .map_err(&err)?;
            if m == Measurement::Pm25 && WHO_PM25_24H < hi {
                let (x0, y) = chart.backend_coord(&(0, WHO_PM25_24H));
                let (x1, _) = chart.backend_coord(&(x_max, WHO_PM25_24H));
                let _ = std::fmt::Write::write_fmt(
                    &mut marks,
                    format_args!(
                        "<line x1=\"{x0}\" y1=\"{y}\" x2=\"{x1}\" y2=\"{y}\" stroke=\"#555\" \
                         stroke-dasharray=\"4 3\">{}</line>\n<text x=\"{}\" y=\"{}\" \
                         font-family=\"sans-serif\" font-size=\"10\" fill=\"#555\" \
                         text-anchor=\"end\">WHO 24 h: 15</text>\n",
                        title("WHO 2021 guideline for the 24-hour mean of PM2.5: 15 µg/m³"),
                        x1 - 2,
                        y - 3
                    ),
                );
            }
            let lines = runs(fleet, period, id, |b| b.mean(m));
            marks.push_str(&run_marks(
                &chart,
                &lines,
                series_colour(m),
                &format!("{who}: {name}"),
            ));
        }
        root.present().map_err(&err)?;
    }
    inject(&mut svg, &marks);
    Ok(svg)
}

/// The fleet's common value range of each of [`SERIES`].
#[must_use]
pub fn series_ranges(fleet: &Fleet, stations: &[&str]) -> Vec<(f64, f64)> {
    SERIES
        .iter()
        .map(|&m| value_range(fleet, stations, m))
        .collect()
}

/// One figure of the health panel.
pub struct HealthChart {
    /// Title, above the chart.
    pub title: &'static str,
    /// Its title on a station's own page (counts are the station's, not the fleet's).
    pub station_title: &'static str,
    /// The bucket figure, if the bucket has one.
    pub value: fn(&Bucket) -> Option<f64>,
    /// A count of events: drawn as the fleet's total per bucket (bars), and said in
    /// words when zero everywhere.
    pub count: bool,
}

/// The health panel's charts: battery (bucket mean), RSSI, spool depth (deepest in the
/// bucket), one line per station; and upload failures and restarts, counted per bucket.
pub const HEALTH_CHARTS: [HealthChart; 5] = [
    HealthChart {
        title: "battery, V (mean per bucket)",
        station_title: "battery, V (mean per bucket)",
        value: |b| b.mean(Measurement::Battery),
        count: false,
    },
    HealthChart {
        title: "WiFi RSSI, dBm (mean per bucket)",
        station_title: "WiFi RSSI, dBm (mean per bucket)",
        value: Bucket::rssi,
        count: false,
    },
    HealthChart {
        title: "spool depth, files (deepest per bucket)",
        station_title: "spool depth, files (deepest per bucket)",
        value: |b| (b.health_rows > 0).then_some(b.spool_max as f64),
        count: false,
    },
    HealthChart {
        title: "upload failures, fleet total per bucket",
        station_title: "upload failures per bucket",
        value: |b| (b.health_rows > 0).then_some(b.upload_failures as f64),
        count: true,
    },
    HealthChart {
        title: "restarts, fleet total per bucket",
        station_title: "restarts per bucket",
        value: |b| (b.health_rows > 0).then_some(f64::from(b.restarts)),
        count: true,
    },
];

/// A health chart, or why there is none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HealthFigure {
    /// The chart, as SVG.
    Chart(String),
    /// No station reported the figure (RSSI on hosts, which have no WiFi).
    NoData,
    /// A count that is zero everywhere (no upload failures, no restarts): said in words.
    AllZero,
}

/// One health chart over `stations`: a line per station of `lines` in
/// [`station_colour`]`(its index in lines)`, and when `lines` are fewer than `stations`,
/// the range (min to max) and median of all `stations` per bucket behind them; for
/// counts, a bar per bucket (the total of `stations`) whose tooltip says which stations
/// the events were at.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn health_svg(
    fleet: &Fleet,
    period: &Period,
    stations: &[&str],
    lines: &[&str],
    registry: &Registry,
    chart_def: &HealthChart,
) -> CliResult<HealthFigure> {
    let err = chart_err("health panel");
    let all: Vec<Vec<Vec<(i64, f64)>>> = stations
        .iter()
        .map(|id| runs(fleet, period, id, chart_def.value))
        .collect();
    // Counts: per bucket, the total and who had them (the first few by name).
    let mut totals: std::collections::BTreeMap<i64, (f64, Vec<String>)> =
        std::collections::BTreeMap::new();
    if chart_def.count {
        for (id, runs) in stations.iter().zip(&all) {
            for &(x, v) in runs.iter().flatten().filter(|p| p.1 > 0.0) {
                let e = totals.entry(x).or_default();
                e.0 += v;
                e.1.push(format!("{} {v:.0}", registry.short(id)));
            }
        }
    }
    let band = (!chart_def.count && lines.len() < stations.len()).then(|| band(period, &all));
    let values = all.iter().flatten().flatten().map(|p| p.1);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return Ok(HealthFigure::NoData);
    }
    if chart_def.count && totals.is_empty() {
        return Ok(HealthFigure::AllZero);
    }
    let (lo, hi) = if chart_def.count {
        let top = totals.values().map(|t| t.0).fold(0.0, f64::max);
        (0.0, top.max(1.0) * 1.1)
    } else {
        let pad = ((hi - lo) * 0.05).max(0.5);
        let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
        ((lo - pad).max(floor), hi + pad)
    };
    let mut svg = String::new();
    let mut marks = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH / 2 - 10, 200)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let x_max = i64::try_from(period.buckets()).unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(6)
            .margin_right(12)
            .caption(chart_def.title, ("sans-serif", 16))
            .x_label_area_size(22)
            .y_label_area_size(40)
            .build_cartesian_2d(0..x_max, lo..hi)
            .map_err(&err)?;
        let size = fleet.size;
        let first = period.first_bucket;
        let integers = |v: &f64| {
            if (v - v.round()).abs() < 1e-9 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        };
        let decimals = |v: &f64| {
            if hi - lo < 5.0 {
                format!("{v:.1}")
            } else {
                format!("{v:.0}")
            }
        };
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(5)
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&|x| bucket_label(size, first + x))
            .y_label_formatter(&|v| {
                if chart_def.count {
                    integers(v)
                } else {
                    decimals(v)
                }
            })
            .label_style(("sans-serif", 12).into_font())
            .draw()
            .map_err(&err)?;
        if chart_def.count {
            let what = chart_def.title.split(',').next().unwrap_or(chart_def.title);
            for (&x, (total, who)) in &totals {
                let (x0, y0) = chart.backend_coord(&(x, *total));
                let (x1, y1) = chart.backend_coord(&(x + 1, 0.0));
                let named = who.len().min(TIP_NAMES);
                let more = if who.len() > named {
                    format!(" and {} more", who.len() - named)
                } else {
                    String::new()
                };
                let tip = format!(
                    "{} UTC: {total:.0} {what} ({}{more})",
                    bucket_label(size, first + x),
                    who[..named].join(", ")
                );
                let _ = std::fmt::Write::write_fmt(
                    &mut marks,
                    format_args!(
                        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#4A4A4A\">{}</rect>\n",
                        x0.min(x1),
                        y0.min(y1),
                        (x1 - x0).abs().max(2),
                        (y1 - y0).abs(),
                        title(&tip)
                    ),
                );
            }
        } else {
            if let Some(band) = &band {
                marks.push_str(&band_marks(&chart, band, stations.len(), chart_def.title));
            }
            for (i, id) in lines.iter().enumerate() {
                let runs = runs(fleet, period, id, chart_def.value);
                let tip = format!("{}: {}", registry.full(id), chart_def.title);
                marks.push_str(&run_marks(&chart, &runs, station_colour(i), &tip));
            }
        }
        root.present().map_err(&err)?;
    }
    inject(&mut svg, &marks);
    Ok(HealthFigure::Chart(svg))
}

/// Stations named in a count's tooltip; the rest are counted.
const TIP_NAMES: usize = 8;

/// A station's state on the position plot and in its legend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Heard from recently, with at least 95% of expected samples.
    Ok,
    /// Heard from recently, but with gaps (under 95% of expected samples).
    Gaps,
    /// Silent.
    Silent,
}

impl Status {
    /// Its colour (used nowhere else on the page).
    #[must_use]
    pub const fn colour(self) -> RGBColor {
        match self {
            Self::Ok => RGBColor(26, 152, 80),
            Self::Gaps => RGBColor(224, 130, 20),
            Self::Silent => RGBColor(178, 24, 43),
        }
    }

    /// Its name in the legend and tooltips.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "reporting",
            Self::Gaps => "reporting with gaps (under 95% of samples)",
            Self::Silent => "silent",
        }
    }
}

/// The fleet's positions from the registry as an SVG scatter (longitude scaled by the
/// cosine of the mean latitude, north up), each station a dot in its status colour with
/// its name beside it and a tooltip; `None` if no station has a position. Nothing is
/// fetched: there is no map underneath, only the coordinates.
#[must_use]
pub fn positions_svg(
    stations: &[(&str, Status, String)],
    registry: &Registry,
    named: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let placed: Vec<(&str, Status, &str, f64, f64)> = stations
        .iter()
        .filter_map(|(id, status, tip)| {
            let (lat, lon) = registry.station(id)?.position?;
            Some((*id, *status, tip.as_str(), lat, lon))
        })
        .collect();
    if placed.is_empty() {
        return None;
    }
    let fold = |f: fn(&(&str, Status, &str, f64, f64)) -> f64| {
        placed
            .iter()
            .map(f)
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                (lo.min(v), hi.max(v))
            })
    };
    let (lat_lo, lat_hi) = fold(|p| p.3);
    let (lon_lo, lon_hi) = fold(|p| p.4);
    let shrink = ((lat_lo + lat_hi) / 2.0).to_radians().cos().max(0.05);
    let (w, h) = ((lon_hi - lon_lo) * shrink, lat_hi - lat_lo);
    let extent = w.max(h).max(1e-6);
    // The larger side is 560 px; names need room on the right.
    let scale = 560.0 / extent;
    let (pad, right) = (20.0, 150.0);
    let width = (w * scale + pad + right).max(320.0);
    let height = h * scale + 2.0 * pad;
    let mut svg = format!(
        "<svg width=\"{width:.0}\" height=\"{height:.0}\" viewBox=\"0 0 {width:.0} {height:.0}\" \
         xmlns=\"http://www.w3.org/2000/svg\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
    );
    // Silent stations last: drawn on top where dots overlap.
    let mut order = placed;
    order.sort_by_key(|p| p.1 == Status::Silent);
    for (id, status, tip, lat, lon) in order {
        let x = pad + (lon - lon_lo) * shrink * scale;
        let y = pad + (lat_hi - lat) * scale;
        let label = if named(id) {
            format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#333\">{}</text>",
                x + 10.0,
                y + 4.0,
                escape(&fit(registry.short(id), 22))
            )
        } else {
            String::new()
        };
        let _ = std::fmt::Write::write_fmt(
            &mut svg,
            format_args!(
                "<g>{}<circle cx=\"{x:.1}\" cy=\"{y:.1}\" r=\"7\" fill=\"{}\"/>{label}</g>\n",
                title(tip),
                hex(status.colour()),
            ),
        );
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lakenode::sample::Sample;

    const H: i64 = 3_600_000;

    #[test]
    fn a_heatmap_has_one_cell_per_station_and_bucket() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        for i in 0..3 * H / 5_000 {
            if i * 5_000 < H || i * 5_000 >= 2 * H {
                fleet.add_sample("a", 5_000, &Sample::new(i * 5_000));
            }
        }
        fleet.touch("b");
        let period = fleet.period().unwrap();
        let order = fleet.stations_silent_first();
        let clock = Clock {
            at_ms: period.end_ms,
            now: true,
        };
        let svg = heatmap_svg(&fleet, &period, &order, &Registry::default(), &clock).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40]);
        // a: complete, empty, complete; b: three empty hours, drawn as one bar.
        let cells: Vec<&str> = svg
            .lines()
            .filter(|l| l.starts_with("<rect"))
            .skip(1)
            .collect();
        assert_eq!(cells.len(), 4, "{svg}");
        assert_eq!(svg.matches("#28A046").count(), 2, "a's 2 complete hours");
        assert_eq!(svg.matches("#C82828").count(), 2, "a's gap and b's 3 hours");
        let width = |l: &str| -> u32 {
            let w = l.split("width=\"").nth(1).unwrap();
            w[..w.find('"').unwrap()].parse().unwrap()
        };
        let b_row = cells
            .iter()
            .find(|l| width(l) > 600)
            .expect("b's bar spans 3 hours");
        assert!(b_row.contains("#C82828"));
        assert!(svg.contains("\nnever\n"), "b was never seen");
        // Each run of cells says whose it is and what it shows.
        assert!(
            svg.contains(
                "<title>b: 01-01 00:00 to 01-01 03:00 UTC: 0% of expected samples</title>"
            ),
            "{svg}"
        );
    }

    #[test]
    fn lines_break_at_gaps() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        for h in [0, 1, 3] {
            let mut s = Sample::new(h * H);
            s.set_count(Measurement::Temperature, Some(2_000));
            fleet.add_sample("a", 5_000, &s);
        }
        let period = fleet.period().unwrap();
        let r = runs(&fleet, &period, "a", |b| b.mean(Measurement::Temperature));
        assert_eq!(r, vec![vec![(0, 20.0), (1, 20.0)], vec![(3, 20.0)]]);
        let order = fleet.stations_silent_first();
        let ranges = series_ranges(&fleet, &order);
        let svg = station_svg(&fleet, &period, "a", &ranges, &Registry::default()).unwrap();
        // Temperature is drawn in #D6604D: one line for hours 0-1, a dot for hour 3.
        let temperature: Vec<&str> = svg.lines().filter(|l| l.contains("#D6604D")).collect();
        assert_eq!(temperature.len(), 2, "{svg}");
        assert!(
            temperature[0].starts_with("<polyline"),
            "{}",
            temperature[0]
        );
        assert!(temperature[1].starts_with("<circle"), "{}", temperature[1]);
        assert!(temperature[0].contains("<title>a: temperature, °C</title>"));
        assert!(
            svg.contains(">WHO 24 h: 15</text>"),
            "PM2.5's guideline is drawn"
        );
    }

    #[test]
    fn a_health_chart_without_values_or_events_is_said_in_words() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        fleet.add_sample("a", 5_000, &Sample::new(0));
        let period = fleet.period().unwrap();
        let order = fleet.stations_silent_first();
        let figure = |fleet: &Fleet, i: usize| {
            health_svg(
                fleet,
                &period,
                &order,
                &order,
                &Registry::default(),
                &HEALTH_CHARTS[i],
            )
            .unwrap()
        };
        assert_eq!(figure(&fleet, 1), HealthFigure::NoData, "no RSSI");
        let mut fleet2 = fleet.clone();
        fleet2.add_health("a", crate::report::aggregate::HealthPoint::default());
        assert_eq!(
            figure(&fleet2, 3),
            HealthFigure::AllZero,
            "no upload failures"
        );
        assert!(
            matches!(figure(&fleet2, 2), HealthFigure::Chart(_)),
            "a spool depth of 0 is drawn"
        );
        // Restarts are counted per bucket across the fleet, with who had them.
        let row = |at_ms, uptime_s| crate::report::aggregate::HealthPoint {
            at_ms,
            uptime_s,
            ..Default::default()
        };
        for (id, rows) in [
            ("a", [(600_000, 600), (1_200_000, 30), (1_800_000, 10)]),
            ("b", [(600_000, 600), (1_200_000, 20), (1_800_000, 900)]),
        ] {
            for (at, up) in rows {
                fleet2.add_health(id, row(at, up));
            }
        }
        let order = ["a", "b"];
        let HealthFigure::Chart(svg) = health_svg(
            &fleet2,
            &period,
            &order,
            &order,
            &Registry::default(),
            &HEALTH_CHARTS[4],
        )
        .unwrap() else {
            panic!("restarts are drawn");
        };
        assert!(
            svg.contains("<title>01-01 00:00 UTC: 3 restarts (a 2, b 1)</title>"),
            "{svg}"
        );
        assert!(!svg.contains("<circle"), "counts are bars, not dots");
    }

    #[test]
    fn labels() {
        assert_eq!(
            short_id("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e"),
            "4f6a8b0c1d2e"
        );
        assert_eq!(bucket_label(BucketSize::Hour, 1), "01-01 01:00");
        assert_eq!(bucket_label(BucketSize::Day, 1), "1970-01-02");
        let now = |at_ms| Clock { at_ms, now: true };
        assert_eq!(ago(&now(10 * H), 10 * H - 1_000), "now");
        assert_eq!(ago(&now(10 * H), 7 * H), "3 h before now");
        assert_eq!(ago(&now(100 * H), 0), "4 d before now");
        let at = Clock {
            at_ms: 10 * H,
            now: false,
        };
        assert_eq!(ago(&at, 10 * H), "0 min before --at");
        assert_eq!(ago(&at, 10 * H - 120_000), "2 min before --at");
    }
}
