// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * libntbrdma: RDMA WRITE and READ from user space (kernel bypass; the
 * design is in Documentation/rdma-datapath.md, "Kernel bypass").
 *
 * The kernel maps the whole pages of a peer MR for one QP once it made
 * the checks a responder makes (modify_qp with NTBRDMA_QP_OP_MAP_PEER_MR).
 * A WRITE is then CPU stores from the local buffers into that mapping,
 * a full fence (write-combining buffers drained, in order), for a
 * signalled WRITE a read-back through the window (a PCIe read does not
 * pass the posted writes before it: the data is at the peer), and a
 * completion of our own, queued in order after everything the kernel
 * completed for the QP before (ntb_cq_priv_push).
 *
 * Only when it is safe to go around the kernel: the QP in RTS, nothing of
 * its SQ left in the kernel (the SQ's kernel-owned `done` equals our
 * prod: every earlier completion is in the CQ ring), every local SGE in
 * an MR registered through us (else the kernel path reports the
 * LOC_PROT_ERR), the target inside a mapping made under the current
 * map_gen.  The kernel bumps map_gen before it revokes a mapping (the
 * peer deregistered the MR, the QP left RTS, the peer QP disconnected,
 * the link went down) and zaps it, after which stores land in a scratch
 * page: a WRITE that sees map_gen move after its stores is posted again
 * for the kernel, which writes it again or reports REM_ACCESS_ERR.
 *
 * A WRITE of dma_min_len bytes or more (the kernel says, when it has a
 * DMA engine: Documentation/dma-engine.md) goes to the kernel, whose
 * engine moves it without a CPU.
 *
 * A READ of at most bypass_read_max bytes (NTBRDMA_BYPASS_READ_MAX, 256
 * by default; 0: none) goes the same way through a read-only mapping the
 * kernel grants after a responder's READ checks: CPU loads from the
 * window into the local buffers (every SGE in an MR of ours with
 * LOCAL_WRITE), then map_gen once more - moved, the loads may have read
 * the scratch page, and the kernel executes the READ after all (reading
 * again is harmless) - and our own completion, or the kernel's (posted
 * with NTBRDMA_WQE_F_DONE) when the CQ is armed.  Bounded because a CPU
 * load through a window is a non-posted PCIe read that the CPU waits
 * for, a few at a time: a short READ costs about one such round trip,
 * less than the responder's doorbell and work, but beyond a few hundred
 * bytes the responder's posted writes (the kernel path) win on NTB
 * hardware (Documentation/rdma-datapath.md, "RDMA READ from user space").
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#if defined(__x86_64__) && defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ntbrdma.h"
#include "ntbrdma_qp.h"

/* The largest message (the device's max_msg_sz). */
#define NTB_MAX_MSG (1ULL << 31)

/* Posts to an rkey the kernel refused before we ask it again. */
#define NTB_PMAP_RETRY 256

/* READs up to this many bytes from user space, unless the environment says. */
#define NTB_BYPASS_READ_MAX 256

_Static_assert(offsetof(struct ntb_map_cmd, drv) == 144, "cmd layout");
_Static_assert(offsetof(struct ntb_map_resp, drv) == 8, "resp layout");

/* --- the MR table ---------------------------------------------------------- */

void ntb_mr_table_init(struct ntb_context *ctx)
{
	const char *e = getenv("NTBRDMA_BYPASS");
	char *end;
	unsigned long v;

	ctx->bypass = !(e && !strcmp(e, "0"));
	ctx->bypass_read_max = NTB_BYPASS_READ_MAX;
	ctx->bypass_write_max = NTB_MAX_MSG;
	e = getenv("NTBRDMA_BYPASS_READ_MAX");
	if (e && *e) {
		errno = 0;
		v = strtoul(e, &end, 0);
		if (!*end && !errno && v <= UINT32_MAX)
			ctx->bypass_read_max = (uint32_t)v;
	}
	pthread_rwlock_init(&ctx->mr_lock, NULL);
}

static unsigned int ntb_mr_bucket(uint32_t lkey)
{
	return (lkey ^ (lkey >> 8) ^ (lkey >> 16)) % NTB_MR_HASH;
}

void ntb_mr_table_add(struct ntb_context *ctx, struct ntb_mr *mr)
{
	unsigned int b = ntb_mr_bucket(mr->vmr.ibv_mr.lkey);

	pthread_rwlock_wrlock(&ctx->mr_lock);
	mr->next = ctx->mr_hash[b];
	ctx->mr_hash[b] = mr;
	pthread_rwlock_unlock(&ctx->mr_lock);
}

