//! The demo's inter-region exchange and a handover: the county's key pair in the data
//! directory (where the server signs with it), the region most of its migrants are
//! registered in as a partner, a package sent there, a package from there (played by a
//! key pair the demo keeps for it under `exchange-keys/partners/`) with arrivals,
//! a death and a birth about the county's own residents and a record it cannot read,
//! the acknowledgements both ways, and a building of one community proposed to
//! another, waiting for the receiving side.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use jiceng_domain::exchange::handover::HandoverKind;
use jiceng_domain::exchange::package::{Agreement, Manifest, PackageKind, RecordKind, SharedField};
use jiceng_domain::org::{DivisionCode, DivisionLevel, Role, Scope};
use jiceng_domain::registry::{ResidenceStatus, Sex};
use jiceng_files::exchange::package::{self as files, Algorithm, PackageWriter, PrivateKey, PublicKey};
use jiceng_store::exchange::{HandoverTarget, NewHandover, NewPartner, PackageImportOptions};
use jiceng_store::registry::{ResidentVersion, SearchQuery};
use jiceng_store::{Caller, Store};
use time::OffsetDateTime;
use uuid::Uuid;

/// What the demo exchanged.
pub struct DemoExchange {
    pub partner: DivisionCode,
    pub sent: u64,
    pub received: u64,
    pub events: u64,
}

/// The key pair in `dir`, made there if it is not yet.
fn key_pair(dir: &Path, algorithm: Algorithm) -> anyhow::Result<(PrivateKey, PublicKey)> {
    let private = dir.join("private.key");
    if !private.exists() {
        files::keygen(dir, algorithm)?;
    }
    let key = PrivateKey::read(&private)?;
    let public = key.public();
    Ok((key, public))
}

