// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The emulated DMA engine's executor (dma_exec.h).  Everything read from
 * a DMA area is the guest's, untrusted and possibly changing while we read
 * it: each descriptor is copied into our memory once, and only the copy is
 * checked and used.
 */
#include <endian.h>
#include <string.h>

#include "dma_exec.h"

/* The area's words are shared with a guest: one access each, no tearing. */
static uint32_t load32(const __le32 *p)
{
	return le32toh(__atomic_load_n((const uint32_t *)p, __ATOMIC_ACQUIRE));
}

static void store32(__le32 *p, uint32_t v)
{
	__atomic_store_n((uint32_t *)p, htole32(v), __ATOMIC_RELEASE);
}

static uint64_t load64(const __le64 *p)
{
	return le64toh(__atomic_load_n((const uint64_t *)p, __ATOMIC_RELAXED));
}

/* The bytes [addr, addr + len) name, or NULL when they are not all RAM. */
static unsigned char *resolve(uint64_t addr, uint32_t len,
			      const struct dma_ram *own,
			      const struct dma_ram *peer)
{
	const struct dma_ram *r = addr & NTB_IVSHMEM_DMA_PEER ? peer : own;
	uint64_t off = addr & ~NTB_IVSHMEM_DMA_PEER;

	if (!r->base || off > r->size || len > r->size - off)
		return NULL;
	return r->base + off;
}

/* One descriptor (already copied out of the area): its status. */
static uint32_t exec_one(uint64_t src, uint64_t dst, uint32_t len,
			 uint32_t flags, const struct dma_ram *own,
			 const struct dma_ram *peer)
{
	unsigned char *s, *d;

	if (len > NTB_IVSHMEM_DMA_MAX_LEN || (flags & ~NTB_IVSHMEM_DMA_F_KNOWN))
		return NTB_IVSHMEM_DMA_BAD_DESC;
	s = resolve(src, len, own, peer);
	d = resolve(dst, len, own, peer);
	if (!s || !d)
		return NTB_IVSHMEM_DMA_BAD_RANGE;
	/* memmove: a guest may name overlapping ranges. */
	memmove(d, s, len);
	return NTB_IVSHMEM_DMA_OK;
}

unsigned int dma_exec_area(struct ntb_ivshmem_dma_area *area,
			   struct dma_area_state *st, const struct dma_ram *own,
			   const struct dma_ram *peer, struct dma_signal *sig)
{
	uint32_t prod = load32(&area->prod);
	unsigned int n = 0;

	if (prod - st->cons > NTB_IVSHMEM_DMA_SLOTS) {
		if (!st->corrupt) {
			st->corrupt = true;
			st->errors++;
			store32(&area->errors, st->errors);
			sig->local_irq = true;
		}
		return 0;
	}
	st->corrupt = false;
	while (st->cons != prod) {
		struct ntb_ivshmem_dma_desc *d =
			&area->desc[st->cons % NTB_IVSHMEM_DMA_SLOTS];
		uint64_t src = load64(&d->src), dst = load64(&d->dst);
		uint32_t len = load32(&d->len), flags = load32(&d->flags);
		uint32_t status;

		status = exec_one(src, dst, len, flags, own, peer);
		store32(&d->status, status);
		if (status != NTB_IVSHMEM_DMA_OK) {
			st->errors++;
			sig->local_irq = true;
		} else {
			if (flags & NTB_IVSHMEM_DMA_F_IRQ)
				sig->local_irq = true;
			if (flags & NTB_IVSHMEM_DMA_F_REMOTE_DB)
				sig->remote_db |=
					1u << ((flags >>
						NTB_IVSHMEM_DMA_DB_SHIFT) &
					       0xf);
		}
		st->cons++;
		n++;
	}
	if (n) {
		store32(&area->errors, st->errors);
		/* Release: the statuses and the data before cons. */
		store32(&area->cons, st->cons);
	}
	return n;
}
