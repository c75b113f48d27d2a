#!/bin/bash
# Verbs of an ntbrdma device through libibverbs and our provider: device
# and port queries, PD, CQ (with and without a completion channel), arming
# and polling on the mapped ring, resize, exact errors, resource tracking.
. "$(dirname "$0")/lib.sh"

VT=$BUILD_DIR/tests/vm/ntbrdma-verbs-test
[ -x "$VT" ] || fail "$VT not built"

cleanup() {
	for vm in a b; do
		on "$vm" rm -f /tmp/ntbrdma-release || true
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a

# The C program prints one ok/FAIL line per check.
out=$(on a "$VT" verbs ntbrdma0 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a: ntbrdma-verbs-test verbs failed (exit $rc)"
pass "a: verbs checks"

# The CQ ring with completions from the kernel's test hook (debugfs
# ntbrdma_ib/ntbrdma0/inject_cqe): poll order, arming, resize, wrap,
# overflow.
out=$(on a "$VT" ring ntbrdma0 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "a: ntbrdma-verbs-test ring failed (exit $rc)"
pass "a: CQ ring checks"

# Resource tracking: a process holding 1 PD and 2 CQs shows in
# `rdma res show`; after it released them they are gone.
res_count() { # VM TYPE: our test program's objects of that type
	on "$1" rdma res show "$2" dev ntbrdma0 |
		grep -c 'comm ntbrdma-verbs' || true
}
expect_eq "a: no PD before" 0 "$(res_count a pd)"
t20=$(scaled 20)
out=$(onsh a "rm -f /tmp/ntbrdma-release
	$VT hold ntbrdma0 /tmp/ntbrdma-release >/tmp/ntbrdma-hold 2>&1 &
	timeout $t20 sh -c 'until grep -q held /tmp/ntbrdma-hold; do
		sleep 0.1; done'
	echo pd \$(rdma res show pd dev ntbrdma0 | grep -c 'comm ntbrdma-verbs')
	echo cq \$(rdma res show cq dev ntbrdma0 | grep -c 'comm ntbrdma-verbs')
	rdma res show cq dev ntbrdma0
	touch /tmp/ntbrdma-release
	wait
	cat /tmp/ntbrdma-hold")
echo "$out"
expect_eq "a: rdma res show pd lists the held PD" "pd 1" \
	"$(echo "$out" | grep '^pd ')"
expect_eq "a: rdma res show cq lists the 2 held CQs" "cq 2" \
	"$(echo "$out" | grep '^cq ')"
echo "$out" | grep -q '^released$' || fail "a: hold did not release"
expect_eq "a: no PD after release" 0 "$(res_count a pd)"
expect_eq "a: no CQ after release" 0 "$(res_count a cq)"
