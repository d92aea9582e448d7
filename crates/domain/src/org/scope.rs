//! 可见范围 — what part of the region tree a user works in, and what they may do there.
//!
//! Every read and write of personal data is checked against a [`Scope`]; the server
//! builds one per request from the logged-in user and the store filters every query
//! of person-level data by it.

use crate::org::{DivisionCode, Role};

/// Something a role may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Open registry pages and records (residents, households, buildings).
    ViewRegistry,
    /// Search for people by ID number, name, pinyin initials or phone.
    SearchRegistry,
    /// Record new residents and households and changes to them.
    EditRegistry,
    /// Export lists of residents.
    ExportRegistry,
    /// Create users and assign their scope.
    ManageUsers,
    /// See who looked at a person's record.
    ViewAudit,
    /// Report change events (births, deaths, moves) into the review chain, and
    /// resubmit one that was returned.
    ReportEvents,
    /// Take in departments' feed files and see what each department sent.
    ReceiveFeeds,
}

impl Role {
    /// DHIS2 separates capture from view; so do we: street and district staff see and
    /// search their area but record changes through the reporting chain, and service
    /// providers see only the health-service data they provide.
    pub fn may(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::GridWorker | Role::Specialist => {
                matches!(
                    permission,
                    ViewRegistry | SearchRegistry | EditRegistry | ExportRegistry | ViewAudit | ReportEvents
                )
            }
            Role::Street => {
                matches!(permission, ViewRegistry | SearchRegistry | ExportRegistry | ViewAudit | ReportEvents)
            }
            // The district's population office is where departments' notices arrive.
            Role::District => matches!(
                permission,
                ViewRegistry | SearchRegistry | ExportRegistry | ViewAudit | ReportEvents | ReceiveFeeds
            ),
            Role::ServiceProvider => false,
            Role::Administrator => true,
        }
    }
}

/// The nodes of the region tree a user works in (each with its whole subtree).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    role: Role,
    nodes: Vec<DivisionCode>,
}

impl Scope {
    /// An administrator without assigned nodes works on the whole country; anyone
    /// else without nodes sees nothing.
    pub fn new(role: Role, nodes: Vec<DivisionCode>) -> Self {
        let mut nodes = nodes;
        nodes.sort();
        nodes.dedup();
        // Drop nodes already inside another assigned node.
        let kept: Vec<DivisionCode> =
            nodes.iter().filter(|n| !nodes.iter().any(|o| o != *n && o.contains(n))).cloned().collect();
        Scope { role, nodes: kept }
    }

    pub fn role(&self) -> Role {
        self.role
    }

    pub fn is_whole_country(&self) -> bool {
        self.role == Role::Administrator && self.nodes.is_empty()
    }

    /// The assigned nodes, none inside another; empty for the whole country.
    pub fn nodes(&self) -> &[DivisionCode] {
        &self.nodes
    }

    /// Whether `code` (and so everything below it) lies inside the scope.
    pub fn covers(&self, code: &DivisionCode) -> bool {
        self.is_whole_country() || self.nodes.iter().any(|n| n.contains(code))
    }

    /// Whether the user may do `permission` on data under `code`.
    pub fn allows(&self, permission: Permission, code: &DivisionCode) -> bool {
        self.role.may(permission) && self.covers(code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code(s: &str) -> DivisionCode {
        DivisionCode::parse(s).unwrap()
    }

    #[test]
    fn covers_its_subtrees_only() {
        let scope = Scope::new(Role::GridWorker, vec![code("440307003002"), code("440307003")]);
        assert_eq!(scope.nodes(), [code("440307003")], "nested nodes collapse");
        assert!(scope.covers(&code("440307003004")));
        assert!(!scope.covers(&code("440307")), "not the parent");
        assert!(!scope.covers(&code("440307006001")));
        assert!(scope.allows(Permission::EditRegistry, &code("440307003002")));
        assert!(!scope.allows(Permission::ManageUsers, &code("440307003002")));
    }

    #[test]
    fn nobody_but_an_administrator_sees_without_nodes() {
        assert!(Scope::new(Role::Administrator, vec![]).covers(&code("11")));
        assert!(!Scope::new(Role::District, vec![]).covers(&code("11")));
        let provider = Scope::new(Role::ServiceProvider, vec![code("440307")]);
        assert!(!provider.allows(Permission::ViewRegistry, &code("440307003002")));
    }

    proptest! {
        #[test]
        fn covering_is_prefix_containment(node in "44030700[0-9]", other in "44030700[0-9][0-9]{3}") {
            let scope = Scope::new(Role::Specialist, vec![code(&node)]);
            prop_assert_eq!(scope.covers(&code(&other)), other.starts_with(&node));
        }
    }
}
