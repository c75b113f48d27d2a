#!/bin/bash
# raw-limit: the most the emulated NTB can give, measured in the kernel by
# tests/kernel/ntb_window_test, with nothing of ntbrdma in the way:
#   - memcpy bandwidth a -> b through memory window 0 (write-combining
#     mapping, 64 KiB chunks, ~1 s per run, median of 3 runs), next to a
#     plain local memcpy of the same bytes in a, and b -> a the same way;
#   - shared-memory ping-pong through the windows (10000 round trips, a
#     pings, b pongs): median round trip and one-way latency;
#   - doorbell ping-pong (DB_ITERS round trips, interrupt to interrupt,
#     kernel to kernel: a rings b's doorbell, b's interrupt handler rings
#     a's): median round trip, the least a message that needs the peer's
#     kernel (READ, a control message) can cost;
#   - the emulated DMA engine (Documentation/dma-engine.md: copies run on
#     a thread of the ivshmem server on the host, not on a guest's vCPU):
#     a -> b through the window, 64 MiB as 64 KiB and as 1 MiB copies all
#     submitted at once, and the median time from submitting an 8-byte
#     copy to its completion callback (interrupt included).
# Prints the figures and writes them as JSON to $1 (default
# build/bench/raw-limit.json).  Run from the repository root with TESTBED
# set and the testbed up.  Figures only: exit 0 when measured, 1 when not.
# The scripts run in the VMs are single-quoted on purpose: their $1... are
# the arguments given after them, expanded in the VM.
# shellcheck disable=SC2016
set -euo pipefail

: "${TESTBED:?TESTBED must name the testbed script}"

json=${1:-build/bench/raw-limit.json}
ITERS=10000
DB_ITERS=2000
RUNS=3
CHUNK=65536
DBG=/sys/kernel/debug/ntb_window_test

die() {
	echo "raw-limit: $*" >&2
	exit 1
}

# vmsh VM SCRIPT [ARG...]: run SCRIPT with bash as root in VM, ARGs as $1...
vmsh() {
	local vm=$1 script=$2
	shift 2
	TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-120} \
		"$TESTBED" run "$vm" -- bash -c "$script" raw-limit "$@"
}

