#!/usr/bin/env bash
# Load benchmark: the same POST (a ~4 KB JSON batch of 10 user records with real
# signals: countries, public IPs, phone numbers) sent directly to a sink upstream and
# through customs (which inspects every record), in the same run, interleaved.
#
#   benches/load.sh [seconds-per-round] [rounds] [connections]
#
# Installs wrk (Debian package) if missing. Only loopback addresses are used.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
ROUNDS=${2:-3}
CONNS=${3:-32}
if ! command -v wrk >/dev/null; then
    echo "installing wrk..." >&2
    (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null
fi
cargo build --release --quiet --bin customs --example sink
BIN=target/release/customs
SINK=target/release/examples/sink
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

SINK_ADDR=127.0.0.1:19100
PROXY_ADDR=127.0.0.1:19180
ADMIN_ADDR=127.0.0.1:19190
sed -e "s#http://127.0.0.1:18081#http://$SINK_ADDR#" \
    -e "s#\.\./geoip/#$PWD/geoip/#" config/policy.toml > "$work/policy.toml"

python3 - "$work/body.json" <<'PY'
import json, sys
users = [
    ("Olivia Carter", "olivia.carter@example.org", "+1 415 555 0112", "US", "8.8.8.8"),
    ("Mark Ellison", "mark.ellison@example.org", "+1 212 555 0183", "US", "8.8.4.4"),
    ("Dana Brooks", "dana.brooks@example.org", "(212) 555-0147", "US", "4.2.2.2"),
    ("Ethan Reed", "ethan.reed@example.org", "+1 646 555 0101", "US", "23.45.67.89"),
    ("Grace Kim", "grace.kim@example.org", "+1 206 555 0134", "US", "13.107.42.14"),
]
recs = []
for i in range(10):
    n, e, p, c, ip = users[i % len(users)]
    recs.append({"user_id": f"u{i}", "display_name": n, "email": e, "phone_number": p,
                 "country_code": c, "last_login_ip": ip, "locale": "en-US",
                 "created_at": "2026-11-20T21:14:03Z", "plan": "premium",
                 "flags": {"verified": True, "marketing_opt_in": False},
                 "note": "account in good standing since 2019, ticket ref 4415-2290"})
body = json.dumps({"source": "trust-and-safety-sync", "batch_id": "b-20261120-07", "users": recs})
open(sys.argv[1], "w").write(body)
print(f"body: {len(body)} bytes, {len(recs)} records", file=sys.stderr)
PY
cat > "$work/post.lua" <<LUA
local f = io.open("$work/body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA

taskset -c 1 "$SINK" "$SINK_ADDR" & pids+=($!)
taskset -c 0 "$BIN" run --config "$work/policy.toml" --listen "$PROXY_ADDR" --admin-listen "$ADMIN_ADDR" \
    --workers 1 --log warn >/dev/null & pids+=($!)
for _ in $(seq 100); do curl -sf "http://$ADMIN_ADDR/readyz" >/dev/null && break; sleep 0.1; done
# sanity: the request is forwarded (allow), not blocked
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$PROXY_ADDR/crm/v1/import" -H 'content-type: application/json' --data-binary @"$work/body.json")
[ "$code" = 200 ] || { echo "customs did not forward the benchmark body (HTTP $code)" >&2; exit 1; }

run() { # url -> "rps p50_us p99_us"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/post.lua" "$1" 2>/dev/null | awk '
        /Requests\/sec/ {rps=$2}
        /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
        END {printf "%.0f %.0f %.0f\n", rps, us(p50), us(p99)}'
}
# warm-up
run "http://$SINK_ADDR/crm/v1/import" >/dev/null
run "http://$PROXY_ADDR/crm/v1/import" >/dev/null
direct=(); proxied=()
for r in $(seq "$ROUNDS"); do
    direct+=("$(run "http://$SINK_ADDR/crm/v1/import")")
    proxied+=("$(run "http://$PROXY_ADDR/crm/v1/import")")
    echo "round $r: direct ${direct[-1]} | customs ${proxied[-1]}  (rps p50_us p99_us)" >&2
done
served=$(curl -s "http://$ADMIN_ADDR/metrics" | awk '/^customs_requests_total\{action="allow"/ {s+=$2} END {print s+0}')
python3 - "$SECS" "$CONNS" "$served" "${direct[@]}" -- "${proxied[@]}" <<'PY'
import sys, statistics as st
secs, conns, served = sys.argv[1], sys.argv[2], sys.argv[3]
rest = sys.argv[4:]
i = rest.index("--")
d = [list(map(float, x.split())) for x in rest[:i]]
p = [list(map(float, x.split())) for x in rest[i+1:]]
def col(rows, k): return [r[k] for r in rows]
def fmt(rows, k):
    v = col(rows, k); return f"{st.median(v):>9.0f} ({min(v):.0f}..{max(v):.0f})"
print(f"load benchmark: {len(d)} rounds x {secs}s, wrk 1 thread, {conns} connections, keep-alive, POST ~4 KB / 10 records")
print(f"customs: 1 worker thread pinned to core 0; sink and wrk on core 1; customs allowed {served} requests (every record inspected)")
print(f"{'':10}{'rps':>24}{'p50 us':>24}{'p99 us':>24}")
print(f"{'direct':10}{fmt(d,0):>24}{fmt(d,1):>24}{fmt(d,2):>24}")
print(f"{'customs':10}{fmt(p,0):>24}{fmt(p,1):>24}{fmt(p,2):>24}")
print(f"ratio customs/direct: rps {st.median(col(p,0))/st.median(col(d,0)):.2f}x, p50 {st.median(col(p,1))/st.median(col(d,1)):.2f}x, p99 {st.median(col(p,2))/st.median(col(d,2)):.2f}x")
PY
