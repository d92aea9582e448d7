//! `jiceng feed …`: departments, their API tokens and their files; `jiceng linkage
//! train`: the county's model re-estimated with the reviewers' decisions.

use std::path::{Path, PathBuf};

use anyhow::Context;
use jiceng_domain::linkage::{DepartmentKind, FeedKind, FeedOutcome, Settings};
use jiceng_domain::org::DivisionCode;
use jiceng_store::linkage::{Department, NewDepartment};
use jiceng_store::{Caller, Store};

fn kind_of(text: &str) -> anyhow::Result<FeedKind> {
    FeedKind::from_text(text).with_context(|| {
        let keys: Vec<&str> = FeedKind::ALL.iter().map(|k| k.key()).collect();
        format!("通报类型“{text}”不存在，可用 / unknown feed kind '{text}'; one of: {}", keys.join(", "))
    })
}

fn county_of(text: Option<&str>) -> anyhow::Result<Option<DivisionCode>> {
    text.map(|c| DivisionCode::parse(c).with_context(|| format!("--county {c}"))).transpose()
}

pub async fn add_department(
    store: &Store,
    caller: &Caller,
    code: &str,
    name: &str,
    kind: &str,
    region: &str,
    feeds: Option<&str>,
) -> anyhow::Result<()> {
    let kind = DepartmentKind::from_text(kind).with_context(|| {
        let keys: Vec<&str> = DepartmentKind::ALL.iter().map(|k| k.key()).collect();
        format!("部门类型“{kind}”不存在，可用 / unknown department kind '{kind}'; one of: {}", keys.join(", "))
    })?;
    let region = DivisionCode::parse(region).with_context(|| format!("--region {region}"))?;
    let feeds = match feeds {
        Some(list) => {
            list.split(',').filter(|k| !k.trim().is_empty()).map(|k| kind_of(k.trim())).collect::<Result<_, _>>()?
        }
        None => Vec::new(),
    };
    let department = store
        .linkage_by(caller)
        .register_department(&NewDepartment { code: code.into(), name: name.into(), kind, region, feeds })
        .await?;
    let feeds: Vec<&str> = department.feeds.iter().map(|f| f.label_zh()).collect();
    println!(
        "已登记部门 Registered {} {}（{}）in {}: {}",
        department.code,
        department.name,
        department.kind.label_zh(),
        department.county,
        feeds.join("、")
    );
    Ok(())
}

pub async fn list_departments(store: &Store, json: bool) -> anyhow::Result<()> {
    let departments = store.linkage().departments().await?;
    if json {
        println!("{}", serde_json::to_string(&departments)?);
        return Ok(());
    }
    println!("{:<8} {:<10} {:<14} {:<14} 通报类型 feeds", "区县", "代码 code", "类型 kind", "范围 region");
    for d in departments {
        let feeds: Vec<&str> = d.feeds.iter().map(|f| f.key()).collect();
        println!(
            "{:<8} {:<10} {:<14} {:<14} {} — {}",
            d.county,
            d.code,
            d.kind.key(),
            d.region,
            feeds.join(","),
            d.name
        );
    }
    Ok(())
}

async fn department(store: &Store, code: &str, county: Option<&str>) -> anyhow::Result<Department> {
    Ok(store.linkage().department_by_code(code, county_of(county)?.as_ref()).await?)
}

pub async fn create_token(
    store: &Store,
    caller: &Caller,
    code: &str,
    county: Option<&str>,
    label: &str,
) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let (id, token) = store.linkage_by(caller).create_token(&department, label).await?;
    println!("令牌编号 Token id: {id}");
    println!("令牌 Token (只显示这一次 shown this once): {token}");
    Ok(())
}

pub async fn list_tokens(store: &Store, code: &str, county: Option<&str>, json: bool) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let tokens = store.linkage().tokens(&department).await?;
    if json {
        println!("{}", serde_json::to_string(&tokens)?);
        return Ok(());
    }
    for t in tokens {
        let state = match t.revoked_at {
            Some(at) => format!("已吊销 revoked {}", at.date()),
            None => "有效 active".to_string(),
        };
        println!("{} {} {} {} {}", t.id, t.created_at.date(), t.created_by, state, t.label);
    }
    Ok(())
}

pub async fn revoke_token(
    store: &Store,
    caller: &Caller,
    code: &str,
    county: Option<&str>,
    id: &str,
) -> anyhow::Result<()> {
    let department = department(store, code, county).await?;
    let id = uuid::Uuid::parse_str(id.trim()).with_context(|| format!("令牌编号无效 / not a token id: {id}"))?;
    store.linkage_by(caller).revoke_token(&department, id).await?;
    println!("已吊销 Revoked {id}");
    Ok(())
}

