//! Saved traces: an agent run's typed steps (`protocol::trace`) as JSON Lines, one step per
//! line. `write` records a run while it happens (`--trace FILE` on the dashboard and on
//! `mcpomni run`), `read` opens a saved file for the Trace pane (`mcpomni trace FILE`) and for
//! `replay`, which re-runs a recorded run from its recorded model replies and tool results
//! (`mcpomni replay FILE`): `recording` reads a trace as a run to replay, in the order
//! `order` gives, and `replay_tools` answers the replay's tool calls and approvals.
//!
//! File format (also in the README's "Trace files" section): every time a step begins or
//! changes, its newest version is appended as one line, so a step usually appears twice
//! (running, then finished). A reader keeps the last line of each `id`, in the order the ids
//! first appear. Configured secret values are scrubbed from every string before it is written.

mod catalog;
pub mod order;
pub mod read;
pub mod recording;
pub mod replay;
pub mod replay_tools;
mod request_lines;
pub mod save;
mod scrub_json;
pub mod write;

pub use read::{ReadError, Trace, read_trace};
pub use save::TraceSaver;
pub use write::{TraceSink, TraceWriter, config_secrets};
