//! Simulated time for the SDK: [`VirtualClock`] and the SDK configuration that uses it.
//!
//! In a runtime started paused (`tokio::runtime::Builder::start_paused`), tokio moves its
//! clock to the next timer whenever every task waits. A request to a fake in another thread or
//! process would let it jump while the request is on the wire, so the HTTP client of
//! [`sdk_config_for`] keeps the clock still from the moment a request is sent until its answer
//! is read (a blocking task, which a paused runtime waits for), and then lets simulated time
//! pass for the clock's modelled round trip ([`VirtualClock::latency`]). Simulated time then
//! moves only when every task waits on a timer: the outcome does not depend on the speed of
//! the machine.

use std::{
    sync::{Arc, Condvar, Mutex},
    time::Duration,
};

use aws_config::{retry::RetryConfig, timeout::TimeoutConfig, BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use aws_smithy_runtime_api::client::{
    http::{
        HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
        SharedHttpConnector,
    },
    orchestrator::HttpRequest,
    runtime_components::RuntimeComponents,
};

/// An SDK configuration that reaches a fake at `uri` (perhaps in another process: see
/// [`FakeAws::uri`](super::FakeAws::uri) and [`FakeAws::access_key`](super::FakeAws::access_key))
/// with the credentials of `access_key`: short retry backoff, and a 2-second attempt timeout,
/// or, with a [`VirtualClock`], the clock as the SDK's time source, an HTTP client that holds
/// the paused clock while a request is on the wire (see the module docs), and no timeouts.
pub async fn sdk_config_for(uri: &str, access_key: &str, clock: Option<VirtualClock>) -> SdkConfig {
    let credentials = aws_sdk_kms::config::Credentials::new(
        access_key,
        "fake-secret",
        None,
        None,
        "snapshift-fake",
    );
    let loader = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(uri)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(1)),
        );
    match clock {
        Some(clock) => {
            let client = WireClient {
                inner: aws_smithy_http_client::Builder::new()
                    .tls_provider(Provider::Rustls(CryptoMode::AwsLc))
                    .build_https(),
                wire: Arc::clone(&clock.wire),
                latency: clock.latency,
                clock: clock.clone(),
            };
            loader
                .time_source(clock)
                .http_client(client)
                .timeout_config(TimeoutConfig::disabled())
                .load()
                .await
        }
        None => {
            loader
                .timeout_config(
                    TimeoutConfig::builder()
                        .operation_attempt_timeout(Duration::from_secs(2))
                        .build(),
                )
                .load()
                .await
        }
    }
}

/// The SDK's time source read from tokio's clock. In a runtime started paused, time then moves
/// only when every task waits on a timer (requests made through [`sdk_config_for`] hold it
/// still), so a run of simulated hours takes seconds; with
/// [`FakeAws::follow_request_clock`](super::FakeAws::follow_request_clock), the fake's copies
/// finish on that same clock.
#[derive(Debug, Clone)]
pub struct VirtualClock {
    runtime: tokio::runtime::Handle,
    start: tokio::time::Instant,
    start_system: std::time::SystemTime,
    latency: Duration,
    wire: Arc<Wire>,
}

impl VirtualClock {
    /// A clock that reads real time now and then moves with tokio's clock of the current
    /// runtime, wherever it is read from. Call it inside that runtime. Requests take no
    /// simulated time.
    pub fn start() -> VirtualClock {
        VirtualClock {
            runtime: tokio::runtime::Handle::current(),
            start: tokio::time::Instant::now(),
            start_system: std::time::SystemTime::now(),
            latency: Duration::ZERO,
            wire: Arc::default(),
        }
    }

    /// Each request's answer arrives `latency` of simulated time after it was sent (the fake
    /// acts at the sending time): a modelled round trip to AWS.
    pub fn latency(mut self, latency: Duration) -> VirtualClock {
        self.latency = latency;
        self
    }
}

impl aws_smithy_async::time::TimeSource for VirtualClock {
    fn now(&self) -> std::time::SystemTime {
        // The SDK may read its time source outside the runtime's context, where tokio's clock
        // would be the real one.
        let _context = self.runtime.enter();
        self.start_system + self.start.elapsed()
    }
}

/// Requests on the wire, shared by every client of one clock.
#[derive(Debug, Default)]
struct Wire {
    in_flight: Mutex<usize>,
    idle: Condvar,
}

impl Wire {
    fn count(&self) -> std::sync::MutexGuard<'_, usize> {
        self.in_flight
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks a request on the wire until the guard drops. The first one starts a blocking task
    /// that lasts until none is left: while it runs, a paused runtime keeps its clock still.
    fn hold(self: &Arc<Self>) -> OnWire {
        let mut count = self.count();
        *count += 1;
        if *count == 1 {
            let wire = Arc::clone(self);
            // Dropping the join handle detaches the task; it ends when the wire is idle.
            drop(tokio::task::spawn_blocking(move || {
                let mut count = wire.count();
                while *count > 0 {
                    count = wire
                        .idle
                        .wait(count)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            }));
        }
        OnWire(Arc::clone(self))
    }
}

/// One request on the wire.
struct OnWire(Arc<Wire>);

impl Drop for OnWire {
    fn drop(&mut self) {
        let mut count = self.0.count();
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// The HTTP client of a [`VirtualClock`]'s configuration.
#[derive(Debug)]
struct WireClient {
    inner: SharedHttpClient,
    wire: Arc<Wire>,
    latency: Duration,
    clock: VirtualClock,
}

impl HttpClient for WireClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(WireConnector {
            inner: self.inner.http_connector(settings, components),
            wire: Arc::clone(&self.wire),
            latency: self.latency,
            clock: self.clock.clone(),
        })
    }
}

#[derive(Debug)]
struct WireConnector {
    inner: SharedHttpConnector,
    wire: Arc<Wire>,
    latency: Duration,
    clock: VirtualClock,
}

impl HttpConnector for WireConnector {
    fn call(&self, mut request: HttpRequest) -> HttpConnectorFuture {
        // The simulated time to the millisecond: a signing time has whole seconds only, and
        // each client's clock-skew correction moves it.
        let now = aws_smithy_async::time::TimeSource::now(&self.clock);
        if let Ok(since) = now.duration_since(std::time::UNIX_EPOCH) {
            request
                .headers_mut()
                .insert(super::CLOCK_HEADER, since.as_millis().to_string());
        }
        let inner = self.inner.clone();
        let wire = Arc::clone(&self.wire);
        let latency = self.latency;
        HttpConnectorFuture::new(async move {
            let answer = {
                let _on_wire = wire.hold();
                inner.call(request).await
            };
            if !latency.is_zero() {
                tokio::time::sleep(latency).await;
            }
            answer
        })
    }
}
