//! A small tmux harness for end-to-end tests: a private tmux server (its own socket), one
//! session of a fixed size running a command, keys sent with `send-keys`, and the screen read
//! with `capture-pane`, polled until a predicate holds (no bare sleeps).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub struct Tmux {
    socket: String,
    target: String,
}

impl Tmux {
    /// Starts `command` (run by `sh -c`) in a detached session of `width`×`height`. When the
    /// command ends, the pane prints `EXITED <status>` and stays, so tests can inspect the
    /// terminal's state after the program is gone.
    pub fn start(name: &str, width: u16, height: u16, command: &str, env: &[(&str, &str)]) -> Self {
        let socket = format!("mcpomni-e2e-{}-{name}", std::process::id());
        let exports: String = env
            .iter()
            .map(|(k, v)| format!("export {k}='{v}'; "))
            .collect();
        let script = format!("{exports}{command}; echo EXITED $?; exec sleep 600");
        let tmux = Self {
            socket,
            target: "e2e".to_owned(),
        };
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "e2e",
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
            "sh",
            "-c",
            &script,
        ]);
        assert!(out.status.success(), "tmux new-session failed: {out:?}");
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .arg("-f")
            .arg("/dev/null")
            .args(args)
            .output()
            .expect("tmux runs")
    }

    /// Pastes `text` the way a terminal does: bracketed, with every line break sent as CR
    /// (tmux's `paste-buffer` turns LF into CR).
    pub fn paste(&self, text: &str) {
        assert!(self.run(&["set-buffer", "--", text]).status.success());
        assert!(
            self.run(&["paste-buffer", "-p", "-t", &self.target])
                .status
                .success()
        );
    }

    /// Sends keys in tmux's key syntax (`Escape`, `C-c`, `Enter`, or literal text with `-l`).
    pub fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", &self.target];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    pub fn text(&self, text: &str) {
        assert!(
            self.run(&["send-keys", "-t", &self.target, "-l", text])
                .status
                .success()
        );
    }

    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", &self.target]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A tmux format evaluated for the pane, e.g. `#{alternate_on}`.
    pub fn display(&self, format: &str) -> String {
        let out = self.run(&["display-message", "-p", "-t", &self.target, format]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until the screen satisfies `check`; panics with the last screen if it never does.
    pub fn wait_for(&self, what: &str, limit: Duration, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if check(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; screen was:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_for_text(&self, text: &str, limit: Duration) -> String {
        self.wait_for(&format!("{text:?}"), limit, |s| s.contains(text))
    }

    pub fn resize(&self, width: u16, height: u16) {
        let out = self.run(&[
            "resize-window",
            "-t",
            &self.target,
            "-x",
            &width.to_string(),
            "-y",
            &height.to_string(),
        ]);
        assert!(out.status.success(), "resize failed: {out:?}");
    }

    /// The pid of the process running in the pane (the `sh -c` wrapper).
    pub fn pane_pid(&self) -> u32 {
        self.display("#{pane_pid}").parse().expect("pane pid")
    }

    /// Mouse and alternate-screen flags as tmux sees them: all zero once a TUI has restored
    /// the terminal.
    pub fn terminal_modes(&self) -> String {
        self.display(
            "alt=#{alternate_on} mouse_any=#{mouse_any_flag} mouse_button=#{mouse_button_flag} \
             mouse_standard=#{mouse_standard_flag} mouse_all=#{mouse_all_flag} \
             mouse_sgr=#{mouse_sgr_flag} keypad=#{keypad_flag}",
        )
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
