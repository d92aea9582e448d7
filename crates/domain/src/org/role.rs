//! 角色 — what a user of jiceng does, and so what they may see and change.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// 网格员: records and verifies residents in one grid.
    GridWorker,
    /// 社区专干: the community family-service specialist.
    Specialist,
    /// 街道: the street/town office.
    Street,
    /// 区县: the district/county bureau.
    District,
    /// 服务提供者: provides health services, sees health-service data only.
    ServiceProvider,
    /// 管理员: manages users and configuration.
    Administrator,
}

impl Role {
    pub const ALL: [Role; 6] =
        [Role::GridWorker, Role::Specialist, Role::Street, Role::District, Role::ServiceProvider, Role::Administrator];

    pub fn key(self) -> &'static str {
        match self {
            Role::GridWorker => "grid_worker",
            Role::Specialist => "specialist",
            Role::Street => "street",
            Role::District => "district",
            Role::ServiceProvider => "service_provider",
            Role::Administrator => "administrator",
        }
    }

    pub fn from_key(key: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.key() == key.trim())
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Role::GridWorker => "网格员",
            Role::Specialist => "社区专干",
            Role::Street => "街道（乡镇）",
            Role::District => "区县",
            Role::ServiceProvider => "服务提供者",
            Role::Administrator => "管理员",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Role::GridWorker => "grid worker",
            Role::Specialist => "community specialist",
            Role::Street => "street/town office",
            Role::District => "district bureau",
            Role::ServiceProvider => "service provider",
            Role::Administrator => "administrator",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for role in Role::ALL {
            assert_eq!(Role::from_key(role.key()), Some(role));
        }
        assert_eq!(Role::from_key("nobody"), None);
    }
}
