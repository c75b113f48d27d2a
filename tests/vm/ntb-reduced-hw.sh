#!/bin/bash
# ntb_hw_ivshmem can hide its scratchpads (message registers only, like IDT
# multi-port switches) or its message registers; clients see exactly that,
# and ntb_pingpong works in both modes.
. "$(dirname "$0")/lib.sh"

reload() { # PARAMS...
	for vm in a b; do
		on "$vm" modprobe -r ntb_tool ntb_pingpong ntb_hw_ivshmem
		on "$vm" modprobe ntb_hw_ivshmem "$@"
	done
}
cleanup() {
	for vm in a b; do
		on "$vm" modprobe -r ntb_tool ntb_pingpong ntb_hw_ivshmem || true
		on "$vm" modprobe ntb_hw_ivshmem || true
	done
}
trap cleanup EXIT

pingpong_runs() {
	local n=0
	for vm in a b; do on "$vm" modprobe ntb_pingpong delay_ms=50; done
	for _ in $(seq 60); do
		n=$(onsh a "cat /sys/kernel/debug/ntb_pingpong/*/count")
		[ "$n" -ge 10 ] && break
		sleep 0.5
	done
	for vm in a b; do on "$vm" modprobe -r ntb_pingpong; done
	[ "$n" -ge 10 ] || fail "ping-pong count stuck at $n ($*)"
	pass "ping-pong runs ($*): count $n"
}

reload hide_spads=1
for vm in a b; do on "$vm" modprobe ntb_tool; done
A=$(ntb_dbgfs a ntb_tool)
B=$(ntb_dbgfs b ntb_tool)
onsh a "echo Y > $A/link"
onsh b "echo Y > $B/link"
expect_eq "message-only: no scratchpads" 0 \
	"$(onsh a "ls $A | grep -c '^spad' || true")"
expect_eq "message-only: 4 message registers" 4 \
	"$(onsh a "ls $A | grep -c '^msg[0-9]' || true")"
expect_ok "message-only: link up" \
	onsh a "timeout 30 sh -c 'echo Y > $A/peer0/link_event'"
onsh b "echo c 0xf > $B/msg_sts"
onsh a "echo 0x77 > $A/peer0/msg2"
expect_ok "message-only: a->b msg2 event" \
	onsh b "timeout 10 sh -c 'echo 0x4 > $B/msg_event'"
expect_eq "message-only: a->b msg2 value" '0x00000077<-0' \
	"$(onsh b "cat $B/msg2")"
onsh b "echo c 0x4 > $B/msg_sts"
for vm in a b; do on "$vm" modprobe -r ntb_tool; done
pingpong_runs message-only

reload hide_msgs=1
for vm in a b; do on "$vm" modprobe ntb_tool; done
A=$(ntb_dbgfs a ntb_tool)
expect_eq "scratchpad-only: no message registers" 0 \
	"$(onsh a "ls $A | grep -c '^msg' || true")"
expect_eq "scratchpad-only: 16 scratchpads" 16 \
	"$(onsh a "ls $A | grep -c '^spad' || true")"
for vm in a b; do on "$vm" modprobe -r ntb_tool; done
pingpong_runs scratchpad-only

for vm in a b; do on "$vm" modprobe -r ntb_hw_ivshmem; done
expect_fail "hide_spads=1 hide_msgs=1 is refused" \
	on a modprobe ntb_hw_ivshmem hide_spads=1 hide_msgs=1
