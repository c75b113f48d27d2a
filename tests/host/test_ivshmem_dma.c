// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * Host unit test of the emulated DMA engine's executor
 * (tools/ivshmem-server/dma_exec.c): good copies to and from both RAMs
 * byte for byte, the signals they ask for, and a guest's hostile areas -
 * ranges outside or wrapping around its RAM, lengths and flags out of
 * bounds, prod far ahead of or behind cons, a cons the guest scribbled -
 * each with its exact status, and never a byte written outside the
 * destination (guard bytes after each RAM stay as they were).
 */
#include <endian.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma_exec.h"

#define RAM_SIZE (64u * 1024)
#define GUARD 4096u

static int failures;

#define CHECK(cond, ...)                     \
	do {                                 \
		if (cond) {                  \
			printf("ok - ");     \
		} else {                     \
			printf("not ok - "); \
			failures++;          \
		}                            \
		printf(__VA_ARGS__);         \
		printf("\n");                \
	} while (0)

static struct ntb_ivshmem_dma_area area;
static struct dma_area_state st;
static unsigned char *mem_own, *mem_peer;
static struct dma_ram own, peer;

/* Post one descriptor at prod and advance prod. */
static void post(uint64_t src, uint64_t dst, uint32_t len, uint32_t flags)
{
	uint32_t prod = le32toh(area.prod);
	struct ntb_ivshmem_dma_desc *d =
		&area.desc[prod % NTB_IVSHMEM_DMA_SLOTS];

	d->src = htole64(src);
	d->dst = htole64(dst);
	d->len = htole32(len);
	d->flags = htole32(flags);
	d->status = htole32(0xdeadbeef);
	area.prod = htole32(prod + 1);
}

static uint32_t status_of(uint32_t idx)
{
	return le32toh(area.desc[idx % NTB_IVSHMEM_DMA_SLOTS].status);
}

static void fill(unsigned char *p, size_t n, unsigned int seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(seed + i * 31);
}

static int guards_intact(void)
{
	for (unsigned int i = 0; i < GUARD; i++)
		if (mem_own[RAM_SIZE + i] != 0xaa ||
		    mem_peer[RAM_SIZE + i] != 0xaa)
			return 0;
	return 1;
}

/* One descriptor executed: its status, with the signals it raised. */
static uint32_t run1(struct dma_signal *sig)
{
	uint32_t idx = st.cons;
	unsigned int n;

	memset(sig, 0, sizeof(*sig));
	n = dma_exec_area(&area, &st, &own, &peer, sig);
	if (n != 1)
		return 0xffffffff;
	return status_of(idx);
}

