// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: the NTB client, one struct ntbr_dev per NTB device.
 *
 * Memory model: the inbound translation of window 0 covers our DMA address
 * space from 0, so the peer reaches any page DMA-mapped for the NTB device at
 * window offset == its DMA address; the DMA mask of the NTB's DMA device is
 * restricted to the window size.  We reach the peer's pages the same way
 * through its window, mapped write-combining.  We never read through the
 * window: the peer pushes what we need into our memory (ntbrdma_ring.h).
 *
 * The window reaches DMA addresses below its size (the coverage) and
 * nothing else, so every buffer the peer writes into is checked to lie
 * there as itself, never as a swiotlb bounce slot (ntbr_page_mapped_ok(),
 * Documentation/memory-windows.md).
 */

#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/module.h>
#include <linux/nodemask.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>

#include "ntbrdma_transport.h"

#define NTBR_DB_OWN (BIT_ULL(NTBR_DB_CTRL) | BIT_ULL(NTBR_DB_NET))

/* --- window access ------------------------------------------------------ */

bool ntbr_win_range_ok(struct ntbr_dev *nd, u64 addr, u64 len)
{
	return addr <= nd->peer_mw_size && len <= nd->peer_mw_size - addr;
}

/*
 * The window writers below assume an SRCU read section of nd->srcu that saw
 * nd->ready (or the link work, which teardown cannot run concurrently with)
 * and an address checked against the window.
 */
void ntbr_win_write32(struct ntbr_dev *nd, u64 addr, u32 val)
{
	iowrite32(val, nd->peer_mw + addr);
}

void ntbr_win_copy(struct ntbr_dev *nd, u64 addr, const void *src,
		   size_t len)
{
	memcpy_toio(nd->peer_mw + addr, src, len);
}

bool ntbr_peer_can_write(struct ntbr_dev *nd)
{
	return !READ_ONCE(nd->inbound_closed);
}

int ntbr_peer_write(struct ntbr_dev *nd, u64 peer_addr, const void *src,
		    size_t len)
{
	int idx, ret = 0;

	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready))
		ret = -ENOTCONN;
	else if (!ntbr_win_range_ok(nd, peer_addr, len))
		ret = -EINVAL;
	else
		ntbr_win_copy(nd, peer_addr, src, len);
	srcu_read_unlock(&nd->srcu, idx);

	return ret;
}

/* --- doorbells ------------------------------------------------------------ */

void ntbr_peer_db(struct ntbr_dev *nd, int bit)
{
	/* ntb_peer_db_set() orders our window stores before the doorbell. */
	ntb_peer_db_set(nd->ntb, BIT_ULL(bit));
}

u64 ntbr_db_ib_mask(struct ntbr_dev *nd)
{
	return ntb_db_valid_mask(nd->ntb) & ~NTBR_DB_OWN;
}

void ntbr_db_set_handler(struct ntbr_dev *nd, ntbr_db_handler_t handler)
{
	WRITE_ONCE(nd->db_handler, handler);
}

int ntbr_peer_db_set(struct ntbr_dev *nd, u64 db_bits)
{
	if (!db_bits || (db_bits & ~ntbr_db_ib_mask(nd)))
		return -EINVAL;
	if (!READ_ONCE(nd->ready))
		return -ENOTCONN;

	return ntb_peer_db_set(nd->ntb, db_bits);
}

static void ntbr_db_event(void *ctx, int vector)
{
	struct ntbr_dev *nd = ctx;
	struct ntb_dev *ntb = nd->ntb;
	ntbr_db_handler_t handler;
	u64 vmask, bits;

	if (vector >= 0 && vector < ntb_db_vector_count(ntb))
		vmask = ntb_db_vector_mask(ntb, vector);
	else
		vmask = ntb_db_valid_mask(ntb);
	bits = ntb_db_read(ntb) & vmask;
	if (!bits)
		return;
	/* Clear before acting: a doorbell rung after this is not lost. */
	ntb_db_clear(ntb, bits);

	if (bits & BIT_ULL(NTBR_DB_CTRL))
		ntbr_ctrl_db(nd);
	if (bits & BIT_ULL(NTBR_DB_NET))
		ntbr_net_db(nd);
	bits &= ~NTBR_DB_OWN;
	handler = READ_ONCE(nd->db_handler);
	if (bits && handler)
		handler(nd, bits);
}

static const struct ntb_ctx_ops ntbr_ctx_ops = {
	.link_event = ntbr_link_event,
	.db_event = ntbr_db_event,
	.msg_event = ntbr_msg_event,
};

