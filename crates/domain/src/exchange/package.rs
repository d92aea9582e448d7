//! 流动人口"一盘棋": what the region a migrant lives in and the region they are
//! registered in tell each other. A package carries a manifest (who sends it to whom,
//! for which period, how many records of each kind) and records that are department
//! feed rows (`linkage::feed`), so the receiver reads them with the same checks and
//! links them with the same model as a department's notices. What is allowed through
//! is the partners' agreement: fields it does not list are never written.
//!
//! The bytes (signature, digests, compression) are `files::exchange::package`'s; the
//! state of what was received is the store's. This module decides what is acceptable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Date, Duration, OffsetDateTime};
use uuid::Uuid;

use crate::linkage::feed::{FeedColumn, FeedKind, ResidenceChange};
use crate::org::DivisionCode;
use crate::registry::codes::coded_enum;

/// The format's version. A reader refuses any other, naming both.
pub const SCHEMA_VERSION: u32 = 1;

/// How long a package may be imported after it is made. Older ones are refused as
/// expired, so a package found on an old disk cannot be played in later.
pub const VALID_DAYS: i64 = 90;

coded_enum!(
    /// What a package is for.
    PackageKind {
        Exchange => ("exchange", "信息交换", "exchange"),
        Acknowledgement => ("acknowledgement", "回执", "acknowledgement"),
        Handover => ("handover", "委托交接", "handover"),
    }
);

coded_enum!(
    /// The kinds of record a package carries. An acknowledgement lists only the records
    /// it refused; every other record of the package it answers was delivered. The
    /// roster (`presence`: who the sender has living there, registered with the
    /// receiver) is for the half-yearly reconciliation, not a change.
    RecordKind {
        Arrival => ("arrival", "流入登记", "arrival"),
        Departure => ("departure", "离开", "departure"),
        AddressChange => ("address_change", "居住地址变更", "address change"),
        Birth => ("birth", "出生", "birth"),
        Death => ("death", "死亡", "death"),
        Marriage => ("marriage", "结婚", "marriage"),
        Divorce => ("divorce", "离婚", "divorce"),
        Refused => ("refused", "拒收", "refused"),
        Presence => ("presence", "在住名单", "living here (roster)"),
    }
);

coded_enum!(
    /// 交换字段: what an agreement may let through beyond the record itself (its
    /// number, date, kind and the person's name, which every record needs).
    SharedField {
        Sex => ("sex", "性别", "sex"),
        BirthDate => ("dob", "出生日期", "date of birth"),
        IdNumber => ("id_number", "公民身份号码", "identity number"),
        Phone => ("phone", "联系电话", "phone"),
        Address => ("address", "居住地址", "address"),
        Partner => ("partner", "配偶姓名及身份号码", "spouse's name and identity number"),
        ChildName => ("child_name", "婴儿姓名", "baby's name"),
    }
);

impl SharedField {
    /// The feed columns this field lets through.
    pub fn columns(self) -> &'static [FeedColumn] {
        match self {
            SharedField::Sex => &[FeedColumn::Sex],
            SharedField::BirthDate => &[FeedColumn::BirthDate],
            SharedField::IdNumber => &[FeedColumn::IdNumber],
            SharedField::Phone => &[FeedColumn::Phone],
            SharedField::Address => &[FeedColumn::Address],
            SharedField::Partner => &[FeedColumn::PartnerName, FeedColumn::PartnerIdNumber],
            SharedField::ChildName => &[FeedColumn::ChildName],
        }
    }

    /// Reads a comma- or space-separated list of keys or labels.
    pub fn parse_list(text: &str) -> Result<Vec<SharedField>, String> {
        let mut fields = Vec::new();
        for part in text.split([',', '，', ' ', '、']).map(str::trim).filter(|p| !p.is_empty()) {
            let field = SharedField::from_text(part).ok_or_else(|| {
                format!(
                    "未知的交换字段“{part}”（可用：{}）/ unknown field '{part}' (one of: {})",
                    SharedField::ALL.iter().map(|f| f.label_zh()).collect::<Vec<_>>().join("、"),
                    SharedField::ALL.iter().map(|f| f.key()).collect::<Vec<_>>().join(", ")
                )
            })?;
            if !fields.contains(&field) {
                fields.push(field);
            }
        }
        Ok(fields)
    }
}

