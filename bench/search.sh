#!/usr/bin/env bash
# Search under load (issue 15): many clients at once on the search page of a local jiceng
# server, on SQLite and PostgreSQL, against the store's own search as the floor.
#
# The load tool is `jiceng bench search` itself: it builds a synthetic county of
# RESIDENTS people in each database, starts the server in-process on a free port of
# 127.0.0.1, logs a district user in, and runs CLIENTS closed-loop HTTP/1.1 clients
# (hyper, one kept-alive connection each, whole pages read) for SECONDS, cycling through
# pinyin initials, surnames and ID prefixes. Latencies are per request, client-side.
#
#   bench/search.sh [RESIDENTS] [CLIENTS] [SECONDS]
#   JICENG_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/search.sh 4140000 200 30
set -euo pipefail
cd "$(dirname "$0")/.."
residents=${1:-50000}
clients=${2:-200}
seconds=${3:-20}
url=${JICENG_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --quiet --bin jiceng
exec target/release/jiceng --database-url "$url" bench search \
  --residents "$residents" --clients "$clients" --seconds "$seconds"
