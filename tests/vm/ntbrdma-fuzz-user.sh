#!/bin/bash
# The hostile-user fuzzer (tests/fuzz/ntbrdma-ufuzz.c, issue 9): on both
# VMs at once, NTBRDMA_FUZZ_SECONDS (60) of random verbs, raw uverbs
# commands and direct ring writes, with seed NTBRDMA_FUZZ_SEED (1) on a
# and the seed + 1 on b, QPs aimed at loopback and at the other VM.
# Each fuzzer must exit 0 within its bound (only errors and error
# completions, no signal, no hang, every fork child gone, the read-only
# memory it registered unwritten).  Afterwards, in both VMs: no kernel
# report in the log, ntbrdma0's object counts (`rdma res`) back to what
# they were before, SUnreclaim back within 16 MiB, and ibv_rc_pingpong
# with data validation (-c) between the VMs, both ways.  The fuzzers'
# anchor QPs (connected to each other) must have been granted peer-MR
# mappings, and no byte beside an anchor MR written (the fuzzer checks).
#
# NTBRDMA_FUZZ_THREADS (4) sets the threads per fuzzer.  A failing seed
# is reproduced by running this test with it, or one fuzzer by hand:
#   ntbrdma-ufuzz -d ntbrdma0 -g GID_INDEX -S SEED -s SECONDS [-t 1]
. "$(dirname "$0")/lib.sh"

FZ=$BUILD_DIR/tests/fuzz/ntbrdma-ufuzz
[ -x "$FZ" ] || fail "$FZ not built"
SECS=${NTBRDMA_FUZZ_SECONDS:-60}
SEED=${NTBRDMA_FUZZ_SEED:-1}
THREADS=${NTBRDMA_FUZZ_THREADS:-4}
KLOG_BAD='BUG|WARNING|Oops|general protection|KASAN|UBSAN'
KLOG_BAD+='|possible .*locking|suspicious RCU|hung_task'
KLOG_BAD+='|blocked for more than|soft lockup|list_(add|del) corruption'
PORT=18700
failed=

