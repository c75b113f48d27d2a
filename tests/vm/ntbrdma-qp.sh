#!/bin/bash
# Queue pairs of an ntbrdma device through libibverbs and our provider:
# caps and limits, the RC state machine with query_qp, posting errors,
# ring full, flush completions on ERR, RESET, resource tracking.  (The
# data path itself: tests/vm/ntbrdma-engine.sh.)
. "$(dirname "$0")/lib.sh"

QT=$BUILD_DIR/tests/vm/ntbrdma-qp-test
[ -x "$QT" ] || fail "$QT not built"

cleanup() {
	for vm in a b; do
		on "$vm" rm -f /tmp/ntbrdma-qp-release || true
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
t30=$(scaled 30)
t20=$(scaled 20)
expect_ok "a: GID of 192.168.200.1 within 30 s" onsh a "timeout $t30 sh -c \
	'until grep -q \"0000:0000:0000:0000:0000:ffff:c0a8:c801\" \
	/sys/class/infiniband/ntbrdma0/ports/1/gids/*; do sleep 0.5; done'"

# The C program prints one ok/FAIL line per check; the peer's address
# is b's ntb0 address (RTR to the peer's GID resolves its MAC by ARP).
out=$(on a "$QT" qp ntbrdma0 192.168.200.2 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a: ntbrdma-qp-test qp failed (exit $rc)"
pass "a: QP checks"

# Resource tracking: 4 held QPs show in `rdma res show qp` with their
# state, and with -dd the driver's details: where the destination of an
# RTR QP is (one of our GIDs: local; the peer's: peer).  After release
# they are gone.
res_count() { # VM: our test program's QPs
	on "$1" rdma res show qp link ntbrdma0 |
		grep -c 'comm ntbrdma-qp-tes' || true
}
expect_eq "a: no QP before" 0 "$(res_count a)"
out=$(onsh a "rm -f /tmp/ntbrdma-qp-release
	$QT hold ntbrdma0 /tmp/ntbrdma-qp-release 192.168.200.2 \
		>/tmp/ntbrdma-qp-hold 2>&1 &
	timeout $t20 sh -c 'until grep -q held /tmp/ntbrdma-qp-hold; do
		sleep 0.1; done'
	cat /tmp/ntbrdma-qp-hold
	rdma -dd res show qp link ntbrdma0 | grep 'comm ntbrdma-qp-tes'
	touch /tmp/ntbrdma-qp-release
	wait
	cat /tmp/ntbrdma-qp-hold")
echo "$out"
read -r q0 q1 q2 q3 < <(echo "$out" |
	sed -n 's/^held \([0-9]*\) \([0-9]*\) \([0-9]*\) \([0-9]*\)$/\1 \2 \3 \4/p' |
	head -n 1)
[ -n "${q3:-}" ] || fail "a: hold printed no QP numbers"
# qpline QPN: the rdma res line of that QP (fields in iproute2's order).
qpline() { echo "$out" | grep -E "lqpn $1 " | head -n 1; }
expect_eq "a: QP $q0 listed: RC, RESET, dest none" 1 \
	"$(qpline "$q0" | grep -cE 'type RC state RESET .*dest none')"
expect_eq "a: QP $q1 listed: RC, INIT, dest none" 1 \
	"$(qpline "$q1" | grep -cE 'type RC state INIT .*dest none')"
expect_eq "a: QP $q2 listed: RC, RTR to QP $q1, dest local" 1 \
	"$(qpline "$q2" |
		grep -cE "rqpn $q1 type RC state RTR .*dest local")"
expect_eq "a: QP $q3 listed: RC, RTR to QP 77, dest peer" 1 \
	"$(qpline "$q3" | grep -cE "rqpn 77 type RC state RTR .*dest peer")"
echo "$out" | grep -q '^released$' || fail "a: hold did not release"
expect_eq "a: no QP after release" 0 "$(res_count a)"
