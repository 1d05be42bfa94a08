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

/// Makes an SDK call in its turn of the account's [`Pace`] (R20), its future on the heap.
///
/// The SDK's futures are large, and a resource's future holds the largest of its steps for
/// its whole life: a copy that waits hours for a slot or its next poll would carry one
/// inline. Boxed, it carries a pointer. The call's future is made only once the turn comes,
/// so that the callers waiting for their turn (a batch starts hundreds of resources at once)
/// hold none.
pub(crate) async fn paced<F, Fut>(pace: &Pace, call: F) -> Fut::Output
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future + Send,
{
    pace.turn().await;
    Box::pin(call()).await
}

/// The calls of one account in one region (R20): a token bucket holding
/// [`PACE_BURST_SECONDS`] seconds of calls at the account's
/// [`pace_calls`](Account::pace_calls) rate, shared by every caller, waiter or not. A caller
/// takes a token, or reserves the next one and waits for it, so callers are served in turn.
#[derive(Debug)]
pub(crate) struct Pace {
    per_second: std::sync::Arc<std::sync::atomic::AtomicU32>,
    /// Tokens (negative: reserved by waiting callers) and when they were counted.
    bucket: std::sync::Mutex<Option<(f64, tokio::time::Instant)>>,
}

/// How many seconds of calls an account may make at once in a region, after a quiet time,
/// before its pace ([`Account::pace_calls`]) applies.
pub const PACE_BURST_SECONDS: u32 = 10;

impl Pace {
    fn new(per_second: std::sync::Arc<std::sync::atomic::AtomicU32>) -> Pace {
        Pace {
            per_second,
            bucket: std::sync::Mutex::new(None),
        }
    }

