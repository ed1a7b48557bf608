//! The default policy's decisions against a naive recomputation of
//! inherited grants, over random org trees and random grants.

use proptest::prelude::*;
use trellis_access::{Grant, Member, ORG_ROOT, OrgView, Permission, PolicyEngine, Resource, ResourceKind, Role};
use trellis_foundation::context::Principal;

const SUBJECTS: [&str; 3] = ["u0", "u1", "u2"];
const GROUPS: [&str; 2] = ["g0", "g1"];

#[derive(Debug, Clone)]
struct World {
    /// `parents[i]` is unit i's parent index, `None` for a top unit.
    parents: Vec<Option<usize>>,
    /// (unit index or `None` for the org root, role, member).
    grants: Vec<(Option<usize>, Role, Member)>,
}

fn unit(index: Option<usize>) -> String {
    index.map_or_else(|| ORG_ROOT.to_owned(), |index| format!("u{index}x"))
}

fn member() -> impl Strategy<Value = Member> {
    prop_oneof![
        (0..SUBJECTS.len()).prop_map(|i| Member::User(SUBJECTS[i].to_owned())),
        (0..GROUPS.len()).prop_map(|i| Member::Group(GROUPS[i].to_owned())),
        Just(Member::AllAuthenticatedUsers),
        Just(Member::User("nobody".to_owned())),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    (0..Role::ALL.len()).prop_map(|i| Role::ALL[i])
}

fn world() -> impl Strategy<Value = World> {
    (1usize..12)
        .prop_flat_map(|units| {
            let parents = (0..units)
                .map(|i| {
                    if i == 0 {
                        Just(None).boxed()
                    } else {
                        proptest::option::of(0..i).boxed()
                    }
                })
                .collect::<Vec<_>>();
            let grants = proptest::collection::vec((proptest::option::of(0..units), role(), member()), 0..10);
            (parents, grants)
        })
        .prop_map(|(parents, grants)| World { parents, grants })
}

fn view_of(world: &World) -> OrgView {
    let mut view = OrgView::default();
    for (index, parent) in world.parents.iter().enumerate() {
        view.set_unit(&unit(Some(index)), parent.map(|p| unit(Some(p))).as_deref());
    }
    let mut by_unit: std::collections::BTreeMap<String, Vec<Grant>> = Default::default();
    for (at, role, member) in &world.grants {
        by_unit.entry(unit(*at)).or_default().push(Grant {
            role: *role,
            member: member.clone(),
        });
    }
    for (at, grants) in by_unit {
        view.set_grants(&at, grants);
    }
    view
}

/// Unit `index` and every unit above it, then the org root.
fn at_or_above(world: &World, index: usize) -> Vec<Option<usize>> {
    let mut chain = vec![Some(index)];
    let mut current = index;
    while let Some(parent) = world.parents[current] {
        chain.push(Some(parent));
        current = parent;
    }
    chain.push(None);
    chain
}

fn matches(member: &Member, principal: &Principal) -> bool {
    match member {
        Member::User(name) | Member::ServiceAccount(name) => *name == principal.subject,
        Member::Group(name) => principal.groups.contains(name),
        Member::AllAuthenticatedUsers => true,
    }
}

/// The highest role the principal holds on `index`, granted there or above.
fn inherited(world: &World, principal: &Principal, index: usize) -> Option<Role> {
    let chain = at_or_above(world, index);
    world
        .grants
        .iter()
        .filter(|(at, _, member)| chain.contains(at) && matches(member, principal))
        .map(|(_, role, _)| *role)
        .max()
}

/// Whether the principal holds any role on `index` or a unit below it.
fn inside(world: &World, principal: &Principal, index: usize) -> bool {
    world.grants.iter().any(|(at, _, member)| {
        matches(member, principal) && at.is_some_and(|at| at_or_above(world, at).contains(&Some(index)))
    })
}

fn expected(world: &World, principal: &Principal, permission: Permission, index: usize, private: bool) -> bool {
    let role = inherited(world, principal, index);
    let at_least = |wanted: Role| role.is_some_and(|role| role >= wanted);
    match permission {
        Permission::Read => !private || inside(world, principal, index) || at_least(Role::Admin),
        Permission::GetIamPolicy => role.is_some(),
        Permission::CheckIn => at_least(Role::Contributor),
        Permission::EditOkrs => at_least(Role::Editor),
        Permission::EditStrategy | Permission::EditCycles | Permission::EditOrg | Permission::SetIamPolicy => {
            at_least(Role::Admin)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn decisions_follow_inherited_grants(
        world in world(),
        subject in 0..SUBJECTS.len(),
        groups in proptest::collection::vec(0..GROUPS.len(), 0..3),
        permission in (0..Permission::ALL.len()).prop_map(|i| Permission::ALL[i]),
        target in any::<prop::sample::Index>(),
        kind in prop_oneof![Just(ResourceKind::Objective), Just(ResourceKind::HealthMetric), Just(ResourceKind::OrgUnit)],
        private in any::<bool>(),
    ) {
        let engine = PolicyEngine::default_policy().expect("the default policy");
        let view = view_of(&world);
        let principal = Principal {
            subject: SUBJECTS[subject].to_owned(),
            email: None,
            groups: groups.into_iter().map(|g| GROUPS[g].to_owned()).collect(),
            service: false,
        };
        let index = target.index(world.parents.len());
        let private = private && kind != ResourceKind::OrgUnit;
        let resource = match kind {
            ResourceKind::OrgUnit => Resource::org_unit(&unit(Some(index))),
            kind => Resource::owned(kind, "thing", &unit(Some(index))).private(private),
        };
        let roles = view.roles_of(&Member::all_of(&principal));
        let decided = engine.decide(&view, &principal, &roles, permission, &resource).expect("a decision");
        prop_assert_eq!(decided, expected(&world, &principal, permission, index, private));
    }
}

#[test]
fn a_policy_naming_what_trellis_lacks_is_refused() {
    let typo =
        r#"permit (principal, action == Trellis::Action::"read", resource) when { resource in principal.adminof };"#;
    let err = PolicyEngine::new(typo).expect_err("a typo in an attribute");
    assert!(err.contains("schema"), "{err}");
    let unknown_action = r#"permit (principal, action == Trellis::Action::"delete", resource);"#;
    assert!(PolicyEngine::new(unknown_action).is_err());
    assert!(PolicyEngine::new("permit (").is_err());
}

#[test]
fn a_replacement_policy_decides_instead() {
    // Reads only for viewers and above.
    let engine = PolicyEngine::new(
        r#"permit (principal, action == Trellis::Action::"read", resource) when { resource in principal.viewerOf };"#,
    )
    .expect("policy");
    let mut view = OrgView::default();
    view.set_unit("acme", None);
    view.set_unit("eng", Some("acme"));
    view.set_grants(
        "acme",
        vec![Grant {
            role: Role::Viewer,
            member: Member::Group("staff".into()),
        }],
    );
    let staff = Principal {
        subject: "ann".into(),
        email: None,
        groups: vec!["staff".into()],
        service: false,
    };
    let outsider = Principal {
        subject: "bob".into(),
        email: None,
        groups: Vec::new(),
        service: false,
    };
    let objective = Resource::owned(ResourceKind::Objective, "o1", "eng");
    for (principal, allowed) in [(&staff, true), (&outsider, false)] {
        let roles = view.roles_of(&Member::all_of(principal));
        assert_eq!(
            engine.decide(&view, principal, &roles, Permission::Read, &objective),
            Ok(allowed)
        );
    }
}

#[test]
fn the_services_own_work_gets_exactly_what_it_needs() {
    let engine = PolicyEngine::default_policy().expect("the default policy");
    let mut view = OrgView::default();
    view.set_unit("acme", None);
    let service = |subject: &str, service: bool| Principal {
        subject: subject.into(),
        email: None,
        groups: Vec::new(),
        service,
    };
    let private = Resource::owned(ResourceKind::Objective, "o1", "acme").private(true);
    let decide = |principal: &Principal, permission| {
        let roles = view.roles_of(&Member::all_of(principal));
        engine.decide(&view, principal, &roles, permission, &private)
    };
    let health = service("trellis-health", true);
    let cascade = service("trellis-cascade", true);
    // A person whose token happens to name a service is not one.
    let impostor = service("trellis-health", false);
    assert_eq!(decide(&health, Permission::EditOkrs), Ok(true));
    assert_eq!(decide(&health, Permission::CheckIn), Ok(true));
    assert_eq!(decide(&health, Permission::EditStrategy), Ok(true));
    assert_eq!(decide(&health, Permission::EditOrg), Ok(false));
    assert_eq!(decide(&health, Permission::SetIamPolicy), Ok(false));
    assert_eq!(decide(&cascade, Permission::Read), Ok(true));
    assert_eq!(decide(&cascade, Permission::EditOkrs), Ok(false));
    assert_eq!(decide(&impostor, Permission::EditOkrs), Ok(false));
    assert_eq!(decide(&impostor, Permission::Read), Ok(false));
}
