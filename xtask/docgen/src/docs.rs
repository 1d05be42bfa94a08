//! The content of the generated docs, built from the crate's own builders so that the docs
//! show exactly what the crate writes.

use std::{fmt::Write as _, fs, path::Path};

use snapshift::{
    backup::{self, BackupRole},
    key::{self, ShareableKey},
    policy::PolicyDocument,
    rules::Rule,
};

use crate::codegen::MARKER;

const OWNER: &str = "111111111111";
const TARGET: &str = "999999999999";
const ADMIN: &str = "arn:aws:iam::111111111111:role/KeyAdmin";
const SOURCE_REGION: &str = "ap-northeast-1";
const DESTINATION_REGION: &str = "ap-northeast-3";
const MRK: &str = "mrk-0123456789abcdef0123456789abcdef";
const CLUSTER: &str = "example-db";
const SUBNET_GROUP: &str = "example-db-subnet-group";
const PARAMETER_GROUP: &str = "example-db-cluster-pg";
const SOURCE_VAULT: &str = "source-backup-vault";
const DESTINATION_VAULT: &str = "destination-backup-vault";
const DR_SUBNET_GROUP: &str = "example-db-dr-subnet-group";
const DR_PARAMETER_GROUP: &str = "example-db-dr-cluster-pg";

/// Every generated file: path relative to the project root, and content.
pub fn generate(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut files = Vec::new();
    for page in key_policy_pages()? {
        files.push((
            format!("docs/key-policies/{}.json", page.slug),
            json(&page.policy),
        ));
        files.push((
            format!("docs/key-policies/{}.md", page.slug),
            page.markdown()?,
        ));
    }
    let role = backup_role(SOURCE_VAULT, DESTINATION_VAULT)?;
    let policy = role.policy().map_err(|e| e.to_string())?;
    let trust = role.trust_policy().map_err(|e| e.to_string())?;
    files.push(("docs/iam/backup-role.json".into(), json(&policy)));
    files.push(("docs/iam/backup-role-trust.json".into(), json(&trust)));
    files.push((
        "docs/iam/backup-role.md".into(),
        backup_role_markdown(&policy, &trust)?,
    ));
    files.push((
        "docs/cross-region-backup.md".into(),
        cross_region_markdown()?,
    ));
    files.push(("docs/rules.md".into(), rules_markdown()));
    files.push(("examples/README.md".into(), examples_readme(root)?));
    Ok(files)
}

fn json(policy: &PolicyDocument) -> String {
    format!("{}\n", policy.to_json_pretty())
}

fn parse<T: std::str::FromStr>(s: &str) -> Result<T, String>
where
    T::Err: std::fmt::Display,
{
    s.parse().map_err(|e: T::Err| e.to_string())
}

struct KeyPolicyPage {
    slug: &'static str,
    title: &'static str,
    when: &'static str,
    spec: KeySpec,
    notes: &'static str,
    policy: PolicyDocument,
}

/// The builder calls of one page: the policy and the snippet shown are both made from it, so
/// they cannot disagree; the snippet itself runs as a doc test (`src/lib.rs`).
struct KeySpec {
    alias: &'static str,
    grant: Option<&'static str>,
    replica_region: Option<&'static str>,
    backup_vaults: bool,
}

impl KeySpec {
    fn build(&self) -> Result<ShareableKey, String> {
        let mut key = ShareableKey::new().alias(self.alias).admin(parse(ADMIN)?);
        if let Some(account) = self.grant {
            key = key.grant_account(parse(account)?);
        }
        if let Some(region) = self.replica_region {
            key = key.multi_region(true).replica_region(parse(region)?);
        }
        key.backup_vaults(self.backup_vaults)
            .build()
            .map_err(|e| e.to_string())
    }

    fn snippet(&self) -> String {
        let mut calls = format!(
            "        .alias(\"{}\")\n        .admin(\"{ADMIN}\".parse()?)\n",
            self.alias
        );
        if let Some(account) = self.grant {
            let _ = writeln!(calls, "        .grant_account(\"{account}\".parse()?)");
        }
        if let Some(region) = self.replica_region {
            let _ = writeln!(
                calls,
                "        .multi_region(true)\n        .replica_region(\"{region}\".parse()?)"
            );
        }
        if self.backup_vaults {
            calls.push_str("        .backup_vaults(true)\n");
        }
        format!(
            "use snapshift::key::ShareableKey;\n\n\
             fn main() -> Result<(), Box<dyn std::error::Error>> {{\n    \
             let key = ShareableKey::new()\n{calls}        .build()?;\n    \
             // The home region: granted accounts use the key through RDS there (and in replica regions).\n    \
             let policy = key.key_policy_in_region(&\"{SOURCE_REGION}\".parse()?, \"{OWNER}\".parse()?)?;\n    \
             println!(\"{{}}\", policy.to_json_pretty());\n    \
             Ok(())\n}}"
        )
    }
}

