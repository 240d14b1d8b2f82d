//! The report's charts, drawn with `plotters` into SVG strings that the page inlines:
//! the coverage heatmap, each station's small multiples, and the fleet's health charts.
//!
//! Every chart is drawn from bucket figures ([`super::aggregate`]): at most one point
//! per station and hour (or day), so a chart's size grows with stations x buckets,
//! never with the rows in the lake.

use plotters::coord::ranged1d::{IntoSegmentedCoord, SegmentValue};
use plotters::prelude::*;

use lakenode::schema::Measurement;

use super::aggregate::{Bucket, BucketSize, Fleet, Period};
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

/// The last 12 hex digits of a station id: unique enough to tell stations apart on a
/// chart (UUIDv7 ids of one fleet often share their leading time digits).
#[must_use]
pub fn short_id(id: &str) -> &str {
    id.get(id.len().saturating_sub(12)..).unwrap_or(id)
}

/// A bucket's start as text: `MM-DD HH:00` for hours, `YYYY-MM-DD` for days.
#[must_use]
pub fn bucket_label(size: BucketSize, bucket: i64) -> String {
    let Ok(t) = jiff::Timestamp::from_millisecond(bucket * size.ms()) else {
        return String::new();
    };
    let format = match size {
        BucketSize::Hour => "%m-%d %H:00",
        BucketSize::Day => "%Y-%m-%d",
    };
    t.strftime(format).to_string()
}

/// How long before `end_ms` the instant `t` was, in the largest fitting unit.
#[must_use]
pub fn ago(end_ms: i64, t: i64) -> String {
    let s = (end_ms - t).max(0) / 1000;
    match s {
        0..60 => "now".into(),
        60..3_600 => format!("{} min before", s / 60),
        3_600..172_800 => format!("{} h before", s / 3_600),
        _ => format!("{} d before", s / 86_400),
    }
}

fn chart_err<E: std::fmt::Display>(chart: &'static str) -> impl Fn(E) -> CliError {
    move |e| CliError::Chart {
        chart,
        message: e.to_string(),
    }
}

/// Stations (rows, in the order given: silent first) x buckets (columns), each cell
/// coloured by the fraction of expected samples that arrived; the left labels name the
/// station, the right ones say when it was last heard from.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn heatmap_svg(fleet: &Fleet, period: &Period, stations: &[&str]) -> CliResult<String> {
    let err = chart_err("coverage heatmap");
    let rows = stations.len().max(1);
    let buckets = period.buckets().max(1);
    let row_px = 14;
    let height = u32::try_from(rows * row_px)
        .unwrap_or(u32::MAX)
        .saturating_add(45);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let chart = ChartBuilder::on(&root)
            .margin(5)
            .x_label_area_size(28)
            .y_label_area_size(100)
            .right_y_label_area_size(110)
            .build_cartesian_2d((0..buckets).into_segmented(), (0..rows).into_segmented())
            .map_err(&err)?;
        let mut chart =
            chart.set_secondary_coord((0..buckets).into_segmented(), (0..rows).into_segmented());
        // Row r (from the top) is drawn at y = rows - 1 - r: plotters' y grows upwards.
        let station_at = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(y) if *y < stations.len() => Some(stations[rows - 1 - y]),
            _ => None,
        };
        let size = fleet.size;
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
            .y_labels(rows)
            .x_label_formatter(&x_label)
            .y_label_formatter(&|v| station_at(v).map(short_id).unwrap_or("").to_owned())
            .label_style(label_style.clone())
            .draw()
            .map_err(&err)?;
        let last_seen = |v: &SegmentValue<usize>| match station_at(v) {
            Some(id) => fleet
                .station(id)
                .and_then(|s| s.last_seen)
                .map_or_else(|| "never".to_owned(), |t| ago(period.end_ms, t)),
            None => String::new(),
        };
        chart
            .configure_secondary_axes()
            .y_labels(rows)
            .x_labels(1)
            .x_label_formatter(&|_| String::new())
            .y_label_formatter(&last_seen)
            .label_style(label_style)
            .draw()
            .map_err(&err)?;
        // Neighbouring cells of one colour are drawn as one rectangle: a healthy fleet's
        // rows are mostly one long green bar, which keeps the page small.
        let mut cells = Vec::new();
        for (r, id) in stations.iter().enumerate() {
            let y = rows - 1 - r;
            let mut x = 0;
            while x < buckets {
                let colour_at = |x: usize| {
                    let bucket = first + i64::try_from(x).unwrap_or(0);
                    coverage_colour(fleet.coverage(period, id, bucket))
                };
                let colour = colour_at(x);
                let mut end = x + 1;
                while end < buckets && colour_at(end) == colour {
                    end += 1;
                }
                cells.push(Rectangle::new(
                    [
                        (SegmentValue::Exact(x), SegmentValue::Exact(y)),
                        (SegmentValue::Exact(end), SegmentValue::Exact(y + 1)),
                    ],
                    colour.filled(),
                ));
                x = end;
            }
        }
        chart.draw_series(cells).map_err(&err)?;
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// The value range of a measurement's bucket means across the fleet, padded so a flat
/// line is visible.
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

