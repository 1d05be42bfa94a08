//! Account ids, regions and partitions.

use std::{fmt, str::FromStr};

use super::{string_serde, IdError, IdKind};

/// A 12-digit AWS account id, e.g. `111111111111`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AccountId([u8; 12]);

impl AccountId {
    /// The account id as a string slice.
    pub fn as_str(&self) -> &str {
        // The bytes are ASCII digits by construction.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The ARN that names the whole account as a principal: `arn:<partition>:iam::<id>:root`.
    pub fn root_arn(&self, partition: Partition) -> String {
        format!("arn:{partition}:iam::{self}:root")
    }
}

impl FromStr for AccountId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let bytes = s.as_bytes();
        if bytes.len() != 12 || !bytes.iter().all(u8::is_ascii_digit) {
            return Err(IdError::new(
                IdKind::AccountId,
                s,
                "must be exactly 12 digits",
            ));
        }
        let mut id = [0u8; 12];
        id.copy_from_slice(bytes);
        Ok(AccountId(id))
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS partition: the first field of every ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Partition {
    /// `aws`: the commercial regions.
    Aws,
    /// `aws-cn`: the China regions.
    AwsCn,
    /// `aws-us-gov`: AWS GovCloud (US).
    AwsUsGov,
    /// `aws-iso`.
    AwsIso,
    /// `aws-iso-b`.
    AwsIsoB,
    /// `aws-iso-e`.
    AwsIsoE,
    /// `aws-iso-f`.
    AwsIsoF,
    /// `aws-eusc`: the AWS European Sovereign Cloud.
    AwsEusc,
}

impl Partition {
    const ALL: [(Partition, &'static str); 8] = [
        (Partition::Aws, "aws"),
        (Partition::AwsCn, "aws-cn"),
        (Partition::AwsUsGov, "aws-us-gov"),
        (Partition::AwsIso, "aws-iso"),
        (Partition::AwsIsoB, "aws-iso-b"),
        (Partition::AwsIsoE, "aws-iso-e"),
        (Partition::AwsIsoF, "aws-iso-f"),
        (Partition::AwsEusc, "aws-eusc"),
    ];

    /// The partition's name as it appears in ARNs.
    pub fn as_str(self) -> &'static str {
        Partition::ALL
            .iter()
            .find(|(p, _)| *p == self)
            .map_or("aws", |(_, name)| name)
    }

    /// The region that signs for the partition's global services, IAM and STS (R28): a client
    /// of those needs a region to find its endpoint, and a profile may name none.
    /// `us-east-1` for `aws`, as the SDKs' endpoint rules say.
    pub fn global_region(self) -> Region {
        let code = match self {
            Partition::Aws => "us-east-1",
            Partition::AwsCn => "cn-north-1",
            Partition::AwsUsGov => "us-gov-west-1",
            Partition::AwsIso => "us-iso-east-1",
            Partition::AwsIsoB => "us-isob-east-1",
            Partition::AwsIsoE => "eu-isoe-west-1",
            Partition::AwsIsoF => "us-isof-south-1",
            Partition::AwsEusc => "eusc-de-east-1",
        };
        Region(std::sync::Arc::from(code))
    }
}

impl FromStr for Partition {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        Partition::ALL
            .iter()
            .find(|(_, name)| *name == s)
            .map(|(p, _)| *p)
            .ok_or_else(|| {
                IdError::new(
                    IdKind::Arn,
                    s,
                    "unknown partition (expected aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, \
                     aws-iso-e, aws-iso-f or aws-eusc)",
                )
            })
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS region code such as `ap-northeast-1`.
///
/// Any code of the form `<area>-<direction...>-<number>` is accepted, so regions that open
/// after this release work too; the partition follows from the prefix. A clone shares the
/// code's text: a batch holds its region in every resource.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Region(std::sync::Arc<str>);

impl Region {
    /// The region code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The partition the region belongs to (`cn-*` is `aws-cn`, `us-gov-*` is `aws-us-gov`, ...).
    pub fn partition(&self) -> Partition {
        let r = &*self.0;
        if r.starts_with("cn-") {
            Partition::AwsCn
        } else if r.starts_with("us-gov-") {
            Partition::AwsUsGov
        } else if r.starts_with("us-isob-") {
            Partition::AwsIsoB
        } else if r.starts_with("us-isof-") || r.starts_with("eu-isof-") {
            Partition::AwsIsoF
        } else if r.starts_with("eu-isoe-") {
            Partition::AwsIsoE
        } else if r.starts_with("us-iso-") {
            Partition::AwsIso
        } else if r.starts_with("eusc-") {
            Partition::AwsEusc
        } else {
            Partition::Aws
        }
    }
}

impl FromStr for Region {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let bad = |problem: &str| Err(IdError::new(IdKind::Region, s, problem));
        let parts: Vec<&str> = s.split('-').collect();
        if parts.len() < 3 || parts.len() > 5 {
            return bad("expected a region code such as `us-east-1` or `ap-northeast-3`");
        }
        let (last, words) = parts.split_last().unwrap_or((&"", &[]));
        let number_ok =
            !last.is_empty() && last.len() <= 2 && last.bytes().all(|b| b.is_ascii_digit());
        let words_ok = words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()));
        let area_ok = (2..=4).contains(&parts[0].len());
        if !(number_ok && words_ok && area_ok) {
            return bad(
                "expected lowercase words and a number, such as `us-east-1` or `ap-northeast-3`",
            );
        }
        Ok(Region(std::sync::Arc::from(s)))
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_serde!(AccountId, Region, Partition);
