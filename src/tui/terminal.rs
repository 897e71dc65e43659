//! Owning the terminal: entering the full-screen mode and — on every exit path — leaving it.
//!
//! ratatui's own panic hook restores raw mode and the alternate screen but not mouse capture,
//! bracketed paste or keyboard enhancement flags, and a panic on a tokio worker never reaches
//! the UI's unwinding at all. So this module keeps a global record of what it turned on and a
//! panic hook of its own that undoes exactly that, kills the server process groups, and tells
//! the app loop to stop. Restoring is idempotent: whichever path gets there first does it.
//!
//! While the TUI runs, our stderr (fd 2) points at the log file, so nothing a library prints
//! can scribble over the screen; it is pointed back before anything is printed on exit.

use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use ratatui::crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    KeyboardEnhancementFlags, PopKeyboardEnhancementFlags, PushKeyboardEnhancementFlags,
};
use ratatui::crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::crossterm::{cursor, execute};
use tokio::sync::mpsc;

static ACTIVE: AtomicBool = AtomicBool::new(false);
static KEYBOARD_FLAGS_PUSHED: AtomicBool = AtomicBool::new(false);
static SAVED_STDERR: Mutex<Option<OwnedFd>> = Mutex::new(None);
static PANIC_TX: OnceLock<mpsc::UnboundedSender<String>> = OnceLock::new();

/// Restores the terminal when dropped (normal exit, early return, unwinding).
pub struct TerminalGuard(());

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore();
    }
}

/// Switches to raw mode, the alternate screen, bracketed paste, (optionally) mouse capture and,
/// where the terminal supports it, unambiguous key reporting.
pub fn enter(mouse: bool, log_file: Option<&std::fs::File>) -> io::Result<TerminalGuard> {
    enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let guard = TerminalGuard(());
    let mut out = io::stdout();
    execute!(
        out,
        EnterAlternateScreen,
        EnableBracketedPaste,
        cursor::Hide
    )?;
    if mouse {
        execute!(out, EnableMouseCapture)?;
    }
    if matches!(
        ratatui::crossterm::terminal::supports_keyboard_enhancement(),
        Ok(true)
    ) {
        execute!(
            out,
            PushKeyboardEnhancementFlags(KeyboardEnhancementFlags::DISAMBIGUATE_ESCAPE_CODES)
        )?;
        KEYBOARD_FLAGS_PUSHED.store(true, Ordering::SeqCst);
    }
    if let Some(file) = log_file {
        redirect_stderr(file);
    }
    Ok(guard)
}

pub fn set_mouse_capture(enabled: bool) -> io::Result<()> {
    let mut out = io::stdout();
    if enabled {
        execute!(out, EnableMouseCapture)
    } else {
        execute!(out, DisableMouseCapture)
    }
}

/// Writes `text` to the system clipboard through the terminal: OSC 52 (`ESC ] 52 ; c ;
/// base64 BEL`), which most terminals (and tmux with `set-clipboard on`) honour.
pub fn copy_to_clipboard(text: &str) -> io::Result<()> {
    use base64::Engine;
    use std::io::Write;
    let encoded = base64::engine::general_purpose::STANDARD.encode(text);
    let mut out = io::stdout();
    write!(out, "\x1b]52;c;{encoded}\x07")?;
    out.flush()
}

/// True while the TUI owns the terminal (drawing after a panic restored it would garble it).
pub fn is_active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// Undoes everything `enter` did. Safe to call any number of times, from any thread.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    restore_stderr();
    let mut out = io::stdout();
    if KEYBOARD_FLAGS_PUSHED.swap(false, Ordering::SeqCst) {
        let _ = execute!(out, PopKeyboardEnhancementFlags);
    }
    // Each step on its own: one failing must not leave the others undone.
    let _ = execute!(out, DisableMouseCapture);
    let _ = execute!(out, DisableBracketedPaste);
    let _ = execute!(out, LeaveAlternateScreen);
    let _ = execute!(out, cursor::Show);
    let _ = disable_raw_mode();
    let _ = out.flush();
}

fn redirect_stderr(file: &std::fs::File) {
    let Ok(saved) = nix::unistd::dup(io::stderr()) else {
        return;
    };
    if nix::unistd::dup2_stderr(file).is_ok() {
        *SAVED_STDERR.lock().unwrap_or_else(PoisonError::into_inner) = Some(saved);
    }
}

fn restore_stderr() {
    let saved = SAVED_STDERR
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(saved) = saved {
        let _ = nix::unistd::dup2_stderr(&saved);
    }
}

/// Installs the panic hook (once per process) and returns the channel on which the app loop
/// hears about panics on other threads.
pub fn install_panic_hook() -> Option<mpsc::UnboundedReceiver<String>> {
    let (tx, rx) = mpsc::unbounded_channel();
    if PANIC_TX.set(tx).is_err() {
        return None;
    }
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        crate::runtime::stdio::kill_all_groups();
        tracing::error!("panic: {info}");
        previous(info);
        if let Some(tx) = PANIC_TX.get() {
            let _ = tx.send(info.to_string());
        }
    }));
    Some(rx)
}
