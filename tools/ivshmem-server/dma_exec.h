/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The emulated DMA engine's executor: runs the descriptors one VM posted
 * in its DMA area (include/ntb-ivshmem.h) against the two VMs' RAM.  Pure:
 * no threads, no files, no eventfds (dma.c has those), so a host unit test
 * drives it with hostile areas (tests/host/test_ivshmem_dma.c).
 */
#ifndef IVSHMEM_SERVER_DMA_EXEC_H
#define IVSHMEM_SERVER_DMA_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "ntb-ivshmem.h"

/* One VM's RAM as the server maps it (base NULL: not mapped). */
struct dma_ram {
	unsigned char *base;
	uint64_t size;
};

/* The server's own state of one DMA area; never read from the area. */
struct dma_area_state {
	uint32_t cons; /* descriptors executed (published as cons) */
	uint32_t errors; /* descriptors failed + corrupt prods seen */
	bool corrupt; /* prod was out of range at the last look */
};

/* What the executed descriptors ask to be signalled. */
struct dma_signal {
	bool local_irq; /* the issuer's NTB_IVSHMEM_DMA_VECTOR */
	uint32_t remote_db; /* doorbell bits to ring in the peer */
};

/*
 * Execute every descriptor the area's prod says is posted, in order:
 * each read once, checked (length, flags, both ranges inside the RAM they
 * name), copied, its status written, then cons and errors published.
 * A prod more than NTB_IVSHMEM_DMA_SLOTS ahead of cons (or behind it)
 * executes nothing and counts one error per change of state.  Returns the
 * number of descriptors executed.
 */
unsigned int dma_exec_area(struct ntb_ivshmem_dma_area *area,
			   struct dma_area_state *st, const struct dma_ram *own,
			   const struct dma_ram *peer, struct dma_signal *sig);

#endif /* IVSHMEM_SERVER_DMA_EXEC_H */
