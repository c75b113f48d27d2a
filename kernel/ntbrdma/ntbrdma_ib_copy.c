// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma: the engine's access to local memory - an lkey/rkey checked
 * against its MR (ntbr_eng_mr), the pages of an MR walked with a cursor,
 * copies from local segments or inline data into a destination cursor
 * (local pages, a kernel buffer, or the peer's pages through the window:
 * ntbr_peer_write, or the DMA engine for a large copy to the peer:
 * ntbr_eng_copy_dma), the SGEs of a WQE resolved, and the atomics executed
 * on a local page.  Used by the engine (ntbrdma_ib_engine.c) and by the
 * peer paths (ntbrdma_ib_peer.c, ntbrdma_ib_read.c), always under
 * dev->eng_sem held for reading, which keeps the MRs found alive
 * (ntbrdma_ib_engine.c, "Lifetimes").
 */
#include <linux/highmem.h>
#include <linux/scatterlist.h>
#include <rdma/ib_umem.h>

#include "ntbrdma_ib_engine.h"

struct ntbr_mr *ntbr_eng_mr(struct ntbr_ib_dev *dev, struct ib_pd *pd,
			    u32 key, u64 va, u64 len, int access)
{
	struct ntbr_mr *mr = xa_load(&dev->mrd.mr_xa, key >> 8);

	if (!mr || mr->ibmr.lkey != key || READ_ONCE(mr->dead) ||
	    READ_ONCE(mr->ibmr.pd) != pd || (mr->access & access) != access)
		return NULL;
	/*
	 * A kernel DMA MR (no umem: kernel virtual addresses of a kernel
	 * ULP's PD, which no user QP has) serves only local access: never
	 * the peer's request, whatever access its ULP asked for.
	 */
	if (!mr->umem && (access & ~IB_ACCESS_LOCAL_WRITE))
		return NULL;
	if (va < mr->iova || len > mr->length ||
	    va - mr->iova > mr->length - len)
		return NULL;
	return mr;
}

/*
 * The page holding va (inside s->mr) and the offset of va in it.  The
 * cursor in s moves forward with the copy, so walking a segment costs
 * one step per sg entry, not a walk from the start for every page.
 */
static struct page *ntbr_eng_page(struct ntbr_seg *s, u64 va, size_t *pgoff)
{
	struct sg_table *sgt;
	u64 pos, pidx, first = s->sg_pidx, n;
	struct scatterlist *sg = s->sg;

	/*
	 * A kernel DMA MR: va is a kernel virtual address in the linear
	 * map (virtual DMA: ib_dma_map_* of a kernel ULP hands us those).
	 */
	if (!s->mr->umem) {
		if (!virt_addr_valid((void *)(uintptr_t)va))
			return NULL;
		*pgoff = offset_in_page(va);
		return virt_to_page((void *)(uintptr_t)va);
	}
	sgt = &s->mr->umem->sgt_append.sgt;
	pos = s->mr->first_off + (va - s->mr->iova);
	pidx = pos >> PAGE_SHIFT;
	*pgoff = pos & ~PAGE_MASK;
	if (!sg || pidx < first) {
		sg = sgt->sgl;
		first = 0;
	}
	for (; sg; sg = sg_next(sg)) {
		n = PAGE_ALIGN(sg->offset + sg->length) >> PAGE_SHIFT;
		if (pidx < first + n) {
			s->sg = sg;
			s->sg_pidx = first;
			return nth_page(sg_page(sg), pidx - first);
		}
		first += n;
	}
	return NULL;
}

/* Bytes left in the current piece of d, moving past finished pieces. */
static u64 ntbr_dst_room(struct ntbr_dst *d)
{
	u64 len;

	if (d->buf)
		return d->buf_len - d->off;
	for (; d->i < d->nseg; d->i++, d->off = 0) {
		len = d->rseg ? d->rseg[d->i].len : d->seg[d->i].len;
		if (d->off < len)
			return len - d->off;
	}
	return 0;
}

