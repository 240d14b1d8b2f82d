//! What a station measures: the columns of its files, their units and resolution.
//!
//! Every measurement is held as an integer count of its sensor's resolution (a
//! temperature of 21.37 C is `2137` at 0.01 C), so a value never drifts through float
//! arithmetic between the sensor and the file. A station declares which measurements it
//! has; its [`Schema`] keeps them in the canonical order below, after `timestamp`.
//!
//! ```
//! use lakenode::schema::{Measurement, Schema};
//!
//! let schema = Schema::parse_list("pm25, temperature")?;
//! let names: Vec<_> = schema.columns().iter().map(|m| m.name()).collect();
//! assert_eq!(names, ["temperature", "pm25"]);
//! assert_eq!(Measurement::Pressure.unit(), "hPa");
//! # Ok::<(), lakenode::Error>(())
//! ```

use crate::{Error, Result};

/// Version of the column set and its meaning, written into every file's metadata.
/// Bump it when a column's name, unit or type changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Name of the timestamp column: INT64 `TIMESTAMP(MILLIS, isAdjustedToUTC = true)`.
pub const TIMESTAMP_COLUMN: &str = "timestamp";

/// One measured quantity, in canonical column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Measurement {
    /// Air temperature, degrees Celsius, 0.01 resolution (BME280).
    Temperature,
    /// Relative humidity, %RH, 0.01 resolution (BME280).
    Humidity,
    /// Barometric pressure, hPa, 0.01 resolution (1 Pa, BME280).
    Pressure,
    /// Particulate matter up to 1 um, ug/m3, integer (PMS5003).
    Pm1,
    /// Particulate matter up to 2.5 um, ug/m3, integer (PMS5003).
    Pm25,
    /// Particulate matter up to 10 um, ug/m3, integer (PMS5003).
    Pm10,
    /// Carbon dioxide, ppm, integer (SCD4x).
    Co2,
    /// Sensirion VOC index, 1..500, integer (SGP40/SEN5x).
    VocIndex,
    /// Supply battery voltage, V, 0.001 resolution.
    Battery,
}

impl Measurement {
    /// Number of measurements; the size of a [`crate::sample::Sample`]'s value array.
    pub const COUNT: usize = 9;

    /// All measurements in canonical column order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Temperature,
        Self::Humidity,
        Self::Pressure,
        Self::Pm1,
        Self::Pm25,
        Self::Pm10,
        Self::Co2,
        Self::VocIndex,
        Self::Battery,
    ];

    /// Position in [`Measurement::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Column name in the Parquet file (the users' lake convention).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Temperature => "temperature",
            Self::Humidity => "humidity",
            Self::Pressure => "pressure",
            Self::Pm1 => "pm1",
            Self::Pm25 => "pm25",
            Self::Pm10 => "pm10",
            Self::Co2 => "co2",
            Self::VocIndex => "voc_index",
            Self::Battery => "battery",
        }
    }

    /// Unit of the column's values.
    #[must_use]
    pub const fn unit(self) -> &'static str {
        match self {
            Self::Temperature => "C",
            Self::Humidity => "%RH",
            Self::Pressure => "hPa",
            Self::Pm1 | Self::Pm25 | Self::Pm10 => "ug/m3",
            Self::Co2 => "ppm",
            Self::VocIndex => "index",
            Self::Battery => "V",
        }
    }

    /// The column's resolution with its unit, as the footer's `units` object states it
    /// (`"0.01 C"`: values in C, in steps of 0.01). Static text: the node writes it into
    /// every file without formatting anything.
    #[must_use]
    pub const fn resolution(self) -> &'static str {
        match self {
            Self::Temperature => "0.01 C",
            Self::Humidity => "0.01 %RH",
            Self::Pressure => "0.01 hPa",
            Self::Pm1 | Self::Pm25 | Self::Pm10 => "1 ug/m3",
            Self::Co2 => "1 ppm",
            Self::VocIndex => "1 index",
            Self::Battery => "0.001 V",
        }
    }

    /// Decimal digits of the sensor's resolution: a count of 1 is `10^-decimals` units.
    #[must_use]
    pub const fn decimals(self) -> u32 {
        match self {
            Self::Temperature | Self::Humidity | Self::Pressure => 2,
            Self::Battery => 3,
            Self::Pm1 | Self::Pm25 | Self::Pm10 | Self::Co2 | Self::VocIndex => 0,
        }
    }

    /// `10^decimals`: counts per unit.
    #[must_use]
    pub const fn scale(self) -> i32 {
        10_i32.pow(self.decimals())
    }

    /// The physical range the sensor can report, in units (inclusive). A reading
    /// outside it is a failed reading, stored as null.
    #[must_use]
    pub const fn range(self) -> (f64, f64) {
        match self {
            // BME280 operating range.
            Self::Temperature => (-40.0, 85.0),
            Self::Humidity => (0.0, 100.0),
            Self::Pressure => (300.0, 1100.0),
            // PMS5003 reports up to 1000 ug/m3 (effective range 500).
            Self::Pm1 | Self::Pm25 | Self::Pm10 => (0.0, 1000.0),
            // SCD4x output range.
            Self::Co2 => (0.0, 40_000.0),
            // Sensirion VOC index.
            Self::VocIndex => (1.0, 500.0),
            Self::Battery => (0.0, 6.0),
        }
    }

    /// Looks a measurement up by its column name.
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == name)
    }
}

