// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: the operations on QPs through their verbs - create
 * (provider or raw, the raw QP's rings mapped here) and destroy (also raw,
 * racing the rings' users), modify with random attributes (provider or
 * raw), connect along the valid path to loopback or the peer, query, and
 * post_send/post_recv chains and ibv_wr_* batches (extended QPs) through
 * the provider.
 */
#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "ufuzz.h"

/* --- QPs: creation and destruction ----------------------------------- */

static void qp_caps(struct rng *r, struct ibv_qp_cap *cap)
{
	bool sane = chance(r, 80);

	cap->max_send_wr = sane ? 1 + below(r, 128) : edgy32(r);
	cap->max_recv_wr = sane ? 1 + below(r, 128) : edgy32(r);
	cap->max_send_sge = sane ? below(r, NTBRDMA_MAX_SGE + 1) : edgy32(r);
	cap->max_recv_sge = sane ? 1 + below(r, NTBRDMA_MAX_SGE) : edgy32(r);
	cap->max_inline_data = sane ? below(r, NTBRDMA_MAX_INLINE + 1) :
				      edgy32(r);
}

void qp_unmap(struct qp_slot *q)
{
	if (q->sq)
		munmap(q->sq, q->sq_size);
	if (q->rq)
		munmap(q->rq, q->rq_size);
	q->sq = q->rq = NULL;
}

static void *map_ring(uint64_t off, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		       (off_t)off);

	return p == MAP_FAILED ? NULL : p;
}

/* A CQ handle for a raw QP: of any slot (racy: may be gone), or random. */
static uint32_t pick_cq_handle(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];
	uint32_t h = (uint32_t)rnd(r) & 63;

	if (chance(r, 90)) {
		rd(&c->lk);
		if (c->kind == K_IBV)
			h = c->cq->handle;
		else if (c->kind == K_RAW)
			h = c->handle;
		un(&c->lk);
	}
	return h;
}

/*
 * An extended QP (ibv_create_qp_ex with random send_ops_flags, mostly
 * ones the type has): ibv_wr_* works on it (op_post_wr).  ia->cap gets
 * what was granted, as ibv_create_qp's.
 */
static struct ibv_qp *create_qp_ex(struct rng *r, struct ibv_pd *pd,
				   struct ibv_qp_init_attr *ia)
{
	struct ibv_qp_init_attr_ex ex;
	struct ibv_qp *qp;

	memset(&ex, 0, sizeof(ex));
	ex.qp_context = ia->qp_context;
	ex.send_cq = ia->send_cq;
	ex.recv_cq = ia->recv_cq;
	ex.cap = ia->cap;
	ex.qp_type = ia->qp_type;
	ex.sq_sig_all = ia->sq_sig_all;
	ex.comp_mask = IBV_QP_INIT_ATTR_PD | IBV_QP_INIT_ATTR_SEND_OPS_FLAGS;
	ex.pd = pd;
	ex.send_ops_flags = chance(r, 90) ? 1 + below(r, 0x3ff) : rnd(r);
	qp = ibv_create_qp_ex(pd->context, &ex);
	if (qp)
		ia->cap = ex.cap;
	return qp;
}

