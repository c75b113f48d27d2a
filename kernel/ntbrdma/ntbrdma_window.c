// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma transport: memory windows, i.e. what the peer reaches of our
 * memory and how we reach the peer's (Documentation/memory-windows.md).
 *
 * Inbound: at the first NTB link-up (ntb_mw_get_align() needs the link) the
 * inbound windows the NTB offers (ntb_mw_count()) are laid out end to end
 * over our DMA address space from 0, largest first, each at the next offset
 * its address alignment allows; a window that cannot continue the range (its
 * alignment, or a translation the hardware refuses) is left unused and
 * logged.  The peer reaches DMA addresses [0, coverage) and nothing else.
 * The DMA mask of the NTB's DMA device, and its bus DMA limit when the
 * coverage is not a power of two, keep the DMA API inside that range, and
 * every buffer the peer writes into is checked to lie there as itself, never
 * as a swiotlb bounce slot (ntbr_page_mapped_ok()).  Every later link-up
 * sets the same translations again.
 *
 * Outbound: every peer window (ntb_peer_mw_count()) is mapped write-combining
 * at probe.  A peer address is the peer's DMA address.  In its hello the
 * peer says which of its DMA addresses each of its inbound windows reaches
 * (window i of ours lands in its window i); we write peer address A through
 * the window whose range holds A, at A minus its base, and split a copy at
 * window boundaries.  The hello itself is written before we know that
 * layout, at the window and offset the peer published for its area
 * (NTBR_INFO_AREA).  What the peer says can only steer our writes inside our
 * own mappings of its windows.
 *
 * We never read through a window: the peer pushes what we need into our
 * memory (ntbrdma_ring.h).
 */

#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/io.h>
#include <linux/iommu.h>
#include <linux/log2.h>
#include <linux/mm.h>
#include <linux/mmzone.h>
#include <linux/nodemask.h>
#include <linux/sort.h>
#include <linux/swiotlb.h>

#include "ntbrdma_transport.h"

/* --- writing into the peer's memory --------------------------------------- */

/* The window reaching peer address @addr, or NULL. */
const struct ntbr_out_win *ntbr_win_find(struct ntbr_dev *nd, u64 addr)
{
	int i;

	for (i = 0; i < nd->out_count; i++) {
		if (addr - nd->out_win[i].base < nd->out_win[i].size)
			return &nd->out_win[i];
	}
	return NULL;
}

/* Every byte of [addr, addr + len) is reached by some peer window. */
bool ntbr_win_range_ok(struct ntbr_dev *nd, u64 addr, u64 len)
{
	const struct ntbr_out_win *w;
	u64 n;

	while (len) {
		w = ntbr_win_find(nd, addr);
		if (!w)
			return false;
		n = min(len, w->base + w->size - addr);
		addr += n;
		len -= n;
	}
	return true;
}

/*
 * The window writers below assume an SRCU read section of nd->srcu that saw
 * nd->ready (or the link work, which teardown cannot run concurrently with)
 * and an address range checked with ntbr_win_range_ok().  A 32-bit word
 * never straddles two windows: they are page aligned.
 */
void ntbr_win_write32(struct ntbr_dev *nd, u64 addr, u32 val)
{
	const struct ntbr_out_win *w = ntbr_win_find(nd, addr);

	if (!WARN_ON_ONCE(!w))
		iowrite32(val, w->map + (addr - w->base));
}

u32 ntbr_win_read32(struct ntbr_dev *nd, u64 addr)
{
	const struct ntbr_out_win *w = ntbr_win_find(nd, addr);

	if (WARN_ON_ONCE(!w))
		return 0;
	return ioread32(w->map + (addr - w->base));
}

void ntbr_win_copy(struct ntbr_dev *nd, u64 addr, const void *src,
		   size_t len)
{
	const struct ntbr_out_win *w;
	size_t n;

	while (len) {
		w = ntbr_win_find(nd, addr);
		if (WARN_ON_ONCE(!w))
			return;
		n = min_t(u64, len, w->base + w->size - addr);
		memcpy_toio(w->map + (addr - w->base), src, n);
		addr += n;
		src += n;
		len -= n;
	}
}

/*
 * The physical address at which our mapping of a peer window reaches the
 * page at peer address @addr, for a user mapping (ntbrdma_ib_umap.c).
 * In an SRCU read section that saw nd->ready.
 */