impl PackageKind {
    /// Whether a package of this kind may carry records of `kind`: an acknowledgement
    /// only refusals, the others only changes and the roster.
    pub fn carries(self, kind: RecordKind) -> bool {
        match self {
            PackageKind::Acknowledgement => kind == RecordKind::Refused,
            PackageKind::Exchange | PackageKind::Handover => kind != RecordKind::Refused,
        }
    }
}

impl RecordKind {
    /// The feed kind a record of this kind is read as (and, for a residence record, its
    /// change). `None` for acknowledgement and roster lines.
    pub fn feed(self) -> Option<(FeedKind, Option<ResidenceChange>)> {
        Some(match self {
            RecordKind::Arrival => (FeedKind::Residence, Some(ResidenceChange::Arrival)),
            RecordKind::Departure => (FeedKind::Residence, Some(ResidenceChange::Departure)),
            RecordKind::AddressChange => (FeedKind::Residence, Some(ResidenceChange::AddressChange)),
            RecordKind::Birth => (FeedKind::HospitalBirth, None),
            RecordKind::Death => (FeedKind::Death, None),
            RecordKind::Marriage => (FeedKind::Marriage, None),
            RecordKind::Divorce => (FeedKind::Divorce, None),
            RecordKind::Refused | RecordKind::Presence => return None,
        })
    }
}

/// 协作协议: what two regions agreed to exchange, from when, how often.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agreement {
    pub starts_on: Date,
    pub ends_on: Option<Date>,
    pub fields: Vec<SharedField>,
    /// How often packages are due each way (the seeds: every half year).
    pub every_months: u8,
}

impl Agreement {
    pub fn in_force(&self, on: Date) -> bool {
        self.starts_on <= on && self.ends_on.is_none_or(|end| on <= end)
    }

    /// When the next package is due, counted from the last one (or the agreement's start).
    pub fn next_due(&self, last: Option<Date>) -> Date {
        add_months(last.unwrap_or(self.starts_on), self.every_months)
    }

    /// Whether `column` may be written: the record's own columns always, the person's
    /// other details only where the agreement lists them.
    pub fn lets_through(&self, kind: FeedKind, column: FeedColumn) -> bool {
        let required = kind.columns().iter().any(|(c, required)| *c == column && *required);
        required
            || column == FeedColumn::ChangeType
            || column == FeedColumn::Region
            || self.fields.iter().any(|f| f.columns().contains(&column))
    }
}

fn add_months(date: Date, months: u8) -> Date {
    let total = date.year() * 12 + (date.month() as i32 - 1) + i32::from(months);
    let (year, month) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u8);
    let month = time::Month::try_from(month).unwrap_or(time::Month::January);
    let day = date.day().min(time::util::days_in_month(month, year));
    Date::from_calendar_date(year, month, day).unwrap_or(date)
}

/// The manifest: the first thing a package says, checked before any record is read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub package_id: Uuid,
    /// A [`PackageKind`] key.
    pub kind: String,
    pub sender: DivisionCode,
    pub sender_name: String,
    pub receiver: DivisionCode,
    pub receiver_name: String,
    /// Counts the sender's packages to this receiver (of this kind) from 1: a package
    /// below one already received is a replay.
    pub sequence: u64,
    #[serde(with = "time::serde::rfc3339::option")]
    pub period_from: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub period_to: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// The [`SharedField`] keys the agreement lets through.
    pub fields: Vec<String>,
    /// Records per [`RecordKind`] key.
    pub counts: BTreeMap<String, u64>,
    /// For an acknowledgement: the package it answers, and how many of its records
    /// were delivered.
    pub acknowledges: Option<Uuid>,
    pub delivered: Option<u64>,
    /// The signing key's fingerprint and algorithm (`ed25519` or `sm2`).
    pub key: String,
    pub algorithm: String,
}

