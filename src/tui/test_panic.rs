//! `MCPOMNI_TEST_PANIC=ui|runtime` makes the dashboard panic on purpose shortly after it
//! starts, so the end-to-end tests can prove the terminal is restored and the servers are
//! stopped on both kinds of panic. Only debug builds (what `cargo test` builds) have the
//! switch: in a release build these functions do nothing and the panics are not compiled in.

#[cfg(debug_assertions)]
const AFTER: std::time::Duration = std::time::Duration::from_secs(3);

#[cfg(debug_assertions)]
fn switch() -> Option<String> {
    std::env::var("MCPOMNI_TEST_PANIC").ok()
}

/// With `MCPOMNI_TEST_PANIC=runtime`, a runtime task panics a few seconds from now.
pub(super) fn arm_runtime() {
    #[cfg(debug_assertions)]
    if switch().as_deref() == Some("runtime") {
        tokio::spawn(async {
            tokio::time::sleep(AFTER).await;
            panic!("test panic in a runtime task (MCPOMNI_TEST_PANIC=runtime)");
        });
    }
}

/// Runs the UI loop; with `MCPOMNI_TEST_PANIC=ui`, the UI task panics a few seconds in.
pub(super) async fn ui<T>(ui_loop: impl Future<Output = T>) -> T {
    #[cfg(debug_assertions)]
    if switch().as_deref() == Some("ui") {
        return tokio::select! {
            end = ui_loop => end,
            () = tokio::time::sleep(AFTER) => {
                panic!("test panic in the UI task (MCPOMNI_TEST_PANIC=ui)")
            }
        };
    }
    ui_loop.await
}
