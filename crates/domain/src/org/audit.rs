//! 审计 — the record of who read or changed personal data, when, from where and why.
//!
//! Entries form a hash chain: each commits to the one before it, so an edited,
//! removed or reordered entry is detected by [`verify_chain`].

use sha2::{Digest, Sha256};

/// What was done with personal data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// A resident's record page or API record was opened.
    ReadResident,
    /// A household's members were listed.
    ReadHousehold,
    /// A search returned people.
    Search,
    /// A list of residents was exported.
    Export,
    /// Personal data was created or changed.
    Write,
    /// Somebody logged in (or failed to).
    Login,
    /// A user account was created or changed.
    ManageUser,
    /// Rules or settings were changed (tier rules, a month approved or reopened).
    Configure,
    /// Every county chain's head, recorded in the system chain (so a verify of the
    /// whole log also catches a county chain cut short before the anchor).
    Anchor,
}

impl AuditAction {
    pub const ALL: [AuditAction; 9] = [
        AuditAction::ReadResident,
        AuditAction::ReadHousehold,
        AuditAction::Search,
        AuditAction::Export,
        AuditAction::Write,
        AuditAction::Login,
        AuditAction::ManageUser,
        AuditAction::Configure,
        AuditAction::Anchor,
    ];

    pub fn key(self) -> &'static str {
        match self {
            AuditAction::ReadResident => "read_resident",
            AuditAction::ReadHousehold => "read_household",
            AuditAction::Search => "search",
            AuditAction::Export => "export",
            AuditAction::Write => "write",
            AuditAction::Login => "login",
            AuditAction::ManageUser => "manage_user",
            AuditAction::Configure => "configure",
            AuditAction::Anchor => "anchor",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.key() == key)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AuditAction::ReadResident => "查看居民",
            AuditAction::ReadHousehold => "查看户",
            AuditAction::Search => "查询",
            AuditAction::Export => "导出",
            AuditAction::Write => "修改",
            AuditAction::Login => "登录",
            AuditAction::ManageUser => "管理用户",
            AuditAction::Configure => "设置",
            AuditAction::Anchor => "锚定各县链头",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            AuditAction::ReadResident => "read resident",
            AuditAction::ReadHousehold => "read household",
            AuditAction::Search => "search",
            AuditAction::Export => "export",
            AuditAction::Write => "change",
            AuditAction::Login => "login",
            AuditAction::ManageUser => "manage users",
            AuditAction::Configure => "settings",
            AuditAction::Anchor => "anchor of county chains",
        }
    }
}

/// Why sensitive data was opened, chosen from a list (PIPL: purpose limitation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccessPurpose {
    /// 核实信息: verifying the record.
    Verification,
    /// 办理服务: providing a service the resident asked for.
    Service,
    /// 变更登记: recording a change.
    RecordChange,
    /// 统计核查: checking statistics.
    Statistics,
    /// 居民本人查询: the resident asked what is recorded about them.
    ResidentRequest,
}

impl AccessPurpose {
    pub const ALL: [AccessPurpose; 5] = [
        AccessPurpose::Verification,
        AccessPurpose::Service,
        AccessPurpose::RecordChange,
        AccessPurpose::Statistics,
        AccessPurpose::ResidentRequest,
    ];

    pub fn key(self) -> &'static str {
        match self {
            AccessPurpose::Verification => "verification",
            AccessPurpose::Service => "service",
            AccessPurpose::RecordChange => "record_change",
            AccessPurpose::Statistics => "statistics",
            AccessPurpose::ResidentRequest => "resident_request",
        }
    }

    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            AccessPurpose::Verification => "核实信息",
            AccessPurpose::Service => "办理服务",
            AccessPurpose::RecordChange => "变更登记",
            AccessPurpose::Statistics => "统计核查",
            AccessPurpose::ResidentRequest => "居民本人查询",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            AccessPurpose::Verification => "verifying the record",
            AccessPurpose::Service => "providing a service",
            AccessPurpose::RecordChange => "recording a change",
            AccessPurpose::Statistics => "checking statistics",
            AccessPurpose::ResidentRequest => "the resident's own request",
        }
    }
}

