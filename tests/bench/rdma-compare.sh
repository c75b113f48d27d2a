#!/bin/bash
# rdma-compare: perftest over ntbrdma (ntbrdma0 on ntb0, 192.168.200.1/2)
# next to soft-RoCE (rxe0 on the virtio link vlink, 192.168.100.1/2), b
# serving and a connecting:
#   ib_write_bw, ib_read_bw, ib_send_bw at 64 B, 4 KiB, 64 KiB (MB/s, the
#   average), ib_write_lat, ib_send_lat, ib_read_lat at 8 B, 4 KiB (usec,
#   typical), plus the raw limits of the emulated NTB if raw-limit.json
#   exists next to $1 (or in $BUILD_DIR/bench).
# ntbrdma runs with dma=off: its copies are the CPU's (the user-space
# bypass and the kernel's), whose goals these are; rdma-dma.sh measures
# the DMA engine.
# Prints a table and writes JSON to $1 (default build/bench/rdma-compare.json).
# If ntbrdma cannot run (the engine that executes RDMA WRITE is not there
# yet: the integrity program's probe says so), its column says
# "n/a (engine not available)"; rxe still runs.  Figures only: exit 0
# unless this script itself is broken.  Run from the repository root with
# TESTBED set and the testbed up.  (TCG: the figures are not hardware's.)
# The scripts run in the VMs are single-quoted on purpose: their $1... are
# the arguments given after them, expanded in the VM.
# shellcheck disable=SC2016
. "$(dirname "$0")/../vm/lib.sh"
export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-180}

json=${1:-build/bench/rdma-compare.json}
IT=$BUILD_DIR/tests/vm/ntbrdma-integrity
BW_SIZES=(64 4096 65536)
LAT_SIZES=(8 4096)
# Bandwidth runs last BW_SECONDS each (-D): a fixed count of 64 KiB
# messages lasted only tens of ms and gave figures off by 2x run to run.
BW_SECONDS=3
LAT_ITERS=200
LIMIT=120 # seconds per perftest run
PORT=18800

declare -A res
runs=()
for t in ib_write_bw ib_read_bw ib_send_bw; do
	for s in "${BW_SIZES[@]}"; do runs+=("$t $s"); done
done
for t in ib_write_lat ib_send_lat ib_read_lat; do
	for s in "${LAT_SIZES[@]}"; do runs+=("$t $s"); done
done

# column NAME DEV SUBNET [FLAG...]: every run on one transport.
column() {
	local name=$1 dev=$2 subnet=$3 ga gb r t s iters op
	shift 3
	if ! ga=$(gid_index a "$dev" "$subnet.1") ||
		! gb=$(gid_index b "$dev" "$subnet.2"); then
		echo "$name: no RoCE v2 GIDs of $subnet.1/2 on $dev" >&2
		for r in "${runs[@]}"; do res[$name,$r]="n/a (no GID)"; done
		return 0
	fi
	echo "$name: $dev, GID index a $ga, b $gb" >&2
	for r in "${runs[@]}"; do
		read -r t s <<<"$r"
		iters=$LAT_ITERS
		PORT=$((PORT + 1))
		res[$name,$r]=$(perf "$PORT" "$dev" "$subnet" "$ga" "$gb" \
			"$t" "$s" "$iters" "$@")
		echo "  $name $t -s $s: ${res[$name,$r]}" >&2
	done
	[ "$name" = ntbrdma ] || return 0
	# For the goals: 64 KiB writes on 8 QPs, and b -> a.
	PORT=$((PORT + 1))
	res[$name,q8]=$(perf "$PORT" "$dev" "$subnet" "$ga" "$gb" \
		ib_write_bw 65536 0 -q 8 "$@")
	echo "  $name ib_write_bw -s 65536 -q 8: ${res[$name,q8]}" >&2
	PORT=$((PORT + 1))
	res[$name,ba]=$(REVERSE=1 perf "$PORT" "$dev" "$subnet" "$ga" "$gb" \
		ib_write_bw 65536 0 "$@")
	echo "  $name ib_write_bw -s 65536 b->a: ${res[$name,ba]}" >&2
}

# ntbrdma, with rxe0 out of the way (one device at a time).
ntb_state="ok"
why=$(bench_ntbrdma_up dma=off) || ntb_state="n/a ($why)"
if [ "$ntb_state" = ok ]; then
	if [ -x "$IT" ]; then
		pout=$(on a "$IT" --dev ntbrdma0 --loopback --probe-only 2>&1) &&
			prc=0 || prc=$?
	else
		pout="$IT not built" prc=1
	fi
	case $prc in
	0) ;;
	77)
		ntb_state="n/a (engine not available)"
		echo "ntbrdma: $(echo "$pout" |
			grep -m1 '^engine not available:')" >&2
		;;
	*)
		ntb_state="n/a (probe failed)"
		echo "ntbrdma: probe failed (exit $prc): $(echo "$pout" |
			grep -m1 '^FAIL' || echo "$pout" | tail -n 1)" >&2
		;;
	esac
fi
if [ "$ntb_state" = ok ]; then
	column ntbrdma ntbrdma0 192.168.200
else
	echo "ntbrdma: $ntb_state" >&2
	for r in "${runs[@]}"; do res[ntbrdma,$r]=$ntb_state; done