pub struct FeedImport<'a> {
    pub department: &'a str,
    pub county: Option<&'a str>,
    pub kind: &'a str,
    pub file: &'a Path,
    pub encoding: Option<&'a str>,
    pub error_file: Option<PathBuf>,
    pub json: bool,
    pub settings: &'a Settings,
}

/// `jiceng feed import`: returns whether every row was read (exit 3 otherwise).
pub async fn import(store: &Store, caller: &Caller, args: FeedImport<'_>) -> anyhow::Result<bool> {
    let kind = kind_of(args.kind)?;
    let department = department(store, args.department, args.county).await?;
    department.may_send(kind)?;
    let encoding = crate::exchange::import::encoding(args.encoding)?;
    let limits = jiceng_store::exchange::ReadLimits::from_env().map_err(anyhow::Error::msg)?;
    let spinner = crate::progress::spinner("读取 Reading");
    let path = args.file.to_path_buf();
    let (file_info, rows) = tokio::task::spawn_blocking(move || {
        let file = jiceng_files::linkage::feed::FeedFile::open(&path, kind, encoding, limits)?;
        let info = (file.format, file.encoding, file.headers.clone());
        Ok::<_, jiceng_files::exchange::FileError>((info, file.rows()?))
    })
    .await??;
    spinner.set_message("匹配 Linking");
    let source = args.file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let today = time::OffsetDateTime::now_utc().date();
    let receipt = store.linkage_by(caller).receive(&department, kind, &source, rows, args.settings, today).await?;
    spinner.finish_and_clear();
    let error_path = args.error_file.clone().unwrap_or_else(|| jiceng_files::linkage::feed::error_file_of(args.file));
    let error_file = if receipt.rejected.is_empty() {
        None
    } else {
        let (format, encoding, headers) = file_info;
        Some(jiceng_files::linkage::feed::write_error_file(&error_path, format, encoding, &headers, &receipt.rejected)?)
    };
    if args.json {
        let mut value = serde_json::to_value(&receipt)?;
        value["rejected"] = receipt.rejected.len().into();
        value["error_file"] = error_file.as_ref().map(|p| p.display().to_string()).into();
        println!("{value}");
    } else {
        println!(
            "{} {}：新收 received {}，已收过 already received {}，提交变动 events proposed {}",
            department.name,
            kind.label_zh(),
            receipt.received,
            receipt.already_received,
            receipt.events
        );
        for outcome in FeedOutcome::ALL {
            if let Some(n) = receipt.outcomes.get(outcome.key()) {
                println!("  {} {}: {n}", outcome.label_zh(), outcome.label_en());
            }
        }
        if let Some(path) = &error_file {
            println!("被拒绝的行已写入 Rejected rows written to {}", path.display());
        }
    }
    Ok(receipt.rejected.is_empty())
}

pub async fn train(
    store: &Store,
    caller: &Caller,
    county: &str,
    settings: &Settings,
    json: bool,
) -> anyhow::Result<()> {
    let county = DivisionCode::parse(county).with_context(|| format!("--county {county}"))?;
    let spinner = crate::progress::spinner("训练 Training");
    let report = store.linkage_by(caller).train(&county, settings).await?;
    spinner.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "已训练 Trained the model of {} on {} records and {} reviewers' decisions: {}",
            report.county, report.records, report.decisions, report.model_id
        );
    }
    Ok(())
}

