#!/bin/bash
# Helpers for VM tests (sourced).  A VM test is an executable bash script in
# tests/vm/, run from the repository root by tests/run-tests with TESTBED set
# to the testbed script and the testbed up.  Exit 0 = pass, 1 = fail,
# 77 = skip.  Every check prints one line: "ok - ..." or "FAIL - ...".
set -euo pipefail

: "${TESTBED:?TESTBED must name the testbed script}"
# The build tree (the VMs see it at the same path); run-tests exports it.
: "${BUILD_DIR:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/build}"
export BUILD_DIR

# on VM CMD...: run CMD in VM, bounded to 120 s unless TESTBED_TIMEOUT says.
on() {
	local vm=$1
	shift
	TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-120} "$TESTBED" run "$vm" -- "$@"
}

# onsh VM SCRIPT: run a shell script in VM.
onsh() { on "$1" sh -c "$2"; }

fail() {
	echo "FAIL - $*"
	exit 1
}

pass() { echo "ok - $*"; }

# expect_eq DESCRIPTION EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then
		pass "$1"
	else
		fail "$1: expected '$2', got '$3'"
	fi
}

# expect_ok DESCRIPTION CMD...: CMD must exit 0.
expect_ok() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		pass "$desc"
	else
		fail "$desc: '$*' failed: $out"
	fi
}

# expect_fail DESCRIPTION CMD...: CMD must exit non-zero.
expect_fail() {
	local desc=$1 out
	shift
	if out=$("$@" 2>&1); then
		fail "$desc: '$*' succeeded: $out"
	else
		pass "$desc"
	fi
}

# ntb_dbgfs VM CLIENT: the debugfs directory of CLIENT's (only) NTB device.
ntb_dbgfs() {
	local d
	d=$(onsh "$1" "ls -d /sys/kernel/debug/$2/*/ 2>/dev/null | head -n 1")
	[ -n "$d" ] || fail "$1: no $2 debugfs directory"
	echo "${d%/}"
}

# now_ms: host monotonic-ish wall clock in milliseconds.
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ntbrdma_setup VM N: load ntbrdma in VM, address its ntb0 (192.168.200.N/24,
# fd00:200::N/64) and create the RDMA device ntbrdma0 on it.
ntbrdma_setup() {
	on "$1" modprobe ntbrdma
	onsh "$1" "ip link set ntb0 up &&
		ip addr replace 192.168.200.$2/24 dev ntb0 &&
		ip -6 addr replace fd00:200::$2/64 dev ntb0 nodad"
	expect_ok "$1: rdma link add ntbrdma0 type ntbrdma netdev ntb0" \
		on "$1" rdma link add ntbrdma0 type ntbrdma netdev ntb0
}

# ntbrdma_teardown VM: remove ntbrdma0 and unload ntbrdma (for EXIT traps).
ntbrdma_teardown() {
	on "$1" sh -c 'rdma link del ntbrdma0 2>/dev/null; modprobe -r ntbrdma' ||
		true
}

# ntbrdma_wait_active VM: ntbrdma0's port turns ACTIVE within 30 s.
ntbrdma_wait_active() {
	expect_ok "$1: port active within 30 s" onsh "$1" "timeout 30 sh -c 'until
		ibv_devinfo -d ntbrdma0 | grep -q PORT_ACTIVE; do sleep 0.5; done'"
}
