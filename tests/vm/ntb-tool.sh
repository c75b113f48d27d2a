#!/bin/bash
# Upstream ntb_tool on the emulated NTB: link, scratchpads, message registers
# and doorbells, in both directions, through ntb_tool's debugfs files.
. "$(dirname "$0")/lib.sh"

cleanup() { for vm in a b; do on "$vm" modprobe -r ntb_tool || true; done; }
trap cleanup EXIT

for vm in a b; do
	expect_ok "$vm: modprobe ntb_tool" on "$vm" modprobe ntb_tool
done
A=$(ntb_dbgfs a ntb_tool)
B=$(ntb_dbgfs b ntb_tool)

for vm in a b; do
	d=$A
	[ "$vm" = b ] && d=$B
	expect_ok "$vm: link enable" onsh "$vm" "echo Y > $d/link"
done
for vm in a b; do
	d=$A
	[ "$vm" = b ] && d=$B
	# (ntb_tool's "link" file is write-only; link_event waits for a state.)
	expect_ok "$vm: link comes up" \
		onsh "$vm" "timeout 30 sh -c 'echo Y > $d/peer0/link_event'"
	expect_eq "$vm: 16 valid doorbell bits" 0xffff \
		"$(onsh "$vm" "cat $d/db_valid_mask")"
done
expect_eq "a: own port 0" 0 "$(onsh a "cat $A/port")"
expect_eq "a: peer port 1" 1 "$(onsh a "cat $A/peer0/port")"
expect_eq "b: own port 1" 1 "$(onsh b "cat $B/port")"
expect_eq "b: peer port 0" 0 "$(onsh b "cat $B/peer0/port")"

# Scratchpads: what one side writes into the peer's set, the peer reads in
# its own set, and the other way round; other scratchpads are untouched.
for i in 0 7 15; do
	v=$(printf '0x%x' $((0x5a000000 + i)))
	onsh b "echo 0 > $B/spad$i"
	onsh a "echo $v > $A/peer0/spad$i"
	expect_eq "a->b spad$i" "$v" "$(onsh b "cat $B/spad$i")"
	expect_eq "a reads back peer spad$i" "$v" \
		"$(onsh a "cat $A/peer0/spad$i")"
	w=$(printf '0x%x' $((0xa5000000 + i)))
	onsh b "echo $w > $B/peer0/spad$i"
	expect_eq "b->a spad$i" "$w" "$(onsh a "cat $A/spad$i")"
done
onsh a "echo 0x1234 > $A/spad3"
expect_eq "a: local spad3 write/read" 0x1234 "$(onsh a "cat $A/spad3")"
expect_eq "b: peer view of a's spad3" 0x1234 \
	"$(onsh b "cat $B/peer0/spad3")"

# Message registers: a write raises the receiver's status bit and event,
# the receiver reads value and source, clears the status.
send_msg() { # FROM FROMDIR TO TODIR IDX VALUE
	local from=$1 fd=$2 to=$3 td=$4 i=$5 v=$6 bit
	bit=$(printf '0x%x' $((1 << i)))
	onsh "$to" "echo c 0xffffffff > $td/msg_sts"
	onsh "$from" "echo $v > $fd/peer0/msg$i"
	expect_ok "$from->$to msg$i: event" \
		onsh "$to" "timeout 10 sh -c 'echo $bit > $td/msg_event'"
	expect_eq "$from->$to msg$i: status" "$bit" \
		"$(onsh "$to" "cat $td/msg_sts")"
	expect_eq "$from->$to msg$i: value and source" \
		"$(printf '0x%08x<-0' "$v")" "$(onsh "$to" "cat $td/msg$i")"
	onsh "$to" "echo c $bit > $td/msg_sts"
	expect_eq "$from->$to msg$i: status cleared" 0x0 \
		"$(onsh "$to" "cat $td/msg_sts")"
}
send_msg a "$A" b "$B" 0 0x11223344
send_msg a "$A" b "$B" 3 0xcafe0003
send_msg b "$B" a "$A" 1 0x55667788
send_msg b "$B" a "$A" 2 0x0badf00d

# A second write into a register whose status is still set is refused
# (the register is full), and does not overwrite the first value.
onsh a "echo 0x1111 > $A/peer0/msg0"
expect_ok "a->b msg0 delivered" \
	onsh b "timeout 10 sh -c 'echo 0x1 > $B/msg_event'"
expect_fail "a->b msg0 refused while full" \
	onsh a "echo 0x2222 > $A/peer0/msg0"
expect_eq "b: msg0 kept the first value" '0x00001111<-0' \
	"$(onsh b "cat $B/msg0")"
onsh b "echo c 0x1 > $B/msg_sts"

# Doorbells: bits rung by the peer appear in db, one MSI-X vector each.
# The waiter blocks in db_event before the bits are rung, so only a real
# ntb_db_event() (an unmasked vector arriving) wakes it.
ring() { # FROM FROMDIR TO TODIR BITS
	local from=$1 fd=$2 to=$3 td=$4 bits=$5 waiter
	onsh "$to" "echo c 0xffff > $td/db"
	onsh "$to" "echo c $bits > $td/db_mask"
	expect_eq "$to: db clear" 0x0 "$(onsh "$to" "cat $td/db")"
	onsh "$to" "timeout 15 sh -c 'echo $bits > $td/db_event'" &
	waiter=$!
	sleep 1
	onsh "$from" "echo s $bits > $fd/peer_db"
	if wait "$waiter"; then
		pass "$from->$to db $bits: event"
	else
		fail "$from->$to db $bits: no doorbell event"
	fi
	expect_eq "$from->$to db $bits: value" "$bits" \
		"$(onsh "$to" "cat $td/db")"
	onsh "$to" "echo c $bits > $td/db"
	expect_eq "$to: db cleared" 0x0 "$(onsh "$to" "cat $td/db")"
}
mask_a=$(onsh a "cat $A/db_mask")
mask_b=$(onsh b "cat $B/db_mask")
ring a "$A" b "$B" 0x1
ring a "$A" b "$B" 0x8005
ring b "$B" a "$A" 0x2
ring b "$B" a "$A" 0xffff

# A masked doorbell is latched, not lost.
onsh b "echo c 0xffff > $B/db"
onsh b "echo s 0x10 > $B/db_mask"
onsh a "echo s 0x10 > $A/peer_db"
for _ in $(seq 50); do
	[ "$(onsh b "cat $B/db")" = 0x10 ] && break
	sleep 0.1
done
expect_eq "b: masked db 0x10 latched" 0x10 "$(onsh b "cat $B/db")"
onsh b "echo c 0x10 > $B/db"
for vm in a b; do
	d=$A m=$mask_a
	[ "$vm" = b ] && d=$B m=$mask_b
	onsh "$vm" "echo c 0xffff > $d/db_mask; echo s $m > $d/db_mask"
	expect_eq "$vm: db_mask restored" "$m" "$(onsh "$vm" "cat $d/db_mask")"
done
