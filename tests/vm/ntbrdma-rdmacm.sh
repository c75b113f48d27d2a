#!/bin/bash
# librdmacm over ntbrdma0: the RDMA CM's MADs travel as UD datagrams
# between the GSI QPs (QP1) of the two hosts.
#   - `rdma link add` no longer logs "Couldn't create ib_mad QP1";
#   - rping -v -C 10 -S 64, b serving and a connecting, then the other
#     way: both exit 0 and the client prints 10 "ping data" lines (rping
#     itself checks each buffer it reads back: -v prints what came);
#   - ib_send_bw -R (perftest connecting through rdma_cm), b serving;
#   - udaddy (UD QPs, SIDR through the CM, address handles from user
#     space), b serving: both exit 0;
#   - rdma_server / rdma_client (rdma_create_ep, inline SEND, RECV), b
#     serving: both end 0.
# Each must fail if the client fails (exit code, or the output missing).
. "$(dirname "$0")/lib.sh"

LIMIT=120
TMPD=$(mktemp -d)
cleanup() {
	for vm in a b; do
		on "$vm" pkill -KILL -f '[r]ping|[u]daddy|[i]b_send_bw|[r]dma_server' \
			2>/dev/null || true
	done
	ntbrdma_teardown a
	ntbrdma_teardown b
	rm -rf "$TMPD"
}
trap cleanup EXIT

for vm in a b; do on "$vm" dmesg -C; done
ntbrdma_setup a 1
ntbrdma_setup b 2
ntbrdma_wait_active a
ntbrdma_wait_active b
for vm in a b; do
	expect_eq "$vm: ib_mad created QP1 (no 'Couldn't create ib_mad QP1')" \
		"" "$(onsh "$vm" "dmesg | grep -i 'ib_mad' || true")"
done

# listening VM: an RDMA CM ID of VM listens (rdma_cm has no TCP socket).
listening() {
	on "$1" timeout "$(scaled 30)" sh -c \
		'until rdma res show cm_id | grep -q LISTEN; do sleep 0.2; done' \
		>/dev/null 2>&1 || true
}

# serve_and_run NAME SERVER CLIENT SERVER-CMD -- CLIENT-CMD: both must exit
# 0 within LIMIT; the client's output is in $TMPD/cli.
serve_and_run() {
	local name=$1 s=$2 c=$3 rc=0 src=0 pid
	shift 3
	local scmd=() ccmd=()
	while [ "$1" != -- ]; do scmd+=("$1"); shift; done
	shift
	ccmd=("$@")
	on "$s" timeout "$LIMIT" "${scmd[@]}" >"$TMPD/srv" 2>&1 &
	pid=$!
	listening "$s"
	on "$c" timeout "$LIMIT" "${ccmd[@]}" >"$TMPD/cli" 2>&1 || rc=$?
	wait "$pid" || src=$?
	if [ "$rc" != 0 ] || [ "$src" != 0 ]; then
		echo "--- client ($c):"
		tail -n 15 "$TMPD/cli"
		echo "--- server ($s):"
		tail -n 15 "$TMPD/srv"
		fail "$name: client exit $rc, server exit $src"
	fi
}

for dir in "b a 192.168.200.2" "a b 192.168.200.1"; do
	read -r s c addr <<<"$dir"
	serve_and_run "rping, $s serves" "$s" "$c" \
		rping -s -a "$addr" -C 10 -S 64 -- \
		rping -c -a "$addr" -C 10 -S 64 -v -V
	expect_eq "rping, $s serves, $c connects: 10 pings with data" 10 \
		"$(grep -c 'ping data: rdma-ping-' "$TMPD/cli")"
done

serve_and_run "ib_send_bw -R" b a \
	ib_send_bw -d ntbrdma0 -R -F -n 200 -- \
	ib_send_bw -d ntbrdma0 -R -F -n 200 192.168.200.2
expect_ok "ib_send_bw -R: a result line" grep -q '^ *65536 *200' "$TMPD/cli"

serve_and_run "udaddy" b a udaddy -- udaddy -s 192.168.200.2
expect_ok "udaddy: the client completed its sends and receives" \
	grep -q 'test complete' "$TMPD/cli"

serve_and_run "rdma_server/rdma_client" b a \
	rdma_server -s 192.168.200.2 -- rdma_client -s 192.168.200.2
expect_ok "rdma_client: end 0" grep -q '^rdma_client: end 0$' "$TMPD/cli"
expect_ok "rdma_server: end 0" grep -q '^rdma_server: end 0$' "$TMPD/srv"

for vm in a b; do
	expect_eq "$vm: no kernel report" "" "$(onsh "$vm" \
		"dmesg | grep -E 'BUG|WARNING|Oops|KASAN|UBSAN' || true")"
done
