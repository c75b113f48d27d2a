#!/bin/bash
# rdma-dma: ntbrdma's copies by the DMA engine against the CPU's, in one
# run on the same testbed (Documentation/dma-engine.md, part 2).  The
# engine is the testbed's emulated one: the ivshmem server copies on the
# host, beside the VMs, as a hardware engine copies beside the CPU.
# ntbrdma loaded with dma=off, then with dma=auto (default threshold),
# b serving and a connecting:
#   - ib_write_bw, ib_send_bw, ib_read_bw at 64 KiB and 1 MiB, buffers in
#     2 MiB huge pages (--use_hugepages: the engine takes one descriptor
#     per physically contiguous piece); ib_write_bw 1 MiB again with
#     perftest's own 4 KiB pages (one descriptor per page);
#   - ib_write_lat 8 B (below the threshold: the CPU either way);
#   - the requester's CPU time per GB moved: ntbrdma-cpubw (RDMA WRITE 1
#     MiB, 16 in flight, completions waited for by event, huge pages),
#     the busy time of all of a's CPUs (/proc/stat) per GB.
# Goals (issue 13), from this run: ib_write_bw 1 MiB with the engine >=
# 90 % of the engine's raw throughput (raw-limit.json's dma_1m_MBps: 64
# MiB in 1 MiB copies, next to $1 or in $BUILD_DIR/bench); CPU time per
# GB with the engine at least 5x lower than with dma=off; ib_write_lat
# 8 B with dma=auto within 10 % of dma=off.
# Prints a table and writes JSON to $1 (default build/bench/rdma-dma.json).
# Figures only: exit 0 unless this script is broken.  Run from the
# repository root with TESTBED set and the testbed up.  (TCG: the figures
# are the emulator's; compare only ratios.)
# shellcheck disable=SC2016
. "$(dirname "$0")/../vm/lib.sh"
export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-180}

json=${1:-build/bench/rdma-dma.json}
CB=$BUILD_DIR/tests/vm/ntbrdma-cpubw
BW_SECONDS=3
LIMIT=120
LAT_ITERS=200
PORT=18950
HUGEPAGES=64 # 2 MiB pages reserved in each VM (perftest and ntbrdma-cpubw)
MODES=(off auto)
runs=("ib_write_bw 65536 huge" "ib_write_bw 1048576 huge"
	"ib_send_bw 65536 huge" "ib_send_bw 1048576 huge"
	"ib_read_bw 65536 huge" "ib_read_bw 1048576 huge"
	"ib_write_bw 1048576 4k" "ib_write_lat 8 4k")
declare -A res

# down: no ntbrdma in either VM (bench_ntbrdma_up takes rxe0 away).
down() {
	ntbrdma_teardown a >/dev/null 2>&1
	ntbrdma_teardown b >/dev/null 2>&1
}

# cpubw: ntbrdma-cpubw 1 MiB for BW_SECONDS; "MBps S_PER_GB" or "fail".
cpubw() {
	local out rc=0 srv
	PORT=$((PORT + 1))
	on b timeout "$LIMIT" "$CB" server ntbrdma0 "$PORT" huge \
		>/dev/null 2>&1 &
	srv=$!
	wait_listen b "$PORT"
	out=$(on a timeout "$LIMIT" "$CB" client ntbrdma0 192.168.200.2 \
		"$PORT" 1048576 "$BW_SECONDS" huge 2>&1) || rc=$?
	wait "$srv" || true
	if [ "$rc" != 0 ]; then
		echo "  ntbrdma-cpubw: exit $rc: $(echo "$out" | tail -n 2 |
			tr '\n' ' ')" >&2
		echo fail
		return 0
	fi
	echo "$out" | awk '/^MBps/ { printf "%s %.3f\n", $2,
		$10 / ($4 / 1e9) }'
}

for v in a b; do
	on "$v" sh -c "echo $HUGEPAGES > /proc/sys/vm/nr_hugepages" \
		>/dev/null 2>&1 || echo "rdma-dma: $v: no huge pages" >&2
