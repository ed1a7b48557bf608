//! Choices: create, update, delete (each a new revision of its strategy).

use trellis_foundation::{
    Error, FieldViolations, RequestContext, etag::check_etag, mask::update_paths, names::id_or_generate,
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, ChoiceKind},
};

use crate::{
    StrategyApi,
    children::{ChildEdit, StrategyChild, edited, find_child},
    convert::{CHOICES, check_choice, child_ids, child_name, strategy_id},
};

const UPDATABLE: &[&str] = &["kind", "title", "description"];

impl StrategyApi {
    pub async fn create_choice(
        &self,
        context: RequestContext,
        request: pb::CreateChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?.to_owned();
        let mut violations = FieldViolations::default();
        let choice_id = id_or_generate(&request.choice_id, "choice_id", &mut violations);
        let Some(input) = &request.choice else {
            violations.add("choice", "is required");
            return Err(Error::InvalidArgument(violations));
        };
        check_choice(input, "choice.", &mut violations);
        violations.into_result()?;
        let choice = pb::Choice {
            name: child_name(&parent_id, CHOICES, &choice_id),
            kind: input.kind,
            title: input.title.trim().to_owned(),
            description: input.description.clone(),
            ..pb::Choice::default()
        };
        self.create_child(&context, "CreateChoice", &request, parent_id, choice)
            .await
    }

    pub async fn update_choice(
        &self,
        context: RequestContext,
        request: pb::UpdateChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let Some(patch) = request.choice else {
            return Err(Error::invalid("choice", "is required"));
        };
        let (parent_id, _) = child_ids(&patch.name, CHOICES, "choice.name")?;
        let mut violations = FieldViolations::default();
        let paths = update_paths(request.update_mask.as_ref(), UPDATABLE, &mut violations);
        let mut checked = FieldViolations::default();
        check_choice(&patch, "choice.", &mut checked);
        for (field, description) in checked.violations() {
            if paths.iter().any(|path| field == &format!("choice.{path}")) {
                violations.add(field.clone(), description.clone());
            }
        }
        violations.into_result()?;
        let becomes_not_doing = paths.contains(&"kind") && patch.kind() == ChoiceKind::NotDoing;
        let losing_children = becomes_not_doing.then_some(patch.name.as_str());
        let edit = self
            .edit_child(&context, parent_id, losing_children, |strategy, etag| {
                let choice = find_child::<pb::Choice>(strategy, &patch.name)?;
                check_etag(&patch.etag, &choice.etag, &patch.name)?;
                for path in &paths {
                    match *path {
                        "kind" => choice.kind = patch.kind,
                        "title" => choice.title = patch.title.trim().to_owned(),
                        _ => choice.description.clone_from(&patch.description),
                    }
                }
                choice.stamp(etag, false);
                Ok(ChildEdit::changed(ChangeKind::Updated, choice.clone().into_child()))
            })
            .await?;
        edited(edit)
    }

    pub async fn delete_choice(&self, context: RequestContext, request: pb::DeleteChoiceRequest) -> Result<(), Error> {
        self.delete_child::<pb::Choice>(&context, &request.name, &request.etag)
            .await
    }
}
