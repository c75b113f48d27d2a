#!/bin/bash
# The ib_device of an NTB link: `rdma link add/del`, the RoCE v2 personality
# as ibv_devinfo shows it through our provider, port state and async events
# following the NTB link (peer killed and restarted, nothing reloaded on the
# survivor), and module unload with the device present.
. "$(dirname "$0")/lib.sh"

VT=$BUILD_DIR/tests/vm/ntbrdma-verbs-test
LOG=${TMPDIR:-/tmp}/ntbrdma-ibdev.$$
[ -x "$VT" ] || fail "$VT not built"

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do ntbrdma_teardown "$vm"; done
	rm -f "$LOG".*
}
trap cleanup EXIT

# port_state VM: PORT_ACTIVE, PORT_DOWN, ... as ibv_devinfo reports it.
port_state() {
	on "$1" ibv_devinfo -d ntbrdma0 |
		awk '$1 == "state:" { print $2 }'
}

# wait_state VM STATE SECONDS
wait_state() {
	local t
	t=$(scaled "$3")
	onsh "$1" "timeout $t sh -c 'until ibv_devinfo -d ntbrdma0 |
		grep -q \"state:.*$2\"; do sleep 0.5; done'"
}

# waiter_ready LOG: until the event waiter writing LOG has opened the
# device (it prints "waiting"), so that no event comes before it listens.
waiter_ready() {
	local i
	for i in $(seq "$(scaled 150)"); do
		grep -q '^waiting' "$1" 2>/dev/null && return 0
		sleep 0.2
	done
	cat "$1"
	fail "a: the event waiter did not open ntbrdma0"
}

# Lines of dmesg before the test: only later ones are checked.
dmesg_start=$(on a sh -c 'dmesg | wc -l')

ntbrdma_setup a 1
ntbrdma_setup b 2
link=$(on a rdma link show)
echo "$link" | grep -q '^link ntbrdma0/1 .*netdev ntb0' ||
	fail "a: rdma link show does not list ntbrdma0 on ntb0: $link"
pass "a: rdma link show lists ntbrdma0/1 on ntb0"
expect_ok "a: port active within 30 s" wait_state a PORT_ACTIVE 30
expect_ok "b: port active within 30 s" wait_state b PORT_ACTIVE 30

expect_eq "a: ibv_devices lists ntbrdma0 (provider loaded)" ntbrdma0 \
	"$(on a ibv_devices | awk '$1 == "ntbrdma0" { print $1 }')"
# Beside another RDMA device (rxe on the virtio link) both are listed and
# each opens through its own provider: libibverbs hands every device to
# every provider's match table, ours included.
on a modprobe rdma_rxe
expect_ok "a: rdma link add rxe0 on vlink" \
	on a rdma link add rxe0 type rxe netdev vlink
expect_eq "a: ibv_devices lists ntbrdma0 and rxe0" "ntbrdma0 rxe0" \
	"$(on a ibv_devices | awk '$1 ~ /^(ntbrdma0|rxe0)$/ { print $1 }' |
		sort | tr '\n' ' ' | sed 's/ $//')"
expect_ok "a: ibv_devinfo opens rxe0 beside ntbrdma0" \
	on a ibv_devinfo -d rxe0
expect_ok "a: rdma link del rxe0" on a rdma link del rxe0
on a modprobe -r rdma_rxe || true
# The ABI version of include/rdma/ntbrdma-abi.h, which the provider checks.
abi=$(sed -n 's/^#define NTBRDMA_ABI_VERSION \([0-9]*\)$/\1/p' \
	"$(dirname "$0")/../../include/rdma/ntbrdma-abi.h")
[ -n "$abi" ] || fail "no NTBRDMA_ABI_VERSION in include/rdma/ntbrdma-abi.h"
expect_eq "a: driver sysfs attribute ntbrdma_abi_version" "$abi" \
	"$(on a cat /sys/class/infiniband/ntbrdma0/ntbrdma_abi_version)"

info=$(on a ibv_devinfo -v -d ntbrdma0)
field() { echo "$info" | awk -v f="$1:" '$1 == f { print $2; exit }'; }
expect_eq "a: link_layer" Ethernet "$(field link_layer)"
expect_eq "a: port state" PORT_ACTIVE "$(field state)"
expect_eq "a: transport" InfiniBand "$(field transport)"
for gid in '::ffff:192.168.200.1' 'fd00:200::1'; do
	echo "$info" | grep -q "GID\[ *[0-9]*\]:[[:space:]]*$gid, RoCE v2$" ||
		fail "a: no RoCE v2 GID $gid in ibv_devinfo: $info"
	pass "a: RoCE v2 GID $gid"