/// The demo's departments and a month of their notices about the demo's residents: a
/// marriage, births in mothers' households, deaths (one reported by the hospital and by
/// the police: a duplicate), a move out, vaccinations and school entries that confirm
/// children, people not in the registry, a row that cannot be read, and a record that
/// could be either of two people of the same name and birthday (a possible match for
/// the community to review). Skipped when the county has departments already.
pub async fn demo(store: &Store, county: &DivisionCode) -> anyhow::Result<Option<jiceng_store::linkage::FeedReceipt>> {
    use jiceng_domain::linkage::feed::{FeedColumn as C, read_record};
    use jiceng_domain::registry::{IdMissingReason, Identity, MaritalStatus, Relationship, Sex};
    use jiceng_files::linkage::feed::FeedRow;
    let caller = Caller::local("demo");
    let linkage = store.linkage_by(&caller);
    if linkage.departments().await?.iter().any(|d| &d.county == county) {
        return Ok(None);
    }
    let mut departments = Vec::new();
    for (code, name, kind) in [
        ("MZ", "区民政局", DepartmentKind::CivilAffairs),
        ("GA", "公安分局", DepartmentKind::PublicSecurity),
        ("YY", "区人民医院", DepartmentKind::Health),
        ("JK", "区疾控中心", DepartmentKind::DiseaseControl),
        ("JY", "区教育局", DepartmentKind::Education),
    ] {
        let new =
            NewDepartment { code: code.into(), name: name.into(), kind, region: county.clone(), feeds: Vec::new() };
        departments.push(linkage.register_department(&new).await?);
    }
    // Residents of the county's first community with people in it.
    let scope = jiceng_domain::org::Scope::new(jiceng_domain::org::Role::District, vec![county.clone()]);
    let people =
        store.registry_in(&scope).search(&jiceng_store::registry::SearchQuery::Name(String::new()), 1000).await?;
    let today = time::OffsetDateTime::now_utc().date();
    let day = |n: i64| (today - time::Duration::days(n)).to_string();
    let age = |p: &jiceng_store::registry::ResidentVersion| p.facts.age_on(today);
    let id = |p: &jiceng_store::registry::ResidentVersion| {
        p.facts.identity.number().map(|n| n.to_string()).unwrap_or_default()
    };
    let row = |kind: FeedKind, line: u64, cells: Vec<(C, String)>| {
        let refs: Vec<(C, &str)> = cells.iter().map(|(c, v)| (*c, v.as_str())).collect();
        FeedRow {
            line,
            cells: cells.iter().map(|(c, v)| (c.heading(kind, false).to_string(), v.clone())).collect(),
            record: read_record(kind, &refs),
        }
    };
    let person_cells = |p: &jiceng_store::registry::ResidentVersion| {
        vec![
            (C::Name, p.facts.name.to_string()),
            (C::Sex, p.facts.sex.label_zh().to_string()),
            (C::BirthDate, p.facts.birth_date.to_string()),
            (C::IdNumber, id(p)),
            (C::Community, p.community.to_string()),
        ]
    };
    let mut sends: Vec<(usize, FeedKind, Vec<FeedRow>)> = Vec::new();
    // Marriages of unmarried adults; one with the ID number mistyped in one digit.
    let single: Vec<_> = people
        .iter()
        .filter(|p| {
            p.facts.marital_status == MaritalStatus::Unmarried && (22..40).contains(&age(p)) && !id(p).is_empty()
        })
        .take(4)
        .collect();
    let mut rows = Vec::new();
    for (i, p) in single.iter().enumerate() {
        let mut cells = person_cells(p);
        if i == 1 {
            let mut typo: Vec<char> = id(p).chars().collect();
            typo[10] = if typo[10] == '1' { '7' } else { '1' };
            cells[3].1 = typo.into_iter().collect();
        }
        cells.insert(0, (C::RecordNo, format!("MZ-{}-{:04}", today.year(), i + 1)));
        cells.insert(1, (C::OccurredOn, day(10 + i as i64)));
        rows.push(row(FeedKind::Marriage, i as u64 + 2, cells));
    }
    // Somebody the registry does not know, and a row with no date.
    rows.push(row(
        FeedKind::Marriage,
        rows.len() as u64 + 2,
        vec![
            (C::RecordNo, "MZ-X-1".into()),
            (C::OccurredOn, day(9)),
            (C::Name, "欧阳明轩".into()),
            (C::BirthDate, "1991-03-14".into()),
        ],
    ));
    rows.push(row(
        FeedKind::Marriage,
        rows.len() as u64 + 2,
        vec![(C::RecordNo, "MZ-X-2".into()), (C::Name, "张某".into())],
    ));
    sends.push((0, FeedKind::Marriage, rows));
    // A possible match: a resident's namesake born the same day, in the same household.
    if let Some(p) = people.iter().find(|p| {
        (25..45).contains(&age(p))
            && p.facts.marital_status == MaritalStatus::Unmarried
            && !single.iter().any(|s| s.resident_id == p.resident_id)
    }) {
        let twin = jiceng_domain::registry::ResidentFacts {
            identity: Identity::Missing(IdMissingReason::Unknown),
            relationship: Relationship::Other,
            phone: None,
            ..p.facts.clone()
        };
        store.registry_by(&caller).add_resident(county, &twin, today - time::Duration::days(400), "demo").await?;
        let cells = vec![
            (C::RecordNo, format!("MZ-{}-0100", today.year())),
            (C::OccurredOn, day(6)),
            (C::Name, p.facts.name.to_string()),
            (C::BirthDate, p.facts.birth_date.to_string()),
            (C::Community, p.community.to_string()),
        ];
        sends.push((0, FeedKind::Marriage, vec![row(FeedKind::Marriage, 2, cells)]));
    }
    // Deaths of the oldest, the first also reported by the police the same day.
    let mut old: Vec<_> = people.iter().filter(|p| age(p) >= 85 && !id(p).is_empty()).collect();
    old.sort_by_key(|p| p.facts.birth_date);
    let mut deaths = Vec::new();
    for (i, p) in old.iter().take(2).enumerate() {
        let mut cells = person_cells(p);
        cells.insert(0, (C::RecordNo, format!("YY-D-{}", i + 1)));
        cells.insert(1, (C::OccurredOn, day(3)));
        deaths.push(row(FeedKind::Death, i as u64 + 2, cells));
    }
    sends.push((2, FeedKind::Death, deaths));
    let mut hukou = Vec::new();
    if let Some(p) = old.first() {
        let mut cells = person_cells(p);
        cells.insert(0, (C::RecordNo, "GA-1".into()));
        cells.insert(1, (C::ChangeType, "死亡注销".into()));
        cells.insert(2, (C::OccurredOn, day(3)));
        hukou.push(row(FeedKind::HukouChange, 2, cells));
    }
    if let Some(p) = people.iter().find(|p| (30..50).contains(&age(p)) && !id(p).is_empty()) {
        let mut cells = person_cells(p);
        cells.insert(0, (C::RecordNo, "GA-2".into()));
        cells.insert(1, (C::ChangeType, "迁出".into()));
        cells.insert(2, (C::OccurredOn, day(8)));
        cells.push((C::Region, "430702".into()));
        hukou.push(row(FeedKind::HukouChange, 3, cells));
    }
    sends.push((1, FeedKind::HukouChange, hukou));
    // Births to married women heading or partnering a household.
    let mothers: Vec<_> = people
        .iter()
        .filter(|p| {
            p.facts.sex == Sex::Female
                && p.facts.marital_status == MaritalStatus::Married
                && (23..38).contains(&age(p))
                && matches!(p.facts.relationship, Relationship::Head | Relationship::Spouse)
        })
        .take(3)
        .collect();
    let births = mothers
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let cells = vec![
                (C::RecordNo, format!("YY-B-{}", i + 1)),
                (C::OccurredOn, day(4 + i as i64)),
                (C::Name, p.facts.name.to_string()),
                (C::BirthDate, p.facts.birth_date.to_string()),
                (C::IdNumber, id(p)),
                (C::Community, p.community.to_string()),
                (C::ChildSex, if i % 2 == 0 { "女" } else { "男" }.into()),
                (C::Hospital, "区人民医院".into()),
            ];
            row(FeedKind::HospitalBirth, i as u64 + 2, cells)
        })
        .collect();
    sends.push((2, FeedKind::HospitalBirth, births));
    // Vaccinations of infants and school entries of six-year-olds confirm them.
    let child = |lo: i32, hi: i32| people.iter().filter(move |p| (lo..hi).contains(&age(p))).take(3);
    let shots = child(0, 2)
        .filter(|p| p.facts.birth_date <= today - time::Duration::days(30))
        .enumerate()
        .map(|(i, p)| {
            let mut cells = person_cells(p);
            cells.retain(|(c, _)| *c != C::IdNumber);
            cells.insert(0, (C::RecordNo, format!("JK-{}", i + 1)));
            cells.insert(1, (C::OccurredOn, day(2)));
            cells.push((C::Clinic, "社区卫生服务中心接种门诊".into()));
            row(FeedKind::Vaccination, i as u64 + 2, cells)
        })
        .collect();
    sends.push((3, FeedKind::Vaccination, shots));
    let entries = child(6, 7)
        .enumerate()
        .map(|(i, p)| {
            let mut cells = person_cells(p);
            cells.insert(0, (C::RecordNo, format!("JY-{}", i + 1)));
            cells.insert(
                1,
                (
                    C::OccurredOn,
                    format!("{}-09-01", if today.month() as u8 >= 9 { today.year() } else { today.year() - 1 }),
                ),
            );
            cells.push((C::School, "区实验小学".into()));
            row(FeedKind::SchoolEntry, i as u64 + 2, cells)
        })
        .collect();
    sends.push((4, FeedKind::SchoolEntry, entries));
    let settings = Settings::default();
    let mut total = jiceng_store::linkage::FeedReceipt::default();
    for (d, kind, rows) in sends {
        if rows.is_empty() {
            continue;
        }
        let r = linkage.receive(&departments[d], kind, &format!("{}.csv", kind.key()), rows, &settings, today).await?;
        total.received += r.received;
        total.events += r.events;
        for (k, n) in r.outcomes {
            *total.outcomes.entry(k).or_default() += n;
        }
    }
    Ok(Some(total))
}
