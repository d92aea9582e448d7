//! `jiceng exchange …`: key pairs, partner regions, and the packages exchanged with
//! them (ADR 021).

use std::path::Path;

use anyhow::Context;
use jiceng_domain::exchange::package::{Agreement, SharedField};
use jiceng_domain::linkage::Settings;
use jiceng_domain::org::DivisionCode;
use jiceng_files::exchange::package::{self as files, Algorithm, PrivateKey, PublicKey};
use jiceng_store::exchange::{NewPartner, PackageImportOptions, Partner};
use jiceng_store::{Caller, Store};
use time::{Date, OffsetDateTime};

/// `exchange keygen`: a new key pair in `dir`.
pub fn keygen(dir: &Path, algorithm: &str) -> anyhow::Result<()> {
    let algorithm = Algorithm::from_key(algorithm).with_context(|| {
        format!(
            "算法“{algorithm}”不受支持（ed25519 或 sm2）/ algorithm '{algorithm}' is not supported (ed25519 or sm2)"
        )
    })?;
    let public = files::keygen(dir, algorithm)?;
    println!("已生成密钥 Wrote {} and {}", dir.join("private.key").display(), dir.join("public.key").display());
    println!("  算法 algorithm: {}", algorithm.key());
    println!("  指纹 fingerprint: {}", public.fingerprint());
    println!("  把 public.key 交给协作地区；private.key 留在本机，不要入库、不要外传");
    println!("  give public.key to partner regions; private.key stays on this machine, never in the database");
    Ok(())
}

fn code(flag: &str, text: &str) -> anyhow::Result<DivisionCode> {
    DivisionCode::parse(text).with_context(|| format!("{flag} {text}"))
}

/// The county this side exchanges for: given, or the database's only one.
async fn local_county(store: &Store, given: Option<&str>) -> anyhow::Result<DivisionCode> {
    if let Some(text) = given {
        return code("--local-county", text);
    }
    let mut counties = store.exchange().local_counties().await?;
    match counties.len() {
        1 => Ok(counties.remove(0)),
        0 => anyhow::bail!(
            "数据库中没有区县的数据，请用 --local-county 指定 / no county has records here: name one with --local-county"
        ),
        _ => anyhow::bail!(
            "数据库中有多个区县（{}），请用 --local-county 指定 / several counties here ({}): name one with --local-county",
            counties.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", "),
            counties.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

async fn partner(store: &Store, partner: &str, local: Option<&str>) -> anyhow::Result<Partner> {
    let code = code("--partner", partner)?;
    let local = local.map(|c| self::code("--local-county", c)).transpose()?;
    Ok(store.exchange().partner_by_code(&code, local.as_ref()).await?)
}

/// `exchange partner add`.
pub struct PartnerArgs<'a> {
    pub county: &'a str,
    pub key: &'a Path,
    pub name: &'a str,
    pub local_county: Option<&'a str>,
    pub contact: &'a str,
    pub phone: &'a str,
    pub from: Option<Date>,
    pub until: Option<Date>,
    pub fields: &'a str,
    pub every_months: u8,
}

pub async fn add_partner(store: &Store, caller: &Caller, args: PartnerArgs<'_>) -> anyhow::Result<()> {
    let public_key = PublicKey::read(args.key)?;
    let county = local_county(store, args.local_county).await?;
    let fields = SharedField::parse_list(args.fields).map_err(anyhow::Error::msg)?;
    let partner = store
        .exchange_by(caller)
        .add_partner(&NewPartner {
            county,
            partner: code("--county", args.county)?,
            name: args.name.into(),
            contact_name: args.contact.into(),
            contact_phone: args.phone.into(),
            agreement: Agreement {
                starts_on: args.from.unwrap_or_else(|| OffsetDateTime::now_utc().date()),
                ends_on: args.until,
                fields,
                every_months: args.every_months,
            },
            public_key,
        })
        .await?;
    let fields: Vec<&str> = partner.agreement.fields.iter().map(|f| f.label_zh()).collect();
    println!(
        "已登记协作地区 Partner {} {} for {}: key {} ({}), fields 字段 {}, every {} months",
        partner.code,
        partner.name,
        partner.county,
        partner.public_key.fingerprint(),
        partner.public_key.algorithm.key(),
        if fields.is_empty() { "—".to_string() } else { fields.join("、") },
        partner.agreement.every_months
    );
    Ok(())
}

#[derive(serde::Serialize)]
struct PartnerLine {
    county: String,
    partner: String,
    name: String,
    key: String,
    fields: Vec<&'static str>,
    last_sent: Option<jiceng_store::exchange::LastPackage>,
    last_received: Option<jiceng_store::exchange::LastPackage>,
    unacknowledged: u64,
    next_send_due: String,
    send_overdue: bool,
    next_receive_due: String,
    receive_overdue: bool,
    last_refusal: Option<String>,
}

/// `exchange partner list`.
pub async fn list_partners(store: &Store, json: bool) -> anyhow::Result<()> {
    let today = OffsetDateTime::now_utc().date();
    let statuses = store.exchange().partner_statuses(today).await?;
    let lines: Vec<PartnerLine> = statuses
        .into_iter()
        .map(|s| PartnerLine {
            county: s.partner.county.to_string(),
            partner: s.partner.code.to_string(),
            name: s.partner.name.clone(),
            key: s.partner.public_key.fingerprint(),
            fields: s.partner.agreement.fields.iter().map(|f| f.key()).collect(),
            last_sent: s.last_sent,
            last_received: s.last_received,
            unacknowledged: s.unacknowledged,
            next_send_due: s.next_send_due.to_string(),
            send_overdue: s.send_overdue,
            next_receive_due: s.next_receive_due.to_string(),
            receive_overdue: s.receive_overdue,
            last_refusal: s.last_refusal.map(|(_, reason)| reason),
        })
        .collect();
    if json {
        println!("{}", serde_json::to_string(&lines)?);
        return Ok(());
    }
    println!(
        "{:<8} {:<8} {:<12} {:<22} {:<22} 待回执 unacked",
        "本方", "协作方", "名称 name", "最近发出 last sent", "最近收到 last received"
    );
    for l in lines {
        let package = |p: &Option<jiceng_store::exchange::LastPackage>, due: &str, overdue: bool| match p {
            Some(p) => {
                format!("#{} {} {}{}", p.sequence, p.at.date(), p.state, if overdue { " 逾期 overdue" } else { "" })
            }
            None => format!("— due {due}{}", if overdue { " 逾期 overdue" } else { "" }),
        };
        println!(
            "{:<8} {:<8} {:<12} {:<22} {:<22} {}",
            l.county,
            l.partner,
            l.name,
            package(&l.last_sent, &l.next_send_due, l.send_overdue),
            package(&l.last_received, &l.next_receive_due, l.receive_overdue),
            l.unacknowledged
        );
        if let Some(reason) = l.last_refusal {
            println!("    最近拒收 last refused: {reason}");
        }
    }
    Ok(())
}

/// `exchange export`.
pub struct ExportArgs<'a> {
    pub partner: &'a str,
    pub local_county: Option<&'a str>,
    pub key: &'a Path,
    pub since: Option<Date>,
    pub out: &'a Path,
    pub json: bool,
}

