//! Running a dependency graph with bounded concurrency.

use super::*;

/// Run `f` on every node of `deps` (node → nodes it waits for), at most
/// `limit` at a time, each once all it waits for succeeded. After a failure
/// nothing new starts; what is in flight finishes. Returns the first failure.
pub(super) async fn run_dag<F, Fut>(
    deps: &BTreeMap<String, BTreeSet<String>>,
    limit: usize,
    f: F,
) -> Option<StepFailure>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = std::result::Result<(), StepFailure>>,
{
    let mut done = BTreeSet::new();
    let mut started = BTreeSet::new();
    let mut in_flight = FuturesUnordered::new();
    let mut failure = None;
    loop {
        if failure.is_none() {
            for (node, needs) in deps {
                if in_flight.len() >= limit {
                    break;
                }
                if !started.contains(node) && needs.iter().all(|n| done.contains(n)) {
                    started.insert(node.clone());
                    let fut = f(node.clone());
                    let node = node.clone();
                    in_flight.push(async move { (node, fut.await) });
                }
            }
        }
        match in_flight.next().await {
            None => {
                if failure.is_none() && started.len() < deps.len() {
                    // Only a dependency cycle leaves nodes that can never start.
                    let stuck: Vec<_> = deps
                        .keys()
                        .filter(|n| !started.contains(*n))
                        .cloned()
                        .collect();
                    failure = Some(StepFailure {
                        step: stuck[0].clone(),
                        code: "blueprint".into(),
                        message: format!("dependency cycle through {}", stuck.join(", ")),
                    });
                }
                break;
            }
            Some((node, Ok(()))) => {
                done.insert(node);
            }
            Some((_, Err(e))) => {
                failure.get_or_insert(e);
            }
        }
    }
    failure
}