fn key_policy_pages() -> Result<Vec<KeyPolicyPage>, String> {
    let owner = parse(OWNER)?;
    let page = |slug, title, when, spec: KeySpec, notes| -> Result<KeyPolicyPage, String> {
        let policy = spec
            .build()?
            .key_policy_in_region(&parse(SOURCE_REGION)?, owner)
            .map_err(|e| e.to_string())?;
        Ok(KeyPolicyPage {
            slug,
            title,
            when,
            spec,
            notes,
            policy,
        })
    };
    Ok(vec![
        page(
            "same-account",
            "Key policy: re-encryption within one account",
            "You re-encrypt a snapshot under a key of your own, in the same account: to move \
             it off the AWS managed key `alias/aws/rds` before sharing (R1, R3), or to rotate \
             to a key you control. No other account is named.",
            KeySpec {
                alias: "snapshot-reencrypt",
                grant: None,
                replica_region: None,
                backup_vaults: false,
            },
            "",
        )?,
        page(
            "cross-account",
            "Key policy: sharing snapshots with another account",
            "You share an encrypted RDS or Aurora snapshot with another account. A snapshot \
             under the AWS managed key `alias/aws/rds` cannot be shared at all (R1): it is \
             first copied under this key (R3), the copy is shared (R6), and the target account \
             copies it again under a key of its own to cut the tie (R7). This is the policy of \
             that shareable key, in the source account (R2).",
            KeySpec {
                alias: "snapshot-share",
                grant: Some(TARGET),
                replica_region: None,
                backup_vaults: false,
            },
            "The same JSON comes from the example binary:\n\n\
             ```sh\ncargo run -q --example key_policy -- --owner 111111111111 \\\n    \
             --grant 999999999999 --admin arn:aws:iam::111111111111:role/KeyAdmin \\\n    \
             --region ap-northeast-1\n```\n\n\
             Without `--region` (or with `key_policy` instead of `key_policy_in_region`) the \
             home region is not known, and the conditions allow RDS of any region \
             (`StringLike` `rds.*.amazonaws.com`); `KeyResource` always knows its region and \
             writes the policy above.\n\n\
             Once the target account's copy is available the key is no longer needed: the \
             share is removed, the intermediate copy deleted, then the key is scheduled for \
             deletion with a waiting period of 7 to 30 days (R8, R23). Before that copy, \
             deleting the key would make the shared snapshot unrecoverable (R7).\n",
        )?,
        page(
            "cross-region",
            "Key policy: AWS Backup copies to another region",
            "AWS Backup copies Aurora recovery points to a second region (R18) and encrypts \
             each copy with the *destination vault's* key; a backup rule cannot choose one \
             (R11). To keep copies under a key you control, the key is created multi-region \
             (which can only be chosen at creation, R12), replicated into the destination \
             region, and the destination vault is created under the replica.",
            KeySpec {
                alias: "backup-copies",
                grant: None,
                replica_region: Some(DESTINATION_REGION),
                backup_vaults: true,
            },
            "- The replica is made with `ReplicateKey` in the destination region and carries \
             its own key policy; snapshift gives it this same policy (R12). A replica always \
             stays in the key's account (R23).\n\
             - A replica that is not the destination vault's key changes nothing: a vault \
             under `alias/aws/backup` (the `Default` vault) lands RDS copies under \
             `alias/aws/rds` of that region, whatever keys exist (R11).\n\
             - The backup role uses the key through its IAM policy, which the root statement \
             enables; see [the backup role](../iam/backup-role.md) (R15).\n\
             - `backup_vaults(true)` marks the key of AWS Backup vaults (a cross-region backup \
             marks its key so): an account it grants may then use it through AWS Backup \
             (`backup.<region>.amazonaws.com`) as well as RDS, in the home and replica regions. \
             This key grants no other account, so the policy is the same either way.\n\
             - At teardown the replica is scheduled for deletion before the primary: a \
             multi-region primary's waiting period starts only after its last replica is \
             deleted (R23).\n",
        )?,
    ])
}

