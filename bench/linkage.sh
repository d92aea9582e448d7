#!/usr/bin/env bash
# Compare jiceng's record linkage with Splink on the same generated data.
#
#   bench/linkage.sh REGISTRY_SIZE INCOMING_SIZE [OUTDIR]
#
# Needs a release build (cargo build --release) and python3 with venv; Splink is
# installed once into a cache venv so the repository does not depend on Python.
# JICENG=path overrides the binary (e.g. a debug build).
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 REGISTRY_SIZE INCOMING_SIZE [OUTDIR]" >&2
    exit 2
fi
registry_size=$1
incoming_size=$2
root=$(cd "$(dirname "$0")/.." && pwd)
outdir=${3:-$root/target/bench/linkage-$registry_size-$incoming_size}
jiceng=${JICENG:-$root/target/release/jiceng}

if [[ ! -x $jiceng ]]; then
    echo "$jiceng not found: run cargo build --release first" >&2
    exit 1
fi

# Splink only sets lower bounds on duckdb and sqlglot, whose APIs move between
# releases (duckdb 2 dropped Relation.fetchone), so pin the whole tested set.
venv=${XDG_CACHE_HOME:-$HOME/.cache}/jiceng/splink-venv
pins=(splink==5.0.0 duckdb==2.0.1 sqlglot==30.31.0 pyarrow==26.0.1)
have_pins='import sys, importlib.metadata as m
sys.exit(any(m.version(n) != v for n, v in (p.split("==") for p in sys.argv[1:])))'
if ! "$venv/bin/python" -c "$have_pins" "${pins[@]}" 2>/dev/null; then
    echo "installing ${pins[*]} into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "${pins[@]}"
fi

mkdir -p "$outdir"
"$jiceng" linkage generate --registry "$registry_size" --incoming "$incoming_size" --out "$outdir"
files=(--registry "$outdir/registry.csv" --incoming "$outdir/incoming.csv" --truth "$outdir/truth.csv")

# Run one after the other so neither competes with the other for the two cores.
"$jiceng" bench linkage "${files[@]}" --json >"$outdir/jiceng.json"
if ! "$venv/bin/python" "$root/bench/splink_link.py" "${files[@]}" --json \
    >"$outdir/splink.json" 2>"$outdir/splink.log"; then
    cat "$outdir/splink.log" >&2
    exit 1
fi

"$venv/bin/python" - "$outdir/jiceng.json" "$outdir/splink.json" \
    "$registry_size" "$incoming_size" <<'PY'
import json, sys

def last_json(path):
    # Take the last JSON line, in case a tool prints progress on stdout first.
    lines = [l for l in open(path, encoding="utf-8") if l.lstrip().startswith("{")]
    if not lines:
        sys.exit(f"no JSON object in {path}")
    return json.loads(lines[-1])

jiceng, splink = last_json(sys.argv[1]), last_json(sys.argv[2])
records = f"{int(sys.argv[3]):,} × {int(sys.argv[4]):,}"
base = jiceng["seconds"]
print("| tool | records (R × I) | seconds | peak RSS MB | precision | recall | F1 "
      "| pairs compared | time ÷ jiceng |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
for name, r in (("jiceng", jiceng), (f"splink {splink.get('version', '')}".strip(), splink)):
    ratio = f"{r['seconds'] / base:.2f}×" if base else "n/a"
    rss = r.get("peak_rss_mb")
    print(f"| {name} | {records} | {r['seconds']:.2f} | "
          f"{'n/a' if rss is None else f'{rss:.0f}'} | {r['precision']:.4f} | "
          f"{r['recall']:.4f} | {r['f1']:.4f} | {r['pairs_compared']:,} | {ratio} |")
PY
