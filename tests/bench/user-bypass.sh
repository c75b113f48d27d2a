#!/bin/bash
# user-bypass: RDMA WRITE and READ from user space (kernel bypass) against
# the kernel path, in one run on the same testbed (NTBRDMA_BYPASS=0 turns
# the bypass off in the provider), with the goals of the kernel-bypass
# issue that concern them:
#   - ib_write_lat 8 B (typical) <= 3x the raw ping-pong round trip;
#   - ib_write_bw 64 B >= 1,000,000 msg/s;
#   - ib_write_bw 64 KiB >= 90 % of the raw window memcpy;
#   - ib_read_lat 8 B (typical) <= 1.5x the raw doorbell round trip;
#   - proof of bypass: ib_write_lat -n 10000 makes fewer than 100 system
#     calls more than -n 10 (strace -c -f on both ends), and b takes
#     fewer than 100 interrupts of the NTB (ivshmem) during it; the same
#     for ib_read_lat and ib_send_lat;
#   - ib_send_lat 8 B (eager SENDs, Documentation/rdma-datapath.md
#     "Stage B") <= 1.5x ib_write_lat 8 B; NTBRDMA_EAGER=0 (with the rest
#     of the bypass on) gives the kernel path's figure next to it.
# ntbrdma runs with dma=off: a 64 KiB WRITE would otherwise go to the
# kernel's DMA engine (rdma-dma.sh), not through the bypass.
# The raw figures come from raw-limit.json next to $1 (or in
# $BUILD_DIR/bench): run-tests runs the benchmarks in name order, so they
# are this run's raw-limit figures.  Prints a table and writes JSON to $1 (default
# build/bench/user-bypass.json).  Figures only: exit 0 unless this script is
# broken.  Run from the repository root with TESTBED set and the testbed
# up.  (TCG: the figures are the emulator's; compare only ratios.)
# The scripts run in the VMs are single-quoted on purpose: their $1... are
# the arguments given after them, expanded in the VM.
# shellcheck disable=SC2016
. "$(dirname "$0")/../vm/lib.sh"
export TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-180}

json=${1:-build/bench/user-bypass.json}
LIMIT=120
PORT=18850
GA=1
GB=1

# perf MODE TEST SIZE COUNT...: one perftest run, b serving and a
# connecting, with NTBRDMA_BYPASS=MODE on both (MODE e: the bypass on,
# eager SENDs off); prints perftest's result line (or "fail").
perf() {
	local mode=$1 t=$2 size=$3 out srv pid rc=0 src=0
	shift 3
	local args=(-d ntbrdma0 -s "$size" "$@" -F)
	local envs=(NTBRDMA_BYPASS="$mode")
	[ "$mode" != e ] || envs=(NTBRDMA_BYPASS=1 NTBRDMA_EAGER=0)
	PORT=$((PORT + 1))
	srv=$(mktemp)
	on b env "${envs[@]}" timeout "$LIMIT" "$t" "${args[@]}" \
		-x "$GB" -p "$PORT" >"$srv" 2>&1 &
	pid=$!
	wait_listen b "$PORT"
	out=$(on a env "${envs[@]}" timeout "$LIMIT" "$t" \
		"${args[@]}" -x "$GA" -p "$PORT" 192.168.200.2 2>&1) || rc=$?
	wait "$pid" || src=$?
	rm -f "$srv"
	if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
		echo fail
		return 0
	fi
	echo "$out" | awk '/^ *#bytes/ { getline; print; exit }'
}

# col N LINE: field N of a result line, or "fail".
col() {
	local v
	v=$(awk -v n="$1" '{ print $n }' <<<"$2")
	[[ $v =~ ^[0-9.]+$ ]] && echo "$v" || echo fail
}

# strace_calls VM: the system calls of VM's last trace (its "total" row).
strace_calls() {
	onsh "$1" "awk '\$NF == \"total\" { print \$(NF - 2) }' \
		/tmp/bypass-strace-$1"
}

# syscalls VM COUNT [TEST]: system calls of TEST (ib_write_lat) -n COUNT
# on VM (strace -c -f, the "total" row), b serving and a connecting, both
# traced.
syscalls() {
	local n=$2 t=${3:-ib_write_lat} pid out
	PORT=$((PORT + 1))
	on b timeout "$LIMIT" strace -f -c -o /tmp/bypass-strace-b \
		"$t" -d ntbrdma0 -s 8 -n "$n" -F -x "$GB" -p "$PORT" \
		>/dev/null 2>&1 &
	pid=$!
	wait_listen b "$PORT"
	on a timeout "$LIMIT" strace -f -c -o /tmp/bypass-strace-a \
		"$t" -d ntbrdma0 -s 8 -n "$n" -F -x "$GA" -p "$PORT" \
		192.168.200.2 >/dev/null 2>&1 || true
	wait "$pid" || true
	out=$(strace_calls "$1")
	[[ $out =~ ^[0-9]+$ ]] && echo "$out" || echo fail
}

