#!/bin/bash
# window-integrity: memory window 0 of the emulated NTB, byte for byte.
#
# With tests/kernel/ntb_window_test loaded on both VMs:
#   1. the window contract selftest passes on both sides (needs the link);
#   2. in both directions (a->b, b->a) and for several (OFF, LEN) pairs,
#      aligned and not, up to the whole buffer: the target fills its buffer
#      with a guard byte, the source writes a seeded pattern into
#      [OFF, OFF + LEN) of the target's buffer through its window, and the
#      target finds exactly that range holding the pattern and every other
#      byte still holding the guard;
#   3. peer_write refuses requests outside the peer buffer with EINVAL and
#      writes nothing;
#   4. the same transfers as 2., copied by the emulated DMA engine
#      (dma_write: ntb_hw_ivshmem's dmaengine channel, executed by the
#      ivshmem server; Documentation/dma-engine.md), checked the same way,
#      and a copy the engine must fail (to a DMA address that is no
#      memory): EIO, nothing written.
# Run from the repository root with TESTBED set.  Exit 0 pass, 1 fail,
# 77 skip (ntb_window_test not built).
# The scripts run in the VMs are single-quoted on purpose: their $1... are
# the arguments given after them, expanded in the VM.
# shellcheck disable=SC2016
set -euo pipefail

: "${TESTBED:?TESTBED must name the testbed script}"

DBG=/sys/kernel/debug/ntb_window_test

ok() { echo "ok - $*"; }

fail() {
	echo "FAIL - $*"
	exit 1
}

# vmsh VM SCRIPT [ARG...]: run SCRIPT with bash as root in VM; ARGs become
# $1... there, so nothing needs quoting twice.
vmsh() {
	local vm=$1 script=$2
	shift 2
	TESTBED_TIMEOUT=${TESTBED_TIMEOUT:-120} \
		"$TESTBED" run "$vm" -- bash -c "$script" wt "$@"
}