int main(void)
{
	unsigned char before_own[RAM_SIZE], before_peer[RAM_SIZE];
	struct dma_signal sig;
	uint32_t s;
	unsigned int n;

	mem_own = malloc(RAM_SIZE + GUARD);
	mem_peer = malloc(RAM_SIZE + GUARD);
	if (!mem_own || !mem_peer)
		return 1;
	fill(mem_own, RAM_SIZE, 1);
	fill(mem_peer, RAM_SIZE, 7);
	memset(mem_own + RAM_SIZE, 0xaa, GUARD);
	memset(mem_peer + RAM_SIZE, 0xaa, GUARD);
	own = (struct dma_ram){ mem_own, RAM_SIZE };
	peer = (struct dma_ram){ mem_peer, RAM_SIZE };

	/* 1. Own RAM to own RAM, no IRQ asked: copied, no signal. */
	post(100, 5000, 300, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK &&
		      !memcmp(mem_own + 5000, mem_own + 100, 300),
	      "own -> own, 300 bytes copied (status %u)", s);
	CHECK(!sig.local_irq && !sig.remote_db, "no signal without F_IRQ");
	CHECK(le32toh(area.cons) == 1 && le32toh(area.errors) == 0,
	      "cons 1, errors 0 published");

	/* 2. Own RAM into the peer's, IRQ and the peer's doorbell 5. */
	post(0, NTB_IVSHMEM_DMA_PEER | 60000, 4096,
	     NTB_IVSHMEM_DMA_F_IRQ | NTB_IVSHMEM_DMA_F_REMOTE_DB |
		     (5u << NTB_IVSHMEM_DMA_DB_SHIFT));
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK &&
		      !memcmp(mem_peer + 60000, mem_own, 4096),
	      "own -> peer, 4096 bytes copied (status %u)", s);
	CHECK(sig.local_irq && sig.remote_db == 1u << 5,
	      "F_IRQ and REMOTE_DB(5) signalled (irq %d, db %#x)",
	      sig.local_irq, sig.remote_db);

	/* 3. The peer's RAM into ours (a READ pushed by the engine). */
	post(NTB_IVSHMEM_DMA_PEER | 8, 20000, 1000, NTB_IVSHMEM_DMA_F_IRQ);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK &&
		      !memcmp(mem_own + 20000, mem_peer + 8, 1000),
	      "peer -> own, 1000 bytes copied (status %u)", s);

	/* 4. Overlapping ranges: memmove semantics. */
	fill(before_own, 512, 3);
	memcpy(mem_own + 30000, before_own, 512);
	post(30000, 30100, 412, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK &&
		      !memcmp(mem_own + 30100, before_own, 412),
	      "overlapping ranges copied as memmove");

	/* 5. Up to the last byte: allowed; one byte more: refused. */
	post(0, RAM_SIZE - 64, 64, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK, "a copy ending at the RAM's last byte");

	memcpy(before_own, mem_own, RAM_SIZE);
	memcpy(before_peer, mem_peer, RAM_SIZE);
	post(0, RAM_SIZE - 64, 65, NTB_IVSHMEM_DMA_F_IRQ);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_RANGE && sig.local_irq,
	      "destination one byte past the RAM: BAD_RANGE and an IRQ (status %u)",
	      s);
	post(RAM_SIZE - 10, 0, 20, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_RANGE && sig.local_irq,
	      "source past the RAM: BAD_RANGE, IRQ even without F_IRQ (status %u)",
	      s);
	post(~NTB_IVSHMEM_DMA_PEER - 15, 0, 32, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_RANGE,
	      "source just below 2^63 (the peer bit): BAD_RANGE (status %u)",
	      s);
	post(0, NTB_IVSHMEM_DMA_PEER | RAM_SIZE, 1, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_RANGE,
	      "destination at the peer's RAM's end: BAD_RANGE (status %u)", s);
	post(0, 0, NTB_IVSHMEM_DMA_MAX_LEN + 1, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_DESC,
	      "length over the maximum: BAD_DESC (status %u)", s);
	post(0, 4096, 16, 0x80000000u);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_DESC,
	      "unknown flag: BAD_DESC (status %u)", s);
	CHECK(!memcmp(before_own, mem_own, RAM_SIZE) &&
		      !memcmp(before_peer, mem_peer, RAM_SIZE),
	      "no byte of either RAM written by the refused descriptors");
	CHECK(le32toh(area.errors) == 6, "errors counts the 6 refused (%u)",
	      le32toh(area.errors));

	/* 6. No peer RAM mapped (its VM is gone): BAD_RANGE. */
	peer.base = NULL;
	post(0, NTB_IVSHMEM_DMA_PEER, 8, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_BAD_RANGE, "peer RAM not mapped: BAD_RANGE");
	peer.base = mem_peer;

	/* 7. Zero length: done, nothing written. */
	memcpy(before_own, mem_own, RAM_SIZE);
	post(0, 100, 0, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK && !memcmp(before_own, mem_own, RAM_SIZE),
	      "zero length: OK, nothing written");

	/* 8. A prod far ahead of cons: nothing executed, one error. */
	area.prod = htole32(st.cons + NTB_IVSHMEM_DMA_SLOTS + 1);
	memset(&sig, 0, sizeof(sig));
	n = dma_exec_area(&area, &st, &own, &peer, &sig);
	CHECK(n == 0 && st.corrupt && sig.local_irq,
	      "prod %u ahead: nothing executed, the area failed",
	      NTB_IVSHMEM_DMA_SLOTS + 1);
	n = dma_exec_area(&area, &st, &own, &peer, &sig);
	CHECK(n == 0 && le32toh(area.errors) == 8,
	      "still nothing, counted once (errors %u)", le32toh(area.errors));
	/* Behind cons (a wrapped difference): the same. */
	area.prod = htole32(st.cons - 1);
	n = dma_exec_area(&area, &st, &own, &peer, &sig);
	CHECK(n == 0 && st.corrupt, "prod behind cons: nothing executed");
	/* A reloaded driver starts prod at cons: the area works again. */
	area.prod = htole32(st.cons);
	post(200, 40000, 100, 0);
	s = run1(&sig);
	CHECK(s == NTB_IVSHMEM_DMA_OK && !st.corrupt &&
		      !memcmp(mem_own + 40000, mem_own + 200, 100),
	      "prod back at cons: the next descriptor runs");

	/* 9. A full ring at once, and cons scribbled by the guest. */
	area.cons = htole32(12345);
	for (unsigned int i = 0; i < NTB_IVSHMEM_DMA_SLOTS; i++)
		post(i * 16, 50000 + i * 16, 16, 0);
	memset(&sig, 0, sizeof(sig));
	n = dma_exec_area(&area, &st, &own, &peer, &sig);
	CHECK(n == NTB_IVSHMEM_DMA_SLOTS && le32toh(area.cons) == st.cons &&
		      le32toh(area.cons) == le32toh(area.prod),
	      "256 descriptors at once, cons published from the server's copy");

	CHECK(guards_intact(), "the guard bytes after both RAMs untouched");
	free(mem_own);
	free(mem_peer);
	printf("%s\n", failures ? "FAILED" : "passed");
	return failures ? 1 : 0;
}