/// What each key policy statement does and why, by Sid.
fn explain_key_statement(sid: &str) -> Option<&'static str> {
    Some(match sid {
        key::sid::ROOT => {
            "The key's own account may do everything with the key. This does not open the key \
             to every user of the account: it lets the account's IAM policies grant access, as \
             they do for any other resource. It also keeps the policy changeable, which KMS \
             insists on: a policy that leaves nobody able to call `kms:PutKeyPolicy` is refused \
             with `MalformedPolicyDocumentException` (R4). snapshift checks this before calling \
             KMS, and refuses any grant to `\"*\"` that no condition narrows (R4)."
        }
        key::sid::ADMINS => {
            "Key administrators manage the key: describe, enable and disable, tag, change the \
             policy (`kms:Put*`), schedule and cancel deletion. They are given none of the \
             cryptographic actions (`Encrypt`, `Decrypt`, `ReEncrypt*`, `GenerateDataKey*`), so \
             administering the key is kept apart from using it (R2). That is a separation of \
             duties, not a wall: whoever may change the policy (`kms:PutKeyPolicy`) or create \
             grants (`kms:CreateGrant`, within `kms:Create*`) can give themselves more, so \
             choose administrators as carefully as users. Administrators must belong to the \
             key's own account, and so must anyone a key policy gives administration: a policy \
             of your own (`KeyResource::with_policy`) that gives another account, or `\"*\"` \
             not kept to this account by a condition, `kms:*` or any administrative action \
             (changing or reading the policy, disabling, deleting, aliases, tags, rotation, \
             replication, key material) is refused before any call, with an error that names \
             the statement, the action and the principal (R2)."
        }
        key::sid::USE => {
            "The granted account may use the key to decrypt and re-encrypt, through RDS only. \
             RDS in that account needs this to copy the shared snapshot under its own key (R7), \
             or to restore from it directly (R9: restoring needs the key, taking a snapshot \
             does not). Two conditions keep it to that: `kms:ViaService` names RDS \
             (`rds.<region>.amazonaws.com`) in each region the key lives in, its home region \
             and its replica regions (and AWS Backup, `backup.<region>.amazonaws.com`, for the \
             key of backup vaults), so a principal of that account cannot call `kms:Decrypt` \
             on the key directly; `kms:CallerAccount` names the granted accounts, so the use is \
             on their behalf. A shared snapshot is copied within its region (Aurora copies \
             across accounts only within one region), so RDS of the key's own regions is \
             enough. Naming the account's root delegates to that account's IAM policies: who \
             there may copy or restore is decided there, and those policies must allow the \
             same actions on this key (R2)."
        }
        key::sid::GRANTS => {
            "RDS uses the key through KMS grants made on the account's behalf. The granted \
             account may create, list and revoke grants only when the grant is for an AWS \
             resource (`kms:GrantIsForAWSResource`), so it cannot pass the key on to an \
             arbitrary principal, and, as above, only through RDS in the key's regions, for \
             the granted accounts (`kms:ViaService`, `kms:CallerAccount`, R2)."
        }
        key::sid::DESCRIBE => {
            "The granted account may read the key's metadata (`kms:DescribeKey`: its ARN, \
             state, whether it is multi-region) directly, not only through RDS. Metadata \
             decrypts nothing, and reading it with the target account's credentials is how a \
             check before a long copy finds out whether that account can reach the key at all \
             (R2). `kms:CallerAccount` keeps it to the granted accounts."
        }
        _ => return None,
    })
}

