//! STS: who the credentials belong to.

use super::{Account, AwsError};
use crate::ids::{AccountId, IdError, Region};

/// What `GetCallerIdentity` says about the credentials of `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallerIdentity {
    /// The account the credentials belong to.
    pub account: AccountId,
    /// The caller's ARN.
    pub arn: String,
}

/// Asks STS, in `region`, who the credentials of `account` belong to.
pub async fn caller_identity(
    account: &Account,
    region: &Region,
) -> Result<CallerIdentity, AwsError> {
    let client = aws_sdk_sts::Client::new(&account.region_config(region));
    let pace = account.pace(region.as_str());
    let out = super::paced(&pace, || client.get_caller_identity().send())
        .await
        .map_err(|e| AwsError::from_sdk("sts", "GetCallerIdentity", e))?;
    let id = out.account().unwrap_or_default();
    let parsed = id
        .parse()
        .map_err(|e: IdError| AwsError::malformed("sts", "GetCallerIdentity", e.to_string()))?;
    Ok(CallerIdentity {
        account: parsed,
        arn: out.arn().unwrap_or_default().to_owned(),
    })
}