/* Copy len bytes from kernel memory src to the destination cursor. */
static int ntbr_dst_write(struct ntbr_dst *d, const void *src, size_t len)
{
	struct ntbr_rseg *r;
	struct ntbr_seg *s;
	struct page *pg;
	size_t n, pgoff, contig;
	u64 dma, room;
	void *p;
	int err;

	while (len) {
		room = ntbr_dst_room(d);
		if (!room)
			return -EMSGSIZE;
		n = min_t(u64, len, room);
		if (d->buf) {
			memcpy(d->buf + d->off, src, n);
		} else if (d->rseg) {
			r = &d->rseg[d->i];
			err = ntbr_rmr_dma_addr(r->rmr, r->va + d->off, &dma,
						&contig);
			if (err)
				return err;
			if (!contig)
				return -ERANGE;
			n = min(n, contig);
			err = ntbr_peer_write(d->dev->nd, dma, src, n);
			if (err)
				return err;
		} else {
			s = &d->seg[d->i];
			pg = ntbr_eng_page(s, s->va + d->off, &pgoff);
			if (!pg)
				return -EFAULT;
			n = min_t(size_t, n, PAGE_SIZE - pgoff);
			p = kmap_local_page(pg);
			memcpy(p + pgoff, src, n);
			kunmap_local(p);
		}
		d->off += n;
		src += n;
		len -= n;
	}
	return 0;
}

/* Pages a copy moves between two chances for others to run (1 MiB). */
#define NTBR_COPY_RESCHED_PAGES	256

/*
 * The DMA address, for the NTB's DMA device, of va in the local segment s
 * (an MR whose pages are mapped for it: mr->dma), and in *n how many of
 * the next max bytes follow it contiguously in that address space.
 */
static dma_addr_t ntbr_seg_dma(const struct ntbr_seg *s, u64 va, u64 max,
			       u64 *n)
{
	const struct ntbr_mr *mr = s->mr;
	u64 pos = mr->first_off + (va - mr->iova);
	/* Inside the MR: ntbr_eng_mr() checked the segment. */
	u64 idx = pos >> PAGE_SHIFT, len = PAGE_SIZE - (pos & ~PAGE_MASK);

	while (len < max && idx + 1 < mr->npages &&
	       mr->dma[idx + 1] == mr->dma[idx] + PAGE_SIZE) {
		idx++;
		len += PAGE_SIZE;
	}
	*n = min(len, max);
	return mr->dma[pos >> PAGE_SHIFT] + (pos & ~PAGE_MASK);
}

/* The CPU's copy of len bytes at va of s to the peer's dst (a fallback). */
static int ntbr_seg_to_peer(struct ntbr_dev *nd, struct ntbr_seg *s, u64 va,
			    u64 dst, u64 len)
{
	size_t pgoff, n;
	struct page *pg;
	void *p;
	int err;

	for (; len; len -= n, va += n, dst += n) {
		pg = ntbr_eng_page(s, va, &pgoff);
		if (!pg)
			return -EFAULT;
		n = min_t(u64, len, PAGE_SIZE - pgoff);
		p = kmap_local_page(pg);
		err = ntbr_peer_write(nd, dst, p + pgoff, n);
		kunmap_local(p);
		if (err)
			return err;
	}
	return 0;
}

/*
 * The copy to the peer by the DMA engine: one descriptor per piece that
 * is contiguous on both sides (pages of the local MR, pages of the peer's
 * MR).  A piece the engine does not take is copied by the CPU.  Without
 * d->dma, one batch waited for here; with it, into its open batch (begun
 * here if need be), -EINPROGRESS.
 */
static int ntbr_eng_copy_dma(struct ntbr_seg *seg, u32 nseg,
			     struct ntbr_dst *d)
{
	struct ntbr_dev *nd = d->dev->nd;
	struct ntbr_dma_batch own, *b = &own;
	u64 off, n, room, dst;
	struct ntbr_rseg *r;
	dma_addr_t src;
	size_t contig;
	int err, end;
	u32 i;