void ntb_mr_table_del(struct ntb_context *ctx, struct ntb_mr *mr)
{
	struct ntb_mr **pp = &ctx->mr_hash[ntb_mr_bucket(mr->vmr.ibv_mr.lkey)];

	pthread_rwlock_wrlock(&ctx->mr_lock);
	for (; *pp; pp = &(*pp)->next) {
		if (*pp == mr) {
			*pp = mr->next;
			break;
		}
	}
	pthread_rwlock_unlock(&ctx->mr_lock);
}

/*
 * Every SGE inside an MR of our table (registered at its own address: an
 * SGE address is then ours to dereference) in the QP's PD with the
 * access flags need (mr_lock held).
 */
bool ntb_sges_ok(struct ntb_context *ctx, struct ibv_pd *pd,
		 const struct ibv_send_wr *wr, int need)
{
	const struct ntb_mr *mr;
	const struct ibv_mr *m;
	uint64_t a, l;
	int i;

	for (i = 0; i < wr->num_sge; i++) {
		a = wr->sg_list[i].addr;
		l = wr->sg_list[i].length;
		for (mr = ctx->mr_hash[ntb_mr_bucket(wr->sg_list[i].lkey)]; mr;
		     mr = mr->next) {
			m = &mr->vmr.ibv_mr;
			if (m->lkey == wr->sg_list[i].lkey)
				break;
		}
		if (!mr || m->pd != pd || (mr->vmr.access & need) != need ||
		    a < (uintptr_t)m->addr || l > m->length ||
		    a - (uintptr_t)m->addr > m->length - l)
			return false;
	}
	return true;
}

/* --- peer MR mappings -------------------------------------------------- */

static uint32_t ntb_map_gen(struct ntb_qp *qp)
{
	/* Kernel-owned; pairs with its store-release before a revocation. */
	return __atomic_load_n(&qp->sq.ctrl->map_gen, __ATOMIC_ACQUIRE);
}

static void ntb_pmap_drop(struct ntb_pmap *m)
{
	if (m->addr)
		munmap(m->addr, m->len);
	memset(m, 0, sizeof(*m));
}

void ntb_bypass_qp_fini(struct ntb_qp *qp)
{
	int i;

	for (i = 0; i < NTB_PMAPS; i++)
		ntb_pmap_drop(&qp->pmap[i]);
}

/*
 * Ask the kernel for a mapping of rkey into slot m (dropped before):
 * writable, or read-only for READs.
 */
static void ntb_pmap_make(struct ntb_qp *qp, struct ntb_pmap *m, uint32_t rkey,
			  bool read)
{
	struct ibv_qp_attr attr;
	struct ntb_map_resp resp;
	struct ntb_map_cmd cmd;
	void *addr;

	memset(&cmd, 0, sizeof(cmd));
	memset(&resp, 0, sizeof(resp));
	memset(&attr, 0, sizeof(attr));
	cmd.drv.op = read ? NTBRDMA_QP_OP_MAP_PEER_MR_READ :
			    NTBRDMA_QP_OP_MAP_PEER_MR;
	cmd.drv.rkey = rkey;
	m->rkey = rkey;
	m->read = read;
	m->retry = NTB_PMAP_RETRY;
	if (ibv_cmd_modify_qp_ex(&qp->ibqp, &attr, 0, &cmd.ibv_cmd, sizeof(cmd),
				 &resp.ibv_resp, sizeof(resp)))
		return;
	if (!resp.drv.mmap_size || resp.drv.mmap_size > SIZE_MAX)
		return;
	addr = mmap(NULL, (size_t)resp.drv.mmap_size,
		    read ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
		    qp->ibqp.context->cmd_fd, (off_t)resp.drv.mmap_offset);
	if (addr == MAP_FAILED)
		return;
	m->addr = addr;
	m->iova = resp.drv.iova;
	m->len = resp.drv.mmap_size;
	m->gen = resp.drv.map_gen;
}

/*
 * Where [raddr, raddr + len) of rkey is mapped (read: read-only, for
 * READs), or NULL.  A mapping made under an older map_gen may have been
 * revoked: all of them go.
 */
