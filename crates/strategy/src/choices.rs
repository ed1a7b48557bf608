//! Choices: create, update, delete (each a new revision of its strategy).

use trellis_foundation::{
    Error, FieldViolations, RequestContext, WriteTxn,
    etag::check_etag,
    mask::update_paths,
    names::id_or_generate,
    time::{now_micros, to_timestamp},
};
use trellis_proto::{
    feed::v1::ChangeKind,
    strategy::v1::{self as pb, ChoiceKind},
};

use crate::{
    StrategyApi,
    children::{Child, ChildEdit},
    convert::{CHOICES, MAX_CHILDREN, check_choice, child_ids, child_name, strategy_id},
};

const UPDATABLE: &[&str] = &["kind", "title", "description"];

fn into_choice(edit: ChildEdit) -> Result<pb::Choice, Error> {
    match edit.child {
        Child::Choice(choice) => Ok(choice),
        Child::Assumption(_) => Err(Error::Corrupt("a choice edit returned an assumption".into())),
    }
}

fn position(strategy: &pb::Strategy, name: &str) -> Result<usize, Error> {
    strategy
        .choices
        .iter()
        .position(|choice| choice.name == name)
        .ok_or_else(|| Error::NotFound(name.to_owned()))
}

impl StrategyApi {
    pub async fn create_choice(
        &self,
        context: RequestContext,
        request: pb::CreateChoiceRequest,
    ) -> Result<pb::Choice, Error> {
        let parent_id = strategy_id(&request.parent, "parent")?.to_owned();
        let mut violations = FieldViolations::default();
        let choice_id = id_or_generate(&request.choice_id, "choice_id", &mut violations);
        match &request.choice {
            Some(choice) => check_choice(choice, "choice.", &mut violations),
            None => violations.add("choice", "is required"),
        }
        violations.into_result()?;
        let input = request.choice.clone().unwrap_or_default();
        let api = self.clone();
        let event_context = context.clone();
        self.store
            .create_once(
                &context,
                "CreateChoice",
                &request,
                move |mut txn: WriteTxn| async move {
                    let name = child_name(&parent_id, CHOICES, &choice_id);
                    let edit = api
                        .apply_child_edit(&mut txn, &event_context, &parent_id, |strategy, etag| {
                            if strategy.choices.iter().any(|choice| choice.name == name) {
                                return Err(Error::AlreadyExists(format!("{name} already exists")));
                            }
                            if strategy.choices.len() >= MAX_CHILDREN {
                                return Err(Error::FailedPrecondition(format!(
                                    "a strategy holds at most {MAX_CHILDREN} choices"
                                )));
                            }
                            let now = Some(to_timestamp(now_micros()));
                            let choice = pb::Choice {
                                name,
                                kind: input.kind,
                                title: input.title.trim().to_owned(),
                                description: input.description,
                                etag: etag.to_owned(),
                                create_time: now,
                                update_time: now,
                            };
                            strategy.choices.push(choice.clone());
                            Ok(ChildEdit::changed(ChangeKind::Created, Child::Choice(choice)))
                        })
                        .await?;
                    Ok((txn, into_choice(edit)?))
                },
            )
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
                let index = position(strategy, &patch.name)?;
                let choice = &mut strategy.choices[index];
                check_etag(&patch.etag, &choice.etag, &patch.name)?;
                for path in &paths {
                    match *path {
                        "kind" => choice.kind = patch.kind,
                        "title" => choice.title = patch.title.trim().to_owned(),
                        _ => choice.description.clone_from(&patch.description),
                    }
                }
                choice.etag = etag.to_owned();
                choice.update_time = Some(to_timestamp(now_micros()));
                Ok(ChildEdit::changed(ChangeKind::Updated, Child::Choice(choice.clone())))
            })
            .await?;
        into_choice(edit)
    }

    pub async fn delete_choice(&self, context: RequestContext, request: pb::DeleteChoiceRequest) -> Result<(), Error> {
        let (parent_id, _) = child_ids(&request.name, CHOICES, "name")?;
        self.edit_child(&context, parent_id, Some(&request.name), |strategy, _| {
            let index = position(strategy, &request.name)?;
            check_etag(&request.etag, &strategy.choices[index].etag, &request.name)?;
            let removed = strategy.choices.remove(index);
            Ok(ChildEdit::changed(ChangeKind::Deleted, Child::Choice(removed)))
        })
        .await?;
        Ok(())
    }
}
