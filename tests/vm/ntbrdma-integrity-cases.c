// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-integrity: the pattern and its verification, and one case on all
 * QPs: posting, polling with deadlines, verifying (see ntbrdma-integrity.c).
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ntbrdma-integrity.h"

static int verifications;

/* The pattern: one key per (seed, iteration, case, QP, op); pbyte(). */
static uint64_t pkey(int iter, int ci, int qp, int op)
{
	return mix64(((uint64_t)opt.seed << 32) ^
		     mix64((uint64_t)iter << 40 | (uint64_t)ci << 16 |
			   (uint64_t)qp << 4 | (uint64_t)op));
}

static uint8_t poison(uint64_t key)
{
	return (uint8_t)(mix64(~key) | 1) ^ 0x80;
}

/*
 * Scatter len bytes over n SGEs of uneven lengths (weights 1..n, or n..1
 * if rev) starting at off, with gaps of 1..11 bytes between them.
 */
void layout(struct sgl *l, size_t len, int n, size_t off, bool rev)
{
	size_t sumw, done = 0, pos = off;
	int i;

	if ((size_t)n > len)
		n = (int)len;
	if (n < 1)
		n = 1;
	sumw = (size_t)n * (n + 1) / 2;
	l->n = n;
	for (i = 0; i < n; i++) {
		size_t w = rev ? (size_t)(n - i) : (size_t)(i + 1);

		l->len[i] = 1 + (len - n) * w / sumw;
		done += l->len[i];
	}
	l->len[n - 1] += len - done;
	for (i = 0; i < n; i++) {
		l->pos[i] = pos;
		pos += l->len[i] + (n > 1 ? 1 + (i * 5) % 11 : 0);
	}
}

static size_t sgl_end(const struct sgl *l)
{
	return l->pos[l->n - 1] + l->len[l->n - 1];
}

void fill(uint8_t *area, const struct sgl *l, uint64_t key)
{
	size_t o = 0;
	int i;

	for (i = 0; i < l->n; i++) {
		uint8_t *p = area + l->pos[i];
		size_t j;

		for (j = 0; j < l->len[i]; j++, o++)
			p[j] = pbyte(key, o);
	}
}

static void poison_area(uint8_t *area, const struct sgl *l, uint64_t key)
{
	memset(area, poison(key), sgl_end(l) + GUARD);
}

/*
 * Every byte of the message where l puts it, and every byte around and
 * between (from the area's start to GUARD past the end) still poison.
 */
static void verify(uint8_t *area, const struct sgl *l, uint64_t key,
		   struct result *r, const char *what)
{
	size_t o = 0, bad = 0, first_o = 0, first_p = 0, prev = 0, p;
	uint8_t first_exp = 0, first_got = 0, pz = poison(key);
	bool guard_bad = false;
	int i;

	if (opt.corrupt && verifications++ == opt.corrupt_at) {
		size_t at = opt.corrupt == 1 ?
				    l->pos[l->n - 1] + l->len[l->n - 1] / 2 :
				    sgl_end(l) + GUARD / 2;

		area[at] ^= 0x10;
		printf("# --corrupt: flipped one %s byte of %s at area offset %zu\n",
		       opt.corrupt == 1 ? "data" : "guard", what, at);
	}
	for (i = 0; i < l->n; i++) {
		for (p = prev; p < l->pos[i]; p++)
			if (area[p] != pz && !bad++) {
				first_p = p, first_exp = pz;
				first_got = area[p], guard_bad = true;
			}
		for (p = l->pos[i]; p < l->pos[i] + l->len[i]; p++, o++) {
			uint8_t e = pbyte(key, o);

			if (area[p] != e && !bad++) {
				first_o = o, first_p = p;
				first_exp = e, first_got = area[p];
			}
		}
		prev = p;
	}
	for (p = prev; p < prev + GUARD; p++)
		if (area[p] != pz && !bad++) {
			first_p = p, first_exp = pz;
			first_got = area[p], guard_bad = true;
		}
	if (bad) {
		if (guard_bad)
			rset(r, false,
			     "%s: %zu bad bytes, first outside the data at area offset %zu (poison 0x%02x, got 0x%02x)",
			     what, bad, first_p, first_exp, first_got);
		else
			rset(r, false,
			     "%s: %zu bad bytes, first at message offset %zu (area offset %zu): expected 0x%02x, got 0x%02x",
			     what, bad, first_o, first_p, first_exp, first_got);
	}
}

/* Where the initiator's SGEs, the remote offset and the receiver's lie. */
void case_layout(const struct tcase *c, int qp, int max_sge, int max_rsge,
		 struct sgl *il, size_t *roff, struct sgl *rl)
{
	size_t lo = c->var ? 1 + (c->ci + qp) % 7 : 0;
	size_t ro = c->var ? 1 + (c->ci * 3 + qp + 2) % 7 : 0;
	int n = c->var == 2 ? max_sge : 1, rn = c->var == 2 ? max_rsge : 1;