/// What each backup role statement does and why, by Sid.
fn explain_role_statement(sid: &str) -> Option<&'static str> {
    Some(match sid {
        backup::sid::RDS => {
            "Take, tag, copy, share and restore cluster snapshots. Each protected cluster is \
             named exactly (`cluster:<cluster>`): a pattern such as `cluster:<cluster>*` would \
             also cover `<cluster>-billing` or any other cluster whose name starts the same. A \
             restore creates a cluster under a new name while the original still exists, and \
             `RestoreDBClusterFromSnapshot` is authorized on that new cluster's ARN, so the \
             names a restore may give are named exactly too: by default one, \
             `<cluster>-restored` (the name the disaster-recovery example restores to), or \
             those given with `ProtectedCluster::restore_as` (then the default is not added). \
             A restore under the original name, once the original is gone, is covered by the \
             cluster's own ARN. `Stack::restore_from_backup` refuses any other name before \
             calling AWS. A restore job runs as the role in the recovery point's region, with \
             that region's subnet group, cluster parameter group and security groups (R30): \
             the source region's are always named; a cluster with a recovery site \
             (`ProtectedCluster::restore_in_destination`) has the restore names and the \
             groups of the destination region named too, so a copy in the destination vault \
             restores in place. Without one, a recovery point in the destination region is \
             copied back first (R17). Backup snapshots are named by AWS Backup \
             (`cluster-snapshot:awsbackup:job-<id>`, copies `awsbackup:copyjob-<id>`, R16), so \
             they are matched by that prefix, in both regions (R15)."
        }
        backup::sid::RDS_DELETE => {
            "Deleting snapshots stands alone so that it can be read, and audited, by itself: \
             the role may delete only the snapshots AWS Backup made, never a manual snapshot or \
             the cluster (R15). AWS Backup needs it to expire recovery points by their \
             lifecycle (R24). The `awsbackup:` prefix is AWS Backup's own: a snapshot \
             identifier chosen through RDS has only letters, digits and hyphens, so no manual \
             or automated snapshot matches it. What cannot be narrowed further: \
             `rds:DeleteDBClusterSnapshot` takes no condition keys of its own, and its resource \
             (`cluster-snapshot`) offers only tag conditions (`aws:ResourceTag/<key>`, \
             `rds:cluster-snapshot-tag/<key>`); the snapshot's name does not say which cluster \
             or plan it came from. So the role may also delete AWS Backup's recovery points of \
             other plans in the same account and regions. A tag condition would narrow it only \
             if every recovery point and every copy carried the plan's tag; a point without it \
             could then never expire, so snapshift does not rely on one."
        }
        backup::sid::VAULTS => {
            "Describe and copy into both vaults. The destination vault receives the scheduled \
             copies; the source vault is named too for the way back after a disaster: copy the \
             recovery point from the destination vault to the source region, then restore \
             there (R17). `backup:CopyIntoBackupVault` has no resource-level control, but a copy \
             also needs `DescribeBackupVault` on the target vault, which only these two allow \
             (R15)."
        }
        backup::sid::KEYS => {
            "Use the two vault keys: the multi-region primary in the source region and its \
             replica in the destination region. The copy in the destination region is \
             encrypted with the destination vault's key (R11), so the role must be able to use \
             it (R15)."
        }
        backup::sid::MANAGED_KEYS => {
            "Describe the AWS managed keys `alias/aws/rds` and `alias/aws/backup` of both \
             regions. AWS creates those keys when they are first needed, so in a bare recovery \
             region they may not exist yet and their ARNs cannot be written down; the statement \
             names any key (`key/*`) and narrows it with the `kms:ResourceAliases` condition \
             (R15)."
        }
        backup::sid::TAGS => {
            "Only when the backup selection names its clusters by tag \
             (`CrossRegionBackup::select_by_tag`, `BackupRole::select_by_tag`): AWS Backup \
             finds the tagged resources as the role, through the Resource Groups Tagging API, \
             so the role needs `tag:GetResources`. That action has no resource-level \
             permissions, so its resource is `*`; it reads tags, and changes nothing. A \
             selection by ARN does not get it (R30)."
        }
        backup::sid::TRUST => {
            "Only AWS Backup (`backup.amazonaws.com`) may assume the role; the backup \
             selection names the role (R14). The condition `aws:SourceAccount` = the role's \
             account is AWS Backup's guidance against the confused deputy: AWS Backup acting \
             for another account (a plan of theirs naming this role's ARN) cannot assume it. \
             `aws:SourceArn` is not added: the role serves backup, copy, restore and lifecycle \
             jobs of several plans, vaults and regions, and no one ARN pattern narrower than \
             the account is known to hold for all of them."
        }
        _ => return None,
    })
}

/// Writes "### Sid" and the explanation for each statement; a statement with no explanation
/// is an error, so the docs cannot fall behind the policy.
fn statements_section(
    out: &mut String,
    policy: &PolicyDocument,
    explain: fn(&str) -> Option<&'static str>,
) -> Result<(), String> {
    for st in policy.statements() {
        let sid = st
            .sid
            .as_deref()
            .ok_or("a generated statement has no Sid")?;
        let text = explain(sid).ok_or_else(|| format!("no explanation for statement \"{sid}\""))?;
        let _ = write!(out, "### \"{sid}\"\n\n{}\n\n", wrap(text));
    }
    Ok(())
}

impl KeyPolicyPage {
    fn markdown(&self) -> Result<String, String> {
        let mut out = format!("# {}\n\n{MARKER}\n\n", self.title);
        let _ = write!(out, "**Use it when** {}\n\n", lower_first(&wrap(self.when)));
        let _ = write!(
            out,
            "Example accounts: the key lives in `{OWNER}`{}; `{ADMIN}` administers it.\n\n",
            self.spec
                .grant
                .map(|account| format!(", and `{account}` receives the snapshots"))
                .unwrap_or_default()
        );
        let _ = write!(
            out,
            "## Made by\n\n```rust\n{}\n```\n\n",
            self.spec.snippet()
        );
        let _ = write!(
            out,
            "## The policy\n\nAlso in [`{slug}.json`]({slug}.json).\n\n```json\n{}\n```\n\n",
            self.policy.to_json_pretty(),
            slug = self.slug
        );
        out.push_str("## Statement by statement\n\n");
        statements_section(&mut out, &self.policy, explain_key_statement)?;
        if !self.notes.is_empty() {
            let _ = write!(out, "## Notes\n\n{}\n", self.notes);
        }
        out.push_str(SEE_ALSO);
        Ok(out)
    }
}

