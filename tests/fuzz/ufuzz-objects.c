// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: the operations on PDs, CQs and MRs - alloc/dealloc PD;
 * create (provider or raw, the raw CQ's ring mapped here), destroy (also
 * raw, racing the ring's users), resize, poll (a raw ring read directly),
 * arm CQ and the raw completion channel's events; reg/dereg MR on every
 * kind of memory with random access flags.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ufuzz.h"

/* --- PDs ------------------------------------------------------------------- */

void op_pd(struct rng *r, bool alloc)
{
	struct pd_slot *p = &pds[below(r, NPD)];
	int err = 0;

	wr(&p->lk);
	if (alloc && !p->pd) {
		p->pd = ibv_alloc_pd(ctx);
		err = p->pd ? 0 : errno;
		count(OP_PD_ALLOC, err);
	} else if (!alloc && p->pd) {
		err = ibv_dealloc_pd(p->pd);
		if (!err)
			p->pd = NULL;
		count(OP_PD_FREE, err);
	}
	un(&p->lk);
}

/* --- CQs ------------------------------------------------------------------- */

uint32_t cq_size(struct rng *r)
{
	switch (below(r, 5)) {
	case 0:
		return edgy32(r);
	case 1:
		return 1u << below(r, 18);
	default:
		return 1 + below(r, 256);
	}
}

void cq_unmap(struct cq_slot *c)
{
	if (c->ring)
		munmap(c->ring, c->size);
	c->ring = NULL;
}

void op_cq_create(struct rng *r, bool raw)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ntbrdma_create_cq_resp drv;
	int err;

	wr(&c->lk);
	if (c->kind != K_NONE) {
		un(&c->lk);
		return;
	}
	if (!raw) {
		c->cq = ibv_create_cq(ctx, (int)cq_size(r), NULL, NULL,
				      chance(r, 90) ? 0 : (int)edgy32(r));
		err = c->cq ? 0 : errno;
		if (!err)
			c->kind = K_IBV;
		count(OP_CQ_CREATE, err);
		un(&c->lk);
		return;
	}
	rd(&ring_map_lk);
	err = raw_create_cq(cq_size(r), chance(r, 50) ? chan_fd : -1,
			    &c->handle, &drv);
	count(OP_CQ_CREATE_RAW, err);
	if (!err) {
		void *p;

		c->kind = K_RAW;
		atomic_store(&c->dead, 0);
		p = mmap(NULL, drv.mmap_size, PROT_READ | PROT_WRITE,
			 MAP_SHARED, cmd_fd, (off_t)drv.mmap_offset);
		c->ring = p == MAP_FAILED ? NULL : p;
		c->size = drv.mmap_size;
		c->num = drv.num_cqe;
		if (!c->ring || !c->num || (c->num & (c->num - 1)) ||
		    c->size < NTBRDMA_CQ_CQE_OFFSET +
				      (uint64_t)c->num *
					      sizeof(struct ntbrdma_cqe))
			failure("raw create_cq: ring %p of %zu bytes, %u entries",
				c->ring, c->size, c->num);
	}
	un(&ring_map_lk);
	un(&c->lk);
}

/* Destroy through libibverbs (ibv CQs) or the raw command and recycle. */
/*
 * Destroy the CQ of slot c (its write lock held, or no thread left) and
 * recycle the slot when the CQ is gone; EBUSY (a QP or a command uses
 * it) leaves it.  0 or an errno value.
 */
int cq_slot_destroy(struct cq_slot *c)
{
	int err = 0;

	if (c->kind == K_IBV)
		err = ibv_destroy_cq(c->cq);
	else if (c->kind == K_RAW && !atomic_load(&c->dead))
		err = raw_destroy_cq(c->handle);
	if (err)
		return err;
	cq_unmap(c);
	c->kind = K_NONE;
	c->cq = NULL;
	return 0;
}

void op_cq_destroy(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	wr(&c->lk);
	if (c->kind != K_NONE)
		count(OP_CQ_DESTROY, cq_slot_destroy(c));
	un(&c->lk);
}

/* Raw destroy under the read lock: races pollers and ring writers. */
void op_cq_destroy_raw(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_RAW && !atomic_load(&c->dead)) {
		int err = raw_destroy_cq(c->handle);

		if (!err)
			atomic_store(&c->dead, 1);
		count(OP_CQ_DESTROY_RAW, err);
	}
	un(&c->lk);
}

