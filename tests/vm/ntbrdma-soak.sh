#!/bin/bash
# Soak: 20 cycles of the whole stack on both VMs - load ntb_hw_ivshmem and
# ntbrdma, `rdma link add ntbrdma0`, port ACTIVE, a short ib_write_bw from b
# to a (b connects and writes into a), `rdma link del`, unload ntbrdma and
# then ntb_hw_ivshmem (ntbrdma first: it is the NTB device's client).
# Unreclaimable slab and kmalloc usage after cycle 2 and after cycle 20
# must be stable, and no oops or warning may show in either VM's dmesg.
# Prints each cycle's steps and the elapsed time (about 4.5 minutes under
# TCG, ~13 s a cycle).  SOAK_CYCLES=N runs N cycles instead (N >= 2).
. "$(dirname "$0")/lib.sh"

CYCLES=${SOAK_CYCLES:-20}
BAD='BUG|WARNING|Oops|general protection'
PORT=18900
t0=$SECONDS

cleanup() {
	for vm in a b; do
		ntbrdma_teardown "$vm"
		on "$vm" modprobe ntb_hw_ivshmem || true
	done
}
trap cleanup EXIT

# load VM N: the NTB driver, ntbrdma, ntb0 (192.168.200.N) and ntbrdma0.
load() {
	onsh "$1" "modprobe ntb_hw_ivshmem && modprobe ntbrdma &&
		ip link set ntb0 up &&
		ip addr replace 192.168.200.$2/24 dev ntb0 &&
		rdma link add ntbrdma0 type ntbrdma netdev ntb0"
}

# unload VM: ntbrdma0 and both modules, ntbrdma before its NTB driver.
unload() {
	onsh "$1" "rdma link del ntbrdma0 && modprobe -r ntbrdma &&
		modprobe -r ntb_hw_ivshmem"
}

active() {
	local t
	t=$(scaled 30)
	onsh "$1" "timeout $t sh -c 'until ibv_devinfo -d ntbrdma0 |
		grep -q PORT_ACTIVE; do sleep 0.5; done'"
}

# write_bw: ib_write_bw -s 4096 -n 200, a serves, b writes into a.
write_bw() {
	local ga gb pid src=0 out
	ga=$(gid_index a ntbrdma0 192.168.200.1) || return 1
	gb=$(gid_index b ntbrdma0 192.168.200.2) || return 1
	PORT=$((PORT + 1))
	out=$(mktemp)
	on a timeout "$(scaled 60)" ib_write_bw -d ntbrdma0 -s 4096 -n 200 -F -x "$ga" \
		-p "$PORT" >"$out" 2>&1 &
	pid=$!
	wait_listen a "$PORT"
	if ! on b timeout "$(scaled 60)" ib_write_bw -d ntbrdma0 -s 4096 -n 200 -F \
		-x "$gb" -p "$PORT" 192.168.200.1 >>"$out" 2>&1; then
		wait "$pid" || true
		tail -n 20 "$out"
		rm -f "$out"
		return 1
	fi
	wait "$pid" || src=$?
	[ "$src" = 0 ] || tail -n 20 "$out"
	rm -f "$out"
	return "$src"
}

# cycle N: one cycle; prints how long each step took.
cycle() {
	local t=$SECONDS steps=""
	step() { steps="$steps, $1 $((SECONDS - t)) s"; t=$SECONDS; }
	load a 1 || fail "cycle $1: a: load"
	load b 2 || fail "cycle $1: b: load"
	step load
	active a || fail "cycle $1: a: port not active within 30 s"
	active b || fail "cycle $1: b: port not active within 30 s"
	step active
	write_bw || fail "cycle $1: ib_write_bw b -> a failed"
	step ib_write_bw
	unload a || fail "cycle $1: a: unload"
	unload b || fail "cycle $1: b: unload"
	step unload
	echo "cycle $1:${steps#,}"
}

# kmem VM: "SUnreclaim-KiB kmalloc-KiB" once caches are dropped; kmalloc
# is active objects x object size over slabinfo's kmalloc-* caches (not
# kmalloc-rcl-*: reclaimable).  ntbrdma has no slab caches of its own.
kmem() {
	onsh "$1" "sync; echo 3 >/proc/sys/vm/drop_caches
		awk '/^SUnreclaim:/ { print \$2 }' /proc/meminfo
		awk '/^kmalloc-/ && !/^kmalloc-rcl-/ { b += \$2 * \$4 } END { print int(b / 1024) }' \
			/proc/slabinfo" | tr '\n' ' '
}

# ntb_hw_ivshmem is loaded by `testbed up`: start from nothing.
for vm in a b; do
	ntbrdma_teardown "$vm"
	on "$vm" modprobe -r ntb_hw_ivshmem
done
declare -A m2
for n in $(seq 1 "$CYCLES"); do
	cycle "$n"
	if [ "$n" = 2 ]; then
		for vm in a b; do m2[$vm]=$(kmem "$vm"); done
	fi
done
pass "$CYCLES load/link/ib_write_bw/unload cycles"

# On the testbed both figures moved by less than 10 KiB over cycles 3..20
# (SUnreclaim -8..-4 KiB, kmalloc +1..+6 KiB).  256 KiB is 25 times that
# noise and catches any leak of more than 14 KiB a cycle, such as a leaked
# device (ib_device, netdev, rings, queues: well over 100 KiB).  A leak of
# only one ib_write_bw run's verbs objects (a few KiB) may pass here:
# ntbrdma-verbs.sh and ntbrdma-qp.sh check their resource tracking.
LIMIT=256
for vm in a b; do
	read -r s2 k2 <<<"${m2[$vm]}"
	read -r s20 k20 <<<"$(kmem "$vm")"
	echo "$vm: after cycle 2 / $CYCLES: SUnreclaim $s2 / $s20 KiB, kmalloc $k2 / $k20 KiB"
	# On the debug kernel SUnreclaim also holds KASAN's quarantine and
	# kmemleak's own objects (one run: +2016 KiB, kmalloc +69 KiB):
	# only kmalloc is judged there, and kmemleak scans after the test.
	[ -n "${TESTBED_DEBUG_KERNEL:-}" ] || [ $((s20 - s2)) -le $LIMIT ] ||
		fail "$vm: SUnreclaim grew by $((s20 - s2)) KiB (limit $LIMIT)"
	[ $((k20 - k2)) -le $LIMIT ] ||
		fail "$vm: kmalloc grew by $((k20 - k2)) KiB (limit $LIMIT)"
	pass "$vm: slab stable over cycles 3..$CYCLES (limit +$LIMIT KiB)"
done
for vm in a b; do
	expect_eq "$vm: no oops or warning in dmesg" "" \
		"$(onsh "$vm" "dmesg | grep -E '$BAD' || true")"
done
echo "soak: $CYCLES cycles in $((SECONDS - t0)) s"
