//! What the access policy is decided over: the org tree (each unit's
//! parent) and the grants made on each unit, as the cascade's change feed
//! tells them. Every process that checks access keeps one, following the
//! feed, so a decision never waits on a call.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::{members::Member, roles::Role};

/// The org root's id: "orgUnits/-" names it. It is the parent of every top
/// unit, so a grant there covers the whole org.
pub const ORG_ROOT: &str = "-";

/// One member holding one role on a unit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Grant {
    pub role: Role,
    pub member: Member,
}

/// The units a principal holds each role on, directly (inheritance is the
/// policy engine's: org units are its entities' parents).
pub type RoleUnits = BTreeMap<Role, BTreeSet<String>>;

#[derive(Debug, Default, Clone)]
pub struct OrgView {
    /// Each unit's parent; [`ORG_ROOT`] for a top unit.
    parents: HashMap<String, String>,
    grants: HashMap<String, Vec<Grant>>,
    /// The same grants by member, for finding a principal's in a few lookups.
    by_member: HashMap<Member, Vec<(String, Role)>>,
}

impl OrgView {
    pub fn knows(&self, unit: &str) -> bool {
        unit == ORG_ROOT || self.parents.contains_key(unit)
    }

    pub fn set_unit(&mut self, unit: &str, parent: Option<&str>) {
        let parent = parent.filter(|parent| !parent.is_empty()).unwrap_or(ORG_ROOT);
        self.parents.insert(unit.to_owned(), parent.to_owned());
    }

    /// A deleted unit takes its grants with it: a unit made again later
    /// under the same id starts with none.
    pub fn remove_unit(&mut self, unit: &str) {
        self.parents.remove(unit);
        self.set_grants(unit, Vec::new());
    }

    pub fn set_grants(&mut self, unit: &str, grants: Vec<Grant>) {
        if let Some(old) = self.grants.remove(unit) {
            for grant in old {
                if let Some(held) = self.by_member.get_mut(&grant.member) {
                    held.retain(|(held_unit, role)| !(held_unit == unit && *role == grant.role));
                    if held.is_empty() {
                        self.by_member.remove(&grant.member);
                    }
                }
            }
        }
        for grant in &grants {
            self.by_member
                .entry(grant.member.clone())
                .or_default()
                .push((unit.to_owned(), grant.role));
        }
        if !grants.is_empty() {
            self.grants.insert(unit.to_owned(), grants);
        }
    }

    pub fn grants_on(&self, unit: &str) -> &[Grant] {
        self.grants.get(unit).map_or(&[], Vec::as_slice)
    }

    /// The unit's parent: [`ORG_ROOT`] for a top unit and for a unit not
    /// heard of (so grants on the whole org still decide about it: an org
    /// admin naming a unit that does not exist is told so by the service,
    /// not refused), `None` for the root.
    pub fn parent(&self, unit: &str) -> Option<&str> {
        if unit == ORG_ROOT {
            return None;
        }
        Some(self.parents.get(unit).map_or(ORG_ROOT, String::as_str))
    }

    /// The unit's ancestors, nearest first, ending with [`ORG_ROOT`] (empty
    /// for the root itself). Stops at a cycle, which a feed applied out of
    /// order could briefly make.
    pub fn ancestors(&self, unit: &str) -> Vec<&str> {
        let mut chain = Vec::new();
        let mut current = unit;
        while let Some(parent) = self.parent(current) {
            if chain.len() > self.parents.len() || parent == unit || chain.contains(&parent) {
                break;
            }
            chain.push(parent);
            current = parent;
        }
        chain
    }

    /// The units each role is granted on to any of `members`.
    pub fn roles_of(&self, members: &[Member]) -> RoleUnits {
        let mut roles = RoleUnits::new();
        for member in members {
            for (unit, role) in self.by_member.get(member).into_iter().flatten() {
                roles.entry(*role).or_default().insert(unit.clone());
            }
        }
        roles
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, member: &str) -> Grant {
        Grant {
            role,
            member: member.parse().expect("member"),
        }
    }

    #[test]
    fn ancestors_run_up_to_the_org_root() {
        let mut view = OrgView::default();
        view.set_unit("acme", None);
        view.set_unit("eng", Some("acme"));
        view.set_unit("web", Some("eng"));
        assert_eq!(view.ancestors("web"), ["eng", "acme", ORG_ROOT]);
        assert_eq!(view.ancestors(ORG_ROOT), Vec::<&str>::new());
        assert_eq!(view.ancestors("unknown"), [ORG_ROOT]);
    }

    #[test]
    fn a_cycle_ends_the_walk() {
        let mut view = OrgView::default();
        view.set_unit("a", Some("b"));
        view.set_unit("b", Some("a"));
        assert_eq!(view.ancestors("a"), ["b"]);
    }

    #[test]
    fn grants_replace_and_leave_with_their_unit() {
        let mut view = OrgView::default();
        view.set_unit("eng", None);
        view.set_grants(
            "eng",
            vec![grant(Role::Editor, "user:ann"), grant(Role::Viewer, "group:all")],
        );
        let ann = [Member::User("ann".into())];
        assert_eq!(view.roles_of(&ann)[&Role::Editor], BTreeSet::from(["eng".to_owned()]));
        view.set_grants("eng", vec![grant(Role::Admin, "user:ann")]);
        let roles = view.roles_of(&ann);
        assert!(!roles.contains_key(&Role::Editor));
        assert!(roles.contains_key(&Role::Admin));
        view.remove_unit("eng");
        assert!(view.roles_of(&ann).is_empty());
        assert!(view.grants_on("eng").is_empty());
    }
}
