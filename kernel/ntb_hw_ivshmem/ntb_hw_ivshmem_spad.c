// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: scratchpads.
 *
 * Each side area holds the NTB_IVSHMEM_SPAD_COUNT scratchpads of its owner
 * (its inbound set): ntb_spad_*() access ours, ntb_peer_spad_*() the peer's.
 * Like hardware scratchpad registers they have two writers; every access is
 * one aligned 32-bit load or store, and the last writer wins.  With the
 * hide_spads parameter none of these ops is installed (spad_count 0).
 */

#include <linux/io.h>
#include <linux/stddef.h>

#include "ntb_hw_ivshmem.h"

static bool ntb_ivshmem_spad_ok(struct ntb_ivshmem_dev *nd, int sidx)
{
	return sidx >= 0 && sidx < nd->spad_count;
}

int ntb_ivshmem_spad_count(struct ntb_dev *ntb)
{
	return ntb_ivshmem_of(ntb)->spad_count;
}

u32 ntb_ivshmem_spad_read(struct ntb_dev *ntb, int sidx)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (!ntb_ivshmem_spad_ok(nd, sidx))
		return 0;

	return ioread32(&nd->own->spad[sidx]);
}

int ntb_ivshmem_spad_write(struct ntb_dev *ntb, int sidx, u32 val)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (!ntb_ivshmem_spad_ok(nd, sidx))
		return -EINVAL;

	/* Our scratchpad: written by us and by the peer, last writer wins. */
	iowrite32(val, &nd->own->spad[sidx]);

	return 0;
}

/* A store of 32 bits to this CPU physical address writes the peer's spad. */
int ntb_ivshmem_peer_spad_addr(struct ntb_dev *ntb, int pidx, int sidx,
			       phys_addr_t *spad_addr)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	struct ntb_ivshmem_dbdev *db = nd->db;

	if (pidx != 0 || !ntb_ivshmem_spad_ok(nd, sidx))
		return -EINVAL;

	if (spad_addr)
		*spad_addr = db->shm_phys + db->side_offset +
			     (phys_addr_t)db->peer_id * db->side_size +
			     offsetof(struct ntb_ivshmem_side, spad) +
			     sidx * sizeof(u32);

	return 0;
}

u32 ntb_ivshmem_peer_spad_read(struct ntb_dev *ntb, int pidx, int sidx)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (pidx != 0 || !ntb_ivshmem_spad_ok(nd, sidx))
		return 0;

	return ioread32(&nd->peer->spad[sidx]);
}

int ntb_ivshmem_peer_spad_write(struct ntb_dev *ntb, int pidx, int sidx,
				u32 val)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (pidx != 0 || !ntb_ivshmem_spad_ok(nd, sidx))
		return -EINVAL;

	/* The peer's scratchpad: written by both VMs, last writer wins. */
	iowrite32(val, &nd->peer->spad[sidx]);

	return 0;
}