void op_cq_resize(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ntbrdma_resize_cq_resp drv;
	int err;

	if (chance(r, 50)) {
		rd(&c->lk);
		if (c->kind == K_IBV)
			count(OP_CQ_RESIZE,
			      ibv_resize_cq(c->cq, (int)cq_size(r)));
		un(&c->lk);
		return;
	}
	/*
	 * Not a dead slot's: its handle may be another CQ's by now, whose
	 * owner's resize or destroy may drop the new ring before we map it.
	 */
	wr(&c->lk);
	rd(&ring_map_lk);
	if (c->kind == K_RAW && !atomic_load(&c->dead)) {
		err = raw_resize_cq(c->handle, cq_size(r), &drv);
		count(OP_CQ_RESIZE, err);
		if (!err) {
			void *p = mmap(NULL, drv.mmap_size,
				       PROT_READ | PROT_WRITE, MAP_SHARED,
				       cmd_fd, (off_t)drv.mmap_offset);

			if (p == MAP_FAILED) {
				failure("raw resize_cq: new ring does not map: "
					"%s",
					strerror(errno));
			} else {
				cq_unmap(c);
				c->ring = p;
				c->size = drv.mmap_size;
				c->num = drv.num_cqe;
			}
		}
	}
	un(&ring_map_lk);
	un(&c->lk);
}

static void wc_check(const struct ibv_wc *wc)
{
	atomic_fetch_add(&st_wc[wc->status < 31 ? wc->status : 31], 1);
	if (wc->status > IBV_WC_TM_RNDV_INCOMPLETE ||
	    (wc->status == IBV_WC_SUCCESS && wc->opcode != IBV_WC_SEND &&
	     wc->opcode != IBV_WC_RDMA_WRITE &&
	     wc->opcode != IBV_WC_RDMA_READ && wc->opcode != IBV_WC_RECV &&
	     wc->opcode != IBV_WC_RECV_RDMA_WITH_IMM &&
	     wc->opcode != IBV_WC_COMP_SWAP &&
	     wc->opcode != IBV_WC_FETCH_ADD)) {
		atomic_fetch_add(&st_wc_bad, 1);
		failure("completion with status %u opcode %u qp %u",
			(unsigned int)wc->status, (unsigned int)wc->opcode,
			wc->qp_num);
	}
}

void op_cq_poll(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	struct ibv_wc wc[16];
	int n, i;

	rd(&c->lk);
	if (c->kind == K_IBV) {
		n = ibv_poll_cq(c->cq, 1 + (int)below(r, 16), wc);
		for (i = 0; i < n; i++)
			wc_check(&wc[i]);
		count(OP_CQ_POLL, n < 0 ? -n : 0);
	} else if (c->kind == K_RAW && c->ring) {
		struct ntbrdma_cq_ctrl *ctl = c->ring;
		uint32_t prod = __atomic_load_n(&ctl->prod, __ATOMIC_ACQUIRE);
		uint32_t cons = __atomic_load_n(&ctl->cons, __ATOMIC_RELAXED);
		volatile struct ntbrdma_cqe *e =
			(void *)((char *)c->ring + NTBRDMA_CQ_CQE_OFFSET);
		uint32_t k, lim = prod - cons;

		if (lim > c->num)
			lim = c->num;
		for (k = 0; k < lim; k++) {
			uint32_t st = e[(cons + k) & (c->num - 1)].status;

			(void)st; /* may be our own garbage: only read */
			atomic_fetch_add(&st_raw_cqe, 1);
		}
		__atomic_store_n(&ctl->cons, cons + lim, __ATOMIC_RELEASE);
		count(OP_CQ_POLL, 0);
	}
	un(&c->lk);
}

void op_cq_notify(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_IBV)
		count(OP_CQ_NOTIFY, ibv_req_notify_cq(c->cq, chance(r, 50)));
	un(&c->lk);
}

/* Drain the raw completion channel (events of raw CQs). */
void op_events(void)
{
	struct ib_uverbs_comp_event_desc ev[8];
	ssize_t n;

	n = read(chan_fd, ev, sizeof(ev));
	count(OP_EVENTS, n < 0 && errno != EAGAIN ? errno : 0);
}

