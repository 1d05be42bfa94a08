//! The AWS boundary: accounts and their SDK configuration, the crate's own AWS error, and one
//! module per service that talks to the SDK. Nothing outside this module calls the SDK.

pub mod backup;
pub mod iam;
pub mod kms;
pub mod rds;
pub mod sts;

use std::{fmt, time::Duration};

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::RequestId;

use crate::ids::{AccountId, Region};

/// An AWS account snapshift acts in: its declared id and the SDK configuration (credentials,
/// retries, timeouts, endpoint) used to reach it. Clients are made per region from it.
///
/// The declared id is checked against STS `GetCallerIdentity` before the first change
/// (`Stack::deploy`), so credentials of the wrong account stop everything.
#[derive(Clone)]
pub struct Account {
    id: AccountId,
    config: SdkConfig,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Retries for every client snapshift makes: the standard mode (throttling and transient
/// errors retried with exponential backoff and jitter), 5 attempts.
pub fn default_retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(5)
}

/// Timeouts for every client snapshift makes: 60 s per attempt, 5 minutes per operation.
pub fn default_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_secs(60))
        .operation_timeout(Duration::from_secs(300))
        .build()
}

impl Account {
    /// An account reached with an SDK configuration you made yourself. Its retry and timeout
    /// settings are kept as given.
    pub fn from_config(id: AccountId, config: SdkConfig) -> Account {
        Account { id, config }
    }

    /// An account reached through the default credential chain (environment, shared config,
    /// SSO, web identity, instance metadata). `AWS_ENDPOINT_URL` and
    /// `AWS_ENDPOINT_URL_<SERVICE>` are honoured as aws-config defines them.
    pub async fn from_env(id: AccountId) -> Account {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(default_retry_config())
            .timeout_config(default_timeout_config())
            .load()
            .await;
        Account { id, config }
    }

    /// An account reached through a named profile of the shared config files.
    pub async fn from_profile(id: AccountId, profile: &str) -> Account {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .profile_name(profile)
            .retry_config(default_retry_config())
            .timeout_config(default_timeout_config())
            .load()
            .await;
        Account { id, config }
    }

    /// An account reached by assuming `role_arn` (STS `AssumeRole`) with the credentials and
    /// settings of `base`; the credentials are refreshed before they expire.
    pub async fn assume_role(
        id: AccountId,
        base: &Account,
        role_arn: &str,
        session_name: &str,
    ) -> Account {
        let provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&base.config)
            .build()
            .await;
        let config = base
            .config
            .to_builder()
            .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Account { id, config }
    }

    /// The declared account id.
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// The SDK configuration.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.config
    }

    pub(crate) fn region_config(&self, region: &Region) -> SdkConfig {
        self.config
            .to_builder()
            .region(aws_config::Region::new(region.as_str().to_owned()))
            .build()
    }
}

/// How an AWS call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AwsErrorKind {
    /// AWS answered with an error (a code and a message).
    Service,
    /// No answer in time (the attempt or operation timeout).
    Timeout,
    /// The request could not be sent or the answer not read (network, endpoint, credentials).
    Dispatch,
    /// Anything else the SDK reports (construction, response parsing).
    Other,
}

/// An AWS call that failed, with what AWS said: the service and operation, the error code
/// and message, the request id, and the HTTP status. SDK types do not leak through it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct AwsError {
    service: &'static str,
    operation: &'static str,
    kind: AwsErrorKind,
    code: Option<String>,
    message: Option<String>,
    request_id: Option<String>,
    status: Option<u16>,
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{} failed", self.service, self.operation)?;
        match (&self.code, &self.message) {
            (Some(code), Some(message)) => write!(f, ": {code}: {message}")?,
            (Some(code), None) => write!(f, ": {code}")?,
            (None, Some(message)) => write!(f, ": {message}")?,
            (None, None) => write!(f, " ({:?})", self.kind)?,
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl AwsError {
    pub(crate) fn from_sdk<E, R>(
        service: &'static str,
        operation: &'static str,
        err: SdkError<E, R>,
    ) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug + RawResponse,
    {
        let kind = match &err {
            SdkError::ServiceError(_) => AwsErrorKind::Service,
            SdkError::TimeoutError(_) => AwsErrorKind::Timeout,
            SdkError::DispatchFailure(_) => AwsErrorKind::Dispatch,
            _ => AwsErrorKind::Other,
        };
        let status = err.raw_response().map(RawResponse::status);
        let request_id = err.raw_response().and_then(RawResponse::request_id);
        let mut message = err.message().map(str::to_owned);
        if kind != AwsErrorKind::Service && message.is_none() {
            message = Some(aws_sdk_kms::error::DisplayErrorContext(&err).to_string());
        }
        AwsError {
            service,
            operation,
            kind,
            code: err.code().map(str::to_owned),
            message,
            request_id,
            status,
        }
    }

    /// An answer that does not have the shape AWS documents.
    pub(crate) fn malformed(
        service: &'static str,
        operation: &'static str,
        what: String,
    ) -> AwsError {
        AwsError {
            service,
            operation,
            kind: AwsErrorKind::Other,
            code: None,
            message: Some(format!("unexpected answer: {what}")),
            request_id: None,
            status: None,
        }
    }

    /// A request the SDK could not build (a required field missing); nothing was sent.
    pub(crate) fn request(
        service: &'static str,
        operation: &'static str,
        what: String,
    ) -> AwsError {
        AwsError {
            service,
            operation,
            kind: AwsErrorKind::Other,
            code: None,
            message: Some(format!("request not sent: {what}")),
            request_id: None,
            status: None,
        }
    }

    /// The service, e.g. `kms`.
    pub fn service(&self) -> &str {
        self.service
    }

    /// The operation, e.g. `CreateKey`.
    pub fn operation(&self) -> &str {
        self.operation
    }

    /// How the call failed.
    pub fn kind(&self) -> AwsErrorKind {
        self.kind
    }

    /// The AWS error code, e.g. `NotFoundException`.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The AWS error message.
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The AWS request id, for support cases and CloudTrail.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// The HTTP status of the answer, if there was one.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// Whether AWS throttled the call (after the SDK's retries ran out).
    pub fn is_throttled(&self) -> bool {
        matches!(
            self.code(),
            Some(
                "ThrottlingException"
                    | "Throttling"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded"
            )
        )
    }

    /// Whether the error code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }
}

/// Reads a call that failed with one of `codes` as "not there": `Ok(None)`. Where a missing
/// thing is expected (a describe before a create, a delete that already happened), this is
/// the one place that says which error codes mean it.
pub(crate) fn none_on<T>(
    result: Result<T, AwsError>,
    codes: &[&str],
) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        Err(e) if codes.iter().any(|code| e.is(code)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What snapshift reads from an SDK raw response.
pub(crate) trait RawResponse {
    fn status(&self) -> u16;
    fn request_id(&self) -> Option<String>;
}

impl RawResponse for aws_sdk_kms::config::http::HttpResponse {
    fn status(&self) -> u16 {
        self.status().as_u16()
    }

    fn request_id(&self) -> Option<String> {
        RequestId::request_id(self).map(str::to_owned)
    }
}
