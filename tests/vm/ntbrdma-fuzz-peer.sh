#!/bin/bash
# A hostile peer (Documentation/security-model.md, attacker 2): VM a loads
# tests/kernel/ntbrdma_peer_fuzz instead of ntbrdma, brings the link up with
# b's ntbrdma as ntbrdma would, then writes seeded random and mutated
# control messages, ring indices, netdev completions and buffers, and
# flow-control words into b's area, bringing the link up again whenever b
# resets it.  Meanwhile a process on b holds canary MRs (remote write,
# remote read, local only) and runs loopback traffic.  Oracles:
#   - b never crashes and logs no oops, warning, KASAN/UBSAN/lockdep report;
#   - b's canary MRs are unchanged byte for byte (the peer never gets b to
#     write registered memory on its behalf);
#   - afterwards, with ntbrdma back on a, ibv_rc_pingpong between the hosts
#     exchanges checked data.
# NTBRDMA_FUZZ_PEER_SEED (default 1) and NTBRDMA_FUZZ_PEER_SECONDS (default
# 60, at most 3600) for longer runs; the seed reproduces the sequence of
# writes (not their timing against b).
. "$(dirname "$0")/lib.sh"

SEED=${NTBRDMA_FUZZ_PEER_SEED:-1}
SECS=${NTBRDMA_FUZZ_PEER_SECONDS:-60}
CT=$BUILD_DIR/tests/vm/ntbrdma-canary-test
[ -x "$CT" ] || fail "$CT not built"
REPORTS='BUG|WARNING|Oops|general protection|KASAN|UBSAN|possible circular|inconsistent lock|suspicious RCU|hung_task|blocked for more than'
TMPD=$(mktemp -d)

cleanup() {
	on a modprobe -r ntbrdma_peer_fuzz 2>/dev/null || true
	ntbrdma_teardown a
	ntbrdma_teardown b
	rm -rf "$TMPD"
}
trap cleanup EXIT

ntbrdma_teardown a
ntbrdma_teardown b
on b dmesg -C
ntbrdma_setup b 2
expect_ok "a: the hostile peer loaded" on a modprobe ntbrdma_peer_fuzz
PF=$(ntb_dbgfs a ntbrdma_peer_fuzz)

# The victim's process: canaries and traffic, a little longer than the run.
TESTBED_TIMEOUT=$((SECS + 120)) on b "$CT" ntbrdma0 $((SECS + 15)) \
	>"$TMPD/canary" 2>&1 &
cpid=$!
sleep 5

echo "fuzzing b from a: seed $SEED, $SECS s"
TESTBED_TIMEOUT=$((SECS + 120)) expect_ok "a: the fuzz run ends in time" \
	onsh a "echo '$SEED $SECS' > $PF/run"
stats=$(onsh a "cat $PF/stats")
echo "a: $stats"
[[ $stats =~ actions\ ([0-9]+).*bring_ups\ ([0-9]+) ]] ||
	fail "a: unreadable stats '$stats'"
[ "${BASH_REMATCH[1]}" -gt 1000 ] && [ "${BASH_REMATCH[2]}" -ge 1 ] ||
	fail "a: the fuzzer barely ran: $stats"
pass "a: ${BASH_REMATCH[1]} hostile writes over ${BASH_REMATCH[2]} bring-ups"

wait "$cpid" && crc=0 || crc=$?
grep -v '^ok - ' "$TMPD/canary" | sed 's/^/b: /' || true
[ "$crc" = 0 ] || fail "b: canary process failed (exit $crc)"
pass "b: canary MRs unchanged, loopback traffic ran ($(grep -c '^ok - ' "$TMPD/canary") checks)"

onsh b "grep -A20 link_down /sys/kernel/debug/ntbrdma/*/ctrl_stats" |
	sed 's/^/b: /' || true
expect_eq "b: no kernel report" "" \
	"$(onsh b "dmesg | grep -E '$REPORTS' || true")"

# --- b works with a real peer again ----------------------------------------------
on a modprobe -r ntbrdma_peer_fuzz
ntbrdma_setup a 1
ntbrdma_wait_active a
ntbrdma_wait_active b
ga=$(gid_index a ntbrdma0 192.168.200.1) || fail "a: no GID of 192.168.200.1"
gb=$(gid_index b ntbrdma0 192.168.200.2) || fail "b: no GID of 192.168.200.2"
on b timeout 120 ibv_rc_pingpong -d ntbrdma0 -g "$gb" -p 18700 -s 4096 \
	-n 20 -c >"$TMPD/srv" 2>&1 &
spid=$!
wait_listen b 18700
out=$(on a timeout 120 ibv_rc_pingpong -d ntbrdma0 -g "$ga" -p 18700 \
	-s 4096 -n 20 -c 192.168.200.2 2>&1) && rc=0 || rc=$?
wait "$spid" && src=0 || src=$?
if [ "$rc" != 0 ] || [ "$src" != 0 ] || grep -qi invalid "$TMPD/srv"; then
	echo "$out"
	cat "$TMPD/srv"
	fail "a -> b: ibv_rc_pingpong after the attack (client $rc, server $src)"
fi
pass "a -> b: ibv_rc_pingpong -c exchanges checked data after the attack"
expect_eq "b: still no kernel report" "" \
	"$(onsh b "dmesg | grep -E '$REPORTS' || true")"
