//! Renders snapshift's progress events: a spinner per resource on a terminal, plain lines
//! otherwise (logs, CI). Copy it along with the example you adapt.

use std::{collections::BTreeMap, io::IsTerminal, sync::Mutex, time::Duration};

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use snapshift::engine::{Progress, ProgressEvent};

/// Progress bars (or lines) for every resource that waits.
pub struct Bars {
    multi: Option<MultiProgress>,
    bars: Mutex<BTreeMap<String, ProgressBar>>,
}

impl Bars {
    /// Bars on a terminal, lines elsewhere.
    pub fn new() -> Bars {
        let multi = std::io::stderr().is_terminal().then(MultiProgress::new);
        Bars {
            multi,
            bars: Mutex::new(BTreeMap::new()),
        }
    }

    fn bar(&self, resource: &str) -> Option<ProgressBar> {
        let multi = self.multi.as_ref()?;
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(resource.to_owned())
                .or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new_spinner());
                    if let Ok(style) = ProgressStyle::with_template(
                        "{spinner} {prefix:>16} {wide_msg} {elapsed:>4}",
                    ) {
                        bar.set_style(style);
                    }
                    bar.set_prefix(resource.to_owned());
                    bar.enable_steady_tick(Duration::from_millis(120));
                    bar
                })
                .clone(),
        )
    }
}

fn secs(d: &Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl Progress for Bars {
    fn event(&self, event: &ProgressEvent) {
        let (resource, line, done) = match event {
            ProgressEvent::Started { resource, what } => {
                (resource, format!("started: {what}"), false)
            }
            // R5: copies often report 0 % until they are done; elapsed time is the real signal.
            ProgressEvent::Percent {
                resource,
                percent,
                elapsed,
            } => (
                resource,
                format!(
                    "{percent}% after {} (AWS often shows 0% until done)",
                    secs(elapsed)
                ),
                false,
            ),
            ProgressEvent::Heartbeat {
                resource,
                status,
                elapsed,
            } => (
                resource,
                format!("still {status} after {}", secs(elapsed)),
                false,
            ),
            ProgressEvent::Queued { resource, reason } => {
                (resource, format!("queued: {reason}"), false)
            }
            // R25: intermediate copies go as soon as every target holds its own.
            ProgressEvent::Released { resource, what } => {
                (resource, format!("released: {what}"), true)
            }
            ProgressEvent::Done { resource, elapsed } => {
                (resource, format!("done after {}", secs(elapsed)), true)
            }
            _ => return,
        };
        match self.bar(resource) {
            Some(bar) if done => bar.finish_with_message(line),
            Some(bar) => bar.set_message(line),
            None => println!("  [{resource}] {line}"),
        }
    }
}