pub async fn export(store: &Store, caller: &Caller, args: ExportArgs<'_>) -> anyhow::Result<()> {
    let ExportArgs { partner: partner_code, local_county: local, key, since, out, json } = args;
    let key = PrivateKey::read(key)?;
    let partner = partner(store, partner_code, local).await?;
    let since = since.map(|d| d.midnight().assume_offset(time::macros::offset!(+8)));
    let spinner = crate::progress::spinner("导出 Exporting");
    let report = store.exchange_by(caller).export(&partner, &key, since, OffsetDateTime::now_utc(), out).await?;
    spinner.finish_and_clear();
    if json {
        println!(
            "{}",
            serde_json::json!({
                "file": out.display().to_string(),
                "package_id": report.manifest.package_id,
                "sequence": report.manifest.sequence,
                "records": report.manifest.records(),
                "counts": report.manifest.counts,
                "bytes": report.bytes,
                "digest": report.digest,
            })
        );
    } else {
        println!(
            "已导出 Wrote {} package #{} to {} for {}: {} records, {} bytes",
            report.manifest.kind,
            report.manifest.sequence,
            out.display(),
            partner.code,
            report.manifest.records(),
            report.bytes
        );
        for (kind, n) in &report.manifest.counts {
            println!("  {kind}: {n}");
        }
    }
    Ok(())
}

/// `exchange acknowledge`: the acknowledgement owed for the oldest package received
/// from the partner (or `package`).
pub async fn acknowledge(
    store: &Store,
    caller: &Caller,
    partner_code: &str,
    local: Option<&str>,
    key: &Path,
    package: Option<&str>,
    out: &Path,
) -> anyhow::Result<()> {
    let key = PrivateKey::read(key)?;
    let partner = partner(store, partner_code, local).await?;
    let package = package.map(|p| uuid::Uuid::parse_str(p).with_context(|| format!("--package {p}"))).transpose()?;
    match store.exchange_by(caller).acknowledge(&partner, package, &key, OffsetDateTime::now_utc(), out).await? {
        Some(report) => println!(
            "已写入回执 Wrote the acknowledgement of {} to {}: {} delivered, {} refused",
            report.manifest.acknowledges.map(|p| p.to_string()).unwrap_or_default(),
            out.display(),
            report.manifest.delivered.unwrap_or(0),
            report.manifest.records()
        ),
        None => println!("没有待回执的交换包 / no package waits for an acknowledgement"),
    }
    Ok(())
}

