//! The optional station registry (`lakenode report --stations stations.csv`): a name
//! and a position for each station id.
//!
//! ```text
//! id,name,latitude,longitude
//! 0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e,Harbour mast,53.5461,9.9665
//! 0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f,School roof,,
//! ```
//!
//! Latitude and longitude are WGS84 decimal degrees, both given or both empty. A
//! station of the registry that the lake has never heard from is listed as silent; a
//! station of the lake missing from the registry is drawn with its id.
//!
//! ```
//! use lakenode_cli::report::registry::Registry;
//! let r = Registry::parse(
//!     "id,name,latitude,longitude\n0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e,Mast,53.5,9.9\n",
//!     "s.csv",
//! )
//! .unwrap();
//! let id = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
//! assert_eq!(r.short(id), "Mast");
//! assert_eq!(r.station(id).unwrap().position, Some((53.5, 9.9)));
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use crate::error::{CliError, CliResult};

/// The header the registry must start with.
pub const HEADER: [&str; 4] = ["id", "name", "latitude", "longitude"];

/// Most stations a registry may list (a larger file is not a fleet's registry).
const MAX_STATIONS: usize = 100_000;

/// One station of the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Station {
    /// Its name (the id if the registry left the name empty).
    pub name: String,
    /// (latitude, longitude), decimal degrees.
    pub position: Option<(f64, f64)>,
}

/// Station names and positions by id; empty without `--stations`.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    stations: BTreeMap<String, Station>,
}

