//! KMS key references: key ids, key ARNs, alias names and alias ARNs.

use std::{fmt, str::FromStr};

use super::{string_serde, AccountId, Arn, IdError, IdKind, Region};

/// A KMS key id: a UUID (`1234abcd-12ab-34cd-56ef-1234567890ab`) or a multi-region key id
/// (`mrk-` and 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId(String);

impl KeyId {
    /// The key id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a multi-region key id (`mrk-...`, R12).
    pub fn is_multi_region(&self) -> bool {
        self.0.starts_with("mrk-")
    }
}

impl FromStr for KeyId {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let hex = |part: &str, len: usize| {
            part.len() == len && part.bytes().all(|b| b.is_ascii_hexdigit())
        };
        let ok = if let Some(rest) = s.strip_prefix("mrk-") {
            hex(rest, 32)
        } else {
            let parts: Vec<&str> = s.split('-').collect();
            parts.len() == 5
                && [8, 4, 4, 4, 12]
                    .iter()
                    .zip(&parts)
                    .all(|(len, part)| hex(part, *len))
        };
        if ok {
            Ok(KeyId(s.to_owned()))
        } else {
            Err(IdError::new(
                IdKind::Key,
                s,
                "a key id is a UUID (8-4-4-4-12 hex digits) or `mrk-` and 32 hex digits",
            ))
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The ARN of a KMS key (not an alias): `arn:aws:kms:<region>:<account>:key/<key-id>`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyArn {
    arn: Arn,
    region: Region,
    id: KeyId,
}

impl KeyArn {
    /// Builds the ARN of key `id` in `region` of `account`.
    pub fn new(region: &Region, account: AccountId, id: &KeyId) -> KeyArn {
        KeyArn {
            arn: Arn::from_checked_parts(
                region.partition(),
                super::Service::Kms,
                Some(region.clone()),
                account,
                "key",
                id.as_str(),
            ),
            region: region.clone(),
            id: id.clone(),
        }
    }

    /// The whole ARN.
    pub fn arn(&self) -> &Arn {
        &self.arn
    }

    /// The key id.
    pub fn key_id(&self) -> &KeyId {
        &self.id
    }

    /// The region of the key.
    pub fn region(&self) -> &Region {
        &self.region
    }

    /// The account that owns the key.
    pub fn account(&self) -> AccountId {
        self.arn.account()
    }
}

impl TryFrom<Arn> for KeyArn {
    type Error = IdError;

    fn try_from(arn: Arn) -> Result<KeyArn, IdError> {
        let whole = arn.to_string();
        let (Some(region), true, true) = (
            arn.region().cloned(),
            arn.service() == super::Service::Kms,
            arn.resource_type() == "key",
        ) else {
            return Err(IdError::new(
                IdKind::Arn,
                &whole,
                "expected a KMS key ARN `arn:<partition>:kms:<region>:<account>:key/<key-id>`",
            ));
        };
        let id = arn.resource_id().parse()?;
        Ok(KeyArn { arn, region, id })
    }
}

impl FromStr for KeyArn {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        let arn: Arn = s.parse()?;
        KeyArn::try_from(arn).map_err(|e| IdError::new(IdKind::Arn, s, e.problem()))
    }
}

impl fmt::Display for KeyArn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.arn.fmt(f)
    }
}

/// A KMS alias name, `alias/<name>`: 1 to 256 characters in all, letters, digits, `/`, `_`
/// and `-` after the prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AliasName(String);

impl AliasName {
    /// The alias name, including the `alias/` prefix.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the alias is reserved for AWS managed keys (`alias/aws/...`, R1, R11).
    ///
    /// A snapshot under `alias/aws/rds` cannot be shared (R1), and an AWS Backup vault under
    /// `alias/aws/backup` lands RDS copies under `alias/aws/rds` (R11).
    pub fn is_aws_managed(&self) -> bool {
        self.0.starts_with("alias/aws/")
    }

    /// `alias/aws/rds`: the AWS managed key of RDS in every account and region.
    pub fn aws_rds() -> AliasName {
        AliasName("alias/aws/rds".into())
    }

    /// `alias/aws/backup`: the AWS managed key of AWS Backup in every account and region.
    pub fn aws_backup() -> AliasName {
        AliasName("alias/aws/backup".into())
    }

