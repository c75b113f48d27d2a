// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: the operations around the verbs - direct writes to the
 * rings of raw CQs and QPs (indices, the kernel's own words, slots), kicks,
 * raw post commands, raw commands on random handles, mmap at offsets the
 * kernel did not give, mappings of peer MRs asked for, mapped and written
 * at random (RDMA WRITE from user space), and fork children that write the
 * rings they inherited and issue raw commands.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ufuzz.h"

/* --- CQs: the ring, written directly -------------------------------------- */

/* Write the ring of a raw CQ: indices (also the kernel's), armed, slots. */
void op_cq_ring(struct rng *r)
{
	struct cq_slot *c = &cqs[below(r, NCQ)];

	rd(&c->lk);
	if (c->kind == K_RAW && c->ring) {
		struct ntbrdma_cq_ctrl *ctl = c->ring;
		uint32_t v;

		switch (below(r, 6)) {
		case 0: /* cons anywhere */
			v = __atomic_load_n(&ctl->prod, __ATOMIC_RELAXED);
			__atomic_store_n(&ctl->cons,
					 chance(r, 50) ?
						 v - below(r, 2 * c->num) :
						 edgy32(r),
					 __ATOMIC_RELEASE);
			break;
		case 1: /* the kernel's prod and flags */
			__atomic_store_n(&ctl->prod, edgy32(r),
					 __ATOMIC_RELAXED);
			if (chance(r, 30))
				__atomic_store_n(&ctl->flags, edgy32(r),
						 __ATOMIC_RELAXED);
			break;
		case 2: /* armed: plausible or not */
			__atomic_store_n(&ctl->armed,
					 chance(r, 70) ? below(r, 3) :
							 edgy32(r),
					 __ATOMIC_SEQ_CST);
			break;
		case 3: /* slots */
			rfill(r,
			      (char *)c->ring + NTBRDMA_CQ_CQE_OFFSET +
				      below(r, c->num) *
					      sizeof(struct ntbrdma_cqe),
			      sizeof(struct ntbrdma_cqe));
			break;
		case 4: /* reserved words */
			ctl->reserved0[below(r, 14)] = edgy32(r);
			ctl->reserved2[below(r, 15)] = edgy32(r);
			break;
		default: /* arm through the command as well */
			__atomic_store_n(&ctl->armed, NTBRDMA_CQ_ARM_NEXT,
					 __ATOMIC_SEQ_CST);
			break;
		}
		count(OP_CQ_RING, 0);
	}
	un(&c->lk);
}

/* --- QPs: the rings, written directly -------------------------------------- */

static void rand_wqe_sges(struct rng *r, struct ntbrdma_sge *s, uint32_t n)
{
	uint32_t i;

	for (i = 0; i < n && i < NTBRDMA_MAX_SGE; i++) {
		struct ibv_sge g;

		rand_sge(r, &g, false);
		s[i].addr = g.addr;
		s[i].length = g.length;
		s[i].lkey = g.lkey;
	}
}

static void rand_send_wqe(struct rng *r, struct ntbrdma_send_wqe *w)
{
	struct ntbrdma_send_wqe t;

	if (chance(r, 10)) { /* pure garbage */
		rfill(r, &t, sizeof(t));
	} else {
		uint64_t addr = 0;
		uint32_t len = 0;

		memset(&t, 0, sizeof(t));
		t.wr_id = rnd(r);
		t.opcode = chance(r, 90) ? below(r, 8) : edgy32(r);
		t.flags = chance(r, 90) ? below(r, 16) : edgy32(r);
		if (t.flags & NTBRDMA_WQE_F_INLINE) {
			t.inline_len =
				chance(r, 80) ?
					below(r, NTBRDMA_MAX_INLINE + 1) :
					edgy32(r);
			rfill(r, t.d.inline_data, sizeof(t.d.inline_data));
		} else {
			t.num_sge = chance(r, 85) ? below(r, 5) : edgy32(r);
			rand_wqe_sges(r, t.d.sge, t.num_sge);
		}
		t.ex = (uint32_t)rnd(r);
		t.u.rdma.rkey = chance(r, 60) ? pick_live_key(r, &addr, &len) :
						pick_key(r);
		t.u.rdma.remote_addr = addr && chance(r, 90) ? addr : rnd(r);
		if (chance(r, 5))
			t.reserved0 = edgy32(r);
	}
	memcpy(w, &t, sizeof(t));
}

static void rand_recv_wqe(struct rng *r, struct ntbrdma_recv_wqe *w)
{
	struct ntbrdma_recv_wqe t;

	if (chance(r, 10)) {
		rfill(r, &t, sizeof(t));
	} else {
		memset(&t, 0, sizeof(t));
		t.wr_id = rnd(r);
		t.num_sge = chance(r, 85) ? below(r, 5) : edgy32(r);
		rand_wqe_sges(r, t.sge, t.num_sge);
	}
	memcpy(w, &t, sizeof(t));
}

/* A new prod: plausible (a few more), or anywhere. */
static uint32_t rand_prod(struct rng *r, atomic_uint *prod, uint32_t cons,
			  uint32_t num, uint32_t n)
{
	switch (below(r, 10)) {
	case 0:
		return edgy32(r);
	case 1:
		return cons + num + 1 + below(r, 4);
	case 2:
		return cons - 1 - below(r, 4);
	default:
		return atomic_fetch_add(prod, n) + n;
	}
}

/* SQ (sq) or RQ WQEs of random content, then prod, then maybe a kick. */
static void ring_post(struct rng *r, struct qp_slot *q, bool sq)
{
	struct ntbrdma_wq_ctrl *ctl = sq ? q->sq : q->rq;
	char *wqe = (char *)ctl + NTBRDMA_WQ_WQE_OFFSET;
	atomic_uint *prod = sq ? &q->sq_prod : &q->rq_prod;
	uint32_t num = sq ? q->sq_num : q->rq_num;
	uint32_t n = 1 + below(r, 8), i, cons, p;

	cons = __atomic_load_n(&ctl->cons, __ATOMIC_ACQUIRE);
	p = atomic_load(prod);
	for (i = 0; i < n; i++) {
		uint32_t slot = (p + i) & (num - 1);

		if (sq)
			rand_send_wqe(
				r,
				(void *)(wqe +
					 slot * sizeof(struct ntbrdma_send_wqe)));
		else
			rand_recv_wqe(
				r,
				(void *)(wqe +
					 slot * sizeof(struct ntbrdma_recv_wqe)));
	}
	__atomic_store_n(&ctl->prod, rand_prod(r, prod, cons, num, n),
			 __ATOMIC_RELEASE);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (chance(r, 70))
		raw_kick(q->handle, sq);
}

void op_ring_write(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	struct ntbrdma_wq_ctrl *sc, *rc;
	uint32_t cons;

	rd(&q->lk);
	if (q->kind != K_RAW || !q->sq) {
		un(&q->lk);
		return;
	}
	sc = q->sq;
	rc = q->rq;
	switch (below(r, 8)) {
	case 0:
	case 1:
	case 2:
		ring_post(r, q, true);
		break;
	case 3:
	case 4:
		ring_post(r, q, false);
		break;
	case 5: /* the kernel's words */
		sc = chance(r, 50) ? sc : rc;
		switch (below(r, 4)) {
		case 0:
			sc->cons = edgy32(r);
			break;
		case 1:
			sc->qp_state = chance(r, 50) ? below(r, 7) : edgy32(r);
			break;
		case 2:
			sc->engine = edgy32(r);
			break;
		default: /* the inbox's and eager messages' words */
			switch (below(r, 5)) {
			case 0:
				sc->inbox_gen = edgy32(r);
				break;
			case 1:
				sc->rx_next = (uint64_t)edgy32(r) << 32 |
					      edgy32(r);
				break;
			case 2:
				sc->eager_next = (uint64_t)edgy32(r) << 32 |
						 edgy32(r);
				break;
			case 3:
				sc->rx_epoch = edgy32(r);
				break;
			default:
				sc->rx_taken = (uint64_t)edgy32(r) << 32 |
					       edgy32(r);
				break;
			}
			break;
		}
		break;
	case 6: /* a slot somewhere, garbage, no index change */
		rfill(r,
		      (char *)q->sq + NTBRDMA_WQ_WQE_OFFSET +
			      below(r, q->sq_num) *
				      sizeof(struct ntbrdma_send_wqe),
		      sizeof(struct ntbrdma_send_wqe));
		break;
	default: /* rewrite a slot the kernel may be reading now */
		cons = __atomic_load_n(&sc->cons, __ATOMIC_ACQUIRE);
		rand_send_wqe(
			r, (void *)((char *)q->sq + NTBRDMA_WQ_WQE_OFFSET +
				    (cons & (q->sq_num - 1)) *
					    sizeof(struct ntbrdma_send_wqe)));
		break;
	}
	count(OP_RING_WRITE, 0);
	un(&q->lk);
}

void op_kick(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];

	rd(&q->lk);
	if (q->kind == K_RAW)
		count(OP_KICK, raw_kick(q->handle, chance(r, 60)));
	else if (q->kind == K_IBV)
		count(OP_KICK, raw_kick(q->qp->handle, chance(r, 60)));
	un(&q->lk);
}

