//! A station's own page in a report directory (`lakenode report --out DIR/`): what the
//! fleet's page shows of one station, in full whatever the fleet's size: its row of the
//! station table, its coverage per hour under the fleet's, its measurements as small
//! multiples on the fleet's scales, and its health charts. Like the fleet's page it is
//! self-contained (no script, nothing fetched); its only link leads back to
//! `../index.html`.
//!
//! ```text
//! DIR/index.html                    the fleet (page::render_index with Links::Directory)
//! DIR/station/s-<id>.html           one per station (page::station_file)
//! ```

use std::fmt::Write as _;

use lakenode::layout::rfc3339;

use super::aggregate::Period;
use super::page::{self, PageInfo, escape};
use super::registry::Registry;
use super::render::{self, HealthFigure};
use super::scan::Scan;
use super::select::Selection;
use crate::error::CliResult;

/// Renders `id`'s page; `ranges` are the fleet's scales ([`render::series_ranges`]).
///
/// # Errors
/// [`crate::error::CliError::Chart`] if a chart cannot be drawn.
pub fn station_page(
    scan: &Scan,
    info: &PageInfo,
    registry: &Registry,
    sel: &Selection,
    period: Option<&Period>,
    ranges: &[(f64, f64)],
    id: &str,
) -> CliResult<String> {
    let fleet = &scan.fleet;
    let clock = &info.clock;
    let name = registry.short(id);
    let mut html = String::with_capacity(32 * 1024);
    page::head(&mut html, &format!("lakenode station report: {name}"));
    let _ = write!(
        html,
        "<h1>{}</h1><p class=\"meta\"><a href=\"../index.html\">the whole fleet</a> &middot; \
         station {} &middot; {}",
        escape(name),
        escape(id),
        escape(&info.lake)
    );
    if let Some(p) = period {
        let _ = write!(
            html,
            " &middot; {} to {} UTC",
            rfc3339(p.start_ms),
            rfc3339(p.end_ms)
        );
    }
    if !clock.now {
        let _ = write!(
            html,
            " &middot; <b>as of {}</b> (--at)",
            rfc3339(clock.at_ms)
        );
    }
    html.push_str("</p>\n");
    if sel.is_silent(id) {
        let last = fleet.station(id).and_then(|s| s.last_seen);
        let _ = writeln!(
            html,
            "<p class=\"alarm\"><b>Silent</b>: {}.</p>",
            last.map_or_else(
                || "never heard from".to_owned(),
                |t| format!("last sample {}, {}", rfc3339(t), render::ago(clock, t))
            )
        );
    }
    page::station_table_head(&mut html);
    page::table_row(&mut html, fleet, period, id, sel, registry, clock, None);
    html.push_str("</table></div>\n");
    let Some(period) = period else {
        html.push_str("<p class=\"none\">No samples in the period: nothing to draw.</p>");
        html.push_str("</body></html>\n");
        return Ok(html);
    };
    html.push_str(
        "<h2 id=\"coverage\">Coverage</h2><div class=\"legend\">share of expected samples \
         per bucket, the whole fleet's mean above the station's</div><div class=\"scroll\">",
    );
    let rows = [
        render::fleet_row(fleet, period, &sel.order),
        render::station_row(fleet, period, id, registry, clock),
    ];
    html.push_str(&render::heatmap_rows_svg(fleet.size, period, &rows)?);
    html.push_str("</div>\n<h2 id=\"measurements\">Measurements</h2>");
    page::station_section(&mut html, fleet, period, id, ranges, registry)?;
    html.push_str("<h2 id=\"health\">Health</h2><div class=\"grid\">\n");
    let mut said = Vec::new();
    for chart in &render::HEALTH_CHARTS {
        let chart = &render::HealthChart {
            title: chart.station_title,
            ..*chart
        };
        match render::health_svg(fleet, period, &[id], &[id], registry, chart)? {
            HealthFigure::Chart(svg) => {
                html.push_str("<div class=\"scroll fit\">");
                html.push_str(&svg);
                html.push_str("</div>");
            }
            HealthFigure::NoData => said.push(format!("{}: not reported", chart.title)),
            HealthFigure::AllZero => said.push(format!("{}: none", chart.title)),
        }
    }
    html.push_str("</div>\n");
    if !said.is_empty() {
        let _ = writeln!(html, "<p class=\"none\">{}.</p>", escape(&said.join("; ")));
    }
    html.push_str("</body></html>\n");
    Ok(html)
}