const SEE_ALSO: &str = "## See also\n\n\
- [The rules R1..R32](../rules.md)\n\
- Key policies: [same account](../key-policies/same-account.md), \
[cross-account](../key-policies/cross-account.md), [cross-region](../key-policies/cross-region.md)\n\
- [The AWS Backup role](../iam/backup-role.md)\n\
- [Cross-region backup](../cross-region-backup.md)\n";

/// The example backup role, copying from `source_vault` to `destination_vault`.
fn backup_role(source_vault: &str, destination_vault: &str) -> Result<BackupRole, String> {
    Ok(BackupRole::builder()
        .account(parse(OWNER)?)
        .source_region(parse(SOURCE_REGION)?)
        .destination_region(parse(DESTINATION_REGION)?)
        .cluster(parse(CLUSTER)?)
        .subnet_group(parse(SUBNET_GROUP)?)
        .parameter_group(parse(PARAMETER_GROUP)?)
        .source_vault(parse(source_vault)?)
        .destination_vault(parse(destination_vault)?)
        .primary_key(parse(&primary_key_arn())?)
        .replica_key(parse(&replica_key_arn())?)
        .select_by_tag(true)
        .recovery_site(Some(snapshift::backup::RecoverySite {
            subnet_group: parse(DR_SUBNET_GROUP)?,
            parameter_group: parse(DR_PARAMETER_GROUP)?,
            security_groups: Vec::new(),
        }))
        .build())
}

fn primary_key_arn() -> String {
    format!("arn:aws:kms:{SOURCE_REGION}:{OWNER}:key/{MRK}")
}

fn replica_key_arn() -> String {
    format!("arn:aws:kms:{DESTINATION_REGION}:{OWNER}:key/{MRK}")
}

fn backup_role_markdown(policy: &PolicyDocument, trust: &PolicyDocument) -> Result<String, String> {
    let mut out =
        format!("# IAM: the AWS Backup role for cross-region Aurora copies\n\n{MARKER}\n\n");
    out.push_str(&wrap(
        "**Use it when** AWS Backup copies an Aurora cluster's recovery points to another \
         region (RDS cross-region automated backups do not cover Aurora, R18) and your \
         security rules forbid `\"Resource\": \"*\"`. AWS Backup assumes this role to take \
         the snapshot, copy it into the destination vault, and restore from it; the policy \
         names exactly the cluster, its groups, the two vaults and the two keys (R15).",
    ));
    out.push_str("\n\n");
    let _ = write!(
        out,
        "Example: account `{OWNER}`, cluster `{CLUSTER}` in `{SOURCE_REGION}`, copies to \
         `{DESTINATION_REGION}`, vaults `{SOURCE_VAULT}` and `{DESTINATION_VAULT}` under a \
         multi-region key and its replica.\n\n"
    );
    let _ = write!(
        out,
        "## Made by\n\n```rust\n\
         use snapshift::backup::{{BackupRole, RecoverySite}};\n\n\
         fn main() -> Result<(), Box<dyn std::error::Error>> {{\n    \
         let role = BackupRole::builder()\n        \
         .account(\"{OWNER}\".parse()?)\n        \
         .source_region(\"{SOURCE_REGION}\".parse()?)\n        \
         .destination_region(\"{DESTINATION_REGION}\".parse()?)\n        \
         .cluster(\"{CLUSTER}\".parse()?)\n        \
         .subnet_group(\"{SUBNET_GROUP}\".parse()?)\n        \
         .parameter_group(\"{PARAMETER_GROUP}\".parse()?)\n        \
         .source_vault(\"{SOURCE_VAULT}\".parse()?)\n        \
         .destination_vault(\"{DESTINATION_VAULT}\".parse()?)\n        \
         .primary_key(\"{primary}\".parse()?)\n        \
         .replica_key(\"{replica}\".parse()?)\n        \
         .select_by_tag(true)\n        \
         .recovery_site(Some(RecoverySite {{\n            \
         subnet_group: \"{DR_SUBNET_GROUP}\".parse()?,\n            \
         parameter_group: \"{DR_PARAMETER_GROUP}\".parse()?,\n            \
         security_groups: Vec::new(),\n        \
         }}))\n        \
         .build();\n    \
         println!(\"{{}}\", role.policy()?.to_json_pretty());\n    \
         println!(\"{{}}\", role.trust_policy()?.to_json_pretty());\n    \
         Ok(())\n}}\n```\n\n\
         Every field but `restore_names`, `more_clusters`, `select_by_tag`, \
         `security_groups` and `recovery_site` is required (leaving one out does not \
         compile); `select_by_tag(true)`, for a selection by tag, adds `tag:GetResources`, \
         and a `recovery_site` lets a restore run in the destination region with that \
         region's groups (R30). `policy()` refuses keys outside their vault's region (R11) or account \
         (R23), regions of different partitions, a \"cross-region\" backup within one region \
         (R18), and a cluster whose default restore name would not be a valid identifier \
         (R15).\n\n",
        primary = primary_key_arn(),
        replica = replica_key_arn(),
    );
    let _ = write!(
        out,
        "## The role policy\n\nAlso in [`backup-role.json`](backup-role.json).\n\n```json\n{}\n```\n\n",
        policy.to_json_pretty()
    );
    out.push_str("### Statement by statement\n\n");
    let mut statements = String::new();
    statements_section(&mut statements, policy, explain_role_statement)?;
    out.push_str(&statements.replace("### ", "#### "));
    let _ = write!(
        out,
        "## The trust policy\n\nAlso in [`backup-role-trust.json`](backup-role-trust.json).\n\n```json\n{}\n```\n\n",
        trust.to_json_pretty()
    );
    let mut trust_text = String::new();
    statements_section(&mut trust_text, trust, explain_role_statement)?;
    out.push_str(&trust_text.replace("### ", "#### "));
    out.push_str("## Changes made outside snapshift\n\n");
    out.push_str(&wrap(
        "`BackupRoleResource` compares both documents with the definition: the trust policy \
         (from `GetRole`) and the inline policy `snapshift-backup` (from `GetRolePolicy`), \
         as JSON. `refresh()` reports each one changed outside snapshift, `preview()` shows \
         the calls that put it back, and `deploy()` makes them: `UpdateAssumeRolePolicy` for \
         the trust policy, `PutRolePolicy` for the inline policy. A trust policy widened by \
         hand (say, without `aws:SourceAccount`) is therefore not left in place by the next \
         deploy (R14, R15).",
    ));
    out.push_str("\n\n");
    out.push_str("## Keys and vaults\n\n");
    out.push_str(&wrap(
        "The role does not choose the key of a copy: the destination \
         vault does (R11). Create the destination vault under the replica key (it must exist \
         before the plan that copies into it, R13); a vault under `alias/aws/backup`, such as \
         `Default`, lands the copies under `alias/aws/rds`. See \
         [the cross-region key policy](../key-policies/cross-region.md).",
    ));
    out.push_str("\n\n");
    out.push_str(SEE_ALSO);
    Ok(out)
}