static char *ntb_pmap_find(struct ntb_qp *qp, uint32_t rkey, bool read,
			   uint64_t raddr, uint64_t len, uint32_t *gen)
{
	struct ntb_pmap *m = NULL;
	int i;

	*gen = ntb_map_gen(qp);
	for (i = 0; i < NTB_PMAPS; i++) {
		if (qp->pmap[i].rkey == rkey && qp->pmap[i].read == read &&
		    (qp->pmap[i].addr || qp->pmap[i].retry)) {
			m = &qp->pmap[i];
			break;
		}
	}
	if (m && m->addr && m->gen != *gen) {
		ntb_bypass_qp_fini(qp);
		m = NULL;
	}
	if (m && !m->addr) {
		/* Refused before: ask again once in a while. */
		if (--m->retry)
			return NULL;
		ntb_pmap_drop(m);
		ntb_pmap_make(qp, m, rkey, read);
	} else if (!m) {
		m = &qp->pmap[qp->pmap_next++ % NTB_PMAPS];
		ntb_pmap_drop(m);
		ntb_pmap_make(qp, m, rkey, read);
	}
	if (!m->addr || m->gen != *gen || raddr < m->iova || len > m->len ||
	    raddr - m->iova > m->len - len)
		return NULL;
	return m->addr + (raddr - m->iova);
}

/* --- the WRITE --------------------------------------------------------- */

/*
 * Copy into the write-combining window: 16-byte non-temporal stores in
 * whole 64-byte lines where the destination allows (what fills a WC
 * buffer and leaves as one PCIe write), memcpy for the edges.  The caller
 * fences.  (Not plain memcpy: glibc picks `rep movsb` for mid sizes,
 * which is fast on CPUs with ERMS but not on every path to a window.)
 */
void ntb_copy_to_window(char *dst, const char *src, size_t len)
{
#if defined(__x86_64__) && defined(__SSE2__)
	size_t head = (64 - ((uintptr_t)dst & 63)) & 63;

	if (len < 128) {
		memcpy(dst, src, len);
		return;
	}
	memcpy(dst, src, head);
	dst += head;
	src += head;
	len -= head;
	for (; len >= 64; len -= 64, dst += 64, src += 64) {
		__m128i a = _mm_loadu_si128((const __m128i *)src);
		__m128i b = _mm_loadu_si128((const __m128i *)(src + 16));
		__m128i c = _mm_loadu_si128((const __m128i *)(src + 32));
		__m128i d = _mm_loadu_si128((const __m128i *)(src + 48));

		_mm_stream_si128((__m128i *)dst, a);
		_mm_stream_si128((__m128i *)(dst + 16), b);
		_mm_stream_si128((__m128i *)(dst + 32), c);
		_mm_stream_si128((__m128i *)(dst + 48), d);
	}
#endif
	memcpy(dst, src, len);
}

/*
 * What every bypassed WRITE and READ needs first: the bypass on, nothing
 * of the SQ left in the kernel (acquire: its completions are in the CQ
 * ring before `done` says so, and the WRITEs before a READ have landed,
 * as the responder would order them), between 1 and max bytes (*total).
 */
static bool ntb_bypass_may(struct ntb_qp *qp, const struct ibv_send_wr *wr,
			   uint64_t max, uint64_t *total)
{
	int i;

	if (!to_ctx(qp->ibqp.context)->bypass ||
	    __atomic_load_n(&qp->sq.ctrl->done, __ATOMIC_ACQUIRE) !=
		    qp->sq.prod)
		return false;
	*total = 0;
	for (i = 0; i < wr->num_sge; i++)
		*total += wr->sg_list[i].length;
	return *total && *total <= max;
}

/*
 * The completion of a bypassed wr (opcode, byte_len), if signalled: in
 * the CQ's private queue, or - the CQ armed, or its queue full - the
 * kernel's (NTB_BYPASS_DONE_CQE: posted with NTBRDMA_WQE_F_DONE, the
 * kernel makes it and raises the event).
 */
enum ntb_bypass_res ntb_bypass_complete(struct ntb_qp *qp,
					const struct ibv_send_wr *wr,
					uint32_t opcode, uint32_t byte_len)
{
	struct ntbrdma_cqe cqe;

	if (!(wr->send_flags & IBV_SEND_SIGNALED) && !qp->sq_sig_all)
		return NTB_BYPASS_DONE;
	memset(&cqe, 0, sizeof(cqe));
	cqe.wr_id = wr->wr_id;
	cqe.status = IBV_WC_SUCCESS;
	cqe.opcode = opcode;
	cqe.byte_len = byte_len;
	cqe.qp_num = qp->ibqp.qp_num;
	cqe.port_num = 1;
	if (!ntb_cq_priv_push(to_cq(qp->ibqp.send_cq), &cqe))
		return NTB_BYPASS_DONE_CQE;
	return NTB_BYPASS_DONE;
}

