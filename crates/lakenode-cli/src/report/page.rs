//! The report as one HTML page: the charts inlined as SVG, a short style sheet, no
//! script and no reference to anything outside the file, so it opens the same from a
//! disk, a mail attachment or an air-gapped laptop, on a desk or a phone (charts
//! wider than the screen scroll inside their own box; the page itself does not).
//!
//! Sections, in order: the alarm (silent stations, a stale lake), the coverage heatmap
//! (silent stations first), the stations' positions (with a registry), the station
//! table (each row linking to the station's section), the health panel, and each
//! station's measurements as small multiples.
//!
//! What a fleet of more than [`super::select::FULL_DETAIL`] stations shows is decided by
//! [`super::select`]: the fleet first (its mean coverage row above its worst stations',
//! health as the fleet's range and median), then charts only for the stations with a
//! problem, then the station table (one row per station) and a collapsed `<details>`
//! table of the other stations' means. So the page grows by ~0.4 KB per healthy station instead of ~10 KB: a
//! 1,000-station day is ~0.4 MB. With [`Links::Directory`] the names link to each
//! station's own page ([`super::station_page`]) instead.

use std::fmt::Write as _;

use lakenode::layout::rfc3339;

use super::aggregate::{BucketSize, Fleet, Period, SERIES};
use super::registry::Registry;
use super::render::{self, Clock, HealthFigure, Status};
use super::scan::Scan;
use super::select::{GAPS_BELOW, Selection};
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
#[must_use]
pub fn status(fleet: &Fleet, period: Option<&Period>, id: &str, sel: &Selection) -> Status {
    if sel.is_silent(id) {
        Status::Silent
    } else if period.is_some_and(|p| fleet.total_coverage(p, id) < GAPS_BELOW) {
        Status::Gaps
    } else {
        Status::Ok
    }
}

/// Where a station's name links to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Links {
    /// To its section of the one page (`#s-<id>`): its charts, or for a station a
    /// folded page does not draw in full, its row of the station table.
    InPage,
    /// To its own page of a report directory (`station/s-<id>.html`).
    Directory,
}

impl Links {
    /// The link to `id`'s detail, or `None` where its table row is all there is.
    #[must_use]
    pub fn href(self, id: &str, sel: &Selection) -> Option<String> {
        match self {
            Self::InPage if sel.is_detailed(id) => Some(format!("#{}", anchor(id))),
            Self::InPage => None,
            Self::Directory => Some(format!("station/{}", station_file(id))),
        }
    }
}

/// The file name of a station's page in a report directory.
#[must_use]
pub fn station_file(id: &str) -> String {
    format!("{}.html", anchor(id))
}

/// The page's head: the document's start, its title and style sheet.
pub fn head(html: &mut String, title: &str) {
    let _ = writeln!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>",
        escape(title)
    );
}

/// A station's name as a link (to `href`, or the table row's anchor when it has none).
fn station_link(id: &str, name: &str, href: Option<&str>) -> String {
    let href = href.map_or_else(|| format!("#{}", anchor(id)), str::to_owned);
    format!("<a href=\"{}\">{}</a>", escape(&href), escape(name))
}

/// Renders the whole page; `registry` (possibly empty) names the stations and places
/// them.
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn render_page(scan: &Scan, info: &PageInfo, registry: &Registry) -> CliResult<String> {
    let fleet = &scan.fleet;
    let period = fleet.period();
    let sel = Selection::new(
        fleet,
        period.as_ref(),
        info.clock.at_ms,
        info.silent_after_ms,
    );
    render_index(scan, info, registry, &sel, Links::InPage)
}

