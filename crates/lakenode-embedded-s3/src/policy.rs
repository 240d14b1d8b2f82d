//! IAM identity policies, enforced per access key, so that tests see the `403
//! AccessDenied` a real bucket gives a station whose policy leaves out a key it writes.
//!
//! Documents are parsed with `s3s-policy` (the s3s project's IAM policy model) and their
//! `Action` and `Resource` patterns matched with its [`PatternSet`] (`*` and `?`
//! wildcards). Evaluation follows IAM for identity policies: a request is allowed when
//! some `Allow` statement matches it and no `Deny` statement does (an explicit deny wins;
//! anything not allowed is implicitly denied). Actions match case-insensitively,
//! resources case-sensitively.
//!
//! Each S3 operation is checked as the IAM action AWS checks it as ([`iam_action`]),
//! on `arn:aws:s3:::bucket/key` for object operations, `arn:aws:s3:::bucket` for bucket
//! ones and `arn:aws:s3:::*` for `ListBuckets`.
//!
//! What this server cannot evaluate is refused when the policy is loaded, not ignored:
//! `Condition` blocks, policy variables (`${aws:username}`) and `Principal` (which
//! belongs to bucket policies).
//!
//! ```
//! use lakenode_embedded_s3::policy::{Decision, IdentityPolicy};
//! let policy = IdentityPolicy::parse(r#"{
//!   "Version": "2012-10-17",
//!   "Statement": [{"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/*"}]
//! }"#)?;
//! assert_eq!(policy.evaluate("s3:PutObject", "arn:aws:s3:::lake/raw/a.parquet"), Decision::Allow);
//! assert_eq!(policy.evaluate("s3:GetObject", "arn:aws:s3:::lake/raw/a.parquet"), Decision::ImplicitDeny);
//! # Ok::<(), lakenode_embedded_s3::policy::PolicyError>(())
//! ```

use s3s_policy::model::{ActionRule, Effect, Policy, ResourceRule, Statement, WildcardOneOrMore};
use s3s_policy::pattern::PatternSet;

/// Why a policy document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PolicyError(String);

/// The outcome of evaluating a request against a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// An `Allow` statement matches and no `Deny` does.
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches (its `Sid`, if it has one).
    ExplicitDeny(Option<String>),
}

/// A parsed IAM identity policy, ready to evaluate requests.
pub struct IdentityPolicy {
    statements: Vec<Compiled>,
}

impl std::fmt::Debug for IdentityPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityPolicy")
            .field("statements", &self.statements.len())
            .finish()
    }
}

/// One statement with its patterns compiled.
struct Compiled {
    sid: Option<String>,
    deny: bool,
    actions: Rule,
    resources: Rule,
}

/// `Action`/`Resource` (the value must match) or `NotAction`/`NotResource` (it must
/// not); `Any` is the bare `"*"`.
enum Rule {
    Any,
    In(PatternSet),
    NotAny,
    NotIn(PatternSet),
}

impl Rule {
    fn matches(&self, value: &str) -> bool {
        match self {
            Self::Any => true,
            Self::In(set) => set.is_match(value),
            Self::NotAny => false,
            Self::NotIn(set) => !set.is_match(value),
        }
    }
}

impl IdentityPolicy {
    /// Parses an IAM identity policy document (JSON).
    ///
    /// # Errors
    /// [`PolicyError`] saying what is wrong: not JSON, not a policy (a missing
    /// `Effect`, `Action` or `Resource`; the position is given), an empty pattern, or
    /// an element this server cannot evaluate (`Condition`, `Principal`, `${...}`
    /// variables).
    pub fn parse(json: &str) -> Result<Self, PolicyError> {
        check_shape(json)?;
        let policy: Policy = serde_json::from_str(json).map_err(|e| {
            PolicyError(format!(
                "not an IAM policy document: {e} (expected {{\"Version\": \"2012-10-17\", \"Statement\": [{{\"Effect\": ..., \"Action\": ..., \"Resource\": ...}}]}})"
            ))
        })?;
        let statements = policy
            .statement
            .as_slice()
            .iter()
            .enumerate()
            .map(|(i, s)| compile(i + 1, s))
            .collect::<Result<_, _>>()?;
        Ok(Self { statements })
    }

