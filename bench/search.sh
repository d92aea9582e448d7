#!/usr/bin/env bash
# Search under load (issue 15): many clients at once on the search page of a local jiceng
# server, on SQLite and PostgreSQL, against the store's own search as the floor.
#
# The load tool is `jiceng bench search` itself: it builds a synthetic county of
# RESIDENTS people in each database, starts the server in-process on a free port of
# 127.0.0.1, logs a district user in, and runs CLIENTS HTTP/1.1 clients (hyper, one
# kept-alive connection each, whole pages read) for SECONDS, cycling through pinyin
# initials, surnames and ID prefixes. Latencies are per request, client-side.
#
# First in a closed loop (each client's next request as soon as the last is answered:
# the most the machine gives, where latency is mostly waiting in line), then once per
# rate in RATES (comma-separated, requests a second from all clients together): each
# client on its own fixed schedule, latency counted from when a request was due, as
# wrk2 does, so a slow answer is not hidden by the requests it delayed.
#
#   bench/search.sh [RESIDENTS] [CLIENTS] [SECONDS] [RATES]
#   JICENG_BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/search.sh 4140000 200 30 200,400
set -euo pipefail
cd "$(dirname "$0")/.."
residents=${1:-50000}
clients=${2:-200}
seconds=${3:-20}
rates=${4:-}
url=${JICENG_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
cargo build --release --quiet --bin jiceng
exec target/release/jiceng --database-url "$url" bench search ${rates:+--rate "$rates"} \
  --residents "$residents" --clients "$clients" --seconds "$seconds"