int ntbr_win_page_phys(struct ntbr_dev *nd, u64 addr, phys_addr_t *phys)
{
	const struct ntbr_out_win *w;

	if (!PAGE_ALIGNED(addr))
		return -EINVAL;
	w = ntbr_win_find(nd, addr);
	if (!w || w->base + w->size - addr < PAGE_SIZE)
		return -EFAULT;
	*phys = nd->peer_mw_phys[w->widx] + (addr - w->base);
	return 0;
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

int ntbr_peer_write_u64(struct ntbr_dev *nd, u64 peer_addr, u64 val)
{
	const struct ntbr_out_win *w;
	int idx, ret = 0;

	if (!IS_ALIGNED(peer_addr, 8))
		return -EINVAL;
	idx = srcu_read_lock(&nd->srcu);
	if (!READ_ONCE(nd->ready)) {
		ret = -ENOTCONN;
	} else {
		w = ntbr_win_find(nd, peer_addr);
		if (w)
			/* One 8-byte store (windows are page aligned). */
			writeq(val, w->map + (peer_addr - w->base));
		else
			ret = -EINVAL;
	}
	srcu_read_unlock(&nd->srcu, idx);

	return ret;
}

/* --- the hello and the peer's layout (link work only) ---------------------- */

/* The peer's hello lies inside the window its area word names. */
bool ntbr_hello_target_ok(struct ntbr_dev *nd, u32 area_word)
{
	u32 w = NTBR_AREA_WORD_WIN(area_word);
	u64 off = NTBR_AREA_WORD_OFF(area_word);

	return w < nd->peer_mw_count &&
	       off + sizeof(struct ntbr_hello) <= nd->peer_mw_size[w];
}

/*
 * Write our hello {from, to} and our inbound windows into the peer's area,
 * addressed by window and offset (checked by ntbr_hello_target_ok()).
 */
void ntbr_hello_send(struct ntbr_dev *nd, u32 area_word, u32 from, u32 to)
{
	void __iomem *h = nd->peer_mw[NTBR_AREA_WORD_WIN(area_word)] +
			  NTBR_AREA_WORD_OFF(area_word);
	struct ntbr_win_desc d = {};
	int i;

	for (i = 0; i < nd->in_count; i++) {
		d.base = cpu_to_le64(nd->in_win[i].base);
		d.size = cpu_to_le64(nd->in_win[i].size);
		d.widx = cpu_to_le32(nd->in_win[i].widx);
		memcpy_toio(h + offsetof(struct ntbr_hello, win[i]), &d,
			    sizeof(d));
	}
	iowrite32(nd->in_count, h + offsetof(struct ntbr_hello, win_count));
	iowrite32(from, h + offsetof(struct ntbr_hello, from));
	iowrite32(to, h + offsetof(struct ntbr_hello, to));
	wmb(); /* windows and sessions before the magic that validates them */
	iowrite32(NTBR_HELLO_MAGIC, h + offsetof(struct ntbr_hello, magic));
}

static int ntbr_out_cmp(const void *a, const void *b)
{
	const struct ntbr_out_win *x = a, *y = b;

	return x->base < y->base ? -1 : x->base > y->base;
}

/*
 * The peer's hello (in our area, untrusted) is valid: take its windows as
 * our outbound layout and locate its area (published as @area_word) in its
 * DMA address space.  Not ready yet: no writer uses the layout meanwhile.
 */
int ntbr_peer_layout_take(struct ntbr_dev *nd, u32 area_word)
{
	const struct ntbr_hello *h = &nd->area->hello;
	struct device *dev = &nd->ntb->dev;
	u32 count = le32_to_cpu(READ_ONCE(h->win_count));
	unsigned long seen = 0;
	struct ntbr_out_win *o;
	u64 base, size, area;
	u32 i, widx;

	if (!count || count > NTBR_MAX_MW)
		goto bad;
	for (i = 0; i < count; i++) {
		base = le64_to_cpu(READ_ONCE(h->win[i].base));
		size = le64_to_cpu(READ_ONCE(h->win[i].size));
		widx = le32_to_cpu(READ_ONCE(h->win[i].widx));
		if (widx >= nd->peer_mw_count || (seen & BIT(widx)) || !size ||
		    !IS_ALIGNED(base | size, 1 << NTBR_AREA_UNIT_SHIFT) ||
		    base + size < base)
			goto bad;
		seen |= BIT(widx);
		o = &nd->out_win[i];
		o->base = base;
		o->widx = widx;
		o->map = nd->peer_mw[widx];
		/* Beyond our mapping of its window we cannot reach it. */
		o->size = min_t(u64, size, nd->peer_mw_size[widx]);
		if (o->size < size)
			dev_warn(dev, "the peer's window %u reaches %#llx bytes from DMA %#llx, our mapping of it only %pa: the rest is out of our reach\n",
				 widx, size, base, &nd->peer_mw_size[widx]);
	}
	sort(nd->out_win, count, sizeof(nd->out_win[0]), ntbr_out_cmp, NULL);
	for (i = 1; i < count; i++) {
		if (nd->out_win[i].base <
		    nd->out_win[i - 1].base + nd->out_win[i - 1].size)
			goto bad;
	}
	nd->out_count = count;

	/* Its area is where its window said, and all of it is reachable. */
	widx = NTBR_AREA_WORD_WIN(area_word);
	for (i = 0; i < count && nd->out_win[i].widx != widx; i++)
		;
	area = i < count ? nd->out_win[i].base + NTBR_AREA_WORD_OFF(area_word) :
			   0;
	if (i == count ||
	    !ntbr_win_range_ok(nd, area, PAGE_ALIGN(sizeof(struct ntbr_area)))) {
		nd->out_count = 0;
		goto bad;
	}
	nd->peer_area = area;
	return 0;

bad:
	dev_err_ratelimited(dev, "the peer's hello describes %u windows that are not valid, or that do not hold its area: link stays down\n",
			    count);
	return -EINVAL;
}

/* --- what the peer reaches of our memory ------------------------------------ */

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
		return dom ? "its IOVA is outside the inbound windows' coverage" :
			     "outside the windows: it would be bounced, not the page itself";
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
	int i;

	ntbr_reach_info(nd, &r);
	for (i = 0; i < nd->in_count; i++)
		dev_info(dev, "inbound window %d: DMA addresses %#llx-%#llx\n",
			 nd->in_win[i].widx, nd->in_win[i].base,
			 nd->in_win[i].base + nd->in_win[i].size - 1);
	dev_info(dev, "inbound coverage: DMA addresses 0x0-%#llx (%d window(s)); IOMMU translating for %s: %s; highest physical address registrable without one: %pa; RAM ends at %pa\n",
		 r.coverage - 1, nd->in_count, dev_name(nd->dma_dev),
		 r.iommu ? "yes" : "no", &r.max_phys, &r.ram_end);
	if (r.all_ram)
		return;
	if (r.force_bounce)
		dev_warn(dev, "swiotlb bounces every DMA mapping of %s (swiotlb=force): every memory registration will be refused (ERANGE); enable the IOMMU in translation mode for it\n",
			 dev_name(nd->dma_dev));
	else
		dev_warn(dev, "inbound coverage (%#llx bytes) is below the end of RAM (%pa) and no IOMMU translates for %s: memory registrations with pages above %pa will be refused (ERANGE); enable the IOMMU in translation mode for the NTB device, or use NTB windows covering all RAM\n",
			 r.coverage, &r.ram_end, dev_name(nd->dma_dev),
			 &r.max_phys);
}