# wt VM FILE [INPUT]: write INPUT to (or, without INPUT, read) FILE of VM's
# ntb_window_test directory.  A failed write prints bash's error message.
wt() {
	if [ $# -ge 3 ]; then
		vmsh "$1" 'echo "$3" >"$1/$2"' "${dir[$1]}" "$2" "$3"
	else
		vmsh "$1" 'cat "$1/$2"' "${dir[$1]}" "$2"
	fi
}

cleanup() {
	local vm
	for vm in a b; do
		vmsh "$vm" 'modprobe -r ntb_window_test' >/dev/null 2>&1 || true
	done
}

if ! vmsh a 'modprobe -n ntb_window_test' >/dev/null 2>&1; then
	echo "SKIP - ntb_window_test is not built"
	exit 77
fi

trap cleanup EXIT
declare -A dir addr size
for vm in a b; do
	out=$(vmsh "$vm" 'modprobe ntb_window_test' 2>&1) ||
		fail "$vm: modprobe ntb_window_test: $out"
	d=$(vmsh "$vm" 'ls -d "$1"/*/ 2>/dev/null' "$DBG") || true
	[ "$(wc -w <<<"$d")" = 1 ] ||
		fail "$vm: expected one NTB device under $DBG, found: '$d'" \
			"(is another NTB client bound?)"
	dir[$vm]=${d%/}
	ok "$vm: ntb_window_test loaded, ${dir[$vm]}"
done

# The inbound window checks need the link (ntb_mw_get_align() does).
for vm in a b; do
	link=down
	for _ in $(seq 60); do
		link=$(wt "$vm" link)
		[ "$link" = up ] && break
		sleep 0.5
	done
	[ "$link" = up ] || fail "$vm: NTB link still down after 30 s"
	ok "$vm: link up"
done

for vm in a b; do
	out=$(wt "$vm" selftest run 2>&1) || fail "$vm: selftest run: $out"
	st=$(wt "$vm" selftest)
	while IFS= read -r line; do echo "    $vm: $line"; done <<<"$st"
	last=$(tail -n 1 <<<"$st")
	if ! [[ $last =~ ^selftest:\ [0-9]+\ ok,\ 0\ failed$ ]] ||
		grep -qv '^ok \|^selftest: ' <<<"$st"; then
		fail "$vm: window contract: $last"
	fi
	ok "$vm: window contract: $last"
done

for vm in a b; do
	read -r addr[$vm] size[$vm] <<<"$(wt "$vm" buf_addr)"
	[[ ${addr[$vm]} =~ ^0x[0-9a-f]+$ && ${size[$vm]} =~ ^[0-9]+$ ]] ||
		fail "$vm: bad buf_addr '${addr[$vm]} ${size[$vm]}'"
	ok "$vm: buffer at ${addr[$vm]}, ${size[$vm]} bytes"
done
[ "${size[a]}" = "${size[b]}" ] ||
	fail "buffer sizes differ: a ${size[a]}, b ${size[b]}"
bufsize=${size[a]}
[ "$bufsize" -ge $((12345 + 65536)) ] || fail "buffer too small: $bufsize"

cases=("0 1" "1 7" "4095 2" "4096 4096" "12345 65536" "0 $bufsize"
	"$((bufsize - 3)) 3" "$((bufsize - 4096)) 4096" "8 0")
guards=(0xa5 0x00 0xff 0x5a)
seed=$(((RANDOM << 16) ^ RANDOM ^ $$))

# fill_guard VM GUARD: fill VM's buffer and make sure it took.
fill_guard() {
	local out
	out=$(wt "$1" buf_fill "$2" 2>&1) || fail "$1: buf_fill $2: $out"
	out=$(wt "$1" check "0 0 0 $2" 2>&1 && wt "$1" check)
	[ "$out" = ok ] || fail "$1: buffer not all $2 after buf_fill: $out"
}

# transfers CMD LABEL: every case in both directions, written by CMD
# (peer_write: the CPU; dma_write: the DMA engine) and checked by the
# target byte for byte, the guard around it too; counts them in n.
n=0
transfers() {
	local cmd=$1 label=$2 dirn src dst c off len guard out
	for dirn in "a b" "b a"; do
		read -r src dst <<<"$dirn"
		for c in "${cases[@]}"; do
			read -r off len <<<"$c"
			guard=${guards[$((n % ${#guards[@]}))]}
			seed=$((seed + 0x9e3779b9))
			n=$((n + 1))
			fill_guard "$dst" "$guard"
			out=$(wt "$src" "$cmd" "${addr[$dst]} $off $len $seed" 2>&1) ||
				fail "$src->$dst: $cmd off=$off len=$len: $out"
			out=$(wt "$dst" check "$off $len $seed $guard" 2>&1 &&
				wt "$dst" check)
			[ "$out" = ok ] ||
				fail "$src->$dst:$label off=$off len=$len seed=$seed guard=$guard: $out"
			ok "$src->$dst:$label off=$off len=$len seed=$seed guard=$guard: exact"
		done
	done
}
transfers peer_write ""
ncpu=$n

# A write that peer_write must refuse: EINVAL, and nothing written.
# refused SRC DST DESCRIPTION INPUT
refused() {
	local out
	if out=$(wt "$1" peer_write "$4" 2>&1); then
		fail "$1->$2: peer_write accepted $3 ('$4')"
	fi
	[[ $out == *"Invalid argument"* ]] ||
		fail "$1->$2: peer_write of $3 failed, but not with EINVAL: $out"
	out=$(wt "$2" check "0 0 0 0x3c" 2>&1 && wt "$2" check)
	[ "$out" = ok ] || fail "$1->$2: refused $3 still wrote: $out"
	ok "$1->$2: peer_write refuses $3 with EINVAL, writes nothing"
}

mw_size=$(wt a info | sed -n 's/^peer_mw_size=//p')
[[ $mw_size =~ ^[0-9]+$ ]] || fail "a: no peer_mw_size in info"
fill_guard b 0x3c
refused a b "a range crossing the buffer end" \
	"${addr[b]} $((bufsize - 1)) 2 1"
refused a b "a range starting at the buffer end" "${addr[b]} $bufsize 1 1"
refused a b "a length larger than the buffer" "${addr[b]} 0 $((bufsize + 1)) 1"
refused a b "an offset that wraps around" \
	"${addr[b]} 18446744073709551615 2 1"
refused a b "a buffer reaching past the window" \
	"$((mw_size - bufsize + 1)) 0 1 1"
refused a b "three fields" "${addr[b]} 0 1"
refused a b "a non-number" "${addr[b]} 0 1x 1"
# 4. The DMA engine: the same transfers, copied by it.
transfers dma_write " DMA"
# 512 GiB: neither RAM (at most 2 GiB) nor the window BAR.
fill_guard a 0x3c
if out=$(wt a dma_fault 0x8000000000 2>&1); then
	fail "a: the engine claims a copy to 0x8000000000 succeeded"
fi
[[ $out == *"Input/output error"* ]] ||
	fail "a: dma_fault failed, but not with EIO: $out"
out=$(wt a check "0 0 0 0x3c" 2>&1 && wt a check)
[ "$out" = ok ] || fail "a: the failed DMA copy changed our buffer: $out"
ok "a: a DMA copy to no memory fails with EIO"
echo "window-integrity: $ncpu exact transfers by the CPU, $((n - ncpu)) by the DMA engine, all refusals correct"
