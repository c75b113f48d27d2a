#!/bin/bash
# Never a bounced page in an MR (issue 15): VM a is booted again with
# swiotlb=force, so every streaming DMA mapping of the NTB device is a
# swiotlb bounce slot, not the page (the peer would write into the slot
# and the application never see it).  Every ibv_reg_mr on ntbrdma0 must
# then fail with ERANGE and a log line that says why and what to change;
# none may be accepted.  With the normal boot (before and after) the same
# registrations all succeed, and the probe line and the debugfs coverage
# file say what the window reaches.  The integrity of data through MRs
# with the normal boot is ntbrdma-integrity's and ntbrdma-mr's.
. "$(dirname "$0")/lib.sh"

MT=$BUILD_DIR/tests/vm/ntbrdma-mr-test
[ -x "$MT" ] || fail "$MT not built"
BAD='BUG|WARNING|Oops|general protection'
WHY='not the page itself'

# boot_a APPEND: boot VM a again with APPEND on its kernel command line.
boot_a() {
	"$TESTBED" kill a
	TESTBED_APPEND=$1 "$TESTBED" start a
}

# Whatever happens, a is left booted as `up` booted it, without ntbrdma.
cleanup() {
	local st
	# (status read whole first: `status | grep -q` fails under pipefail
	# when grep quits before status wrote its last line.)
	st=$("$TESTBED" status)
	if ! grep -q '^a: running' <<<"$st" ||
		on a grep -q swiotlb=force /proc/cmdline 2>/dev/null; then
		"$TESTBED" kill a 2>/dev/null || true
		"$TESTBED" start a || true
	fi
	ntbrdma_teardown a
	ntbrdma_teardown b
}
trap cleanup EXIT

every() { # VM EXPECT
	local out rc
	out=$(on "$1" "$MT" every ntbrdma0 "$2" 2>&1) && rc=0 || rc=$?
	echo "$out" | grep -v '^ok - ' || true
	echo "(checks passed: $(echo "$out" | grep -c '^ok - '); exit $rc)"
	return "$rc"
}

# --- the normal boot: everything registers --------------------------------------
ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
every a ok || fail "a (normal boot): an MR was refused"
pass "a (normal boot): every MR registers"

# --- a booted with swiotlb=force: every MR refused --------------------------------
ntbrdma_teardown a
boot_a swiotlb=force
expect_ok "a: booted with swiotlb=force" on a grep -q swiotlb=force /proc/cmdline
ntbrdma_setup a 1
ntbrdma_wait_active a
onsh a "dmesg | grep -i 'ntbrdma.*reach\|swiotlb' || true"
if every a ERANGE; then
	pass "a (swiotlb=force): every MR refused with ERANGE, none accepted"
else
	fail "a (swiotlb=force): an MR was accepted, or refused with another errno"
fi
log=$(onsh a "dmesg | grep '$WHY' || true")
echo "$log" | head -n 3
[ -n "$log" ] || fail "a: no log line saying why the MR was refused"
echo "$log" | grep -q 'IOMMU' ||
	fail "a: the log line does not say what to change (the IOMMU)"
pass "a: the refusal is logged, with what to change"
expect_eq "a (swiotlb=force): no oops or warning" "" \
	"$(onsh a "dmesg | grep -E '$BAD' || true")"

# --- a booted normally again: everything registers ---------------------------------
ntbrdma_teardown a
boot_a ""
ntbrdma_setup a 1
ntbrdma_wait_active a
every a ok || fail "a (normal boot again): an MR was refused"
pass "a (normal boot again): every MR registers"

# --- what is reachable, said at probe and in debugfs --------------------------------
line=$(onsh a "dmesg | grep 'inbound coverage' || true")
echo "$line"
[ -n "$line" ] || fail "a: no inbound coverage line at probe"
pass "a: the probe says what the window reaches"
d=$(ntb_dbgfs a ntbrdma)
cov=$(on a cat "$d/coverage")
echo "$cov"
echo "$cov" | grep -q '^coverage 0x0-0x3fffffff (1073741824 bytes)$' ||
	[ "${TESTBED_MEM:-1G}" != 1G ] ||
	fail "a: debugfs coverage is not window 0's 1 GiB"
echo "$cov" | grep -q '^iommu_translates no$' ||
	fail "a: debugfs says an IOMMU translates (the testbed has none)"
echo "$cov" | grep -q '^max_phys_without_iommu 0x' ||
	fail "a: debugfs does not give the highest registrable address"
pass "a: debugfs coverage says what the window reaches"
expect_eq "a: no oops or warning" "" "$(onsh a "dmesg | grep -E '$BAD' || true")"
expect_eq "b: no oops or warning" "" "$(onsh b "dmesg | grep -E '$BAD' || true")"