/// Draws the lines of `runs` (a single point as a dot) on a chart with x in buckets.
fn draw_runs<DB: DrawingBackend>(
    chart: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordi64, plotters::coord::types::RangedCoordf64>,
    >,
    runs: Vec<Vec<(i64, f64)>>,
    style: ShapeStyle,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for run in runs {
        if run.len() == 1 {
            chart.draw_series(run.into_iter().map(|p| Circle::new(p, 1, style.filled())))?;
        } else {
            chart.draw_series(LineSeries::new(run, style))?;
        }
    }
    Ok(())
}

/// One station's small multiples: the bucket means of [`super::aggregate::SERIES`]
/// side by side, each on the fleet's common scale for that measurement.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn station_svg(
    fleet: &Fleet,
    period: &Period,
    id: &str,
    ranges: &[(f64, f64)],
) -> CliResult<String> {
    let err = chart_err("small multiples");
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 64)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let x_max = i64::try_from(period.buckets()).unwrap_or(1).max(1);
        let panels = root.split_evenly((1, super::aggregate::SERIES.len()));
        for ((panel, m), &(lo, hi)) in panels
            .iter()
            .zip(super::aggregate::SERIES)
            .zip(ranges.iter())
        {
            let mut chart = ChartBuilder::on(panel)
                .margin(4)
                .y_label_area_size(38)
                .build_cartesian_2d(0..x_max, lo..hi)
                .map_err(&err)?;
            chart
                .configure_mesh()
                .disable_x_mesh()
                .disable_x_axis()
                .y_labels(3)
                .light_line_style(WHITE)
                .bold_line_style(RGBColor(235, 235, 235))
                .y_label_formatter(&|v| format!("{v:.0}"))
                .label_style(("sans-serif", 12).into_font())
                .draw()
                .map_err(&err)?;
            let lines = runs(fleet, period, id, |b| b.mean(m));
            draw_runs(&mut chart, lines, series_colour(m).stroke_width(1)).map_err(&err)?;
        }
        root.present().map_err(&err)?;
    }
    Ok(svg)
}

/// The fleet's common value range of each of [`super::aggregate::SERIES`].
#[must_use]
pub fn series_ranges(fleet: &Fleet, stations: &[&str]) -> Vec<(f64, f64)> {
    super::aggregate::SERIES
        .iter()
        .map(|&m| value_range(fleet, stations, m))
        .collect()
}

/// One figure of the health panel: every station's line on one chart.
pub struct HealthChart {
    /// Title, above the chart.
    pub title: &'static str,
    /// The bucket figure, if the bucket has one.
    pub value: fn(&Bucket) -> Option<f64>,
    /// A count of events: all zero is said in words rather than drawn.
    pub count: bool,
}

