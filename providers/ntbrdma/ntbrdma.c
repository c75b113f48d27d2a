// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: the libibverbs provider of ntbrdma devices.
 *
 * Control path through libibverbs' ibv_cmd_* helpers; completion queues
 * are rings mapped from the kernel (include/rdma/ntbrdma-abi.h), polled
 * and armed here without system calls, merged in order with the
 * completions of WRITEs this provider did itself (ntbrdma_bypass.c) and
 * of receives taken from inboxes (ntbrdma_inbox.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-pabi.h"
#include "ntbrdma.h"
#include "ntbrdma_qp.h"

/* Driver-specific responses follow the core ones (8-byte aligned). */
struct ntb_get_context_resp {
	struct ib_uverbs_get_context_resp ibv_resp;
	struct ntbrdma_alloc_ucontext_resp drv;
};

struct ntb_create_cq_resp {
	struct ib_uverbs_create_cq_resp ibv_resp;
	struct ntbrdma_create_cq_resp drv;
};

struct ntb_resize_cq_resp {
	struct ib_uverbs_resize_cq_resp ibv_resp;
	struct ntbrdma_resize_cq_resp drv;
};

_Static_assert(sizeof(struct ntbrdma_cq_ctrl) == NTBRDMA_CQ_CQE_OFFSET,
	       "CQ control block");
_Static_assert(sizeof(struct ntbrdma_cqe) == 64, "CQE size");
_Static_assert(offsetof(struct ntb_create_cq_resp, drv) == 8, "resp layout");

static struct ntb_cq *ex_to_cq(struct ibv_cq_ex *ibcq_ex)
{
	return ntb_container_of(ibcq_ex, struct ntb_cq, ibcq_ex);
}

static int ntb_query_device(struct ibv_context *ibctx,
			    const struct ibv_query_device_ex_input *input,
			    struct ibv_device_attr_ex *attr, size_t attr_size)
{
	struct ib_uverbs_ex_query_device_resp resp;
	size_t resp_size = sizeof(resp);
	uint64_t fw;
	int ret;

	ret = ibv_cmd_query_device_any(ibctx, input, attr, attr_size, &resp,
				       &resp_size);
	if (ret)
		return ret;
	fw = resp.base.fw_ver;
	snprintf(attr->orig_attr.fw_ver, sizeof(attr->orig_attr.fw_ver),
		 "%u.%u.%u", (unsigned int)(fw >> 32) & 0xffff,
		 (unsigned int)(fw >> 16) & 0xffff, (unsigned int)fw & 0xffff);
	return 0;
}

static int ntb_query_port(struct ibv_context *ibctx, uint8_t port,
			  struct ibv_port_attr *attr)
{
	struct ibv_query_port cmd;

	memset(&cmd, 0, sizeof(cmd));
	return ibv_cmd_query_port(ibctx, port, attr, &cmd, sizeof(cmd));
}

static struct ibv_pd *ntb_alloc_pd(struct ibv_context *ibctx)
{
	struct ib_uverbs_alloc_pd_resp resp;
	struct ibv_alloc_pd cmd;
	struct ibv_pd *pd;
	int ret;

	pd = calloc(1, sizeof(*pd));
	if (!pd)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_alloc_pd(ibctx, pd, &cmd, sizeof(cmd), &resp,
			       sizeof(resp));
	if (ret) {
		free(pd);
		errno = ret;
		return NULL;
	}
	return pd;
}

static int ntb_dealloc_pd(struct ibv_pd *pd)
{
	int ret = ibv_cmd_dealloc_pd(pd);

	if (ret)
		return ret;
	free(pd);
	return 0;
}

/*
 * Memory regions: in the kernel (pinning, keys, the peer's table); we
 * keep a table of ours to check the SGEs of WRITEs done in user space.
 */
static struct ibv_mr *ntb_reg_mr(struct ibv_pd *pd, void *addr, size_t length,
				 uint64_t hca_va, int access)
{
	struct ib_uverbs_reg_mr_resp resp;
	struct ibv_reg_mr cmd;
	struct ntb_mr *mr;
	int ret;

	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	ret = ibv_cmd_reg_mr(pd, addr, length, hca_va, access, &mr->vmr, &cmd,
			     sizeof(cmd), &resp, sizeof(resp));
	if (ret) {
		free(mr);
		errno = ret;
		return NULL;
	}
	mr->vmr.access = access;
	/*
	 * The bypass dereferences SGE addresses, which are iovas: only an MR
	 * at its own address may serve it (others take the kernel path).
	 */
	if (hca_va == (uintptr_t)addr)
		ntb_mr_table_add(to_ctx(pd->context), mr);
	return &mr->vmr.ibv_mr;
}

static int ntb_dereg_mr(struct verbs_mr *vmr)
{
	struct ntb_mr *mr = ntb_container_of(vmr, struct ntb_mr, vmr);
	struct ntb_context *ctx = to_ctx(vmr->ibv_mr.context);
	int ret;

	/* Out of the table first: no WRITE of ours reads it from now on. */
	ntb_mr_table_del(ctx, mr);
	ret = ibv_cmd_dereg_mr(vmr);
	if (ret) {
		ntb_mr_table_add(ctx, mr);
		return ret;
	}
	free(mr);
	return 0;
}

static int ntb_cq_map(struct ntb_cq *cq, int cmd_fd, uint64_t offset,
		      uint64_t size, uint32_t num_cqe)
{
	void *ring;

	if (!num_cqe || (num_cqe & (num_cqe - 1)) ||
	    size < NTBRDMA_CQ_CQE_OFFSET +
			    (uint64_t)num_cqe * sizeof(struct ntbrdma_cqe))
		return EPROTO;
	ring = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
		    (off_t)offset);
	if (ring == MAP_FAILED)
		return errno;
	cq->ring = ring;
	cq->ring_size = size;
	cq->num_cqe = num_cqe;
	cq->ctrl = ring;
	cq->cqe = (struct ntbrdma_cqe *)((char *)ring + NTBRDMA_CQ_CQE_OFFSET);
	/* A new ring starts with our entries at 0 (see the kernel). */
	cq->cons = __atomic_load_n(&cq->ctrl->cons, __ATOMIC_RELAXED);
	return 0;
}

