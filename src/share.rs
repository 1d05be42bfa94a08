//! Share lists: the accounts a snapshot's `restore` attribute names, within AWS's limit (R6).

use std::collections::BTreeSet;

use crate::{
    ids::AccountId,
    rules::{limits, Rule},
};

/// A share that would take a snapshot past 20 accounts (R6, R22).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sharing with {account} would make {would_be} accounts; a snapshot can be shared with at most {} (R6); remove a share first", limits::MAX_SHARED_ACCOUNTS)]
pub struct ShareError {
    account: AccountId,
    would_be: usize,
}

impl ShareError {
    /// The account that did not fit.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The rule: R6.
    pub fn rule(&self) -> Rule {
        Rule::R6
    }
}

/// The accounts a snapshot is shared with: at most 20 (R6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShareList(BTreeSet<AccountId>);

impl ShareList {
    /// The list as AWS reports it (`DescribeDBSnapshotAttributes`, attribute `restore`).
    /// AWS never reports more than 20, so this cannot fail for AWS's own answer; a longer
    /// list is refused like any other overflow.
    pub fn from_accounts(
        accounts: impl IntoIterator<Item = AccountId>,
    ) -> Result<ShareList, ShareError> {
        let mut list = ShareList::default();
        for account in accounts {
            list.add(account)?;
        }
        Ok(list)
    }

    /// Adds `account`; `Ok(false)` when it was already there (nothing to do).
    pub fn add(&mut self, account: AccountId) -> Result<bool, ShareError> {
        if self.0.contains(&account) {
            return Ok(false);
        }
        if self.0.len() >= limits::MAX_SHARED_ACCOUNTS {
            return Err(ShareError {
                account,
                would_be: self.0.len() + 1,
            });
        }
        Ok(self.0.insert(account))
    }

    /// Removes `account`; `false` when it was not there (nothing to do).
    pub fn remove(&mut self, account: AccountId) -> bool {
        self.0.remove(&account)
    }

    /// Whether `account` is on the list.
    pub fn contains(&self, account: AccountId) -> bool {
        self.0.contains(&account)
    }

    /// How many accounts.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the snapshot is shared with no account.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The accounts, in order.
    pub fn iter(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.0.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(n: u64) -> AccountId {
        format!("{n:012}").parse().unwrap()
    }

    // R6: at most 20 accounts; re-adding is a no-op, not an error.
    #[test]
    fn r6_share_limit_is_20_accounts() {
        let mut list = ShareList::from_accounts((1..=19).map(account)).unwrap();
        assert_eq!(list.add(account(20)), Ok(true));
        assert_eq!(list.add(account(20)), Ok(false));
        let err = list.add(account(21)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "sharing with 000000000021 would make 21 accounts; a snapshot can be shared with at most 20 (R6); remove a share first"
        );
        assert_eq!(err.rule(), Rule::R6);
        assert_eq!(list.len(), 20);
        assert!(list.remove(account(1)));
        assert!(!list.remove(account(1)));
        assert_eq!(list.add(account(21)), Ok(true));
        assert!(ShareList::from_accounts((1..=21).map(account)).is_err());
    }
}