/// The name the cross-region page and the example give the backup.
const DR_NAME: &str = "example-db-dr";

/// `docs/cross-region-backup.md`: what `CrossRegionBackup` creates, with the policies and the
/// plan generated from the same definitions the crate deploys.
fn cross_region_markdown() -> Result<String, String> {
    use snapshift::backup::{
        CopyDefinition, Lifecycle, PlanDefinition, SelectionDefinition, Selector, StartWindow,
        Windows,
    };
    let source_vault = format!("{DR_NAME}-source");
    let destination_vault = format!("{DR_NAME}-destination");
    let role = backup_role(&source_vault, &destination_vault)?;
    let policy = role.policy().map_err(|e| e.to_string())?;
    let key = snapshift::key::ShareableKey::new()
        .alias(format!("{DR_NAME}-backup"))
        .multi_region(true)
        .replica_region(parse(DESTINATION_REGION)?)
        .backup_vaults(true)
        .build()
        .map_err(|e| e.to_string())?;
    let key_policy = key
        .key_policy_in_region(&parse(SOURCE_REGION)?, parse(OWNER)?)
        .map_err(|e| e.to_string())?;
    let destination_arn =
        format!("arn:aws:backup:{DESTINATION_REGION}:{OWNER}:backup-vault:{destination_vault}");
    let lifecycle = Lifecycle::delete_after(35).map_err(|e| e.to_string())?;
    let plan = PlanDefinition {
        name: parse(DR_NAME)?,
        rule_name: parse(&format!("{DR_NAME}-cross-region"))?,
        target_vault: parse(&source_vault)?,
        schedule: parse("cron(0 16 * * ? *)")?,
        windows: Windows::new(StartWindow::minutes(60).map_err(|e| e.to_string())?, 480)
            .map_err(|e| e.to_string())?,
        lifecycle,
        copies: vec![CopyDefinition {
            destination_vault_arn: destination_arn,
            lifecycle,
        }],
    };
    let selection = SelectionDefinition {
        name: parse(DR_NAME)?,
        selector: Selector::Resources(vec![format!(
            "arn:aws:rds:{SOURCE_REGION}:{OWNER}:cluster:{CLUSTER}"
        )]),
    };
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let mut out = format!("# Cross-region backup of Aurora with AWS Backup\n\n{MARKER}\n\n");
    out.push_str(&wrap(
        "**Use it when** an Aurora cluster needs its backups in a second region. RDS \
         cross-region automated backups do not cover Aurora (R18), so the copies go through \
         AWS Backup: a plan backs the cluster up into a vault in its own region and copies \
         each recovery point into a vault in the other region. `CrossRegionBackup` deploys \
         all of it as one stack, with a least-privilege role, and gives you the way back.",
    ));
    let _ = write!(
        out,
        "\n\nExample (the setup of [`examples/cross_region_backup.rs`](../examples/cross_region_backup.rs)): \
         account `{OWNER}`, cluster `{CLUSTER}` in `{SOURCE_REGION}`, copies to \
         `{DESTINATION_REGION}`, every day at 16:00 UTC, kept 35 days in both regions.\n\n\
         ```rust,no_run\n\
         # async fn run(account: snapshift::aws::Account) -> Result<(), Box<dyn std::error::Error>> {{\n\
         use snapshift::{{\n    \
         backup::{{Lifecycle, ProtectedCluster, StartWindow, Windows}},\n    \
         cross_region::CrossRegionBackup,\n    \
         engine::Stack,\n}};\n\n\
         let mut stack = Stack::new(\"cross-region-backup\")?;\n\
         let backup = CrossRegionBackup::new(\"{SOURCE_REGION}\".parse()?, \"{DESTINATION_REGION}\".parse()?)\n    \
         .cluster(ProtectedCluster::new(\n        \
         \"{CLUSTER}\".parse()?,\n        \
         \"{SUBNET_GROUP}\".parse()?,\n        \
         \"{PARAMETER_GROUP}\".parse()?,\n    ))\n    \
         .schedule(\"cron(0 16 * * ? *)\".parse()?)\n    \
         .windows(Windows::new(StartWindow::minutes(60)?, 480)?)\n    \
         .lifecycle(Lifecycle::delete_after(35)?)\n    \
         .copy_lifecycle(Lifecycle::delete_after(35)?);\n\
         let handles = stack.add_cross_region_backup(\"{DR_NAME}\", &account, backup)?;\n\
         println!(\"{{}}\", stack.preview().await?.render());\n\
         stack.deploy().await?;\n\
         let point = stack.backup_now(&handles, &\"{CLUSTER}\".parse()?).await?;\n\
         let copy = stack.copy_to_destination(&handles, &point).await?;\n\
         println!(\"{{}} under {{}}\", copy.arn, copy.key_arn);\n\
         # Ok(())\n# }}\n```\n\n"
    );
    out.push_str("## What gets created\n\n");
    out.push_str("| Order | Resource | What | Rules |\n|---|---|---|---|\n");
    for (i, (resource, what, rules)) in [
        (format!("`{DR_NAME}-key`"), format!("a multi-region KMS key in `{SOURCE_REGION}` with alias `alias/{DR_NAME}-backup`, and its replica in `{DESTINATION_REGION}` (skipped with `KeyStrategy::Existing`)"), "R12"),
        (format!("`{DR_NAME}-role`"), format!("IAM role `{DR_NAME}-backup` trusted by `backup.amazonaws.com`, with the inline policy `snapshift-backup` below"), "R14, R15"),
        (format!("`{DR_NAME}-destination-vault`"), format!("vault `{destination_vault}` in `{DESTINATION_REGION}` under the replica key"), "R11, R13"),
        (format!("`{DR_NAME}-source-vault`"), format!("vault `{source_vault}` in `{SOURCE_REGION}` under the primary key"), "R11"),
        (format!("`{DR_NAME}-plan`"), format!("backup plan `{DR_NAME}`: one rule into the source vault with a copy action to the destination vault"), "R13, R24"),
        (format!("`{DR_NAME}-selection`"), format!("backup selection `{DR_NAME}`: the cluster by ARN (or a tag), and the role"), "R14"),
    ]
    .iter()
    .enumerate()
    {
        let _ = writeln!(out, "| {} | {resource} | {what} | {rules} |", i + 1);
    }
    out.push('\n');
    out.push_str(&wrap(
        "Deploy makes the key first; the role and the destination vault next; the source vault; \
         then the plan, once both vaults exist (the destination vault must exist before the \
         plan that copies into it, R13); the selection last. Teardown goes the other way: \
         selection, plan, source vault, destination vault, role (inline policy first), and the \
         key (replica before primary, R23). A vault that still holds recovery points is never \
         deleted: teardown stops there with `Error::VaultNotEmpty`, lists the recovery points, \
         and keeps the role and the keys they need. A vault you name as existing (such as \
         `Default`) is used, never changed or deleted.",
    ));
    out.push_str("\n\n## The R11 trap: the vault picks the key\n\n");
    out.push_str(&wrap(
        "A backup in the source region is encrypted with the cluster's own key. A copy in the \
         destination region is encrypted with the **destination vault's** key: a backup rule \
         has no key setting. So a multi-region replica key alone changes nothing; it must be \
         the key the destination vault was created under. The region's `Default` vault is under \
         the AWS managed `alias/aws/backup`, and copies into it land as RDS snapshots under the \
         AWS managed `alias/aws/rds` of the destination region, which cannot be shared with \
         another account (R1). `preview()` warns in both cases: a destination vault under \
         `alias/aws/backup`, and a replica that is not the destination vault's key.",
    ));
    out.push_str("\n\n");
    let _ = write!(
        out,
        "## The key policy\n\nThe primary and the replica carry the same policy (R12): the \
         account may use the key through IAM policies, such as the role's. Details in \
         [the cross-region key policy](key-policies/cross-region.md).\n\n```json\n{}\n```\n\n",
        key_policy.to_json_pretty()
    );
    let _ = write!(
        out,
        "## The role policy\n\nStatement by statement in [the AWS Backup role](iam/backup-role.md). \
         Here with the vault names of this page; the key ARNs are those of the key the stack \
         made, read at deploy.\n\n```json\n{}\n```\n\n",
        policy.to_json_pretty()
    );
    let _ = write!(
        out,
        "## The plan and the selection\n\nAs AWS Backup stores them (the selection's role \
         ARN is the deployed role's):\n\n```json\n{}\n```\n\n```json\n{}\n```\n\n",
        pretty(&plan.to_json()),
        pretty(&selection.to_json(&format!("arn:aws:iam::{OWNER}:role/{DR_NAME}-backup")))
    );
    out.push_str("## On-demand jobs and the way back\n\n");
    out.push_str(&wrap(
        "`Stack::backup_now` starts a backup job into the source vault; its recovery point is a \
         cluster snapshot named `awsbackup:job-<id>` (R16). `Stack::copy_to_destination` copies \
         it; the copy is `awsbackup:copyjob-<id>` in the destination region, under the \
         destination vault's key (R11). Jobs are waited for with the stack's progress events \
         and paced calls, like snapshot copies.",
    ));
    out.push_str("\n\n");
    out.push_str(&wrap(
        "For disaster recovery, `Stack::copy_back` copies a recovery point from the destination \
         vault into the source vault (the role has `backup:CopyIntoBackupVault` on both vaults \
         for this, R17), and `Stack::restore_from_backup` restores it with `StartRestoreJob`, \
         in the source region, under the cluster's own name or one of its restore names \
         (`<cluster>-restored` unless `ProtectedCluster::restore_as` names others): the role \
         names each cluster a restore may create, and any other name is refused before any \
         call (R15). \
         Through AWS Backup **only the cluster comes back, with no DB instances** (R17): add an \
         instance before connecting. A restore through RDS (`RestoreDBClusterFromSnapshot` and \
         `CreateDBInstance`) creates what you ask for.",
    ));
    out.push_str("\n\n");
    out.push_str(&SEE_ALSO.replace("../", ""));
    Ok(out)
}

