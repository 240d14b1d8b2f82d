//! The whole core a firmware links (journal, windows, encoder, spool, presigned S3
//! requests, reply parsing), for the flash-size report. Runs one window through a node
//! and builds its signed PUT, without sending it.
use lakenode::clock::FixedClock;
use lakenode::layout::StationId;
use lakenode::node::{Node, NodeConfig, Uploader};
use lakenode::s3::{Credentials, S3Client, S3Config};
use lakenode::sim::Simulator;
use lakenode::transport::{HttpRequest, HttpResponse, Transport, TransportError};

/// Answers every request with 200, as S3 would.
struct Accept;

impl Transport for Accept {
    fn send(&mut self, _: &HttpRequest<'_>) -> Result<HttpResponse, TransportError> {
        Ok(HttpResponse {
            status: 200,
            ..HttpResponse::default()
        })
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("lakenode-node-example-{}", std::process::id()));
    let mut node = Node::open(
        NodeConfig::new(StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e")?),
        &dir,
    )?;
    let sim = Simulator::new(1);
    for i in 0..181 {
        node.record(sim.sample_at(1_767_225_600_000 + i * 5_000))?;
    }
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
    let mut uploader = Uploader::new(S3Client::new(&config, creds)?, 3, 1);
    let clock = FixedClock("2026-01-01T00:20:00Z".parse()?);
    let report = uploader.drain(node.spool_mut(), &mut Accept, &clock, &mut |_| {})?;
    println!("{} uploaded", report.delivered.len());
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
