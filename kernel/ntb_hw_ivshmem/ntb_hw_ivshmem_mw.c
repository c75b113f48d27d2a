// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: memory window 0.
 *
 * Outbound, the window is BAR2 of the ivshmem-plain device, which maps the
 * peer's RAM: offset X of the BAR is guest-physical address X of the peer.
 * Inbound, the peer's ivshmem-plain BAR maps our RAM in the same way, so the
 * inbound translation is fixed: DMA address 0, size = our RAM size, which is
 * the size of the peer's ivshmem-plain BAR as it publishes it in its side
 * area (our own BAR size before the link first comes up).  Nothing can be
 * programmed: ntb_mw_set_trans() accepts exactly that translation (or a
 * smaller size) and rejects anything else with -EINVAL, e.g. the DMA buffer
 * that ntb_tool allocates.  Clearing the translation is bookkeeping only: the
 * peer can always reach all of our RAM, as through an NTB without IOMMU.
 */

#include <linux/mm.h>
#include <linux/sizes.h>

#include "ntb_hw_ivshmem.h"

/* Far above any testbed RAM; only to reject a nonsensical published size. */
#define NTB_IVSHMEM_MAX_WINDOW	SZ_1T

/* Validate the window size the peer published (untrusted); nd->lock held. */
resource_size_t ntb_ivshmem_check_inbound(struct ntb_ivshmem_dev *nd,
					  u64 size)
{
	if (size && IS_ALIGNED(size, PAGE_SIZE) &&
	    size <= NTB_IVSHMEM_MAX_WINDOW)
		return size;

	dev_warn(&nd->db->pdev->dev,
		 "peer published an invalid window size %#llx, assuming %pa\n",
		 size, &nd->win->size);

	return nd->win->size;
}

static bool ntb_ivshmem_mw_ok(int pidx, int widx)
{
	return pidx == 0 && widx == 0;
}

int ntb_ivshmem_mw_count(struct ntb_dev *ntb, int pidx)
{
	return pidx == 0 ? 1 : -EINVAL;
}

int ntb_ivshmem_mw_get_align(struct ntb_dev *ntb, int pidx, int widx,
			     resource_size_t *addr_align,
			     resource_size_t *size_align,
			     resource_size_t *size_max)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (!ntb_ivshmem_mw_ok(pidx, widx))
		return -EINVAL;

	/*
	 * The base is fixed at 0 (page aligned, like every guest-physical
	 * mapping); any size up to the window is accepted.
	 */
	if (addr_align)
		*addr_align = PAGE_SIZE;
	if (size_align)
		*size_align = 1;
	if (size_max) {
		spin_lock_irqsave(&nd->lock, flags);
		*size_max = nd->inbound_size;
		spin_unlock_irqrestore(&nd->lock, flags);
	}

	return 0;
}

int ntb_ivshmem_mw_set_trans(struct ntb_dev *ntb, int pidx, int widx,
			     dma_addr_t addr, resource_size_t size)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	resource_size_t inbound;
	unsigned long flags;
	int ret = 0;

	if (!ntb_ivshmem_mw_ok(pidx, widx))
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	inbound = nd->inbound_size;
	if (addr || !size || size > inbound)
		ret = -EINVAL;
	else
		nd->trans_size = size;
	spin_unlock_irqrestore(&nd->lock, flags);

	if (ret)
		dev_info_ratelimited(&nd->db->pdev->dev,
				     "inbound translation is fixed at DMA address 0, size <= %pa: rejecting %pad size %pa\n",
				     &inbound, &addr, &size);

	return ret;
}

int ntb_ivshmem_mw_clear_trans(struct ntb_dev *ntb, int pidx, int widx)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (!ntb_ivshmem_mw_ok(pidx, widx))
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->trans_size = 0;
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

int ntb_ivshmem_peer_mw_count(struct ntb_dev *ntb)
{
	return 1;
}

int ntb_ivshmem_peer_mw_get_addr(struct ntb_dev *ntb, int widx,
				 phys_addr_t *base, resource_size_t *size)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (widx != 0)
		return -EINVAL;

	if (base)
		*base = nd->win->phys;
	if (size)
		*size = nd->win->size;

	return 0;
}
