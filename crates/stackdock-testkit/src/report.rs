//! What the suite found, typed.

use std::fmt;

use stackdock_core::ResourceKind;

/// How one check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The adapter kept the contract.
    Passed,
    /// It did not; what went wrong.
    Failed(String),
    /// The check did not apply (capability off, no update spec ...); why.
    Skipped(String),
}

/// One check's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's name, e.g. `lifecycle` (see [`checks`](crate::checks)).
    pub check: &'static str,
    /// The kind it ran on; `None` for checks of the adapter as a whole.
    pub kind: Option<ResourceKind>,
    /// How it ended.
    pub outcome: Outcome,
    /// How many distinct resources it created at the adapter: proof that a
    /// check did work, not just that it returned.
    pub touched: usize,
}

impl CheckResult {
    /// `provider/kind/check`, or `provider/check`.
    pub fn name(&self, provider: &str) -> String {
        match self.kind {
            Some(kind) => format!("{provider}/{}/{}", kind.as_str(), self.check),
            None => format!("{provider}/{}", self.check),
        }
    }
}

/// Every check's result, in the order they ran.
#[derive(Debug, Default, Clone)]
pub struct Report {
    /// The provider the suite ran against.
    pub provider: String,
    /// The results.
    pub results: Vec<CheckResult>,
}

impl Report {
    /// Results that passed.
    pub fn passed(&self) -> impl Iterator<Item = &CheckResult> {
        self.results.iter().filter(|r| r.outcome == Outcome::Passed)
    }

    /// Results that failed.
    pub fn failed(&self) -> impl Iterator<Item = &CheckResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Failed(_)))
    }

    /// Results that were skipped.
    pub fn skipped(&self) -> impl Iterator<Item = &CheckResult> {
        self.results
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Skipped(_)))
    }

    /// How many times `check` passed, across all fixtures.
    pub fn count(&self, check: &str) -> usize {
        self.passed().filter(|r| r.check == check).count()
    }

    /// How many distinct resources `check` created, summed across fixtures.
    pub fn touched_by(&self, check: &str) -> usize {
        self.results
            .iter()
            .filter(|r| r.check == check)
            .map(|r| r.touched)
            .sum()
    }

    /// Whether `check` failed for any fixture.
    pub fn failed_check(&self, check: &str) -> bool {
        self.failed().any(|r| r.check == check)
    }

    /// Whether nothing failed.
    pub fn is_ok(&self) -> bool {
        self.failed().next().is_none()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "conformance of {}: {} passed, {} failed, {} skipped",
            self.provider,
            self.passed().count(),
            self.failed().count(),
            self.skipped().count()
        )?;
        for r in &self.results {
            let name = r.name(&self.provider);
            match &r.outcome {
                Outcome::Passed => writeln!(f, "  ok      {name} (touched {})", r.touched)?,
                Outcome::Failed(why) => writeln!(f, "  FAILED  {name}: {why}")?,
                Outcome::Skipped(why) => writeln!(f, "  skipped {name}: {why}")?,
            }
        }
        Ok(())
    }
}