    /// Whether `action` (e.g. `s3:PutObject`) on `resource` (an ARN) is allowed.
    #[must_use]
    pub fn evaluate(&self, action: &str, resource: &str) -> Decision {
        let action = action.to_ascii_lowercase();
        let mut allowed = false;
        for s in &self.statements {
            if s.actions.matches(&action) && s.resources.matches(resource) {
                if s.deny {
                    return Decision::ExplicitDeny(s.sid.clone());
                }
                allowed = true;
            }
        }
        if allowed {
            Decision::Allow
        } else {
            Decision::ImplicitDeny
        }
    }
}

/// Names the first missing element of the document's statements, which serde would
/// only report as a missing enum variant.
fn check_shape(json: &str) -> Result<(), PolicyError> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return Ok(()); // serde's own message gives the position
    };
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(list)) => list.iter().collect(),
        Some(one) => vec![one],
        None => {
            return Err(PolicyError(
                "not an IAM policy document: it has no \"Statement\"".into(),
            ));
        }
    };
    for (i, statement) in statements.into_iter().enumerate() {
        for names in [
            &["Effect"][..],
            &["Action", "NotAction"],
            &["Resource", "NotResource"],
        ] {
            if !names.iter().any(|n| statement.get(n).is_some()) {
                return Err(PolicyError(format!(
                    "statement {}: no {} (a statement needs Effect, Action and Resource)",
                    i + 1,
                    names.join(" or ")
                )));
            }
        }
    }
    Ok(())
}

/// Compiles statement number `n` (1-based, for messages).
fn compile(n: usize, s: &Statement) -> Result<Compiled, PolicyError> {
    let name = s.sid.as_ref().map_or_else(
        || format!("statement {n}"),
        |sid| format!("statement {n} ({sid:?})"),
    );
    if s.principal.is_some() {
        return Err(PolicyError(format!(
            "{name}: Principal/NotPrincipal belong in bucket policies; an identity policy (attached to the access key) has none; remove it"
        )));
    }
    if s.condition.is_some() {
        return Err(PolicyError(format!(
            "{name}: Condition is not supported by the embedded server; remove it, or test this policy against AWS"
        )));
    }
    let (actions, not_action) = match &s.action {
        ActionRule::Action(a) => (a, false),
        ActionRule::NotAction(a) => (a, true),
    };
    let (resources, not_resource) = match &s.resource {
        ResourceRule::Resource(r) => (r, false),
        ResourceRule::NotResource(r) => (r, true),
    };
    Ok(Compiled {
        sid: s.sid.clone(),
        deny: s.effect == Effect::Deny,
        actions: rule(&name, "Action", actions, not_action, true)?,
        resources: rule(&name, "Resource", resources, not_resource, false)?,
    })
}

fn rule(
    name: &str,
    what: &str,
    values: &WildcardOneOrMore<String>,
    negated: bool,
    fold_case: bool,
) -> Result<Rule, PolicyError> {
    let Some(patterns) = values.as_slice() else {
        return Ok(if negated { Rule::NotAny } else { Rule::Any });
    };
    if let Some(p) = patterns.iter().find(|p| p.contains("${")) {
        return Err(PolicyError(format!(
            "{name}: {what} {p:?} uses a policy variable, which the embedded server does not substitute; write the value out"
        )));
    }
    let patterns: Vec<String> = if fold_case {
        patterns.iter().map(|p| p.to_ascii_lowercase()).collect()
    } else {
        patterns.to_vec()
    };
    let set = PatternSet::new(patterns.iter().map(String::as_str)).map_err(|_| {
        PolicyError(format!(
            "{name}: an empty {what} pattern; give an action like \"s3:PutObject\" or an ARN like \"arn:aws:s3:::bucket/prefix/*\""
        ))
    })?;
    Ok(if negated {
        Rule::NotIn(set)
    } else {
        Rule::In(set)
    })
}

