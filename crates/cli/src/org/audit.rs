//! `jiceng audit verify`: walks the hash chain of the audit log.

use jiceng_store::Store;
use jiceng_store::org::AuditVerifyError;

/// Returns whether the log is intact; prints the head to keep for the next check.
pub async fn verify(store: &Store, expect_head: Option<&str>) -> anyhow::Result<bool> {
    match store.audit().verify(expect_head).await {
        Ok(head) => {
            println!(
                "审计日志完整 / audit log intact: {} 条记录 entries, {} 条链 chains (每县一条 one per county)",
                head.entries, head.chains
            );
            println!("末条哈希 head hash: {}", head.hash);
            println!(
                "（请另行保存此哈希，下次用 --expect-head 核对，可发现末尾被删除的记录；它是系统链的末条，先运行 jiceng audit anchor 则涵盖各县链 / keep this hash elsewhere and pass it with --expect-head next time to detect entries removed from the end; it heads the system chain, and covers every county's chain after jiceng audit anchor）"
            );
            Ok(true)
        }
        Err(AuditVerifyError::Store(e)) => Err(e.into()),
        Err(broken) => {
            println!("审计日志已被篡改 / audit log tampered: {broken}");
            Ok(false)
        }
    }
}

/// Records every county chain's head in the system chain.
pub async fn anchor(store: &Store) -> anyhow::Result<()> {
    let chains = store.audit().anchor("audit-anchor").await?;
    println!("已锚定 Anchored {chains} 条县链 county chains");
    Ok(())
}