/* --- accessors of ntbrdma.h ---------------------------------------------- */

struct net_device *ntbr_netdev(struct ntbr_dev *nd)
{
	return nd->netdev;
}

struct ntb_dev *ntbr_ntb(struct ntbr_dev *nd)
{
	return nd->ntb;
}

struct device *ntbr_dma_device(struct ntbr_dev *nd)
{
	return nd->dma_dev;
}

bool ntbr_link_ready(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->ready);
}

void ntbr_set_ib(struct ntbr_dev *nd, void *ib)
{
	WRITE_ONCE(nd->ib, ib);
}

void *ntbr_get_ib(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->ib);
}

void ntbr_dev_free(struct kref *ref)
{
	struct ntbr_dev *nd = container_of(ref, struct ntbr_dev, ref);

	cleanup_srcu_struct(&nd->srcu);
	kfree(nd);
}

void ntbr_dev_put(struct ntbr_dev *nd)
{
	kref_put(&nd->ref, ntbr_dev_free);
}

/* --- what the peer reaches ------------------------------------------------- */

u64 ntbr_inbound_coverage(struct ntbr_dev *nd)
{
	return READ_ONCE(nd->coverage);
}

bool ntbr_dma_reachable(struct ntbr_dev *nd, dma_addr_t dma, size_t len)
{
	u64 cov = ntbr_inbound_coverage(nd);

	return dma < cov && len <= cov - dma;
}

/*
 * The IOMMU domain that translates for the NTB's DMA device, or NULL:
 * none, or an identity one (iommu=pt), where DMA addresses are physical
 * and the DMA API bounces what the mask does not reach.
 */
static struct iommu_domain *ntbr_iommu_domain(struct ntbr_dev *nd)
{
	struct iommu_domain *dom = iommu_get_domain_for_dev(nd->dma_dev);

	return dom && iommu_is_dma_domain(dom) ? dom : NULL;
}

bool ntbr_page_reachable(struct ntbr_dev *nd, struct page *page)
{
	dma_addr_t dma;

	if (ntbr_iommu_domain(nd))
		return true;
	dma = phys_to_dma(nd->dma_dev, page_to_phys(page));
	return !is_swiotlb_force_bounce(nd->dma_dev) &&
	       ntbr_dma_reachable(nd, dma, PAGE_SIZE);
}

bool ntbr_page_mapped_ok(struct ntbr_dev *nd, struct page *page,
			 dma_addr_t dma)
{
	struct iommu_domain *dom = ntbr_iommu_domain(nd);
	phys_addr_t phys = page_to_phys(page);

	if (!ntbr_dma_reachable(nd, dma, PAGE_SIZE))
		return false;
	if (dom)
		return iommu_iova_to_phys(dom, dma) == phys;
	return dma == phys_to_dma(nd->dma_dev, phys);
}

const char *ntbr_reach_why(struct ntbr_dev *nd, struct page *page,
			   dma_addr_t dma)
{
	struct iommu_domain *dom = ntbr_iommu_domain(nd);

	if (!ntbr_inbound_coverage(nd))
		return "the inbound window is not set up yet (no NTB link since the driver loaded)";
	if (!dom && is_swiotlb_force_bounce(nd->dma_dev))
		return "swiotlb=force: every mapping is a bounce buffer, not the page itself";
	if (dma == DMA_MAPPING_ERROR)
		dma = phys_to_dma(nd->dma_dev, page_to_phys(page));
	if (!ntbr_dma_reachable(nd, dma, PAGE_SIZE))
		return dom ? "its IOVA is outside the inbound window's coverage" :
			     "outside the window: it would be bounced, not the page itself";
	return "its DMA address is a bounce buffer, not the page itself";
}

void ntbr_reach_info(struct ntbr_dev *nd, struct ntbr_reach *r)
{
	unsigned long end_pfn = 0;
	int nid;

	r->coverage = ntbr_inbound_coverage(nd);
	r->iommu = ntbr_iommu_domain(nd);
	r->force_bounce = is_swiotlb_force_bounce(nd->dma_dev);
	r->max_phys = r->coverage && !r->force_bounce ?
		      dma_to_phys(nd->dma_dev, r->coverage - 1) : 0;
	for_each_online_node(nid)
		end_pfn = max(end_pfn, pgdat_end_pfn(NODE_DATA(nid)));
	r->ram_end = PFN_PHYS(end_pfn);
	r->all_ram = r->coverage &&
		     (r->iommu || (!r->force_bounce &&
				   r->ram_end <= r->max_phys + 1));
}

