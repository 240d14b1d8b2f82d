//! The fleet's band on a health chart of a large fleet: per bucket the lowest to the
//! highest value of all stations as a grey area, and their median as a dark line, so a
//! thousand stations make one shape instead of a thousand lines
//! ([`super::render::health_svg`]).

use plotters::style::RGBColor;

use super::aggregate::Period;
use super::render::{LineChart, hex, line_mark, title};

/// The fleet's band colour (its range of values).
pub const BAND: RGBColor = RGBColor(200, 200, 200);
/// The fleet's median line colour.
pub const MEDIAN: RGBColor = RGBColor(90, 90, 90);

/// Per bucket x with a value at any station: (x, min, median, max) of the stations'
/// values, in runs of consecutive buckets.
pub(crate) type Band = Vec<Vec<(i64, f64, f64, f64)>>;

pub(crate) fn band(period: &Period, all: &[Vec<Vec<(i64, f64)>>]) -> Band {
    let mut per: Vec<Vec<f64>> = vec![Vec::new(); period.buckets()];
    for &(x, v) in all.iter().flatten().flatten() {
        if let Some(values) = usize::try_from(x).ok().and_then(|x| per.get_mut(x)) {
            values.push(v);
        }
    }
    let mut out: Band = Vec::new();
    let mut last = None;
    for (x, values) in (0_i64..).zip(per.iter_mut()) {
        if values.is_empty() {
            continue;
        }
        values.sort_by(f64::total_cmp);
        let median = values[values.len() / 2];
        if last != Some(x - 1) || out.is_empty() {
            out.push(Vec::new());
        }
        if let Some(run) = out.last_mut() {
            run.push((x, values[0], median, values[values.len() - 1]));
        }
        last = Some(x);
    }
    out
}

/// The band's marks: a grey area from min to max and the median as a dark line.
pub(crate) fn band_marks(
    chart: &LineChart<'_, '_>,
    band: &Band,
    stations: usize,
    what: &str,
) -> String {
    let mut out = String::new();
    let mid = |x: i64, v: f64| {
        let (x0, y) = chart.backend_coord(&(x, v));
        let (x1, _) = chart.backend_coord(&(x + 1, v));
        ((x0 + x1) / 2, y)
    };
    for run in band {
        let mut points: Vec<(i32, i32)> = run.iter().map(|p| mid(p.0, p.3)).collect();
        points.extend(run.iter().rev().map(|p| mid(p.0, p.1)));
        if run.len() == 1 {
            // A run of one bucket: a bar as wide as the bucket.
            let (x, lo, _, hi) = run[0];
            let (x0, y0) = chart.backend_coord(&(x, hi));
            let (x1, y1) = chart.backend_coord(&(x + 1, lo));
            points = vec![
                (x0, y0),
                (x1, y0),
                (x1, y1.max(y0 + 1)),
                (x0, y1.max(y0 + 1)),
            ];
        }
        let pts: Vec<String> = points.iter().map(|(x, y)| format!("{x},{y}")).collect();
        let _ = std::fmt::Write::write_fmt(
            &mut out,
            format_args!(
                "<polygon fill=\"{}\" stroke=\"none\" points=\"{}\">{}</polygon>\n",
                hex(BAND),
                pts.join(" "),
                title(&format!(
                    "{what}: lowest to highest of the {stations} stations"
                ))
            ),
        );
        let median: Vec<(i32, i32)> = run.iter().map(|p| mid(p.0, p.2)).collect();
        out.push_str(&line_mark(
            &median,
            MEDIAN,
            2.0,
            &format!("{what}: median of the {stations} stations"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_band_spans_the_stations_values_per_bucket_in_runs() {
        let period = Period {
            first_bucket: 0,
            last_bucket: 3,
            start_ms: 0,
            end_ms: 4 * 3_600_000,
        };
        // Three stations; bucket 2 has no value anywhere.
        let all = vec![
            vec![vec![(0, 1.0), (1, 5.0)], vec![(3, 2.0)]],
            vec![vec![(0, 3.0), (1, 4.0)]],
            vec![vec![(0, 2.0)]],
        ];
        assert_eq!(
            band(&period, &all),
            vec![
                vec![(0, 1.0, 2.0, 3.0), (1, 4.0, 5.0, 5.0)],
                vec![(3, 2.0, 2.0, 2.0)]
            ]
        );
    }
}
