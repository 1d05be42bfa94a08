//! Print the key policy of a shareable key: who administers it and which accounts may use it.
//!
//! ```sh
//! cargo run -q --example key_policy -- --owner 111111111111 --grant 999999999999 \
//!     --admin arn:aws:iam::111111111111:role/admin --region ap-northeast-1
//! ```
//!
//! With `--region`, the granted accounts may use the key through RDS in that region (and the
//! replica regions) only; without it, through RDS in any region.
//!
//! The JSON goes to stdout, ready for `aws kms put-key-policy --policy file://...`. Bad input
//! exits with code 2 and a message on stderr that names the value and what is wrong with it;
//! nothing is printed on stdout then.

use std::process::ExitCode;

use clap::Parser;
use snapshift::{
    ids::{AccountId, PrincipalArn, Region},
    key::ShareableKey,
};

/// Print the KMS key policy of a key that shares RDS snapshots with other accounts.
#[derive(Debug, Parser)]
#[command(name = "key_policy")]
struct Args {
    /// The 12-digit account that owns the key.
    #[arg(long)]
    owner: AccountId,
    /// An account that may use the key (repeatable).
    #[arg(long = "grant")]
    grants: Vec<AccountId>,
    /// An IAM user or role of the owner account that administers the key (repeatable).
    #[arg(long = "admin")]
    admins: Vec<PrincipalArn>,
    /// Make the key multi-region; replicas get the same policy.
    #[arg(long)]
    multi_region: bool,
    /// A region that gets a replica (repeatable; needs --multi-region).
    #[arg(long = "replica-region")]
    replica_regions: Vec<Region>,
    /// The key's home region: granted accounts use the key through RDS there (and in the
    /// replica regions) only.
    #[arg(long)]
    region: Option<Region>,
}

/// Runs the example on `args` (program name first): the policy JSON, or an exit code and a
/// message for stderr.
pub fn run<I, S>(args: I) -> Result<String, (u8, String)>
where
    I: IntoIterator<Item = S>,
    S: Into<std::ffi::OsString> + Clone,
{
    let args = Args::try_parse_from(args).map_err(|e| {
        let code = if e.use_stderr() { 2 } else { 0 };
        (code, e.render().to_string())
    })?;
    let mut key = ShareableKey::new().multi_region(args.multi_region);
    for admin in args.admins {
        key = key.admin(admin);
    }
    for account in args.grants {
        key = key.grant_account(account);
    }
    for region in args.replica_regions {
        key = key.replica_region(region);
    }
    let policy = key
        .build()
        .and_then(|key| match &args.region {
            Some(region) => key.key_policy_in_region(region, args.owner),
            None => key.key_policy(args.owner),
        })
        .map_err(|e| (2, format!("error: {e}\n")))?;
    Ok(policy.to_json_pretty() + "\n")
}

fn main() -> ExitCode {
    match run(std::env::args_os()) {
        Ok(json) => {
            print!("{json}");
            ExitCode::SUCCESS
        }
        // `--help` and `--version` are "errors" with code 0 whose text belongs on stdout.
        Err((0, text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            eprint!("{message}");
            ExitCode::from(code)
        }
    }
}