void op_raw_post(struct rng *r)
{
	struct qp_slot *q = &qps[below(r, NQP)];
	uint32_t h = (uint32_t)rnd(r) & 63;

	rd(&q->lk);
	if (q->kind == K_RAW)
		h = q->handle;
	else if (q->kind == K_IBV && chance(r, 50))
		h = q->qp->handle;
	count(OP_RAW_POST, raw_post_random(r, h));
	un(&q->lk);
}

/*
 * A raw command on a random handle: modify, resize, kick.  It may hit
 * one of our objects, provider ones included (the provider then sees
 * errors on its own calls: allowed, they are errors).  Nothing is
 * destroyed by a random handle, here or in a fork child: only the handles
 * of raw slots, under their locks (see op_cq_destroy_raw), so every
 * handle in the tables is its object's and teardown can destroy each one
 * (libibverbs' destroy of a handle taken from it and reused meanwhile
 * would destroy another object).
 */
void op_raw_stray(struct rng *r)
{
	uint32_t h = (uint32_t)rnd(r) & 63;
	struct ntbrdma_resize_cq_resp drv;
	struct ibv_qp_attr a;
	int mask, err;

	switch (below(r, 3)) {
	case 0:
		rand_attr(r, &a, &mask);
		err = raw_modify(h, &a, mask);
		break;
	case 1:
		wr(&ring_map_lk);
		err = raw_resize_cq(h, cq_size(r), &drv);
		un(&ring_map_lk);
		break;
	default:
		err = raw_kick(h, chance(r, 50));
		break;
	}
	count(OP_RAW_STRAY, err);
}

