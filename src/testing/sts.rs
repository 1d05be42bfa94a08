//! The fake STS: who the caller is, and assumed roles.

use super::{
    unknown,
    wire::{xml_escape, AwsFault, Params},
    Caller, World,
};
use crate::ids::{Arn, IdError};

pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub(crate) fn handle(
    world: &mut World,
    caller: &Caller,
    operation: &str,
    params: &Params,
) -> Result<String, AwsFault> {
    match operation {
        "GetCallerIdentity" => Ok(format!(
            "<Arn>{}</Arn><UserId>AIDAFAKE{}</UserId><Account>{}</Account>",
            xml_escape(&caller.arn(world)),
            caller.account,
            caller.account
        )),
        "AssumeRole" => {
            let role = params.str("RoleArn").unwrap_or_default();
            let session = params
                .str("RoleSessionName")
                .unwrap_or_else(|| "session".into());
            let arn: Arn = role
                .parse()
                .map_err(|e: IdError| AwsFault::new("ValidationError", e.to_string()))?;
            let role_name = arn
                .resource_id()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let key = format!("ASIAFAKE{}{}", arn.account(), world.fresh_hex());
            world.access_keys.insert(key.clone(), arn.account());
            world.principals.insert(
                key.clone(),
                format!(
                    "arn:{}:sts::{}:assumed-role/{role_name}/{session}",
                    arn.partition(),
                    arn.account()
                ),
            );
            Ok(format!(
                "<Credentials><AccessKeyId>{key}</AccessKeyId><SecretAccessKey>fake-secret</SecretAccessKey>\
                 <SessionToken>fake-session</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials>\
                 <AssumedRoleUser><AssumedRoleId>AROAFAKE:{session}</AssumedRoleId>\
                 <Arn>arn:{}:sts::{}:assumed-role/{}/{}</Arn></AssumedRoleUser>",
                arn.partition(),
                arn.account(),
                xml_escape(&role_name),
                xml_escape(&session)
            ))
        }
        other => Err(unknown("sts", other)),
    }
}
