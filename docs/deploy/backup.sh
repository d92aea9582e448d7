#!/bin/sh
# jiceng nightly backup 每日备份 — install as /usr/local/bin/jiceng-backup (0755) and run
# as the jiceng user from jiceng-backup.timer (see README.md, "Backups").
#
# 1. `jiceng audit verify` checks the audit chain, and that it still holds the head noted
#    last night (nothing cut off the end); it prints the new head.
# 2. `jiceng backup` writes a dated, checked copy: SQLite VACUUM INTO plus integrity and
#    audit-chain checks, or PostgreSQL pg_dump --format=custom checked with pg_restore
#    --list. The chain only grows, so this backup holds the head noted in step 1.
# 3. Only when both succeeded: the new head is kept, and backups older than KEEP_DAYS
#    days are deleted. Keep a copy of the head off this machine (it is in the journal).
#
# Settings (environment): JICENG_CONFIG, BACKUP_DIR, KEEP_DAYS, JICENG.
set -eu

CONFIG=${JICENG_CONFIG:-/etc/jiceng/jiceng.toml}
DIR=${BACKUP_DIR:-/var/backups/jiceng}
KEEP_DAYS=${KEEP_DAYS:-14}
JICENG=${JICENG:-/usr/local/bin/jiceng}

umask 077
mkdir -p "$DIR"
head_file="$DIR/audit-head"

# 1. The audit chains: every county chain's head is anchored in the system chain first,
#    so the head noted below covers every county.
"$JICENG" --config "$CONFIG" audit anchor
expect=""
[ -s "$head_file" ] && expect=$(cat "$head_file")
audit_ok=yes
report=$("$JICENG" --config "$CONFIG" audit verify ${expect:+--expect-head "$expect"}) || audit_ok=no
echo "$report"
head=$(echo "$report" | sed -n 's/.*head hash: *//p')

# 2. The backup (taken even when the audit check failed: it is evidence).
out="$DIR/jiceng-$(date +%Y%m%d-%H%M%S).backup"
if [ -e "$out" ]; then
    echo "jiceng-backup: $out exists already" >&2
    exit 1
fi
if ! "$JICENG" --config "$CONFIG" backup --out "$out"; then
    rm -f "$out"        # part of a file, not there before this run
    echo "jiceng-backup: backup FAILED, nothing deleted" >&2
    exit 1
fi
echo "jiceng-backup: wrote $out ($(du -h "$out" | cut -f1))"

if [ "$audit_ok" != yes ]; then
    echo "jiceng-backup: audit verify FAILED, old backups and the old head kept" >&2
    exit 1
fi

# 3. Keep the head, delete old backups.
if [ -n "$head" ]; then
    echo "$head" > "$head_file"
    echo "jiceng-backup: $out holds audit head $head"
fi
find "$DIR" -maxdepth 1 -type f -name 'jiceng-*.backup' -mtime +"$KEEP_DAYS" -print -delete