done
for mode in "${MODES[@]}"; do
	down
	if ! why=$(bench_ntbrdma_up "dma=$mode"); then
		echo "rdma-dma: dma=$mode: $why" >&2
		for r in "${runs[@]}" cpu; do res[$mode,$r]="n/a"; done
		continue
	fi
	ga=$(gid_index a ntbrdma0 192.168.200.1) || ga=1
	gb=$(gid_index b ntbrdma0 192.168.200.2) || gb=1
	echo "dma=$mode: channel $(dma_stat a channel)" >&2
	for r in "${runs[@]}"; do
		read -r t s mem <<<"$r"
		flags=()
		[ "$mem" = 4k ] || flags=(--use_hugepages)
		PORT=$((PORT + 1))
		res[$mode,$r]=$(perf "$PORT" ntbrdma0 192.168.200 "$ga" "$gb" \
			"$t" "$s" "$LAT_ITERS" "${flags[@]}")
		echo "  dma=$mode $r: ${res[$mode,$r]}" >&2
	done
	res[$mode,cpu]=$(cpubw)
	echo "  dma=$mode ntbrdma-cpubw (MB/s, s/GB): ${res[$mode,cpu]}" >&2
	echo "  dma=$mode engine: $(onsh a "grep -E '^(batches|descriptors|bytes|errors):' \
		/sys/kernel/debug/ntbrdma/*/dma | tr '\n' ' '")" >&2
done
down
for v in a b; do
	on "$v" sh -c 'echo 0 > /proc/sys/vm/nr_hugepages' >/dev/null 2>&1 ||
		true
done

raw=$(raw_limits "$json")
rawf() { sed -n "s/.*\"$1\": *\([0-9.]*\).*/\1/p" <<<"$raw"; }
unit() { [[ $1 =~ ^[0-9.]+$ ]] && echo "$1 $2" || echo "$1"; }
echo
echo "ntbrdma: CPU copies (dma=off) against the DMA engine (dma=auto; the"
echo "emulated engine: the host copies); buffers in huge pages unless 4k"
printf '%-14s %8s %-5s %-16s %-16s\n' test size pages dma=off dma=auto
for r in "${runs[@]}"; do
	read -r t s mem <<<"$r"
	u="MB/s"
	[[ $t != *_lat ]] || u="usec"
	printf '%-14s %8s %-5s %-16s %-16s\n' "$t" "$s" "$mem" \
		"$(unit "${res[off,$r]}" "$u")" "$(unit "${res[auto,$r]}" "$u")"
done
read -r off_mbps off_spg <<<"${res[off,cpu]}"
read -r auto_mbps auto_spg <<<"${res[auto,cpu]}"
printf '%-29s %-16s %-16s\n' "WRITE 1 MiB by event, MB/s" "${off_mbps:-fail}" \
	"${auto_mbps:-fail}"
printf '%-29s %-16s %-16s\n' "  a's CPU seconds per GB" "${off_spg:-fail}" \
	"${auto_spg:-fail}"
e1m=$(rawf dma_1m_MBps)
echo "raw engine (raw-limit.json): ${e1m:-n/a} MB/s in 1 MiB copies over 64 MiB" \
	"(the 1 MiB WRITEs above reuse one buffer: the host's caches may hold it)"
echo "goals (this run):"
w=${res["auto,ib_write_bw 1048576 huge"]}
v=$(ratio "$w" "$e1m" 100)
goal "ib_write_bw 1 MiB, engine" "$v" ">=" 90 \
	"$v % of the engine's raw $e1m MB/s >= 90 %"
v=$(ratio "$off_spg" "$auto_spg")
goal "CPU per GB, dma=off / dma=auto" "$v" ">=" 5 "${v}x lower >= 5x"
v=$(ratio "${res["auto,ib_write_lat 8 4k"]}" "${res["off,ib_write_lat 8 4k"]}")
goal "ib_write_lat 8 B, auto / off" "$v" "<=" 1.1 "${v}x <= 1.1x"

mkdir -p "$(dirname "$json")"
{
	echo "{"
	echo "  \"units\": {\"bw\": \"MB/s average\", \"lat\": \"usec typical\", \"cpu\": \"s per GB, all CPUs of a\"},"
	for mode in "${MODES[@]}"; do
		echo "  \"dma_$mode\": {"
		for r in "${runs[@]}"; do
			read -r t s mem <<<"$r"
			echo "    \"${t}_${s}_$mem\": $(jval "${res[$mode,$r]}"),"
		done
		read -r m g <<<"${res[$mode,cpu]}"
		echo "    \"cpubw_write_1m_MBps\": $(jval "${m:-fail}"),"
		echo "    \"cpubw_write_1m_s_per_GB\": $(jval "${g:-fail}")"
		echo "  },"
	done
	echo "  \"raw_limit\": ${raw:-null}"
	echo "}"
} >"$json"
echo "rdma-dma: wrote $json"