impl Manifest {
    /// A manifest of `kind` from `sender` to `receiver`, made `now` for the period up to
    /// then and valid for [`VALID_DAYS`]; names, fields and the answered package as the
    /// caller sets them. The writer fills in the counts, key and algorithm.
    pub fn new(
        kind: PackageKind,
        sender: DivisionCode,
        receiver: DivisionCode,
        sequence: u64,
        now: OffsetDateTime,
    ) -> Manifest {
        Manifest {
            schema_version: SCHEMA_VERSION,
            package_id: Uuid::now_v7(),
            kind: kind.key().into(),
            sender,
            sender_name: String::new(),
            receiver,
            receiver_name: String::new(),
            sequence,
            period_from: None,
            period_to: now,
            created_at: now,
            expires_at: expires_at(now),
            fields: Vec::new(),
            counts: BTreeMap::new(),
            acknowledges: None,
            delivered: None,
            key: String::new(),
            algorithm: String::new(),
        }
    }

    pub fn records(&self) -> u64 {
        self.counts.values().sum()
    }

    pub fn package_kind(&self) -> Option<PackageKind> {
        PackageKind::from_key(&self.kind)
    }
}

/// One record: its position, the sender's id for it (a record sent again keeps its
/// id), its kind and its cells under the feed kind's English headings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRecord {
    pub n: u64,
    pub id: Uuid,
    pub kind: String,
    pub fields: BTreeMap<String, String>,
}

impl PackageRecord {
    /// The feed kind and cells the receiver reads the record as. The change of a
    /// residence record comes from its kind, whatever its cells say.
    pub fn feed_cells(&self) -> Result<(FeedKind, Vec<(FeedColumn, String)>), String> {
        let kind = RecordKind::from_key(&self.kind)
            .ok_or_else(|| format!("未知的记录类型“{}” / unknown record kind '{}'", self.kind, self.kind))?;
        let (feed, change) = kind.feed().ok_or_else(|| {
            "回执或在住名单不是变动记录 / an acknowledgement or roster line is not a change".to_string()
        })?;
        let mut cells = Vec::with_capacity(self.fields.len() + 1);
        for (key, value) in &self.fields {
            let column =
                FeedColumn::of_heading(feed, key).ok_or_else(|| format!("未知字段“{key}” / unknown field '{key}'"))?;
            if column != FeedColumn::ChangeType {
                cells.push((column, value.clone()));
            }
        }
        if let Some(change) = change {
            cells.push((FeedColumn::ChangeType, change.key().to_string()));
        }
        Ok((feed, cells))
    }
}

/// Why a package is refused, whole. Nothing of a refused package is applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("不是 jiceng 交换包 / not a jiceng exchange package")]
    NotAPackage,
    #[error(
        "交换包格式版本 {0} 不受支持（本系统读取版本 {SCHEMA_VERSION}）/ package format version {0} is not supported (this system reads version {SCHEMA_VERSION})"
    )]
    Version(u32),
    #[error("交换包已损坏：{0} / the package is damaged: {0}")]
    Damaged(String),
    #[error("交换包不完整：在签名之前结束（可能被截断）/ the package is truncated: it ends before its signature")]
    Truncated,
    #[error("第 {0} 条记录的摘要不符：记录被改动 / record {0}'s digest does not match: the record was altered")]
    RecordDigest(u64),
    #[error(
        "记录数与清单不符：清单为 {declared} 条，实有 {found} 条 / the manifest declares {declared} records; the package holds {found}"
    )]
    Count { declared: u64, found: u64 },
    #[error(
        "签名无效：交换包在签署后被改动 / the signature does not verify: the package was altered after it was signed"
    )]
    Signature,
    #[error(
        "交换包由密钥 {found} 签署，而 {partner} 登记的密钥为 {registered} / the package is signed with key {found}; the key registered for {partner} is {registered}"
    )]
    WrongKey { partner: String, found: String, registered: String },
    #[error(
        "交换包发给 {receiver}，本系统不管理该地区 / the package is addressed to {receiver}, which this system does not hold"
    )]
    Misaddressed { receiver: String },
    #[error("{sender} 不是 {receiver} 的协作地区 / {sender} is not a partner region of {receiver}")]
    UnknownSender { sender: String, receiver: String },
    #[error("与 {partner} 的协议在 {on} 不在有效期内 / the agreement with {partner} is not in force on {on}")]
    AgreementNotInForce { partner: String, on: Date },
    #[error("交换包已于 {0} 过期 / the package expired on {0}")]
    Expired(Date),
    #[error(
        "重放：{sender} 的第 {sequence} 号交换包早于已接收的第 {last} 号，请对方重新导出 / replayed: package {sequence} from {sender} is older than package {last} already received; ask for a new export"
    )]
    Replayed { sender: String, sequence: u64, last: u64 },
    #[error("已接收过编号相同而内容不同的交换包 / a different package with the same id was received before")]
    Conflicting,
    #[error(
        "回执所答复的交换包 {0} 不是本系统发出的 / the acknowledgement answers package {0}, which this system did not send"
    )]
    UnknownAcknowledged(Uuid),
    #[error("交换包中有不可读的记录：第 {n} 条：{reason} / record {n} cannot be read: {reason}")]
    BadRecord { n: u64, reason: String },
}

