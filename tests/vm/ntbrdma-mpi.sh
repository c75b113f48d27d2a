#!/bin/bash
# Open MPI over UCX over ntbrdma0 between the VMs, one rank in each:
# mpirun in a starts the rank in b through tools/testbed/vm-rsh (the
# testbed's remote shell: a vm-agent that b runs on its vlink address for
# this test), and tests/vm/ntbrdma-mpi-test checks ping-pong from 1 B to
# 4 MiB, MPI_Allreduce, MPI_Alltoall and one-sided MPI_Put/MPI_Get (fence
# and passive target) byte for byte, with the UCX PML and OSC and UCX
# limited to ntbrdma0 (UCX_NET_DEVICES): what a user sets, as
# Documentation/app-guide.md says.
. "$(dirname "$0")/lib.sh"

MT=$BUILD_DIR/tests/vm/ntbrdma-mpi-test
[ -x "$MT" ] || fail "$MT not built"
LIMIT=300 # seconds for the whole MPI run, under TCG

cleanup() {
	mpi_cleanup
	for vm in a b; do
		onsh "$vm" "pkill -x ntbrdma-mpi-tes" 2>/dev/null || true
	done
}
ntbrdma_pair cleanup
mpi_setup
pass "a: mpirun's remote shell reaches b"

run=("${MPIRUN[@]}" --mca pml ucx --mca osc ucx -x UCX_NET_DEVICES=ntbrdma0:1
	"$MT")
echo "# ${run[*]}"
out=$(on a timeout "$LIMIT" sh -c "cd / && ${run[*]}" 2>&1) && rc=0 || rc=$?
echo "$out"
[ "$rc" = 0 ] || fail "mpirun exit $rc"
if ! grep -q '^# rank 0 of 2 on a$' <<<"$out" ||
	! grep -q '^# rank 1 of 2 on b$' <<<"$out"; then
	fail "the ranks did not run one in a, one in b"
fi
grep -q '^FAIL' <<<"$out" && fail "ntbrdma-mpi-test reported failures"
expect_eq "ntbrdma-mpi-test: checks passed" 17 "$(grep -c '^ok - ' <<<"$out")"
pass "Open MPI over UCX over ntbrdma0: ping-pong, collectives, one-sided"
expect_no_oops a b