enum ntb_bypass_res ntb_bypass_write(struct ntb_qp *qp,
				     const struct ibv_send_wr *wr)
{
	struct ntb_context *ctx = to_ctx(qp->ibqp.context);
	bool signaled = (wr->send_flags & IBV_SEND_SIGNALED) || qp->sq_sig_all;
	uint64_t total;
	uint32_t gen;
	char *dst, *p;
	bool ok;
	int i;

	if (!ntb_bypass_may(qp, wr, ctx->bypass_write_max, &total))
		return NTB_BYPASS_NO;
	dst = ntb_pmap_find(qp, wr->wr.rdma.rkey, false,
			    wr->wr.rdma.remote_addr, total, &gen);
	if (!dst)
		return NTB_BYPASS_NO;
	/* Inline data is the application's memory, without keys. */
	if (!(wr->send_flags & IBV_SEND_INLINE)) {
		pthread_rwlock_rdlock(&ctx->mr_lock);
		ok = ntb_sges_ok(ctx, qp->ibqp.pd, wr, 0);
		if (!ok) {
			pthread_rwlock_unlock(&ctx->mr_lock);
			return NTB_BYPASS_NO;
		}
	}
	for (p = dst, i = 0; i < wr->num_sge; i++) {
		ntb_copy_to_window(p,
				   (const char *)(uintptr_t)wr->sg_list[i].addr,
				   wr->sg_list[i].length);
		p += wr->sg_list[i].length;
	}
	if (!(wr->send_flags & IBV_SEND_INLINE))
		pthread_rwlock_unlock(&ctx->mr_lock);
	/*
	 * The stores (write-combining, non-temporal) leave before anything
	 * that follows.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (signaled) {
		/* Read-back: returns once the posted stores reached the peer. */
		(void)*(volatile const char *)(p - 1);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	}
	/* Revoked meanwhile: stores may have gone to the scratch page. */
	if (ntb_map_gen(qp) != gen)
		return NTB_BYPASS_NO;
	return ntb_bypass_complete(qp, wr, IBV_WC_RDMA_WRITE, 0);
}

/* --- the READ ---------------------------------------------------------- */

enum ntb_bypass_res ntb_bypass_read(struct ntb_qp *qp,
				    const struct ibv_send_wr *wr)
{
	struct ntb_context *ctx = to_ctx(qp->ibqp.context);
	const char *src;
	uint64_t total;
	uint32_t gen;
	bool ok;
	int i;

	if (!ntb_bypass_may(qp, wr, ctx->bypass_read_max, &total))
		return NTB_BYPASS_NO;
	src = ntb_pmap_find(qp, wr->wr.rdma.rkey, true, wr->wr.rdma.remote_addr,
			    total, &gen);
	if (!src)
		return NTB_BYPASS_NO;
	pthread_rwlock_rdlock(&ctx->mr_lock);
	ok = ntb_sges_ok(ctx, qp->ibqp.pd, wr, IBV_ACCESS_LOCAL_WRITE);
	if (ok) {
		/*
		 * Loads through the window: each waits for its PCIe read,
		 * so they are in order with our earlier posted window
		 * stores (a read does not pass them: a bypassed WRITE before
		 * this READ is seen).
		 */
		for (i = 0; i < wr->num_sge; i++) {
			memcpy((char *)(uintptr_t)wr->sg_list[i].addr, src,
			       wr->sg_list[i].length);
			src += wr->sg_list[i].length;
		}
	}
	pthread_rwlock_unlock(&ctx->mr_lock);
	if (!ok)
		return NTB_BYPASS_NO;
	/*
	 * The loads before the map_gen load: if the kernel revoked the
	 * mapping before a load reached it (that load read the scratch
	 * page), its map_gen store, made before the zap, is seen below.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (ntb_map_gen(qp) != gen)
		return NTB_BYPASS_NO; /* the kernel reads it (again) */
	return ntb_bypass_complete(qp, wr, IBV_WC_RDMA_READ, (uint32_t)total);
}
