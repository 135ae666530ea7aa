//! A progress line per vendor on stderr while it is observed (a terminal only, never under -q):
//! a tracing layer that follows the engine's `observe` spans, so the engine stays unaware of
//! any display. A wait logged inside one (a throttled request's `Retry-After`) shows on its line.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub struct ObserveProgress {
    multi: MultiProgress,
    bars: Mutex<HashMap<Id, ProgressBar>>,
}

impl ObserveProgress {
    pub fn new() -> Self {
        ObserveProgress {
            multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
            bars: Mutex::new(HashMap::new()),
        }
    }
}

/// The `vendor` field of a span, or the message of an event.
#[derive(Default)]
struct Fields {
    vendor: Option<String>,
    message: Option<String>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "vendor" => self.vendor = Some(format!("{value:?}")),
            "message" => self.message = Some(format!("{value:?}")),
            _ => {}
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "vendor" => self.vendor = Some(value.to_string()),
            "message" => self.message = Some(value.to_string()),
            _ => {}
        }
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for ObserveProgress {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, S>) {
        if attrs.metadata().name() != "observe" {
            return;
        }
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let bar = self.multi.add(ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix:<11} {wide_msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(fields.vendor.unwrap_or_default());
        bar.set_message("observing");
        bar.enable_steady_tick(Duration::from_millis(100));
        self.bars.lock().unwrap_or_else(|p| p.into_inner()).insert(id.clone(), bar);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if *event.metadata().level() > tracing::Level::WARN {
            return;
        }
        let Some(scope) = ctx.event_scope(event) else { return };
        let bars = self.bars.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(bar) = scope.into_iter().find_map(|s| bars.get(&s.id())) {
            let mut fields = Fields::default();
            event.record(&mut fields);
            if let Some(m) = fields.message {
                bar.set_message(format!("observing; {m}"));
            }
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        if let Some(bar) = self.bars.lock().unwrap_or_else(|p| p.into_inner()).remove(&id) {
            bar.finish_and_clear();
        }
    }
}
