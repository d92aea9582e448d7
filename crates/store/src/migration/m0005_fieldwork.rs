//! Field work: what is recorded about residents' housing, work and phone, the
//! versioned tier rules, each resident's tier with its reasons and any override, the
//! list of tier changes, and visits (走访) with their outcomes.

use sea_orm_migration::prelude::*;

use super::schema::*;

migration!("m0005_fieldwork");

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(table! { resident_stability (
            county_code: text, resident_id: uuid, housing: text, work: text, phone_answered: boolean_null,
            recorded_at: timestamp, recorded_by: text,
        ) key(county_code, resident_id) })
            .await?;
        m.create_table(table! { tier_rules (
            version: integer.primary_key(), rules: text, created_at: timestamp, created_by: text,
        ) })
        .await?;
        m.create_table(table! { resident_tier (
            county_code: text, resident_id: uuid, community_code: text, tier: text, points: integer,
            reasons: text, rules_version: integer, computed_at: timestamp, override_tier: text_null,
            override_reason: text_null, override_by: text_null,
        ) key(county_code, resident_id) })
            .await?;
        m.create_index(index("resident_tier_community", "resident_tier", &["community_code", "tier"])).await?;
        m.create_table(table! { tier_change (
            id: uuid.primary_key(), county_code: text, resident_id: uuid, community_code: text,
            from_tier: text_null, to_tier: text, at: timestamp, cause: text,
        ) })
        .await?;
        m.create_index(index("tier_change_community", "tier_change", &["community_code", "at"])).await?;
        m.create_table(table! { visit (
            county_code: text,
            // Made by the page that recorded it, so a visit sent twice is stored once.
            id: uuid, household_id: uuid, community_code: text, building_id: uuid, floor_no: small,
            visited_on: date, outcome: text, notes: text, recorded_by: text, recorded_at: timestamp,
        ) key(county_code, id) })
            .await?;
        m.create_index(index("visit_community", "visit", &["community_code", "visited_on"])).await?;
        // 五定: who answers for each community, street, grid and building.
        m.create_table(table! { responsibility (
            county_code: text, node_kind: text, node_id: text, username: text, assigned_at: timestamp,
            assigned_by: text,
        ) key(county_code, node_kind, node_id) })
            .await?;
        Ok(())
    }
}
