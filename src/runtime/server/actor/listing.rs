//! What a server tells us between requests: `list_changed` (re-listed after a short debounce,
//! newest listing wins), log messages (passed on in batches, see `publish.rs`), and updates of
//! subscribed resources.

use std::sync::Arc;

use super::{Link, RELIST_DEBOUNCE, ServerActor};
use crate::runtime::catalog::ServerListing;
use crate::runtime::client::{ListKind, ServerNotice};
use crate::runtime::connect::{ListingParts, Wanted, list_parts};
use crate::runtime::messages::LogLine;
use crate::runtime::server::ServerUpdate;

impl ServerActor {
    pub(super) async fn on_notice(&mut self, notice: ServerNotice) {
        match notice {
            ServerNotice::ListChanged(kind) => {
                match kind {
                    ListKind::Tools => self.relist.tools = true,
                    ListKind::Resources => self.relist.resources = true,
                    ListKind::Prompts => self.relist.prompts = true,
                }
                if self.relist.due.is_none() && self.relist.running.is_none() {
                    self.relist.due = Some(tokio::time::Instant::now() + RELIST_DEBOUNCE);
                }
            }
            ServerNotice::Log {
                at,
                level,
                logger,
                text,
            } => {
                self.logs.push(LogLine {
                    at,
                    level: level.into(),
                    logger,
                    text,
                });
                self.flush_soon();
            }
            ServerNotice::ResourceUpdated { uri } => {
                if self.subscriptions.contains(&uri) {
                    let _ = self
                        .ctx
                        .updates
                        .send(ServerUpdate::ResourceUpdated(self.ctx.index, uri))
                        .await;
                }
            }
        }
    }

    pub(super) fn start_relist(&mut self) {
        self.relist.due = None;
        let Link::Up(connection) = &self.link else {
            return;
        };
        let requester = connection.requester.clone();
        let wanted = Wanted {
            tools: std::mem::take(&mut self.relist.tools),
            resources: std::mem::take(&mut self.relist.resources),
            prompts: std::mem::take(&mut self.relist.prompts),
        };
        self.relist.running = Some(Box::pin(
            async move { list_parts(&requester, wanted).await },
        ));
    }

    pub(super) async fn on_relisted(&mut self, parts: ListingParts, errors: Vec<String>) {
        let (tools, resources, prompts) = parts;
        let mut listing = self.current_listing.clone();
        if let Some(tools) = tools {
            listing.tools = tools;
        }
        if let Some(resources) = resources {
            listing.resources = resources;
        }
        if let Some(prompts) = prompts {
            listing.prompts = prompts;
        }
        if !errors.is_empty() {
            self.snapshot.last_error = Some(errors.join("; "));
        }
        self.apply_listing(listing).await;
        self.publish().await;
        // Notifications that came in while listing: list again, newest wins.
        if self.relist.tools || self.relist.resources || self.relist.prompts {
            self.relist.due = Some(tokio::time::Instant::now() + RELIST_DEBOUNCE);
        }
    }

    pub(super) async fn apply_listing(&mut self, listing: ServerListing) {
        self.snapshot.tool_count = listing.tools.len();
        self.snapshot.resource_count = listing.resources.len();
        self.snapshot.prompt_count = listing.prompts.len();
        self.current_listing = listing.clone();
        let _ = self
            .ctx
            .updates
            .send(ServerUpdate::Listing(self.ctx.index, Arc::new(listing)))
            .await;
    }
}
