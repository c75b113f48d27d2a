// SPDX-License-Identifier: GPL-2.0
/*
 * ntb_hw_ivshmem: memory windows.
 *
 * BAR2 of the ivshmem-plain device maps the peer's RAM: offset X of the BAR
 * is guest-physical (= DMA) address X of the peer.  By default it is one
 * window, all of the BAR.  The module parameter mw= cuts it into up to
 * NTB_IVSHMEM_MW_MAX windows at offsets inside the BAR, e.g.
 * mw=768M@0,256M@768M, like the windows at offsets within one BAR that the
 * vNTB endpoint function driver reports, or windows that together cover less
 * than RAM (real NTBs often have a few GiB of window on hosts with far more
 * memory).
 *
 * Outbound, window i is BAR2 [offset_i, offset_i + size_i).  Inbound, the
 * peer's window i reaches our RAM from DMA address offset_i: the translation
 * is fixed there, as nothing in an ivshmem BAR can be programmed.
 * ntb_mw_set_trans() accepts exactly base offset_i and a size up to the
 * window (clipped to our RAM), and rejects anything else with -EINVAL, e.g.
 * the DMA buffer that ntb_tool allocates.  Clearing the translation is
 * bookkeeping only: the peer can always reach all of our RAM, as through an
 * NTB without IOMMU.
 *
 * Window i of one side is the outbound end of window i of the other, so
 * both sides must be loaded with the same mw=: each publishes its windows in
 * its side area, and the link stays down while they differ.
 */

#include <linux/io.h>
#include <linux/io-64-nonatomic-lo-hi.h>
#include <linux/kernel.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/sizes.h>
#include <linux/string.h>

#include "ntb_hw_ivshmem.h"

/* Far above any testbed RAM; only to reject a nonsensical published size. */
#define NTB_IVSHMEM_MAX_WINDOW	SZ_1T

static char *mw;
module_param(mw, charp, 0444);
MODULE_PARM_DESC(mw,
		 "Memory windows as SIZE@OFFSET[,SIZE@OFFSET...] inside the ivshmem-plain BAR2, at most 4, page aligned, not overlapping; the same on both sides (default: one window, all of BAR2)");

/* mw= parsed at module load; count 0: the default. */
static struct ntb_ivshmem_mw ntb_ivshmem_mw_cfg[NTB_IVSHMEM_MW_MAX];
static int ntb_ivshmem_mw_cfg_count;

static bool ntb_ivshmem_mw_overlap(const struct ntb_ivshmem_mw *a,
				   const struct ntb_ivshmem_mw *b)
{
	return a->offset < b->offset + b->size &&
	       b->offset < a->offset + a->size;
}

/* Module load: parse mw=; -EINVAL (load refused) when it is malformed. */
int ntb_ivshmem_mw_parse(void)
{
	struct ntb_ivshmem_mw *w;
	char *p = mw, *end;
	int n = 0, i;

	if (!p || !*p)
		return 0;
	while (*p) {
		if (n == NTB_IVSHMEM_MW_MAX) {
			pr_err("mw=%s: more than %d windows\n", mw,
			       NTB_IVSHMEM_MW_MAX);
			return -EINVAL;
		}
		w = &ntb_ivshmem_mw_cfg[n];
		w->size = memparse(p, &end);
		if (end == p || *end != '@')
			goto bad;
		p = end + 1;
		w->offset = memparse(p, &end);
		if (end == p || (*end && *end != ','))
			goto bad;
		p = *end ? end + 1 : end;
		if (!w->size || !PAGE_ALIGNED(w->size) ||
		    !PAGE_ALIGNED(w->offset) ||
		    w->size > NTB_IVSHMEM_MAX_WINDOW ||
		    w->offset > NTB_IVSHMEM_MAX_WINDOW) {
			pr_err("mw=%s: window %d is not a page-aligned size (at most 1T) at a page-aligned offset\n",
			       mw, n);
			return -EINVAL;
		}
		for (i = 0; i < n; i++) {
			if (ntb_ivshmem_mw_overlap(w, &ntb_ivshmem_mw_cfg[i])) {
				pr_err("mw=%s: windows %d and %d overlap\n",
				       mw, i, n);
				return -EINVAL;
			}
		}
		n++;
	}
	ntb_ivshmem_mw_cfg_count = n;
	return 0;

bad:
	pr_err("mw=%s: expected SIZE@OFFSET[,SIZE@OFFSET...] (e.g. 768M@0,256M@768M)\n",
	       mw);
	return -EINVAL;
}

/* Pairing: our windows, checked against the BAR they cut. */
int ntb_ivshmem_mw_init(struct ntb_ivshmem_dev *nd)
{
	resource_size_t bar = nd->win->size;
	int i;

	if (!ntb_ivshmem_mw_cfg_count) {
		nd->mw[0].offset = 0;
		nd->mw[0].size = bar;
		nd->mw_count = 1;
		nd->mw_whole = true;
		return 0;
	}
	for (i = 0; i < ntb_ivshmem_mw_cfg_count; i++) {
		nd->mw[i] = ntb_ivshmem_mw_cfg[i];
		if (nd->mw[i].offset + nd->mw[i].size > bar) {
			dev_err(&nd->win->pdev->dev,
				"mw=%s: window %d (%#llx bytes at %#llx) ends beyond BAR2 (%pa bytes)\n",
				mw, i, nd->mw[i].size, nd->mw[i].offset, &bar);
			return -EINVAL;
		}
	}
	nd->mw_count = ntb_ivshmem_mw_cfg_count;
	return 0;
}