    /// Waits for this call's token.
    pub(crate) async fn turn(&self) {
        let rate = self.per_second.load(std::sync::atomic::Ordering::Relaxed);
        if rate == 0 {
            return;
        }
        let rate = f64::from(rate);
        let burst = rate * f64::from(PACE_BURST_SECONDS);
        let wait = {
            let mut bucket = self
                .bucket
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let now = tokio::time::Instant::now();
            let (tokens, since) = bucket.unwrap_or((burst, now));
            let tokens = (tokens + now.duration_since(since).as_secs_f64() * rate).min(burst) - 1.0;
            *bucket = Some((tokens, now));
            if tokens >= 0.0 {
                Duration::ZERO
            } else {
                Duration::from_secs_f64(-tokens / rate)
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}

/// An AWS account snapshift acts in: its declared id and the SDK configuration (credentials,
/// retries, timeouts, endpoint) used to reach it. Clients are made per region from it.
///
/// The declared id is checked against STS `GetCallerIdentity` before the first change
/// (`Stack::deploy`), so credentials of the wrong account stop everything.
#[derive(Clone)]
pub struct Account {
    id: AccountId,
    /// Shared by every clone: a clone is a pointer, however many resources hold one.
    shared: std::sync::Arc<Shared>,
}

struct Shared {
    config: SdkConfig,
    /// Clients made so far, per region: a client is made once, not once per call.
    clients: std::sync::Mutex<Clients>,
    /// Calls per second per region (0: no limit), and the pace of each region (`iam` for
    /// IAM, which has none).
    per_second: std::sync::Arc<std::sync::atomic::AtomicU32>,
    paces: std::sync::Mutex<std::collections::BTreeMap<String, std::sync::Arc<Pace>>>,
    /// The snapshot describes of each region waiting for a shared call (`rds::Describes`).
    describes: std::sync::Mutex<std::collections::BTreeMap<Region, std::sync::Arc<rds::Describes>>>,
    /// How errors that eventual consistency explains are retried (R26).
    settling: std::sync::Mutex<Settling>,
    /// What this account's calls changed, and when (R26): a key, alias, key policy, role or
    /// inline policy named as in [`Account::changed`], with a description for errors.
    changes: std::sync::Mutex<std::collections::HashMap<String, (tokio::time::Instant, String)>>,
    /// How many calls were made again because eventual consistency explained their error.
    settle_retries: std::sync::atomic::AtomicUsize,
}

/// How snapshift waits out AWS's eventual consistency (R26): right after a change of its own
/// (a new key, alias, key policy, role or inline policy), an error that the change not being
/// known yet explains (`NotFoundException`, `KMSInvalidStateException`, AWS Backup's "cannot
/// be assumed") is retried with backoff, within a window from the change; any other error,
/// or the same error about something snapshift did not just change, is not. A stack sets it
/// from its [`WaitConfig`](crate::engine::WaitConfig) when it deploys or tears down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settling {
    /// The first pause before a call is made again.
    pub first_pause: Duration,
    /// The longest pause; the pause doubles up to it.
    pub longest_pause: Duration,
    /// How long after the change its errors are retried; zero retries nothing.
    pub window: Duration,
}

impl Default for Settling {
    /// A first pause of 1 second, up to 30 seconds, for 5 minutes: AWS says changes usually
    /// propagate in seconds, sometimes minutes (the KMS developer guide, "AWS KMS eventual
    /// consistency").
    fn default() -> Settling {
        Settling {
            first_pause: Duration::from_secs(1),
            longest_pause: Duration::from_secs(30),
            window: Duration::from_secs(300),
        }
    }
}

/// The clients of one account, per region.
#[derive(Default)]
struct Clients {
    rds: std::collections::BTreeMap<Region, aws_sdk_rds::Client>,
    kms: std::collections::BTreeMap<Region, aws_sdk_kms::Client>,
    backup: std::collections::BTreeMap<Region, aws_sdk_backup::Client>,
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
        Account {
            id,
            shared: std::sync::Arc::new(Shared {
                config,
                clients: std::sync::Mutex::default(),
                per_second: std::sync::Arc::default(),
                paces: std::sync::Mutex::default(),
                describes: std::sync::Mutex::default(),
                settling: std::sync::Mutex::new(Settling::default()),
                changes: std::sync::Mutex::default(),
                settle_retries: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
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
        Account::from_config(id, config)
    }

    /// An account reached through a named profile of the shared config files.
    pub async fn from_profile(id: AccountId, profile: &str) -> Account {
        let config = aws_config::defaults(BehaviorVersion::latest())
            .profile_name(profile)
            .retry_config(default_retry_config())
            .timeout_config(default_timeout_config())
            .load()
            .await;
        Account::from_config(id, config)
    }

    /// An account reached by assuming `role_arn` (STS `AssumeRole`) with the credentials and
    /// settings of `base`; the credentials are refreshed before they expire. STS is called in
    /// `base`'s region, or, when its configuration names none, in the global region of the
    /// role's partition (R28).
    pub async fn assume_role(
        id: AccountId,
        base: &Account,
        role_arn: &str,
        session_name: &str,
    ) -> Account {
        let mut provider = aws_config::sts::AssumeRoleProvider::builder(role_arn)
            .session_name(session_name)
            .configure(&base.shared.config);
        if base.shared.config.region().is_none() {
            let partition = role_arn
                .split(':')
                .nth(1)
                .and_then(|p| p.parse::<crate::ids::Partition>().ok())
                .unwrap_or(crate::ids::Partition::Aws);
            provider = provider.region(aws_config::Region::new(
                partition.global_region().as_str().to_owned(),
            ));
        }
        let provider = provider.build().await;
        let config = base
            .shared
            .config
            .to_builder()
            .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
                provider,
            ))
            .build();
        Account::from_config(id, config)
    }

    /// The declared account id.
    pub fn id(&self) -> AccountId {
        self.id
    }

    /// The SDK configuration.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.shared.config
    }

    /// The configuration for the global services IAM and STS (R28): the account's own when
    /// it names a region (its partition's endpoint follows from it), otherwise with the
    /// global region of the `aws` partition, `us-east-1`. A profile without a region would
    /// otherwise fail every IAM call with "Missing Region".
    pub(crate) fn global_config(&self) -> SdkConfig {
        if self.shared.config.region().is_some() {
            return self.shared.config.clone();
        }
        self.region_config(&crate::ids::Partition::Aws.global_region())
    }

    pub(crate) fn region_config(&self, region: &Region) -> SdkConfig {
        self.shared
            .config
            .to_builder()
            .region(aws_config::Region::new(region.as_str().to_owned()))
            .build()
    }

    fn clients(&self) -> std::sync::MutexGuard<'_, Clients> {
        self.shared
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Paces this account's calls: `per_second` a second in each region once a burst of
    /// [`PACE_BURST_SECONDS`] seconds' worth is used, shared by every caller, every clone of
    /// the account and every stack that uses it (R20); `0` lifts the limit (the default). A stack sets it from its
    /// [`WaitConfig::calls_per_second`](crate::engine::WaitConfig::calls_per_second) when it
    /// deploys or tears down.
    pub fn pace_calls(&self, per_second: u32) {
        self.shared
            .per_second
            .store(per_second, std::sync::atomic::Ordering::Relaxed);
    }

    /// How this account's calls wait out eventual consistency after its own changes (R26),
    /// for every clone of the account. A stack sets it from its
    /// [`WaitConfig`](crate::engine::WaitConfig) when it deploys or tears down.
    pub fn settle_with(&self, settling: Settling) {
        *self
            .shared
            .settling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = settling;
    }

    /// How many calls of this account (and its clones) were made again because eventual
    /// consistency explained their error (R26).
    pub fn settle_retries(&self) -> usize {
        self.shared
            .settle_retries
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Records that this account's calls just changed `thing` (or found it to exist), which
    /// `what` describes for errors ("key ... created"): for the settling window, errors that
    /// its not being known yet explains are retried (R26). Names: `kms:<region>:<key id>`,
    /// `kms:<region>:alias/<name>`, `kms:<region>:<key id>#policy`, `iam:role/<name>`.
    pub(crate) fn changed(&self, thing: String, what: String) {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(thing, (tokio::time::Instant::now(), what));
    }

    /// Records that `thing` was found to exist, which `what` describes, unless a change of
    /// it is already recorded (which says more).
    pub(crate) fn found(&self, thing: String, what: String) {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(thing)
            .or_insert_with(|| (tokio::time::Instant::now(), what));
    }

    /// Forgets a change to `thing`: it was removed, so that "not found" is the truth.
    pub(crate) fn forget(&self, thing: &str) {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(thing);
    }

    /// Whether `thing` changed within the settling window: when, and how it was described.
    fn recent_change(
        &self,
        thing: &str,
        window: Duration,
    ) -> Option<(tokio::time::Instant, String)> {
        self.shared
            .changes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(thing)
            .filter(|(at, _)| at.elapsed() < window)
            .cloned()
    }

    /// Makes `call` until it succeeds or fails with an error that `explains` does not cover;
    /// an error it covers is retried with backoff only while `thing` changed within the
    /// settling window (R26). When the window passes, the error says what was waited for.
    pub(crate) async fn settled<T, F, Fut>(
        &self,
        thing: &str,
        explains: fn(&AwsError) -> bool,
        call: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        self.settled_until(
            thing,
            |result: &Result<T, AwsError>| !matches!(result, Err(e) if explains(e)),
            call,
        )
        .await
    }

    /// Makes `call` until its result is `done`, while `thing` changed within the settling
    /// window, pausing with backoff in between (R26); then answers the latest result. An
    /// error given up on says what was waited for.
    pub(crate) async fn settled_until<T, F, Fut>(
        &self,
        thing: &str,
        done: impl Fn(&Result<T, AwsError>) -> bool,
        mut call: F,
    ) -> Result<T, AwsError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AwsError>>,
    {
        let settling = *self
            .shared
            .settling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut pause = settling.first_pause.max(Duration::from_millis(1));
        let mut retries = 0u32;
        loop {
            let result = call().await;
            if done(&result) {
                return result;
            }
            let Some((at, what)) = self.recent_change(thing, settling.window) else {
                let e = match result {
                    Err(e) => e,
                    ok => return ok,
                };
                // Waited for, and the window has passed: say so, retry no more. An error
                // that was not waited for (nothing changed, or changed long before) is
                // AWS's answer as it is.
                let earlier = self
                    .shared
                    .changes
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .get(thing)
                    .map(|(at, what)| (at.elapsed(), what.clone()))
                    .filter(|_| retries > 0);
                return Err(match earlier {
                    None => e,
                    Some((elapsed, what)) => e.after_waiting(format!(
                        "{what} {elapsed:.1?} ago, and AWS still did not know of it when the settling window of {:?} had passed ({retries} more call(s) made; R26: eventual consistency, see WaitConfig::consistency_window)",
                        settling.window
                    )),
                });
            };
            let left = settling.window.saturating_sub(at.elapsed());
            let wait = pause.min(left.max(Duration::from_millis(1)));
            let (operation, code) = match &result {
                Err(e) => (
                    e.operation().to_owned(),
                    e.code().unwrap_or_default().to_owned(),
                ),
                Ok(_) => (String::new(), "an answer from before the change".to_owned()),
            };
            tracing::info!(
                operation,
                code,
                after = %what,
                pause = ?wait,
                "AWS does not know of the change yet (R26); making the call again"
            );
            self.shared
                .settle_retries
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            retries += 1;
            tokio::time::sleep(wait).await;
            pause = (pause * 2).min(settling.longest_pause.max(settling.first_pause));
        }
    }

    /// The pace of `scope` (a region, or `iam`).
    pub(crate) fn pace(&self, scope: &str) -> std::sync::Arc<Pace> {
        let mut paces = self
            .shared
            .paces
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(paces.entry(scope.to_owned()).or_insert_with(|| {
            std::sync::Arc::new(Pace::new(std::sync::Arc::clone(&self.shared.per_second)))
        }))
    }

    /// The snapshot describes of `region` waiting for a shared call.
    pub(crate) fn describes(&self, region: &Region) -> std::sync::Arc<rds::Describes> {
        let mut all = self
            .shared
            .describes
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        std::sync::Arc::clone(all.entry(region.clone()).or_default())
    }

    /// The client of `region` in `pick`'s map, made from the region's configuration on
    /// first use: one cache for every service's clients.
    fn client<C: Clone>(
        &self,
        region: &Region,
        pick: fn(&mut Clients) -> &mut std::collections::BTreeMap<Region, C>,
        make: fn(&SdkConfig) -> C,
    ) -> C {
        let mut clients = self.clients();
        pick(&mut clients)
            .entry(region.clone())
            .or_insert_with(|| make(&self.region_config(region)))
            .clone()
    }

    /// The RDS client of `region`, made on first use.
    pub(crate) fn rds_client(&self, region: &Region) -> aws_sdk_rds::Client {
        self.client(region, |c| &mut c.rds, aws_sdk_rds::Client::new)
    }

    /// The KMS client of `region`, made on first use.
    pub(crate) fn kms_client(&self, region: &Region) -> aws_sdk_kms::Client {
        self.client(region, |c| &mut c.kms, aws_sdk_kms::Client::new)
    }

    /// The AWS Backup client of `region`, made on first use.
    pub(crate) fn backup_client(&self, region: &Region) -> aws_sdk_backup::Client {
        self.client(region, |c| &mut c.backup, aws_sdk_backup::Client::new)
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
    /// What was waited for before giving up, when the error is one that eventual consistency
    /// explains and it outlasted the settling window (R26). Boxed: errors stay small.
    waited: Option<Box<Waited>>,
}

/// What an error outlasted (R26), boxed in [`AwsError`].
#[derive(Debug, Clone, PartialEq, Eq)]
struct Waited(String);

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
        if let Some(waited) = &self.waited {
            write!(f, "; {}", waited.0)?;
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
            waited: None,
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
            waited: None,
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
            waited: None,
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

    /// Whether AWS answered with a server error (HTTP 5xx) after the SDK's retries: the call
    /// did not take effect as far as the caller can tell, and an idempotent step may run
    /// again.
    pub fn is_server_error(&self) -> bool {
        self.status.is_some_and(|s| s >= 500)
    }

    /// Whether the error is passing: throttled, or a server error (an idempotent step runs
    /// again after it).
    pub fn is_transient(&self) -> bool {
        self.is_throttled() || self.is_server_error()
    }

    /// Whether the caller's IAM policies do not allow the call (`AccessDeniedException`,
    /// `AccessDenied`, `UnauthorizedOperation`).
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code(),
            Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
        )
    }

    /// Whether the error code is `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code() == Some(code)
    }