fn rules_markdown() -> String {
    let mut out = format!(
        "# The AWS rules snapshift encodes\n\n{MARKER}\n\nEvery error snapshift raises \
         because of an AWS fact names one of these rules, and the tests that hold the crate \
         to a rule name it (`// R4`). Each summary says what snapshift does about the rule: \
         what can be checked without calling AWS (identifiers, policies, key and backup \
         settings) is checked before the first call; the rest is handled where deploy, \
         waiting and teardown meet it.\n\n"
    );
    for rule in Rule::ALL {
        let _ = write!(
            out,
            "## {rule}: {}\n\n{}\n\n",
            rule.title(),
            wrap(rule.summary())
        );
    }
    out.trim_end().to_owned() + "\n"
}

/// `examples/README.md`: one line per example, from the first line of its `//!` docs.
fn examples_readme(root: &Path) -> Result<String, String> {
    let dir = root.join("examples");
    let mut entries: Vec<(String, String)> = Vec::new();
    let listing = fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in listing {
        let path = entry.map_err(|e| e.to_string())?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let name = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let first = text
            .lines()
            .find_map(|l| l.strip_prefix("//!"))
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("examples/{name}.rs has no `//!` first line"))?;
        entries.push((name, first.to_owned()));
    }
    entries.sort();
    let mut out = format!(
        "# Examples\n\n{MARKER}\n\nEach example is one flow you can copy into your own tool and \
         adapt. Run one with `cargo run --example <name>`.\n\n"
    );
    for (name, line) in entries {
        let _ = writeln!(out, "- [`{name}`]({name}.rs): {line}");
    }
    Ok(out)
}

/// Folds whitespace runs (from the string continuations above) into single spaces.
fn wrap(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lowercases the first letter, unless it starts an acronym ("AWS Backup" stays).
fn lower_first(text: &str) -> String {
    let mut chars = text.chars();
    match (chars.next(), text.chars().nth(1)) {
        (Some(c), Some(next)) if !next.is_uppercase() => c.to_lowercase().chain(chars).collect(),
        _ => text.to_owned(),
    }
}
