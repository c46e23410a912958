//! What the end-to-end benchmarks in tests/benches share: their one numeric argument and
//! the row each prints (p50 / p90 / max).

use std::time::Duration;

/// The number after `flag` on the command line (`--calls 40`), or `default`.
pub fn count_arg(flag: &str, default: usize) -> usize {
    std::env::args()
        .skip_while(|a| a != flag)
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(default)
}

/// One row: `label`, then the p50, p90 and max of `times` (nothing for no times).
pub fn report(label: &str, times: &[Duration]) {
    let mut times = times.to_vec();
    times.sort();
    let Some(last) = times.len().checked_sub(1) else {
        println!("{label:<40} (no samples)");
        return;
    };
    let at = |p: usize| times[last * p / 100];
    println!(
        "{label:<40} {:>9.2?} {:>9.2?} {:>9.2?}",
        at(50),
        at(90),
        at(100)
    );
}
