//! What a flush at a stop costs the device's flash (LittleFS's C code on the simulated
//! spool partition, `support/devfs.rs`): the close record journaled first, the data
//! file, `health.due` and the journal's rewrite. Prints the figures
//! (`cargo test --workspace --test flush_cost -- --nocapture`), and bounds them.
#![allow(clippy::unwrap_used, missing_docs)] // a failed unwrap is a failed test
#[path = "support/devfs.rs"]
mod devfs;
#[path = "support/example.rs"]
mod example;
use devfs::{DevFs, Device, PARTITION};
use jiff::Timestamp;
use lakenode::sim::Simulator;
use lakenode::storage::Storage;
use lakenode::{Now, Station};
use std::path::Path;
use std::sync::Arc;

#[test]
fn a_flush_costs_a_few_dozen_flash_operations() {
    let fs = DevFs::new("/spool", PARTITION);
    let storage: Arc<dyn Storage> = Arc::new(Device(fs.clone()));
    let config = example::example_station_s3(example::AWS_ENDPOINT, None);
    let mut st = Station::open_with(config, storage, Path::new("/spool")).unwrap();
    let sim = Simulator::new(1);
    let t0 = 1_796_083_200_000i64;
    let (mut ops, mut erases, mut prog) = (0, 0, 0);
    for round in 0..10i64 {
        for i in 0..100 {
            let at = t0 + round * 900_000 + i * 5_000;
            let now = Now::synced(0, Timestamp::from_millisecond(at).unwrap());
            st.record(&now, sim.sample_at(at)).unwrap();
        }
        let a = fs.stats();
        st.flush().unwrap();
        let b = fs.stats();
        ops += b.ops - a.ops;
        erases += b.erases - a.erases;
        prog += b.programmed - a.programmed;
    }
    assert!(ops <= 300, "{ops} flash operations in 10 flushes");
    println!(
        "flush-cost per flush (10 flushes): ops={} erases={} programmed={}",
        ops as f64 / 10.0,
        erases as f64 / 10.0,
        prog as f64 / 10.0
    );
}
