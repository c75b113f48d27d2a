// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-eager-test: eager messages (Documentation/rdma-datapath.md,
 * "Stage B"), for tests/vm/ntbrdma-eager.sh.
 *
 *   ntbrdma-eager-test server DEV PORT       the responder, on one host
 *   ntbrdma-eager-test client DEV IP PORT    the requester, on the other
 *
 * Phase 1, integrity around the eager threshold (NTBRDMA_EAGER_MAX, 1 KiB):
 * 60 SENDs and SENDs with immediate of 0 B to 4 KiB (the sizes around
 * 1024 among them), some inline, some from two SGEs, each into its own
 * receive of 4 KiB: every receive completes in order with its wr_id,
 * opcode, length, immediate and bytes, and nothing beyond the length is
 * written.  Then NORD rounds of an RDMA WRITE of 64 KiB followed by an
 * 8-byte SEND: when the SEND's receive completes, the WRITE's bytes are
 * there (IB orders them).
 *
 * Phase 2, a hostile requester (white-box: the client reaches the
 * provider's mapping of the server's inbox through the provider's own
 * header, as a process writing its mapping directly - or a hostile peer
 * host - could): after one real eager SEND (receive 0, 16 bytes), the
 * client forges slots for receives 1..3 - an eager message of 5000
 * bytes for a 256-byte receive, a genuine-looking one of 200 bytes, an
 * "eager RDMA_WRITE_WITH_IMM" (no such thing) - writes garbage over the
 * server's status page and a slot of a future epoch.  The server must
 * complete receive 0 with its bytes, 1 with IBV_WC_LOC_LEN_ERR, 2 with
 * its 200 bytes, 3 with IBV_WC_LOC_PROT_ERR (its QP then goes to ERR),
 * 4..7 with IBV_WC_WR_FLUSH_ERR, and write nothing outside what the
 * successful receives hold.
 *
 * The client prints "eager: mapped" when its provider mapped the
 * server's inbox (the script checks the counters of both kernels).
 * Every check prints "ok - ..." or "FAIL - ..."; the exit code is 0 only
 * if all passed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ntbrdma-rc.h"
#include "ntbrdma_qp.h" /* the provider's: phase 2 writes its mapping */

#define NMSG 60 /* the RQ holds 64 */
#define RSLOT 8192u /* receive i of phase 1 at dst + i * RSLOT */
#define RLEN 4096u
#define NORD 20
#define WR_AT (1792u << 10) /* phase 1's WRITEs land here */
#define WR_LEN (64u << 10)
#define NHOST 8 /* phase 2's receives, 256 bytes, RSLOT apart */
#define HLEN 256u