static struct ibv_cq *ntb_create_cq(struct ibv_context *ibctx, int cqe,
				    struct ibv_comp_channel *channel,
				    int comp_vector)
{
	struct ntb_create_cq_resp resp;
	struct ibv_create_cq cmd;
	struct ntb_cq *cq;
	int ret;

	/* The kernel checks cqe (1..max_cqe) and comp_vector. */
	cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_create_cq(ibctx, cqe, channel, comp_vector, &cq->ibcq,
				&cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (ret)
		goto err_free;
	ret = ntb_cq_map(cq, ibctx->cmd_fd, resp.drv.mmap_offset,
			 resp.drv.mmap_size, resp.drv.num_cqe);
	if (ret)
		goto err_destroy;
	pthread_spin_init(&cq->lock, PTHREAD_PROCESS_PRIVATE);
	return &cq->ibcq;

err_destroy:
	ibv_cmd_destroy_cq(&cq->ibcq);
err_free:
	free(cq);
	errno = ret;
	return NULL;
}

static int ntb_destroy_cq(struct ibv_cq *ibcq)
{
	struct ntb_cq *cq = to_cq(ibcq);
	int ret;

	ret = ibv_cmd_destroy_cq(ibcq);
	if (ret)
		return ret;
	munmap(cq->ring, cq->ring_size);
	pthread_spin_destroy(&cq->lock);
	free(cq->priv);
	free(cq);
	return 0;
}

static int ntb_resize_cq(struct ibv_cq *ibcq, int cqe)
{
	struct ntb_cq *cq = to_cq(ibcq);
	struct ntb_resize_cq_resp resp;
	struct ibv_resize_cq cmd;
	uint32_t old_cons, i;
	struct ntb_priv_cqe *p;
	void *old_ring;
	size_t old_size;
	int ret;

	/* The kernel checks cqe (1..max_cqe, and no fewer than queued). */
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	/*
	 * Held across the command: the kernel copies the entries between our
	 * cons and its prod into the new ring, so we must not consume or arm
	 * the old one meanwhile.
	 */
	pthread_spin_lock(&cq->lock);
	ret = ibv_cmd_resize_cq(ibcq, cqe, &cmd, sizeof(cmd), &resp.ibv_resp,
				sizeof(resp));
	if (ret)
		goto out;
	old_ring = cq->ring;
	old_size = cq->ring_size;
	old_cons = cq->cons;
	ret = ntb_cq_map(cq, ibcq->context->cmd_fd, resp.drv.mmap_offset,
			 resp.drv.mmap_size, resp.drv.num_cqe);
	if (!ret) {
		munmap(old_ring, old_size);
		/* The entries before each of ours moved to the new ring. */
		for (i = cq->priv_head; i != cq->priv_tail; i++) {
			p = &cq->priv[i & (cq->priv_size - 1)];
			p->mark = (int32_t)(p->mark - old_cons) > 0 ?
					  cq->cons + (p->mark - old_cons) :
					  cq->cons;
		}
	}
out:
	pthread_spin_unlock(&cq->lock);
	return ret;
}

static const struct {
	uint32_t abi;
	unsigned int ibv;
} ntb_wc_flags[] = {
	{ NTBRDMA_CQE_F_GRH, IBV_WC_GRH },
	{ NTBRDMA_CQE_F_WITH_IMM, IBV_WC_WITH_IMM },
	{ NTBRDMA_CQE_F_WITH_INV, IBV_WC_WITH_INV },
	{ NTBRDMA_CQE_F_IP_CSUM_OK, IBV_WC_IP_CSUM_OK },
};

static void ntb_cqe_to_wc(const struct ntbrdma_cqe *cqe, struct ibv_wc *wc)
{
	size_t i;

	wc->wr_id = cqe->wr_id;
	wc->status = (enum ibv_wc_status)cqe->status;
	wc->opcode = (enum ibv_wc_opcode)cqe->opcode;
	wc->vendor_err = cqe->vendor_err;
	wc->byte_len = cqe->byte_len;
	wc->imm_data = cqe->ex; /* or invalidated_rkey: same union */
	wc->qp_num = cqe->qp_num;
	wc->src_qp = cqe->src_qp;
	wc->wc_flags = 0;
	for (i = 0; i < sizeof(ntb_wc_flags) / sizeof(ntb_wc_flags[0]); i++)
		if (cqe->wc_flags & ntb_wc_flags[i].abi)
			wc->wc_flags |= ntb_wc_flags[i].ibv;
	wc->pkey_index = cqe->pkey_index;
	wc->slid = cqe->slid;
	wc->sl = cqe->sl;
	wc->dlid_path_bits = cqe->dlid_path_bits;
}

/*
 * Under cq->lock: our oldest completion is next, before the ring entry at
 * cons, once every ring entry made before it (before its mark) was
 * returned (mark was a value of prod: once the ring is drained, every
 * one of ours is due).
 */
static bool ntb_priv_due(struct ntb_cq *cq)
{
	const struct ntb_priv_cqe *p;

	if (cq->priv_head == cq->priv_tail)
		return false;
	p = &cq->priv[cq->priv_head & (cq->priv_size - 1)];
	return (int32_t)(cq->cons - p->mark) >= 0;
}

bool ntb_cq_priv_room(struct ntb_cq *cq)
{
	uint32_t size;

	/*
	 * As many as the ring: receive completions wait here for poll_cq
	 * when they came through an inbox (ntbrdma_inbox.c).
	 */
	if (!cq->priv) {
		size = cq->num_cqe;
		cq->priv = calloc(size, sizeof(*cq->priv));
		if (!cq->priv)
			return false;
		cq->priv_size = size;
	}
	return cq->priv_tail - cq->priv_head < cq->priv_size;
}

void ntb_cq_priv_push_mark(struct ntb_cq *cq, const struct ntbrdma_cqe *cqe,
			   uint32_t mark)
{
	struct ntb_priv_cqe *p = &cq->priv[cq->priv_tail & (cq->priv_size - 1)];

	p->cqe = *cqe;
	p->mark = mark;
	cq->priv_tail++;
}

bool ntb_cq_priv_push(struct ntb_cq *cq, const struct ntbrdma_cqe *cqe)
{
	bool ok = false;

	pthread_spin_lock(&cq->lock);
	/*
	 * Armed: the application waits for an event, which only the
	 * kernel raises.  req_notify_cq arms under this lock, so a
	 * completion we queue here was made before the arm: the poll that
	 * follows arming finds it, as the ring's.
	 */
	if (__atomic_load_n(&cq->ctrl->armed, __ATOMIC_SEQ_CST) !=
	    NTBRDMA_CQ_DISARMED)
		goto out;
	if (!ntb_cq_priv_room(cq))
		goto out;
	/* After the ring entries the kernel made so far (acquire: in ring). */
	ntb_cq_priv_push_mark(
		cq, cqe, __atomic_load_n(&cq->ctrl->prod, __ATOMIC_ACQUIRE));
	ok = true;
out:
	pthread_spin_unlock(&cq->lock);
	return ok;
}

static int ntb_poll_cq(struct ibv_cq *ibcq, int num_entries, struct ibv_wc *wc)
{
	struct ntb_cq *cq = to_cq(ibcq);
	uint32_t prod, ring0;
	int n = 0;

	pthread_spin_lock(&cq->lock);
	if (__atomic_load_n(&cq->ctrl->flags, __ATOMIC_RELAXED) &
	    NTBRDMA_CQ_F_OVERFLOW) {
		pthread_spin_unlock(&cq->lock);
		return -EOVERFLOW; /* the CQ is in error (IBV_EVENT_CQ_ERR) */
	}
	if (cq->inbox_qps)
		ntb_inbox_poll(cq);
	/* Pairs with the kernel's store-release of prod after the entry. */
	prod = __atomic_load_n(&cq->ctrl->prod, __ATOMIC_ACQUIRE);
	if (prod - cq->cons > cq->num_cqe) {
		pthread_spin_unlock(&cq->lock);
		return -EPROTO; /* cannot happen with a sane kernel */
	}
	ring0 = cq->cons;
	while (n < num_entries) {
		if (ntb_priv_due(cq)) {
			ntb_cqe_to_wc(
				&cq->priv[cq->priv_head++ & (cq->priv_size - 1)]
					 .cqe,
				&wc[n++]);
		} else if (cq->cons != prod) {
			struct ntbrdma_cqe *e =
				&cq->cqe[cq->cons & (cq->num_cqe - 1)];

			ntb_inbox_ring_fixup(cq, e);
			ntb_cqe_to_wc(e, &wc[n++]);
			cq->cons++;
		} else {
			break;
		}
	}
	/* The entries were read before the kernel may reuse their slots. */
	if (cq->cons != ring0)
		__atomic_store_n(&cq->ctrl->cons, cq->cons, __ATOMIC_RELEASE);
	pthread_spin_unlock(&cq->lock);
	return n;
}

/*
 * No system call: the armed word is shared with the kernel (one host, so
 * atomics work).  NEXT always wins; SOLICITED only replaces "disarmed", so
 * a pending NEXT is not weakened.  The kernel disarms with
 * compare-and-swap when it delivers the event.  The sequentially
 * consistent fence orders the arm before the application's next poll
 * (the kernel stores prod and then tests armed), so a completion that
 * raced with arming is either seen by that poll or raises the event.
 */
static int ntb_req_notify_cq(struct ibv_cq *ibcq, int solicited_only)
{
	struct ntb_cq *cq = to_cq(ibcq);
	uint32_t expected = NTBRDMA_CQ_DISARMED;

	pthread_spin_lock(&cq->lock);
	if (solicited_only)
		__atomic_compare_exchange_n(&cq->ctrl->armed, &expected,
					    NTBRDMA_CQ_ARM_SOLICITED, false,
					    __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
	else
		__atomic_store_n(&cq->ctrl->armed, NTBRDMA_CQ_ARM_NEXT,
				 __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/*
	 * Peers that place messages into our inboxes themselves learn it
	 * before the application polls (ntbrdma_eager.c).
	 */
	if (cq->inbox_qps)
		ntb_inbox_arm(cq);
	pthread_spin_unlock(&cq->lock);
	return 0;
}

/*
 * Extended CQs (ibv_create_cq_ex): the same ring, read through the
 * start_poll/next_poll/end_poll interface.  The lock is held from a
 * successful start_poll to end_poll; the current entry is consumed (cons
 * advanced and published to the kernel) when the next one is asked for or
 * at end_poll, so its slot is not reused while the application reads it.
 */
static void ntb_ex_load(struct ntb_cq *cq, const struct ntbrdma_cqe *cqe,
			bool priv)
{
	cq->cur = cqe;
	cq->cur_priv = priv;
	cq->ibcq_ex.status = (enum ibv_wc_status)cqe->status;
	cq->ibcq_ex.wr_id = cqe->wr_id;
}

/* Under cq->lock: the next entry into cq->cur, or ENOENT. */
static int ntb_ex_next(struct ntb_cq *cq)
{
	uint32_t prod;

	if (__atomic_load_n(&cq->ctrl->flags, __ATOMIC_RELAXED) &
	    NTBRDMA_CQ_F_OVERFLOW)
		return EOVERFLOW; /* the CQ is in error (IBV_EVENT_CQ_ERR) */
	if (cq->inbox_qps)
		ntb_inbox_poll(cq);
	/* Pairs with the kernel's store-release of prod after the entry. */
	prod = __atomic_load_n(&cq->ctrl->prod, __ATOMIC_ACQUIRE);
	if (prod - cq->cons > cq->num_cqe)
		return EPROTO; /* cannot happen with a sane kernel */
	if (ntb_priv_due(cq))
		ntb_ex_load(cq,
			    &cq->priv[cq->priv_head & (cq->priv_size - 1)].cqe,
			    true);
	else if (prod != cq->cons) {
		ntb_inbox_ring_fixup(cq,
				     &cq->cqe[cq->cons & (cq->num_cqe - 1)]);
		ntb_ex_load(cq, &cq->cqe[cq->cons & (cq->num_cqe - 1)], false);
	} else {
		return ENOENT;
	}
	return 0;
}

/* Under cq->lock: consume the current entry, if any. */
static void ntb_ex_consume(struct ntb_cq *cq)
{
	if (!cq->cur)
		return;
	cq->cur = NULL;
	if (cq->cur_priv) {
		cq->priv_head++;
		return;
	}
	cq->cons++;
	/* The entry was read before the kernel may reuse its slot. */
	__atomic_store_n(&cq->ctrl->cons, cq->cons, __ATOMIC_RELEASE);
}

static int ntb_start_poll(struct ibv_cq_ex *ibcq_ex,
			  struct ibv_poll_cq_attr *attr)
{
	struct ntb_cq *cq = ex_to_cq(ibcq_ex);
	int ret;

	if (attr->comp_mask)
		return EINVAL;
	pthread_spin_lock(&cq->lock);
	cq->cur = NULL;
	ret = ntb_ex_next(cq);
	/* No end_poll follows a failed start_poll. */
	if (ret)
		pthread_spin_unlock(&cq->lock);
	return ret;
}

static int ntb_next_poll(struct ibv_cq_ex *ibcq_ex)
{
	struct ntb_cq *cq = ex_to_cq(ibcq_ex);

	ntb_ex_consume(cq);
	return ntb_ex_next(cq);
}

static void ntb_end_poll(struct ibv_cq_ex *ibcq_ex)
{
	struct ntb_cq *cq = ex_to_cq(ibcq_ex);

	ntb_ex_consume(cq);
	pthread_spin_unlock(&cq->lock);
}

static enum ibv_wc_opcode ntb_read_opcode(struct ibv_cq_ex *ibcq_ex)
{
	return (enum ibv_wc_opcode)ex_to_cq(ibcq_ex)->cur->opcode;
}

static uint32_t ntb_read_vendor_err(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->vendor_err;
}

static uint32_t ntb_read_byte_len(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->byte_len;
}

/* imm_data or invalidated_rkey: the same union, as in ntb_cqe_to_wc(). */
static __be32 ntb_read_imm_data(struct ibv_cq_ex *ibcq_ex)
{
	return (__be32)ex_to_cq(ibcq_ex)->cur->ex;
}

static uint32_t ntb_read_qp_num(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->qp_num;
}

static uint32_t ntb_read_src_qp(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->src_qp;
}

static unsigned int ntb_read_wc_flags(struct ibv_cq_ex *ibcq_ex)
{
	const struct ntbrdma_cqe *cqe = ex_to_cq(ibcq_ex)->cur;
	unsigned int flags = 0;
	size_t i;

	for (i = 0; i < sizeof(ntb_wc_flags) / sizeof(ntb_wc_flags[0]); i++)
		if (cqe->wc_flags & ntb_wc_flags[i].abi)
			flags |= ntb_wc_flags[i].ibv;
	return flags;
}

static uint32_t ntb_read_slid(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->slid;
}

static uint8_t ntb_read_sl(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->sl;
}

static uint8_t ntb_read_dlid_path_bits(struct ibv_cq_ex *ibcq_ex)
{
	return ex_to_cq(ibcq_ex)->cur->dlid_path_bits;
}

static struct ibv_cq_ex *ntb_create_cq_ex(struct ibv_context *ibctx,
					  struct ibv_cq_init_attr_ex *attr)
{
	struct ibv_comp_channel *channel = attr->channel;
	struct ibv_cq_ex *ex;
	struct ibv_cq *ibcq;

	/*
	 * The standard fields only (no timestamps, CVLAN, flow tag or tag
	 * matching), no parent domain; SINGLE_THREADED is a hint we may
	 * ignore, IGNORE_OVERRUN is not implemented.
	 */
	if ((attr->wc_flags & ~(uint64_t)IBV_WC_STANDARD_FLAGS) ||
	    (attr->comp_mask & ~(uint32_t)IBV_CQ_INIT_ATTR_MASK_FLAGS) ||
	    ((attr->comp_mask & IBV_CQ_INIT_ATTR_MASK_FLAGS) &&
	     (attr->flags & ~(uint32_t)IBV_CREATE_CQ_ATTR_SINGLE_THREADED))) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	if (attr->cqe > INT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	ibcq = ntb_create_cq(ibctx, (int)attr->cqe, channel,
			     (int)attr->comp_vector);
	if (!ibcq)
		return NULL;
	/*
	 * libibverbs initialises the common fields (context, channel and
	 * its reference, cq_context) after we return, as for create_cq.
	 */
	ex = &to_cq(ibcq)->ibcq_ex;
	ex->start_poll = ntb_start_poll;
	ex->next_poll = ntb_next_poll;
	ex->end_poll = ntb_end_poll;
	ex->read_opcode = ntb_read_opcode;
	ex->read_vendor_err = ntb_read_vendor_err;
	ex->read_wc_flags = ntb_read_wc_flags;
	if (attr->wc_flags & IBV_WC_EX_WITH_BYTE_LEN)
		ex->read_byte_len = ntb_read_byte_len;
	if (attr->wc_flags & IBV_WC_EX_WITH_IMM)
		ex->read_imm_data = ntb_read_imm_data;
	if (attr->wc_flags & IBV_WC_EX_WITH_QP_NUM)
		ex->read_qp_num = ntb_read_qp_num;
	if (attr->wc_flags & IBV_WC_EX_WITH_SRC_QP)
		ex->read_src_qp = ntb_read_src_qp;
	if (attr->wc_flags & IBV_WC_EX_WITH_SLID)
		ex->read_slid = ntb_read_slid;
	if (attr->wc_flags & IBV_WC_EX_WITH_SL)
		ex->read_sl = ntb_read_sl;
	if (attr->wc_flags & IBV_WC_EX_WITH_DLID_PATH_BITS)
		ex->read_dlid_path_bits = ntb_read_dlid_path_bits;
	return ex;
}

static void ntb_free_context(struct ibv_context *ibctx);

static const struct verbs_context_ops ntb_ctx_ops = {
	.alloc_pd = ntb_alloc_pd,
	.create_ah = ntb_create_ah,
	.destroy_ah = ntb_destroy_ah,
	.create_cq = ntb_create_cq,
	.create_cq_ex = ntb_create_cq_ex,
	.create_qp = ntb_create_qp,
	.create_qp_ex = ntb_create_qp_ex,
	.create_srq = ntb_create_srq,
	.dealloc_pd = ntb_dealloc_pd,
	.dereg_mr = ntb_dereg_mr,
	.destroy_cq = ntb_destroy_cq,
	.destroy_qp = ntb_destroy_qp,
	.destroy_srq = ntb_destroy_srq,
	.free_context = ntb_free_context,
	.modify_qp = ntb_modify_qp,
	.modify_srq = ntb_modify_srq,
	.poll_cq = ntb_poll_cq,
	.post_recv = ntb_post_recv,
	.post_send = ntb_post_send,
	.post_srq_recv = ntb_post_srq_recv,
	.query_device_ex = ntb_query_device,
	.query_port = ntb_query_port,
	.reg_mr = ntb_reg_mr,
	.query_qp = ntb_query_qp,
	.query_srq = ntb_query_srq,
	.req_notify_cq = ntb_req_notify_cq,
	.resize_cq = ntb_resize_cq,
};

static struct verbs_context *ntb_alloc_context(struct ibv_device *ibdev,
					       int cmd_fd, void *private_data)
{
	struct ntb_get_context_resp resp;
	struct ibv_get_context cmd;
	struct ntb_context *ctx;
	int ret;

	(void)private_data;
	/* What driver.h's verbs_init_and_alloc_context() macro expands to. */
	ctx = _verbs_init_and_alloc_context(
		ibdev, cmd_fd, sizeof(*ctx),
		(struct verbs_context *)offsetof(struct ntb_context, vctx),
		RDMA_DRIVER_UNKNOWN);
	if (!ctx)
		return NULL;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	ret = ibv_cmd_get_context(&ctx->vctx, &cmd, sizeof(cmd), &resp.ibv_resp,
				  sizeof(resp));
	if (ret)
		goto err;
	if (resp.drv.abi_version != NTBRDMA_ABI_VERSION ||
	    resp.drv.cqe_size != sizeof(struct ntbrdma_cqe) ||
	    resp.drv.cq_cqe_offset != NTBRDMA_CQ_CQE_OFFSET) {
		fprintf(stderr,
			"libntbrdma: %s: kernel ABI %u (CQE %u bytes at %u), "
			"this provider: %u\n",
			ibdev->name, resp.drv.abi_version, resp.drv.cqe_size,
			resp.drv.cq_cqe_offset, NTBRDMA_ABI_VERSION);
		ret = EPROTO;
		goto err;
	}
	ctx->max_cqe = resp.drv.max_cqe;
	ctx->max_inline_data = resp.drv.max_inline_data;
	ntb_mr_table_init(ctx);
	if (resp.drv.dma_min_len)
		ctx->bypass_write_max = resp.drv.dma_min_len - 1;
	verbs_set_ops(&ctx->vctx, &ntb_ctx_ops);
	return &ctx->vctx;

err:
	verbs_uninit_context(&ctx->vctx);
	free(ctx);
	errno = ret;
	return NULL;
}

static void ntb_free_context(struct ibv_context *ibctx)
{
	struct ntb_context *ctx = to_ctx(ibctx);

	pthread_rwlock_destroy(&ctx->mr_lock);
	verbs_uninit_context(&ctx->vctx);
	free(ctx);
}

/*
 * The kernel has no driver id for ntbrdma (it reports RDMA_DRIVER_UNKNOWN),
 * so the device is recognised by the attribute only our driver creates:
 * /sys/class/infiniband/DEV/ntbrdma_abi_version.  That survives renaming
 * the device (rdma dev set NAME name NEW), which a name match would not.
 */
static bool ntb_match_device(struct verbs_sysfs_dev *sysfs_dev)
{
	char path[IBV_SYSFS_PATH_MAX + 32];
	char buf[16];
	ssize_t len;
	int fd;

	if (snprintf(path, sizeof(path), "%s/ntbrdma_abi_version",
		     sysfs_dev->ibdev_path) >= (int)sizeof(path))
		return false;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return false;
	buf[len] = '\0';
	if (strtoul(buf, NULL, 10) != NTBRDMA_ABI_VERSION) {
		fprintf(stderr,
			"libntbrdma: %s: kernel ABI %s does not match this "
			"provider's (%u)\n",
			sysfs_dev->ibdev_name, strtok(buf, "\n"),
			NTBRDMA_ABI_VERSION);
		return false;
	}
	return true;
}

static struct verbs_device *ntb_alloc_device(struct verbs_sysfs_dev *sysfs)
{
	struct ntb_device *dev;

	(void)sysfs;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	return &dev->vdev;
}

static void ntb_uninit_device(struct verbs_device *vdev)
{
	free(ntb_container_of(vdev, struct ntb_device, vdev));
}

/*
 * libibverbs walks match_table (by driver id, name and modalias) for every
 * RDMA device before it asks match_device, without checking for NULL: a
 * provider without a table crashes every verbs program on a host that also
 * has, say, an rxe device.  Ours holds only the end marker.
 */
static const struct verbs_match_ent ntb_match_table[] = {
	{ .kind = VERBS_MATCH_SENTINEL },
};

static const struct verbs_device_ops ntb_dev_ops = {
	.name = "ntbrdma",
	/* The uverbs ABI version the kernel gives the device. */
	.match_min_abi_version = NTBRDMA_ABI_VERSION,
	.match_max_abi_version = NTBRDMA_ABI_VERSION,
	.match_table = ntb_match_table,
	.match_device = ntb_match_device,
	.alloc_device = ntb_alloc_device,
	.uninit_device = ntb_uninit_device,
	.alloc_context = ntb_alloc_context,
};

/* What driver.h's PROVIDER_DRIVER() does for a shared-library provider. */
static void __attribute__((constructor)) ntb_register_driver(void)
{
	verbs_register_driver_34(&ntb_dev_ops);
}
