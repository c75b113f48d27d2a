#!/bin/bash
# A hostile process writing its mapped rings directly and racing itself
# (issue 8): on a, an attacker that keeps its SQ refilled behind the
# provider's back must not keep another process from deregistering an
# MR or destroying a QP, and a loopback WRITE works after it; concurrent
# raw RESIZE_CQ commands leave no stray mmap entry, and a ring's offset
# stops mapping when its CQ is destroyed under a thread mapping it.  No
# oops, warning, hung task or soft lockup in the kernel log meanwhile.
. "$(dirname "$0")/lib.sh"

RT=$BUILD_DIR/tests/vm/ntbrdma-rings-test
[ -x "$RT" ] || fail "$RT not built"

cleanup() {
	for vm in a b; do
		ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

# Kernel log lines of a before the test: only the ones after are checked.
klog0=$(onsh a "dmesg | wc -l")

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
gid_index a ntbrdma0 192.168.200.1 >/dev/null ||
	fail "a: no RoCE v2 GID of 192.168.200.1"

# run DESCRIPTION SECONDS CMD...: CMD in a, bounded; its checks shown.
run() {
	local desc=$1 secs=$2 out rc t0
	shift 2
	t0=$(now_ms)
	out=$(TESTBED_TIMEOUT=$((secs + 30)) on a timeout "$secs" "$@" 2>&1) &&
		rc=0 || rc=$?
	echo "$out"
	echo "# $desc: $((($(now_ms) - t0) / 1000)) s"
	[ "$rc" = 0 ] || fail "a: $desc (exit $rc)"
	pass "a: $desc"
}

run "engine starvation: victim's dereg_mr and destroy_qp stay live" 150 \
	"$RT" starve ntbrdma0 30
run "loopback WRITE after the attack, in a new process" 60 \
	"$RT" write ntbrdma0
run "resize_cq racing itself, mmap racing resize and destroy" 150 \
	"$RT" resize ntbrdma0 15

bad=$(onsh a "dmesg | tail -n +$((klog0 + 1)) | grep -E \
	'BUG|WARNING|Oops|general protection|KASAN|hung_task|blocked for more than|soft lockup' \
	|| true")
[ -z "$bad" ] || echo "$bad"
expect_eq "a: no BUG, WARNING, hung task or soft lockup in the kernel log" \
	"" "$bad"
