// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-mpi-test: Open MPI between the two testbed VMs, one rank each
 * (tests/vm/ntbrdma-mpi.sh runs it with mpirun, the UCX PML and OSC over
 * ntbrdma0).  Every exchange is checked byte for byte:
 *
 *   - ping-pong, 1 B to 4 MiB (powers of 4), each way;
 *   - MPI_Allreduce (sum) of 100,000 int64 values;
 *   - MPI_Alltoall of 64 KiB blocks;
 *   - one-sided: MPI_Put and MPI_Get of 1 MiB between fences, and a
 *     passive-target MPI_Put under MPI_Win_lock.
 *
 * Rank 0 prints "ok - ..." or "FAIL - ..." for each check, both ranks'
 * results combined; the exit code is 0 only if all passed.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PP (4u << 20)
#define NRED 100000
#define A2A_BLOCK (64u << 10)
#define WIN_SIZE (1u << 20)

static int rank, failures;

/* A pattern of n bytes that depends on seed and on the position. */
static void fill(unsigned char *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 16);
	}
}

static int same(const unsigned char *p, size_t n, uint32_t seed)
{
	unsigned char *want = malloc(n ? n : 1);
	int ok;

	if (!want)
		return 0;
	fill(want, n, seed);
	ok = !memcmp(p, want, n);
	free(want);
	return ok;
}

/* Both ranks' verdicts on one check, printed by rank 0. */
static void check(int ok, const char *what)
{
	int all = 0;

	MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
	if (!all)
		failures++;
	if (rank == 0)
		printf("%s - %s\n", all ? "ok" : "FAIL", what);
	fflush(stdout);
}

static void pingpong(unsigned char *buf)
{
	char what[96];
	size_t n;
	int ok;

	for (n = 1; n <= MAX_PP; n *= 4) {
		ok = 1;
		if (rank == 0) {
			fill(buf, n, (uint32_t)n);
			MPI_Send(buf, (int)n, MPI_BYTE, 1, 1, MPI_COMM_WORLD);
			memset(buf, 0, n);
			MPI_Recv(buf, (int)n, MPI_BYTE, 1, 2, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			ok = same(buf, n, (uint32_t)n + 1);
		} else {
			memset(buf, 0, n);
			MPI_Recv(buf, (int)n, MPI_BYTE, 0, 1, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			ok = same(buf, n, (uint32_t)n);
			fill(buf, n, (uint32_t)n + 1);
			MPI_Send(buf, (int)n, MPI_BYTE, 0, 2, MPI_COMM_WORLD);
		}
		snprintf(what, sizeof(what),
			 "ping-pong %zu bytes: data byte for byte both ways",
			 n);
		check(ok, what);
	}
}

static void collectives(void)
{
	int64_t *in = malloc(NRED * sizeof(*in));
	int64_t *out = malloc(NRED * sizeof(*out));
	unsigned char *sb = malloc(2 * A2A_BLOCK), *rb = malloc(2 * A2A_BLOCK);
	int i, ok = in && out && sb && rb;

	if (!ok) {
		check(0, "memory for the collectives");
		return;
	}
	for (i = 0; i < NRED; i++)
		in[i] = (int64_t)i * (rank + 1) - rank;
	MPI_Allreduce(in, out, NRED, MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD);
	/* rank 0: i, rank 1: 2i - 1. */
	for (i = 0; i < NRED && ok; i++)
		ok = out[i] == 3 * (int64_t)i - 1;
	check(ok, "MPI_Allreduce of 100000 int64: every sum right");

	/* Block d of rank s: pattern 16 s + d. */
	for (i = 0; i < 2; i++)
		fill(sb + (size_t)i * A2A_BLOCK, A2A_BLOCK,
		     16u * (uint32_t)rank + (uint32_t)i);
	memset(rb, 0, 2 * A2A_BLOCK);
	MPI_Alltoall(sb, A2A_BLOCK, MPI_BYTE, rb, A2A_BLOCK, MPI_BYTE,
		     MPI_COMM_WORLD);
	ok = 1;
	for (i = 0; i < 2; i++)
		ok &= same(rb + (size_t)i * A2A_BLOCK, A2A_BLOCK,
			   16u * (uint32_t)i + (uint32_t)rank);
	check(ok, "MPI_Alltoall of 64 KiB blocks: each block from its rank");
	free(in);
	free(out);
	free(sb);
	free(rb);
}

static void one_sided(void)
{
	unsigned char *base = NULL, *mine = malloc(WIN_SIZE);
	MPI_Win win;
	int ok = 1;

	if (!mine ||
	    MPI_Win_allocate(WIN_SIZE, 1, MPI_INFO_NULL, MPI_COMM_WORLD, &base,
			     &win) != MPI_SUCCESS) {
		check(0, "MPI_Win_allocate of 1 MiB");
		return;
	}
	memset(base, 0, WIN_SIZE);
	MPI_Win_fence(0, win);
	if (rank == 0) {
		fill(mine, WIN_SIZE, 500);
		MPI_Put(mine, WIN_SIZE, MPI_BYTE, 1, 0, WIN_SIZE, MPI_BYTE,
			win);
	}
	MPI_Win_fence(0, win);
	if (rank == 1)
		ok = same(base, WIN_SIZE, 500);
	check(ok, "MPI_Put of 1 MiB into rank 1's window (fence)");

	if (rank == 1)
		fill(base, WIN_SIZE, 501);
	MPI_Win_fence(0, win);
	if (rank == 0) {
		memset(mine, 0, WIN_SIZE);
		MPI_Get(mine, WIN_SIZE, MPI_BYTE, 1, 0, WIN_SIZE, MPI_BYTE,
			win);
	}
	MPI_Win_fence(0, win);
	ok = rank != 0 || same(mine, WIN_SIZE, 501);
	check(ok, "MPI_Get of 1 MiB from rank 1's window (fence)");

	/* Passive target: rank 0 writes 4 KiB at 64 KiB under a lock. */
	if (rank == 0) {
		fill(mine, 4096, 502);
		MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 1, 0, win);
		MPI_Put(mine, 4096, MPI_BYTE, 1, 65536, 4096, MPI_BYTE, win);
		MPI_Win_unlock(1, win);
	}
	MPI_Barrier(MPI_COMM_WORLD);
	if (rank == 1) {
		MPI_Win_lock(MPI_LOCK_SHARED, 1, 0, win);
		ok = same(base + 65536, 4096, 502) &&
		     same(base, 65536, 501); /* the bytes before: untouched */
		MPI_Win_unlock(1, win);
	}
	check(ok,
	      "MPI_Put under MPI_Win_lock (passive target), neighbours untouched");
	MPI_Win_free(&win);
	free(mine);
}

int main(int argc, char **argv)
{
	char host[MPI_MAX_PROCESSOR_NAME];
	unsigned char *buf;
	int size, len;

	MPI_Init(&argc, &argv);
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &size);
	MPI_Get_processor_name(host, &len);
	printf("# rank %d of %d on %s\n", rank, size, host);
	fflush(stdout);
	MPI_Barrier(MPI_COMM_WORLD);
	if (size != 2) {
		if (rank == 0)
			printf("FAIL - 2 ranks expected, %d run\n", size);
		MPI_Finalize();
		return 1;
	}
	buf = malloc(MAX_PP);
	if (!buf)
		MPI_Abort(MPI_COMM_WORLD, 1);
	pingpong(buf);
	collectives();
	one_sided();
	free(buf);
	MPI_Finalize();
	return failures ? 1 : 0;
}
