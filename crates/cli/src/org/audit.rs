//! `jiceng audit verify`: walks the hash chain of the audit log.

use jiceng_store::Store;
use jiceng_store::org::AuditVerifyError;

/// Returns whether the log is intact; prints the head to keep for the next check.
pub async fn verify(store: &Store, expect_head: Option<&str>) -> anyhow::Result<bool> {
    match store.audit().verify(expect_head).await {
        Ok(head) => {
            println!("审计日志完整 / audit log intact: {} 条记录 entries", head.entries);
            println!("末条哈希 head hash: {}", head.hash);
            println!(
                "（请另行保存此哈希，下次用 --expect-head 核对，可发现末尾被删除的记录 / keep this hash elsewhere and pass it with --expect-head next time to detect entries removed from the end）"
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
