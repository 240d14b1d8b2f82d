//! `lakenode report`: one self-contained HTML page of the fleet, drawn from the lake.
//!
//! The lake is walked once ([`scan`]), every file read with the project's own checked
//! reader and folded into per-station, per-hour figures ([`aggregate`]); the charts
//! are drawn with `plotters` into inline SVG ([`render`]) and put into one HTML page
//! with its CSS and no script or network reference ([`page`]). A fleet too large to
//! draw every station in full gets a page that shows the fleet first and its problem
//! stations in full ([`select`]); `--out DIR/` adds a page per station
//! ([`station_page`]). Compacted days are read from their footers' summaries alone
//! ([`footers`]): in days for reports longer than a week, in hours (data days) for
//! shorter ones; whole months of them from the monthly rollups `compact` writes
//! ([`rollups`]).

pub mod aggregate;
pub mod band;
pub mod footers;
pub mod page;
pub mod registry;
pub mod render;
pub mod rollups;
pub mod scan;
pub mod select;
pub mod station_page;
