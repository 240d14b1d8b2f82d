//! One module per subcommand.

pub mod bench;
pub mod compact;
pub mod demo;
pub mod encode;
pub mod fleet_lake;
pub mod inspect;
pub mod policy;
pub mod provision;
pub mod report;
pub mod run;
pub mod serve;
pub mod status;
