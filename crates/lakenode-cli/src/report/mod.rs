//! `lakenode report`: one self-contained HTML page of the fleet, drawn from the lake.
//!
//! The lake is walked once ([`scan`]), every file read with the project's own checked
//! reader and folded into per-station, per-hour figures ([`aggregate`]); the charts
//! are drawn with `plotters` into inline SVG ([`render`]) and put into one HTML page
//! with its CSS and no script or network reference ([`page`]). Reports longer than a
//! week read compacted days from their footers' summaries alone ([`footers`]).

pub mod aggregate;
pub mod footers;
pub mod page;
pub mod registry;
pub mod render;
pub mod scan;