# irqs VM: interrupts of VM's NTB device (ivshmem's MSI-X vectors) so far.
irqs() {
	onsh "$1" "awk '/ntb|ivshmem/ { for (i = 2; i <= NF; i++)
		if (\$i ~ /^[0-9]+\$/) s += \$i } END { print s + 0 }' /proc/interrupts"
}

why=$(bench_ntbrdma_up dma=off) || echo "user-bypass: $why" >&2
GA=$(gid_index a ntbrdma0 192.168.200.1) || GA=1
GB=$(gid_index b ntbrdma0 192.168.200.2) || GB=1

declare -A r
for mode in 1 0; do
	r["lat$mode"]=$(col 5 "$(perf "$mode" ib_write_lat 8 -n 2000)")
	line=$(perf "$mode" ib_write_bw 64 -D 3)
	r["mps$mode"]=$(col 5 "$line")
	line=$(perf "$mode" ib_write_bw 65536 -D 3)
	r["bw$mode"]=$(col 4 "$line")
	r["rlat$mode"]=$(col 5 "$(perf "$mode" ib_read_lat 8 -n 2000)")
	echo "user-bypass $mode: write lat ${r["lat$mode"]} us, 64 B ${r["mps$mode"]} Mpps, 64 KiB ${r["bw$mode"]} MB/s; read lat ${r["rlat$mode"]} us" >&2
done
s10=$(syscalls a 10)
i0=$(irqs b)
s10k=$(syscalls a 10000)
i1=$(irqs b)
b10=$(strace_calls b || echo fail)
rs10=$(syscalls a 10 ib_read_lat)
ri0=$(irqs b)
rs10k=$(syscalls a 10000 ib_read_lat)
ri1=$(irqs b)
rb10=$(strace_calls b || echo fail)
# Eager SENDs, and the same without them.
r[slat1]=$(col 5 "$(perf 1 ib_send_lat 8 -n 2000)")
r[slate]=$(col 5 "$(perf e ib_send_lat 8 -n 2000)")
ss10=$(syscalls a 10 ib_send_lat)
si0=$(irqs b)
ss10k=$(syscalls a 10000 ib_send_lat)
si1=$(irqs b)
sb10=$(strace_calls b || echo fail)

for v in a b; do
	on "$v" sh -c 'rdma link del ntbrdma0 2>/dev/null; modprobe -r ntbrdma
		true' >/dev/null 2>&1 || true
done

raw=$(raw_limits "$json")
rtt=$(sed -n 's/.*"pingpong_rtt_ns_median": *\([0-9.]*\).*/\1/p' <<<"$raw")
mcp=$(sed -n 's/.*"memcpy_window_MBps": *\([0-9.]*\).*/\1/p' <<<"$raw")
dbr=$(sed -n 's/.*"doorbell_rtt_ns_median": *\([0-9.]*\).*/\1/p' <<<"$raw")

echo
printf '%-22s %14s %14s\n' "" "user space" "kernel path"
printf '%-22s %14s %14s\n' "ib_write_lat 8 B us" "${r[lat1]}" "${r[lat0]}"
printf '%-22s %14s %14s\n' "ib_write_bw 64 B Mpps" "${r[mps1]}" "${r[mps0]}"
printf '%-22s %14s %14s\n' "ib_write_bw 64K MB/s" "${r[bw1]}" "${r[bw0]}"
printf '%-22s %14s %14s\n' "ib_read_lat 8 B us" "${r[rlat1]}" "${r[rlat0]}"
printf '%-22s %14s %14s\n' "ib_send_lat 8 B us" "${r[slat1]}" \
	"${r[slate]} (NTBRDMA_EAGER=0)"
echo "raw limit (raw-limit.json): ${raw:-none}"
echo "goals (user space):"
lim=fail
[[ $rtt =~ ^[0-9.]+$ ]] && lim=$(awk -v r="$rtt" 'BEGIN { printf "%.3f", 3 * r / 1000 }')
goal "ib_write_lat 8 B" "${r[lat1]}" "<=" "$lim" "${r[lat1]} us <= 3x round trip ($lim us)"
mps=fail
[[ ${r[mps1]} =~ ^[0-9.]+$ ]] && mps=$(awk -v m="${r[mps1]}" 'BEGIN { printf "%.0f", m * 1e6 }')
goal "ib_write_bw 64 B" "$mps" ">=" 1000000 "$mps msg/s >= 1,000,000"
pct=fail
[[ ${r[bw1]} =~ ^[0-9.]+$ ]] && [[ $mcp =~ ^[0-9.]+$ ]] &&
	pct=$(awk -v b="${r[bw1]}" -v m="$mcp" 'BEGIN { printf "%.0f", 100 * b / m }')
