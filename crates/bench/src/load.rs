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
    pub seconds: f64,
    pub per_s: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
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
            anyhow::Ok((histogram, errors))
        }));
    }
    let mut merged = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let mut errors = 0;
    for worker in workers {
        let (histogram, worker_errors) = worker.await??;
        merged.add(histogram)?;
        errors += worker_errors;
    }
    let seconds = measure.as_secs_f64();
    let requests = merged.len();
    Ok(PhaseResult {
        requests,
        errors,
        seconds,
        per_s: requests as f64 / seconds,
        p50_ms: merged.value_at_quantile(0.50) as f64 / 1000.0,
        p99_ms: merged.value_at_quantile(0.99) as f64 / 1000.0,
    })
}
