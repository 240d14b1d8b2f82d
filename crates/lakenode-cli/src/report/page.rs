//! The report as one HTML page: the charts inlined as SVG, a short style sheet, no
//! script and no reference to anything outside the file, so it opens the same from a
//! disk, a mail attachment or an air-gapped laptop, on a desk or a phone (charts
//! wider than the screen scroll inside their own box; the page itself does not).
//!
//! Sections, in order: the alarm (silent stations, a stale lake), the coverage heatmap
//! (silent stations first), the stations' positions (with a registry), the station
//! table (each row linking to the station's section), the health panel, and each
//! station's measurements as small multiples.

use std::fmt::Write as _;

use lakenode::layout::rfc3339;

use super::aggregate::{BucketSize, Fleet, Period};
use super::registry::Registry;
use super::render::{self, Clock, HealthFigure, Status};
use super::scan::Scan;
use crate::error::CliResult;

/// What the page says about where it came from.
#[derive(Debug, Clone)]
pub struct PageInfo {
    /// The lake, as the user named it.
    pub lake: String,
    /// When the report was made, ms UTC.
    pub generated_ms: i64,
    /// A station is silent when its last sample is this much older than the report's
    /// time, ms.
    pub silent_after_ms: i64,
    /// The report's time (now, or `--at`).
    pub clock: Clock,
    /// `--days`.
    pub days: u32,
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

/// The id of a station's section: `s-` and the id, with any character but ASCII
/// letters, digits, `-` and `_` written as `.` and its code in hex.
#[must_use]
pub fn anchor(id: &str) -> String {
    let mut out = String::from("s-");
    for c in id.chars() {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c);
        } else {
            let _ = write!(out, ".{:x}", u32::from(c));
        }
    }
    out
}

/// A duration as `90 min`, `2 h` or `3 d`.
fn duration_text(ms: i64) -> String {
    let min = ms / 60_000;
    match min {
        m if m >= 1_440 && m % 1_440 == 0 => format!("{} d", m / 1_440),
        m if m >= 60 && m % 60 == 0 => format!("{} h", m / 60),
        m => format!("{m} min"),
    }
}

const STYLE: &str = "\
*{box-sizing:border-box}\
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:16px 24px;color:#222;background:#fafafa}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:22px 0 6px}\
h3{font-size:13px;margin:10px 0 2px;font-weight:600}h3 .id{font-family:monospace;font-weight:normal;color:#666;margin-left:6px}\
.meta{color:#555;font-size:13px;margin:0;overflow-wrap:anywhere}\
.alarm{background:#fdecea;border-left:4px solid #b2182b;padding:6px 10px;margin:8px 0;font-size:14px;overflow-wrap:anywhere}\
.problems{background:#fdecea;border:1px solid #e0a0a0;padding:6px 12px;font-size:13px;overflow-wrap:anywhere}\
.legend,.keys{font-size:12px;color:#444;display:flex;flex-wrap:wrap;align-items:center;gap:4px 10px;margin:0 0 4px;padding:0;list-style:none}\
.scale{display:inline-block;width:160px;height:10px;background:linear-gradient(90deg,#c82828,#f0b428 50%,#28a046)}\
.sw{display:inline-block;width:10px;height:10px;margin-right:4px;vertical-align:middle}\
.scroll{overflow-x:auto;max-width:100%}.fit svg{max-width:100%;height:auto}\
svg{display:block;background:#fff}\
table{border-collapse:collapse;font-size:12px;background:#fff}\
th,td{padding:2px 8px;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}\
th:first-child,td:first-child{text-align:left}td:first-child a{color:#1a4f8a}\
.ago{color:#666}\
tr.silent td{background:#fdecea}\
.tag{color:#fff;background:#c82828;border-radius:3px;padding:0 4px;margin-left:6px}\
.grid{display:flex;flex-wrap:wrap;gap:10px}.grid>*{min-width:0}\
.none{color:#777;font-size:13px;overflow-wrap:anywhere}\
@media (max-width:600px){body{margin:8px}h1{font-size:19px}}";

/// A station's status at the report's time.
fn status(fleet: &Fleet, period: Option<&Period>, id: &str, silent: &[&str]) -> Status {
    if silent.contains(&id) {
        Status::Silent
    } else if period.is_some_and(|p| fleet.total_coverage(p, id) < 0.95) {
        Status::Gaps
    } else {
        Status::Ok
    }
}