/* --- setting the inbound windows up ------------------------------------------ */

struct ntbr_mw_cand {
	int widx;
	resource_size_t addr_align;
	resource_size_t size_align;
	resource_size_t size_max;
};

/* Largest first; equal sizes in index order. */
static int ntbr_cand_cmp(const void *a, const void *b)
{
	const struct ntbr_mw_cand *x = a, *y = b;

	if (x->size_max != y->size_max)
		return x->size_max > y->size_max ? -1 : 1;
	return x->widx - y->widx;
}

/* The size of window @c to translate: what its limits allow, in pages. */
static u64 ntbr_cand_size(const struct ntbr_mw_cand *c)
{
	u64 size = c->size_max;

	if (c->size_align > 1)
		size -= size % c->size_align;
	return round_down(size, PAGE_SIZE);
}

/* The first link-up: lay the windows out from DMA address 0. */
static int ntbr_inbound_layout(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;
	struct device *dev = &ntb->dev;
	struct ntbr_mw_cand cand[NTBR_MAX_MW];
	int count = ntb_mw_count(ntb, NTBR_PIDX);
	int i, n = 0, ret;
	u64 base = 0, size;

	if (count > NTBR_MAX_MW) {
		dev_warn(dev, "%d inbound windows: ntbrdma uses the first %d\n",
			 count, NTBR_MAX_MW);
		count = NTBR_MAX_MW;
	}
	for (i = 0; i < count; i++) {
		cand[n].widx = i;
		ret = ntb_mw_get_align(ntb, NTBR_PIDX, i, &cand[n].addr_align,
				       &cand[n].size_align, &cand[n].size_max);
		if (ret || ntbr_cand_size(&cand[n]) == 0) {
			dev_info(dev, "inbound window %d unused: %s (%d)\n", i,
				 ret ? "cannot query it" : "smaller than a page",
				 ret);
			continue;
		}
		n++;
	}
	sort(cand, n, sizeof(cand[0]), ntbr_cand_cmp, NULL);

	nd->in_count = 0;
	for (i = 0; i < n; i++) {
		size = ntbr_cand_size(&cand[i]);
		if (cand[i].addr_align > 1 &&
		    base % cand[i].addr_align) {
			dev_info(dev, "inbound window %d unused: it must start at a multiple of %pa, the covered range ends at %#llx\n",
				 cand[i].widx, &cand[i].addr_align, base);
			continue;
		}
		ret = ntb_mw_set_trans(ntb, NTBR_PIDX, cand[i].widx, base,
				       size);
		if (ret) {
			dev_info(dev, "inbound window %d unused: this NTB cannot translate it to DMA address %#llx (%#llx bytes): %d\n",
				 cand[i].widx, base, size, ret);
			continue;
		}
		nd->in_win[nd->in_count].widx = cand[i].widx;
		nd->in_win[nd->in_count].base = base;
		nd->in_win[nd->in_count].size = size;
		nd->in_count++;
		base += size;
	}
	if (!nd->in_count) {
		dev_err(dev, "no inbound window can be translated to DMA address 0: ntbrdma needs windows over the DMA address space from 0\n");
		return -ENODEV;
	}

	return 0;
}