void op_qp_create(struct rng *r, bool raw)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct pd_slot *p = &pds[below(r, NPD)];
	struct ibv_qp_init_attr ia;
	int err;

	wr(&q->lk);
	if (q->kind != K_NONE) {
		un(&q->lk);
		return;
	}
	memset(&ia, 0, sizeof(ia));
	qp_caps(r, &ia.cap);
	ia.qp_type = IBV_QPT_RC;
	if (chance(r, 10)) /* libibverbs itself needs more for XRC */
		ia.qp_type = raw ? (enum ibv_qp_type)below(r, 12) :
				   (enum ibv_qp_type)(2 + below(r, 3));
	ia.sq_sig_all = (int)below(r, 2);
	atomic_store(&q->dead, 0);
	atomic_store(&q->sq_prod, 0);
	atomic_store(&q->rq_prod, 0);
	if (!raw) {
		struct cq_slot *sc = &cqs[below(r, NCQ)];
		struct cq_slot *rc = &cqs[below(r, NCQ)];

		/* Both CQs' read locks, in index order (rc may be sc). */
		if (sc > rc) {
			struct cq_slot *t = sc;

			sc = rc;
			rc = t;
		}
		rd(&p->lk);
		rd(&sc->lk);
		if (rc != sc)
			rd(&rc->lk);
		if (p->pd && sc->kind == K_IBV && rc->kind == K_IBV) {
			ia.send_cq = chance(r, 50) ? sc->cq : rc->cq;
			ia.recv_cq = chance(r, 50) ? sc->cq : rc->cq;
			q->qp = chance(r, 30) ? create_qp_ex(r, p->pd, &ia) :
						ibv_create_qp(p->pd, &ia);
			err = q->qp ? 0 : errno;
			count(OP_QP_CREATE, err);
			if (!err) {
				q->kind = K_IBV;
				q->qpn = q->qp->qp_num;
				q->max_inline = ia.cap.max_inline_data;
				q->max_send_sge = ia.cap.max_send_sge;
				q->max_recv_sge = ia.cap.max_recv_sge;
				remember_qpn(q->qpn);
			}
		}
		if (rc != sc)
			un(&rc->lk);
		un(&sc->lk);
		un(&p->lk);
	} else {
		struct raw_qp_resp resp;
		struct ib_uverbs_create_qp cmd = {
			.response = (uintptr_t)&resp,
			.user_handle = (uintptr_t)q,
			.send_cq_handle = pick_cq_handle(r),
			.recv_cq_handle = pick_cq_handle(r),
			.max_send_wr = ia.cap.max_send_wr,
			.max_recv_wr = ia.cap.max_recv_wr,
			.max_send_sge = ia.cap.max_send_sge,
			.max_recv_sge = ia.cap.max_recv_sge,
			.max_inline_data = ia.cap.max_inline_data,
			.sq_sig_all = (uint8_t)ia.sq_sig_all,
			.qp_type = (uint8_t)ia.qp_type,
		};

		memset(&resp, 0, sizeof(resp));
		rd(&p->lk);
		cmd.pd_handle = p->pd ? p->pd->handle : (uint32_t)rnd(r) & 15;
		err = ucmd(IB_USER_VERBS_CMD_CREATE_QP, &cmd, sizeof(cmd),
			   sizeof(resp));
		un(&p->lk);
		count(OP_QP_CREATE_RAW, err);
		if (!err) {
			struct ntbrdma_create_qp_resp *d = &resp.drv;

			q->kind = K_RAW;
			q->handle = resp.core.qp_handle;
			q->qpn = resp.core.qpn;
			remember_qpn(q->qpn);
			q->sq = map_ring(d->sq_mmap_offset, d->sq_mmap_size);
			q->rq = map_ring(d->rq_mmap_offset, d->rq_mmap_size);
			q->sq_size = d->sq_mmap_size;
			q->rq_size = d->rq_mmap_size;
			q->sq_num = d->sq_num_wqe;
			q->rq_num = d->rq_num_wqe;
			q->max_inline = resp.core.max_inline_data;
			q->max_send_sge = resp.core.max_send_sge;
			q->max_recv_sge = resp.core.max_recv_sge;
			if (!q->sq || !q->rq || !q->sq_num || !q->rq_num ||
			    (q->sq_num & (q->sq_num - 1)) ||
			    (q->rq_num & (q->rq_num - 1)) ||
			    d->sq_wqe_size != sizeof(struct ntbrdma_send_wqe) ||
			    d->rq_wqe_size != sizeof(struct ntbrdma_recv_wqe) ||
			    q->sq_size < NTBRDMA_WQ_WQE_OFFSET +
						 (uint64_t)q->sq_num *
							 d->sq_wqe_size ||
			    q->rq_size < NTBRDMA_WQ_WQE_OFFSET +
						 (uint64_t)q->rq_num *
							 d->rq_wqe_size) {
				failure("raw create_qp: rings %p/%p, %u/%u "
					"slots, %zu/%zu bytes",
					q->sq, q->rq, q->sq_num, q->rq_num,
					q->sq_size, q->rq_size);
				qp_unmap(q);
			}
		}
	}
	un(&q->lk);
}

/*
 * Destroy the QP of slot q (its write lock held, or no thread left) and
 * recycle the slot only when the QP is gone: uverbs refuses (EBUSY) to
 * destroy an object another command is using right now (another
 * thread's kick, raw post or stray command on this handle), and a QP the
 * table forgot would keep its CQs and PD busy to the end.  0 or an errno
 * value.
 */
int qp_slot_destroy(struct qp_slot *q)
{
	int err = 0;

	if (q->kind == K_IBV)
		err = ibv_destroy_qp(q->qp);
	else if (q->kind == K_RAW && !atomic_load(&q->dead))
		err = raw_destroy_qp(q->handle);
	if (err)
		return err;
	qp_unmap(q);
	q->kind = K_NONE;
	q->qp = NULL;
	return 0;
}

