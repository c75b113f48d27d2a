#!/bin/bash
# Shared receive queues (ntbrdma_ib_srq.c): on a, QPs of one device
# connected to each other, two of them on one SRQ - receives taken in
# the order posted by whichever QP is sent to, data byte for byte, the
# limit event, RNR on an empty SRQ, LAST_WQE_REACHED, the errors of the
# SRQ verbs; then 4 QPs of a sending 400 messages of 64 B to 4 KiB to 4
# QPs of b on one SRQ through the NTB: each lands once, in the receive
# its completion names, on the QP it was sent to; the limit event as
# the peer consumes.  No kernel report on either host.
. "$(dirname "$0")/lib.sh"

ST=$BUILD_DIR/tests/vm/ntbrdma-srq-test
[ -x "$ST" ] || fail "$ST not built"

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

out=$(on a timeout 120 "$ST" loop ntbrdma0 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a: ntbrdma-srq-test loop failed (exit $rc)"
pass "a: SRQ, loopback"

onsh b "rm -f /tmp/ntbrdma-srq-srv; (timeout 180 $ST server ntbrdma0 18531 \
	>/tmp/ntbrdma-srq-srv 2>&1; echo rc=\$? >>/tmp/ntbrdma-srq-srv) \
	>/dev/null 2>&1 &"
wait_listen b 18531
out=$(on a timeout 180 "$ST" client ntbrdma0 192.168.200.2 18531 2>&1) &&
	rc=0 || rc=$?
echo "$out"
wait_s=$(scaled 20)
onsh b "timeout $wait_s sh -c 'until grep -q ^rc= /tmp/ntbrdma-srq-srv; \
	do sleep 0.2; done'" || true
srv=$(onsh b "cat /tmp/ntbrdma-srq-srv")
echo "$srv" | sed 's/^/b: /'
[ "$rc" = 0 ] || fail "a: ntbrdma-srq-test client failed (exit $rc)"
expect_eq "b: ntbrdma-srq-test server exit code" "rc=0" \
	"$(echo "$srv" | tail -n 1)"
pass "a -> b: SENDs to QPs of an SRQ through the NTB"

for vm in a b; do
	expect_eq "$vm: no oops or warning" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
done
