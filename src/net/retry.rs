//! Pauses between the attempts of an operation that lost a race.

use std::time::Duration;

/// A short pause before attempt `attempt + 1`: `step` more for each attempt
/// up to `max_steps`, plus up to 0.5 ms of jitter so that racers who lost
/// together do not collide again in step.
pub async fn backoff(attempt: u32, step: Duration, max_steps: u32) {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % 500);
    let pause = step * (attempt.min(max_steps) + 1) + Duration::from_micros(jitter);
    tokio::time::sleep(pause).await;
}