    /// Parses a name for an alias that snapshift will create: like [`FromStr`], and the
    /// reserved prefix `alias/aws/` is refused. A bare name gets the `alias/` prefix.
    pub fn for_new_alias(name: &str) -> Result<AliasName, IdError> {
        let full = if name.starts_with("alias/") {
            name.to_owned()
        } else {
            format!("alias/{name}")
        };
        let alias: AliasName = full
            .parse()
            .map_err(|e: IdError| IdError::new(IdKind::Key, name, e.problem()))?;
        if alias.is_aws_managed() {
            return Err(IdError::new(
                IdKind::Key,
                name,
                "the prefix `alias/aws/` is reserved for AWS managed keys",
            ));
        }
        Ok(alias)
    }
}

pub(crate) fn check_alias_name(s: &str) -> Result<(), String> {
    let Some(rest) = s.strip_prefix("alias/") else {
        return Err("an alias name starts with `alias/`".into());
    };
    if rest.is_empty() || s.len() > 256 {
        return Err("an alias name is `alias/` and a name, 256 characters at most in all".into());
    }
    if let Some(c) = rest
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
    {
        return Err(format!(
            "an alias name may contain only letters, digits, `/`, `_` and `-`, not `{c}`"
        ));
    }
    Ok(())
}

impl FromStr for AliasName {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        check_alias_name(s).map_err(|p| IdError::new(IdKind::Key, s, p))?;
        Ok(AliasName(s.to_owned()))
    }
}

impl fmt::Display for AliasName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A reference to a KMS key, in any of the four forms KMS accepts as `KeyId`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KeyRef {
    /// A key id.
    Id(KeyId),
    /// A key ARN.
    Arn(KeyArn),
    /// An alias name, `alias/...`.
    Alias(AliasName),
    /// An alias ARN, `arn:aws:kms:<region>:<account>:alias/...`.
    AliasArn {
        /// The whole ARN.
        arn: Arn,
        /// The alias name it points at.
        alias: AliasName,
    },
}

impl KeyRef {
    /// Whether this names an AWS managed key by its reserved alias (`alias/aws/...`).
    ///
    /// This is the local half of R1 detection: a snapshot whose key is `alias/aws/rds` cannot
    /// be shared and needs a re-encrypting copy. (A key given by id or ARN may be AWS managed
    /// too; that takes `DescribeKey`, which the engine does.)
    pub fn is_aws_managed(&self) -> bool {
        self.alias().is_some_and(AliasName::is_aws_managed)
    }

    /// The alias, for the alias forms.
    pub fn alias(&self) -> Option<&AliasName> {
        match self {
            KeyRef::Alias(a) | KeyRef::AliasArn { alias: a, .. } => Some(a),
            KeyRef::Id(_) | KeyRef::Arn(_) => None,
        }
    }

    /// The key id, for the id and key ARN forms.
    pub fn key_id(&self) -> Option<&KeyId> {
        match self {
            KeyRef::Id(id) => Some(id),
            KeyRef::Arn(arn) => Some(arn.key_id()),
            KeyRef::Alias(_) | KeyRef::AliasArn { .. } => None,
        }
    }

    /// The account that owns the key, for the ARN forms.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            KeyRef::Arn(arn) => Some(arn.account()),
            KeyRef::AliasArn { arn, .. } => Some(arn.account()),
            KeyRef::Id(_) | KeyRef::Alias(_) => None,
        }
    }
}

impl FromStr for KeyRef {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, IdError> {
        if s.starts_with("arn:") {
            let arn: Arn = s.parse()?;
            if arn.service() != super::Service::Kms {
                return Err(IdError::new(
                    IdKind::Key,
                    s,
                    "expected a KMS key or alias ARN",
                ));
            }
            if arn.resource_type() == "alias" {
                let alias = format!("alias/{}", arn.resource_id()).parse()?;
                Ok(KeyRef::AliasArn { arn, alias })
            } else {
                Ok(KeyRef::Arn(KeyArn::try_from(arn)?))
            }
        } else if s.starts_with("alias/") {
            Ok(KeyRef::Alias(s.parse()?))
        } else {
            s.parse().map(KeyRef::Id).map_err(|_| {
                IdError::new(
                    IdKind::Key,
                    s,
                    "expected a key id, a key ARN, an alias name (`alias/...`) or an alias ARN",
                )
            })
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyRef::Id(id) => id.fmt(f),
            KeyRef::Arn(arn) => arn.fmt(f),
            KeyRef::Alias(alias) => alias.fmt(f),
            KeyRef::AliasArn { arn, .. } => arn.fmt(f),
        }
    }
}

impl From<KeyArn> for KeyRef {
    fn from(arn: KeyArn) -> KeyRef {
        KeyRef::Arn(arn)
    }
}

impl From<AliasName> for KeyRef {
    fn from(alias: AliasName) -> KeyRef {
        KeyRef::Alias(alias)
    }
}

string_serde!(KeyId, KeyArn, AliasName, KeyRef);
