//! `lakenode policy`: the least-privilege IAM policy for one station: `s3:PutObject`,
//! only on the two trees that station writes, its data and its health rows. Give each
//! station its own IAM user (or role) with this policy, so a stolen device can only add
//! files to its own partitions.

use lakenode::layout::{self, Prefix, StationId};
use lakenode::s3::S3Config;

use crate::PolicyArgs;
use crate::error::CliResult;

/// The policy document for `bucket`, `prefix` and `station`.
///
/// Its resources are built by the core's [`layout::data_tree`] and
/// [`layout::health_tree`], the prefixes of every key the node writes. Bucket, prefix and
/// station are validated before, so none holds an IAM wildcard (`*`, `?`).
#[must_use]
pub fn policy_json(bucket: &str, prefix: Option<&Prefix>, station: &StationId) -> String {
    let data = layout::data_tree(prefix, station);
    let health = layout::health_tree(prefix, station);
    format!(
        r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "LakenodeStationPutOnly",
      "Effect": "Allow",
      "Action": "s3:PutObject",
      "Resource": [
        "arn:aws:s3:::{bucket}/{data}*",
        "arn:aws:s3:::{bucket}/{health}*"
      ]
    }}
  ]
}}"#
    )
}

/// Runs `lakenode policy`.
///
/// # Errors
/// For an invalid bucket, prefix or station id (named in the message).
pub fn run(args: &PolicyArgs) -> CliResult<()> {
    // Validates the bucket name like `run` does.
    S3Config::new("https://s3.amazonaws.com", &args.bucket, "us-east-1", false)?;
    let station = StationId::new(args.station.clone())?;
    let prefix = args.prefix.as_deref().map(Prefix::new).transpose()?;
    println!("{}", policy_json(&args.bucket, prefix.as_ref(), &station));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_allows_only_put_object_on_the_stations_data_and_health_trees() {
        let station = StationId::new("0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e").expect("id");
        let prefix = Prefix::new("raw/v1").expect("prefix");
        let json = policy_json("lake", Some(&prefix), &station);
        assert!(json.contains(r#""Action": "s3:PutObject""#));
        assert!(json.contains(
            r#""arn:aws:s3:::lake/raw/v1/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/*""#
        ));
        assert!(json.contains(
            r#""arn:aws:s3:::lake/raw/v1/health/station=0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e/*""#
        ));
        assert_eq!(json.matches("\"Action\"").count(), 1);
        assert_eq!(json.matches("arn:aws:s3:::").count(), 2);
        assert_eq!(json.matches('*').count(), 2, "only the two key wildcards");
        let bare = policy_json("lake", None, &station);
        assert_eq!(bare.matches("arn:aws:s3:::lake/station=").count(), 1);
        assert_eq!(bare.matches("arn:aws:s3:::lake/health/station=").count(), 1);
    }
}
