#!/bin/bash
# Upstream ntb_pingpong: each side rings the peer's doorbell and writes its
# count into the peer's scratchpad / message register; both counts advance.
. "$(dirname "$0")/lib.sh"

cleanup() { for vm in a b; do on "$vm" modprobe -r ntb_pingpong || true; done; }
trap cleanup EXIT

count() { onsh "$1" "cat /sys/kernel/debug/ntb_pingpong/*/count"; }

for vm in a b; do
	expect_ok "$vm: modprobe ntb_pingpong" \
		on "$vm" modprobe ntb_pingpong delay_ms=50
done
for vm in a b; do
	n=0
	for _ in $(seq 60); do
		n=$(count "$vm")
		[ "$n" -ge 20 ] && break
		sleep 0.5
	done
	[ "$n" -ge 20 ] || fail "$vm: ping-pong count stuck at $n"
	pass "$vm: ping-pong count reached $n"
done
first=$(count a)
sleep 2
second=$(count a)
[ "$second" -gt "$first" ] || fail "a: count stopped advancing ($first, $second)"
pass "a: count keeps advancing ($first -> $second)"