impl Registry {
    /// Reads and parses the registry file at `path`.
    ///
    /// # Errors
    /// The file cannot be read, or a line is malformed (the error names the line).
    pub fn load(path: &Path) -> CliResult<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| CliError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a registry's text; `source` names it in errors.
    ///
    /// # Errors
    /// [`CliError::Input`] naming the line: a wrong header, a wrong number of fields, an
    /// empty or repeated id, a coordinate that is not a number in range, or only one of
    /// latitude and longitude.
    pub fn parse(text: &str, source: &str) -> CliResult<Self> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let mut stations = BTreeMap::new();
        let mut lines: BTreeMap<String, u64> = BTreeMap::new();
        let mut header = true;
        for record in reader.records() {
            let line_of = |e: &csv::Error| e.position().map_or(0, csv::Position::line);
            let record = record.map_err(|e| CliError::Input {
                location: format!("{source} line {}", line_of(&e)),
                message: format!("not readable as CSV: {e}"),
            })?;
            let line = record.position().map_or(0, csv::Position::line);
            let bad = |message: String| CliError::Input {
                location: format!("{source} line {line}"),
                message,
            };
            if header {
                header = false;
                if !record.iter().eq(HEADER) {
                    return Err(bad(format!(
                        "the header is `{}`; a station registry starts with `{}`",
                        record.iter().collect::<Vec<_>>().join(","),
                        HEADER.join(",")
                    )));
                }
                continue;
            }
            if record.iter().all(str::is_empty) {
                continue;
            }
            if record.len() != HEADER.len() {
                return Err(bad(format!(
                    "{} field(s); each line is `{}` (latitude and longitude may be empty)",
                    record.len(),
                    HEADER.join(",")
                )));
            }
            let id = &record[0];
            if id.is_empty() {
                return Err(bad("the station id is empty".into()));
            }
            if lakenode::layout::StationId::new(id.to_string()).is_err() {
                return Err(bad(format!(
                    "{id:?} is not a station id (a UUID in lowercase hex, as in the lake's `station=<id>` directories)"
                )));
            }
            if let Some(first) = lines.get(id) {
                return Err(bad(format!(
                    "station {id} is listed twice (first on line {first})"
                )));
            }
            if stations.len() >= MAX_STATIONS {
                return Err(bad(format!(
                    "more than {MAX_STATIONS} stations; is this a station registry?"
                )));
            }
            let coordinate = |i: usize, what: &str, limit: f64| -> CliResult<f64> {
                let text = &record[i];
                text.parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && v.abs() <= limit)
                    .ok_or_else(|| {
                        bad(format!(
                            "{what} `{text}` is not a number of degrees from -{limit} to {limit}"
                        ))
                    })
            };
            let position = match (record[2].is_empty(), record[3].is_empty()) {
                (true, true) => None,
                (false, false) => Some((
                    coordinate(2, "latitude", 90.0)?,
                    coordinate(3, "longitude", 180.0)?,
                )),
                _ => {
                    return Err(bad(
                        "give both latitude and longitude, or leave both empty".into()
                    ));
                }
            };
            let name = if record[1].is_empty() { id } else { &record[1] };
            lines.insert(id.to_owned(), line);
            stations.insert(
                id.to_owned(),
                Station {
                    name: name.to_owned(),
                    position,
                },
            );
        }
        if header {
            return Err(CliError::Input {
                location: source.to_owned(),
                message: format!(
                    "the file is empty; a station registry starts with `{}`",
                    HEADER.join(",")
                ),
            });
        }
        Ok(Self { stations })
    }

    /// No station listed (no `--stations`).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.stations.is_empty()
    }

    /// The registry's ids, sorted.
    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.stations.keys().map(String::as_str)
    }

    /// A station of the registry.
    #[must_use]
    pub fn station(&self, id: &str) -> Option<&Station> {
        self.stations.get(id)
    }

    /// A station's short label: its name, or the end of its id.
    #[must_use]
    pub fn short<'a>(&'a self, id: &'a str) -> &'a str {
        self.stations
            .get(id)
            .map_or_else(|| super::render::short_id(id), |s| s.name.as_str())
    }

    /// A station's full label: `name (id)`, or the id.
    #[must_use]
    pub fn full(&self, id: &str) -> String {
        match self.stations.get(id) {
            Some(s) if s.name != id => format!("{} ({id})", s.name),
            _ => id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "0190f5c2-0000-7000-8000-00000000000a";
    const B: &str = "0190f5c2-0000-7000-8000-00000000000b";

    fn error(text: &str) -> String {
        Registry::parse(text, "stations.csv")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn a_good_registry_gives_names_and_positions() {
        let r = Registry::parse(
            "\u{feff}id,name,latitude,longitude\n\
             0190f5c2-0000-7000-8000-00000000000a,\"Harbour mast, north\",53.5461,9.9665\n\
             \n\
             0190f5c2-0000-7000-8000-00000000000b,,,\n",
            "stations.csv",
        )
        .unwrap();
        assert_eq!(
            r.ids().collect::<Vec<_>>(),
            [
                "0190f5c2-0000-7000-8000-00000000000a",
                "0190f5c2-0000-7000-8000-00000000000b"
            ]
        );
        assert_eq!(r.short(A), "Harbour mast, north");
        assert_eq!(r.full(A), format!("Harbour mast, north ({A})"));
        assert_eq!(r.station(A).unwrap().position, Some((53.5461, 9.9665)));
        assert_eq!(r.short(B), B, "an empty name is the id");
        assert_eq!(r.full(B), B);
        assert_eq!(r.station(B).unwrap().position, None);
        // A station of the lake missing from the registry keeps its (short) id.
        let id = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";
        assert_eq!(r.short(id), "4f6a8b0c1d2e");
        assert_eq!(r.full(id), id);
    }

    #[test]
    fn malformed_lines_are_named() {
        let head = "id,name,latitude,longitude\n";
        let e = error("id,name,lat,lon\n");
        assert!(
            e.starts_with("stations.csv line 1: the header is `id,name,lat,lon`"),
            "{e}"
        );
        assert!(error("").contains("the file is empty"));
        let e = error(&format!("{head}{A},A,1,2\n{B},B,91,2\n"));
        assert!(
            e.starts_with("stations.csv line 3: latitude `91` is not a number of degrees"),
            "{e}"
        );
        let e = error(&format!("{head}{A},A,1,east\n"));
        assert!(
            e.starts_with("stations.csv line 2: longitude `east`"),
            "{e}"
        );
        let e = error(&format!("{head}{A},A,1\n"));
        assert!(e.starts_with("stations.csv line 2: 3 field(s)"), "{e}");
        let e = error(&format!("{head}{A},A,1,\n"));
        assert!(
            e.contains("line 2: give both latitude and longitude"),
            "{e}"
        );
        let e = error(&format!("{head}{A},A,,\n{B},B,,\n{A},C,,\n"));
        assert!(
            e.contains(&format!(
                "line 4: station {A} is listed twice (first on line 2)"
            )),
            "{e}"
        );
        let e = error(&format!("{head},A,1,2\n"));
        assert!(e.contains("line 2: the station id is empty"), "{e}");
        let e = error(&format!("{head}{A},NaN,nan,1\n"));
        assert!(e.contains("latitude `nan`"), "{e}");
        let e = error(&format!(
            "{head}0190F5C2-0000-7000-8000-00000000000A,Up,,\n"
        ));
        assert!(
            e.contains("line 2: \"0190F5C2-0000-7000-8000-00000000000A\" is not a station id"),
            "{e}"
        );
        let e = error(&format!("{head}../../etc,X,,\n"));
        assert!(
            e.contains("line 2: \"../../etc\" is not a station id"),
            "{e}"
        );
    }
}