/// What the receiver already knows of a package with this id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// Never received.
    New,
    /// Received, with this file digest; `applied` records of it are applied (all, once
    /// finished).
    Before { same_content: bool, finished: bool, applied: u64 },
}

/// What to do with a package whose signature and digests verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Apply from the first record.
    Apply,
    /// An interrupted import of this package: apply from record `from` + 1.
    Resume { from: u64 },
    /// Applied before: nothing changes.
    AlreadyApplied,
}

/// Decides whether a verified package may be applied: not expired, not older than the
/// newest package already received from the sender, not a different package under an
/// id already used. `last_sequence` is the highest sequence received from the sender
/// (of this kind).
pub fn admit(
    manifest: &Manifest,
    now: OffsetDateTime,
    seen: Seen,
    last_sequence: Option<u64>,
) -> Result<Admission, Refusal> {
    match seen {
        Seen::Before { same_content: false, .. } => return Err(Refusal::Conflicting),
        Seen::Before { finished: true, .. } => return Ok(Admission::AlreadyApplied),
        Seen::Before { finished: false, applied, .. } => return Ok(Admission::Resume { from: applied }),
        Seen::New => {}
    }
    // Never later than the rule says, whatever the sender wrote; and not made in the future.
    let expires = manifest.expires_at.min(expires_at(manifest.created_at));
    if now > expires {
        return Err(Refusal::Expired(expires.date()));
    }
    if manifest.created_at > now + Duration::days(1) {
        return Err(Refusal::Damaged(format!(
            "交换包的制作时间 {} 在将来 / the package says it was made on {}, in the future",
            manifest.created_at.date(),
            manifest.created_at.date()
        )));
    }
    if let Some(last) = last_sequence
        && manifest.sequence <= last
    {
        return Err(Refusal::Replayed {
            sender: manifest.sender.as_str().to_string(),
            sequence: manifest.sequence,
            last,
        });
    }
    Ok(Admission::Apply)
}

/// When a package made at `created_at` expires.
pub fn expires_at(created_at: OffsetDateTime) -> OffsetDateTime {
    created_at + Duration::days(VALID_DAYS)
}