/* Every later link-up: the same translations again. */
static int ntbr_inbound_again(struct ntbr_dev *nd)
{
	const struct ntbr_in_win *w;
	int i, ret;

	for (i = 0; i < nd->in_count; i++) {
		w = &nd->in_win[i];
		ret = ntb_mw_set_trans(nd->ntb, NTBR_PIDX, w->widx, w->base,
				       w->size);
		if (ret) {
			dev_err(&nd->ntb->dev, "inbound window %d cannot be translated to DMA %#llx (%#llx bytes) any more: %d; buffers the peer writes may be outside\n",
				w->widx, w->base, w->size, ret);
			return ret;
		}
	}
	return 0;
}

/*
 * Keep the DMA API inside [0, coverage): the mask covers the next power of
 * two, the bus DMA limit (honoured by dma-direct, swiotlb and the IOMMU's
 * IOVA allocator) the rest.  What we found is restored at removal.
 */
static int ntbr_dma_limit(struct ntbr_dev *nd, u64 coverage)
{
	struct device *dma = nd->dma_dev;
	unsigned int bits = coverage > 1 ? fls64(coverage - 1) : 1;
	int ret;

	nd->saved_dma_mask = dma_get_mask(dma);
	nd->saved_coherent_mask = dma->coherent_dma_mask;
	nd->saved_bus_limit = dma->bus_dma_limit;
	if (dma->bus_dma_limit && dma->bus_dma_limit < coverage - 1)
		coverage = dma->bus_dma_limit + 1;

	ret = dma_set_mask_and_coherent(dma, DMA_BIT_MASK(bits));
	if (ret) {
		dev_err(&nd->ntb->dev, "cannot restrict the DMA mask to %u bits: %d\n",
			bits, ret);
		return ret;
	}
	if (!is_power_of_2(coverage))
		dma->bus_dma_limit = coverage - 1;
	WRITE_ONCE(nd->coverage, coverage);

	return 0;
}

/* The DMA limits as ntbr_dma_limit() found them. */
static void ntbr_dma_restore(struct ntbr_dev *nd)
{
	struct device *dma = nd->dma_dev;

	dma->bus_dma_limit = nd->saved_bus_limit;
	dma_set_mask(dma, nd->saved_dma_mask);
	dma_set_coherent_mask(dma, nd->saved_coherent_mask);
}

static void ntbr_inbound_clear(struct ntbr_dev *nd)
{
	int i;

	for (i = 0; i < nd->in_count; i++)
		ntb_mw_clear_trans(nd->ntb, NTBR_PIDX, nd->in_win[i].widx);
}

