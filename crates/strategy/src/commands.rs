//! What a write of a strategy asks for, checked at the boundary: a create
//! becomes a [`NewStrategy`] (with its inline choices and assumptions
//! named under it), an update a [`StrategyPatch`] that names each field it
//! changes. Operations take these, never the raw request.

use std::collections::HashSet;

use trellis_foundation::{FieldViolations, mask::update_paths, names::id_or_generate};
use trellis_proto::strategy::v1::{self as pb, StrategyState};

use crate::{
    fields::{MAX_CHILDREN, StrategyField, check_assumption, check_choice, check_strategy_field, inline_child_id},
    names::{ASSUMPTIONS, CHOICES, child_name, strategy_id, strategy_name},
};

/// A checked `CreateStrategy`: a DRAFT strategy with its children named.
#[derive(Debug, Clone)]
pub struct NewStrategy {
    pub id: String,
    pub strategy: pb::Strategy,
}

impl TryFrom<&pb::CreateStrategyRequest> for NewStrategy {
    type Error = FieldViolations;

    fn try_from(request: &pb::CreateStrategyRequest) -> Result<NewStrategy, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(input) = &request.strategy else {
            violations.add("strategy", "is required");
            return Err(violations);
        };
        let id = id_or_generate(&request.strategy_id, "strategy_id", &mut violations);
        for field in StrategyField::ALL {
            check_strategy_field(input, *field, "strategy.", &mut violations);
        }
        violations.require(
            input.choices.len() <= MAX_CHILDREN,
            "strategy.choices",
            format!("at most {MAX_CHILDREN}"),
        );
        violations.require(
            input.assumptions.len() <= MAX_CHILDREN,
            "strategy.assumptions",
            format!("at most {MAX_CHILDREN}"),
        );
        let mut seen = HashSet::new();
        let mut choices = Vec::with_capacity(input.choices.len());
        for (index, choice) in input.choices.iter().enumerate() {
            let prefix = format!("strategy.choices[{index}].");
            check_choice(choice, &prefix, &mut violations);
            let child_id = inline_child_id(&choice.name, &format!("{prefix}name"), &mut violations);
            violations.require(
                seen.insert(child_id.clone()),
                format!("{prefix}name"),
                "repeats another choice's id",
            );
            choices.push(pb::Choice {
                name: child_name(&id, CHOICES, &child_id),
                etag: String::new(),
                ..choice.clone()
            });
        }
        let mut seen = HashSet::new();
        let mut assumptions = Vec::with_capacity(input.assumptions.len());
        for (index, assumption) in input.assumptions.iter().enumerate() {
            let prefix = format!("strategy.assumptions[{index}].");
            check_assumption(assumption, &prefix, &mut violations);
            let child_id = inline_child_id(&assumption.name, &format!("{prefix}name"), &mut violations);
            violations.require(
                seen.insert(child_id.clone()),
                format!("{prefix}name"),
                "repeats another assumption's id",
            );
            let mut assumption = pb::Assumption {
                name: child_name(&id, ASSUMPTIONS, &child_id),
                ..assumption.clone()
            };
            if assumption.status() == pb::AssumptionStatus::Unspecified {
                assumption.set_status(pb::AssumptionStatus::Holding);
            }
            assumptions.push(assumption);
        }
        let strategy = pb::Strategy {
            name: strategy_name(&id),
            display_name: input.display_name.trim().to_owned(),
            challenge: input.challenge.clone(),
            winning_aspiration: input.winning_aspiration.clone(),
            horizon: input.horizon,
            owner: input.owner.clone(),
            parent_choice: input.parent_choice.clone(),
            state: StrategyState::Draft as i32,
            choices,
            assumptions,
            ..pb::Strategy::default()
        };
        violations.into_checked(NewStrategy { id, strategy })
    }
}

/// A checked `UpdateStrategy`: which strategy, at which etag, and the
/// fields it changes with their new values.
#[derive(Debug, Clone)]
pub struct StrategyPatch {
    pub id: String,
    pub name: String,
    pub etag: String,
    pub fields: Vec<StrategyField>,
    values: pb::Strategy,
}

impl TryFrom<&pb::UpdateStrategyRequest> for StrategyPatch {
    type Error = FieldViolations;

    fn try_from(request: &pb::UpdateStrategyRequest) -> Result<StrategyPatch, FieldViolations> {
        let mut violations = FieldViolations::default();
        let Some(values) = &request.strategy else {
            violations.add("strategy", "is required");
            return Err(violations);
        };
        let id = violations
            .absorb(strategy_id(&values.name, "strategy.name"))
            .ok()
            .flatten()
            .map(str::to_owned);
        let fields = update_paths(request.update_mask.as_ref(), StrategyField::ALL, &mut violations);
        for field in &fields {
            check_strategy_field(values, *field, "strategy.", &mut violations);
        }
        violations.into_checked(StrategyPatch {
            id: id.unwrap_or_default(),
            name: values.name.clone(),
            etag: values.etag.clone(),
            fields,
            values: values.clone(),
        })
    }
}

impl StrategyPatch {
    /// `current` with the patched fields changed.
    pub fn apply(&self, current: &pb::Strategy) -> pb::Strategy {
        let mut updated = current.clone();
        let values = &self.values;
        for field in &self.fields {
            match field {
                StrategyField::DisplayName => updated.display_name = values.display_name.trim().to_owned(),
                StrategyField::Challenge => updated.challenge.clone_from(&values.challenge),
                StrategyField::WinningAspiration => updated.winning_aspiration.clone_from(&values.winning_aspiration),
                StrategyField::Horizon => updated.horizon = values.horizon,
                StrategyField::Owner => updated.owner.clone_from(&values.owner),
                StrategyField::ParentChoice => updated.parent_choice.clone_from(&values.parent_choice),
            }
        }
        updated
    }
}
