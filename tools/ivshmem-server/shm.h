/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The shared memory region handed to every client: an anonymous memfd,
 * zero-filled, starting with struct ntb_ivshmem_hdr.
 */
#ifndef IVSHMEM_SERVER_SHM_H
#define IVSHMEM_SERVER_SHM_H

#include <stdint.h>

/*
 * Create the region and write its header (with the DMA engine's fields
 * when @dma_id >= 0).  Returns the memfd, or a negative errno value
 * (after logging what failed).
 */
int shm_create(uint64_t size, unsigned int vectors, unsigned int max_peers,
	       int dma_id);

#endif /* IVSHMEM_SERVER_SHM_H */