/// The health panel's charts: battery (bucket mean), RSSI, spool depth (deepest in the
/// bucket), and retries and restarts (per bucket).
pub const HEALTH_CHARTS: [HealthChart; 5] = [
    HealthChart {
        title: "battery, V (mean per bucket)",
        value: |b| b.mean(Measurement::Battery),
        count: false,
    },
    HealthChart {
        title: "WiFi RSSI, dBm (mean per bucket)",
        value: Bucket::rssi,
        count: false,
    },
    HealthChart {
        title: "spool depth, files (deepest per bucket)",
        value: |b| (b.health_rows > 0).then_some(b.spool_max as f64),
        count: false,
    },
    HealthChart {
        title: "upload retries (per bucket)",
        value: |b| (b.health_rows > 0).then_some(b.retries as f64),
        count: true,
    },
    HealthChart {
        title: "restarts (per bucket)",
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
    /// A count that is zero everywhere (no retries, no restarts): said in words.
    AllZero,
}

/// One health chart over all stations.
///
/// # Errors
/// [`CliError::Chart`] if plotters fails to draw.
pub fn health_svg(
    fleet: &Fleet,
    period: &Period,
    stations: &[&str],
    chart_def: &HealthChart,
) -> CliResult<HealthFigure> {
    let err = chart_err("health panel");
    let all: Vec<Vec<Vec<(i64, f64)>>> = stations
        .iter()
        .map(|id| runs(fleet, period, id, chart_def.value))
        .collect();
    let values = all.iter().flatten().flatten().map(|p| p.1);
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return Ok(HealthFigure::NoData);
    }
    if chart_def.count && lo == 0.0 && hi == 0.0 {
        return Ok(HealthFigure::AllZero);
    }
    let pad = ((hi - lo) * 0.05).max(0.5);
    let floor = if lo >= 0.0 { 0.0 } else { f64::NEG_INFINITY };
    let (lo, hi) = ((lo - pad).max(floor), hi + pad);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH / 2 - 10, 200)).into_drawing_area();
        root.fill(&WHITE).map_err(&err)?;
        let x_max = i64::try_from(period.buckets()).unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(6)
            .caption(chart_def.title, ("sans-serif", 16))
            .x_label_area_size(22)
            .y_label_area_size(40)
            .build_cartesian_2d(0..x_max, lo..hi)
            .map_err(&err)?;
        let size = fleet.size;
        let first = period.first_bucket;
        chart
            .configure_mesh()
            .x_labels(4)
            .y_labels(4)
            .light_line_style(WHITE)
            .bold_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&|x| bucket_label(size, first + x))
            .label_style(("sans-serif", 12).into_font())
            .draw()
            .map_err(&err)?;
        for (i, runs) in all.into_iter().enumerate() {
            let colour = Palette99::pick(i).to_rgba().mix(0.8);
            if chart_def.count {
                // Events: a dot where a station had any, no line through the zeros.
                let dots = runs.into_iter().flatten().filter(|p| p.1 > 0.0);
                chart
                    .draw_series(dots.map(|p| Circle::new(p, 3, colour.filled())))
                    .map_err(&err)?;
            } else {
                draw_runs(&mut chart, runs, colour.stroke_width(1)).map_err(&err)?;
            }
        }
        root.present().map_err(&err)?;
    }
    Ok(HealthFigure::Chart(svg))
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
        let svg = heatmap_svg(&fleet, &period, &order).unwrap();
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
        let svg = station_svg(&fleet, &period, "a", &ranges).unwrap();
        // Temperature is drawn in #D6604D: one line for hours 0-1, a dot for hour 3.
        let temperature: Vec<&str> = svg.lines().filter(|l| l.contains("#D6604D")).collect();
        assert_eq!(temperature.len(), 2, "{svg}");
        assert!(
            temperature[0].starts_with("<polyline"),
            "{}",
            temperature[0]
        );
        assert!(temperature[1].starts_with("<circle"), "{}", temperature[1]);
    }

    #[test]
    fn a_health_chart_without_values_or_events_is_said_in_words() {
        let mut fleet = Fleet::new(BucketSize::Hour);
        fleet.add_sample("a", 5_000, &Sample::new(0));
        let period = fleet.period().unwrap();
        let order = fleet.stations_silent_first();
        let figure = |fleet: &Fleet, i: usize| {
            health_svg(fleet, &period, &order, &HEALTH_CHARTS[i]).unwrap()
        };
        assert_eq!(figure(&fleet, 1), HealthFigure::NoData, "no RSSI");
        let mut fleet2 = fleet.clone();
        fleet2.add_health("a", crate::report::aggregate::HealthPoint::default());
        assert_eq!(figure(&fleet2, 3), HealthFigure::AllZero, "no retries");
        assert!(
            matches!(figure(&fleet2, 2), HealthFigure::Chart(_)),
            "a spool depth of 0 is drawn"
        );
    }

    #[test]
    fn labels() {
        assert_eq!(
            short_id("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e"),
            "4f6a8b0c1d2e"
        );
        assert_eq!(bucket_label(BucketSize::Hour, 1), "01-01 01:00");
        assert_eq!(bucket_label(BucketSize::Day, 1), "1970-01-02");
        assert_eq!(ago(10 * H, 10 * H - 1_000), "now");
        assert_eq!(ago(10 * H, 7 * H), "3 h before");
        assert_eq!(ago(100 * H, 0), "4 d before");
    }
}
