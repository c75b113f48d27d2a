#!/bin/bash
# A kernel ULP on ntbrdma0 (tests/kernel/ntbrdma_kulp_test): two kernel RC
# QPs connected to each other, whose completion handler polls the CQ and
# posts the next receive and SEND on the same QPs from inside the handler,
# as legacy kernel ULPs do.  1000 rounds must complete; a driver that runs
# the handler under a QP's ring lock deadlocks (the VM stops answering).
. "$(dirname "$0")/lib.sh"

# The modules the testbed booted with (the debug kernel's: TESTBED_KMOD).
KO=${TESTBED_KMOD:-$BUILD_DIR/kmod/modules}/ntbrdma_kulp_test.ko
[ -f "$KO" ] || fail "$KO not built"

cleanup() {
	on a rmmod ntbrdma_kulp_test >/dev/null 2>&1 || true
	for vm in a b; do
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
gid_index a ntbrdma0 192.168.200.1 >/dev/null ||
	fail "a: no RoCE v2 GID of 192.168.200.1"
on a dmesg -c >/dev/null
out=$(TESTBED_TIMEOUT=90 on a insmod "$KO" dev=ntbrdma0 rounds=1000 2>&1) &&
	rc=0 || rc=$?
echo "$out"
log=$(on a dmesg | grep ntbrdma_kulp_test || true)
echo "$log"
[ "$rc" = 0 ] || fail "a: the kernel ULP did not complete its rounds (insmod exit $rc)"
echo "$log" | grep -q "1000 of 1000 receives completed: 0" ||
	fail "a: the kernel ULP's log line says otherwise"
pass "a: a kernel ULP posts from its completion handler, 1000 rounds"
report=$(on a dmesg | grep -E 'BUG|WARNING|Oops|lockdep|KASAN' || true)
[ -z "$report" ] || fail "a: kernel log: $report"
pass "a: no kernel report"