/* Once, at the first inbound setup: say what the peer can reach. */
static void ntbr_reach_report(struct ntbr_dev *nd)
{
	struct device *dev = &nd->ntb->dev;
	struct ntbr_reach r;

	ntbr_reach_info(nd, &r);
	dev_info(dev, "inbound coverage: DMA addresses 0x0-%#llx (window %d); IOMMU translating for %s: %s; highest physical address registrable without one: %pa; RAM ends at %pa\n",
		 r.coverage - 1, NTBR_MW, dev_name(nd->dma_dev),
		 r.iommu ? "yes" : "no", &r.max_phys, &r.ram_end);
	if (r.all_ram)
		return;
	if (r.force_bounce)
		dev_warn(dev, "swiotlb bounces every DMA mapping of %s (swiotlb=force): every memory registration will be refused (ERANGE); enable the IOMMU in translation mode for it\n",
			 dev_name(nd->dma_dev));
	else
		dev_warn(dev, "inbound coverage (%#llx bytes) is below the end of RAM (%pa) and no IOMMU translates for %s: memory registrations with pages above %pa will be refused (ERANGE); enable the IOMMU in translation mode for the NTB device, or use an NTB window covering all RAM\n",
			 r.coverage, &r.ram_end, dev_name(nd->dma_dev),
			 &r.max_phys);
}

/* --- probe and remove ------------------------------------------------------ */

/*
 * Inbound (at every NTB link-up; ntb_mw_get_align() needs the link):
 * translation base 0 over the whole window; the first time also the DMA mask
 * restricted to the window, the coverage (what MRs are checked against) and
 * our area, allocated inside it.  A window that shrank below the coverage
 * later is refused: buffers handed out before may be outside it.
 */
int ntbr_inbound_setup(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;
	struct device *dev = &ntb->dev;
	resource_size_t addr_align, size_align, size_max;
	size_t area_size = PAGE_ALIGN(sizeof(struct ntbr_area));
	unsigned int bits;
	int ret;

	ret = ntb_mw_get_align(ntb, NTBR_PIDX, NTBR_MW, &addr_align,
			       &size_align, &size_max);
	if (ret || !size_max) {
		dev_err(dev, "cannot query inbound window %d: %d\n", NTBR_MW,
			ret);
		return ret ? ret : -ENODEV;
	}
	ret = ntb_mw_set_trans(ntb, NTBR_PIDX, NTBR_MW, 0, size_max);
	if (ret) {
		dev_err(dev, "this NTB cannot translate inbound window %d to DMA address 0 (size %pa): %d; ntbrdma needs a window over the DMA address space\n",
			NTBR_MW, &size_max, ret);
		return ret;
	}
	if (nd->area) {
		if (size_max < nd->coverage) {
			dev_err(dev, "inbound window shrank to %pa bytes from %#llx: buffers the peer writes may be outside\n",
				&size_max, nd->coverage);
			return -ENOSPC;
		}
		return 0;
	}

	/* Only DMA addresses below the window size are reachable. */
	bits = min_t(unsigned int, ilog2(size_max), 64);
	ret = dma_set_mask_and_coherent(nd->dma_dev, DMA_BIT_MASK(bits));
	if (ret) {
		dev_err(dev, "cannot restrict the DMA mask to %u bits: %d\n",
			bits, ret);
		return ret;
	}
	/*
	 * The coverage is what both the window and the mask reach: the DMA
	 * API bounces what is above the mask even inside the window.
	 */
	WRITE_ONCE(nd->coverage, bits < 64 ? BIT_ULL(bits) : size_max);
	nd->area = dma_alloc_coherent(nd->dma_dev, area_size, &nd->area_dma,
				      GFP_KERNEL);
	if (!nd->area)
		return -ENOMEM;
	if (!ntbr_dma_reachable(nd, nd->area_dma, area_size)) {
		dev_err(dev, "area at %pad is outside the inbound window\n",
			&nd->area_dma);
		dma_free_coherent(nd->dma_dev, area_size, nd->area,
				  nd->area_dma);
		nd->area = NULL;
		return -ENOSPC;
	}
	dev_info(dev, "inbound window %pa bytes (DMA mask %u bits), peer window %pa bytes\n",
		 &size_max, bits, &nd->peer_mw_size);
	ntbr_reach_report(nd);

	return 0;
}