/// `exchange import`: `Ok(true)` when applied or seen before, `Ok(false)` when refused.
pub async fn import(
    store: &Store,
    caller: &Caller,
    file: &Path,
    settings: &Settings,
    json: bool,
) -> anyhow::Result<bool> {
    let name = file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut options = PackageImportOptions::new(&name, settings.clone(), OffsetDateTime::now_utc());
    options.limits = jiceng_store::exchange::ReadLimits::from_env().map_err(anyhow::Error::msg)?;
    let bar = crate::progress::bar(0, "导入 Importing");
    let progress = |applied: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(applied);
    };
    let outcome = store.exchange_by(caller).import(file, &options, &progress).await?;
    bar.finish_and_clear();
    match outcome {
        Ok(report) => {
            if json {
                println!("{}", serde_json::json!({ "result": "applied", "report": report }));
            } else if report.already_applied {
                println!(
                    "此交换包已导入过，未作任何改动 / package #{} from {} was applied before: nothing changed",
                    report.sequence, report.sender
                );
            } else if report.kind == "acknowledgement" {
                println!(
                    "已导入回执 Applied the acknowledgement from {}: {} delivered, {} refused",
                    report.sender, report.delivered, report.refused
                );
            } else {
                println!(
                    "已导入 Applied package #{} from {} to {}: {} records{}",
                    report.sequence,
                    report.sender,
                    report.receiver,
                    report.records,
                    if report.resumed_from > 0 {
                        format!(" (resumed after {})", report.resumed_from)
                    } else {
                        String::new()
                    }
                );
                println!(
                    "  新记录 new {} · 已收过 seen before {} · 拒收 refused {} · 提交审核的变动 changes proposed {}",
                    report.received, report.already_received, report.refused, report.events
                );
                for (outcome, n) in &report.outcomes {
                    println!("  {outcome}: {n}");
                }
            }
            Ok(true)
        }
        Err(refusal) => {
            if json {
                println!("{}", serde_json::json!({ "result": "refused", "reason": refusal.to_string() }));
            } else {
                eprintln!("拒收 Refused {}: {refusal}", file.display());
            }
            Ok(false)
        }
    }
}

/// `exchange reconcile`: the reconciliation with a partner, printed, as JSON, or as a
/// workbook. The read of names and ID numbers is audited.
pub async fn reconcile(
    store: &Store,
    caller: &Caller,
    partner_code: &str,
    local: Option<&str>,
    out: Option<&Path>,
    json: bool,
) -> anyhow::Result<()> {
    use jiceng_domain::exchange::reconciliation::Difference;
    let partner = partner(store, partner_code, local).await?;
    let result = store.exchange_by(caller).reconcile(&partner).await?;
    store
        .audit()
        .append(&jiceng_store::org::NewAuditEntry {
            actor: caller.username.to_string(),
            action: jiceng_domain::org::audit::AuditAction::Export,
            target: format!("exchange_partner/{}/{}", partner.county, partner.code),
            county: partner.county.to_string(),
            origin: caller.origin.to_string(),
            purpose: None,
            detail: format!("reconciliation: {} people", result.rows.len()),
        })
        .await?;
    if let Some(out) = out {
        let title = format!("{} ↔ {} {} 对账 reconciliation", partner.county, partner.code, partner.name);
        std::fs::write(out, jiceng_files::exchange::reconciliation::reconciliation_xlsx(&title, &result.rows)?)
            .with_context(|| out.display().to_string())?;
    }
    let count = |d: Difference| result.rows.iter().filter(|r| r.difference == d).count();
    if json {
        let rows: Vec<serde_json::Value> = result
            .rows
            .iter()
            .filter_map(|r| {
                let p = r.person()?;
                Some(serde_json::json!({
                    "difference": r.difference.key(),
                    "name": p.name,
                    "id_number": p.id_number,
                    "ours": r.ours.as_ref().and_then(|l| l.place.clone()),
                    "theirs": r.theirs.as_ref().and_then(|l| l.place.clone()),
                    "resident_id": r.ours.as_ref().or(r.theirs.as_ref()).and_then(|l| l.resident_id),
                }))
            })
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "both": count(Difference::Both),
                "ours_only": count(Difference::OursOnly),
                "theirs_only": count(Difference::TheirsOnly),
                "rows": rows,
            })
        );
        return Ok(());
    }
    println!(
        "对账 Reconciliation {} ↔ {}: {} 双方一致 on both, {} 仅本方 ours only, {} 仅对方 theirs only{}",
        partner.county,
        partner.code,
        count(Difference::Both),
        count(Difference::OursOnly),
        count(Difference::TheirsOnly),
        out.map(|o| format!("; 已写入 wrote {}", o.display())).unwrap_or_default()
    );
    Ok(())
}