	layout(il, c->len, n, lo, false);
	*roff = ro;
	layout(rl, c->len, rn, ro, true); /* SEND: other boundaries */
}

uint64_t case_key(const struct tcase *c, int qp)
{
	return pkey(c->iter, c->ci, qp, c->op);
}

static void post_send(struct qpres *q, struct ibv_send_wr *wr, struct result *r)
{
	struct ibv_send_wr *bad = NULL;
	int rc = ibv_post_send(q->qp, wr, &bad);

	if (rc)
		rset(r, true, "ibv_post_send (QP 0x%x, opcode %d): %s",
		     q->qp->qp_num, wr->opcode, strerror(rc));
}

static void post_recv(struct qpres *q, struct ibv_recv_wr *wr, struct result *r)
{
	struct ibv_recv_wr *bad = NULL;
	int rc = ibv_post_recv(q->qp, wr, &bad);

	if (rc)
		rset(r, true, "ibv_post_recv (QP 0x%x): %s", q->qp->qp_num,
		     strerror(rc));
}

void to_sge(struct ibv_sge *sg, const struct sgl *l, uint8_t *base,
	    struct ibv_mr *mr)
{
	int i;

	for (i = 0; i < l->n; i++) {
		sg[i].addr = (uintptr_t)(base + l->pos[i]);
		sg[i].length = (uint32_t)l->len[i];
		sg[i].lkey = mr->lkey;
	}
}

/*
 * Poll cq until want completions have come (each one checked: status,
 * opcode, wr_id, QP, imm, byte_len), or the deadline passes.  got[] counts
 * per QP.
 */
void wait_cq(struct side *s, struct ibv_cq *cq, int want, const struct tcase *c,
	     double tmo, struct result *r, bool recv)
{
	double end = now_s() + tmo;
	int n = 0;

	while (n < want) {
		struct ibv_wc wc[16];
		int k = ibv_poll_cq(cq, 16, wc), i;

		if (k < 0) {
			rset(r, true, "ibv_poll_cq: %d", k);
			return;
		}
		for (i = 0; i < k; i++) {
			unsigned int kind = wc[i].wr_id & 0xf;
			unsigned int qp = (wc[i].wr_id >> 4) & 0xfff;
			uint32_t tag = (uint32_t)(wc[i].wr_id >> 16);
			enum ibv_wc_opcode exp;

			if (wc[i].status != IBV_WC_SUCCESS) {
				rset(r, true,
				     "%s: work completion error on QP 0x%x (wr_id 0x%llx, opcode %d): %s (vendor_err 0x%x)",
				     s->name, wc[i].qp_num,
				     (unsigned long long)wc[i].wr_id,
				     wc[i].opcode,
				     ibv_wc_status_str(wc[i].status),
				     wc[i].vendor_err);
				continue;
			}
			if (tag != c->tag || (int)qp >= opt.qps ||
			    wc[i].qp_num != s->q[qp].qp->qp_num) {
				rset(r, true,
				     "%s: unexpected completion wr_id 0x%llx on QP 0x%x",
				     s->name, (unsigned long long)wc[i].wr_id,
				     wc[i].qp_num);
				continue;
			}
			exp = kind == K_RECV	? IBV_WC_RECV :
			      kind == K_IMM	? IBV_WC_SEND :
			      c->op == OP_WRITE ? IBV_WC_RDMA_WRITE :
			      c->op == OP_READ	? IBV_WC_RDMA_READ :
						  IBV_WC_SEND;
			if (wc[i].opcode != exp)
				rset(r, true,
				     "%s QP %u: opcode %d, expected %d",
				     s->name, qp, wc[i].opcode, exp);
			if (recv && c->op == OP_WRITE &&
			    (!(wc[i].wc_flags & IBV_WC_WITH_IMM) ||
			     ntohl(wc[i].imm_data) != c->tag ||
			     wc[i].byte_len != 0))
				rset(r, true,
				     "%s QP %u: SEND_WITH_IMM arrived with flags 0x%x imm 0x%x len %u, expected imm 0x%x len 0",
				     s->name, qp, wc[i].wc_flags,
				     ntohl(wc[i].imm_data), wc[i].byte_len,
				     c->tag);
			if (recv && c->op == OP_SEND &&
			    (wc[i].byte_len != c->len ||
			     (wc[i].wc_flags & IBV_WC_WITH_IMM)))
				rset(r, false,
				     "%s QP %u: RECV byte_len %u, expected %zu",
				     s->name, qp, wc[i].byte_len, c->len);
		}
		n += k;
		if (n >= want)
			break;
		if (now_s() > end) {
			rset(r, true,
			     "%s: timeout: %d of %d %s completions within %.0f s",
			     s->name, n, want, recv ? "receive" : "send", tmo);
			return;
		}
		if (!k)
			usleep(50);
	}
}