done
# Vendor ids: those of the NTB's PCI device.
ntbpci=$(onsh a 'readlink -f /sys/bus/ntb/devices/* | head -n 1')
expect_eq "a: vendor_id is the NTB's" \
	"$(on a cat "$ntbpci/../vendor")" "$(field vendor_id)"
expect_eq "a: vendor_part_id is the NTB's" \
	"$(($(on a cat "$ntbpci/../device")))" "$(field vendor_part_id)"
# Node GUID: EUI-64 of ntb0's MAC, non-zero, different on a and b.
guid_a=$(field node_guid)
guid_b=$(on b ibv_devinfo -d ntbrdma0 | awk '$1 == "node_guid:" { print $2 }')
mac=$(on a cat /sys/class/net/ntb0/address)
IFS=: read -r m1 m2 m3 m4 m5 m6 <<<"$mac"
eui=$(printf '%02x%s:%sff:fe%s:%s%s' $((0x$m1 ^ 2)) "$m2" "$m3" "$m4" \
	"$m5" "$m6")
expect_eq "a: node GUID is the EUI-64 of ntb0's MAC" "$eui" "$guid_a"
[ "$guid_a" != 0000:0000:0000:0000 ] || fail "a: node GUID is zero"
[ "$guid_a" != "$guid_b" ] || fail "a and b have the same node GUID $guid_a"
pass "node GUIDs non-zero and distinct ($guid_a, $guid_b)"

expect_fail "a: second device on ntb0 refused" \
	on a rdma link add ntbrdma1 type ntbrdma netdev ntb0
expect_eq "a: still one ntbrdma device" 1 \
	"$(on a rdma link show | grep -c 'netdev ntb0')"
expect_fail "a: device on a netdev that is not ours refused" \
	on a rdma link add ntbrdma1 type ntbrdma netdev vlink

expect_ok "a: rdma link del ntbrdma0" on a rdma link del ntbrdma0
on a rdma link show | grep -q ntbrdma0 && fail "a: ntbrdma0 still listed"
on a ibv_devices | grep -q ntbrdma0 && fail "a: ibv_devices still lists it"
pass "a: ntbrdma0 gone after rdma link del"
expect_ok "a: rdma link add again" \
	on a rdma link add ntbrdma0 type ntbrdma netdev ntb0
expect_ok "a: active again" wait_state a PORT_ACTIVE 30

# Kill b: a's port goes down and a verbs consumer gets IB_EVENT_PORT_ERR.
on a "$VT" event ntbrdma0 port_err "$(scaled 30)" >"$LOG.err" 2>&1 &
waiter=$!
waiter_ready "$LOG.err"
"$TESTBED" kill b
wait "$waiter" || true
cat "$LOG.err"
grep -q '^ok - ntbrdma0: async event port error on port 1' "$LOG.err" ||
	fail "a: no IB_EVENT_PORT_ERR after b was killed"
pass "a: IB_EVENT_PORT_ERR after b was killed"
expect_eq "a: port down" PORT_DOWN "$(port_state a)"
expect_eq "a: rdma link state DOWN" DOWN \
	"$(on a rdma link show ntbrdma0/1 | awk '{ print $4 }')"

# Restart b, recreate its device: a comes back without any reload.
on a "$VT" event ntbrdma0 port_active "$(scaled 90)" >"$LOG.act" 2>&1 &
waiter=$!
waiter_ready "$LOG.act"
"$TESTBED" start b
ntbrdma_setup b 2
expect_ok "b: active after restart" wait_state b PORT_ACTIVE 60
wait "$waiter" || true
cat "$LOG.act"
grep -q '^ok - ntbrdma0: async event port active on port 1' "$LOG.act" ||
	fail "a: no IB_EVENT_PORT_ACTIVE after b came back"
pass "a: IB_EVENT_PORT_ACTIVE after b came back"
expect_eq "a: port active again, nothing reloaded" PORT_ACTIVE \
	"$(port_state a)"

# Unload with the device present.
expect_ok "a: modprobe -r ntbrdma with ntbrdma0 present" \
	on a modprobe -r ntbrdma
on a rdma link show | grep -q ntbrdma0 && fail "a: ntbrdma0 survived unload"
pass "a: ntbrdma0 gone with the module"
bad=$(on a sh -c "dmesg | tail -n +$((dmesg_start + 1))" |
	grep -E 'WARNING|BUG|Oops|general protection|refcount_t' || true)
[ -z "$bad" ] || fail "a: kernel complained: $bad"
pass "a: dmesg clean (no WARNING/BUG/Oops)"