/// Whether `registered_residence` (户籍地) lies in the partner's area (a county, or a
/// whole city).
pub fn in_partner_area(partner: &DivisionCode, registered_residence: &DivisionCode) -> bool {
    partner.contains(registered_residence) || partner == registered_residence
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn manifest() -> Manifest {
        Manifest {
            package_id: Uuid::nil(),
            sender_name: "龙岗区".into(),
            receiver_name: "武陵区".into(),
            period_to: datetime!(2026-06-30 16:00 UTC),
            counts: BTreeMap::from([("arrival".into(), 2), ("death".into(), 1)]),
            key: "ab".into(),
            algorithm: "ed25519".into(),
            ..Manifest::new(
                PackageKind::Exchange,
                DivisionCode::parse("440307").unwrap(),
                DivisionCode::parse("430702").unwrap(),
                3,
                datetime!(2026-07-01 02:00 UTC),
            )
        }
    }

    #[test]
    fn admission() {
        let m = manifest();
        let now = datetime!(2026-07-05 00:00 UTC);
        assert_eq!(m.records(), 3);
        assert_eq!(admit(&m, now, Seen::New, None), Ok(Admission::Apply));
        assert_eq!(admit(&m, now, Seen::New, Some(2)), Ok(Admission::Apply));
        assert!(matches!(admit(&m, now, Seen::New, Some(3)), Err(Refusal::Replayed { last: 3, .. })));
        assert!(matches!(admit(&m, now, Seen::New, Some(5)), Err(Refusal::Replayed { .. })));
        let later = datetime!(2026-10-01 00:00 UTC);
        assert_eq!(admit(&m, later, Seen::New, None), Err(Refusal::Expired(date!(2026 - 09 - 29))));
        // The same package again: nothing to do, even after it expired.
        let done = Seen::Before { same_content: true, finished: true, applied: 3 };
        assert_eq!(admit(&m, later, done, Some(3)), Ok(Admission::AlreadyApplied));
        let half = Seen::Before { same_content: true, finished: false, applied: 1 };
        assert_eq!(admit(&m, now, half, Some(3)), Ok(Admission::Resume { from: 1 }));
        // A sender cannot make its package last longer than the rule, nor date it ahead.
        let greedy = Manifest { expires_at: datetime!(2099-01-01 00:00 UTC), ..m.clone() };
        assert!(matches!(admit(&greedy, later, Seen::New, None), Err(Refusal::Expired(_))));
        let ahead = Manifest { created_at: datetime!(2026-08-01 00:00 UTC), ..m.clone() };
        assert!(matches!(admit(&ahead, now, Seen::New, None), Err(Refusal::Damaged(_))));
        assert!(PackageKind::Acknowledgement.carries(RecordKind::Refused));
        assert!(!PackageKind::Acknowledgement.carries(RecordKind::Death));
        assert!(!PackageKind::Exchange.carries(RecordKind::Refused));
        let other = Seen::Before { same_content: false, finished: true, applied: 3 };
        assert_eq!(admit(&m, now, other, Some(3)), Err(Refusal::Conflicting));
    }

    #[test]
    fn agreements_let_through_only_what_they_list() {
        let a = Agreement {
            starts_on: date!(2026 - 01 - 01),
            ends_on: None,
            fields: vec![SharedField::IdNumber],
            every_months: 6,
        };
        assert!(a.lets_through(FeedKind::Residence, FeedColumn::Name));
        assert!(a.lets_through(FeedKind::Residence, FeedColumn::Region));
        assert!(a.lets_through(FeedKind::Residence, FeedColumn::IdNumber));
        assert!(!a.lets_through(FeedKind::Residence, FeedColumn::Phone));
        assert!(!a.lets_through(FeedKind::Marriage, FeedColumn::PartnerIdNumber));
        assert_eq!(a.next_due(None), date!(2026 - 07 - 01));
        assert_eq!(a.next_due(Some(date!(2026 - 08 - 31))), date!(2027 - 02 - 28));
        assert!(a.in_force(date!(2026 - 03 - 01)));
        assert!(!a.in_force(date!(2025 - 12 - 31)));
        assert_eq!(
            SharedField::parse_list("id_number, 联系电话").unwrap(),
            vec![SharedField::IdNumber, SharedField::Phone]
        );
        assert!(SharedField::parse_list("religion").is_err());
    }

    #[test]
    fn records_read_as_feed_rows() {
        let record = PackageRecord {
            n: 1,
            id: Uuid::nil(),
            kind: "arrival".into(),
            fields: BTreeMap::from([
                ("record_no".into(), "r1".into()),
                ("changed_on".into(), "2026-05-01".into()),
                ("name".into(), "张三".into()),
                ("region".into(), "440307".into()),
                ("change_type".into(), "departure".into()),
            ]),
        };
        let (kind, cells) = record.feed_cells().unwrap();
        assert_eq!(kind, FeedKind::Residence);
        let cells: Vec<(FeedColumn, &str)> = cells.iter().map(|(c, t)| (*c, t.as_str())).collect();
        let read = crate::linkage::feed::read_record(kind, &cells).unwrap();
        assert!(matches!(
            read.details,
            crate::linkage::FeedDetails::Residence { change: ResidenceChange::Arrival, .. }
        ));
        let mut bad = record.clone();
        bad.fields.insert("religion".into(), "x".into());
        assert!(bad.feed_cells().is_err());
    }

    #[test]
    fn partner_areas() {
        let city = DivisionCode::parse("4307").unwrap();
        let county = DivisionCode::parse("430702").unwrap();
        assert!(in_partner_area(&city, &county));
        assert!(in_partner_area(&county, &county));
        assert!(!in_partner_area(&county, &DivisionCode::parse("430703").unwrap()));
    }
}
