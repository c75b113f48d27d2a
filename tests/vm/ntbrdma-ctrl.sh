#!/bin/bash
# ntbrdma's control channel and its defence against a broken peer:
# numbered control messages of every length, in order, both ways (debugfs
# ctrl_ping, answered by pongs), then both ways at once until both rings
# fill (flow control: answers queue, nothing is lost); a peer that stops
# consuming makes the other's queue reach its bound: link reset; then a
# peer that writes a producer index out of range (debugfs inject) makes
# the other side reset the link, which comes back by itself, with no oops.
. "$(dirname "$0")/lib.sh"

IP4=(192.168.200.1 192.168.200.2)
BAD='BUG|WARNING|Oops|general protection'

cleanup() { for vm in a b; do on "$vm" modprobe -r ntbrdma || true; done; }
trap cleanup EXIT

# field VM DIR NAME [FILE]: a line of DIR/FILE (the state file).
field() { onsh "$1" "sed -n 's/^$3 //p' $2/${4:-state}"; }

# wait_field VM DIR NAME VALUE SECONDS
wait_field() {
	onsh "$1" "for i in \$(seq $(($5 * 10))); do
		grep -qx '$3 $4' $2/state && exit 0; sleep 0.1; done; exit 1"
}

for vm in a b; do
	expect_ok "$vm: modprobe ntbrdma" on "$vm" modprobe ntbrdma
done
A=$(ntb_dbgfs a ntbrdma)
B=$(ntb_dbgfs b ntbrdma)
expect_ok "a: ready" wait_field a "$A" state ready 30
expect_ok "b: ready" wait_field b "$B" state ready 30
i=0
for vm in a b; do
	onsh "$vm" "ip link set ntb0 up && ip addr replace ${IP4[$i]}/24 dev ntb0"
	i=$((i + 1))
done

# ping_test FROM FROMDIR TO TODIR N
ping_test() {
	local from=$1 fd=$2 to=$3 td=$4 n=$5 t0 t1 pong0 ping0 bad0
	# The counters add up over sessions: compare with what they were.
	pong0=$(field "$from" "$fd" pong_ok)
	ping0=$(field "$to" "$td" ping_ok)
	bad0=$(field "$to" "$td" ping_bad)
	t0=$(now_ms)
	expect_ok "$from: $n control messages sent" \
		onsh "$from" "echo $n > $fd/ctrl_ping"
	expect_ok "$from: $n pongs back" \
		wait_field "$from" "$fd" pong_ok $((pong0 + n)) 60
	t1=$(now_ms)
	echo "$from->$to: $n control round trips in $((t1 - t0)) ms"
	expect_eq "$to: every ping in order and intact" \
		"$((ping0 + n)) $bad0" \
		"$(field "$to" "$td" ping_ok) $(field "$to" "$td" ping_bad)"
	expect_eq "$from: no pong out of order" 0 \
		"$(field "$from" "$fd" pong_bad)"
}
ping_test a "$A" b "$B" 500
ping_test b "$B" a "$A" 300

# counter VM DIR NAME: a counter of ctrl_stats (flow control).
counter() { field "$1" "$2" "$3" ctrl_stats; }