# field NAME LINE: the value of NAME=value in LINE.
field() {
	local v
	v=$(tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p")
	[[ $v =~ ^[0-9]+$ ]] || die "no $1 in '$2'"
	echo "$v"
}

cleanup() {
	local vm
	for vm in a b; do
		vmsh "$vm" 'modprobe -r ntb_window_test' >/dev/null 2>&1 || true
	done
}

trap cleanup EXIT
declare -A dir addr
for vm in a b; do
	out=$(vmsh "$vm" 'modprobe ntb_window_test' 2>&1) ||
		die "$vm: modprobe ntb_window_test: $out"
	d=$(vmsh "$vm" 'ls -d "$1"/*/ 2>/dev/null' "$DBG") || true
	[ "$(wc -w <<<"$d")" = 1 ] ||
		die "$vm: expected one NTB device under $DBG, found: '$d'"
	dir[$vm]=${d%/}
	read -r addr[$vm] _ <<<"$(vmsh "$vm" 'cat "$1/buf_addr"' "${dir[$vm]}")"
	[[ ${addr[$vm]} =~ ^0x[0-9a-f]+$ ]] || die "$vm: bad buf_addr"
done

# memcpy_median FROM TO: RUNS time-bound runs of FROM's window into TO's
# buffer; prints the median run's result line (by window bandwidth).
memcpy_median() {
	local from=$1 to=$2 i r results=() median
	for ((i = 0; i < RUNS; i++)); do
		r=$(vmsh "$from" 'echo "$2 0 $3" >"$1/bench_memcpy" &&
			cat "$1/bench_memcpy"' "${dir[$from]}" "${addr[$to]}" \
			"$CHUNK") || die "$from: bench_memcpy failed"
		echo "  $from->$to run $((i + 1)): $r" >&2
		results+=("$(field memcpy_window_MBps "$r") $r")
	done
	median=$(printf '%s\n' "${results[@]}" | sort -n |
		sed -n "$((RUNS / 2 + 1))p")
	echo "${median#* }"
}

median=$(memcpy_median a b)
window_mbps=$(field memcpy_window_MBps "$median")
local_mbps=$(field local_memcpy_MBps "$median")
median=$(memcpy_median b a)
window_ba_mbps=$(field memcpy_window_MBps "$median")

# dma_bench CHUNK: a's engine into b's buffer; the result line, or nothing.
dma_bench() {
	vmsh a 'echo "$2 67108864 $3" >"$1/dma_bench" && cat "$1/dma_bench"' \
		"${dir[a]}" "${addr[b]}" "$1" 2>/dev/null || true
}
dma64=$(dma_bench 65536)
dma1m=$(dma_bench 1048576)
echo "  DMA a->b 64 KiB copies: ${dma64:-failed}"
echo "  DMA a->b 1 MiB copies: ${dma1m:-failed}"
dma64_mbps=$(field dma_MBps "$dma64" 2>/dev/null || true)
dma1m_mbps=$(field dma_MBps "$dma1m" 2>/dev/null || true)
dma_lat=$(field lat8_ns_median "$dma1m" 2>/dev/null || true)

# Latency: the pong side first, it waits up to 30 s for the pings.
vmsh b 'echo "$2 pong $3" >"$1/pingpong"' "${dir[b]}" "${addr[a]}" "$ITERS" ||
	die "b: pingpong pong failed to start"
wait_result='echo "$2 ping $3" >"$1/pingpong" || exit 1
for i in $(seq 100); do
	r=$(cat "$1/pingpong_result")
	[ "$r" != running ] && break
	sleep 0.5
done
echo "$r"'
ping=$(vmsh a "$wait_result" "${dir[a]}" "${addr[b]}" "$ITERS") ||
	die "a: pingpong ping failed to start"
pong=$(vmsh b 'cat "$1/pingpong_result"' "${dir[b]}")
echo "  ping (a): $ping"
echo "  pong (b): $pong"
[ "$(field iters "$ping")" = "$ITERS" ] || die "ping-pong did not finish: $ping"
rtt=$(field rtt_ns_median "$ping")
oneway=$(field oneway_ns_median "$ping")

# Doorbells: b answers a's pings from its interrupt handler by itself.
dbpp=$(vmsh a 'echo "$2" >"$1/dbpingpong"; cat "$1/dbpingpong_result"' \
	"${dir[a]}" "$DB_ITERS") || die "a: dbpingpong failed"
echo "  doorbell ping (a): $dbpp"
[ "$(field iters "$dbpp")" = "$DB_ITERS" ] ||
	die "doorbell ping-pong did not finish: $dbpp"
db_rtt=$(field rtt_ns_median "$dbpp")

echo "memcpy through the window a->b (${CHUNK} B chunks): ${window_mbps} MB/s" \
	"(local memcpy in a: ${local_mbps} MB/s); b->a: ${window_ba_mbps} MB/s"
echo "ping-pong through the windows: one-way ${oneway} ns median," \
	"round trip ${rtt} ns median ($ITERS round trips)"
echo "doorbell ping-pong, interrupt to interrupt: round trip ${db_rtt} ns" \
	"median ($DB_ITERS round trips)"
if [ -n "$dma1m_mbps" ]; then
	echo "DMA engine (emulated: the host copies) a->b: ${dma64_mbps} MB/s" \
		"in 64 KiB copies, ${dma1m_mbps} MB/s in 1 MiB copies;" \
		"8-byte copy, submit to callback: ${dma_lat} ns median"
else
	echo "DMA engine: not measured (no DMA_MEMCPY channel in a)"
fi
echo "(prototype baseline: ~400 MB/s memcpy, ~150 ns round trip)"

mkdir -p "$(dirname "$json")"
printf '{"memcpy_window_MBps": %s, "memcpy_window_ba_MBps": %s, "local_memcpy_MBps": %s, "pingpong_oneway_ns_median": %s, "pingpong_rtt_ns_median": %s, "doorbell_rtt_ns_median": %s, "dma_64k_MBps": %s, "dma_1m_MBps": %s, "dma_lat8_ns_median": %s}\n' \
	"$window_mbps" "$window_ba_mbps" "$local_mbps" "$oneway" "$rtt" \
	"$db_rtt" "${dma64_mbps:-null}" "${dma1m_mbps:-null}" \
	"${dma_lat:-null}" >"$json"
echo "raw-limit: wrote $json"