/* Target before the initiator starts: poison, fill, post receives. */
void t_prepare(struct side *s, const struct side *peer, const struct tcase *c,
	       struct result *r)
{
	int i;

	for (i = 0; i < opt.qps; i++) {
		struct qpres *q = &s->q[i];
		uint64_t key = case_key(c, i);
		struct sgl il, rl, cl;
		struct ibv_sge sg[MAX_SGE];
		struct ibv_recv_wr wr = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_RECV,
			.sg_list = sg,
		};
		size_t ro;

		case_layout(c, i, peer->sge_send, s->sge_recv, &il, &ro, &rl);
		layout(&cl, c->len, 1, ro, false);
		switch (c->op) {
		case OP_WRITE:
			poison_area(q->buf + AREA, &cl, key);
			sg[0].addr = (uintptr_t)(q->buf + 2 * AREA);
			sg[0].length = SCRATCH;
			sg[0].lkey = q->mr->lkey;
			wr.num_sge = 1;
			post_recv(q, &wr, r);
			break;
		case OP_READ:
			poison_area(q->buf, &cl, ~key);
			fill(q->buf, &cl, key);
			break;
		case OP_SEND:
			poison_area(q->buf + AREA, &rl, key);
			to_sge(sg, &rl, q->buf + AREA, q->mr);
			wr.num_sge = rl.n;
			post_recv(q, &wr, r);
			break;
		}
	}
}

/* Initiator: fill, post on every QP, wait, and for READ verify. */
void i_run(struct side *s, const struct side *peer, const struct hello *rh,
	   const struct tcase *c, struct result *r)
{
	int i, want = 0;

	for (i = 0; i < opt.qps && r->ok; i++) {
		struct qpres *q = &s->q[i];
		uint64_t key = case_key(c, i);
		struct sgl il, rl;
		struct ibv_sge sg[MAX_SGE];
		struct ibv_send_wr imm = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_IMM,
			.opcode = IBV_WR_SEND_WITH_IMM,
			.send_flags = IBV_SEND_SIGNALED,
			.imm_data = htonl(c->tag),
		};
		struct ibv_send_wr wr = {
			.wr_id = (uint64_t)c->tag << 16 | i << 4 | K_DATA,
			.sg_list = sg,
			.send_flags = IBV_SEND_SIGNALED,
		};
		size_t ro;

		case_layout(c, i, c->op == OP_READ ? s->sge_rd : s->sge_send,
			    peer->sge_recv, &il, &ro, &rl);
		to_sge(sg, &il, q->buf + (c->op == OP_READ ? AREA : 0), q->mr);
		wr.num_sge = il.n;
		switch (c->op) {
		case OP_WRITE:
			fill(q->buf, &il, key);
			wr.opcode = IBV_WR_RDMA_WRITE;
			wr.wr.rdma.remote_addr = rh->q[i].addr + AREA + ro;
			wr.wr.rdma.rkey = rh->q[i].rkey;
			wr.next = &imm; /* after the data: "done" */
			want += 2;
			break;
		case OP_READ:
			poison_area(q->buf + AREA, &il, key);
			wr.opcode = IBV_WR_RDMA_READ;
			wr.wr.rdma.remote_addr = rh->q[i].addr + ro;
			wr.wr.rdma.rkey = rh->q[i].rkey;
			want++;
			break;
		case OP_SEND:
			fill(q->buf, &il, key);
			wr.opcode = IBV_WR_SEND;
			want++;
			break;
		}
		post_send(q, &wr, r);
	}
	if (!r->ok)
		return;
	wait_cq(s, s->scq, want, c, opt.timeout_s, r, false);
	if (!r->ok || c->op != OP_READ)
		return;
	for (i = 0; i < opt.qps; i++) {
		struct sgl il, rl;
		size_t ro;
		char what[64];

		case_layout(c, i, s->sge_rd, peer->sge_recv, &il, &ro, &rl);
		snprintf(what, sizeof(what), "%s QP %d read data", s->name, i);
		verify(s->q[i].buf + AREA, &il, case_key(c, i), r, what);
	}
}

/* Target after: wait for the receives, verify what arrived. */
void t_finish(struct side *s, const struct side *peer, const struct tcase *c,
	      struct result *r)
{
	int i;

	if (c->op == OP_READ)
		return;
	wait_cq(s, s->rcq, opt.qps, c, opt.timeout_s, r, true);
	if (!r->ok)
		return;
	for (i = 0; i < opt.qps; i++) {
		struct sgl il, rl, cl;
		size_t ro;
		char what[64];

		case_layout(c, i, peer->sge_send, s->sge_recv, &il, &ro, &rl);
		layout(&cl, c->len, 1, ro, false);
		snprintf(what, sizeof(what), "%s QP %d %s data", s->name, i,
			 c->op == OP_WRITE ? "written" : "received");
		verify(s->q[i].buf + AREA, c->op == OP_WRITE ? &cl : &rl,
		       case_key(c, i), r, what);
	}
}
