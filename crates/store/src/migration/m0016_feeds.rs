//! 部门通报: departments that send notices, their API tokens (hashed), each batch
//! received and every record in it as received, with its outcome, its candidates for
//! review, the reviewers' decisions and the linkage models trained (ADR 020). A
//! department works for one county, so everything here is keyed by its county.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0016_feeds");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { department (
            county_code: text, id: uuid, code: text, name: text, kind: text, region_code: text,
            feeds: text, registered_at: timestamp, registered_by: text,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("department_code", "department", &["county_code", "code"]).unique().take()).await?;
        m.create_table(table! { feed_token (
            county_code: text, id: uuid, department_id: uuid, digest: text, label: text,
            created_at: timestamp, created_by: text, revoked_at: timestamp_null, revoked_by: text_null,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("feed_token_digest", "feed_token", &["digest"])).await?;
        m.create_table(table! { feed_batch (
            county_code: text, id: uuid, department_id: uuid, kind: text, source: text,
            received_at: timestamp, received_by: text, origin: text, rows: big,
        ) key(county_code, id) })
            .await?;
        m.create_table(table! { incoming_record (
            county_code: text, id: uuid, department_id: uuid, kind: text, record_key: text, batch_id: uuid,
            source_row: big, payload: text, occurred_on: date_null, effect: text_null, community_code: text_null,
            outcome: text, reason: text_null, person_id: uuid_null, probability: integer_null, event_id: uuid_null,
            duplicate_of: uuid_null, received_at: timestamp, decided_by: text_null, decided_at: timestamp_null,
        ) key(county_code, id) })
            .await?;
        // The same record sent again (a file uploaded twice, an API call retried) is one.
        m.create_index(
            index("incoming_record_once", "incoming_record", &["county_code", "department_id", "kind", "record_key"])
                .unique()
                .take(),
        )
        .await?;
        m.create_index(index(
            "incoming_record_outcome",
            "incoming_record",
            &["county_code", "outcome", "community_code"],
        ))
        .await?;
        m.create_index(index("incoming_record_person", "incoming_record", &["county_code", "person_id", "effect"]))
            .await?;
        m.create_index(index("incoming_record_batch", "incoming_record", &["county_code", "batch_id"])).await?;
        m.create_table(table! { linkage_candidate (
            county_code: text, incoming_id: uuid, person_id: uuid, rank: small, probability: integer, gamma: text,
        ) key(county_code, incoming_id, person_id) })
            .await?;
        m.create_table(table! { linkage_decision (
            county_code: text, id: uuid, incoming_id: uuid, person_id: uuid_null, accepted: boolean, gamma: text_null,
            probability: integer, decided_by: text, decided_at: timestamp,
        ) key(county_code, id) })
            .await?;
        m.create_table(table! { linkage_model (
            county_code: text, id: uuid, trained_at: timestamp, trained_by: text, source: text, model: text,
        ) key(county_code, id) })
            .await?;
        Ok(())
    }
}
