#!/bin/bash
# Faults at the responder under traffic from the other host: b
# deregisters the MR that a sends and writes into, then (second run) b
# destroys its QP.  a must get an error completion the fault explains,
# every later WQE flushed and nothing lost; b's buffer must not change
# after the dereg/destroy returned; no oops or warning on either side.
. "$(dirname "$0")/lib.sh"

FT=$BUILD_DIR/tests/vm/ntbrdma-fault-test
[ -x "$FT" ] || fail "$FT not built"
BAD='BUG|WARNING|Oops|general protection'

cleanup() {
	for vm in a b; do
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
for vm in a:1 b:2; do
	expect_ok "${vm%:*}: GID of 192.168.200.${vm#*:} within 30 s" \
		onsh "${vm%:*}" "timeout 30 sh -c 'until grep -q \
		\"0000:0000:0000:0000:0000:ffff:c0a8:c80${vm#*:}\" \
		/sys/class/infiniband/ntbrdma0/ports/1/gids/*; do sleep 0.5; done'"
done

port=18530
for what in dereg destroy; do
	port=$((port + 1))
	onsh b "timeout 120 $FT server ntbrdma0 $port $what \
		>/tmp/ntbrdma-fault-srv 2>&1 &
		timeout 20 sh -c 'until ss -ltn | grep -q :$port; do
			sleep 0.1; done'"
	out=$(on a timeout 120 "$FT" client ntbrdma0 192.168.200.2 $port \
		$what 2>&1) && rc=0 || rc=$?
	echo "$out"
	srv=$(onsh b "timeout 30 sh -c 'while pgrep -f ntbrdma-fault-test \
		>/dev/null; do sleep 0.2; done'; cat /tmp/ntbrdma-fault-srv")
	echo "$srv" | sed 's/^/b: /'
	[ "$rc" = 0 ] || fail "a: client under b's $what failed (exit $rc)"
	echo "$srv" | grep -q '^FAIL' && fail "b: server ($what) failed"
	echo "$srv" | grep -q '^ok - server: nothing written' ||
		fail "b: server ($what) did not reach its last check"
	pass "$what on b under traffic from a: error, flush, no late write"
done

for vm in a b; do
	expect_eq "$vm: no oops or warning" "" \
		"$(onsh "$vm" "dmesg | grep -E '$BAD' || true")"
done
