//! The whole core a firmware links (journal, windows, encoder, spool, the station state
//! machine and its driver, presigned S3 requests, reply parsing), for the flash-size
//! report. Runs one window through a station and "uploads" it to a transport that
//! answers like S3, on the driver's upload thread.
use lakenode::digest::md5_hex;
use lakenode::driver::{Adapter, BatchEnd, ThreadLink, run_batch};
use lakenode::sim::Simulator;
use lakenode::{
    Credentials, Event, HttpRequest, HttpResponse, Now, S3Client, S3Config, Sample, Station,
    StationConfig, StationId, Transport, TransportError,
};

/// Answers every PUT with 200 and the body's MD5 as ETag, as S3 would.
struct Accept;

impl Transport for Accept {
    fn send(&mut self, request: &HttpRequest) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status: 200,
            headers: vec![("etag".into(), format!("\"{}\"", md5_hex(&request.body)))],
            body: Vec::new(),
        })
    }
}

/// Time from the process's clocks; events printed.
struct Host(std::time::Instant);

impl Adapter for Host {
    fn now(&mut self) -> Now {
        let mono = u64::try_from(self.0.elapsed().as_millis()).unwrap_or(u64::MAX);
        Now::synced(mono, jiff::Timestamp::now())
    }
    fn read_sensors(&mut self, at: &Now) -> Sample {
        Simulator::new(1).sample_at(at.wall_ms().unwrap_or_default())
    }
    fn on_event(&mut self, event: &Event) {
        println!("{event}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("lakenode-node-example-{}", std::process::id()));
    let config = S3Config::new(
        "https://s3.eu-central-1.amazonaws.com",
        "lake",
        "eu-central-1",
        false,
    )?;
    let creds = Credentials::new(
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        None,
    );
    let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?;
    let mut node = Station::open(
        StationConfig::new(station, S3Client::new(&config, creds)?),
        &dir,
    )?;
    let sim = Simulator::new(1);
    let samples = (0..180).map(|i| sim.sample_at(1_767_225_600_000 + i * 5_000));
    let mut link = ThreadLink::spawn(Accept, 32 * 1024)?;
    let mut host = Host(std::time::Instant::now());
    let end = run_batch(
        &mut node,
        samples,
        &mut host,
        &mut link,
        std::time::Duration::from_secs(10),
    )?;
    assert_eq!(end, BatchEnd::Delivered);
    drop(node);
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
