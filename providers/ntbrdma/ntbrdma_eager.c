// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: eager messages (Documentation/rdma-datapath.md, "Stage B").
 *
 * A SEND or SEND_WITH_IMM of at most NTBRDMA_EAGER_MAX bytes goes from
 * this provider straight into the inbox of the peer QP, without a system
 * call and without either kernel: the payload into payload slot n mod E
 * of the peer's inbox MR, then the slot of receive n (body, then tag),
 * through a mapping of that MR the kernel grants
 * (NTBRDMA_QP_OP_MAP_PEER_INBOX).  The peer's provider takes the slot
 * when it polls and copies the payload into its receive n.
 *
 * Which receive: the kernel writes each receive the peer publishes into
 * a ring at the end of the SQ's mapping (qp->pub: epoch, index, length,
 * bad; we only read it), and
 * the index of the next one its own messages take into the SQ's rx_next;
 * our eager_next (SQ word, ours) says how far eager messages went, and
 * the kernel drops the receives below it before it takes one.  Only when
 * nothing of the SQ is in the kernel (done == prod), so the two never
 * take receives at the same time.
 *
 * Payload slots: message n may use slot n mod E only once the peer took
 * receive n - E; the peer's provider says how far it took in `credit`,
 * which it writes into our inbox's status page through its mapping of our
 * inbox (ntb_eager_status); no read across the NTB.
 *
 * Events: a peer whose receive CQ is armed writes `armed` into our status
 * page and reads it back before it polls.  We read `armed` after our
 * slot's tag is at the peer (read back through the window): either the
 * peer's poll finds the message or we see `armed` and have our kernel
 * tell the peer's kernel (NTBRDMA_WQE_F_NOTIFY), which raises the event.
 *
 * The claim comes first: eager_next moves on before the slot is written,
 * so the peer, which may take the message at once and publish more
 * receives, never has our kernel hold more of them than it may.  A
 * mapping revoked meanwhile (inbox_gen moved: the peer's epoch changed,
 * the link went down, either QP left its state) leaves us unsure whether
 * the slot landed: the SEND goes to the kernel, which sends it again
 * into the same receive (the same bytes: harmless), into a receive of a
 * new epoch (the peer's flush completed an untaken eager slot as
 * flushed), or reports the error.
 *
 * What the peer writes here (status page) and the kernel's ring are read
 * with their bounds checked; a lie there changes only our own sends.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ntbrdma.h"
#include "ntbrdma_qp.h"

_Static_assert(sizeof(struct ntbrdma_inbox_status) == 128, "status page");
_Static_assert(sizeof(struct ntbrdma_pub_ent) == 16, "pub entry");
_Static_assert(offsetof(struct ntbrdma_wq_ctrl, rx_next) == 96, "rx_next");
_Static_assert(offsetof(struct ntbrdma_wq_ctrl, eager_next) == 104, "eager");

/* Uses of a refused or revoked peer-inbox mapping before we ask again. */
#define NTB_PIN_RETRY 64

/* Credit written when the peer took this many more (E / 4, at least 1). */
#define NTB_CREDIT_STEP(e) ((e) / 4 ? (e) / 4 : 1)

int ntb_eager_qp_init(struct ntb_qp *qp, uint64_t pub_offset, uint64_t pub_size)
{
	if (!pub_size)
		return 0;
	/* The kernel's answer, checked as any input. */
	if (pub_size != NTBRDMA_PUB_ENTRIES * sizeof(struct ntbrdma_pub_ent) ||
	    pub_offset > qp->sq.size || pub_size > qp->sq.size - pub_offset ||
	    pub_offset % 64)
		return EPROTO;
	qp->pub = (const struct ntbrdma_pub_ent *)((char *)qp->sq.ring +
						   pub_offset);
	return 0;
}

static void ntb_pin_drop(struct ntb_peer_inbox *pin)
{
	if (pin->base)
		munmap(pin->base, pin->len);
	pin->base = NULL;
	pin->len = 0;
}

