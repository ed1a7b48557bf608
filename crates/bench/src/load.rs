//! A closed-loop load generator: `concurrency` tasks each send a request,
//! wait for its answer and send the next, until the phase ends. Latencies
//! go into one histogram.

use std::{
    future::Future,
    sync::Arc,
    time::{Duration, Instant},
};

use hdrhistogram::Histogram;

pub struct PhaseResult {
    pub requests: u64,
    pub errors: u64,
    /// Calls sent, the warm-up's included: what the phase's CPU went to.
    pub sent: u64,
    pub seconds: f64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Every measured latency in µs, so phases run in slices can be joined.
    pub latencies: Histogram<u64>,
}

impl PhaseResult {
    fn new(latencies: Histogram<u64>, errors: u64, sent: u64, seconds: f64) -> PhaseResult {
        let requests = latencies.len();
        PhaseResult {
            requests,
            errors,
            sent,
            seconds,
            per_s: requests as f64 / seconds,
            p50_ms: latencies.value_at_quantile(0.50) as f64 / 1000.0,
            p99_ms: latencies.value_at_quantile(0.99) as f64 / 1000.0,
            latencies,
        }
    }

    /// This phase and `other` as one: their calls over their time together.
    pub fn join(mut self, other: &PhaseResult) -> anyhow::Result<PhaseResult> {
        self.latencies.add(&other.latencies)?;
        Ok(PhaseResult::new(
            self.latencies,
            self.errors + other.errors,
            self.sent + other.sent,
            self.seconds + other.seconds,
        ))
    }
}

/// How one measured phase runs: `concurrency` requests in flight, for
/// `warmup` (not counted) and then `measure`.
#[derive(Debug, Clone, Copy)]
pub struct Phase {
    pub concurrency: usize,
    pub warmup: Duration,
    pub measure: Duration,
}

/// Runs `call(worker, n)` from the phase's workers; only the measured part
/// counts.
pub async fn run_phase<F, Fut>(phase: Phase, call: F) -> anyhow::Result<PhaseResult>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let Phase {
        concurrency,
        warmup,
        measure,
    } = phase;
    let call = Arc::new(call);
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + measure;
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let call = Arc::clone(&call);
        workers.push(tokio::spawn(async move {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
            let mut errors = 0u64;
            let mut sequence = 0u64;
            loop {
                let sent = Instant::now();
                if sent >= end {
                    break;
                }
                let outcome = call(worker, sequence).await;
                sequence += 1;
                if sent < measure_from {
                    continue;
                }
                match outcome {
                    Ok(()) => {
                        let micros = u64::try_from(sent.elapsed().as_micros()).unwrap_or(u64::MAX);
                        histogram.saturating_record(micros.max(1));
                    }
                    Err(err) => {
                        if errors == 0 {
                            eprintln!("request failed: {err:#}");
                        }
                        errors += 1;
                    }
                }
            }
            anyhow::Ok((histogram, errors, sequence))
        }));
    }
    let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut errors, mut sent) = (0, 0);
    for worker in workers {
        let (histogram, worker_errors, worker_sent) = worker.await??;
        merged.add(histogram)?;
        errors += worker_errors;
        sent += worker_sent;
    }
    Ok(PhaseResult::new(merged, errors, sent, measure.as_secs_f64()))
}

/// An open-loop load: calls sent at `rate_per_s` whether or not earlier
/// ones have answered, each timed from when it was due (so a server that
/// falls behind shows it, instead of slowing the load down). At most
/// `max_in_flight` wait at once; a call due past that counts as an error.
pub async fn run_open_loop<F, Fut>(rate_per_s: f64, phase: Phase, call: F) -> anyhow::Result<PhaseResult>
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
{
    let call = Arc::new(call);
    let in_flight = Arc::new(tokio::sync::Semaphore::new(phase.concurrency.max(1)));
    let histogram = Arc::new(std::sync::Mutex::new(Histogram::<u64>::new_with_bounds(
        1, 60_000_000, 3,
    )?));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / rate_per_s.max(1.0));
    let start = Instant::now();
    let measure_from = start + phase.warmup;
    let end = measure_from + phase.measure;
    let mut tasks = tokio::task::JoinSet::new();
    let (mut sequence, mut sent) = (0u64, 0u64);
    loop {
        let due = start + interval.mul_f64(sequence as f64);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        // Every call due by now goes out now (the timer is coarser than
        // the interval at high rates).
        while start + interval.mul_f64(sequence as f64) <= Instant::now().min(end) {
            let due = start + interval.mul_f64(sequence as f64);
            let counted = due >= measure_from;
            let Ok(permit) = in_flight.clone().try_acquire_owned() else {
                if counted {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                sequence += 1;
                continue;
            };
            let (call, histogram, errors) = (Arc::clone(&call), Arc::clone(&histogram), Arc::clone(&errors));
            let n = sequence;
            sent += 1;
            tasks.spawn(async move {
                let _permit = permit;
                let outcome = call(n).await;
                if !counted {
                    return;
                }
                match outcome {
                    Ok(()) => {
                        let micros = u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX);
                        histogram
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner)
                            .saturating_record(micros.max(1));
                    }
                    Err(err) => {
                        if errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                            eprintln!("request failed: {err:#}");
                        }
                    }
                }
            });
            sequence += 1;
        }
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    let merged = histogram
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    Ok(PhaseResult::new(
        merged,
        errors.load(std::sync::atomic::Ordering::Relaxed),
        sent,
        phase.measure.as_secs_f64(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn phase(latencies_us: &[u64], errors: u64, seconds: f64) -> PhaseResult {
        let mut latencies = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).expect("bounds are valid");
        for latency in latencies_us {
            latencies.record(*latency).expect("within bounds");
        }
        let sent = latencies.len() + errors;
        PhaseResult::new(latencies, errors, sent, seconds)
    }

    #[test]
    fn slices_joined_count_their_calls_over_their_time_together() {
        let joined = phase(&[100, 200], 1, 1.0)
            .join(&phase(&[300, 400, 5_000, 600], 0, 3.0))
            .expect("the histograms share bounds");
        assert_eq!(joined.requests, 6);
        assert_eq!(joined.errors, 1);
        assert_eq!(joined.sent, 7);
        assert!((joined.seconds - 4.0).abs() < 1e-9);
        assert!((joined.per_s - 1.5).abs() < 1e-9);
        assert!(joined.p99_ms >= 4.99, "the slowest call of either slice counts");
    }
}