fi
for v in a b; do
	on "$v" sh -c 'rdma link del ntbrdma0 2>/dev/null; modprobe -r ntbrdma
		true' >/dev/null 2>&1 || true
done

# rxe on vlink (under TCG its QPs need a longer ACK timeout: -u 18).
rxe_ok=1
for v in a b; do
	on "$v" sh -c 'modprobe rdma_rxe && { [ -e /sys/class/infiniband/rxe0 ] ||
		rdma link add rxe0 type rxe netdev vlink; }' >/dev/null 2>&1 ||
		rxe_ok=0
done
if [ "$rxe_ok" = 1 ]; then
	column rxe rxe0 192.168.100 -u 18
else
	for r in "${runs[@]}"; do res[rxe,$r]="n/a (no rxe0)"; done
fi
for v in a b; do
	on "$v" sh -c 'rdma link del rxe0 2>/dev/null; true' >/dev/null 2>&1 ||
		true
done

# The table, and the JSON.
raw=$(raw_limits "$json")
echo
printf '%-14s %8s  %-28s %-28s\n' test size "ntbrdma (dma=off)" "rxe (vlink)"
for r in "${runs[@]}"; do
	read -r t s <<<"$r"
	unit="MB/s"
	[[ $t != *_lat ]] || unit="usec"
	printf '%-14s %8s  %-28s %-28s\n' "$t" "$s" \
		"${res[ntbrdma,$r]}$([[ ${res[ntbrdma,$r]} =~ ^[0-9.]+$ ]] &&
			echo " $unit")" \
		"${res[rxe,$r]}$([[ ${res[rxe,$r]} =~ ^[0-9.]+$ ]] && echo " $unit")"
done
if [ -n "$raw" ]; then
	echo "raw limit of the emulated NTB (raw-limit.json): $raw"
else
	echo "raw limit: no raw-limit.json (run tests/bench/raw-limit.sh)"
fi
# The goals of the kernel-bypass issue, from the figures of this run (the
# 64 B message rate, system calls and doorbells: user-bypass.sh).
n() { echo "${res["ntbrdma,$1"]}"; }
rawf() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" <<<"$raw"; }
echo "goals (ntbrdma, this run):"
rtt=$(rawf pingpong_rtt_ns_median)
lim=$(ratio "$rtt" 1000 3)
goal "ib_write_lat 8 B" "$(n "ib_write_lat 8")" "<=" "$lim" \
	"$(n "ib_write_lat 8") us <= 3x raw round trip ($lim us)"
v=$(ratio "$(n "ib_send_lat 8")" "$(n "ib_write_lat 8")")
goal "ib_send_lat 8 B" "$v" "<=" 1.5 "${v}x ib_write_lat 8 B <= 1.5x"
for d in ab ba; do
	if [ $d = ab ]; then
		w=$(n "ib_write_bw 65536") m=$(rawf memcpy_window_MBps)
	else
		w=$(n ba) m=$(rawf memcpy_window_ba_MBps)
	fi
	v=$(ratio "$w" "$m" 100)
	goal "ib_write_bw 64 KiB ${d:0:1}->${d:1}" "$v" ">=" 90 \
		"$v % of raw window memcpy ($w of $m MB/s) >= 90 %"
done
w=$(n "ib_write_bw 65536")
v=$(ratio "$(n "ib_send_bw 65536")" "$w" 100)
goal "ib_send_bw 64 KiB" "$v" ">=" 80 "$v % of ib_write_bw 64 KiB >= 80 %"
v=$(ratio "$(n "ib_read_bw 65536")" "$w" 100)
goal "ib_read_bw 64 KiB" "$v" ">=" 60 "$v % of ib_write_bw 64 KiB >= 60 %"
db=$(rawf doorbell_rtt_ns_median)
v=$(ratio "$(n "ib_read_lat 8")" "$db" 1000)
goal "ib_read_lat 8 B" "$v" "<=" 1.5 \
	"${v}x raw doorbell round trip ($db ns) <= 1.5x"
v=$(ratio "$(n q8)" "$w" 100)
goal "ib_write_bw 64 KiB -q 8" "$v" ">=" 90 "$v % of -q 1 ($(n q8) MB/s) >= 90 %"
x=${res["rxe,ib_write_bw 65536"]}
v=$(ratio "$w" "$x")
goal "ib_write_bw 64 KiB vs rxe" "$v" ">=" 30 "${v}x rxe >= 30x"

mkdir -p "$(dirname "$json")"
{
	echo "{"
	echo "  \"units\": {\"bw\": \"MB/s average\", \"lat\": \"usec typical\"},"
	for col in ntbrdma rxe; do
		echo "  \"$col\": {"
		i=0
		for r in "${runs[@]}"; do
			read -r t s <<<"$r"
			i=$((i + 1))
			sep=","
			[ "$i" -lt "${#runs[@]}" ] || sep=""
			echo "    \"${t}_$s\": $(jval "${res[$col,$r]}")$sep"
		done
		if [ $col = ntbrdma ]; then
			echo "    ,\"ib_write_bw_65536_q8\": $(jval "${res[$col,q8]:-}")"
			echo "    ,\"ib_write_bw_65536_b_to_a\": $(jval "${res[$col,ba]:-}")"
		fi
		echo "  },"
	done
	echo "  \"raw_limit\": ${raw:-null}"
	echo "}"
} >"$json"
echo "rdma-compare: wrote $json"