/// Renders the whole page; `registry` (possibly empty) names the stations and places
/// them.
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn render_page(scan: &Scan, info: &PageInfo, registry: &Registry) -> CliResult<String> {
    let fleet = &scan.fleet;
    let clock = &info.clock;
    let period = fleet.period();
    let order = fleet.stations_silent_first();
    let silent: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| fleet.is_silent(id, clock.at_ms, info.silent_after_ms))
        .collect();
    let last_seen = |id: &str| fleet.station(id).and_then(|s| s.last_seen);
    let ago =
        |id: &str| last_seen(id).map_or_else(|| "never".to_owned(), |t| render::ago(clock, t));
    let mut html = String::with_capacity(256 * 1024);
    let _ = writeln!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>lakenode fleet report: {}</title><style>{STYLE}</style></head><body>",
        escape(&info.lake)
    );
    header(&mut html, scan, info, period.as_ref(), silent.len());
    if scan.stale {
        let newest = order.iter().filter_map(|id| last_seen(id)).max();
        let _ = writeln!(
            html,
            "<p class=\"alarm\"><b>Nothing in the {} day(s) up to {}</b>: the lake's newest {} \
             day(s) holding data are drawn instead{}.</p>",
            info.days,
            rfc3339(clock.at_ms),
            info.days,
            newest.map_or_else(String::new, |t| format!(
                "; its newest sample is from {}, {}",
                rfc3339(t),
                render::ago(clock, t)
            ))
        );
    }
    if !silent.is_empty() {
        let _ = write!(
            html,
            "<p class=\"alarm\"><b>{} of {} station(s) silent</b> (no sample in the {} before \
             {}): ",
            silent.len(),
            order.len(),
            duration_text(info.silent_after_ms),
            if clock.now { "now" } else { "--at" }
        );
        let named: Vec<String> = silent
            .iter()
            .take(12)
            .map(|id| {
                format!(
                    "<a href=\"#{}\">{}</a> ({})",
                    anchor(id),
                    escape(registry.short(id)),
                    escape(&ago(id))
                )
            })
            .collect();
        html.push_str(&named.join(", "));
        if silent.len() > 12 {
            let _ = write!(html, " and {} more", silent.len() - 12);
        }
        html.push_str(".</p>\n");
    }
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
    registry_notes(&mut html, fleet, &order, registry);
    let Some(period) = period else {
        html.push_str("<p class=\"none\">No samples in the period: nothing to draw.</p>");
        station_table(&mut html, fleet, None, &order, &silent, registry, clock);
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
         station and {unit} (from the files' own timestamps), silent stations first; right: \
         how long before {} the last sample was <span>0%</span><span class=\"scale\"></span>\
         <span>100%</span><span><span class=\"sw\" style=\"background:{}\"></span>before the \
         station's first sample</span></div>",
        if clock.now { "now" } else { "--at" },
        render::hex(render::NOT_STARTED)
    );
    html.push_str("<div class=\"scroll\">");
    html.push_str(&render::heatmap_svg(
        fleet, &period, &order, registry, clock,
    )?);
    html.push_str("</div>\n");

    let statuses: Vec<(&str, Status, String)> = order
        .iter()
        .map(|id| {
            let st = status(fleet, Some(&period), id, &silent);
            let tip = format!(
                "{}: {}, last sample {}",
                registry.full(id),
                st.name(),
                ago(id)
            );
            (*id, st, tip)
        })
        .collect();
    if let Some(svg) = render::positions_svg(&statuses, registry) {
        html.push_str("\n<h2 id=\"positions\">Positions</h2><ul class=\"keys\">");
        for st in [Status::Silent, Status::Gaps, Status::Ok] {
            let n = statuses.iter().filter(|s| s.1 == st).count();
            let _ = write!(
                html,
                "<li><span class=\"sw\" style=\"background:{}\"></span>{} ({n})</li>",
                render::hex(st.colour()),
                st.name()
            );
        }
        html.push_str(
            "<li>from the registry's latitude and longitude (north up; no map)</li></ul>\
             <div class=\"scroll fit\">",
        );
        html.push_str(&svg);
        html.push_str("</div>\n");
    }

    station_table(
        &mut html,
        fleet,
        Some(&period),
        &order,
        &silent,
        registry,
        clock,
    );

    html.push_str("\n<h2 id=\"health\">Health</h2><div class=\"grid\">\n");
    let (mut missing, mut none, mut lines) = (Vec::new(), Vec::new(), false);
    for chart in &render::HEALTH_CHARTS {
        match render::health_svg(fleet, &period, &order, registry, chart)? {
            HealthFigure::Chart(svg) => {
                lines |= !chart.count;
                html.push_str("<div class=\"scroll fit\">");
                html.push_str(&svg);
                html.push_str("</div>");
            }
            HealthFigure::NoData => missing.push(chart.title),
            HealthFigure::AllZero => none.push(chart.title),
        }
    }
    html.push_str("</div>\n");
    if lines {
        html.push_str("<ul class=\"keys\">");
        for (i, id) in order.iter().enumerate() {
            let _ = write!(
                html,
                "<li><span class=\"sw\" style=\"background:{}\"></span>{}</li>",
                render::hex(render::station_colour(i)),
                escape(registry.short(id))
            );
        }
        html.push_str("</ul>\n");
    }
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

    let _ = writeln!(
        html,
        "<h2 id=\"measurements\">Measurements</h2><p class=\"meta\">{unit}ly means, \
         {} to {} UTC, each measurement on one scale for the whole fleet; the dashed line is \
         the WHO 2021 guideline for the 24-hour mean of PM2.5 (15 µg/m³)</p>",
        rfc3339(period.start_ms),
        rfc3339(period.end_ms)
    );
    let ranges = render::series_ranges(fleet, &order);
    for id in &order {
        let name = registry.short(id);
        let _ = write!(
            html,
            "<section id=\"{}\"><h3>{}{}</h3><div class=\"scroll\">",
            anchor(id),
            escape(name),
            if name == *id {
                String::new()
            } else {
                format!("<span class=\"id\">{}</span>", escape(id))
            }
        );
        html.push_str(&render::station_svg(fleet, &period, id, &ranges, registry)?);
        html.push_str("</div></section>\n");
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// With a registry: the lake's stations it does not list, the stations it lists that the
/// lake has never heard from, and those without a position.
fn registry_notes(html: &mut String, fleet: &Fleet, order: &[&str], registry: &Registry) {
    if registry.is_empty() {
        return;
    }
    let list = |ids: Vec<&str>| {
        ids.iter()
            .map(|id| escape(&registry.full(id)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let unlisted: Vec<&str> = order
        .iter()
        .copied()
        .filter(|id| registry.station(id).is_none())
        .collect();
    if !unlisted.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"none\">Not in the station registry (drawn by id, without a position): \
             {}.</p>",
            list(unlisted)
        );
    }
    let never: Vec<&str> = registry
        .ids()
        .filter(|id| fleet.station(id).is_none_or(|s| s.last_seen.is_none()))
        .collect();
    if !never.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"none\">In the station registry but never heard from in the lake \
             (listed as silent): {}.</p>",
            list(never)
        );
    }
    let unplaced: Vec<&str> = registry
        .ids()
        .filter(|id| registry.station(id).is_some_and(|s| s.position.is_none()))
        .collect();
    if !unplaced.is_empty() {
        let _ = writeln!(
            html,
            "<p class=\"none\">No position in the registry: {}.</p>",
            list(unplaced)
        );
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
         <b>{silent} silent</b> (no sample in the {} before {}) &middot; \
         {} files, {} bytes, {} samples, {} health rows read",
        escape(&info.lake),
        scan.fleet.len(),
        duration_text(info.silent_after_ms),
        if info.clock.now { "now" } else { "--at" },
        scan.files,
        scan.bytes,
        scan.samples,
        scan.health_rows,
    );
    if let Some(p) = period {
        let _ = write!(html, " &middot; drawn until {}", rfc3339(p.end_ms));
    }
    if !info.clock.now {
        let _ = write!(
            html,
            " &middot; <b>as of {}</b> (--at)",
            rfc3339(info.clock.at_ms)
        );
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
    registry: &Registry,
    clock: &Clock,
) {
    html.push_str(
        "\n<h2 id=\"stations\">Stations</h2><div class=\"scroll\"><table><tr><th>station</th>\
         <th>last sample (UTC)</th><th>coverage</th><th>battery last, V</th>\
         <th>battery lowest, V</th><th>RSSI, dBm</th><th>upload failures</th><th>deepest spool</th>\
         <th>dropped files</th><th>restarts</th></tr>\n",
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
        let name = if registry.station(id).is_some() {
            registry.short(id)
        } else {
            id
        };
        let _ = writeln!(
            html,
            "<tr{}><td><a href=\"#{}\" title=\"{}\">{}</a>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            if is_silent { " class=\"silent\"" } else { "" },
            anchor(id),
            escape(id),
            escape(name),
            if is_silent {
                "<span class=\"tag\">silent</span>"
            } else {
                ""
            },
            s.last_seen.map_or_else(
                || "never".to_owned(),
                |t| format!(
                    "{} <span class=\"ago\">{}</span>",
                    rfc3339(t),
                    escape(&render::ago(clock, t))
                )
            ),
            coverage.map_or_else(|| "-".to_owned(), |c| format!("{c:.1}%")),
            num(s.last_battery, 2),
            num(low, 2),
            num(rssi, 0),
            count(s.total(|b| b.upload_failures)),
            count(s.buckets.values().map(|b| b.spool_max).max().unwrap_or(0)),
            count(s.total(|b| b.dropped)),
            count(s.total(|b| i64::from(b.restarts))),
        );
    }
    html.push_str("</table></div>\n");
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

    #[test]
    fn anchors_are_valid_ids_and_distinct() {
        assert_eq!(anchor("0190f5c2-7a4e"), "s-0190f5c2-7a4e");
        assert_eq!(anchor("a b\"<"), "s-a.20b.22.3c");
        assert_ne!(anchor("a b"), anchor("a_b"));
        assert_eq!(duration_text(3_600_000), "1 h");
        assert_eq!(duration_text(90 * 60_000), "90 min");
    }
}
