//! A progress bar for a scan on a terminal: files done, rate and time left, redrawn at most
//! five times a second on stderr (stdout carries the JSON lines). Nothing is drawn when
//! stderr is not a terminal.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use super::scan::Progress;

/// Width of the bar in characters.
const WIDTH: usize = 30;

/// The bar.
pub struct ProgressBar {
    on: bool,
    started: Instant,
    drawn: Option<Instant>,
}

impl ProgressBar {
    /// A bar on stderr, if stderr is a terminal.
    pub fn on_stderr() -> ProgressBar {
        ProgressBar {
            on: std::io::stderr().is_terminal(),
            started: Instant::now(),
            drawn: None,
        }
    }

    /// Redraws for `p` (skipped when drawn less than 0.2 s ago, except at the end).
    pub fn update(&mut self, p: Progress) {
        if !self.on {
            return;
        }
        let end = p.done >= p.total;
        if !end
            && self
                .drawn
                .is_some_and(|d| d.elapsed() < Duration::from_millis(200))
        {
            return;
        }
        self.drawn = Some(Instant::now());
        let _ = write!(std::io::stderr(), "\r{}", line(p, self.started.elapsed()));
        if end {
            let _ = writeln!(std::io::stderr());
        }
    }
}

/// The bar's text: `[#####.....] 120/5000 files  12.0/s  6m47s left`.
pub fn line(p: Progress, elapsed: Duration) -> String {
    let share = if p.total == 0 {
        1.0
    } else {
        p.done as f64 / p.total as f64
    };
    let filled = ((share * WIDTH as f64).round() as usize).min(WIDTH);
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        p.done as f64 / secs
    } else {
        0.0
    };
    let left = if rate > 0.0 {
        let s = ((p.total - p.done.min(p.total)) as f64 / rate).round() as u64;
        format!("{}m{:02}s left", s / 60, s % 60)
    } else {
        String::from("…")
    };
    format!(
        "[{}{}] {}/{} files  {rate:.1}/s  {left}   ",
        "#".repeat(filled),
        ".".repeat(WIDTH - filled),
        p.done,
        p.total
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_share_rate_and_time_left() {
        let l = line(
            Progress {
                done: 50,
                total: 200,
            },
            Duration::from_secs(10),
        );
        assert!(
            l.starts_with(&format!("[{}{}]", "#".repeat(8), ".".repeat(22))),
            "{l}"
        );
        assert!(l.contains("50/200 files"), "{l}");
        assert!(l.contains("5.0/s"), "{l}");
        assert!(l.contains("0m30s left"), "{l}");
        assert!(line(Progress::default(), Duration::ZERO).contains("0/0"));
    }
}
