//! Manual-snapshot quotas (R25): what a deploy needs in each account, region and kind, what it
//! found there, and the lines that the preview, the preflight and the errors show. Pure: the
//! readings come from `aws::rds::Rds::manual_snapshot_quota`, made by the quota check.
//!
//! An account holds at most 100 manual DB snapshots and 100 manual DB cluster snapshots per
//! region by default. A fleet's intermediate copies count in the source account (even when the
//! source is an automated snapshot), and the copies it keeps count in each target. AWS refuses
//! a copy past the quota with `SnapshotQuotaExceeded`, the code of the copy quota (R19), and no
//! waiting frees it: so the source keeps at most its headroom alive at once (the scheduler in
//! `engine::wait`), each target must have room for every copy it keeps, and both are checked
//! before the first change.

use std::fmt;

use crate::{
    aws::rds::ManualQuota,
    ids::{AccountId, Region, SnapshotKind},
};

/// What an account is to a deploy, for its manual-snapshot quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum QuotaRole {
    /// The source account: it holds the intermediate copies, each only until every target
    /// holds its own copy (released as it goes).
    Source,
    /// A target account: it keeps every copy made there.
    Target,
}

/// What a deploy needs of one account's manual-snapshot quota in one region, for one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QuotaNeed {
    /// The account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// DB or cluster snapshots (two quotas).
    pub kind: SnapshotKind,
    /// Source or target.
    pub role: QuotaRole,
    /// For a target, the copies it will keep that do not exist yet. For the source, the
    /// intermediate copies it needs alive at once to use every copy slot: the copy quota, or
    /// fewer when fewer copies remain to be made.
    pub needed: u64,
}

/// What the quota check found for one need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reading {
    /// `DescribeAccountAttributes` answered.
    Read(ManualQuota),
    /// It could not be read (denied, or not listed by the endpoint): why.
    Unavailable(String),
}

/// An account whose quota cannot hold what a deploy needs (R25).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaShortfall {
    /// The account.
    pub account: AccountId,
    /// The region.
    pub region: Region,
    /// DB or cluster snapshots.
    pub kind: SnapshotKind,
    /// Source or target.
    pub role: QuotaRole,
    /// Manual snapshots of that kind held now.
    pub used: u64,
    /// The quota.
    pub max: u64,
    /// How many more it must be able to hold.
    pub needed: u64,
    /// The room kept free for other tools and people (source only).
    pub margin: u64,
}

/// The plural noun of a snapshot kind's quota, as messages name it.
pub fn kind_noun(kind: SnapshotKind) -> &'static str {
    match kind {
        SnapshotKind::Cluster => "manual DB cluster snapshots",
        SnapshotKind::Db => "manual DB snapshots",
    }
}

impl fmt::Display for QuotaShortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.role {
            QuotaRole::Source => format!(
                "needs room for {} intermediate copies at once (one per copy slot), beyond a margin of {}",
                self.needed, self.margin
            ),
            QuotaRole::Target => format!("needs room for the {} copies it will keep", self.needed),
        };
        write!(
            f,
            "account {} in {} holds {} of {} {} and {what}: raise the Service Quotas quota \"{}\" (service rds) by at least {}, or delete manual snapshots there",
            self.account,
            self.region,
            self.used,
            self.max,
            kind_noun(self.kind),
            ManualQuota::service_quota(self.kind),
            self.missing()
        )
    }
}

impl QuotaShortfall {
    /// How many snapshots the quota lacks.
    pub fn missing(&self) -> u64 {
        (self.used + self.needed + self.margin).saturating_sub(self.max)
    }
}

/// How many intermediate copies the source may keep alive at once: `max - used - margin`
/// (negative when the account is already past it).
pub fn headroom(quota: ManualQuota, margin: u64) -> i64 {
    let max = i64::try_from(quota.max).unwrap_or(i64::MAX);
    let used = i64::try_from(quota.used).unwrap_or(i64::MAX);
    let margin = i64::try_from(margin).unwrap_or(i64::MAX);
    max.saturating_sub(used).saturating_sub(margin)
}

/// The shortfall of `need` under `reading`, if its quota cannot hold it. A reading that is
/// unavailable proves nothing: it is said in the preview, and the deploy goes on with the
/// configured headroom.
pub fn shortfall(need: &QuotaNeed, reading: &Reading, margin: u64) -> Option<QuotaShortfall> {
    let Reading::Read(quota) = reading else {
        return None;
    };
    let margin = match need.role {
        QuotaRole::Source => margin,
        QuotaRole::Target => 0,
    };
    let room = headroom(*quota, margin);
    (need.needed > 0 && room < i64::try_from(need.needed).unwrap_or(i64::MAX)).then(|| {
        QuotaShortfall {
            account: need.account,
            region: need.region.clone(),
            kind: need.kind,
            role: need.role,
            used: quota.used,
            max: quota.max,
            needed: need.needed,
            margin,
        }
    })
}

/// `1 more copy` or `n more copies`.
fn more_copies(n: u64) -> String {
    if n == 1 {
        "1 more copy".to_owned()
    } else {
        format!("{n} more copies")
    }
}

