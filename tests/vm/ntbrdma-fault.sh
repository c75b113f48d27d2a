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

test_dev_start
for vm in a:1 b:2; do
	gid_index "${vm%:*}" ntbrdma0 "192.168.200.${vm#*:}" >/dev/null ||
		fail "${vm%:*}: no RoCE v2 GID of 192.168.200.${vm#*:}"
done

port=18530
for what in dereg destroy; do
	port=$((port + 1))
	onsh b "timeout 120 $FT server ntbrdma0 $port $what \
		>/tmp/ntbrdma-fault-srv 2>&1 &"
	wait_listen b $port
	out=$(on a timeout 120 "$FT" client ntbrdma0 192.168.200.2 $port \
		$what 2>&1) && rc=0 || rc=$?
	echo "$out"
	srv=$(onsh b "timeout 30 sh -c 'while pgrep -f \"ntbrdma-fault-tes[t]\" \
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