/* --- MRs ------------------------------------------------------------------- */

static int mr_access(struct rng *r)
{
	static const int bits[] = {
		IBV_ACCESS_LOCAL_WRITE,	     IBV_ACCESS_REMOTE_WRITE,
		IBV_ACCESS_REMOTE_READ,	     IBV_ACCESS_REMOTE_ATOMIC,
		IBV_ACCESS_MW_BIND,	     IBV_ACCESS_ZERO_BASED,
		IBV_ACCESS_ON_DEMAND,	     IBV_ACCESS_HUGETLB,
		IBV_ACCESS_RELAXED_ORDERING,
	};
	int a = 0;
	size_t i;

	if (chance(r, 5))
		return (int)edgy32(r);
	if (chance(r, 50))
		return IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		       IBV_ACCESS_REMOTE_READ;
	for (i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (chance(r, i < 4 ? 50 : 5))
			a |= bits[i];
	return a;
}

/*
 * At most this many live MRs over any byte.  The kernel maps an MR's
 * pages for the NTB device once per MR, and DMA-API debugging (debug
 * kernel) warns, once per boot, at the 9th live mapping of one
 * cacheline, taking it for a leak: legal in RDMA (an HCA's umems are
 * mapped the same way), so we stay below it and the warning keeps its
 * meaning - a mapping that outlives its MR still trips it over a run.
 */
#define MR_OVERLAP_MAX 7

static pthread_mutex_t mr_span_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * Under mr_span_lock: live MRs over a page of [addr, addr + len) (an MR
 * maps whole pages; spans are kept page-rounded).
 */
static int mr_overlaps(uint64_t addr, uint64_t len)
{
	uint64_t lo = addr & ~4095ull, hi = (addr + len + 4095) & ~4095ull;
	int i, n = 0;

	for (i = 0; i < NMR; i++)
		if (mrs[i].span_len && mrs[i].span_addr < hi &&
		    lo < mrs[i].span_addr + mrs[i].span_len)
			n++;
	return n;
}

void op_mr_reg(struct rng *r)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	struct pd_slot *p = &pds[below(r, NPD)];
	uint64_t addr, len;
	int access = mr_access(r);
	void *tmp = NULL;

	wr(&m->lk);
	if (m->mr) {
		un(&m->lk);
		return;
	}
	if (chance(r, 10)) { /* registered, then unmapped */
		len = (1 + below(r, 16)) * 4096ull;
		tmp = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (tmp == MAP_FAILED) {
			un(&m->lk);
			return;
		}
		memset(tmp, 0x3c, len);
		addr = (uintptr_t)tmp;
	} else {
		pick_range(r, &addr, &len, true);
	}
	rd(&p->lk);
	pthread_mutex_lock(&mr_span_lock);
	if (p->pd && mr_overlaps(addr, len) < MR_OVERLAP_MAX) {
		m->mr = ibv_reg_mr(p->pd, (void *)(uintptr_t)addr, len, access);
		count(OP_MR_REG, m->mr ? 0 : errno);
		if (m->mr) {
			m->span_addr = addr & ~4095ull;
			m->span_len =
				((addr + len + 4095) & ~4095ull) - m->span_addr;
		}
	}
	pthread_mutex_unlock(&mr_span_lock);
	if (m->mr) {
		remember_key(m->mr->lkey);
		if (addr >= (uintptr_t)ro_buf &&
		    addr < (uintptr_t)ro_buf + RO_SIZE &&
		    (access & IBV_ACCESS_LOCAL_WRITE))
			failure("MR with LOCAL_WRITE on a read-only "
				"mapping registered");
	}
	un(&p->lk);
	if (tmp) {
		munmap(tmp, len);
		if (m->mr)
			m->tmp = tmp;
	}
	un(&m->lk);
}

void op_mr_dereg(struct rng *r)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	int err;

	wr(&m->lk);
	if (m->mr) {
		uint32_t key = m->mr->lkey;

		err = ibv_dereg_mr(m->mr);
		count(OP_MR_DEREG, err);
		if (!err) {
			remember_key(key);
			m->mr = NULL;
			m->tmp = NULL;
			pthread_mutex_lock(&mr_span_lock);
			m->span_len = 0;
			pthread_mutex_unlock(&mr_span_lock);
		}
	}
	un(&m->lk);
}