impl std::fmt::Display for Measurement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The measurement columns of a station, in canonical order, without duplicates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    columns: Vec<Measurement>,
}

impl Default for Schema {
    /// The default station profile: every measurement.
    fn default() -> Self {
        Self {
            columns: Measurement::ALL.to_vec(),
        }
    }
}

impl Schema {
    /// A schema of the given measurements, put in canonical order.
    ///
    /// # Errors
    /// [`Error::Config`] if the list is empty or names a measurement twice.
    pub fn new(measurements: impl IntoIterator<Item = Measurement>) -> Result<Self> {
        let mut columns: Vec<Measurement> = measurements.into_iter().collect();
        columns.sort_unstable();
        if columns.is_empty() {
            return Err(Error::config(
                "columns",
                "a station needs at least one measurement",
            ));
        }
        if let Some(pair) = columns.windows(2).find(|w| w[0] == w[1]) {
            return Err(Error::config(
                "columns",
                format!("`{}` is listed twice", pair[0]),
            ));
        }
        Ok(Self { columns })
    }

    /// Parses a comma-separated list of column names such as `temperature,pm25`.
    ///
    /// # Errors
    /// [`Error::Config`] naming an unknown column, or as [`Schema::new`].
    pub fn parse_list(list: &str) -> Result<Self> {
        let measurements = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|name| {
                Measurement::from_name(name).ok_or_else(|| {
                    Error::config(
                        "columns",
                        format!("unknown column `{name}`; known: {}", known_names()),
                    )
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Self::new(measurements)
    }

    /// The measurement columns, in file order.
    #[must_use]
    pub fn columns(&self) -> &[Measurement] {
        &self.columns
    }

    /// Whether the station measures `m`.
    #[must_use]
    pub fn contains(&self, m: Measurement) -> bool {
        self.columns.contains(&m)
    }
}

/// The known column names, comma separated, for error messages.
#[must_use]
pub fn known_names() -> String {
    Measurement::ALL.map(Measurement::name).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_has_the_documented_columns_in_order() {
        let names: Vec<_> = Schema::default()
            .columns()
            .iter()
            .map(|m| m.name())
            .collect();
        assert_eq!(
            names,
            [
                "temperature",
                "humidity",
                "pressure",
                "pm1",
                "pm25",
                "pm10",
                "co2",
                "voc_index",
                "battery"
            ]
        );
    }

    #[test]
    fn names_round_trip_and_indices_match_positions() {
        for (i, m) in Measurement::ALL.into_iter().enumerate() {
            assert_eq!(Measurement::from_name(m.name()), Some(m));
            assert_eq!(m.index(), i);
        }
        assert_eq!(Measurement::from_name("Temperature"), None);
    }

    /// The footer's resolution text agrees with the unit and the decimals.
    #[test]
    fn resolution_text_is_the_step_and_the_unit() {
        for m in Measurement::ALL {
            let (step, unit) = m.resolution().split_once(' ').expect("step and unit");
            assert_eq!(unit, m.unit(), "{m}");
            let step: f64 = step.parse().expect("a number");
            assert!((step * f64::from(m.scale()) - 1.0).abs() < 1e-9, "{m}");
        }
    }

    #[test]
    fn list_parsing_orders_and_rejects_bad_lists() {
        let s = Schema::parse_list("co2,temperature").expect("valid list");
        assert_eq!(s.columns(), [Measurement::Temperature, Measurement::Co2]);
        let err = Schema::parse_list("temperature,wind").expect_err("unknown column");
        assert!(err.to_string().contains("unknown column `wind`"), "{err}");
        let err = Schema::parse_list("pm25,pm25").expect_err("duplicate");
        assert!(err.to_string().contains("twice"), "{err}");
        assert!(Schema::parse_list(" , ").is_err());
    }
}
