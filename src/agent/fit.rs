//! Before every model request: the history fitted to the model's context
//! (`memory::context`), said aloud — the context meter for the dashboard, and a `context`
//! trace step (a sibling just before the request) when something was dropped or cut — and
//! the request reserved against the session's limits with its estimated size.

use super::turn::TurnContext;
use super::usage::Reservation;
use crate::memory::context::{FitRequest, Fitted};
use crate::protocol::{AgentEvent, CutMessage, StepBody, StepId, StepStatus};

/// Fits `request` for a model request under `parent`, and reports what it did.
pub(super) async fn fit(ctx: &TurnContext, parent: StepId, request: FitRequest<'_>) -> Fitted {
    let fitted = ctx.context.fit(request).await;
    let report = &fitted.report;
    if ctx.context.shows_meter() {
        ctx.emit(AgentEvent::ContextMeasured {
            turn: ctx.turn,
            estimate: report.estimate,
            window: report.window,
        })
        .await;
    }
    if report.trimmed() {
        tracing::info!(
            dropped = report.dropped_messages,
            cut = report.cuts.len(),
            estimate = report.estimate,
            "history fitted to the context"
        );
        let body = StepBody::Context {
            mode: report.mode.to_owned(),
            estimate: report.estimate,
            window: report.window,
            kept_messages: report.kept_messages as u64,
            dropped_messages: report.dropped_messages as u64,
            dropped_tokens: report.dropped_tokens,
            cut: report
                .cuts
                .iter()
                .map(|cut| CutMessage {
                    index: cut.index as u64,
                    tokens: cut.tokens,
                    chars: cut.chars,
                })
                .collect(),
        };
        ctx.tracer.record(Some(parent), body, StepStatus::Ok).await;
    }
    fitted
}

/// Reserves the fitted request against the session's limits: refused (with the reason) when
/// a limit is reached or its estimated input would take the session past
/// `total_tokens_limit`.
pub(super) fn reserve(ctx: &TurnContext, fitted: &Fitted) -> Result<Reservation, String> {
    ctx.usage().reserve(fitted.report.estimate)
}
