//! The CPU time the server and the bench spend on a phase's calls, read
//! from `/proc` (Linux). The two share the machine's cores, so a call's
//! cost is what both spend on it, and the ratio of two kinds of call's
//! costs is what their rates' ratio follows.

use anyhow::Context;

use crate::load::PhaseResult;

/// CPU seconds of the server and of the bench, and the calls they were
/// spent on (the warm-ups' included), summed over the phases measured.
#[derive(Debug, Default, Clone, Copy)]
pub struct CpuSpent {
    server: f64,
    bench: f64,
    calls: u64,
}

impl CpuSpent {
    /// Runs `phase` and adds what it spent when `server` is known.
    pub async fn measure(
        &mut self,
        server: Option<u32>,
        phase: impl std::future::Future<Output = anyhow::Result<PhaseResult>>,
    ) -> anyhow::Result<PhaseResult> {
        let sample =
            |pid: u32| -> anyhow::Result<(f64, f64)> { Ok((cpu_seconds(pid)?, cpu_seconds(std::process::id())?)) };
        let before = server.map(sample).transpose()?;
        let result = phase.await?;
        if let (Some(pid), Some((server_before, bench_before))) = (server, before) {
            let (server_after, bench_after) = sample(pid)?;
            self.server += server_after - server_before;
            self.bench += bench_after - bench_before;
            self.calls += result.sent;
        }
        Ok(result)
    }

    /// (server, bench) µs per call; `None` before any call was measured.
    pub fn per_call_us(&self) -> Option<(f64, f64)> {
        if self.calls == 0 {
            return None;
        }
        let calls = self.calls as f64;
        Some((self.server * 1e6 / calls, self.bench * 1e6 / calls))
    }
}

/// The CPU time a process has used so far (user and system, all its
/// threads), in seconds (Linux; `/proc/<pid>/stat` counts in ticks of
/// 1/100 s).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat =
        std::fs::read_to_string(format!("/proc/{pid}/stat")).with_context(|| format!("reading /proc/{pid}/stat"))?;
    cpu_seconds_of(&stat).with_context(|| format!("no CPU times in /proc/{pid}/stat"))
}

/// utime + stime from a `/proc/<pid>/stat` line. The command name (the
/// second field) may hold spaces and parentheses, so the fields are
/// counted from its closing parenthesis.
fn cpu_seconds_of(stat: &str) -> Option<f64> {
    const TICKS_PER_SECOND: f64 = 100.0;
    let after_name = &stat[stat.rfind(')')? + 1..];
    // Fields 14 and 15 of the line; the state (field 3) is the first here.
    let mut fields = after_name.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::cpu_seconds_of;

    #[test]
    fn cpu_times_are_read_past_a_name_with_spaces() {
        let stat = "4242 (trellis (bench) x) S 1 2 3 4 5 6 7 8 9 10 250 125 0 0 20 0 9";
        assert_eq!(cpu_seconds_of(stat), Some(3.75));
        assert_eq!(cpu_seconds_of("4242 (short) S 1"), None);
    }

    #[test]
    fn a_live_process_stat_line_is_read_and_only_grows() {
        let first = super::cpu_seconds(std::process::id()).expect("this process's CPU time");
        let then = super::cpu_seconds(std::process::id()).expect("this process's CPU time");
        assert!(first.is_finite() && then >= first, "{first} then {then}");
    }
}
