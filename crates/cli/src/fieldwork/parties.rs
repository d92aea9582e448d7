//! Demo landlords and employers: a few in the first community, with the units they let
//! and one report of a new tenant waiting for the community's review.

use anyhow::Context;
use jiceng_domain::fieldwork::{Movement, PartyKind, PartyLine};
use jiceng_domain::org::{DivisionCode, Role};
use jiceng_domain::registry::{Ethnicity, IdNumber, PersonName, Phone};
use jiceng_store::Store;
use jiceng_store::fieldwork::NewParty;
use jiceng_store::reporting::Actor;

/// How many parties the demo registers (none when the community already has some).
pub async fn demo(store: &Store, county: &DivisionCode) -> anyhow::Result<usize> {
    let caller = jiceng_store::Caller::local("demo");
    let fieldwork = store.fieldwork_by(&caller);
    let registry = fieldwork.registry();
    let Some(community) = jiceng_store::org::reference::communities_under(county)?.into_iter().next() else {
        return Ok(0);
    };
    let community = community.code;
    if !fieldwork.parties_under(&community).await?.is_empty() {
        return Ok(0);
    }
    let Some(grid) = registry.grids_in_community(&community).await?.into_iter().next() else { return Ok(0) };
    let buildings = registry.buildings_in_grid(county, grid.grid.id).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let actor = Actor { username: "demo", role: Role::GridWorker };
    let parties = [
        (PartyKind::Landlord, "陈房东", "陈先生", "13800138001"),
        (PartyKind::Employer, "龙岗电子厂宿舍", "人事部 李女士", "075528880001"),
    ];
    let mut registered = 0;
    for ((kind, name, contact, phone), building) in parties.into_iter().zip(&buildings) {
        let party = fieldwork
            .register_party(&NewParty {
                county: county.clone(),
                community: community.clone(),
                kind,
                name: name.into(),
                contact: contact.into(),
                phone: Phone::parse(phone).context("demo phone")?,
            })
            .await?;
        let households = registry.households_in_building(county, building.building.id).await?;
        for h in households.iter().take(3) {
            fieldwork.add_party_unit(county, party, &h.household_no).await?;
        }
        // A new arrival reported by the party, waiting in the community's queue.
        let Some(unit) = households.first() else { continue };
        let birth = today - time::Duration::days(365 * 27 + 40);
        let id = IdNumber::from_parts("430521", birth, 120 + registered as u16).context("demo ID number")?;
        let line = PartyLine {
            movement: Movement::Arrival,
            name: PersonName::parse(if registered == 0 { "吴新租" } else { "赵入职" }).context("demo name")?,
            id_number: id,
            phone: None,
            date: today - time::Duration::days(2),
            unit: Some(unit.household_no.clone()),
            ethnicity: Some(Ethnicity::HAN),
        };
        let submitted = fieldwork.submit_party_lines(county, party, &[(1, line)], "演示 demo", actor, today).await?;
        if let Err(problems) = submitted {
            anyhow::bail!("demo party report refused: {problems:?}");
        }
        registered += 1;
    }
    Ok(registered)
}
