#!/bin/bash
# ntbrdma link life cycle: the peer VM dies during a ping (carrier lost
# quickly), comes back (carrier and ping again with nothing reloaded on the
# survivor); the NTB device unbound from its driver under ntbrdma, which
# holds its DMA channel, and bound again; bring-up through message
# registers only (ntb_hw_ivshmem hide_spads=1); ten unload/reload cycles with traffic, no oops or warning,
# slab usage stable.
. "$(dirname "$0")/lib.sh"

IP4=(192.168.200.1 192.168.200.2)
BAD='BUG|WARNING|Oops|general protection'
HW_RELOADED=0

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do
		on "$vm" modprobe -r ntbrdma || true
		if [ "$HW_RELOADED" = 1 ]; then
			on "$vm" sh -c 'modprobe -r ntb_hw_ivshmem &&
				modprobe ntb_hw_ivshmem' || true
		fi
	done
}
trap cleanup EXIT

# carrier_is VM VALUE SECONDS: ntb0's carrier becomes VALUE within SECONDS.
carrier_is() {
	onsh "$1" "for i in \$(seq $(($3 * 10))); do
		[ \"\$(cat /sys/class/net/ntb0/carrier 2>/dev/null)\" = $2 ] &&
			exit 0; sleep 0.1; done; exit 1"
}

# setup VM INDEX: load ntbrdma and configure ntb0.
# setup VM N [MODULE_ARGS]
setup() {
	# shellcheck disable=SC2086 # the module arguments, one word each
	on "$1" modprobe ntbrdma ${3:-}
	onsh "$1" "ip link set ntb0 up &&
		ip addr replace ${IP4[$2]}/24 dev ntb0"
}

ping_ok() { on "$1" busybox ping -c 3 -W 5 "$2" >/dev/null; }

bad_dmesg() { onsh "$1" "dmesg | grep -E '$BAD' || true"; }

setup a 0
setup b 1
for vm in a b; do
	expect_ok "$vm: carrier" carrier_is "$vm" 1 30
done
expect_ok "a: ping b" ping_ok a "${IP4[1]}"
ifindex=$(onsh a "cat /sys/class/net/ntb0/ifindex")

# --- b dies during a ping ---------------------------------------------------
on a busybox ping -i 0.2 -c 100 "${IP4[1]}" >/dev/null 2>&1 &
pinger=$!
tmp=$(mktemp -d)
(
	carrier_is a 0 20 >/dev/null 2>&1 && echo down >"$tmp/out"
	now_ms >"$tmp/t1"
) &
waiter=$!
sleep 1
t0=$(now_ms)
"$TESTBED" kill b
wait "$waiter" || true
t1=$(cat "$tmp/t1")
out=$(cat "$tmp/out" 2>/dev/null || true)
rm -rf "$tmp"
kill "$pinger" 2>/dev/null || true
wait "$pinger" 2>/dev/null || true
[ "$out" = down ] || fail "a: ntb0 kept its carrier after b died"
ms=$((t1 - t0))
echo "a: carrier lost ${ms} ms after b was killed"
# NTB link down after hb_timeout_ms without heartbeat (600 by default),
# plus the poll period, the teardown and the relay of `testbed run` on a
# loaded 2-core host: 5 s by default.
limit=$(($(hb_timeout_ms a) + $(scaled 4400)))
[ "$ms" -le "$limit" ] || fail "carrier loss took ${ms} ms (limit $limit ms)"
pass "a: carrier lost within $limit ms (${ms} ms)"

"$TESTBED" start b
setup b 1
expect_ok "b: carrier after restart" carrier_is b 1 30
expect_ok "a: carrier back, nothing reloaded" carrier_is a 1 30
expect_eq "a: same ntb0 (not re-created)" "$ifindex" \
	"$(onsh a "cat /sys/class/net/ntb0/ifindex")"
expect_ok "a: ping b after b restarted" ping_ok a "${IP4[1]}"
expect_ok "b: ping a after b restarted" ping_ok b "${IP4[0]}"
expect_eq "a: no oops or warning" "" "$(bad_dmesg a)"

# --- reload on one side only: the other reconnects --------------------------
on b modprobe -r ntbrdma
expect_ok "a: carrier lost when b unloads" carrier_is a 0 10
setup b 1 dma=auto
expect_ok "a: carrier back when b reloads" carrier_is a 1 30
expect_ok "a: ping b after b reloaded" ping_ok a "${IP4[1]}"

# --- the NTB device goes away under ntbrdma, with traffic -----------------
# Unbound from its driver, as on hot removal: modprobe -r ntb_hw_ivshmem is
# refused while ntbrdma holds the channel of its DMA engine (the module
# reference every dmaengine client holds), unbinding is not.
ntbpci=$(onsh b "ls /sys/bus/ntb/devices/ | head -n 1")
[ -n "$ntbpci" ] || fail "b: no NTB device"
expect_eq "b: ntbrdma holds the DMA engine's channel" dma0chan0 \
	"$(dma_stat b channel)"
on a busybox ping -c 40 -i 0.05 "${IP4[1]}" >/dev/null 2>&1 &
pinger=$!
sleep 0.5
expect_ok "b: NTB device $ntbpci unbound from its driver under ntbrdma" \
	onsh b "echo $ntbpci > /sys/bus/pci/drivers/ntb_hw_ivshmem/unbind"
wait "$pinger" || true
expect_fail "b: ntb0 gone with its NTB device" \
	on b test -e /sys/class/net/ntb0
expect_ok "a: carrier lost when b's NTB device goes" carrier_is a 0 10
expect_ok "b: NTB driver back" \
	onsh b "echo $ntbpci > /sys/bus/pci/drivers/ntb_hw_ivshmem/bind"
expect_ok "b: ntb0 back on the new NTB device" onsh b \
	"for i in \$(seq 100); do [ -e /sys/class/net/ntb0 ] && exit 0;
	sleep 0.1; done; exit 1"
onsh b "ip link set ntb0 up && ip addr replace ${IP4[1]}/24 dev ntb0"
expect_ok "b: carrier on the new NTB device" carrier_is b 1 30
expect_ok "a: carrier back" carrier_is a 1 30
expect_ok "a: ping b on b's new NTB device" ping_ok a "${IP4[1]}"

# --- message registers only ---------------------------------------------------
HW_RELOADED=1
for vm in a b; do
	on "$vm" modprobe -r ntbrdma
	expect_ok "$vm: ntb_hw_ivshmem hide_spads=1" on "$vm" sh -c \
		'modprobe -r ntb_hw_ivshmem && modprobe ntb_hw_ivshmem hide_spads=1'
done
setup a 0
setup b 1
for vm in a b; do
	expect_ok "$vm: carrier (message registers)" carrier_is "$vm" 1 30
	expect_ok "$vm: bring-up through message registers" onsh "$vm" \
		"dmesg | tail -n 20 | grep -q 'bring-up through message registers'"
done
expect_ok "a: ping b (message registers)" ping_ok a "${IP4[1]}"
expect_ok "b: ping a (message registers)" ping_ok b "${IP4[0]}"
on a modprobe -r ntbrdma
expect_ok "b: carrier lost when a unloads (msg)" carrier_is b 0 10
setup a 0
expect_ok "b: carrier back when a reloads (msg)" carrier_is b 1 30
expect_ok "b: ping a after a reloaded (msg)" ping_ok b "${IP4[0]}"
for vm in a b; do
	on "$vm" sh -c 'modprobe -r ntbrdma && modprobe -r ntb_hw_ivshmem &&
		modprobe ntb_hw_ivshmem'
done
HW_RELOADED=0

# --- ten unload/reload cycles with traffic ------------------------------------
# Kernel memory before and after, once caches are warm (one cycle first).
unreclaim() { onsh "$1" "grep SUnreclaim /proc/meminfo" | awk '{print $2}'; }
memfree() { onsh "$1" "grep MemFree /proc/meminfo" | awk '{print $2}'; }
cycle() {
	local first=$1 second=$2
	setup a 0
	setup b 1
	carrier_is a 1 30 || fail "cycle $3: no carrier on a"
	carrier_is b 1 30 || fail "cycle $3: no carrier on b"
	on a busybox ping -c 20 -i 0.05 -s 1400 -W 5 "${IP4[1]}" >/dev/null ||
		fail "cycle $3: ping a->b failed"
	# Unload while traffic runs, alternating which side goes first.
	on b busybox ping -c 50 -i 0.02 "${IP4[0]}" >/dev/null 2>&1 &
	sleep 0.3
	on "$first" modprobe -r ntbrdma
	on "$second" modprobe -r ntbrdma
	wait || true
}
cycle a b 0
for vm in a b; do on "$vm" sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'; done
sa0=$(unreclaim a)
sb0=$(unreclaim b)
fa0=$(memfree a)
fb0=$(memfree b)
for n in $(seq 1 10); do
	if [ $((n % 2)) = 0 ]; then cycle a b "$n"; else cycle b a "$n"; fi
done
pass "10 unload/reload cycles with traffic"
for vm in a b; do on "$vm" sh -c 'sync; echo 3 > /proc/sys/vm/drop_caches'; done
sa1=$(unreclaim a)
sb1=$(unreclaim b)
fa1=$(memfree a)
fb1=$(memfree b)
echo "SUnreclaim (KiB): a $sa0 -> $sa1, b $sb0 -> $sb1"
echo "MemFree (KiB): a $fa0 -> $fa1, b $fb0 -> $fb1"
# A leak of one device per cycle (netdev, ring state, SRCU, workqueue) is
# well over 100 KiB of unreclaimable slab, ten cycles over 1 MiB; the noise
# of an idle guest (per-cpu caches, neighbour/route entries) stays below.
for d in $((sa1 - sa0)) $((sb1 - sb0)); do
	[ "$d" -le 1024 ] || fail "SUnreclaim grew by $d KiB over 10 cycles"
done
pass "unreclaimable slab stable over 10 cycles (limit +1 MiB)"
# The receive buffers (page frags, ~1.4 MiB per device and load) are not
# slab: leaking them would cost ~14 MiB of free memory over ten cycles.
for d in $((fa0 - fa1)) $((fb0 - fb1)); do
	[ "$d" -le 6144 ] || fail "MemFree dropped by $d KiB over 10 cycles"
done
pass "free memory stable over 10 cycles (limit -6 MiB)"
for vm in a b; do
	expect_eq "$vm: no oops or warning in dmesg" "" "$(bad_dmesg "$vm")"
done
