//! Printing results: aligned tables for people, JSON for programs, and the
//! few colours a terminal gets.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::{Global, Output};
use crate::error::{CliError, CliResult};

/// How this invocation prints.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ui {
    pub(crate) output: Output,
    pub(crate) quiet: bool,
    pub(crate) verbose: u8,
    /// Colours on stdout.
    pub(crate) color: bool,
    /// stdout is a terminal (progress bars rather than lines).
    pub(crate) terminal: bool,
}

impl Ui {
    pub(crate) fn new(global: &Global) -> Self {
        let terminal = std::io::stdout().is_terminal();
        let no_color =
            global.no_color || std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Ui {
            output: global.output,
            quiet: global.quiet,
            verbose: global.verbose,
            color: terminal && !no_color && global.output == Output::Table,
            terminal,
        }
    }

    pub(crate) fn json(&self) -> bool {
        self.output == Output::Json
    }

    /// A word coloured by what it means (ok / bad / in between), when colours are on.
    pub(crate) fn paint(&self, word: &str) -> String {
        if !self.color {
            return word.to_owned();
        }
        let code = match word {
            "provisioned" | "succeeded" | "created" | "adopted" | "updated" | "unchanged"
            | "deleted" | "deprovisioned" | "up to date" | "ok" | "ready" => "32",
            "failed" | "missing" | "denied" | "cancelled" | "drifted" => "31",
            "provisioning" | "updating" | "deprovisioning" | "running" | "queued"
            | "rolled_back" | "skipped" | "building" => "33",
            _ => return word.to_owned(),
        };
        format!("\x1b[{code}m{word}\x1b[0m")
    }

    /// Print `value` as one line of JSON on stdout (every JSON output is one document per line).
    pub(crate) fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> CliResult<()> {
        let text = serde_json::to_string(value)
            .map_err(|e| CliError::failed(format!("cannot serialise the result: {e}")))?;
        out_line(&text)
    }

    /// Print a result for people (not in JSON mode; also with -q).
    pub(crate) fn result(&self, text: &str) -> CliResult<()> {
        if self.json() {
            return Ok(());
        }
        out_line(text)
    }

    /// Print a hint or a note for people (not in JSON mode, not with -q).
    pub(crate) fn say(&self, text: &str) -> CliResult<()> {
        if self.json() || self.quiet {
            return Ok(());
        }
        out_line(text)
    }
}

/// Write one line to stdout; a closed pipe is not an error worth a panic.
pub(crate) fn out_line(text: &str) -> CliResult<()> {
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}") {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::failed(format!("cannot write to stdout: {e}"))),
    }
}

/// An aligned table with a header row.
#[derive(Debug, Default)]
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_uppercase()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, columns separated by two spaces, trailing blanks trimmed.
    pub(crate) fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(|h| visible_len(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(visible_len(cell));
            }
        }
        let line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                text.push_str(cell);
                if i + 1 < columns {
                    let pad = widths[i] - visible_len(cell) + 2;
                    text.push_str(&" ".repeat(pad));
                }
            }
            text.trim_end().to_owned()
        };
        let mut out = vec![line(&self.header)];
        out.extend(self.rows.iter().map(|r| line(r)));
        out.join("\n")
    }

    pub(crate) fn print(&self) -> CliResult<()> {
        out_line(&self.render())
    }
}

/// Length without ANSI colour codes.
fn visible_len(text: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in text.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (true, _) => {}
            (false, _) => len += 1,
        }
    }
    len
}

/// `-` for an absent value.
pub(crate) fn or_dash(value: Option<impl ToString>) -> String {
    value.map(|v| v.to_string()).unwrap_or_else(|| "-".into())
}

/// A time as people read it (UTC, seconds).
pub(crate) fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_on_the_widest_cell_and_ignore_colour_codes() {
        let mut t = Table::new(&["step", "state"]);
        t.row(vec!["db".into(), "\x1b[32mprovisioned\x1b[0m".into()]);
        t.row(vec!["zone_records".into(), "failed".into()]);
        let text = t.render();
        assert_eq!(
            text,
            "STEP          STATE\ndb            \x1b[32mprovisioned\x1b[0m\nzone_records  failed"
        );
    }
}