/* Outbound: the peer's window, mapped write-combining. */
static int ntbr_setup_peer_mw(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;
	phys_addr_t base;
	int ret;

	ret = ntb_peer_mw_get_addr(ntb, NTBR_MW, &base, &nd->peer_mw_size);
	if (ret || !nd->peer_mw_size) {
		dev_err(&ntb->dev, "cannot query the peer's window: %d\n",
			ret);
		return ret ? ret : -ENODEV;
	}
	nd->peer_mw = devm_ioremap_wc(&ntb->dev, base, nd->peer_mw_size);

	return nd->peer_mw ? 0 : -ENOMEM;
}

static int ntbr_probe(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct device *dev = &ntb->dev;
	struct ntbr_dev *nd;
	int ret;

	if (ntb_peer_port_count(ntb) != 1)
		dev_warn(dev, "%d peers: ntbrdma uses the first one only\n",
			 ntb_peer_port_count(ntb));
	if ((ntb_db_valid_mask(ntb) & NTBR_DB_OWN) != NTBR_DB_OWN) {
		dev_err(dev, "doorbell bits 0 and 1 are needed\n");
		return -ENODEV;
	}

	nd = kzalloc(sizeof(*nd), GFP_KERNEL);
	if (!nd)
		return -ENOMEM;
	kref_init(&nd->ref);
	nd->ntb = ntb;
	nd->dma_dev = ntb_get_dma_dev(ntb);
	ret = init_srcu_struct(&nd->srcu);
	if (ret) {
		kfree(nd);
		return ret;
	}

	ret = ntbr_setup_peer_mw(nd);
	if (ret)
		goto err_put;

	/*
	 * High priority: control messages complete receives and answer
	 * READs while applications spin on their CQs.
	 */
	nd->wq = alloc_ordered_workqueue("ntbrdma-%s",
					 WQ_MEM_RECLAIM | WQ_HIGHPRI,
					 dev_name(dev));
	if (!nd->wq) {
		ret = -ENOMEM;
		goto err_put;
	}
	ret = ntbr_link_init(nd);
	if (ret)
		goto err_wq;
	ntbr_ctrl_init(nd);

	ret = ntbr_net_create(nd);
	if (ret)
		goto err_wq;

	ret = ntb_set_ctx(ntb, nd, &ntbr_ctx_ops);
	if (ret)
		goto err_net;

	ntbr_debugfs_add(nd);
	ntbr_link_start(nd);
	dev_info(dev, "ntbrdma: %s, bring-up through %s\n",
		 netdev_name(nd->netdev),
		 nd->use_msg ? "message registers" : "scratchpads");

	return 0;

err_net:
	ntbr_net_destroy(nd);
err_wq:
	destroy_workqueue(nd->wq);
err_put:
	ntbr_dev_put(nd);
	return ret;
}

static void ntbr_remove(struct ntb_client *client, struct ntb_dev *ntb)
{
	struct ntbr_dev *nd = ntb->ctx;

	ntbr_debugfs_remove(nd);
	/* No more writes into the peer; the peer is told we are going. */
	ntbr_link_stop(nd);
	ntb_clear_ctx(ntb);
	/* Control handlers still queued see the link down and return. */
	drain_workqueue(nd->wq);
	ntbr_ctrl_stop(nd);
	/*
	 * No more writes of the peer into our memory either: the RDMA half
	 * may unpin pages the peer never acknowledged letting go of.
	 */
	if (nd->area)
		ntb_mw_clear_trans(ntb, NTBR_PIDX, NTBR_MW);
	WRITE_ONCE(nd->inbound_closed, true);

	ntbr_ib_remove(nd);
	ntbr_net_destroy(nd);

	destroy_workqueue(nd->wq);
	if (nd->area)
		dma_free_coherent(nd->dma_dev,
				  PAGE_ALIGN(sizeof(struct ntbr_area)),
				  nd->area, nd->area_dma);
	ntbr_dev_put(nd);
}

static struct ntb_client ntbr_client = {
	.ops = {
		.probe = ntbr_probe,
		.remove = ntbr_remove,
	},
};

static int __init ntbr_init(void)
{
	int ret;

	ntbr_debugfs_init();
	ret = ntbr_ib_init();
	if (ret)
		goto err_dbg;
	ret = ntb_register_client(&ntbr_client);
	if (ret)
		goto err_ib;

	return 0;

err_ib:
	ntbr_ib_exit();
err_dbg:
	ntbr_debugfs_exit();
	return ret;
}
module_init(ntbr_init);

static void __exit ntbr_exit(void)
{
	ntb_unregister_client(&ntbr_client);
	ntbr_ib_exit();
	ntbr_debugfs_exit();
}
module_exit(ntbr_exit);

MODULE_DESCRIPTION("RDMA verbs and Ethernet over a PCIe Non-Transparent Bridge");
MODULE_LICENSE("GPL");