/// Runs once per county: skipped when it has partners already.
pub async fn demo(store: &Store, county: &DivisionCode, data_dir: &Path) -> anyhow::Result<Option<DemoExchange>> {
    let caller = Caller::local("demo");
    let exchange = store.exchange_by(&caller);
    if exchange.partners().await?.iter().any(|p| &p.county == county) {
        return Ok(None);
    }
    let scope = Scope::new(Role::District, vec![county.clone()]);
    let people = store.registry_in(&scope).search(&SearchQuery::Name(String::new()), 3000).await?;
    // The partner: where most of the county's migrants are registered.
    let mut origins: HashMap<DivisionCode, usize> = HashMap::new();
    for p in people.iter().filter(|p| p.facts.residence_status == ResidenceStatus::Inflow) {
        if let Some(c) = p.facts.registered_residence.at_level(DivisionLevel::County)
            && &c != county
        {
            *origins.entry(c).or_default() += 1;
        }
    }
    let Some(partner) = origins.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(&a.0))).map(|(c, _)| c) else {
        return Ok(None);
    };
    let partner_name = store
        .divisions()
        .names(std::slice::from_ref(&partner))
        .await?
        .remove(&partner)
        .unwrap_or_else(|| partner.to_string());
    let keys = data_dir.join("exchange-keys");
    let (ours, _) = key_pair(&keys.join(county.as_str()), Algorithm::Ed25519)?;
    let (theirs, their_public) = key_pair(&keys.join("partners").join(partner.as_str()), Algorithm::Sm2)?;
    let today = OffsetDateTime::now_utc().date();
    let starts_on = time::Date::from_calendar_date(today.year() - 1, time::Month::January, 1)?;
    let added = exchange
        .add_partner(&NewPartner {
            county: county.clone(),
            partner: partner.clone(),
            name: partner_name.clone(),
            contact_name: "流动人口服务中心".into(),
            contact_phone: "0736-7220000".into(),
            agreement: Agreement {
                starts_on,
                ends_on: None,
                fields: vec![SharedField::Sex, SharedField::BirthDate, SharedField::IdNumber, SharedField::ChildName],
                every_months: 6,
            },
            public_key: their_public,
        })
        .await?;
    let out = data_dir.join("exchange-demo");
    std::fs::create_dir_all(&out)?;
    let now = OffsetDateTime::now_utc();
    let sent = exchange.export(&added, &ours, None, now, &out.join(format!("to-{partner}-1.jxp"))).await?;

    // The partner's package: our registered residents who now live there, one who died
    // there (its record has no ID number: the linkage finds her), a birth to one of our
    // mothers, and a record with no name.
    let registered: Vec<&ResidentVersion> = people
        .iter()
        .filter(|p| p.facts.residence_status == ResidenceStatus::Registered && p.facts.identity.number().is_some())
        .collect();
    let adults: Vec<&&ResidentVersion> =
        registered.iter().filter(|p| (20..60).contains(&p.facts.age_on(today))).collect();
    let mut writer = PackageWriter::new(theirs.algorithm)?;
    let day = |n: i64| (today - time::Duration::days(n)).to_string();
    let base = |p: &ResidentVersion, date_heading: &str, n: i64| {
        let mut fields = BTreeMap::from([
            (date_heading.to_string(), day(n)),
            ("name".to_string(), p.facts.name.to_string()),
            ("sex".to_string(), p.facts.sex.label_zh().to_string()),
            ("dob".to_string(), p.facts.birth_date.to_string()),
        ]);
        if let Some(id) = p.facts.identity.number() {
            fields.insert("id_number".into(), id.to_string());
        }
        fields
    };
    for (i, p) in adults.iter().take(3).enumerate() {
        let mut fields = base(p, "changed_on", 20 + i as i64);
        fields.insert("region".into(), format!("{partner}001001"));
        writer.push(RecordKind::Arrival, Uuid::now_v7(), fields)?;
    }
    if let Some(old) = registered.iter().find(|p| p.facts.age_on(today) >= 75) {
        let mut fields = base(old, "died_on", 12);
        fields.remove("id_number");
        writer.push(RecordKind::Death, Uuid::now_v7(), fields)?;
    }
    if let Some(mother) =
        adults.iter().find(|p| p.facts.sex == Sex::Female && (24..38).contains(&p.facts.age_on(today)))
    {
        let mut fields = base(mother, "delivered_on", 8);
        fields.remove("sex");
        if let Some(name) = fields.remove("name") {
            fields.insert("mother_name".into(), name);
        }
        fields.insert("baby_sex".into(), "女".into());
        fields.insert("hospital".into(), format!("{partner_name}妇幼保健院"));
        writer.push(RecordKind::Birth, Uuid::now_v7(), fields)?;
    }
    let nameless = BTreeMap::from([("changed_on".to_string(), day(5)), ("region".to_string(), partner.to_string())]);
    writer.push(RecordKind::Departure, Uuid::now_v7(), nameless)?;
    let manifest = |kind: PackageKind, acknowledges: Option<Uuid>, delivered: Option<u64>| Manifest {
        sender_name: partner_name.clone(),
        fields: vec!["sex".into(), "dob".into(), "id_number".into()],
        acknowledges,
        delivered,
        ..Manifest::new(kind, partner.clone(), county.clone(), 1, now)
    };
    let incoming = out.join(format!("from-{partner}-1.jxp"));
    writer.finish(manifest(PackageKind::Exchange, None, None), &theirs, std::fs::File::create(&incoming)?)?;
    let settings = jiceng_domain::linkage::Settings::default();
    let options = PackageImportOptions::new("from-partner-1.jxp", settings.clone(), now);
    let report = exchange.import(&incoming, &options, &|_, _| {}).await?.map_err(anyhow::Error::msg)?;
    // Our acknowledgement to them, and theirs of our package: everything delivered.
    exchange.acknowledge(&added, None, &ours, now, &out.join(format!("ack-to-{partner}-1.jxp"))).await?;
    let ack = PackageWriter::new(theirs.algorithm)?;
    let theirs_ack = out.join(format!("ack-from-{partner}-1.jxp"));
    ack.finish(
        manifest(PackageKind::Acknowledgement, Some(sent.manifest.package_id), Some(sent.manifest.records())),
        &theirs,
        std::fs::File::create(&theirs_ack)?,
    )?;
    let options = PackageImportOptions::new("ack-from-partner-1.jxp", settings, now);
    exchange.import(&theirs_ack, &options, &|_, _| {}).await?.map_err(anyhow::Error::msg)?;

    // A building of one community proposed to a grid of another: it waits for them.
    let registry = store.registry();
    let communities: Vec<DivisionCode> = {
        let mut c: Vec<DivisionCode> = people.iter().map(|p| p.community.clone()).collect();
        c.sort();
        c.dedup();
        c
    };
    // The county's last communities: the first ones are where people try the demo first.
    if let [.., to, from] = communities.as_slice() {
        let building = registry.buildings_in_community(from).await?.into_iter().last();
        let grid = registry.grids_in_community(to).await?.into_iter().next();
        if let (Some(building), Some(grid)) = (building, grid) {
            let new = NewHandover {
                county: county.clone(),
                kind: HandoverKind::Building,
                subject: building.id,
                target: HandoverTarget::Grid(grid.grid.id),
            };
            exchange.propose_handover(&new).await?;
        }
    }
    Ok(Some(DemoExchange { partner, sent: sent.manifest.records(), received: report.received, events: report.events }))
}
