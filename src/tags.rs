//! Resource tags, checked against the limits KMS, RDS, IAM and AWS Backup share.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rules::Rule;

/// Tag keys snapshift puts on what it creates; users cannot set them.
pub const RESERVED_PREFIX: &str = "snapshift:";

/// A tag that AWS (or snapshift) would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid tag `{key}`: {problem}")]
pub struct TagError {
    key: String,
    problem: &'static str,
}

impl TagError {
    /// The tag key at fault.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The rule it breaks: R22 for the reserved `aws:` prefix.
    pub fn rule(&self) -> Option<Rule> {
        self.key
            .to_ascii_lowercase()
            .starts_with("aws:")
            .then_some(Rule::R22)
    }
}

/// A set of tags: keys of 1 to 128 characters, values of at most 256, and no key with the
/// reserved prefixes `aws:` (R22) or `snapshift:`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    try_from = "BTreeMap<String, String>",
    into = "BTreeMap<String, String>"
)]
pub struct Tags(BTreeMap<String, String>);

impl TryFrom<BTreeMap<String, String>> for Tags {
    type Error = TagError;

    fn try_from(map: BTreeMap<String, String>) -> Result<Tags, TagError> {
        let mut tags = Tags::new();
        for (k, v) in map {
            tags.insert(k, v)?;
        }
        Ok(tags)
    }
}

impl From<Tags> for BTreeMap<String, String> {
    fn from(tags: Tags) -> Self {
        tags.0
    }
}

impl Tags {
    /// No tags.
    pub fn new() -> Tags {
        Tags::default()
    }

    /// Adds or replaces a tag after checking it.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), TagError> {
        let (key, value) = (key.into(), value.into());
        let problem = if key.is_empty() || key.chars().count() > 128 {
            Some("a tag key is 1 to 128 characters long")
        } else if value.chars().count() > 256 {
            Some("a tag value is at most 256 characters long")
        } else if key.to_ascii_lowercase().starts_with("aws:") {
            Some("the prefix `aws:` is reserved for AWS (R22)")
        } else if key.starts_with(RESERVED_PREFIX) {
            Some("the prefix `snapshift:` is reserved for the tags snapshift manages")
        } else {
            None
        };
        match problem {
            Some(problem) => Err(TagError { key, problem }),
            None => {
                self.0.insert(key, value);
                Ok(())
            }
        }
    }

    /// The tags, ordered by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// How many tags there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // R22: tags with the reserved `aws:` prefix cannot be set or copied.
    #[test]
    fn r22_reserved_prefixes_are_refused() {
        let mut tags = Tags::new();
        tags.insert("team", "data").unwrap();
        let err = tags
            .insert("aws:cloudformation:stack-name", "x")
            .unwrap_err();
        assert_eq!(err.to_string(), "invalid tag `aws:cloudformation:stack-name`: the prefix `aws:` is reserved for AWS (R22)");
        assert_eq!(err.rule(), Some(Rule::R22));
        assert!(tags.insert("AWS:x", "x").is_err());
        let err = tags.insert("snapshift:stack", "x").unwrap_err();
        assert_eq!(err.rule(), None);
        assert!(tags.insert("", "x").is_err());
        assert!(tags.insert("k".repeat(129), "x").is_err());
        assert!(tags.insert("k", "v".repeat(257)).is_err());
        tags.insert("k".repeat(128), "v".repeat(256)).unwrap();
        assert_eq!(tags.len(), 2);
        let err = serde_json::from_str::<Tags>(r#"{"aws:x":"y"}"#).unwrap_err();
        assert!(
            err.to_string().contains("the prefix `aws:` is reserved"),
            "{err}"
        );
    }
}
