#!/bin/bash
# ntb-dma: the emulated NTB's DMA engine (ntb_hw_ivshmem's dmaengine
# channel; the ivshmem server executes the copies on the host;
# Documentation/dma-engine.md) under the kernel's own dmaengine test
# client, dmatest (built from Debian's linux-source like ntb_tool): in each
# VM, ITERS copies of random lengths at random offsets inside 64 KiB
# buffers, each destination byte checked and the bytes around the copy
# untouched (dmatest's verify), first completed by the engine's interrupt,
# then polled (dmatest's polled=1: tx_status only); each run must report
# ITERS tests and 0 failures.  The copies through the window (to the peer)
# are window-integrity.sh's; the engine's figures are raw-limit's.
. "$(dirname "$0")/lib.sh"

ITERS=200
cleanup() {
	for vm in a b; do
		on "$vm" modprobe -r dmatest >/dev/null 2>&1 || true
	done
}
trap cleanup EXIT

for vm in a b; do
	on "$vm" modprobe ntb_hw_ivshmem
	ch=$(onsh "$vm" 'ls /sys/class/dma/ 2>/dev/null | head -n 1')
	[ -n "$ch" ] || fail "$vm: no DMA channel (is the ivshmem server started with --dma?)"
	drv=$(onsh "$vm" "basename \$(readlink -f /sys/class/dma/$ch/device/driver 2>/dev/null)")
	expect_eq "$vm: $ch is ntb_hw_ivshmem's" ntb_hw_ivshmem "$drv"
	for polled in 0 1; do
		mode=interrupt
		[ $polled = 0 ] || mode=polled
		# shellcheck disable=SC2016 # expanded in the VM
		out=$(on "$vm" sh -c '
			d=/sys/module/dmatest/parameters
			modprobe -r dmatest 2>/dev/null
			dmesg -C
			modprobe dmatest timeout=20000 iterations=$2 \
				test_buf_size=65536 polled=$3 || exit 1
			echo "$1" >$d/channel || exit 1
			echo 1 >$d/run || exit 1
			cat $d/wait >/dev/null
			dmesg | grep "dmatest: "
			modprobe -r dmatest' dmatest "$ch" "$ITERS" "$polled" 2>&1) ||
			fail "$vm: dmatest ($mode): $out"
		sed 's/^/    /' <<<"$out"
		summary=$(grep -o "summary [0-9]* tests, [0-9]* failures" <<<"$out" || true)
		expect_eq "$vm: dmatest on $ch, $mode: $ITERS copies verified" \
			"summary $ITERS tests, 0 failures" "$summary"
	done
done
expect_no_oops a b
