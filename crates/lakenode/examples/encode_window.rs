//! The encoder alone, for the flash-size report (`scripts/flash-size.sh`): encodes one
//! simulated 15-minute window with the profile named on the command line and prints
//! the file size.
use lakenode::encode::{Encoder, FileMetadata, WriterProfile};
use lakenode::layout::StationId;
use lakenode::schema::Schema;
use lakenode::sim::Simulator;
use lakenode::window::{Window, WindowSpec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let profile =
        WriterProfile::parse(&std::env::args().nth(1).unwrap_or_else(|| "compat".into()))?;
    let sim = Simulator::new(1);
    let start = 1_767_225_600_000;
    let samples = (0..180).map(|i| sim.sample_at(start + i * 5_000)).collect();
    let window = Window {
        start_ms: start,
        end_ms: start + 900_000,
        samples,
    };
    let meta = FileMetadata::new(
        &StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?,
        WindowSpec::default(),
        &window,
    );
    let bytes = Encoder::new(&Schema::default(), profile)?.encode(&window, &meta)?;
    println!("{} bytes", bytes.len());
    Ok(())
}
