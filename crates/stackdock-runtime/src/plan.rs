//! A typed plan: what an apply of a blueprint would do to each step —
//! desired blueprint vs recorded state vs observed reality — made by
//! [`Runtime::plan`](crate::Runtime::plan) without any mutating call.
//! Printable (`Display`, one line per step, like `terraform plan`) and JSON
//! (serde).

use std::fmt;

use serde::{Deserialize, Serialize};
use stackdock_core::ResourceId;

/// What an apply would do to one step.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanAction {
    /// Nothing there: create it (also a recorded resource that vanished).
    Create,
    /// There and recorded, but different from the blueprint: update it.
    Update,
    /// Already there, not recorded as made by this scope: adopt it (also a
    /// create whose outcome a crashed run never recorded: found, kept).
    Adopt,
    /// There and as the blueprint says: nothing.
    NoOp,
    /// Recorded for the scope but no longer in the blueprint, and created by
    /// it: delete it (children first, after every other step succeeded).
    Delete,
    /// Recorded but no longer in the blueprint, and adopted (or held by
    /// another scope too): stop managing it, leave it in place.
    Release,
}

impl PlanAction {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Adopt => "adopt",
            PlanAction::NoOp => "no_op",
            PlanAction::Delete => "delete",
            PlanAction::Release => "release",
        }
    }

    /// Whether carrying it out calls a mutating operation of the dock.
    pub fn mutates(self) -> bool {
        matches!(
            self,
            PlanAction::Create | PlanAction::Update | PlanAction::Delete
        )
    }

    fn symbol(self) -> char {
        match self {
            PlanAction::Create => '+',
            PlanAction::Update => '~',
            PlanAction::Adopt => '<',
            PlanAction::NoOp => '=',
            PlanAction::Delete => '-',
            PlanAction::Release => '>',
        }
    }
}

impl fmt::Display for PlanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One step of a [`Plan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlannedStep {
    /// The step.
    pub step: String,
    /// Its dock.
    pub dock: String,
    /// What an apply would do.
    pub action: PlanAction,
    /// The resource, when one is recorded or was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<ResourceId>,
    /// Fields that differ (for an update), as `field: actual -> desired`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<String>,
    /// Why, in a few words.
    pub reason: String,
}

/// What an apply of a blueprint would do, step by step in dependency order
/// (steps to delete or release last, children first).
///
/// ```
/// use stackdock_runtime::plan::{Plan, PlanAction, PlannedStep};
///
/// let plan = Plan {
///     scope: "acme".into(),
///     steps: vec![PlannedStep {
///         step: "zone".into(),
///         dock: "dns".into(),
///         action: PlanAction::Create,
///         resource_id: None,
///         changes: vec![],
///         reason: "absent".into(),
///     }],
/// };
/// assert_eq!(plan.mutations(), 1);
/// assert!(plan.to_string().contains("+ zone"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// The scope.
    pub scope: String,
    /// Every step: the blueprint's in dependency order, then what it no
    /// longer has.
    pub steps: Vec<PlannedStep>,
}

impl Plan {
    /// How many steps would call a mutating operation.
    pub fn mutations(&self) -> usize {
        self.steps.iter().filter(|s| s.action.mutates()).count()
    }

    /// Whether an apply would change nothing at the providers.
    pub fn is_empty(&self) -> bool {
        self.mutations() == 0
    }

    /// How many steps have `action`.
    pub fn count(&self, action: PlanAction) -> usize {
        self.steps.iter().filter(|s| s.action == action).count()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PlanAction as A;
        writeln!(
            f,
            "plan for {}: {} to create, {} to update, {} to adopt, {} to delete, {} to release, {} unchanged",
            self.scope,
            self.count(A::Create),
            self.count(A::Update),
            self.count(A::Adopt),
            self.count(A::Delete),
            self.count(A::Release),
            self.count(A::NoOp),
        )?;
        let width = self.steps.iter().map(|s| s.step.len()).max().unwrap_or(0);
        for s in &self.steps {
            write!(
                f,
                "  {} {:width$}  {:8} {:7} {}",
                s.action.symbol(),
                s.step,
                s.dock,
                s.action.as_str(),
                s.reason
            )?;
            if !s.changes.is_empty() {
                write!(f, " ({})", s.changes.join("; "))?;
            }
            writeln!(f)?;
        }
        Ok(())
    }
}
