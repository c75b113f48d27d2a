#!/bin/bash
# A hostile process writing its mapped rings directly and racing itself
# (issue 8; tests/vm/ntbrdma-rings-test.c says how): on a, an attacker
# that keeps its SQ refilled behind the provider's back must not keep
# another process from deregistering an MR or destroying a QP, and a
# loopback WRITE works after it; concurrent raw RESIZE_CQ commands leave
# no stray mmap entry, also while a thread maps the ring being replaced,
# and a ring's offset stops mapping when its CQ is destroyed under a
# thread mapping it.  No oops, warning, hung task or soft lockup in a's
# kernel log meanwhile.
#
# The VM has one vCPU, so a race needs a preemption inside its window:
# the resize and mmap races run with full preemption (the Debian kernel
# is PREEMPT_DYNAMIC; the mode is restored after).  Every part runs even
# after one failed, so the log shows them all; the one most likely to
# crash a broken kernel (mmap of a ring being freed) runs last.
. "$(dirname "$0")/lib.sh"

RT=$BUILD_DIR/tests/vm/ntbrdma-rings-test
[ -x "$RT" ] || fail "$RT not built"
PREEMPT=/sys/kernel/debug/sched/preempt
KLOG_BAD='BUG|WARNING|Oops|general protection|KASAN|hung_task'
KLOG_BAD+='|blocked for more than|soft lockup'
failed=

# preempt_mode VM: the current preemption mode (empty if not switchable).
preempt_mode() {
	onsh "$1" "sed -n 's/.*(\(.*\)).*/\1/p' $PREEMPT 2>/dev/null" || true
}

cleanup() {
	[ -z "${mode0:-}" ] || onsh a "echo $mode0 >$PREEMPT" || true
	for vm in a b; do
		# A crashed test process can keep the device: do not wait long.
		TESTBED_TIMEOUT=60 ntbrdma_teardown "$vm"
	done
}
trap cleanup EXIT

# Kernel log lines of a before the test: only the ones after are checked.
klog0=$(onsh a "dmesg | wc -l")
mode0=$(preempt_mode a)

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
gid_index a ntbrdma0 192.168.200.1 >/dev/null ||
	fail "a: no RoCE v2 GID of 192.168.200.1"

# klog_check DESCRIPTION: no BUG, WARNING, oops, hung task or lockup in
# a's kernel log since the last look (klog0 lines were there before).
klog_check() {
	local bad n
	bad=$(TESTBED_TIMEOUT=30 onsh a "dmesg | tail -n +$((klog0 + 1))") ||
		true
	n=$(printf '%s' "$bad" | grep -c '' || true)
	klog0=$((klog0 + n))
	bad=$(printf '%s\n' "$bad" | grep -E "$KLOG_BAD" || true)
	if [ -z "$bad" ]; then
		pass "a: $1: no BUG, WARNING, oops, hung task or lockup in dmesg"
	else
		echo "$bad"
		echo "FAIL - a: $1: the kernel log says BUG, WARNING, oops or hang"
		failed=1
	fi
}

# run DESCRIPTION SECONDS CMD...: CMD in a, bounded; its checks shown,
# then the kernel log's; a failure is counted, not fatal.
run() {
	local desc=$1 secs=$2 out rc t0
	shift 2
	t0=$(now_ms)
	out=$(TESTBED_TIMEOUT=$((secs + 30)) on a timeout "$secs" "$@" 2>&1) &&
		rc=0 || rc=$?
	echo "$out"
	echo "# $desc: $((($(now_ms) - t0) / 1000)) s"
	if [ "$rc" = 0 ]; then
		pass "a: $desc"
	else
		echo "FAIL - a: $desc (exit $rc)"
		failed=1
	fi
	klog_check "$desc"
}

run "engine starvation: victim's dereg_mr and destroy_qp stay live" 100 \
	"$RT" starve ntbrdma0 30
run "loopback WRITE after the attack, in a new process" 60 \
	"$RT" write ntbrdma0

if [ -n "$mode0" ]; then
	expect_ok "a: full preemption for the races" onsh a "echo full >$PREEMPT"
else
	echo "# a: preemption mode not switchable; races run as they are"
fi
run "resize_cq racing itself: no stray mmap entry" 60 \
	"$RT" resize ntbrdma0 15
run "destroy_cq racing mmap" 45 "$RT" destroy ntbrdma0 10
run "resize_cq racing itself and mmap" 60 "$RT" mmap ntbrdma0 15
[ -z "$mode0" ] || onsh a "echo $mode0 >$PREEMPT" || true
[ -z "$failed" ] || exit 1
