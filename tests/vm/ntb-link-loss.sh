#!/bin/bash
# The NTB link drops within 1 s when the peer VM dies and comes back when it
# restarts, with nothing reloaded on the surviving side.
. "$(dirname "$0")/lib.sh"

cleanup() {
	"$TESTBED" status | grep -q '^b: running' || "$TESTBED" start b || true
	for vm in a b; do on "$vm" modprobe -r ntb_tool || true; done
}
trap cleanup EXIT

for vm in a b; do on "$vm" modprobe ntb_tool; done
A=$(ntb_dbgfs a ntb_tool)
B=$(ntb_dbgfs b ntb_tool)
onsh a "echo Y > $A/link"
onsh b "echo Y > $B/link"
hb=$(hb_timeout_ms a)
expect_ok "a: link up before the kill" \
	onsh a "timeout 30 sh -c 'echo Y > $A/peer0/link_event'"

# Wait for "down" in a while b is killed; the waiter stamps the host time
# at which a reported it (not when `testbed kill` finished reaping QEMU).
tmp=$(mktemp -d)
(
	on a sh -c "timeout 20 sh -c 'echo N > $A/peer0/link_event' && echo down" \
		>"$tmp/out" 2>&1
	now_ms >"$tmp/t1"
) &
waiter=$!
sleep 1 # the waiter is blocked in the kernel by now
t0=$(now_ms)
"$TESTBED" kill b
wait "$waiter" || true
t1=$(cat "$tmp/t1")
out=$(cat "$tmp/out")
rm -rf "$tmp"
[ "$out" = down ] || fail "a did not see the link go down: $out"
ms=$((t1 - t0))
echo "link down seen by a ${ms} ms after b was killed"
# The driver declares the link down after hb_timeout_ms without a
# heartbeat (600 by default, checked every 100 ms): 1 s at most.  What the
# host sees adds the wake-up of a TCG VM and the relay back through `testbed
# run` (tens of ms when idle, more on a loaded 2-core machine), hence 0.5 s
# on top (scaled, as the debug run also raises hb_timeout_ms).
limit=$((hb + 400 + $(scaled 500)))
[ "$ms" -le "$limit" ] ||
	fail "link down took ${ms} ms (limit: heartbeat timeout $hb ms + 0.4 s + relay)"
pass "a: link down seen ${ms} ms after the kill"
expect_ok "a: link stays down" \
	onsh a "timeout 5 sh -c 'echo N > $A/peer0/link_event'"

"$TESTBED" start b
on b modprobe ntb_tool
B=$(ntb_dbgfs b ntb_tool)
onsh b "echo Y > $B/link"
expect_ok "a: link up again after b restarted" \
	onsh a "timeout 30 sh -c 'echo Y > $A/peer0/link_event'"
expect_ok "b: link up" onsh b "timeout 30 sh -c 'echo Y > $B/peer0/link_event'"
onsh a "echo 0x600d > $A/peer0/spad1"
expect_eq "a->b scratchpad works after restart" 0x600d \
	"$(onsh b "cat $B/spad1")"
onsh b "echo c 0xffff > $B/db"
onsh a "echo s 0x4 > $A/peer_db"
expect_ok "a->b doorbell works after restart" \
	onsh b "timeout 10 sh -c 'echo 0x4 > $B/db_event'"