/// The fields of an entry that the chain protects, in a fixed order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFields {
    pub seq: i64,
    /// RFC 3339 UTC timestamp, as stored.
    pub at: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub county: String,
    pub origin: String,
    pub purpose: String,
    pub detail: String,
}

/// The hash of the chain before its first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SHA-256 over the previous hash and the entry's fields, each length-prefixed so
/// that no two different entries serialise the same way.
pub fn entry_hash(previous: &str, fields: &AuditFields) -> String {
    let mut hasher = Sha256::new();
    let seq = fields.seq.to_string();
    for part in [
        previous,
        seq.as_str(),
        &fields.at,
        &fields.actor,
        &fields.action,
        &fields.target,
        &fields.county,
        &fields.origin,
        &fields.purpose,
        &fields.detail,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    format!("{:x}", hasher.finalize())
}

/// Where a chain first goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error(
        "第{seq}条记录之前缺少记录（应为第{expected}条）/ entries missing before entry {seq} (expected {expected}): removed or reordered"
    )]
    Gap { seq: i64, expected: i64 },
    #[error("第{seq}条记录的前序哈希不符 / entry {seq} does not follow the entry before it: removed or reordered")]
    Link { seq: i64 },
    #[error("第{seq}条记录的内容与哈希不符 / entry {seq} was altered: its content does not match its hash")]
    Content { seq: i64 },
}

/// One stored entry: its protected fields and the two hashes stored with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    pub fields: AuditFields,
    pub previous_hash: String,
    pub hash: String,
}

/// Checks entries in `seq` order, continuing from `previous` (the hash before the
/// first one given) and `expected_seq`. Returns the last hash, or the first break.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a StoredEntry>,
    mut previous: String,
    mut expected_seq: i64,
) -> Result<String, ChainBreak> {
    for entry in entries {
        let seq = entry.fields.seq;
        if seq != expected_seq {
            return Err(ChainBreak::Gap { seq, expected: expected_seq });
        }
        if entry.previous_hash != previous {
            return Err(ChainBreak::Link { seq });
        }
        if entry_hash(&previous, &entry.fields) != entry.hash {
            return Err(ChainBreak::Content { seq });
        }
        previous = entry.hash.clone();
        expected_seq += 1;
    }
    Ok(previous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<StoredEntry> {
        let mut previous = GENESIS.to_string();
        (1..=n)
            .map(|seq| {
                let fields = AuditFields {
                    seq,
                    at: format!("2026-11-24T08:00:{seq:02}Z"),
                    actor: "wang".into(),
                    action: "read_resident".into(),
                    target: format!("resident/{seq}"),
                    county: "440307".into(),
                    origin: "127.0.0.1".into(),
                    purpose: "verification".into(),
                    detail: String::new(),
                };
                let hash = entry_hash(&previous, &fields);
                let entry = StoredEntry { fields, previous_hash: previous.clone(), hash: hash.clone() };
                previous = hash;
                entry
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let entries = chain(5);
        assert_eq!(verify_chain(&entries, GENESIS.into(), 1), Ok(entries[4].hash.clone()));
    }

    #[test]
    fn edits_removals_and_reorders_are_caught() {
        let mut edited = chain(5);
        edited[2].fields.actor = "li".into();
        assert_eq!(verify_chain(&edited, GENESIS.into(), 1), Err(ChainBreak::Content { seq: 3 }));

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(verify_chain(&removed, GENESIS.into(), 1), Err(ChainBreak::Gap { seq: 3, expected: 2 }));

        // Removing an entry and renumbering the rest breaks the links.
        let mut renumbered = chain(5);
        renumbered.remove(1);
        for (i, e) in renumbered.iter_mut().enumerate() {
            e.fields.seq = i as i64 + 1;
        }
        assert!(verify_chain(&renumbered, GENESIS.into(), 1).is_err());

        let mut reordered = chain(5);
        reordered.swap(1, 2);
        let (a, b) = (reordered[1].fields.seq, reordered[2].fields.seq);
        reordered[1].fields.seq = b;
        reordered[2].fields.seq = a;
        assert!(verify_chain(&reordered, GENESIS.into(), 1).is_err());

        // Truncating the tail is caught by comparing with the stored head.
        let entries = chain(5);
        let head = verify_chain(&entries[..4], GENESIS.into(), 1).unwrap();
        assert_ne!(head, entries[4].hash);
    }
}