/* mmap at offsets we were not given, and beyond a ring's size. */
void op_mmap(struct rng *r)
{
	size_t len = (1 + below(r, 8)) * 4096ul;
	off_t off = (off_t)((rnd(r) & 0xffff) * 4096ul);
	void *p;

	if (chance(r, 30))
		off = (off_t)(edgy32(r) & ~4095u);
	p = mmap(NULL, len, PROT_READ | (chance(r, 50) ? PROT_WRITE : 0),
		 MAP_SHARED, cmd_fd, off);
	count(OP_MMAP, p == MAP_FAILED ? errno : 0);
	if (p != MAP_FAILED)
		munmap(p, len);
}

/*
 * A peer MR key as an application would have it from its peer: one the
 * kernel lists in debugfs rmr (the fuzzer runs as root), else any key.
 * For the anchor QP mostly one of the peer anchor's PD (the PD the entry
 * of the key the peer sent at the start names): the peer registers its
 * anchor MR again and again, and only those keys can be granted there.
 */
static uint32_t peer_key(struct rng *r, bool anchor)
{
	static _Atomic uint32_t anchor_pd = UINT32_MAX;
	uint32_t keys[64], mine[64], n = 0, m = 0, k, pd;
	char line[256];
	FILE *f;

	f = fopen("/sys/kernel/debug/ntbrdma_ib/ntbrdma0/rmr", "r");
	while (f && n < 64 && fgets(line, sizeof(line), f)) {
		const char *p = strstr(line, " pd=");

		if (sscanf(line, "rkey=%x", &k) != 1)
			continue;
		keys[n++] = k;
		if (!p || sscanf(p, " pd=%u", &pd) != 1)
			continue;
		if (k == anchor_peer_rkey())
			atomic_store(&anchor_pd, pd);
		if (pd == atomic_load(&anchor_pd))
			mine[m++] = k;
	}
	if (f)
		fclose(f);
	if (anchor && m && chance(r, 80))
		return mine[below(r, m)];
	return n && chance(r, 70) ? keys[below(r, n)] : pick_key(r);
}

/*
 * RDMA WRITE and READ from user space as a hostile process does them: a
 * mapping of a peer MR (writable, or read-only for READs) asked for on
 * any QP with any key (or op), mmap()ed with wrong sizes and flags at
 * times, written (a writable one) and read at random, unmapped.  Only
 * errors may come back; the stores land in the peer's MR, in the sink
 * page after a revocation, or nowhere.  A read-only one must refuse
 * PROT_WRITE, at mmap() and at mprotect().
 */
