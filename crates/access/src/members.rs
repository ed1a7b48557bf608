//! Who a binding names: `user:`, `group:`, `serviceAccount:` or every
//! authenticated caller.

use std::{fmt, str::FromStr};

use trellis_foundation::context::Principal;

/// A member's text is at most this long.
pub const MAX_MEMBER_LEN: usize = 256;
const ALL_AUTHENTICATED: &str = "allAuthenticatedUsers";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Member {
    /// A token's subject, or its email.
    User(String),
    /// A name in the token's groups claim.
    Group(String),
    /// A service's token subject (or, with mTLS, its certificate's name).
    ServiceAccount(String),
    AllAuthenticatedUsers,
}

impl Member {
    /// The members a verified principal is: it matches a binding that
    /// names any of them.
    pub fn all_of(principal: &Principal) -> Vec<Member> {
        let mut members = vec![
            Member::AllAuthenticatedUsers,
            Member::User(principal.subject.clone()),
            Member::ServiceAccount(principal.subject.clone()),
        ];
        if let Some(email) = &principal.email {
            members.push(Member::User(email.clone()));
        }
        members.extend(principal.groups.iter().cloned().map(Member::Group));
        members
    }
}

impl FromStr for Member {
    type Err = String;

    fn from_str(text: &str) -> Result<Member, String> {
        if text.len() > MAX_MEMBER_LEN {
            return Err(format!("is longer than {MAX_MEMBER_LEN} characters"));
        }
        if text == ALL_AUTHENTICATED {
            return Ok(Member::AllAuthenticatedUsers);
        }
        let (kind, name) = text.split_once(':').ok_or_else(|| {
            format!("{text:?} is not user:NAME, group:NAME, serviceAccount:NAME or {ALL_AUTHENTICATED}")
        })?;
        if name.trim().is_empty() || name.trim() != name || name.chars().any(char::is_control) {
            return Err(format!("{text:?} has no name after the colon, or spaces around it"));
        }
        let name = name.to_owned();
        match kind {
            "user" => Ok(Member::User(name)),
            "group" => Ok(Member::Group(name)),
            "serviceAccount" => Ok(Member::ServiceAccount(name)),
            _ => Err(format!("{kind:?} is not a member kind (user, group, serviceAccount)")),
        }
    }
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Member::User(name) => write!(f, "user:{name}"),
            Member::Group(name) => write!(f, "group:{name}"),
            Member::ServiceAccount(name) => write!(f, "serviceAccount:{name}"),
            Member::AllAuthenticatedUsers => f.write_str(ALL_AUTHENTICATED),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_read_back() {
        for text in [
            "user:alice",
            "group:eng",
            "serviceAccount:trellis-health",
            "allAuthenticatedUsers",
        ] {
            let member: Member = text.parse().expect(text);
            assert_eq!(member.to_string(), text);
        }
    }

    #[test]
    fn malformed_members_are_refused() {
        for text in [
            "alice",
            "user:",
            "user: alice",
            "robot:x",
            "group:a\nb",
            &"user:".repeat(60),
        ] {
            assert!(text.parse::<Member>().is_err(), "{text:?} was accepted");
        }
    }

    #[test]
    fn a_principal_is_its_subject_email_and_groups() {
        let principal = Principal {
            subject: "u1".into(),
            email: Some("ann@example.com".into()),
            groups: vec!["eng".into()],
            service: false,
        };
        let members = Member::all_of(&principal);
        for expected in [
            Member::User("u1".into()),
            Member::User("ann@example.com".into()),
            Member::Group("eng".into()),
            Member::ServiceAccount("u1".into()),
            Member::AllAuthenticatedUsers,
        ] {
            assert!(members.contains(&expected), "{expected} missing");
        }
    }
}