    /// What was waited for before this error was given up on: set when eventual consistency
    /// explained the error right after a change of snapshift's, and it outlasted the
    /// settling window (R26).
    pub fn waited_for(&self) -> Option<&str> {
        self.waited.as_ref().map(|w| w.0.as_str())
    }

    /// The same error, saying what was waited for (R26).
    pub(crate) fn after_waiting(mut self, waited: String) -> AwsError {
        self.waited = Some(Box::new(Waited(waited)));
        self
    }
}

/// Reads a call that failed with one of `codes` as "not there": `Ok(None)`. Where a missing
/// thing is expected (a describe before a create, a delete that already happened), this is
/// the one place that says which error codes mean it. An error about something snapshift
/// just made, given up on after the settling window (R26), stays an error.
pub(crate) fn none_on<T>(
    result: Result<T, AwsError>,
    codes: &[&str],
) -> Result<Option<T>, AwsError> {
    match result {
        Ok(value) => Ok(Some(value)),
        // Not when snapshift made it and waited for AWS to know it (R26): that is no proof
        // that it is gone.
        Err(e) if e.waited.is_none() && codes.iter().any(|code| e.is(code)) => Ok(None),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account::from_config(
            "111111111111".parse().unwrap(),
            SdkConfig::builder()
                .behavior_version(BehaviorVersion::latest())
                .build(),
        )
    }

    // R20: an account's calls in one region share one token bucket, whoever makes them: at
    // 5 calls a second, a burst of 50 goes at once, and 10 more callers wait 200 ms each in
    // turn.
    #[tokio::test(start_paused = true)]
    async fn r20_calls_are_paced_per_account_and_region_across_callers() {
        let account = account();
        account.pace_calls(5);
        let start = tokio::time::Instant::now();
        let pace = account.pace("us-east-1");
        for _ in 0..50 {
            pace.turn().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
        let callers: Vec<_> = (0..10)
            .map(|_| {
                let pace = account.pace("us-east-1");
                tokio::spawn(async move { pace.turn().await })
            })
            .collect();
        for caller in callers {
            caller.await.unwrap();
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
        // Another region has its own pace; a clone of the account shares it.
        let other = account.clone().pace("eu-west-1");
        let start = tokio::time::Instant::now();
        other.turn().await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert!(std::sync::Arc::ptr_eq(
            &account.pace("eu-west-1"),
            &account.clone().pace("eu-west-1")
        ));
    }

    // Without a rate, nothing waits.
    #[tokio::test(start_paused = true)]
    async fn calls_are_not_paced_without_a_rate() {
        let pace = account().pace("us-east-1");
        let start = tokio::time::Instant::now();
        for _ in 0..100 {
            pace.turn().await;
        }
        assert_eq!(start.elapsed(), Duration::ZERO);
    }
}
