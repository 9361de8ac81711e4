//! A progress bar for a run in a terminal (`proxbox sync`): one line per stage that
//! redraws in place on a TTY (items done / total), its counts when it ends, and every
//! failure with its suggestion. Without a TTY it prints plain lines, one per stage.

use std::io::Write;
use std::sync::Mutex;

use super::sink::EventSink;
use crate::events::*;
use crate::models::TakeoverReport;

pub struct ProgressBar<W: Write + Send> {
    out: Mutex<W>,
    /// Redraw the current line in place (a terminal) instead of printing line by line.
    live: bool,
    verbose: bool,
}

const WIDTH: usize = 30;

impl<W: Write + Send> ProgressBar<W> {
    pub fn new(out: W, live: bool, verbose: bool) -> ProgressBar<W> {
        ProgressBar {
            out: Mutex::new(out),
            live,
            verbose,
        }
    }

    pub fn into_inner(self) -> W {
        self.out.into_inner().unwrap_or_else(|e| e.into_inner())
    }
}

fn bar(progress: &Progress) -> String {
    let filled = if progress.total == 0 {
        0
    } else {
        (progress.current.min(progress.total) as usize * WIDTH) / progress.total as usize
    };
    format!("[{}{}]", "#".repeat(filled), " ".repeat(WIDTH - filled))
}

impl<W: Write + Send> EventSink for ProgressBar<W> {
    fn emit(&self, event: SyncEvent) {
        let Ok(mut out) = self.out.lock() else {
            return;
        };
        let clear = if self.live { "\r\x1b[2K" } else { "" };
        // A broken terminal must not stop the sync: write errors are ignored.
        let _ = match &event {
            SyncEvent::Discovery(d) => writeln!(out, "{}", d.message),
            SyncEvent::Step(s) if s.status == StepStatus::Started => {
                writeln!(out, "{:<18} started", s.step)
            }
            SyncEvent::ItemProgress(p) => {
                let conflict = matches!(p.takeover, Some(Takeover::Conflict(_)));
                if self.verbose || p.status == ItemStatus::Failed || conflict {
                    let _ = write!(out, "{clear}");
                    let _ = writeln!(
                        out,
                        "  {:<13} {} {}{}",
                        p.status.as_str(),
                        p.kind,
                        p.name,
                        p.error
                            .as_ref()
                            .or(p.warning.as_ref())
                            .map(|e| format!(" — {e}"))
                            .unwrap_or_default()
                    );
                }
                if self.live {
                    write!(
                        out,
                        "{clear}{:<18} {} {}/{}",
                        p.phase,
                        bar(&p.progress),
                        p.progress.current,
                        p.progress.total
                    )
                    .and_then(|_| out.flush())
                } else {
                    Ok(())
                }
            }
            SyncEvent::PhaseSummary(s) => writeln!(
                out,
                "{clear}{:<18} {} created, {} updated, {} deleted, {} unchanged, {} failed ({:.1} s)",
                s.phase,
                s.created,
                s.updated,
                s.deleted,
                s.skipped,
                s.errors,
                s.timing.elapsed_ms as f64 / 1000.0
            ),
            SyncEvent::ErrorDetail(d) if d.item.is_none() => writeln!(
                out,
                "{clear}error ({}): {}\n  {}\n  what to do: {}",
                d.category.as_str(),
                d.message,
                d.detail,
                d.suggestion
            ),
            SyncEvent::ErrorDetail(d) if self.verbose || self.live => writeln!(
                out,
                "{clear}  {} failed ({}): {}",
                d.item.as_ref().map(|i| i.name.as_str()).unwrap_or(""),
                d.category.as_str(),
                d.suggestion
            ),
            SyncEvent::Complete(c) => writeln!(out, "{clear}{}", c.message),
            _ => Ok(()),
        };
    }
}

/// What a run took over from another tool or an operator, for the end of `proxbox sync`:
/// per kind, then the rules, then every conflict (and every adoption with `verbose`).
pub fn takeover_summary(report: &TakeoverReport, dry_run: bool, verbose: bool) -> String {
    let mut text = String::new();
    let heading = if dry_run {
        "Takeover preview (a dry run: nothing was written; the real run does this):"
    } else {
        "Takeover:"
    };
    text.push_str(heading);
    text.push('\n');
    for (kind, c) in &report.kinds {
        let verb = |n: u64, word: &str| {
            if dry_run {
                format!("{n} would be {word}")
            } else {
                format!("{n} {word}")
            }
        };
        text.push_str(&format!(
            "  {kind:<12} {}, {}, {}, {}, {} in conflict{}\n",
            verb(c.adopted, "adopted"),
            verb(c.created, "created"),
            verb(c.updated, "updated"),
            verb(c.deleted, "deleted"),
            c.conflicts,
            if c.failed > 0 {
                format!(", {} failed", c.failed)
            } else {
                String::new()
            }
        ));
    }
    for (rule, count) in report.by_rule() {
        text.push_str(&format!("  adopted {rule}: {count}\n"));
    }
    if verbose {
        for a in &report.adoptions {
            let id = a
                .netbox_id
                .map(|id| format!(" (NetBox id {id})"))
                .unwrap_or_default();
            text.push_str(&format!(
                "  adopt    {} {}{id} — {}\n",
                a.kind, a.name, a.rule
            ));
        }
    }
    for c in &report.conflicts {
        text.push_str(&format!("  conflict {} {} — {}\n", c.kind, c.name, c.why));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::sync::failure::StageError;
    use crate::server::sync::report::StageReport;

    #[test]
    fn a_run_reads_as_stage_lines_counts_and_failures_with_what_to_do() {
        let bar = ProgressBar::new(Vec::new(), false, false);
        let mut report = StageReport::new(&bar, "virtual-machines");
        bar.emit(SyncEvent::Step(Step {
            step: "virtual-machines".into(),
            status: StepStatus::Started,
            message: String::new(),
            result: None,
        }));
        report.expect_more(2);
        report.item(
            "web01",
            "qemu",
            "virtual machine",
            ItemStatus::Created,
            Some(1),
            None,
        );
        let refused = StageError {
            category: ErrorCategory::Validation,
            message: "name too long".into(),
            detail: String::new(),
            suggestion: "Shorten the name.".into(),
        };
        report.item(
            "db01",
            "qemu",
            "virtual machine",
            ItemStatus::Failed,
            None,
            Some(refused),
        );
        bar.emit(report.summary(StepStatus::Completed, "done"));
        let text = String::from_utf8(bar.into_inner()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("virtual-machines") && lines[0].ends_with("started"));
        assert!(lines[1].contains("failed") && lines[1].contains("db01 — name too long"));
        assert!(
            lines[2].contains("1 created") && lines[2].contains("1 failed"),
            "{text}"
        );
        assert!(!text.contains("web01"), "only failures without --verbose");
    }

    #[test]
    fn the_bar_fills_with_the_progress() {
        assert_eq!(
            bar(&Progress::new(0, 4)),
            format!("[{}]", " ".repeat(WIDTH))
        );
        assert_eq!(bar(&Progress::new(2, 4)).matches('#').count(), WIDTH / 2);
        assert_eq!(bar(&Progress::new(4, 4)).matches('#').count(), WIDTH);
        assert_eq!(bar(&Progress::new(0, 0)).matches('#').count(), 0);
    }
}