goal "ib_write_bw 64 KiB" "$pct" ">=" 90 "$pct % of the raw window memcpy >= 90 %"
extra=fail
[[ $s10 =~ ^[0-9]+$ ]] && [[ $s10k =~ ^[0-9]+$ ]] && extra=$((s10k - s10))
goal "system calls" "$extra" "<=" 99 "a: $s10k (-n 10000) - $s10 (-n 10) = $extra < 100"
wdirq=fail
[[ $i0 =~ ^[0-9]+$ ]] && [[ $i1 =~ ^[0-9]+$ ]] && wdirq=$((i1 - i0))
goal "doorbells" "$wdirq" "<=" 99 "b: $wdirq NTB interrupts during -n 10000 < 100"
echo "(b's own system calls during -n 10000: $b10)"
lim=fail
[[ $dbr =~ ^[0-9.]+$ ]] && lim=$(awk -v r="$dbr" 'BEGIN { printf "%.3f", 1.5 * r / 1000 }')
goal "ib_read_lat 8 B" "${r[rlat1]}" "<=" "$lim" "${r[rlat1]} us <= 1.5x doorbell round trip ($lim us)"
extra=fail
[[ $rs10 =~ ^[0-9]+$ ]] && [[ $rs10k =~ ^[0-9]+$ ]] && extra=$((rs10k - rs10))
goal "system calls (READ)" "$extra" "<=" 99 "a: ib_read_lat $rs10k (-n 10000) - $rs10 (-n 10) = $extra < 100"
dirq=fail
[[ $ri0 =~ ^[0-9]+$ ]] && [[ $ri1 =~ ^[0-9]+$ ]] && dirq=$((ri1 - ri0))
goal "doorbells (READ)" "$dirq" "<=" 99 "b: $dirq NTB interrupts during ib_read_lat -n 10000 < 100"
echo "(b's own system calls during ib_read_lat -n 10000: $rb10)"
v=$(ratio "${r[slat1]}" "${r[lat1]}")
goal "ib_send_lat 8 B" "$v" "<=" 1.5 "${v}x ib_write_lat 8 B <= 1.5x (eager; ${r[slate]} us without)"
extra=fail
[[ $ss10 =~ ^[0-9]+$ ]] && [[ $ss10k =~ ^[0-9]+$ ]] && extra=$((ss10k - ss10))
goal "system calls (SEND)" "$extra" "<=" 99 "a: ib_send_lat $ss10k (-n 10000) - $ss10 (-n 10) = $extra < 100"
sirq=fail
[[ $si0 =~ ^[0-9]+$ ]] && [[ $si1 =~ ^[0-9]+$ ]] && sirq=$((si1 - si0))
goal "doorbells (SEND)" "$sirq" "<=" 99 "b: $sirq NTB interrupts during ib_send_lat -n 10000 < 100"
echo "(b's own system calls during ib_send_lat -n 10000: $sb10)"

mkdir -p "$(dirname "$json")"
cat >"$json" <<EOT
{"write_lat_8_us": {"bypass": "${r[lat1]}", "kernel": "${r[lat0]}"},
 "write_bw_64_mpps": {"bypass": "${r[mps1]}", "kernel": "${r[mps0]}"},
 "write_bw_65536_MBps": {"bypass": "${r[bw1]}", "kernel": "${r[bw0]}"},
 "read_lat_8_us": {"bypass": "${r[rlat1]}", "kernel": "${r[rlat0]}"},
 "syscalls_write_lat_10": "$s10", "syscalls_write_lat_10000": "$s10k",
 "responder_ntb_irqs_write_lat_10000": "$wdirq",
 "syscalls_read_lat_10": "$rs10", "syscalls_read_lat_10000": "$rs10k",
 "responder_ntb_irqs_read_lat_10000": "$dirq",
 "send_lat_8_us": {"eager": "${r[slat1]}", "kernel": "${r[slate]}"},
 "syscalls_send_lat_10": "$ss10", "syscalls_send_lat_10000": "$ss10k",
 "responder_ntb_irqs_send_lat_10000": "$sirq"}
EOT
echo "(figures in $json)"