static const uint32_t sizes[] = { 0,	1,    63,   64,	  256,	512,
				  1000, 1023, 1024, 1025, 2048, 4096 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static uint32_t msg_len(int i)
{
	return sizes[i % NSIZES];
}

static bool msg_imm(int i)
{
	return i % 3 == 1;
}

static void post_recvs(struct env *e, struct ibv_qp *qp, int n, uint32_t len,
		       uint64_t id0, const char *what)
{
	int i, bad = 0;

	for (i = 0; i < n; i++) {
		struct ibv_sge sge = { (uintptr_t)e->dst + (size_t)i * RSLOT,
				       len, e->dmr->lkey };

		bad |= post_recv(qp, id0 + i, &sge, 1);
	}
	CHECK(!bad, "%s: %d receives posted", what, n);
}

/* Bytes [from, to) of dst are all zero. */
static bool zero(const unsigned char *p, size_t from, size_t to)
{
	for (; from < to; from++)
		if (p[from])
			return false;
	return true;
}

/* --- phase 1 ------------------------------------------------------------ */

static void send1(struct peer *p)
{
	struct env *e = &p->e;
	struct ibv_wc wc;
	int i, bad = 0;

	for (i = 0; i < NMSG && !bad; i++) {
		uint32_t len = msg_len(i), half = len / 2;
		unsigned char *s = e->src + (size_t)i * RSLOT;
		struct ibv_sge sge[2] = {
			{ (uintptr_t)s, len, e->smr->lkey },
			{ (uintptr_t)s + half, len - half, e->smr->lkey },
		};
		unsigned int flags = IBV_SEND_SIGNALED;
		int nsge = 1;

		fill(s, len, 1000 + i);
		if (i % 4 == 2 && len <= 256)
			flags |= IBV_SEND_INLINE;
		else if (i % 4 == 3 && len > 1) {
			sge[0].length = half;
			nsge = 2;
		}
		bad = post_rdma(p->qp,
				msg_imm(i) ? IBV_WR_SEND_WITH_IMM : IBV_WR_SEND,
				i, sge, nsge, 0, 0, 0xe0000000u + i, flags) ||
		      wait_wc(e->scq, &wc) || wc.status != IBV_WC_SUCCESS ||
		      wc.wr_id != (uint64_t)i;
	}
	CHECK(!bad, "phase 1: %d SENDs of 0 B to 4 KiB completed", i);
}

static void check1(struct peer *p)
{
	struct env *e = &p->e;
	unsigned char want[RLEN];
	struct ibv_wc wc;
	int i, bad = -1;

	for (i = 0; i < NMSG && bad < 0; i++) {
		uint32_t len = msg_len(i);
		const unsigned char *d = e->dst + (size_t)i * RSLOT;

		fill(want, len, 1000 + i);
		if (wait_wc(e->rcq, &wc) || wc.wr_id != (uint64_t)i ||
		    wc.status != IBV_WC_SUCCESS || wc.opcode != IBV_WC_RECV ||
		    wc.byte_len != len ||
		    !!(wc.wc_flags & IBV_WC_WITH_IMM) != msg_imm(i) ||
		    (msg_imm(i) && ntohl(wc.imm_data) != 0xe0000000u + i) ||
		    memcmp(d, want, len) || !zero(d, len, RSLOT))
			bad = i;
	}
	CHECK(bad < 0,
	      "phase 1: %d receives in order, lengths, immediates and bytes right, nothing beyond (first bad: %d)",
	      NMSG, bad);
}

static void send_ord(struct peer *p)
{
	struct env *e = &p->e;
	struct ibv_sge w = { (uintptr_t)e->src + WR_AT, WR_LEN, e->smr->lkey };
	struct ibv_sge s = { (uintptr_t)e->src, 8, e->smr->lkey };
	struct ibv_wc wc;
	int i, bad = 0;

	for (i = 0; i < NORD && !bad; i++) {
		fill(e->src + WR_AT, WR_LEN, 5000 + i);
		bad = post_rdma(p->qp, IBV_WR_RDMA_WRITE, 1000 + i, &w, 1,
				p->them.addr + WR_AT, p->them.rkey, 0,
				IBV_SEND_SIGNALED) ||
		      post_rdma(p->qp, IBV_WR_SEND, 2000 + i, &s, 1, 0, 0, 0,
				IBV_SEND_SIGNALED) ||
		      wait_wc(e->scq, &wc) || wc.status != IBV_WC_SUCCESS ||
		      wc.wr_id != (uint64_t)(1000 + i) ||
		      wait_wc(e->scq, &wc) || wc.status != IBV_WC_SUCCESS ||
		      wc.wr_id != (uint64_t)(2000 + i);
		/* The server checks the WRITE, then we go on. */
		bad |= barrier(p->fd);
	}
	CHECK(!bad, "phase 1: %d WRITE + SEND rounds sent", i);
}

static void check_ord(struct peer *p)
{
	struct env *e = &p->e;
	unsigned char *want = malloc(WR_LEN);
	struct ibv_wc wc;
	int i, bad = -1;

	for (i = 0; i < NORD && want; i++) {
		fill(want, WR_LEN, 5000 + i);
		if (bad < 0 &&
		    (wait_wc(e->rcq, &wc) || wc.status != IBV_WC_SUCCESS ||
		     wc.byte_len != 8 || memcmp(e->dst + WR_AT, want, WR_LEN)))
			bad = i;
		if (barrier(p->fd))
			break;
	}
	CHECK(want && bad < 0 && i == NORD,
	      "phase 1: every WRITE's bytes there when the SEND after it completed (first bad: %d)",
	      bad);
	free(want);
}

/* --- phase 2 ------------------------------------------------------------ */

static struct ntbrdma_inbox_ent *peer_slot(struct ntb_qp *q, uint32_t n)
{
	return (struct ntbrdma_inbox_ent *)q->pin.base +
	       (n & ((1U << q->pin.order) - 1));
}

static char *peer_payload(struct ntb_qp *q, uint32_t n)
{
	return q->pin.base + NTBRDMA_INBOX_PAYLOAD_OFF(q->pin.order) +
	       (size_t)(n & ((1U << q->pin.eager_order) - 1)) *
		       NTBRDMA_EAGER_MAX;
}

static void lie(struct ntb_qp *q, uint64_t tag, uint32_t len, uint32_t flags)
{
	volatile struct ntbrdma_inbox_ent *s = peer_slot(q, (uint32_t)tag);

	s->byte_len = len;
	s->imm = 0x12345678;
	s->flags = flags;
	s->status = IBV_WC_SUCCESS;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	s->tag = tag;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * The receive our next message takes is in the ring of published ones
 * (the provider's choice, ntbrdma_eager.c, seen from outside).
 */
static bool published(struct ntb_qp *q)
{
	uint64_t next = __atomic_load_n(&q->sq.ctrl->rx_next, __ATOMIC_ACQUIRE);
	uint64_t want = next;

	if ((q->eager_next >> 32) == (next >> 32) &&
	    (int32_t)((uint32_t)q->eager_next - (uint32_t)next) > 0)
		want = q->eager_next;
	return q->pub && (want >> 32) &&
	       __atomic_load_n(
		       &q->pub[(uint32_t)want % NTBRDMA_PUB_ENTRIES].tag,
		       __ATOMIC_ACQUIRE) == want;
}

static void send_hostile(struct peer *p)
{
	struct ntb_qp *q = to_qp(p->qp);
	struct env *e = &p->e;
	struct ibv_sge s = { (uintptr_t)e->src, 16, e->smr->lkey };
	volatile struct ntbrdma_inbox_status *st;
	uint64_t next, next0, epoch;
	struct ibv_wc wc;
	uint32_t n;
	int i;

	fill(e->src, 16, 77);
	/* Receive 0 published to our kernel (its RECV_POST may be late). */
	for (i = 0; i < 100 && !published(q); i++)
		usleep(100000);
	next0 = q->eager_next;
	CHECK(!post_rdma(p->qp, IBV_WR_SEND, 1, &s, 1, 0, 0, 0,
			 IBV_SEND_SIGNALED) &&
		      !wait_wc(e->scq, &wc) && wc.status == IBV_WC_SUCCESS,
	      "phase 2: a SEND of 16 bytes");
	pthread_spin_lock(&q->sq.lock);
	pthread_mutex_lock(&q->pin.lock);
	next = q->eager_next;
	if (!q->pin.base || next == next0) {
		CHECK(0,
		      "phase 2: it went eagerly (the server's inbox mapped)");
		goto out;
	}
	printf("eager: mapped\n");
	epoch = next >> 32;
	n = (uint32_t)next;
	/* 1: longer than the receive (and than any eager message). */
	lie(q, epoch << 32 | n, 5000, NTBRDMA_INBOX_F_EAGER);
	/* 2: a well-formed one, written by hand. */
	fill((unsigned char *)peer_payload(q, n + 1), 200, 88);
	lie(q, epoch << 32 | (n + 1), 200, NTBRDMA_INBOX_F_EAGER);
	/* 3: an eager RDMA_WRITE_WITH_IMM does not exist. */
	lie(q, epoch << 32 | (n + 2), 8,
	    NTBRDMA_INBOX_F_EAGER | NTBRDMA_INBOX_F_WRITE_IMM);
	/* A slot of an epoch to come, and garbage in the status page. */
	lie(q, (epoch + 1) << 32 | (n + 4), 100, NTBRDMA_INBOX_F_EAGER);
	st = (volatile struct ntbrdma_inbox_status *)(q->pin.base +
						      NTBRDMA_INBOX_STATUS_OFF(
							      q->pin.order));
	st->credit = 0xdeadbeefcafef00dULL;
	st->armed = 0xffffffffu;
	CHECK(1, "phase 2: slots 1..3 forged, garbage in the status page");
out:
	pthread_mutex_unlock(&q->pin.lock);
	pthread_spin_unlock(&q->sq.lock);
}

static void check_hostile(struct peer *p)
{
	static const struct {
		enum ibv_wc_status st;
		uint32_t len;
		unsigned int seed;
	} want[NHOST] = {
		{ IBV_WC_SUCCESS, 16, 77 },    { IBV_WC_LOC_LEN_ERR, 0, 0 },
		{ IBV_WC_SUCCESS, 200, 88 },   { IBV_WC_LOC_PROT_ERR, 0, 0 },
		{ IBV_WC_WR_FLUSH_ERR, 0, 0 }, { IBV_WC_WR_FLUSH_ERR, 0, 0 },
		{ IBV_WC_WR_FLUSH_ERR, 0, 0 }, { IBV_WC_WR_FLUSH_ERR, 0, 0 },
	};
	struct env *e = &p->e;
	unsigned char pat[HLEN];
	struct ibv_wc wc;
	int i, r;

	for (i = 0; i < NHOST; i++) {
		const unsigned char *d = e->dst + (size_t)i * RSLOT;
		uint32_t len = want[i].st == IBV_WC_SUCCESS ? want[i].len : 0;

		r = wait_wc(e->rcq, &wc);
		fill(pat, want[i].len, want[i].seed);
		CHECK(!r && wc.wr_id == (uint64_t)(100 + i) &&
			      wc.status == want[i].st &&
			      (want[i].st != IBV_WC_SUCCESS ||
			       (wc.byte_len == len && !memcmp(d, pat, len))),
		      "phase 2: receive %d: %s (got %s, %u bytes)", i,
		      ibv_wc_status_str(want[i].st),
		      r ? "nothing" : ibv_wc_status_str(wc.status),
		      r ? 0 : wc.byte_len);
		CHECK(zero(d, len, RSLOT),
		      "phase 2: receive %d: nothing beyond", i);
	}
	CHECK(wait_state(p->qp, IBV_QPS_ERR) == IBV_QPS_ERR,
	      "phase 2: the server's QP went to ERR");
}

static int run_server(const char *dev, int port)
{
	struct peer p;

	if (peer_open(&p, dev, NULL, port))
		return 1;
	memset(p.e.dst, 0, BUF_SIZE);
	post_recvs(&p.e, p.qp, NMSG, RLEN, 0, "phase 1");
	barrier(p.fd);
	check1(&p);
	memset(p.e.dst, 0, BUF_SIZE);
	post_recvs(&p.e, p.qp, NORD, 8, 0, "phase 1 (ordering)");
	barrier(p.fd);
	check_ord(&p);
	memset(p.e.dst, 0, BUF_SIZE);
	post_recvs(&p.e, p.qp, NHOST, HLEN, 100, "phase 2");
	barrier(p.fd);
	barrier(p.fd); /* the client forged */
	check_hostile(&p);
	barrier(p.fd);
	return failures ? 1 : 0;
}

static int run_client(const char *dev, const char *ip, int port)
{
	struct peer p;

	if (peer_open(&p, dev, ip, port))
		return 1;
	barrier(p.fd);
	send1(&p);
	barrier(p.fd);
	send_ord(&p);
	barrier(p.fd);
	send_hostile(&p);
	barrier(p.fd);
	barrier(p.fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return run_server(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return run_client(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr, "usage: %s server DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