void op_qp_destroy(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	int err;

	wr(&q->lk);
	if (q->kind != K_NONE) {
		err = qp_slot_destroy(q);
		count(OP_QP_DESTROY, err);
		if (err == EBUSY) /* retried by a later destroy */
			atomic_fetch_add(&st_qp_busy, 1);
	}
	un(&q->lk);
}

/* Raw destroy under the read lock: races ring writers, kicks, modifies. */
void op_qp_destroy_raw(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];

	rd(&q->lk);
	if (q->kind == K_RAW && !atomic_load(&q->dead)) {
		int err = raw_destroy_qp(q->handle);

		if (!err)
			atomic_store(&q->dead, 1);
		count(OP_QP_DESTROY_RAW, err);
	}
	un(&q->lk);
}

/* --- QPs: state ------------------------------------------------------------ */

static const union ibv_gid *pick_dgid(struct rng *r, union ibv_gid *tmp)
{
	if (have_peer && chance(r, 40))
		return &peer_gid;
	if (chance(r, 90))
		return &gid;
	rfill(r, tmp, sizeof(*tmp));
	return tmp;
}

/* Random attributes, each plausible or not. */
void rand_attr(struct rng *r, struct ibv_qp_attr *a, int *mask)
{
	union ibv_gid g;

	memset(a, 0, sizeof(*a));
	*mask = chance(r, 70) ? (int)(rnd(r) & 0x1fffff) : (int)edgy32(r);
	if (chance(r, 70))
		*mask |= IBV_QP_STATE;
	a->qp_state =
		(enum ibv_qp_state)(chance(r, 90) ? below(r, 7) : edgy32(r));
	a->cur_qp_state = (enum ibv_qp_state)below(r, 8);
	a->path_mtu =
		(enum ibv_mtu)(chance(r, 80) ? 1 + below(r, 5) : edgy32(r));
	a->qkey = edgy32(r);
	a->rq_psn = edgy32(r);
	a->sq_psn = edgy32(r);
	a->dest_qp_num = pick_qpn(r);
	a->qp_access_flags = chance(r, 70) ? (int)below(r, 16) : (int)edgy32(r);
	a->pkey_index = (uint16_t)below(r, 3);
	a->port_num = (uint8_t)(chance(r, 90) ? 1 : edgy32(r));
	a->max_rd_atomic = (uint8_t)edgy32(r);
	a->max_dest_rd_atomic = (uint8_t)edgy32(r);
	a->min_rnr_timer = (uint8_t)below(r, 40);
	a->timeout = (uint8_t)below(r, 40);
	a->retry_cnt = (uint8_t)below(r, 9);
	a->rnr_retry = (uint8_t)below(r, 9);
	a->ah_attr.is_global = chance(r, 90);
	a->ah_attr.port_num = (uint8_t)(chance(r, 90) ? 1 : edgy32(r));
	a->ah_attr.grh.dgid = *pick_dgid(r, &g);
	a->ah_attr.grh.sgid_index =
		(uint8_t)(chance(r, 90) ? (uint32_t)gid_index : below(r, 256));
	a->ah_attr.grh.hop_limit = (uint8_t)edgy32(r);
	a->ah_attr.grh.traffic_class = (uint8_t)edgy32(r);
	a->ah_attr.grh.flow_label = edgy32(r);
	a->ah_attr.sl = (uint8_t)below(r, 20);
	a->ah_attr.dlid = (uint16_t)edgy32(r);
	a->ah_attr.static_rate = (uint8_t)below(r, 20);
	a->en_sqd_async_notify = (uint8_t)below(r, 2);
	a->sq_draining = (uint8_t)below(r, 2);
	a->path_mig_state = (enum ibv_mig_state)below(r, 4);
}

/* Modify the QP of slot q (its lock held) through the provider or raw. */
static int modify_slot(const struct qp_slot *q, struct ibv_qp_attr *a, int mask)
{
	return q->kind == K_IBV ? ibv_modify_qp(q->qp, a, mask) :
				  raw_modify(q->handle, a, mask);
}

/*
 * The valid path RESET -> INIT -> RTR -> RTS to a chosen destination, for
 * the QP of slot q (its lock held).  A provider QP also gets random access
 * flags now and then, and a random min_rnr_timer.
 */
