//! The local terminal: raw mode for `-it` sessions (restored when the
//! guard drops, on every way out), and the window size sent to the daemon.

use std::io::IsTerminal;

use nix::sys::termios::{self, SetArg, Termios};

/// Standard input in raw mode until dropped: what `moby/term.MakeRaw`
/// does (`cfmakeraw`), so keys reach the container unprocessed.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    pub fn enable() -> nix::Result<RawTerminal> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin)?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw)?;
        Ok(RawTerminal { saved })
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        // Nothing more can be done if the terminal went away.
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &self.saved);
    }
}

pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// docker's `Out().GetTtySize()`: `(height, width)` of the terminal on
/// stdout, `(0, 0)` when it is not one.
pub fn size() -> (u16, u16) {
    let stdout = std::io::stdout();
    if !stdout.is_terminal() {
        return (0, 0);
    }
    match rustix::termios::tcgetwinsize(&stdout) {
        Ok(ws) => (ws.ws_row, ws.ws_col),
        Err(_) => (0, 0),
    }
}