/// The preview's line for one need: what was read and what it allows. `releasing`: whether
/// the intermediate copies are deleted as they go (a fleet, or a migration that asks) or kept
/// until teardown.
pub fn line(
    need: &QuotaNeed,
    reading: &Reading,
    margin: u64,
    fallback: u64,
    releasing: bool,
) -> String {
    let place = format!(
        "{} {} account {} in {}",
        match need.role {
            QuotaRole::Source => "source",
            QuotaRole::Target => "target",
        },
        kind_noun(need.kind),
        need.account,
        need.region
    );
    match (reading, need.role) {
        (Reading::Read(q), QuotaRole::Source) if releasing => format!(
            "{place}: {} of {} used; with a margin of {margin}, at most {} intermediate copies alive at once, each deleted once every target holds its copy",
            q.used,
            q.max,
            headroom(*q, margin).max(0)
        ),
        (Reading::Read(q), QuotaRole::Source) => format!(
            "{place}: {} of {} used; {} more intermediate {} until teardown, room for {} beyond a margin of {margin}",
            q.used,
            q.max,
            need.needed,
            if need.needed == 1 { "copy, kept" } else { "copies, kept" },
            headroom(*q, margin).max(0)
        ),
        (Reading::Read(q), QuotaRole::Target) => format!(
            "{place}: {} of {} used; {} to keep, room for {}",
            q.used,
            q.max,
            more_copies(need.needed),
            q.room()
        ),
        (Reading::Unavailable(why), QuotaRole::Source) => format!(
            "{place}: the quota cannot be read ({why}); assuming room for {fallback} intermediate copies at once (WaitConfig::manual_snapshot_fallback)"
        ),
        (Reading::Unavailable(why), QuotaRole::Target) => format!(
            "{place}: the quota cannot be read ({why}); {} to keep, not checked",
            more_copies(need.needed)
        ),
    }
}

#[cfg(test)]
mod tests {
    use expect_test::expect;

    use super::*;

    fn need(role: QuotaRole, needed: u64) -> QuotaNeed {
        QuotaNeed {
            account: "222222222222".parse().unwrap(),
            region: "ap-northeast-1".parse().unwrap(),
            kind: SnapshotKind::Cluster,
            role,
            needed,
        }
    }

    // R25: a target needs room for every copy it keeps; the source for its copy slots,
    // beyond the margin.
    #[test]
    fn r25_shortfalls_name_the_account_the_quota_and_the_counts() {
        let target = need(QuotaRole::Target, 100);
        let full = Reading::Read(ManualQuota {
            used: 950,
            max: 1000,
        });
        let short = shortfall(&target, &full, 5).unwrap();
        assert_eq!(short.missing(), 50);
        expect![[r#"account 222222222222 in ap-northeast-1 holds 950 of 1000 manual DB cluster snapshots and needs room for the 100 copies it will keep: raise the Service Quotas quota "Manual DB cluster snapshots" (service rds) by at least 50, or delete manual snapshots there"#]]
            .assert_eq(&short.to_string());
        assert_eq!(
            shortfall(
                &target,
                &Reading::Read(ManualQuota {
                    used: 900,
                    max: 1000
                }),
                5
            ),
            None
        );
        let source = need(QuotaRole::Source, 20);
        let tight = Reading::Read(ManualQuota { used: 80, max: 100 });
        expect![[r#"account 222222222222 in ap-northeast-1 holds 80 of 100 manual DB cluster snapshots and needs room for 20 intermediate copies at once (one per copy slot), beyond a margin of 5: raise the Service Quotas quota "Manual DB cluster snapshots" (service rds) by at least 5, or delete manual snapshots there"#]]
            .assert_eq(&shortfall(&source, &tight, 5).unwrap().to_string());
        assert_eq!(shortfall(&source, &tight, 0), None);
        // Unread proves nothing; nothing needed needs nothing.
        assert_eq!(
            shortfall(&source, &Reading::Unavailable("AccessDenied".into()), 5),
            None
        );
        assert_eq!(shortfall(&need(QuotaRole::Target, 0), &full, 5), None);
    }

    #[test]
    fn r25_preview_lines() {
        let read = Reading::Read(ManualQuota { used: 3, max: 100 });
        expect![[r#"source manual DB cluster snapshots account 222222222222 in ap-northeast-1: 3 of 100 used; with a margin of 5, at most 92 intermediate copies alive at once, each deleted once every target holds its copy"#]]
            .assert_eq(&line(&need(QuotaRole::Source, 20), &read, 5, 20, true));
        expect![[r#"source manual DB cluster snapshots account 222222222222 in ap-northeast-1: 3 of 100 used; 1 more intermediate copy, kept until teardown, room for 92 beyond a margin of 5"#]]
            .assert_eq(&line(&need(QuotaRole::Source, 1), &read, 5, 20, false));
        expect![[r#"target manual DB cluster snapshots account 222222222222 in ap-northeast-1: 3 of 100 used; 60 more copies to keep, room for 97"#]]
            .assert_eq(&line(&need(QuotaRole::Target, 60), &read, 5, 20, true));
        let denied = Reading::Unavailable("AccessDenied: not authorized".into());
        expect![[r#"source manual DB cluster snapshots account 222222222222 in ap-northeast-1: the quota cannot be read (AccessDenied: not authorized); assuming room for 20 intermediate copies at once (WaitConfig::manual_snapshot_fallback)"#]]
            .assert_eq(&line(&need(QuotaRole::Source, 20), &denied, 5, 20, true));
        assert_eq!(headroom(ManualQuota { used: 99, max: 100 }, 5), -4);
    }
}