	if (d->dma) {
		b = &d->dma->batch;
		if (!d->dma->open) {
			err = ntbr_dma_begin(nd, b);
			if (err)
				return err;
			d->dma->open = true;
		}
		b->mark = d->dma->mark;
	} else {
		err = ntbr_dma_begin(nd, b);
		if (err)
			return err;
	}
	for (i = 0; i < nseg && !err; i++) {
		for (off = 0; off < seg[i].len && !err; off += n) {
			room = ntbr_dst_room(d);
			if (!room) {
				err = -EMSGSIZE;
				break;
			}
			r = &d->rseg[d->i];
			err = ntbr_rmr_dma_addr(r->rmr, r->va + d->off, &dst,
						&contig);
			if (!err && !contig)
				err = -ERANGE;
			if (err)
				break;
			src = ntbr_seg_dma(&seg[i], seg[i].va + off,
					   min3(seg[i].len - off, room,
						(u64)contig), &n);
			err = ntbr_dma_to_peer(b, src, dst, n);
			if (err == -EIO)
				err = ntbr_seg_to_peer(nd, &seg[i],
						       seg[i].va + off, dst, n);
			d->off += n;
		}
	}
	if (d->dma) {
		b->mark = &b->own;
		/* The engine starts on it while we prepare the next WQE. */
		ntbr_dma_issue(b);
		return err ? err : -EINPROGRESS;
	}
	end = ntbr_dma_end(b);
	return err ? err : end;
}

void ntbr_eng_dma_end(struct ntbr_eng_dma *e)
{
	if (!e->open)
		return;
	if (ntbr_dma_end(&e->batch) == -ETIMEDOUT)
		e->timed_out = true;
	e->open = false;
}

/*
 * Runs of physically contiguous pages under the len bytes at byte off of
 * a page list (DMA addresses of pages of 1 << shift bytes; len > 0 and
 * the range inside the list, as the MR checks made sure).
 */
u64 ntbr_page_runs(const u64 *list, u32 shift, u64 off, u64 len)
{
	u64 i, last = (off + len - 1) >> shift, runs = 1;

	for (i = (off >> shift) + 1; i <= last; i++)
		runs += list[i] != list[i - 1] + (1ULL << shift);
	return runs;
}

/*
 * The engine takes the copy: to the peer, at least the threshold, every
 * segment a user MR mapped for the NTB (the engine reads mr->dma), and
 * pieces contiguous on both sides averaging ntbr_dma_min_piece() bytes
 * (each costs a descriptor; pages scattered one by one may cost the CPU
 * more in descriptors than in copying: Documentation/dma-engine.md).
 */
static bool ntbr_eng_dma_ok(struct ntbr_seg *seg, u32 nseg, struct ntbr_dst *d)
{
	u64 total = 0, src_runs = 0, dst_runs = 0, piece;
	struct ntbr_mr *mr;
	u32 i;

	if (!d->rseg)
		return false;
	for (i = 0; i < nseg; i++) {
		mr = seg[i].mr;
		if (!mr->umem || !mr->mapped)
			return false;
		total += seg[i].len;
	}
	if (!ntbr_dma_wanted(d->dev->nd, total))
		return false;
	piece = ntbr_dma_min_piece(d->dev->nd);
	if (!piece)
		return true;
	for (i = 0; i < nseg; i++) {
		mr = seg[i].mr;
		src_runs += ntbr_page_runs(mr->dma, PAGE_SHIFT,
					   mr->first_off + (seg[i].va - mr->iova),
					   seg[i].len);
	}
	for (i = 0; i < d->nseg; i++)
		if (d->rseg[i].len)
			dst_runs += ntbr_rmr_runs(d->rseg[i].rmr,
						  d->rseg[i].va,
						  d->rseg[i].len);
	return total >= piece * max(src_runs, dst_runs);
}

