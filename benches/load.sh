#!/usr/bin/env bash
# Load benchmark: the same POST (a ~4 KB JSON batch of 10 user records with real
# signals: countries, public IPs, phone numbers) sent directly to a sink upstream, through
# nginx (1 worker, plain proxy_pass, no inspection) and through customs (inspecting every
# record), in the same run, interleaved, on loopback only.
#
#   benches/load.sh [seconds-per-round] [rounds] [connections]
#
# Installs wrk, hey and nginx (Debian packages) if missing. CPU pinning: nginx and
# customs on core 0, the sink and the load generators on core 1. Besides wrk and hey, a
# small Python client paces requests evenly at 1,000/s and times them to the microsecond.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
ROUNDS=${2:-3}
CONNS=${3:-32}
need=()
command -v wrk >/dev/null || need+=(wrk)
command -v hey >/dev/null || need+=(hey)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]}..." >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
cargo build --release --quiet --bin customs --example sink
BIN=target/release/customs
SINK=target/release/examples/sink
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

SINK_ADDR=127.0.0.1:19100
NGINX_ADDR=127.0.0.1:19280
PROXY_ADDR=127.0.0.1:19180
ADMIN_ADDR=127.0.0.1:19190
PROXY_MT_ADDR=127.0.0.1:19181
ADMIN_MT_ADDR=127.0.0.1:19191
# customs as deployed by default: the decision log on (one JSON line per request), its
# standard output read through a pipe, as a container runtime reads it
LOGGED_ADDR=127.0.0.1:19183
LOGGED_ADMIN=127.0.0.1:19193
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
# The same records 260 times (~1 MB): for the memory one request in flight takes.
python3 - "$work/body.json" "$work/big.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["users"] = [dict(u, user_id=f"u{i}") for i, u in enumerate(d["users"] * 260)]
open(sys.argv[2], "w").write(json.dumps(d))
PY
# ~1 MB of tiny values, `[0,0,…]`: a tree would take ~6-12x it; customs reads it without.
python3 -c 'import sys; open(sys.argv[1], "w").write("[" + ",".join(["0"] * 524288) + "]")' "$work/zeros.json"
cat > "$work/post.lua" <<LUA
local f = io.open("$work/body.json", "rb")
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"
LUA
mkdir -p "$work/nginx"
cat > "$work/nginx.conf" <<NGX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    upstream sink { server $SINK_ADDR; keepalive 128; }
    server {
        listen $NGINX_ADDR;
        client_body_buffer_size 64k;
        location / {
            proxy_pass http://sink;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGX

taskset -c 1 "$SINK" "$SINK_ADDR" & pids+=($!)
taskset -c 0 "$NGINX" -c "$work/nginx.conf" & pids+=($!)
taskset -c 0 "$BIN" run --config "$work/policy.toml" --listen "$PROXY_ADDR" --admin-listen "$ADMIN_ADDR" \
    --workers 1 --log warn --no-watch >/dev/null & CUSTOMS_PID=$!; pids+=($CUSTOMS_PID)
"$BIN" run --config "$work/policy.toml" --listen "$PROXY_MT_ADDR" --admin-listen "$ADMIN_MT_ADDR" \
    --log warn --no-watch >/dev/null & pids+=($!)
taskset -c 0 "$BIN" run --config "$work/policy.toml" --listen "$LOGGED_ADDR" --admin-listen "$LOGGED_ADMIN" \
    --workers 1 --log info --no-watch 2>/dev/null > >(cat >/dev/null) & LOGGED_PID=$!; pids+=($LOGGED_PID)
for _ in $(seq 100); do curl -sf "http://$ADMIN_ADDR/readyz" >/dev/null && curl -sf "http://$ADMIN_MT_ADDR/readyz" >/dev/null && curl -sf "http://$LOGGED_ADMIN/readyz" >/dev/null && break; sleep 0.1; done
NGINX_PID=$(cat "$work/nginx/nginx.pid" 2>/dev/null || true)
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -1 || true)
for url in "http://$PROXY_ADDR/crm/v1/import" "http://$NGINX_ADDR/crm/v1/import"; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$url" -H 'content-type: application/json' --data-binary @"$work/body.json")
    [ "$code" = 200 ] || { echo "$url did not forward the benchmark body (HTTP $code)" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK=$(getconf CLK_TCK)
# url pid -> "rps p50_us p99_us cpu_us_per_req"
run() {
    local before after out
    before=$( [ -n "$2" ] && cpu_ticks "$2" || echo 0 )
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s "$work/post.lua" "$1" 2>/dev/null)
    after=$( [ -n "$2" ] && cpu_ticks "$2" || echo 0 )
    echo "$out" | awk -v b="$before" -v a="$after" -v clk="$CLK" '
        /Requests\/sec/ {rps=$2}
        /requests in/ {n=$1}
        /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return v*1000; if (v ~ /s$/) return v*1000000; return v }
        END {cpu = (n > 0 && a > b) ? (a - b) * 1000000 / clk / n : 0; printf "%.0f %.0f %.0f %.1f\n", rps, us(p50), us(p99), cpu}'
}
# fixed rate: 1000 requests/s for SECS seconds (hey: 10 workers x 100 q/s) -> "p50_us p99_us"
fixed() {
    taskset -c 1 hey -z "${SECS}s" -c 10 -q 100 -m POST -T application/json -D "$work/body.json" "$1" 2>/dev/null | awk '
        /  50% in/ {p50=$3*1000000} /  99% in/ {p99=$3*1000000}
        END {printf "%.0f %.0f\n", p50, p99}'
}
# fixed rate, evenly paced: request i is sent at start + i ms, over 10 keep-alive
# connections in turn (each has 10 ms for its answer), timed to the microsecond from its
# send to the end of its answer -> "p50_us p99_us". hey's 10 workers tick in step, so
# its requests arrive as bursts of 10 every 10 ms, and it reports in steps of 100 us.
paced() {
    taskset -c 1 python3 - "$1" "$SECS" "$work/body.json" <<'PY'
import asyncio, socket, sys, time
addr, secs, body = sys.argv[1], int(sys.argv[2]), open(sys.argv[3], "rb").read()
host, port = addr.split(":")
req = (f"POST /crm/v1/import HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n"
       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
RATE, CONNS = 1000, 10
lat = []
async def conn():
    r, w = await asyncio.open_connection(host, int(port))
    w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return r, w
async def exchange(r, w):
    w.write(req)
    head = await r.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head[:40]
    n = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
    await r.readexactly(n[0] if n else 0)
async def worker(k, t0, total):
    r, w = await conn()
    for i in range(k, total, CONNS):
        delay = t0 + i / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        start = time.perf_counter()
        try:
            await exchange(r, w)
        except (asyncio.IncompleteReadError, ConnectionError):
            # The server closed the keep-alive connection (nginx does after 1,000
            # requests): reconnect and send again, timed from the new send.
            r, w = await conn()
            start = time.perf_counter()
            await exchange(r, w)
        lat.append(time.perf_counter() - start)
async def main():
    t0 = time.perf_counter() + 0.1
    await asyncio.gather(*(worker(k, t0, RATE * secs) for k in range(CONNS)))
asyncio.run(main())
lat.sort()
print(f"{lat[len(lat) // 2] * 1e6:.0f} {lat[int(len(lat) * 0.99)] * 1e6:.0f}")
PY
}
echo "warm-up..." >&2
run "http://$SINK_ADDR/crm/v1/import" "" >/dev/null
run "http://$NGINX_ADDR/crm/v1/import" "" >/dev/null
run "http://$PROXY_ADDR/crm/v1/import" "" >/dev/null
run "http://$LOGGED_ADDR/crm/v1/import" "" >/dev/null
direct=(); ngx=(); cst=(); lgd=()
for r in $(seq "$ROUNDS"); do
    direct+=("$(run "http://$SINK_ADDR/crm/v1/import" "")")
    ngx+=("$(run "http://$NGINX_ADDR/crm/v1/import" "$NGINX_WORKER")")
    cst+=("$(run "http://$PROXY_ADDR/crm/v1/import" "$CUSTOMS_PID")")
    lgd+=("$(run "http://$LOGGED_ADDR/crm/v1/import" "$LOGGED_PID")")
    echo "round $r: direct ${direct[-1]} | nginx ${ngx[-1]} | customs ${cst[-1]} | customs+log ${lgd[-1]}  (rps p50_us p99_us cpu_us/req)" >&2
done
mt="$(run "http://$PROXY_MT_ADDR/crm/v1/import" "")"
echo "fixed 1000 req/s..." >&2
fd="$(fixed "http://$SINK_ADDR/crm/v1/import")"
fn="$(fixed "http://$NGINX_ADDR/crm/v1/import")"
fc="$(fixed "http://$PROXY_ADDR/crm/v1/import")"
pd="$(paced "$SINK_ADDR")"
pn="$(paced "$NGINX_ADDR")"
pc="$(paced "$PROXY_ADDR")"

# memory: 1000 idle keep-alive connections to the single-worker customs, two ways:
# opened one after another (each sends one request, reads the answer, stays open), and
# all at once (1000 requests in flight together, then idle).
rss_before=$(awk '/VmRSS/ {print $2}' "/proc/$CUSTOMS_PID/status")
python3 - "$PROXY_ADDR" "$work/body.json" "$CUSTOMS_PID" <<'PY' > "$work/rss"
import socket, sys, time
host, port = sys.argv[1].split(":")
body = open(sys.argv[2], "rb").read()
req = (f"POST /crm/v1/import HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body
def rss():
    return [l for l in open(f"/proc/{sys.argv[3]}/status") if l.startswith("VmRSS")][0].split()[1]
def answer(s):
    s.settimeout(5)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(4096)
out = []
for burst in (False, True):
    socks = []
    for i in range(1000):
        s = socket.create_connection((host, int(port)))
        s.sendall(req)
        if not burst:
            answer(s)
        socks.append(s)
    if burst:
        for s in socks:
            answer(s)
    time.sleep(1)
    out.append(rss())
    for s in socks:
        s.close()
    time.sleep(1)
print(" ".join(out))
PY
read -r rss_1000 rss_burst < "$work/rss"

# memory one request takes in flight, in a fresh single-worker customs each time (a
# long-running one serves a large body from pages its allocator already holds, so its
# peak may not move at all): 20 small requests to warm up, the peak resident set reset
# (clear_refs 5), then one ~1 MB batch. Once to the crm route (allowed), once to the chat
# route (blocked: 403; its profile has a JSONPath selector, which runs on the body's
# tree), and once ~1 MB of zeros to the crm route (allowed; read without a tree).
INFLIGHT_ADDR=127.0.0.1:19182
INFLIGHT_ADMIN=127.0.0.1:19192
inflight() {
    taskset -c 0 "$BIN" run --config "$work/policy.toml" --listen "$INFLIGHT_ADDR" --admin-listen "$INFLIGHT_ADMIN" \
        --workers 1 --log warn --no-watch >/dev/null & local pid=$!
    for _ in $(seq 100); do curl -sf "http://$INFLIGHT_ADMIN/readyz" >/dev/null && break; sleep 0.1; done
    python3 - "$INFLIGHT_ADDR" "$work/body.json" "${3:-$work/big.json}" "$pid" "$1" "$2" <<'PY'
import socket, sys, time
host, port = sys.argv[1].split(":")
pid, route, status = sys.argv[4], sys.argv[5], sys.argv[6].encode()
def hwm():
    return int([l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1])
def post(path, route, status):
    body = open(path, "rb").read()
    s = socket.create_connection((host, int(port)))
    s.sendall(f"POST {route} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body)
    s.settimeout(10)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    s.close()
    assert status in buf.split(b"\r\n")[0], buf[:100]
    return len(body)
for _ in range(20):
    post(sys.argv[2], "/crm/v1/import", b" 200 ")
time.sleep(0.5)
with open(f"/proc/{pid}/clear_refs", "w") as f:
    f.write("5")
h0 = hwm()
n = post(sys.argv[3], route, status)
time.sleep(0.2)
print(n, hwm() - h0)
PY
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
# One after another, each to its end (the process gone and its port free): a process
# substitution would let the next start while the last still shuts down.
inflight /crm/v1/import " 200 " > "$work/inflight.allowed"
inflight /chat/v1/import " 403 " > "$work/inflight.blocked"
inflight /crm/v1/import " 200 " "$work/zeros.json" > "$work/inflight.zeros"
read -r big_bytes big_peak < "$work/inflight.allowed"
read -r _ big_blocked < "$work/inflight.blocked"
read -r zeros_bytes zeros_peak < "$work/inflight.zeros"

python3 - "$SECS" "$CONNS" "$mt" "$fd" "$fn" "$fc" "$pd" "$pn" "$pc" "$rss_before" "$rss_1000" "$rss_burst" "$big_bytes" "$big_peak" "$big_blocked" "$zeros_bytes" "$zeros_peak" "${direct[@]}" -- "${ngx[@]}" -- "${cst[@]}" -- "${lgd[@]}" <<'PY'
import sys, statistics as st
secs, conns, mt, fd, fn, fc, pd, pn, pc, rss0, rss1, rss2, bigb, bigp, bigx, zb, zp = sys.argv[1:18]
rest = sys.argv[18:]
a = rest.index("--"); b = rest.index("--", a + 1); e = rest.index("--", b + 1)
rows = lambda xs: [list(map(float, x.split())) for x in xs]
d, n, c, lg = rows(rest[:a]), rows(rest[a+1:b]), rows(rest[b+1:e]), rows(rest[e+1:])
col = lambda r, k: [x[k] for x in r]
med = lambda r, k: st.median(col(r, k))
def cell(r, k): v = col(r, k); return f"{st.median(v):.0f} ({min(v):.0f}..{max(v):.0f})"
def cpu(r): v = col(r, 3); return f"{st.median(v):.1f}" if any(v) else "-"
print(f"load benchmark: {len(d)} interleaved rounds x {secs}s, wrk 1 thread, {conns} keep-alive connections,")
print(f"POST ~4 KB JSON, 10 user records; nginx and customs: 1 worker pinned to core 0; sink and wrk on core 1")
print(f"{'':10}{'req/s median (min..max)':>28}{'p50 us':>22}{'p99 us':>22}{'CPU us/req':>12}")
for name, r in (("direct", d), ("nginx", n), ("customs", c), ("+log", lg)):
    print(f"{name:10}{cell(r,0):>28}{cell(r,1):>22}{cell(r,2):>22}{cpu(r):>12}")
print("(+log: customs with its decision log on, the default, standard output read through a pipe;")
print(" nginx runs with access_log off and the customs row with --log warn, so those two compare like for like)")
print(f"throughput: customs/nginx {med(c,0)/med(n,0):.2f}x (with its decision log {med(lg,0)/med(n,0):.2f}x), nginx/direct {med(n,0)/med(d,0):.2f}x, customs/direct {med(c,0)/med(d,0):.2f}x")
m = list(map(float, mt.split()))
print(f"customs, all cores (2 workers, unpinned): {m[0]:.0f} req/s, p50 {m[1]:.0f} us, p99 {m[2]:.0f} us")
f = [list(map(float, x.split())) for x in (fd, fn, fc)]
print(f"fixed 1000 req/s (hey, 10 connections): p50 / p99 us: direct {f[0][0]:.0f} / {f[0][1]:.0f}, nginx {f[1][0]:.0f} / {f[1][1]:.0f}, customs {f[2][0]:.0f} / {f[2][1]:.0f}")
print(f"  added to the median over direct: nginx {f[1][0]-f[0][0]:+.0f} us, customs {f[2][0]-f[0][0]:+.0f} us; customs p99 - direct p99: {f[2][1]-f[0][1]:+.0f} us")
p = [list(map(float, x.split())) for x in (pd, pn, pc)]
print(f"fixed 1000 req/s, evenly paced (10 connections, us resolution): p50 / p99 us: direct {p[0][0]:.0f} / {p[0][1]:.0f}, nginx {p[1][0]:.0f} / {p[1][1]:.0f}, customs {p[2][0]:.0f} / {p[2][1]:.0f}")
print(f"  added to the median over direct: nginx {p[1][0]-p[0][0]:+.0f} us, customs {p[2][0]-p[0][0]:+.0f} us; customs p99 - direct p99: {p[2][1]-p[0][1]:+.0f} us")
print(f"customs RSS: {int(rss0)/1024:.1f} MiB after the runs; with 1000 idle keep-alive connections: {int(rss1)/1024:.1f} MiB opened one after another, {int(rss2)/1024:.1f} MiB after 1000 requests at once")
print(f"one {int(bigb)/1024:.0f} KiB batch in flight (fresh process; the body itself included): peak RSS +{int(bigp)/1024:.1f} MiB, {int(bigp)*1024/int(bigb):.2f}x its body (allowed);"
      f" +{int(bigx)/1024:.1f} MiB, {int(bigx)*1024/int(bigb):.2f}x (blocked, on a route with a JSONPath selector)")
print(f"one {int(zb)/1024:.0f} KiB body of zeros, [0,0,...], in flight (allowed): peak RSS +{int(zp)/1024:.1f} MiB, {int(zp)*1024/int(zb):.2f}x its body")
PY
