//! 流动人口信息交换 (ADR 021): partner regions with their agreements and public keys
//! (private keys never enter the database), the packages sent and received with their
//! state (a received package's `applied` is how far an interrupted import got), the
//! records a partner refused in its acknowledgement and the records this side refused,
//! for the acknowledgement it owes; and handovers (委托交接) between communities with
//! what they hold in transit. Keyed by the county of this side.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0017_exchange");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { exchange_partner (
            county_code: text, partner_code: text, name: text, contact_name: text, contact_phone: text,
            starts_on: date, ends_on: date_null, fields: text, every_months: small, public_key: text,
            algorithm: text, key_fingerprint: text, department_id: uuid, added_at: timestamp, added_by: text,
            updated_at: timestamp, updated_by: text,
        ) key(county_code, partner_code) })
            .await?;
        m.create_table(table! { exchange_package (
            county_code: text, id: uuid, direction: text, partner_code: text, kind: text, sequence: big,
            period_from: timestamp_null, period_to: timestamp, created_at: timestamp, records: big, counts: text,
            digest: text, state: text, applied: big, delivered: big, refused: big, acknowledges: uuid_null,
            file_name: text, handled_at: timestamp, handled_by: text, finished_at: timestamp_null,
            acknowledged_at: timestamp_null,
        ) key(county_code, id) })
            .await?;
        // Sequences count per direction, partner and kind: a second package with a
        // sequence already used is a replay.
        m.create_index(
            index(
                "exchange_package_sequence",
                "exchange_package",
                &["county_code", "direction", "partner_code", "kind", "sequence"],
            )
            .unique()
            .take(),
        )
        .await?;
        m.create_table(table! { exchange_refused_record (
            county_code: text, package_id: uuid, record_id: uuid, kind: text, reason: text,
        ) key(county_code, package_id, record_id) })
            .await?;
        // The partner's latest roster: who it has living there, registered here.
        m.create_table(table! { exchange_roster (
            county_code: text, partner_code: text, record_id: uuid, package_id: uuid, name: text, sex: text_null,
            birth_date: date_null, id_number: text_null, region: text_null,
        ) key(county_code, partner_code, record_id) })
            .await?;
        m.create_table(table! { exchange_refusal (
            county_code: text, id: uuid, partner_code: text, package_id: uuid_null, reason: text, file_name: text,
            refused_at: timestamp, refused_by: text,
        ) key(county_code, id) })
            .await?;
        // 委托交接 inside this database: what is handed from which community to which
        // target, its state and how many households have moved (an interrupted move
        // resumes); the holds keep households and buildings in transit unchangeable —
        // keyed by the id alone, which every write's check looks up.
        m.create_table(table! { handover (
            county_code: text, id: uuid, kind: text, subject_id: uuid, subject_name: text, from_community: text,
            to_community: text, to_grid: uuid_null, to_building: uuid_null, to_unit: small_null, to_floor: small_null,
            to_room: text_null, state: text, households: big, moved: big, proposed_by: text, proposed_at: timestamp,
            decided_by: text_null, decided_at: timestamp_null, reason: text_null, completed_at: timestamp_null,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("handover_from", "handover", &["county_code", "from_community", "state"])).await?;
        m.create_index(index("handover_to", "handover", &["county_code", "to_community", "state"])).await?;
        m.create_table(table! { handover_hold (
            county_code: text, kind: text, subject_id: uuid, handover_id: uuid,
        ) key(county_code, subject_id) })
            .await?;
        Ok(())
    }
}
