//! The report as one HTML page: the charts inlined as SVG, a short style sheet, no
//! script and no reference to anything outside the file, so it opens the same from a
//! disk, a mail attachment or an air-gapped laptop.
//!
//! Sections, in order: the coverage heatmap (silent stations first), the station table
//! (last seen, coverage, battery, RSSI, retries, spool depth, restarts), the health
//! panel, and each station's measurements as small multiples.

use std::fmt::Write as _;

use lakenode::layout::rfc3339;
use lakenode::schema::Measurement;

use super::aggregate::{BucketSize, Fleet, Period, SERIES};
use super::render::{self, HealthFigure};
use super::scan::Scan;
use crate::error::CliResult;

/// What the page says about where it came from.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// The lake, as the user named it.
    pub lake: String,
    /// When the report was made, ms UTC.
    pub generated_ms: i64,
    /// A station is silent when its last sample is this much older than the fleet's
    /// newest, ms.
    pub silent_after_ms: i64,
}

/// Escapes text for HTML element content and attribute values.
#[must_use]
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px 24px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px}\
.meta{color:#555;font-size:13px;margin:0}\
.problems{background:#fdecea;border:1px solid #e0a0a0;padding:6px 12px;font-size:13px}\
.legend{font-size:12px;color:#444;display:flex;align-items:center;gap:8px;margin:0 0 4px}\
.scale{display:inline-block;width:160px;height:10px;background:linear-gradient(90deg,#c82828,#f0b428 50%,#28a046)}\
svg{display:block;background:#fff}\
table{border-collapse:collapse;font-size:12px;background:#fff}\
th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left;font-family:monospace}\
tr.silent td{background:#fdecea}\
.tag{color:#fff;background:#c82828;border-radius:3px;padding:0 4px;margin-left:6px;font-family:system-ui,sans-serif}\
.grid{display:flex;flex-wrap:wrap;gap:10px}\
.heads{display:grid;grid-template-columns:repeat(4,1fr);width:1100px;font-size:12px;color:#444}\
.station{font-family:monospace;font-size:12px;margin:6px 0 0}\
.none{color:#777;font-size:13px}";

/// Renders the whole page.
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn render_page(scan: &Scan, info: &PageInfo) -> CliResult<String> {
    let fleet = &scan.fleet;
    let period = fleet.period();
    let order = fleet.stations_silent_first();
    let silent: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| fleet.is_silent(period.as_ref(), id, info.silent_after_ms))
        .collect();
    let mut html = String::with_capacity(256 * 1024);
    let _ = writeln!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>lakenode fleet report: {}</title><style>{STYLE}</style></head><body>",
        escape(&info.lake)
    );
    header(&mut html, scan, info, period.as_ref(), silent.len());
    if !scan.problems.is_empty() {
        let _ = write!(
            html,
            "<div class=\"problems\"><b>{} file(s) could not be read and are not in this report:</b><ul>",
            scan.problems.len()
        );
        for p in scan.problems.iter().take(50) {
            let _ = write!(html, "<li>{}</li>", escape(p));
        }
        if scan.problems.len() > 50 {
            let _ = write!(html, "<li>... and {} more</li>", scan.problems.len() - 50);
        }
        html.push_str("</ul></div>\n");
    }
    let Some(period) = period else {
        html.push_str("<p class=\"none\">No samples in the lake: nothing to draw.</p>");
        station_table(&mut html, fleet, None, &order, &silent);
        html.push_str("</body></html>\n");
        return Ok(html);
    };
    let unit = match fleet.size {
        BucketSize::Hour => "hour",
        BucketSize::Day => "day",
    };
    let _ = writeln!(
        html,
        "<h2 id=\"coverage\">Coverage</h2><div class=\"legend\">share of expected samples per \
         station and {unit} (from the files' own timestamps); right: last sample, before the \
         fleet's newest <span>0%</span><span class=\"scale\"></span><span>100%</span></div>"
    );
    html.push_str(&render::heatmap_svg(fleet, &period, &order)?);
    station_table(&mut html, fleet, Some(&period), &order, &silent);

    html.push_str("\n<h2 id=\"health\">Health</h2><div class=\"grid\">\n");
    let (mut missing, mut none) = (Vec::new(), Vec::new());
    for chart in &render::HEALTH_CHARTS {
        match render::health_svg(fleet, &period, &order, chart)? {
            HealthFigure::Chart(svg) => html.push_str(&svg),
            HealthFigure::NoData => missing.push(chart.title),
            HealthFigure::AllZero => none.push(chart.title),
        }
    }
    html.push_str("</div>\n");
    if !none.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"none\">None in the period: {}.</p>",
            escape(&none.join("; "))
        );
    }
    if !missing.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"none\">No station reported: {} (stations on a PC have no WiFi; health \
             rows come from the health/ tree, written by nodes and by <code>run --health</code>).</p>",
            escape(&missing.join("; "))
        );
    }

    let _ = write!(
        html,
        "<h2 id=\"measurements\">Measurements</h2><p class=\"meta\">{unit}ly means, \
         {} to {} UTC, each measurement on one scale for the whole fleet</p><div class=\"heads\">",
        rfc3339(period.start_ms),
        rfc3339(period.end_ms)
    );
    let ranges = render::series_ranges(fleet, &order);
    for (m, (lo, hi)) in SERIES.iter().zip(&ranges) {
        let _ = write!(
            html,
            "<span>{} ({}), {lo:.0} to {hi:.0}</span>",
            label(*m),
            m.unit()
        );
    }
    html.push_str("</div>\n");
    for id in &order {
        let _ = write!(html, "<p class=\"station\">{}</p>", escape(id));
        html.push_str(&render::station_svg(fleet, &period, id, &ranges)?);
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

fn label(m: Measurement) -> &'static str {
    match m {
        Measurement::Temperature => "temperature",
        Measurement::Humidity => "humidity",
        Measurement::Pm25 => "PM2.5",
        Measurement::Co2 => "CO2",
        _ => m.name(),
    }
}

fn header(html: &mut String, scan: &Scan, info: &PageInfo, period: Option<&Period>, silent: usize) {
    let days = scan.days.map_or_else(
        || "no data".to_owned(),
        |(a, b)| format!("{a} to {b} (UTC days)"),
    );
    let _ = write!(
        html,
        "<h1>lakenode fleet report</h1><p class=\"meta\">{} &middot; {days} &middot; {} stations, \
         <b>{silent} silent</b> (no sample in the last {} min before the fleet's newest) &middot; \
         {} files, {} bytes, {} samples, {} health rows read",
        escape(&info.lake),
        scan.fleet.len(),
        info.silent_after_ms / 60_000,
        scan.files,
        scan.bytes,
        scan.samples,
        scan.health_rows,
    );
    if let Some(p) = period {
        let _ = write!(html, " &middot; data until {}", rfc3339(p.end_ms));
    }
    let _ = writeln!(
        html,
        " &middot; made {} by lakenode {}</p>",
        rfc3339(info.generated_ms),
        env!("CARGO_PKG_VERSION")
    );
}

fn station_table(
    html: &mut String,
    fleet: &Fleet,
    period: Option<&Period>,
    order: &[&str],
    silent: &[&str],
) {
    html.push_str(
        "\n<h2 id=\"stations\">Stations</h2><table><tr><th>station</th><th>last sample (UTC)</th>\
         <th>coverage</th><th>battery last, V</th><th>battery lowest, V</th><th>RSSI, dBm</th>\
         <th>retries</th><th>deepest spool</th><th>dropped files</th><th>restarts</th></tr>\n",
    );
    let num = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    for id in order {
        let Some(s) = fleet.station(id) else { continue };
        let is_silent = silent.contains(id);
        let coverage = period.map(|p| fleet.total_coverage(p, id) * 100.0);
        let low = s.min_battery;
        let (rssi_sum, rssi_n) = s
            .buckets
            .values()
            .fold((0.0, 0u32), |(a, n), b| (a + b.rssi.0, n + b.rssi.1));
        let rssi = (rssi_n > 0).then(|| rssi_sum / f64::from(rssi_n));
        let health = s.buckets.values().any(|b| b.health_rows > 0);
        let count = |v: i64| {
            if health {
                v.to_string()
            } else {
                "-".to_owned()
            }
        };
        let _ = writeln!(
            html,
            "<tr{}><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if is_silent { " class=\"silent\"" } else { "" },
            escape(id),
            if is_silent {
                "<span class=\"tag\">silent</span>"
            } else {
                ""
            },
            s.last_seen.map_or_else(|| "never".to_owned(), rfc3339),
            coverage.map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%")),
            num(s.last_battery, 2),
            num(low, 2),
            num(rssi, 0),
            count(s.total(|b| b.retries)),
            count(s.buckets.values().map(|b| b.spool_max).max().unwrap_or(0)),
            count(s.total(|b| b.dropped)),
            count(s.total(|b| i64::from(b.restarts))),
        );
    }
    html.push_str("</table>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
    }
}
