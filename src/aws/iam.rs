//! IAM: roles, their trust policies and their inline policies, as the engine needs them.

use aws_sdk_iam::types::Tag;

use super::{none_on, Account, AwsError};

/// The code IAM answers for a role or policy that is not there.
const NO_SUCH_ENTITY: &[&str] = &["NoSuchEntity"];

fn err<E, R>(op: &'static str) -> impl FnOnce(aws_sdk_iam::error::SdkError<E, R>) -> AwsError
where
    E: aws_sdk_iam::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + super::RawResponse,
{
    move |e| AwsError::from_sdk("iam", op, e)
}

/// What snapshift reads about a role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleInfo {
    /// The role ARN.
    pub arn: String,
    /// Its trust policy (`AssumeRolePolicyDocument`), decoded.
    pub trust_policy: Option<String>,
    /// Its tags.
    pub tags: Vec<(String, String)>,
}

/// IAM of one account (a global service).
#[derive(Debug, Clone)]
pub struct Iam {
    client: aws_sdk_iam::Client,
    pace: std::sync::Arc<super::Pace>,
    /// The account, whose record of recent changes tells AWS Backup's calls what to wait
    /// out (R26).
    settle: Account,
}

/// The name of role `name` in the account's record of changes (R26).
pub(crate) fn role_thing(name: &str) -> String {
    format!("iam:role/{name}")
}

/// Decodes the URL-encoded policy documents IAM returns.
fn url_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (
            b,
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(decoded)) => {
                out.push(decoded);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Iam {
    /// IAM of `account`, through the global region of its partition when its configuration
    /// names no region (R28).
    pub fn new(account: &Account) -> Iam {
        Iam {
            client: aws_sdk_iam::Client::new(&account.global_config()),
            pace: account.pace("iam"),
            settle: account.clone(),
        }
    }

    /// `GetRole`; `None` when there is no such role.
    pub async fn role(&self, name: &str) -> Result<Option<RoleInfo>, AwsError> {
        let out = super::paced(&self.pace, || self.client.get_role().role_name(name).send())
            .await
            .map_err(err("GetRole"));
        Ok(none_on(out, NO_SUCH_ENTITY)?.and_then(|out| {
            out.role().map(|r| RoleInfo {
                arn: r.arn().to_owned(),
                trust_policy: r.assume_role_policy_document().map(url_decode),
                tags: r
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_owned(), t.value().to_owned()))
                    .collect(),
            })
        }))
    }

    /// `CreateRole` with a trust policy and tags.
    pub async fn create_role(
        &self,
        name: &str,
        trust_policy: &str,
        tags: &[(String, String)],
    ) -> Result<String, AwsError> {
        let tags = tags
            .iter()
            .map(|(k, v)| {
                Tag::builder()
                    .key(k)
                    .value(v)
                    .build()
                    .map_err(|e| AwsError::malformed("iam", "Tag", e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = super::paced(&self.pace, || {
            self.client
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust_policy)
                .set_tags(Some(tags))
                .send()
        })
        .await
        .map_err(err("CreateRole"))?;
        self.settle
            .changed(role_thing(name), format!("role {name} was created"));
        Ok(out.role().map(|r| r.arn().to_owned()).unwrap_or_default())
    }

    /// `UpdateAssumeRolePolicy`: replaces the role's trust policy.
    pub async fn update_assume_role_policy(
        &self,
        role: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .update_assume_role_policy()
                .role_name(role)
                .policy_document(document)
                .send()
        })
        .await
        .map_err(err("UpdateAssumeRolePolicy"))?;
        self.settle.changed(
            role_thing(role),
            format!("the trust policy of role {role} was changed"),
        );
        Ok(())
    }

    /// The inline policy `policy` of role `role`, decoded; `None` when there is none.
    pub async fn role_policy(&self, role: &str, policy: &str) -> Result<Option<String>, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .get_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
        })
        .await
        .map_err(err("GetRolePolicy"));
        Ok(none_on(out, NO_SUCH_ENTITY)?.map(|out| url_decode(out.policy_document())))
    }

    /// `PutRolePolicy`.
    pub async fn put_role_policy(
        &self,
        role: &str,
        policy: &str,
        document: &str,
    ) -> Result<(), AwsError> {
        super::paced(&self.pace, || {
            self.client
                .put_role_policy()
                .role_name(role)
                .policy_name(policy)
                .policy_document(document)
                .send()
        })
        .await
        .map_err(err("PutRolePolicy"))?;
        self.settle.changed(
            role_thing(role),
            format!("the inline policy {policy} of role {role} was changed"),
        );
        Ok(())
    }

    /// `DeleteRolePolicy`; `false` when there was none.
    pub async fn delete_role_policy(&self, role: &str, policy: &str) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
        })
        .await
        .map_err(err("DeleteRolePolicy"));
        let deleted = none_on(out, NO_SUCH_ENTITY)?.is_some();
        if deleted {
            self.settle.changed(
                role_thing(role),
                format!("the inline policy {policy} of role {role} was deleted"),
            );
        }
        Ok(deleted)
    }

    /// `DeleteRole`; `false` when there was none. Inline policies must go first.
    pub async fn delete_role(&self, role: &str) -> Result<bool, AwsError> {
        let out = super::paced(&self.pace, || {
            self.client.delete_role().role_name(role).send()
        })
        .await
        .map_err(err("DeleteRole"));
        self.settle.forget(&role_thing(role));
        Ok(none_on(out, NO_SUCH_ENTITY)?.is_some())
    }
}