void ntb_eager_qp_fini(struct ntb_qp *qp)
{
	ntb_pin_drop(&qp->pin);
	pthread_mutex_destroy(&qp->pin.lock);
	qp->pub = NULL; /* in the SQ's mapping */
}

static uint32_t ntb_inbox_gen(struct ntb_qp *qp)
{
	/* Kernel-owned; pairs with its store-release before a revocation. */
	return __atomic_load_n(&qp->sq.ctrl->inbox_gen, __ATOMIC_ACQUIRE);
}

/*
 * pin.lock held: the peer QP's inbox mapped under the current inbox_gen,
 * asking the kernel (a system call) at most once every NTB_PIN_RETRY
 * uses after a refusal or revocation.
 */
static bool ntb_pin_get(struct ntb_qp *qp)
{
	struct ntb_peer_inbox *pin = &qp->pin;
	struct ibv_qp_attr attr;
	struct ntb_map_resp resp;
	struct ntb_map_cmd cmd;
	uint32_t gen = ntb_inbox_gen(qp);
	uint64_t need;
	void *addr;

	if (pin->base && pin->gen == gen)
		return true;
	/* Revoked: ask again at once (the connection may go on). */
	if (pin->base)
		pin->retry = 0;
	ntb_pin_drop(pin);
	if (pin->retry) {
		pin->retry--;
		return false;
	}
	pin->retry = NTB_PIN_RETRY;
	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	memset(&attr, 0, sizeof(attr));
	cmd.drv.op = NTBRDMA_QP_OP_MAP_PEER_INBOX;
	if (ibv_cmd_modify_qp_ex(&qp->ibqp, &attr, 0, &cmd.ibv_cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp)))
		return false;
	pin->order = resp.drv.reserved & 0xff;
	pin->eager_order = (resp.drv.reserved >> 8) & 0xff;
	/* The kernel's answer, checked as any input. */
	if (!pin->order || pin->order > 15 || !pin->eager_order ||
	    pin->eager_order > 8)
		return false;
	need = NTBRDMA_INBOX_BYTES(pin->order, pin->eager_order);
	if (resp.drv.mmap_size != need)
		return false;
	addr = mmap(NULL, (size_t)need, PROT_READ | PROT_WRITE, MAP_SHARED,
		    qp->ibqp.context->cmd_fd, (off_t)resp.drv.mmap_offset);
	if (addr == MAP_FAILED)
		return false;
	pin->base = addr;
	pin->len = (size_t)need;
	pin->gen = resp.drv.map_gen;
	pin->retry = 0;
	return true;
}

/*
 * The receive of the peer QP that our next message takes: the kernel's
 * rx_next, or our eager_next when that is further in the same epoch.
 */
static uint64_t ntb_eager_target(struct ntb_qp *qp)
{
	uint64_t next =
		__atomic_load_n(&qp->sq.ctrl->rx_next, __ATOMIC_ACQUIRE);
	uint64_t eager = qp->eager_next;

	if ((eager >> 32) == (next >> 32) &&
	    (int32_t)((uint32_t)eager - (uint32_t)next) > 0)
		return eager;
	return next;
}

/*
 * The published receive `want` (epoch << 32 | index): true with its
 * length and flags if the kernel's ring holds it (tag, body, tag again:
 * the kernel zeroes the tag before it rewrites an entry).
 */
static bool ntb_pub_lookup(struct ntb_qp *qp, uint64_t want, uint32_t *total,
			   uint32_t *flags)
{
	const struct ntbrdma_pub_ent *e =
		&qp->pub[(uint32_t)want % NTBRDMA_PUB_ENTRIES];

	if (__atomic_load_n(&e->tag, __ATOMIC_ACQUIRE) != want)
		return false;
	*total = __atomic_load_n(&e->total, __ATOMIC_RELAXED);
	*flags = __atomic_load_n(&e->flags, __ATOMIC_RELAXED);
	/* The body's loads before the second look at the tag. */
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&e->tag, __ATOMIC_RELAXED) == want;
}