/// The IAM action AWS checks for the S3 operation `op` (s3s's operation name, e.g.
/// `PutObject`). Uploads in parts and copies are `s3:PutObject` (a copy also needs
/// `s3:GetObject` on its source, checked separately), reads and `HeadObject`
/// `s3:GetObject`, listings and `HeadBucket` `s3:ListBucket`; every other operation is
/// checked as `s3:` plus its name, which is its IAM action for most.
#[must_use]
pub fn iam_action(op: &str) -> String {
    let action = match op {
        "PutObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "CompleteMultipartUpload"
        | "CopyObject"
        | "UploadPartCopy"
        | "PostObject" => "PutObject",
        "GetObject" | "HeadObject" | "SelectObjectContent" => "GetObject",
        "DeleteObject" | "DeleteObjects" => "DeleteObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "ListBucket",
        "ListObjectVersions" => "ListBucketVersions",
        "ListMultipartUploads" => "ListBucketMultipartUploads",
        "ListParts" => "ListMultipartUploadParts",
        "ListBuckets" => "ListAllMyBuckets",
        other => other,
    };
    format!("s3:{action}")
}

/// The resource ARN of an object (`key` given) or a bucket.
#[must_use]
pub fn resource_arn(bucket: &str, key: Option<&str>) -> String {
    match key {
        Some(key) => format!("arn:aws:s3:::{bucket}/{key}"),
        None => format!("arn:aws:s3:::{bucket}"),
    }
}

/// The resource of requests on no bucket (`ListBuckets`).
pub const ALL_RESOURCES: &str = "arn:aws:s3:::*";

#[cfg(test)]
mod tests {
    use super::*;

    const STATION: &str = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2e";