/// Renders the fleet's page with station names linked as `links` says.
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn render_index(
    scan: &Scan,
    info: &PageInfo,
    registry: &Registry,
    sel: &Selection,
    links: Links,
) -> CliResult<String> {
    let fleet = &scan.fleet;
    let clock = &info.clock;
    let period = fleet.period();
    let order = &sel.order;
    let silent = &sel.silent;
    let last_seen = |id: &str| fleet.station(id).and_then(|s| s.last_seen);
    let ago =
        |id: &str| last_seen(id).map_or_else(|| "never".to_owned(), |t| render::ago(clock, t));
    let mut html = String::with_capacity(256 * 1024);
    head(&mut html, &format!("lakenode fleet report: {}", info.lake));
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
                    "{} ({})",
                    station_link(id, registry.short(id), links.href(id, sel).as_deref()),
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
    registry_notes(&mut html, fleet, order, registry);
    let Some(period) = period else {
        html.push_str("<p class=\"none\">No samples in the period: nothing to draw.</p>");
        station_table(&mut html, fleet, None, sel, registry, clock, links);
        html.push_str("</body></html>\n");
        return Ok(html);
    };
    let (unit, means) = match fleet.size {
        BucketSize::Hour => ("hour", "Hourly"),
        BucketSize::Day => ("day", "Daily"),
    };
    let _ = writeln!(
        html,
        "<h2 id=\"coverage\">Coverage</h2><div class=\"legend\">share of expected samples per \
         station and {unit} (from the files' own timestamps), {}; right: \
         how long before {} the last sample was <span>0%</span><span class=\"scale\"></span>\
         <span>100%</span><span><span class=\"sw\" style=\"background:{}\"></span>before the \
         station's first sample</span></div>",
        if sel.folded {
            format!(
                "the whole fleet's mean on top, then its {} worst stations, silent first \
                 (every station is in the table below)",
                sel.heatmap.len()
            )
        } else {
            "silent stations first".to_owned()
        },
        if clock.now { "now" } else { "--at" },
        render::hex(render::NOT_STARTED)
    );
    html.push_str("<div class=\"scroll\">");
    let mut rows = Vec::with_capacity(sel.heatmap.len() + 1);
    if sel.folded {
        rows.push(render::fleet_row(fleet, &period, order));
    }
    rows.extend(
        sel.heatmap
            .iter()
            .map(|id| render::station_row(fleet, &period, id, registry, clock)),
    );
    html.push_str(&render::heatmap_rows_svg(fleet.size, &period, &rows)?);
    html.push_str("</div>\n");

    positions(&mut html, fleet, &period, sel, registry, &ago);
    // A folded page's table is long (a row per station): it follows the fleet's
    // health and the problem stations' charts instead of burying them.
    if !sel.folded {
        station_table(&mut html, fleet, Some(&period), sel, registry, clock, links);
    }
    health(&mut html, fleet, &period, sel, registry)?;

    let _ = writeln!(
        html,
        "<h2 id=\"measurements\">Measurements</h2><p class=\"meta\">{means} means, \
         {} to {} UTC, each measurement on one scale for the whole fleet; the dashed line is \
         the WHO 2021 guideline for the 24-hour mean of PM2.5 (15 µg/m³){}</p>",
        rfc3339(period.start_ms),
        rfc3339(period.end_ms),
        if sel.folded {
            format!(
                "; drawn for the {} station(s) with a problem, worst first (at most {}); \
                 the other {} are in the table below{}",
                sel.detailed.len(),
                super::select::WORST,
                order.len() - sel.detailed.len(),
                if links == Links::Directory {
                    ", each with its own page"
                } else {
                    ""
                }
            )
        } else {
            String::new()
        }
    );
    let ranges = render::series_ranges(fleet, order);
    for id in &sel.detailed {
        station_section(&mut html, fleet, &period, id, &ranges, registry)?;
    }
    if sel.folded {
        station_table(&mut html, fleet, Some(&period), sel, registry, clock, links);
        other_means(&mut html, fleet, &period, sel, registry, links);
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// A folded page's stations not drawn in full: the lowest and highest of each hourly
/// mean, one row each, in a collapsed `<details>` (no script needed to open it).
fn other_means(
    html: &mut String,
    fleet: &Fleet,
    period: &Period,
    sel: &Selection,
    registry: &Registry,
    links: Links,
) {
    let others: Vec<&str> = sel
        .order
        .iter()
        .copied()
        .filter(|id| !sel.is_detailed(id))
        .collect();
    if others.is_empty() {
        return;
    }
    let _ = write!(
        html,
        "<details id=\"others\"><summary>The other {}: lowest to highest {} mean \
         of each measurement</summary><div class=\"scroll\"><table><tr><th>station</th>",
        stations_text(others.len()),
        match fleet.size {
            BucketSize::Hour => "hourly",
            BucketSize::Day => "daily",
        }
    );
    for m in SERIES {
        let _ = write!(html, "<th>{}, {}</th>", render::label(m), render::unit(m));
    }
    html.push_str("</tr>\n");
    for id in others {
        let name = registry.short(id);
        let cell = match links.href(id, sel) {
            Some(href) => format!("<a href=\"{}\">{}</a>", escape(&href), escape(name)),
            None => escape(name),
        };
        let _ = write!(html, "<tr><td>{cell}</td>");
        for m in SERIES {
            let (lo, hi) = fleet.station(id).map_or((f64::NAN, f64::NAN), |s| {
                s.buckets
                    .range(period.first_bucket..=period.last_bucket)
                    .filter_map(|(_, b)| b.mean(m))
                    .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                        (lo.min(v), hi.max(v))
                    })
            });
            if lo.is_finite() {
                let digits = usize::from(m.decimals() > 0);
                let _ = write!(html, "<td>{lo:.digits$} to {hi:.digits$}</td>");
            } else {
                html.push_str("<td>-</td>");
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table></div></details>\n");
}

/// A station's section: its name and small multiples.
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn station_section(
    html: &mut String,
    fleet: &Fleet,
    period: &Period,
    id: &str,
    ranges: &[(f64, f64)],
    registry: &Registry,
) -> CliResult<()> {
    let name = registry.short(id);
    let _ = write!(
        html,
        "<section id=\"{}\"><h3>{}{}</h3><div class=\"scroll\">",
        anchor(id),
        escape(name),
        if name == id {
            String::new()
        } else {
            format!("<span class=\"id\">{}</span>", escape(id))
        }
    );
    html.push_str(&render::station_svg(fleet, period, id, ranges, registry)?);
    html.push_str("</div></section>\n");
    Ok(())
}

/// The position plot, with a registry that places any station.
fn positions(
    html: &mut String,
    fleet: &Fleet,
    period: &Period,
    sel: &Selection,
    registry: &Registry,
    ago: &dyn Fn(&str) -> String,
) {
    if registry.is_empty() {
        return;
    }
    let statuses: Vec<(&str, Status, String)> = sel
        .order
        .iter()
        .map(|id| {
            let st = status(fleet, Some(period), id, sel);
            let tip = format!(
                "{}: {}, last sample {}",
                registry.full(id),
                st.name(),
                ago(id)
            );
            (*id, st, tip)
        })
        .collect();
    // A folded page names only the stations with a problem beside their dots: a
    // thousand names would cover the plot (every dot keeps its tooltip).
    let named = |id: &str| !sel.folded || sel.is_detailed(id);
    if let Some(svg) = render::positions_svg(&statuses, registry, &named) {
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
}

/// The health panel: a line per station (in a folded page, per station drawn in full,
/// over the fleet's range and median), with its colour legend.
fn health(
    html: &mut String,
    fleet: &Fleet,
    period: &Period,
    sel: &Selection,
    registry: &Registry,
) -> CliResult<()> {
    html.push_str("\n<h2 id=\"health\">Health</h2><div class=\"grid\">\n");
    let (mut missing, mut none, mut lines) = (Vec::new(), Vec::new(), false);
    for chart in &render::HEALTH_CHARTS {
        match render::health_svg(fleet, period, &sel.order, &sel.detailed, registry, chart)? {
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
        if sel.folded {
            let _ = write!(
                html,
                "<li><span class=\"sw\" style=\"background:{}\"></span>lowest to highest of \
                 the fleet</li><li><span class=\"sw\" style=\"background:{}\"></span>the \
                 fleet's median</li>",
                render::hex(render::BAND),
                render::hex(render::MEDIAN)
            );
        }
        for (i, id) in sel.detailed.iter().enumerate() {
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
    Ok(())
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
        "<h1>lakenode fleet report</h1><p class=\"meta\">{} &middot; {days} &middot; {}, \
         <b>{silent} silent</b> (no sample in the {} before {}) &middot; \
         {} files, {} bytes, {} samples, {} health rows read",
        escape(&info.lake),
        stations_text(scan.fleet.len()),
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

/// The station table: every station, one row each, in the selection's order; the
/// name links to the station's detail (a row with no detail of its own is the anchor
/// others link to).
pub fn station_table(
    html: &mut String,
    fleet: &Fleet,
    period: Option<&Period>,
    sel: &Selection,
    registry: &Registry,
    clock: &Clock,
    links: Links,
) {
    station_table_head(html);
    for id in &sel.order {
        table_row(
            html,
            fleet,
            period,
            id,
            sel,
            registry,
            clock,
            links.href(id, sel),
        );
    }
    html.push_str("</table></div>\n");
}

/// The station table's heading and head row (its rows follow: [`table_row`]).
pub fn station_table_head(html: &mut String) {
    html.push_str(
        "\n<h2 id=\"stations\">Stations</h2><div class=\"scroll\"><table><tr><th>station</th>\
         <th>last sample (UTC)</th><th>coverage</th><th>battery last, V</th>\
         <th>battery lowest, V</th><th>RSSI, dBm</th><th>upload failures</th><th>deepest spool</th>\
         <th>dropped files</th><th>restarts</th></tr>\n",
    );
}

/// One row of the station table; `href` links its name.
#[allow(clippy::too_many_arguments)]
pub fn table_row(
    html: &mut String,
    fleet: &Fleet,
    period: Option<&Period>,
    id: &str,
    sel: &Selection,
    registry: &Registry,
    clock: &Clock,
    href: Option<String>,
) {
    let num = |v: Option<f64>, digits: usize| {
        v.map_or_else(|| "-".to_owned(), |v| format!("{v:.digits$}"))
    };
    let Some(s) = fleet.station(id) else { return };
    let is_silent = sel.is_silent(id);
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
    let title = if name == id {
        String::new()
    } else {
        format!(" title=\"{}\"", escape(id))
    };
    let (row_id, cell) = match &href {
        Some(href) => (
            String::new(),
            format!("<a href=\"{}\"{title}>{}</a>", escape(href), escape(name)),
        ),
        None => (
            format!(" id=\"{}\"", anchor(id)),
            format!("<span{title}>{}</span>", escape(name)),
        ),
    };
    let _ = writeln!(
        html,
        "<tr{row_id}{}><td>{cell}{}</td><td>{}</td><td>{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        if is_silent { " class=\"silent\"" } else { "" },
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

/// "1 station", "2 stations".
#[must_use]
pub fn stations_text(n: usize) -> String {
    if n == 1 {
        "1 station".to_owned()
    } else {
        format!("{n} stations")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::report::select::synthetic_scan;

    const H: i64 = 3_600_000;

    fn info(hours: i64) -> PageInfo {
        PageInfo {
            lake: "/lake".into(),
            generated_ms: hours * H,
            silent_after_ms: H,
            clock: Clock {
                at_ms: hours * H,
                now: false,
            },
            days: 1,
        }
    }

    /// Every `href="#x"` of `html` has an element with `id="x"`.
    fn assert_links_resolve(html: &str) {
        for part in html.split("href=\"").skip(1) {
            let target = &part[..part.find('"').unwrap()];
            let id = target
                .strip_prefix('#')
                .expect("links only within the page");
            assert!(html.contains(&format!(" id=\"{id}\"")), "no {id}");
        }
    }

    #[test]
    fn a_large_fleet_page_grows_by_a_table_row_per_healthy_station() {
        let page = |n: usize| {
            let scan = synthetic_scan(n, 24);
            render_page(&scan, &info(24), &Registry::default()).unwrap()
        };
        let (small, large) = (page(100), page(300));
        let per_station = (large.len() - small.len()) / 200;
        // A table row is ~330 bytes; a station drawn in full was ~10 KB of charts.
        assert!(
            per_station < 600,
            "{per_station} bytes per extra healthy station ({} then {})",
            small.len(),
            large.len()
        );
        assert!(large.len() < 400_000, "{} bytes", large.len());
        // The fleet first: the coverage (the whole fleet's row, then the worst
        // stations), the health panel; then the problem stations in full, then the
        // table of every station.
        let at = |needle: &str| large.find(needle).unwrap_or_else(|| panic!("{needle}"));
        assert!(at("id=\"coverage\"") < at("id=\"health\""));
        assert!(at("id=\"health\"") < at("<section id="));
        assert!(at("<section id=") < at("id=\"stations\""));
        assert!(large.contains("<title>the whole fleet (mean of 300 stations): "));
        // The problem stations are drawn in full, worst first; a healthy one is a row.
        let sections: Vec<&str> = large
            .split("<section id=\"")
            .skip(1)
            .map(|s| &s[..s.find('"').unwrap()])
            .collect();
        assert_eq!(sections, ["s-st000", "s-st001", "s-st002"]);
        assert!(large.contains("<tr id=\"s-st150\">"));
        assert!(large.contains("<a href=\"#s-st002\">st002</a>"));
        // The others' hourly means, folded away.
        let others = &large[at("<details id=\"others\">")..];
        assert_eq!(others.matches("<tr><td>").count(), 297);
        // st150: 15 °C + 14 x 0.2 °C, rising 0.25 °C an hour; PM2.5 5 + 14; CO₂ 420 + 3 x 14.
        assert!(others.contains(
            "<tr><td>st150</td><td>17.9 to 21.3</td><td>45.9 to 59.7</td><td>19 to 19</td>\
             <td>462 to 462</td></tr>"
        ));
        // The health charts draw the fleet's range and median, and the 3 stations.
        assert!(large.contains("median of the 300 stations"));
        assert!(large.matches("<polygon").count() >= 1);
        // Self-contained, and every link leads somewhere on the page.
        assert!(!large.contains("<script"));
        assert_eq!(
            large.matches("http").count(),
            large
                .matches("xmlns=\"http://www.w3.org/2000/svg\"")
                .count()
        );
        assert_links_resolve(&large);
        assert_links_resolve(&small);
    }

    /// The page of a 1,000-station day without a lake: its size and the time to draw
    /// it. `cargo test --release -p lakenode-cli --lib page_of_a_1000 -- --ignored
    /// --nocapture`
    #[test]
    #[ignore = "a measurement, not a check"]
    fn page_of_a_1000_station_day() {
        let scan = synthetic_scan(1_000, 24);
        let start = std::time::Instant::now();
        let html = render_page(&scan, &info(24), &Registry::default()).unwrap();
        println!(
            "1,000 stations x 24 h: {} bytes in {:.3} s",
            html.len(),
            start.elapsed().as_secs_f64()
        );
        assert!(html.len() < 2_000_000);
    }

    #[test]
    fn a_small_fleet_is_drawn_in_full() {
        let scan = synthetic_scan(12, 6);
        let html = render_page(&scan, &info(6), &Registry::default()).unwrap();
        assert_eq!(html.matches("<section id=").count(), 12);
        assert!(!html.contains("(mean of 12 stations)"), "no fleet row");
        assert_links_resolve(&html);
    }

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
