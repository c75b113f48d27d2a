#!/bin/bash
# ntbrdma's netdev: ntb0 on both VMs, carrier while the link is ready, ARP,
# IPv4, IPv6, ping of several sizes (with fragmentation) both ways, a TCP
# transfer of a few MiB each way checked by sha256, counters that move.
. "$(dirname "$0")/lib.sh"

IP4=(192.168.200.1 192.168.200.2)
IP6=(fd00:200::1 fd00:200::2)
MIB=4

cleanup() {
	for vm in a b; do
		on "$vm" sh -c 'pkill -x socat; rm -f /tmp/ntbr-*' || true
		on "$vm" modprobe -r ntbrdma || true
	done
}
trap cleanup EXIT

# carrier_wait VM SECONDS: ntb0 exists and has carrier.
carrier_wait() {
	onsh "$1" "for i in \$(seq $(($2 * 10))); do
		[ \"\$(cat /sys/class/net/ntb0/carrier 2>/dev/null)\" = 1 ] &&
			exit 0; sleep 0.1; done; exit 1"
}

# counter VM NAME: a statistics counter of ntb0.
counter() { onsh "$1" "cat /sys/class/net/ntb0/statistics/$2"; }

for vm in a b; do
	expect_ok "$vm: modprobe ntbrdma" on "$vm" modprobe ntbrdma
done
for vm in a b; do
	expect_ok "$vm: ntb0 exists" on "$vm" test -d /sys/class/net/ntb0
	# (carrier reads as an error while the interface is down)
	expect_ok "$vm: ntb0 up" on "$vm" ip link set ntb0 up
	expect_ok "$vm: ntb0 has carrier" carrier_wait "$vm" 30
done
mac=$(onsh a "cat /sys/class/net/ntb0/address")
first=$((0x${mac%%:*}))
expect_eq "a: MAC is locally administered unicast" 2 $((first & 3))

i=0
for vm in a b; do
	onsh "$vm" "ip addr flush dev ntb0 &&
		ip addr add ${IP4[$i]}/24 dev ntb0 &&
		ip -6 addr add ${IP6[$i]}/64 dev ntb0 nodad"
	i=$((i + 1))
done

rx0=$(counter a rx_packets)
tx0=$(counter a tx_packets)

# ping FROM TO-INDEX: every size both families.
i=1
for vm in a b; do
	for size in 56 1472 4000 8972; do
		expect_ok "$vm: ping ${IP4[$i]} -s $size" \
			on "$vm" busybox ping -c 3 -W 5 -s "$size" "${IP4[$i]}"
	done
	for size in 56 1452 3000; do
		expect_ok "$vm: ping6 ${IP6[$i]} -s $size" \
			on "$vm" busybox ping6 -c 3 -W 5 -s "$size" "${IP6[$i]}"
	done
	i=0
done
rtt=$(on a busybox ping -c 20 -i 0.2 "${IP4[1]}" | sed -n 's/.*= //p')
echo "ping a->b 56 bytes, min/avg/max: $rtt"
expect_ok "a: neighbour entry for b" \
	onsh a "ip neigh show ${IP4[1]} dev ntb0 | grep -q lladdr"

# tcp FROM TO SOCAT-ADDRESS: MIB MiB of random data, sha256 compared.
tcp() {
	local from=$1 to=$2 dst=$3 port=5001 t0 t1 sum_s sum_r listener
	onsh "$from" "dd if=/dev/urandom of=/tmp/ntbr-s bs=1M count=$MIB \
		2>/dev/null"
	sum_s=$(onsh "$from" "sha256sum /tmp/ntbr-s" | cut -d' ' -f1)
	on "$to" timeout 120 socat -u "TCP6-LISTEN:$port,reuseaddr" \
		OPEN:/tmp/ntbr-r,creat,trunc &
	listener=$!
	onsh "$to" "for i in \$(seq 100); do
		ss -ltn | grep -q ':$port ' && exit 0; sleep 0.1; done; exit 1" ||
		fail "$to: socat does not listen"
	t0=$(now_ms)
	expect_ok "$from->$to: TCP $MIB MiB sent ($dst)" on "$from" \
		socat -u OPEN:/tmp/ntbr-s "$dst:$port"
	wait "$listener" || fail "$to: socat receiver failed"
	t1=$(now_ms)
	sum_r=$(onsh "$to" "sha256sum /tmp/ntbr-r" | cut -d' ' -f1)
	expect_eq "$from->$to: TCP $MIB MiB sha256" "$sum_s" "$sum_r"
	echo "$from->$to: $MIB MiB in $((t1 - t0)) ms" \
		"($((MIB * 1024 * 1000 / (t1 - t0 + 1))) KiB/s, host-timed)"
}
tcp a b "TCP4:${IP4[1]}"
tcp b a "TCP4:${IP4[0]}"
tcp a b "TCP6:[${IP6[1]}]"

rx1=$(counter a rx_packets)
tx1=$(counter a tx_packets)
echo "a: ntb0 rx_packets $rx0 -> $rx1, tx_packets $tx0 -> $tx1"
[ $((rx1 - rx0)) -gt 1000 ] || fail "a: rx_packets did not move enough"
[ $((tx1 - tx0)) -gt 1000 ] || fail "a: tx_packets did not move enough"
pass "a: ntb0 packet counters moved"
expect_eq "a: no rx errors" 0 "$(counter a rx_errors)"
expect_ok "ip -s link shows the counters" \
	onsh a "ip -s link show ntb0 | grep -q RX"

for vm in a b; do
	expect_eq "$vm: no oops or warning in dmesg" "" \
		"$(onsh "$vm" "dmesg | grep -E 'BUG|WARNING|Oops|general protection' || true")"
done