void op_map_peer(struct rng *r)
{
	struct ntbrdma_modify_qp_resp drv;
	struct qp_slot *q = &qps[below(r, NQP)];
	uint32_t op = chance(r, 10) ? edgy32(r) :
		      chance(r, 50) ? NTBRDMA_QP_OP_MAP_PEER_MR_READ :
				      NTBRDMA_QP_OP_MAP_PEER_MR;
	bool ro = op == NTBRDMA_QP_OP_MAP_PEER_MR_READ;
	uint32_t handle = edgy32(r);
	size_t len, n, off;
	char *p;
	int err;

	rd(&q->lk);
	if (q->kind == K_RAW)
		handle = q->handle;
	else if (q->kind == K_IBV)
		handle = q->qp->handle;
	un(&q->lk);
	bool anchor = anchor_qp() && chance(r, 50);

	if (anchor)
		handle = anchor_qp()->handle;
	err = raw_map_peer(handle, op, peer_key(r, anchor), &drv);
	count(OP_MAP_PEER, err);
	atomic_fetch_add(err == ENOENT			? &st_map_noent :
			 err == EACCES || err == ERANGE ? &st_map_acces :
			 err				? &st_map_inval :
							  &st_map_mapped,
			 1);
	if (err || !drv.mmap_size || drv.mmap_size > (1ull << 30))
		return;
	len = (size_t)drv.mmap_size + (chance(r, 10) ? 4096 : 0);
	if (ro && chance(r, 20)) {
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, cmd_fd,
			 (off_t)drv.mmap_offset);
		if (p != MAP_FAILED) {
			failure("a READ mapping mapped writable");
			munmap(p, len);
		}
		return;
	}
	p = mmap(NULL, len,
		 PROT_READ | (ro ? 0 : PROT_WRITE) |
			 (chance(r, 5) ? PROT_EXEC : 0),
		 chance(r, 10) ? MAP_PRIVATE : MAP_SHARED, cmd_fd,
		 (off_t)drv.mmap_offset);
	if (p == MAP_FAILED)
		return;
	n = len < 65536 ? len : 65536;
	off = below(r, (uint32_t)n);
	if (ro && !mprotect(p, len, PROT_READ | PROT_WRITE))
		failure("a READ mapping made writable by mprotect");
	else if (!ro)
		rfill(r, p + off, 1 + below(r, (uint32_t)(n - off)));
	if (chance(r, 30))
		(void)*(volatile char *)(p + below(r, (uint32_t)n));
	munmap(p, len);
}

/* --- fork ------------------------------------------------------------------ */

static sigjmp_buf child_jmp;

static void child_segv(int sig)
{
	(void)sig;
	siglongjmp(child_jmp, 1);
}

/*
 * The child inherits the context's fd and the ring mappings; it uses only
 * system calls (no malloc, no stdio, no libibverbs: another thread may
 * hold their locks), writes rings it inherited (a fault there ends it:
 * mappings need not be inherited), issues kicks and posts on random
 * handles and exits.  uverbs refuses write() commands from a process
 * whose credentials are not the opener's (a forked child has its own:
 * EACCES, and the kernel logs "changed security contexts" once), so the
 * commands test that refusal.  Its exit status is how many of them
 * passed (0..CHILD_CMDS), or CHILD_FAULTED: nothing shared with the parent
 * counts them, because the stale ring addresses it writes through may be
 * the parent's newer mappings, a shared counter's among them.
 */
static void child_main(struct rng *r)
{
	volatile int accepted = 0; /* kept across the siglongjmp */
	struct sigaction sa;
	int i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = child_segv;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	if (sigsetjmp(child_jmp, 1))
		_exit(CHILD_FAULTED);
	for (i = 0; i < CHILD_CMDS; i++) {
		struct qp_slot *q = &qps[below(r, NQP)];
		void *sq = q->sq;
		int err = -1;

		switch (below(r, 3)) {
		case 0:
			if (q->kind == K_RAW && sq) {
				__atomic_store_n(
					&((struct ntbrdma_wq_ctrl *)sq)->prod,
					edgy32(r), __ATOMIC_RELEASE);
				err = raw_kick(q->handle, true);
			}
			break;
		case 1:
			err = raw_kick((uint32_t)rnd(r) & 63, chance(r, 50));
			break;
		default:
			err = raw_post_random(r, (uint32_t)rnd(r) & 63);
			break;
		}
		if (!err)
			accepted++;
	}
	_exit(accepted);
}

void op_fork(struct rng *r)
{
	struct rng cr = { rnd(r) };
	double t0;
	pid_t pid;
	int status;

	pid = fork();
	if (pid < 0) {
		count(OP_FORK, errno);
		return;
	}
	if (!pid)
		child_main(&cr);
	t0 = now_s();
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (now_s() - t0 > CHILD_S) {
			failure("fork child %d did not exit within %.0f s",
				(int)pid, CHILD_S);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			count(OP_FORK, ETIMEDOUT);
			return;
		}
		usleep(2000);
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == CHILD_FAULTED) {
		atomic_fetch_add(&st_child_segv, 1);
	} else if (WIFEXITED(status) && WEXITSTATUS(status) <= CHILD_CMDS) {
		atomic_fetch_add(&st_child_ok, 1);
		atomic_fetch_add(&st_child_cmd_ok,
				 (unsigned long)WEXITSTATUS(status));
	} else {
		failure("fork child: status 0x%x", status);
	}
	count(OP_FORK, 0);
}