/* Where our area is, as window and offset for the peer (NTBR_INFO_AREA). */
static int ntbr_area_locate(struct ntbr_dev *nd)
{
	const struct ntbr_in_win *w;
	u64 off;
	int i;

	for (i = 0; i < nd->in_count; i++) {
		w = &nd->in_win[i];
		off = nd->area_dma - w->base;
		if (nd->area_dma < w->base || off >= w->size)
			continue;
		if (off + sizeof(struct ntbr_hello) > w->size ||
		    off >> (NTBR_AREA_UNIT_SHIFT + NTBR_AREA_WIN_SHIFT) ||
		    w->widx >= BIT(32 - NTBR_AREA_WIN_SHIFT))
			break;
		nd->area_word = NTBR_AREA_WORD(w->widx, off);
		return 0;
	}
	dev_err(&nd->ntb->dev, "our area at %pad cannot be announced in one inbound window\n",
		&nd->area_dma);
	return -ENOSPC;
}

/*
 * At every NTB link-up.  The first time: lay the windows out, narrow the
 * DMA limits to the coverage, allocate our area inside it.
 */
int ntbr_inbound_setup(struct ntbr_dev *nd)
{
	struct device *dev = &nd->ntb->dev;
	size_t area_size = PAGE_ALIGN(sizeof(struct ntbr_area));
	u64 end;
	int ret;

	if (nd->area)
		return ntbr_inbound_again(nd);

	ret = ntbr_inbound_layout(nd);
	if (ret)
		return ret;
	end = nd->in_win[nd->in_count - 1].base +
	      nd->in_win[nd->in_count - 1].size;
	ret = ntbr_dma_limit(nd, end);
	if (ret)
		goto err_clear;

	nd->area = dma_alloc_coherent(nd->dma_dev, area_size, &nd->area_dma,
				      GFP_KERNEL);
	if (!nd->area) {
		ntbr_dma_restore(nd);
		ret = -ENOMEM;
		goto err_clear;
	}
	ret = -ENOSPC;
	if (!ntbr_dma_reachable(nd, nd->area_dma, area_size)) {
		dev_err(dev, "area at %pad is outside the inbound windows\n",
			&nd->area_dma);
		goto err_free;
	}
	ret = ntbr_area_locate(nd);
	if (ret)
		goto err_free;
	ntbr_reach_report(nd);

	return 0;

err_free:
	dma_free_coherent(nd->dma_dev, area_size, nd->area, nd->area_dma);
	nd->area = NULL;
	ntbr_dma_restore(nd);
err_clear:
	ntbr_inbound_clear(nd);
	WRITE_ONCE(nd->coverage, 0);
	nd->in_count = 0;
	return ret;
}

/* Removal: no write of the peer reaches our memory any more. */
void ntbr_inbound_close(struct ntbr_dev *nd)
{
	ntbr_inbound_clear(nd);
	WRITE_ONCE(nd->inbound_closed, true);
}

/* Removal, after the RDMA half let go of every mapping: area, DMA limits. */
void ntbr_inbound_free(struct ntbr_dev *nd)
{
	if (!nd->area)
		return;
	dma_free_coherent(nd->dma_dev, PAGE_ALIGN(sizeof(struct ntbr_area)),
			  nd->area, nd->area_dma);
	nd->area = NULL;
	ntbr_dma_restore(nd);
}

/* --- mapping the peer's windows (probe) ---------------------------------------- */

int ntbr_outbound_map(struct ntbr_dev *nd)
{
	struct ntb_dev *ntb = nd->ntb;
	int count = ntb_peer_mw_count(ntb);
	phys_addr_t base;
	int i, ret;

	if (count > NTBR_MAX_MW) {
		dev_warn(&ntb->dev, "%d peer windows: ntbrdma uses the first %d\n",
			 count, NTBR_MAX_MW);
		count = NTBR_MAX_MW;
	}
	for (i = 0; i < count; i++) {
		ret = ntb_peer_mw_get_addr(ntb, i, &base, &nd->peer_mw_size[i]);
		if (ret || !nd->peer_mw_size[i]) {
			dev_err(&ntb->dev, "cannot query the peer's window %d: %d\n",
				i, ret);
			return ret ? ret : -ENODEV;
		}
		nd->peer_mw_phys[i] = base;
		nd->peer_mw[i] = devm_ioremap_wc(&ntb->dev, base,
						 nd->peer_mw_size[i]);
		if (!nd->peer_mw[i])
			return -ENOMEM;
		dev_info(&ntb->dev, "peer window %d: %pa bytes at %pa\n", i,
			 &nd->peer_mw_size[i], &base);
	}
	nd->peer_mw_count = count;

	return count ? 0 : -ENODEV;
}
