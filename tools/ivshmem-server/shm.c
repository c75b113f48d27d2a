// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * The shared memory region of the ivshmem server.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ntb-ivshmem.h"

#include "log.h"
#include "shm.h"

_Static_assert(sizeof(struct ntb_ivshmem_hdr) <= NTB_IVSHMEM_SIDE_OFFSET,
	       "header overlaps side area 0");

int shm_create(uint64_t size, unsigned int vectors, unsigned int max_peers,
	       int dma_id)
{
	struct ntb_ivshmem_hdr hdr;
	ssize_t n;
	int fd, err;

	fd = memfd_create("ntb-ivshmem", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		err = errno;
		pr_err("memfd_create: %s", strerror(err));
		return -err;
	}

	/* A fresh memfd is empty; growing it fills it with zeroes. */
	if (ftruncate(fd, (off_t)size) < 0) {
		err = errno;
		pr_err("cannot size shared memory to %llu bytes: %s",
		       (unsigned long long)size, strerror(err));
		goto fail;
	}

	memset(&hdr, 0, sizeof(hdr));
	hdr.magic = htole64(NTB_IVSHMEM_MAGIC);
	hdr.version = htole32(NTB_IVSHMEM_VERSION);
	hdr.hdr_size = htole32(sizeof(hdr));
	hdr.shm_size = htole64(size);
	hdr.vectors = htole32(vectors);
	hdr.max_peers = htole32(max_peers);
	hdr.side_offset = htole32(NTB_IVSHMEM_SIDE_OFFSET);
	hdr.side_size = htole32(NTB_IVSHMEM_SIDE_SIZE);
	if (dma_id >= 0) {
		hdr.dma_offset = htole32(NTB_IVSHMEM_DMA_OFFSET);
		hdr.dma_size = htole32(NTB_IVSHMEM_DMA_SIZE);
		hdr.dma_id = htole32((uint32_t)dma_id);
		hdr.dma_slots = htole32(NTB_IVSHMEM_DMA_SLOTS);
	}

	n = pwrite(fd, &hdr, sizeof(hdr), 0);
	if (n != (ssize_t)sizeof(hdr)) {
		err = n < 0 ? errno : EIO;
		pr_err("cannot write shared memory header: %s", strerror(err));
		goto fail;
	}

	/*
	 * Clients map the whole region; make sure nobody can change its
	 * size under them.  Writing stays allowed (it is shared memory).
	 */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		err = errno;
		pr_err("cannot seal shared memory: %s", strerror(err));
		goto fail;
	}
	return fd;

fail:
	close(fd);
	return -err;
}
