/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * The emulated DMA engine of the ivshmem server (--dma RAM0,RAM1;
 * Documentation/dma-engine.md): a thread of its own that waits for kicks
 * on the engine's pseudo-peer eventfd, executes the descriptors of both
 * VMs' DMA areas (dma_exec.c) against their RAM files, and raises the
 * completion vector of the issuer (and a doorbell of the peer) through
 * the peers' eventfds.
 */
#ifndef IVSHMEM_SERVER_DMA_H
#define IVSHMEM_SERVER_DMA_H

#include <stdint.h>

#include "peer.h"

struct dma_engine;

/*
 * Start the engine over the region @shm (@shm_size bytes, mapped shared)
 * for peer ids 0 and 1, whose RAM files are @ram[0] and @ram[1] (opened
 * and mapped when a kick finds them, again when they changed).  @t must
 * be persistent and hold the engine's id (@dma_id) whose vector 0 kicks.
 * Returns NULL with an error logged.
 */
struct dma_engine *dma_start(void *shm, uint64_t shm_size,
			     const char *const ram[2], struct peer_table *t,
			     unsigned int dma_id);
void dma_stop(struct dma_engine *e);

#endif /* IVSHMEM_SERVER_DMA_H */