int ntbr_eng_copy(struct ntbr_seg *seg, u32 nseg, const void *inl,
		  u32 inl_len, struct ntbr_dst *d)
{
	u32 i, pages = 0;
	size_t pgoff, n;
	struct page *pg;
	u64 off;
	void *p;
	int err;

	if (!inl && ntbr_eng_dma_ok(seg, nseg, d))
		return ntbr_eng_copy_dma(seg, nseg, d);
	/*
	 * The CPU copies: after the engine's copies of earlier WQEs, so
	 * that their data lands first (the completions stay the caller's).
	 */
	if (d->dma)
		ntbr_eng_dma_end(d->dma);
	if (inl)
		return ntbr_dst_write(d, inl, inl_len);
	for (i = 0; i < nseg; i++) {
		for (off = 0; off < seg[i].len; off += n) {
			pg = ntbr_eng_page(&seg[i], seg[i].va + off, &pgoff);
			if (!pg)
				return -EFAULT;
			n = min_t(u64, seg[i].len - off, PAGE_SIZE - pgoff);
			p = kmap_local_page(pg);
			err = ntbr_dst_write(d, p + pgoff, n);
			kunmap_local(p);
			if (err)
				return err;
			/*
			 * A message may be 2 GiB: let others run meanwhile,
			 * but not within every small copy (a READ answered
			 * in the control work would wait for a timeslice).
			 */
			if (!(++pages % NTBR_COPY_RESCHED_PAGES))
				cond_resched();
		}
	}
	return 0;
}

int ntbr_eng_sges(struct ntbr_ib_dev *dev, struct ib_pd *pd,
		  const struct ntbrdma_sge *sge, u32 n, int access,
		  struct ntbr_seg *seg, u32 *nseg, u64 *total)
{
	u32 i, len;

	*nseg = 0;
	*total = 0;
	for (i = 0; i < n; i++) {
		len = READ_ONCE(sge[i].length);
		if (!len)
			continue;
		ntbr_seg_init(&seg[*nseg], NULL, READ_ONCE(sge[i].addr), len);
		seg[*nseg].mr = ntbr_eng_mr(dev, pd, READ_ONCE(sge[i].lkey),
					    seg[*nseg].va, len, access);
		if (!seg[*nseg].mr)
			return -EINVAL;
		*total += len;
		(*nseg)++;
	}
	return *total > NTBR_MAX_MSG_SZ ? -EMSGSIZE : 0;
}

u64 ntbr_sges_len(const struct ntbrdma_sge *sge, u32 num_sge)
{
	u32 i, n = min_t(u32, num_sge, NTBRDMA_MAX_SGE);
	u64 total = 0;

	for (i = 0; i < n; i++)
		total += READ_ONCE(sge[i].length);
	return total;
}

u64 ntbr_rwqe_len(const struct ntbrdma_recv_wqe *w)
{
	return ntbr_sges_len(w->sge, READ_ONCE(w->num_sge));
}

bool ntbr_eng_is_atomic(u32 op)
{
	return op == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP ||
	       op == IB_UVERBS_WR_ATOMIC_FETCH_AND_ADD;
}

int ntbr_eng_atomic(struct ntbr_ib_dev *dev, struct ntbr_qp *r, u32 rkey,
		    u64 va, u32 op, u64 compare_add, u64 swap, u64 *old)
{
	struct ntbr_seg s;
	struct ntbr_mr *mr;
	struct page *pg;
	size_t pgoff;
	atomic64_t *v;
	void *p;

	if (!(READ_ONCE(r->attr.qp_access_flags) & IB_ACCESS_REMOTE_ATOMIC))
		return IB_WC_REM_ACCESS_ERR;
	if (!READ_ONCE(r->attr.max_dest_rd_atomic))
		return IB_WC_REM_INV_REQ_ERR;
	/* Naturally aligned: an atomic never straddles two pages. */
	if (va & 7)
		return IB_WC_REM_INV_REQ_ERR;
	mr = ntbr_eng_mr(dev, r->ibqp.pd, rkey, va, 8, IB_ACCESS_REMOTE_ATOMIC);
	if (!mr)
		return IB_WC_REM_ACCESS_ERR;
	ntbr_seg_init(&s, mr, va, 8);
	pg = ntbr_eng_page(&s, va, &pgoff);
	if (!pg)
		return IB_WC_REM_ACCESS_ERR;
	/*
	 * A locked instruction on the page itself: atomic against every
	 * other atomic of this device (executed the same way, loopback or
	 * for the peer) and against the CPUs of this host.
	 */
	p = kmap_local_page(pg);
	v = p + pgoff;
	if (op == IB_UVERBS_WR_ATOMIC_CMP_AND_SWP)
		*old = atomic64_cmpxchg(v, compare_add, swap);
	else
		*old = atomic64_fetch_add(compare_add, v);
	kunmap_local(p);
	return IB_WC_SUCCESS;
}