/* Payload, body, tag of message (epoch, n) into the peer's inbox. */
static void ntb_eager_put(struct ntb_qp *qp, const struct ibv_send_wr *wr,
			  uint32_t epoch, uint32_t n, uint32_t len)
{
	struct ntb_peer_inbox *pin = &qp->pin;
	char *pay = pin->base + NTBRDMA_INBOX_PAYLOAD_OFF(pin->order) +
		    (size_t)(n & ((1U << pin->eager_order) - 1)) *
			    NTBRDMA_EAGER_MAX;
	struct ntbrdma_inbox_ent *slot = (struct ntbrdma_inbox_ent *)pin->base +
					 (n & ((1U << pin->order) - 1));
	uint32_t flags = NTBRDMA_INBOX_F_EAGER;
	int i;

	for (i = 0; i < wr->num_sge; i++) {
		ntb_copy_to_window(pay,
				   (const char *)(uintptr_t)wr->sg_list[i].addr,
				   wr->sg_list[i].length);
		pay += wr->sg_list[i].length;
	}
	if (wr->opcode == IBV_WR_SEND_WITH_IMM)
		flags |= NTBRDMA_INBOX_F_IMM;
	if (wr->send_flags & IBV_SEND_SOLICITED)
		flags |= NTBRDMA_INBOX_F_SOLICITED;
	/* Owner of the slot for receive n: us, until its tag is written. */
	((volatile struct ntbrdma_inbox_ent *)slot)->byte_len = len;
	((volatile struct ntbrdma_inbox_ent *)slot)->imm =
		wr->opcode == IBV_WR_SEND_WITH_IMM ? wr->imm_data : 0;
	((volatile struct ntbrdma_inbox_ent *)slot)->flags = flags;
	((volatile struct ntbrdma_inbox_ent *)slot)->status = IBV_WC_SUCCESS;
	/*
	 * The payload's and the body's write-combining stores leave before
	 * the tag that publishes them (the peer loads the tag with acquire).
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	((volatile struct ntbrdma_inbox_ent *)slot)->tag =
		(uint64_t)epoch << 32 | n;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	/*
	 * Read-back: a PCIe read does not pass the posted writes before it,
	 * so the message is in the peer's memory when it returns - the SEND
	 * is done, and a later look at `armed` is ordered after it.
	 */
	(void)((volatile struct ntbrdma_inbox_ent *)slot)->tag;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

enum ntb_bypass_res
ntb_eager_send(struct ntb_qp *qp, const struct ibv_send_wr *wr, uint32_t raw[2])
{
	struct ntb_context *ctx = to_ctx(qp->ibqp.context);
	const struct ntbrdma_inbox_status *st = qp->inbox.status;
	uint32_t total, pflags, n, epoch, gen, room;
	uint64_t want, len = 0, credit;
	bool ok;
	int i;

	if (!ctx->bypass || !qp->pub || !st ||
	    __atomic_load_n(&qp->sq.ctrl->done, __ATOMIC_ACQUIRE) !=
		    qp->sq.prod)
		return NTB_BYPASS_NO;
	for (i = 0; i < wr->num_sge; i++)
		len += wr->sg_list[i].length;
	if (len > NTBRDMA_EAGER_MAX)
		return NTB_BYPASS_NO;
	want = ntb_eager_target(qp);
	epoch = (uint32_t)(want >> 32);
	n = (uint32_t)want;
	/* Published, fits, and not a receive the peer found bad. */
	if (!epoch || !ntb_pub_lookup(qp, want, &total, &pflags) ||
	    (pflags & NTBRDMA_PUB_F_BAD) || total < len)
		return NTB_BYPASS_NO;
	pthread_mutex_lock(&qp->pin.lock);
	if (!ntb_pin_get(qp))
		goto no;
	/* Room: the peer took receive n - E (its word in our status page). */
	credit = __atomic_load_n(&st->credit, __ATOMIC_ACQUIRE);
	room = 1U << qp->pin.eager_order;
	if ((uint32_t)(credit >> 32) != epoch || n - (uint32_t)credit >= room)
		goto no;
	gen = qp->pin.gen;
	if (!(wr->send_flags & IBV_SEND_INLINE)) {
		pthread_rwlock_rdlock(&ctx->mr_lock);
		ok = ntb_sges_ok(ctx, qp->ibqp.pd, wr, 0);
		if (!ok) {
			pthread_rwlock_unlock(&ctx->mr_lock);
			goto no;
		}
	}
	/* The claim first (see the top of this file). */
	qp->eager_next = (uint64_t)epoch << 32 | (n + 1);
	__atomic_store_n(&qp->sq.ctrl->eager_next, qp->eager_next,
			 __ATOMIC_SEQ_CST);
	ntb_eager_put(qp, wr, epoch, n, (uint32_t)len);
	if (!(wr->send_flags & IBV_SEND_INLINE))
		pthread_rwlock_unlock(&ctx->mr_lock);
	pthread_mutex_unlock(&qp->pin.lock);
	/* Revoked meanwhile: unsure whether it landed; the kernel sends it. */
	if (ntb_inbox_gen(qp) != gen)
		return NTB_BYPASS_NO;
	if (__atomic_load_n(&st->armed, __ATOMIC_ACQUIRE)) {
		raw[0] = n;
		raw[1] = epoch;
		return NTB_BYPASS_DONE_NOTIFY;
	}
	return ntb_bypass_complete(qp, wr, IBV_WC_SEND, 0);
no:
	pthread_mutex_unlock(&qp->pin.lock);
	return NTB_BYPASS_NO;
}

void ntb_eager_status(struct ntb_qp *qp, bool arming)
{
	struct ntb_cq *cq = to_cq(qp->ibqp.recv_cq);
	struct ntb_inbox *in = &qp->inbox;
	volatile struct ntbrdma_inbox_status *peer;
	uint64_t credit, taken;
	uint32_t step;
	bool armed;

	if (!in->status)
		return;
	/*
	 * What the peer must know: our CQ armed (the kernel disarms it when
	 * it delivers the event), and how far we took its messages.
	 */
	armed = __atomic_load_n(&cq->ctrl->armed, __ATOMIC_SEQ_CST) !=
		NTBRDMA_CQ_DISARMED;
	taken = __atomic_load_n(&qp->rq.ctrl->rx_taken, __ATOMIC_ACQUIRE);
	credit = (uint64_t)__atomic_load_n(&qp->rq.ctrl->rx_epoch,
					   __ATOMIC_ACQUIRE)
			 << 32 |
		 (uint32_t)taken;
	/* Flushed: nothing more to take, no new credit to give. */
	if (taken & NTBRDMA_RX_FROZEN)
		credit = in->credit_sent;
	step = NTB_CREDIT_STEP(1U << in->eager_order);
	/* Nothing to tell: no lock, no system call. */
	if (armed == in->armed_sent &&
	    (credit >> 32) == (in->credit_sent >> 32) &&
	    (uint32_t)credit - (uint32_t)in->credit_sent < step)
		return;
	pthread_mutex_lock(&qp->pin.lock);
	/*
	 * Arming, the mapping is asked for whatever the back-off says: a
	 * peer that got credit from us must learn that we sleep.
	 */
	if (arming)
		qp->pin.retry = 0;
	if (!ntb_pin_get(qp)) {
		pthread_mutex_unlock(&qp->pin.lock);
		return;
	}
	peer = (volatile struct ntbrdma_inbox_status *)(qp->pin.base +
							NTBRDMA_INBOX_STATUS_OFF(
								qp->pin.order));
	/*
	 * Owner of the peer's status page: us (its only writer).  armed
	 * first: credit never reaches the peer without our arm state.
	 */
	peer->armed = armed;
	/* armed out of the write-combining buffer before credit. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	peer->credit = credit;
	in->credit_sent = credit;
	in->armed_sent = armed;
	/* Drained, then at the peer (read-back) before we poll. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (armed)
		(void)peer->armed;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	pthread_mutex_unlock(&qp->pin.lock);
}
