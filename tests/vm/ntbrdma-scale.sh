#!/bin/bash
# Scale: 1,024 connected QPs a side over the link at once, from two
# processes a side sharing ntbrdma0 (512 QPs each, ntbrdma-scale-test):
# over every QP one SEND and one RDMA WRITE, checked byte for byte by the
# receiving process.  Two rounds: after each, ntbrdma0's resources (rdma
# res) are back to where they started, and the second round leaves
# unreclaimable slab (SUnreclaim) where the first left it: nothing leaks
# per QP (on the debug kernel, whose KASAN quarantine moves SUnreclaim,
# kmemleak's scan after the test judges that instead).  (10,000 MRs: ntbrdma-ctrlflow; a 1 GiB MR: ntbrdma-bigmr; a CQ
# overflowed on purpose: ntbrdma-verbs.)
. "$(dirname "$0")/lib.sh"

ST=$BUILD_DIR/tests/vm/ntbrdma-scale-test
[ -x "$ST" ] || fail "$ST not built"
N=512
PORT=18900
TMPD=$(mktemp -d)

cleanup() {
	for vm in a b; do
		on "$vm" pkill -KILL -f '[n]tbrdma-scale-test' 2>/dev/null || true
	done
	ntbrdma_teardown a
	ntbrdma_teardown b
	rm -rf "$TMPD"
}
trap cleanup EXIT

# slab VM: SUnreclaim in KiB, once caches are dropped.
slab() { meminfo "$1" SUnreclaim drop; }

# round R: two servers on b, two clients on a, N QPs each, all at once.
round() {
	local pids=() t rc=0 p
	for t in 1 2; do
		on b "$ST" serve ntbrdma0 $((PORT + t)) "$N" "$t" \
			>"$TMPD/s$t" 2>&1 &
		pids+=($!)
	done
	for t in 1 2; do wait_listen b $((PORT + t)); done
	for t in 1 2; do
		on a "$ST" client ntbrdma0 192.168.200.2 $((PORT + t)) "$N" \
			"$t" >"$TMPD/c$t" 2>&1 &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	for t in 1 2; do
		grep -v '^ok - ' "$TMPD/s$t" | sed "s/^/b$t: /" || true
		grep -v '^ok - ' "$TMPD/c$t" | sed "s/^/a$t: /" || true
	done
	[ "$rc" = 0 ] || {
		cat "$TMPD"/[sc][12]
		fail "round $1: a process failed"
	}
	pass "round $1: 2 x $N QPs a side connected at once, every SEND and WRITE byte for byte ($(cat "$TMPD"/[sc][12] | grep -c '^ok - ') checks)"
}

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
ra=$(ntbrdma_res a)
rb=$(ntbrdma_res b)
echo "ntbrdma0 resources before: a: $ra; b: $rb"

round 1
expect_eq "a: resources back after round 1" "$ra" "$(ntbrdma_res a)"
expect_eq "b: resources back after round 1" "$rb" "$(ntbrdma_res b)"
sa1=$(slab a)
sb1=$(slab b)
round 2
expect_eq "a: resources back after round 2" "$ra" "$(ntbrdma_res a)"
expect_eq "b: resources back after round 2" "$rb" "$(ntbrdma_res b)"
sa2=$(slab a)
sb2=$(slab b)
echo "SUnreclaim after round 1 -> 2 (KiB): a $sa1 -> $sa2, b $sb1 -> $sb2"
for d in "a $((sa2 - sa1))" "b $((sb2 - sb1))"; do
	read -r vm delta <<<"$d"
	# The debug kernel's KASAN quarantine holds freed slab objects for a
	# while (one debug run: a +360 KiB, b -396 KiB): there kmemleak's
	# scan after the test finds leaks instead.
	if [ -n "${TESTBED_DEBUG_KERNEL:-}" ]; then
		echo "$vm: SUnreclaim $delta KiB after the second round" \
			"(debug kernel: not judged, kmemleak scans for leaks)"
		continue
	fi
	# 1,024 QPs leaking even 64 bytes each would be 64 KiB.
	[ "$delta" -le 256 ] ||
		fail "$vm: SUnreclaim grew by $delta KiB in a round of 1,024 QPs"
	pass "$vm: SUnreclaim $delta KiB after the second round (limit 256)"
done
for vm in a b; do
	expect_eq "$vm: no kernel report" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
done
