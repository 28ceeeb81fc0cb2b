//! Running a dependency graph with bounded concurrency.

use std::collections::HashSet;

use super::*;

/// Run `f` on every node of `deps` (node → nodes it waits for), at most
/// `limit` at a time, each once all it waits for succeeded. After a failure
/// nothing new starts; what is in flight finishes. Returns the first failure.
///
/// Ready nodes start in name order. Each node's count of unfinished needs
/// is kept, so a finished node costs only a look at its dependents (the
/// graph is not scanned again per finished node: a 1,000-step run scanned
/// it half a million times).
pub(super) async fn run_dag<F, Fut>(
    deps: &BTreeMap<String, BTreeSet<String>>,
    limit: usize,
    f: F,
) -> Option<StepFailure>
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = std::result::Result<(), StepFailure>>,
{
    let mut waiting_on: HashMap<&str, usize> = HashMap::with_capacity(deps.len());
    let mut dependents: HashMap<&str, Vec<&str>> = HashMap::new();
    for (node, needs) in deps {
        waiting_on.insert(node, needs.len());
        for need in needs {
            dependents.entry(need).or_default().push(node);
        }
    }
    let mut ready: BTreeSet<&str> = deps
        .iter()
        .filter(|(_, needs)| needs.is_empty())
        .map(|(node, _)| node.as_str())
        .collect();
    let mut started: HashSet<&str> = HashSet::with_capacity(deps.len());
    let mut in_flight = FuturesUnordered::new();
    let mut failure = None;
    loop {
        if failure.is_none() {
            while in_flight.len() < limit {
                let Some(node) = ready.pop_first() else { break };
                started.insert(node);
                let fut = f(node.to_owned());
                in_flight.push(async move { (node, fut.await) });
            }
        }
        match in_flight.next().await {
            None => {
                if failure.is_none() && started.len() < deps.len() {
                    // Only a dependency cycle (or a need that is no node)
                    // leaves nodes that can never start.
                    let stuck: Vec<_> = deps
                        .keys()
                        .filter(|n| !started.contains(n.as_str()))
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
                for dependent in dependents.get(node).into_iter().flatten() {
                    if let Some(count) = waiting_on.get_mut(dependent) {
                        *count -= 1;
                        if *count == 0 {
                            ready.insert(dependent);
                        }
                    }
                }
            }
            Some((_, Err(e))) => {
                failure.get_or_insert(e);
            }
        }
    }
    failure
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &[&str])]) -> BTreeMap<String, BTreeSet<String>> {
        edges
            .iter()
            .map(|(node, needs)| {
                (
                    (*node).to_owned(),
                    needs.iter().map(|n| (*n).to_owned()).collect(),
                )
            })
            .collect()
    }

    /// Runs `deps` with `limit`, failing the nodes in `fail`; returns the
    /// order nodes started in and the failure.
    fn run(
        deps: &BTreeMap<String, BTreeSet<String>>,
        limit: usize,
        fail: &[&str],
    ) -> (Vec<String>, Option<StepFailure>) {
        let order = Mutex::new(Vec::new());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let failure = runtime.block_on(run_dag(deps, limit, |node| {
            let order = &order;
            async move {
                lock(order).push(node.clone());
                tokio::task::yield_now().await;
                if fail.contains(&node.as_str()) {
                    return Err(StepFailure {
                        step: node,
                        code: "test".into(),
                        message: "failed".into(),
                    });
                }
                Ok(())
            }
        }));
        (order.into_inner().unwrap(), failure)
    }

    #[test]
    fn a_node_starts_after_all_it_needs_and_ready_ones_in_name_order() {
        let deps = graph(&[
            ("a", &[]),
            ("b", &["a"]),
            ("c", &["a", "b"]),
            ("d", &[]),
            ("e", &["d"]),
        ]);
        let (order, failure) = run(&deps, 1, &[]);
        assert_eq!(failure, None);
        assert_eq!(order, ["a", "b", "c", "d", "e"]);
        let (order, _) = run(&deps, 8, &[]);
        let at = |n: &str| order.iter().position(|o| o == n).unwrap();
        assert_eq!(order.len(), 5);
        assert!(at("a") < at("b") && at("b") < at("c") && at("d") < at("e"));
    }

    #[test]
    fn nothing_starts_after_a_failure_and_its_dependents_never_do() {
        let deps = graph(&[("a", &[]), ("b", &["a"]), ("c", &[])]);
        let (order, failure) = run(&deps, 1, &["a"]);
        assert_eq!(order, ["a"]);
        assert_eq!(failure.unwrap().step, "a");
    }

    #[test]
    fn a_cycle_or_a_missing_need_is_a_blueprint_failure_naming_the_stuck_nodes() {
        let deps = graph(&[("a", &[]), ("b", &["c"]), ("c", &["b"]), ("d", &["x"])]);
        let (order, failure) = run(&deps, 4, &[]);
        assert_eq!(order, ["a"]);
        let failure = failure.unwrap();
        assert_eq!(
            (failure.step.as_str(), failure.code.as_str()),
            ("b", "blueprint")
        );
        assert_eq!(failure.message, "dependency cycle through b, c, d");
    }
}