static int connect_slot(struct rng *r, const struct qp_slot *q)
{
	bool ibv = q->kind == K_IBV;
	struct ibv_qp_attr a;
	union ibv_gid g;
	int err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	(void)modify_slot(q, &a, IBV_QP_STATE);
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = !ibv || chance(r, 80) ?
				    IBV_ACCESS_LOCAL_WRITE |
					    IBV_ACCESS_REMOTE_WRITE |
					    IBV_ACCESS_REMOTE_READ :
				    (int)below(r, 16);
	err = modify_slot(q, &a,
			  IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				  IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = pick_qpn(r);
	a.max_dest_rd_atomic = (uint8_t)below(r, 5);
	if (ibv)
		a.min_rnr_timer = (uint8_t)below(r, 8);
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = *pick_dgid(r, &g);
	a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
	a.ah_attr.grh.hop_limit = 64;
	err = modify_slot(q, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				  IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC |
				  IBV_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	/* Short timeouts: a QP nobody answers fails fast. */
	a.timeout = (uint8_t)(8 + below(r, 6));
	a.retry_cnt = (uint8_t)below(r, 3);
	a.rnr_retry = (uint8_t)below(r, 3);
	a.max_rd_atomic = (uint8_t)below(r, 5);
	return modify_slot(q, &a,
			   IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				   IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				   IBV_QP_MAX_QP_RD_ATOMIC);
}

void op_qp_modify(struct rng *r, enum op op)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_qp_attr a;
	int mask, err;

	rd(&q->lk);
	if (q->kind == K_NONE) {
		un(&q->lk);
		return;
	}
	if (op == OP_QP_CONNECT) {
		err = connect_slot(r, q);
	} else {
		rand_attr(r, &a, &mask);
		if (q->kind == K_IBV && op == OP_QP_MODIFY)
			err = ibv_modify_qp(q->qp, &a, mask);
		else
			err = raw_modify(q->kind == K_IBV ? q->qp->handle :
							    q->handle,
					 &a, mask);
	}
	count(op, err);
	un(&q->lk);
}

void op_qp_query(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr a;

	rd(&q->lk);
	if (q->kind == K_IBV)
		count(OP_QP_QUERY,
		      ibv_query_qp(q->qp, &a, (int)(rnd(r) & 0x1fffff), &ia));
	un(&q->lk);
}

/* --- QPs: posting through the provider --------------------------------- */

void rand_sge(struct rng *r, struct ibv_sge *s, bool readable)
{
	uint64_t addr, len;
	uint32_t l32 = 0;

	if (!readable && chance(r, 50)) {
		s->lkey = pick_live_key(r, &addr, &l32);
		if (s->lkey) {
			s->addr = addr;
			s->length = l32;
			return;
		}
	}
	if (readable) { /* the provider copies inline data from here */
		uint32_t off = below(r, RW_SIZE - MAX_INLINE_TRY);

		s->addr = (uintptr_t)rw_buf + off;
		s->length = below(r, MAX_INLINE_TRY / 2);
	} else {
		pick_range(r, &addr, &len, false);
		s->addr = addr;
		s->length = (uint32_t)len;
	}
	s->lkey = pick_key(r);
}

static enum ibv_wr_opcode rand_opcode(struct rng *r)
{
	if (chance(r, 90))
		return (enum ibv_wr_opcode)below(r, 8);
	return (enum ibv_wr_opcode)edgy32(r);
}

/* Read-lock slot q and keep the lock if it holds a provider QP. */
static bool rd_ibv_qp(struct qp_slot *q)
{
	rd(&q->lk);
	if (q->kind == K_IBV)
		return true;
	un(&q->lk);
	return false;
}

void op_post_send(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_send_wr wrs[4], *bad;
	struct ibv_sge sges[4][NTBRDMA_MAX_SGE + 2];
	int n = 1 + (int)below(r, 4), i, k;

	if (!rd_ibv_qp(q))
		return;
	memset(wrs, 0, sizeof(wrs));
	for (i = 0; i < n; i++) {
		struct ibv_send_wr *w = &wrs[i];
		bool inl = chance(r, 15);

		w->wr_id = rnd(r);
		w->next = i + 1 < n ? &wrs[i + 1] : NULL;
		w->opcode = rand_opcode(r);
		w->send_flags = (unsigned int)below(r, 16) & ~IBV_SEND_INLINE;
		if (inl)
			w->send_flags |= IBV_SEND_INLINE;
		w->num_sge = chance(r, 90) ? (int)below(r, 5) :
					     (int)below(r, NTBRDMA_MAX_SGE + 3);
		for (k = 0; k < w->num_sge; k++)
			rand_sge(r, &sges[i][k], inl);
		w->sg_list = sges[i];
		w->imm_data = (uint32_t)rnd(r);
		if (w->opcode == IBV_WR_ATOMIC_CMP_AND_SWP ||
		    w->opcode == IBV_WR_ATOMIC_FETCH_AND_ADD) {
			w->wr.atomic.remote_addr = rnd(r) & ~7ull;
			w->wr.atomic.rkey = pick_key(r);
			w->wr.atomic.compare_add = rnd(r);
			w->wr.atomic.swap = rnd(r);
		} else {
			uint64_t addr = 0;
			uint32_t len = 0;

			w->wr.rdma.rkey =
				chance(r, 60) ? pick_live_key(r, &addr, &len) :
						pick_key(r);
			w->wr.rdma.remote_addr = addr && chance(r, 90) ? addr :
									 rnd(r);
		}
	}
	count(OP_POST_SEND, ibv_post_send(q->qp, wrs, &bad));
	un(&q->lk);
}

/*
 * One ibv_wr_* batch on an extended QP: random operations among those
 * it was created with, random setters (SGE list, inline data, UD
 * address; sometimes none, sometimes before any operation), ended by
 * ibv_wr_complete or ibv_wr_abort.
 */
void op_post_wr(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_sge sges[NTBRDMA_MAX_SGE + 2];
	int n = 1 + (int)below(r, 6), i, k, nsge;
	struct ibv_qp_ex *x;
	uint64_t addr = 0;
	uint32_t len = 0, rkey;

	if (!rd_ibv_qp(q))
		return;
	x = ibv_qp_to_qp_ex(q->qp);
	if (!x) {
		un(&q->lk);
		return;
	}
	ibv_wr_start(x);
	if (chance(r, 5) && x->wr_set_sge)
		ibv_wr_set_sge(x, pick_key(r), rnd(r), (uint32_t)rnd(r));
	for (i = 0; i < n; i++) {
		x->wr_id = rnd(r);
		x->wr_flags = (unsigned int)below(r, 32);
		rkey = chance(r, 60) ? pick_live_key(r, &addr, &len) :
				       pick_key(r);
		switch (below(r, 7)) {
		case 0:
			if (x->wr_send)
				ibv_wr_send(x);
			break;
		case 1:
			if (x->wr_send_imm)
				ibv_wr_send_imm(x, (uint32_t)rnd(r));
			break;
		case 2:
			if (x->wr_rdma_write)
				ibv_wr_rdma_write(x, rkey,
						  addr ? addr : rnd(r));
			break;
		case 3:
			if (x->wr_rdma_write_imm)
				ibv_wr_rdma_write_imm(x, rkey, addr,
						      (uint32_t)rnd(r));
			break;
		case 4:
			if (x->wr_rdma_read)
				ibv_wr_rdma_read(x, rkey, addr);
			break;
		case 5:
			if (x->wr_atomic_fetch_add)
				ibv_wr_atomic_fetch_add(x, rkey, addr & ~7ull,
							rnd(r));
			break;
		default:
			if (x->wr_atomic_cmp_swp)
				ibv_wr_atomic_cmp_swp(x, rkey, addr & ~7ull,
						      rnd(r), rnd(r));
			break;
		}
		switch (below(r, 4)) {
		case 0:
			nsge = (int)below(r, NTBRDMA_MAX_SGE + 2);
			for (k = 0; k < nsge; k++)
				rand_sge(r, &sges[k], false);
			if (x->wr_set_sge_list)
				ibv_wr_set_sge_list(x, (size_t)nsge, sges);
			break;
		case 1:
			rand_sge(r, &sges[0], true);
			if (x->wr_set_inline_data)
				ibv_wr_set_inline_data(
					x, (void *)(uintptr_t)sges[0].addr,
					sges[0].length);
			break;
		case 2:
			rand_sge(r, &sges[0], false);
			if (x->wr_set_sge)
				ibv_wr_set_sge(x, sges[0].lkey, sges[0].addr,
					       sges[0].length);
			break;
		default:
			break; /* no data: zero length */
		}
	}
	if (chance(r, 10))
		ibv_wr_abort(x);
	else
		count(OP_POST_WR, ibv_wr_complete(x));
	un(&q->lk);
}

void op_post_recv(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ibv_recv_wr wrs[4], *bad;
	struct ibv_sge sges[4][NTBRDMA_MAX_SGE + 2];
	int n = 1 + (int)below(r, 4), i, k;

	if (!rd_ibv_qp(q))
		return;
	for (i = 0; i < n; i++) {
		wrs[i].wr_id = rnd(r);
		wrs[i].next = i + 1 < n ? &wrs[i + 1] : NULL;
		wrs[i].num_sge = chance(r, 90) ?
					 (int)below(r, 5) :
					 (int)below(r, NTBRDMA_MAX_SGE + 3);
		for (k = 0; k < wrs[i].num_sge; k++)
			rand_sge(r, &sges[i][k], false);
		wrs[i].sg_list = sges[i];
	}
	count(OP_POST_RECV, ibv_post_recv(q->qp, wrs, &bad));
	un(&q->lk);
}