/* Side area initialisation (before the session that covers it). */
void ntb_ivshmem_mw_publish(struct ntb_ivshmem_dev *nd)
{
	struct ntb_ivshmem_side __iomem *own = nd->own;
	int i;

	if (nd->mw_whole)
		return;	/* mw_count 0: the default */
	for (i = 0; i < nd->mw_count; i++) {
		lo_hi_writeq(nd->mw[i].offset, &own->mw[i].offset);
		lo_hi_writeq(nd->mw[i].size, &own->mw[i].size);
	}
	iowrite32(nd->mw_count, &own->mw_count);
}

/* The peer (untrusted) published the same windows as ours. */
bool ntb_ivshmem_mw_match(struct ntb_ivshmem_dev *nd)
{
	struct ntb_ivshmem_side __iomem *peer = nd->peer;
	u32 count = ioread32(&peer->mw_count);
	int i;

	if (count != (nd->mw_whole ? 0 : nd->mw_count))
		return false;
	for (i = 0; i < count; i++) {
		if (lo_hi_readq(&peer->mw[i].offset) != nd->mw[i].offset ||
		    lo_hi_readq(&peer->mw[i].size) != nd->mw[i].size)
			return false;
	}
	return true;
}

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

static bool ntb_ivshmem_mw_ok(struct ntb_ivshmem_dev *nd, int pidx, int widx)
{
	return pidx == 0 && widx >= 0 && widx < nd->mw_count;
}

/*
 * How much of our RAM inbound window widx reaches: the window clipped to
 * the peer's BAR2 (our RAM), 0 when it starts beyond; nd->lock held.
 */
static u64 ntb_ivshmem_mw_inbound(struct ntb_ivshmem_dev *nd, int widx)
{
	const struct ntb_ivshmem_mw *w = &nd->mw[widx];

	if (nd->mw_whole)
		return nd->inbound_size;
	if (w->offset >= nd->inbound_size)
		return 0;
	return min_t(u64, w->size, nd->inbound_size - w->offset);
}

int ntb_ivshmem_mw_count(struct ntb_dev *ntb, int pidx)
{
	return pidx == 0 ? ntb_ivshmem_of(ntb)->mw_count : -EINVAL;
}

int ntb_ivshmem_mw_get_align(struct ntb_dev *ntb, int pidx, int widx,
			     resource_size_t *addr_align,
			     resource_size_t *size_align,
			     resource_size_t *size_max)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (!ntb_ivshmem_mw_ok(nd, pidx, widx))
		return -EINVAL;

	/*
	 * The base is fixed at the window's offset (page aligned, like every
	 * guest-physical mapping); any page multiple up to the window.
	 */
	if (addr_align)
		*addr_align = PAGE_SIZE;
	if (size_align)
		*size_align = PAGE_SIZE;
	if (size_max) {
		spin_lock_irqsave(&nd->lock, flags);
		*size_max = ntb_ivshmem_mw_inbound(nd, widx);
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
	u64 base;
	int ret = 0;

	if (!ntb_ivshmem_mw_ok(nd, pidx, widx))
		return -EINVAL;

	base = nd->mw[widx].offset;
	spin_lock_irqsave(&nd->lock, flags);
	inbound = ntb_ivshmem_mw_inbound(nd, widx);
	if (addr != base || !size || size > inbound ||
	    !PAGE_ALIGNED(size))
		ret = -EINVAL;
	else
		nd->mw[widx].trans = size;
	spin_unlock_irqrestore(&nd->lock, flags);

	if (ret)
		dev_info_ratelimited(&nd->db->pdev->dev,
				     "inbound window %d is fixed at DMA address %#llx, size <= %pa (page multiple): rejecting %pad size %pa\n",
				     widx, base, &inbound, &addr, &size);

	return ret;
}

int ntb_ivshmem_mw_clear_trans(struct ntb_dev *ntb, int pidx, int widx)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);
	unsigned long flags;

	if (!ntb_ivshmem_mw_ok(nd, pidx, widx))
		return -EINVAL;

	spin_lock_irqsave(&nd->lock, flags);
	nd->mw[widx].trans = 0;
	spin_unlock_irqrestore(&nd->lock, flags);

	return 0;
}

int ntb_ivshmem_peer_mw_count(struct ntb_dev *ntb)
{
	return ntb_ivshmem_of(ntb)->mw_count;
}

int ntb_ivshmem_peer_mw_get_addr(struct ntb_dev *ntb, int widx,
				 phys_addr_t *base, resource_size_t *size)
{
	struct ntb_ivshmem_dev *nd = ntb_ivshmem_of(ntb);

	if (!ntb_ivshmem_mw_ok(nd, 0, widx))
		return -EINVAL;

	if (base)
		*base = nd->win->phys + nd->mw[widx].offset;
	if (size)
		*size = nd->mw[widx].size;

	return 0;
}
