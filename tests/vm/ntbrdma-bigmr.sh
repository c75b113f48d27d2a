#!/bin/bash
# One 1 GiB MR a side (NTBRDMA_BIGMR_MIB sets another size; 768 MiB on
# the debug kernel): one RDMA WRITE
# of all of it, one RDMA READ of all of it and 64 WRITEs of 16 MiB, each
# checked byte for byte (ntbrdma-bigmr-test); afterwards ntbrdma0's
# resources (rdma res) and free memory (MemAvailable) are back where they
# started.  1 GiB pinned a side needs VMs of 2 GiB: when the testbed's are
# smaller, this test restarts it with TESTBED_MEM=2G and at the end restarts
# it as it was (two boots: about a minute more).
. "$(dirname "$0")/lib.sh"

BT=$BUILD_DIR/tests/vm/ntbrdma-bigmr-test
[ -x "$BT" ] || fail "$BT not built"
# On the debug kernel (TESTBED_TIME_SCALE > 1) KASAN's shadow takes an
# eighth of the RAM: a 2 GiB VM has room for 768 MiB MRs, not 1 GiB.
MIB=1024
[ "${TESTBED_TIME_SCALE:-1}" -le 1 ] || MIB=768
MIB=${NTBRDMA_BIGMR_MIB:-$MIB}
PORT=18950
DYING=/sys/kernel/debug/ntbrdma_ib/ntbrdma0/mr_dying
WAIT=$(scaled 30)
LIMIT=$(scaled 120)
TMPD=$(mktemp -d)
restarted=0

cleanup() {
	for vm in a b; do
		on "$vm" pkill -KILL -f '[n]tbrdma-bigmr-test' 2>/dev/null || true
		ntbrdma_teardown "$vm"
	done
	rm -rf "$TMPD"
	if [ $restarted = 1 ]; then
		"$TESTBED" down >/dev/null 2>&1 || true
		TESTBED_NO_BUILD=1 "$TESTBED" up >/dev/null 2>&1 ||
			echo "FAIL - the testbed did not come back as it was"
	fi
}
trap cleanup EXIT

# The VMs' RAM, and what the MRs need besides the kernel's own.
need=$((MIB * 1024 + 700 * 1024))
if [ "$(meminfo a MemTotal)" -lt "$need" ]; then
	echo "# VMs of $(($(meminfo a MemTotal) / 1024)) MiB: restarting the testbed with 2 GiB each"
	restarted=1
	"$TESTBED" down >/dev/null
	TESTBED_MEM=2G TESTBED_NO_BUILD=1 "$TESTBED" up >/dev/null 2>&1 ||
		fail "testbed up with TESTBED_MEM=2G"
fi
[ "$(meminfo a MemTotal)" -ge "$need" ] ||
	fail "a: $(meminfo a MemTotal) KiB of RAM, $MIB MiB MRs need $need"

ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b

# avail VM: MemAvailable in KiB once caches are dropped.
avail() { meminfo "$1" MemAvailable drop; }

declare -A res0 avail0
for vm in a b; do
	res0[$vm]=$(ntbrdma_res $vm)
	avail0[$vm]=$(avail $vm)
done

TESTBED_TIMEOUT=$((4 * LIMIT)) on b "$BT" serve ntbrdma0 "$PORT" "$MIB" \
	"$LIMIT" >"$TMPD/s" 2>&1 &
spid=$!
wait_listen b "$PORT"
rc=0
TESTBED_TIMEOUT=$((4 * LIMIT)) on a "$BT" client ntbrdma0 192.168.200.2 \
	"$PORT" "$MIB" "$LIMIT" >"$TMPD/c" 2>&1 || rc=1
wait "$spid" || rc=1
sed 's/^/a: /' "$TMPD/c"
sed 's/^/b: /' "$TMPD/s"
[ $rc = 0 ] || fail "$MIB MiB MRs: a process failed"
pass "$MIB MiB MR a side: one WRITE, one READ and 64 WRITEs of all of it, byte for byte"

for vm in a b; do
	expect_eq "$vm: ntbrdma0's resources back" "${res0[$vm]}" "$(ntbrdma_res $vm)"
	# The pages go once the peer acknowledged the MR's removal (mr_dying
	# empty), a moment after the process exits.
	onsh "$vm" "timeout $WAIT sh -c 'while grep -q . $DYING; do
		sleep 0.5; done'" || fail "$vm: an MR still waits for the peer's acknowledgement"
	now=$(avail $vm)
	echo "$vm: MemAvailable ${avail0[$vm]} KiB before, $now KiB after"
	# The MR pinned $MIB MiB: a leak of its pages would be hundreds of
	# MiB.  64 MiB of slack for what the kernel keeps after a run of this
	# size (page tables, per-CPU lists, slab); one CI run saw 34 MiB.
	[ "$now" -ge $((avail0[$vm] - 65536)) ] ||
		fail "$vm: MemAvailable $((avail0[$vm] - now)) KiB lower after the MR was deregistered"
	pass "$vm: MemAvailable back after deregistration (within 64 MiB)"
	expect_eq "$vm: no kernel report" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection|soft lockup' || true")"
done
