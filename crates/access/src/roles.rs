//! The roles a policy binds and the permissions a decision is about.
//!
//! Which role holds which permission is not written here: the policy file
//! (`policy/default.cedar`, or `--policy-file`) decides that.

use std::fmt;

/// A role granted on an org unit, inherited by every unit below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Viewer,
    Contributor,
    Editor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Contributor, Role::Editor, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Contributor => "contributor",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    /// The principal's attribute in the policy engine that holds the units
    /// it has this role on.
    pub fn attribute(self) -> &'static str {
        match self {
            Role::Viewer => "viewerOf",
            Role::Contributor => "contributorOf",
            Role::Editor => "editorOf",
            Role::Admin => "adminOf",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a caller asks to do; the policy engine's actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Get, List, Watch and every cascade question.
    Read,
    /// Check-ins on key results, measurements on health metrics.
    CheckIn,
    /// Objectives, key results and health metrics: create, change, delete.
    EditOkrs,
    /// Strategies, their choices and assumptions.
    EditStrategy,
    /// Cycles (planning seasons) rooted at the unit.
    EditCycles,
    /// The org units below the unit.
    EditOrg,
    GetIamPolicy,
    SetIamPolicy,
}

impl Permission {
    pub const ALL: [Permission; 8] = [
        Permission::Read,
        Permission::CheckIn,
        Permission::EditOkrs,
        Permission::EditStrategy,
        Permission::EditCycles,
        Permission::EditOrg,
        Permission::GetIamPolicy,
        Permission::SetIamPolicy,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Permission::Read => "read",
            Permission::CheckIn => "checkIn",
            Permission::EditOkrs => "editOkrs",
            Permission::EditStrategy => "editStrategy",
            Permission::EditCycles => "editCycles",
            Permission::EditOrg => "editOrg",
            Permission::GetIamPolicy => "getIamPolicy",
            Permission::SetIamPolicy => "setIamPolicy",
        }
    }

    pub fn parse(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|permission| permission.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_back() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.name()), Some(role));
        }
        for permission in Permission::ALL {
            assert_eq!(Permission::parse(permission.name()), Some(permission));
        }
        assert_eq!(Role::parse("owner"), None);
        assert_eq!(Permission::parse("READ"), None);
    }
}