    fn station_policy() -> IdentityPolicy {
        IdentityPolicy::parse(&format!(
            r#"{{
  "Version": "2012-10-17",
  "Statement": [
    {{
      "Sid": "LakenodeStationPutOnly",
      "Effect": "Allow",
      "Action": "s3:PutObject",
      "Resource": [
        "arn:aws:s3:::lake/raw/station={STATION}/*",
        "arn:aws:s3:::lake/raw/health/station={STATION}/*"
      ]
    }}
  ]
}}"#
        ))
        .expect("a valid policy")
    }

    fn object(key: &str) -> String {
        resource_arn("lake", Some(key))
    }

    #[test]
    fn a_put_under_the_granted_trees_is_allowed() {
        let p = station_policy();
        for key in [
            format!("raw/station={STATION}/year=2026/month=01/day=01/data_0000.parquet"),
            format!("raw/health/station={STATION}/year=2026/month=01/day=01/health_0000.parquet"),
        ] {
            assert_eq!(
                p.evaluate("s3:PutObject", &object(&key)),
                Decision::Allow,
                "{key}"
            );
            // Action names are case-insensitive in IAM.
            assert_eq!(p.evaluate("S3:putobject", &object(&key)), Decision::Allow);
        }
    }

    #[test]
    fn another_station_another_bucket_or_another_prefix_is_denied() {
        let p = station_policy();
        let other = "0190f5c2-7a4e-7b3c-9d2e-4f6a8b0c1d2f";
        for arn in [
            object(&format!("raw/station={other}/year=2026/data_0000.parquet")),
            object(&format!(
                "raw/health/station={other}/year=2026/health_0000.parquet"
            )),
            object(&format!("other/station={STATION}/data_0000.parquet")),
            object(&format!("station={STATION}/data_0000.parquet")),
            resource_arn(
                "lake2",
                Some(&format!("raw/station={STATION}/data_0000.parquet")),
            ),
            resource_arn("lake", None),
        ] {
            assert_eq!(
                p.evaluate("s3:PutObject", &arn),
                Decision::ImplicitDeny,
                "{arn}"
            );
        }
    }

    #[test]
    fn reading_listing_and_deleting_are_denied() {
        let p = station_policy();
        let own = object(&format!(
            "raw/station={STATION}/year=2026/data_0000.parquet"
        ));
        for op in ["GetObject", "HeadObject", "DeleteObject", "DeleteObjects"] {
            assert_eq!(
                p.evaluate(&iam_action(op), &own),
                Decision::ImplicitDeny,
                "{op}"
            );
        }
        for op in [
            "ListObjectsV2",
            "ListObjects",
            "HeadBucket",
            "GetBucketLocation",
        ] {
            assert_eq!(
                p.evaluate(&iam_action(op), &resource_arn("lake", None)),
                Decision::ImplicitDeny,
                "{op}"
            );
        }
        assert_eq!(
            p.evaluate(&iam_action("ListBuckets"), ALL_RESOURCES),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow() {
        let p = IdentityPolicy::parse(
            r#"{
  "Version": "2012-10-17",
  "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Sid": "NoHealth", "Effect": "Deny", "Action": ["s3:PutObject"], "Resource": "arn:aws:s3:::lake/raw/health/*"},
    {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::lake/raw/health/*"}
  ]
}"#,
        )
        .expect("valid");
        assert_eq!(
            p.evaluate("s3:PutObject", &object("raw/health/station=x/h.parquet")),
            Decision::ExplicitDeny(Some("NoHealth".into()))
        );
        assert_eq!(
            p.evaluate("s3:GetObject", &object("raw/health/station=x/h.parquet")),
            Decision::Allow
        );
        assert_eq!(
            p.evaluate("s3:PutObject", &object("raw/station=x/d.parquet")),
            Decision::Allow
        );
    }

    #[test]
    fn not_action_and_not_resource_invert_the_match() {
        let p = IdentityPolicy::parse(
            r#"{"Statement": {"Effect": "Allow", "NotAction": "s3:Delete*", "NotResource": "arn:aws:s3:::lake/private/*"}}"#,
        )
        .expect("valid");
        assert_eq!(p.evaluate("s3:GetObject", &object("a")), Decision::Allow);
        assert_eq!(
            p.evaluate("s3:DeleteObject", &object("a")),
            Decision::ImplicitDeny
        );
        assert_eq!(
            p.evaluate("s3:GetObject", &object("private/a")),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_or_unsupported_policies_are_refused_with_the_reason() {
        for (json, expected) in [
            ("", "not an IAM policy document"),
            ("{\"Statement\": [", "not an IAM policy document"),
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": "s3:PutObject"}]}"#,
                "statement 1: no Resource or NotResource (a statement needs Effect, Action and Resource)",
            ),
            (r#"{"Version": "2012-10-17"}"#, "it has no \"Statement\""),
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}, {"Effect": "Deny", "Resource": "*"}]}"#,
                "statement 2: no Action or NotAction",
            ),
            (
                r#"{"Statement": [{"Effect": "Permit", "Action": "s3:PutObject", "Resource": "*"}]}"#,
                "not an IAM policy document",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": "", "Resource": "*"}]}"#,
                "statement 1: an empty Action pattern",
            ),
            (
                r#"{"Statement": [{"Sid": "A", "Effect": "Allow", "Action": "s3:*", "Resource": "*", "Condition": {"Bool": {"aws:SecureTransport": "true"}}}]}"#,
                "statement 1 (\"A\"): Condition is not supported",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"}]}"#,
                "Principal/NotPrincipal belong in bucket policies",
            ),
            (
                r#"{"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::lake/${aws:username}/*"}]}"#,
                "uses a policy variable",
            ),
        ] {
            let err = IdentityPolicy::parse(json).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
    }
}