# Both ways at once: each side's control work answers pings with pongs
# while its own pings fill the other's ring, so both rings fill and both
# sides must queue answers rather than wait for room (flow control).
flood_test() {
	local n=$1 vm d pong0 ping0 q0 f0
	declare -A dir=([a]=$A [b]=$B) pongs pings queued full
	for vm in a b; do
		d=${dir[$vm]}
		pongs[$vm]=$(field "$vm" "$d" pong_ok)
		pings[$vm]=$(field "$vm" "$d" ping_ok)
		queued[$vm]=$(counter "$vm" "$d" queued)
		full[$vm]=$(counter "$vm" "$d" full)
	done
	onsh a "echo $n > $A/ctrl_ping" &
	onsh b "echo $n > $B/ctrl_ping" &
	wait %1 || fail "a: ctrl_ping $n failed"
	wait %2 || fail "b: ctrl_ping $n failed"
	for vm in a b; do
		d=${dir[$vm]}
		expect_ok "$vm: $n pongs back under the flood" \
			wait_field "$vm" "$d" pong_ok $((pongs[$vm] + n)) 120
		expect_eq "$vm: every ping in order and intact" \
			"$((pings[$vm] + n)) 0 0" \
			"$(field "$vm" "$d" ping_ok) $(field "$vm" "$d" ping_bad) $(field "$vm" "$d" pong_bad)"
		expect_eq "$vm: nothing left waiting, no overflow" "0 0" \
			"$(counter "$vm" "$d" depth) $(counter "$vm" "$d" overflows)"
		onsh "$vm" "sed 's/^/$vm: /' $d/ctrl_stats"
	done
	# The ring was full and messages waited in the queue (one side at
	# least: the faster one may never find the other's ring full).
	[ $(($(counter a "$A" full) - full[a] + $(counter b "$B" full) - full[b])) -gt 0 ] ||
		fail "the flood never found a ring full"
	[ $(($(counter a "$A" queued) - queued[a] + $(counter b "$B" queued) - queued[b])) -gt 0 ] ||
		fail "the flood never queued a message"
	pass "both ways at once: the rings filled, messages queued, none lost"
}
flood_test 3000

# A peer that stops consuming (b, debugfs inject ctrl-stall) while its
# pings reach a: a's pongs fill b's ring, then wait in a's queue until
# it holds NTBR_CTRL_Q_MAX (16384) messages; then a resets the link with
# a clear cause, and both come back.
overflow_test() {
	local o0 n0
	o0=$(counter a "$A" overflows)
	n0=$(onsh a "dmesg | grep -c 'control queue overflow' || true")
	expect_ok "b: stops consuming" onsh b "echo ctrl-stall > $B/inject"
	# The write fails once the link is reset: expected.
	onsh b "echo 17000 > $B/ctrl_ping" 2>/dev/null || true
	expect_ok "a: resets the link (control queue overflow)" onsh a \
		"for i in \$(seq 300); do
		[ \$(dmesg | grep -c 'control queue overflow') -gt $n0 ] &&
		exit 0; sleep 0.1; done; exit 1"
	expect_eq "a: the overflow is counted" $((o0 + 1)) \
		"$(counter a "$A" overflows)"
	expect_ok "a: ready again" wait_field a "$A" state ready 30
	expect_ok "b: ready again" wait_field b "$B" state ready 30
	onsh a "grep '^link_down' $A/ctrl_stats | sed 's/^/a: /'"
	expect_ok "a: link down counted by cause" \
		onsh a "grep -q '^link_down 1 control queue overflow' $A/ctrl_stats"
	expect_eq "a: queue empty again" 0 "$(counter a "$A" depth)"
	ping_test a "$A" b "$B" 50
}
overflow_test

# inject FROM FROMDIR TO TODIR WHAT MESSAGE
inject() {
	local from=$1 fd=$2 to=$3 td=$4 what=$5 msg=$6 s0 n0 peer
	peer=${IP4[1]}
	[ "$from" = b ] && peer=${IP4[0]}
	s0=$(field "$to" "$td" session)
	n0=$(onsh "$to" "dmesg | grep -c '$msg' || true")
	expect_ok "$from: inject a bad $what index" \
		onsh "$from" "echo $what > $fd/inject"
	expect_ok "$to: resets the link ($msg)" onsh "$to" \
		"for i in \$(seq 100); do
		[ \$(dmesg | grep -c '$msg') -gt $n0 ] && exit 0;
		sleep 0.1; done; exit 1"
	expect_ok "$to: ready again" wait_field "$to" "$td" state ready 30
	expect_ok "$from: ready again" wait_field "$from" "$fd" state ready 30
	[ "$(field "$to" "$td" session)" != "$s0" ] ||
		fail "$to: no new session after the reset"
	expect_ok "$from: ping after the reset" \
		on "$from" busybox ping -c 3 -W 5 "$peer"
}
inject a "$A" b "$B" net "bad completion index"
inject b "$B" a "$A" ctrl "bad control producer index"
ping_test a "$A" b "$B" 50

for vm in a b; do
	expect_eq "$vm: no oops or warning in dmesg" "" \
		"$(onsh "$vm" "dmesg | grep -E '$BAD' || true")"
done