cleanup() {
	rm -f "${OUT_A:-}" "${OUT_B:-}" "${SRV_OUT:-}"
	for vm in a b; do
		TESTBED_TIMEOUT=60 ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT
OUT_A=$(mktemp)
OUT_B=$(mktemp)
SRV_OUT=$(mktemp)

bad() {
	echo "FAIL - $*"
	failed=1
}

declare -A KLOG0 RES0 SLAB0 GID
for vm in a b; do
	KLOG0[$vm]=$(onsh $vm "dmesg | wc -l")
done
ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
GID[a]=$(gid_index a ntbrdma0 192.168.200.1) ||
	fail "a: no RoCE v2 GID of 192.168.200.1"
GID[b]=$(gid_index b ntbrdma0 192.168.200.2) ||
	fail "b: no RoCE v2 GID of 192.168.200.2"

# res VM: ntbrdma0's object counts ("pd N cq N qp N ... mr N ctx N").
res() {
	onsh "$1" "rdma res show | sed -n 's/^[0-9]*: ntbrdma0: //p'"
}

# sunreclaim VM: SUnreclaim in kB.
sunreclaim() { meminfo "$1" SUnreclaim; }

for vm in a b; do
	RES0[$vm]=$(res $vm)
	SLAB0[$vm]=$(sunreclaim $vm)
	echo "# $vm before: ${RES0[$vm]}; SUnreclaim ${SLAB0[$vm]} kB"
done

# The fuzzers, at once (each bounded; the test's own bound on top).
echo "# fuzzing ${SECS} s, $THREADS threads: a seed $SEED, b seed $((SEED + 1))"
TESTBED_TIMEOUT=$((SECS + 240)) on a timeout $((SECS + 180)) "$FZ" \
	-d ntbrdma0 -g "${GID[a]}" -s "$SECS" -S "$SEED" -t "$THREADS" \
	-p 192.168.200.2 >"$OUT_A" 2>&1 &
pid_a=$!
TESTBED_TIMEOUT=$((SECS + 240)) on b timeout $((SECS + 180)) "$FZ" \
	-d ntbrdma0 -g "${GID[b]}" -s "$SECS" -S $((SEED + 1)) \
	-t "$THREADS" -p 192.168.200.1 >"$OUT_B" 2>&1 &
pid_b=$!
# shellcheck disable=SC2034 # read through ${!rc} below
rc_a=0
rc_b=0
# shellcheck disable=SC2034
wait "$pid_a" || rc_a=$?
# shellcheck disable=SC2034
wait "$pid_b" || rc_b=$?
for vm in a b; do
	out=OUT_${vm^^}
	rc=rc_$vm
	echo "--- fuzzer on $vm:"
	grep -v '^t[0-9]' "${!out}" | tail -n 60
	if [ "${!rc}" = 0 ]; then
		pass "$vm: fuzzer exited 0 (only errors and error completions)"
	else
		bad "$vm: fuzzer exit ${!rc} (124: hung past its bound; >128: signal)"
	fi
	# The anchors (tests/fuzz/ufuzz-anchor.c): mappings of the peer's
	# MRs must have been granted, not only refused, for the fuzzing of
	# them to mean anything.
	made=$(sed -n 's/^# peer MR mappings: \([0-9]*\) made.*/\1/p' "${!out}")
	if grep -q '^# anchor: QP .* connected' "${!out}" &&
		[ "${made:-0}" -gt 0 ]; then
		pass "$vm: peer MRs mapped under the fuzzing ($made)"
	else
		bad "$vm: no anchor, or no peer MR mapped (${made:-none})"
	fi
done

# No objects left: the counts return to the baseline (the last context
# closes asynchronously after the process exits: up to 30 s).
for vm in a b; do
	now=
	for _ in $(seq 60); do
		now=$(res $vm)
		[ "$now" = "${RES0[$vm]}" ] && break
		sleep 0.5
	done
	if [ "$now" = "${RES0[$vm]}" ]; then
		pass "$vm: ntbrdma0 objects back to baseline ($now)"
	else
		bad "$vm: ntbrdma0 objects: before '${RES0[$vm]}', after '$now'"
	fi
	slab=$(sunreclaim $vm)
	echo "# $vm: SUnreclaim ${SLAB0[$vm]} -> $slab kB"
	if [ "$slab" -le $((SLAB0[$vm] + 16384)) ]; then
		pass "$vm: SUnreclaim back within 16 MiB"
	else
		bad "$vm: SUnreclaim grew by $((slab - SLAB0[$vm])) kB"
	fi
done

# pingpong SERVER CLIENT ADDR: ibv_rc_pingpong -c, 4 KiB x 20, validated.
pingpong() {
	local s=$1 c=$2 addr=$3 rc=0 src=0 pid out
	local args=(-d ntbrdma0 -s 4096 -n 20 -c)
	PORT=$((PORT + 1))
	on "$s" timeout 120 ibv_rc_pingpong "${args[@]}" -g "${GID[$s]}" \
		-p "$PORT" >"$SRV_OUT" 2>&1 &
	pid=$!
	wait_listen "$s" "$PORT"
	out=$(on "$c" timeout 120 ibv_rc_pingpong "${args[@]}" \
		-g "${GID[$c]}" -p "$PORT" "$addr" 2>&1) || rc=$?
	wait "$pid" || src=$?
	out="$out
$(cat "$SRV_OUT")"
	if [ "$rc" = 0 ] && [ "$src" = 0 ] &&
		[ "$(grep -c '^20 iters in' <<<"$out")" = 2 ] &&
		! grep -qi invalid <<<"$out"; then
		pass "ibv_rc_pingpong -c $c -> $s after fuzzing: data verified"
	else
		echo "$out"
		bad "ibv_rc_pingpong -c $c -> $s after fuzzing (exit $rc/$src)"
	fi
}
pingpong a b 192.168.200.1
pingpong b a 192.168.200.2

for vm in a b; do
	log=$(TESTBED_TIMEOUT=60 onsh $vm "dmesg | tail -n +$((KLOG0[$vm] + 1))") ||
		true
	reports=$(grep -E "$KLOG_BAD" <<<"$log" || true)
	if [ -z "$reports" ]; then
		pass "$vm: no kernel report in the log"
	else
		grep -E -A 30 "$KLOG_BAD" <<<"$log" | head -n 80
		bad "$vm: kernel report in the log"
	fi
	# The hosts run the same driver: an MR one accepted, the other
	# must accept too (a zero-length MR used to be refused, logged).
	refused=$(grep -E 'refused by the peer|bad MR_ADD' <<<"$log" || true)
	if [ -z "$refused" ]; then
		pass "$vm: no MR of this host refused by the peer, none refused here"
	else
		head -n 5 <<<"$refused"
		bad "$vm: MRs refused between the hosts"
	fi
done
[ -z "$failed" ] || exit 1
