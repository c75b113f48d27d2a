// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-integrity: data integrity of RDMA WRITE, RDMA READ and SEND/RECV
 * through the standard verbs API only (it runs unchanged on rxe).
 *
 * Two sides, A and B, each with N RC QPs (default 4) connected pairwise.
 * Either both sides live in this process (--loopback, one device) or A is
 * the client (--connect HOST) and B the server (--server), exchanging QP
 * numbers, GIDs and buffer addresses over TCP and keeping in lockstep with
 * small TCP messages.
 *
 * Every case runs on all N QPs at once, in both directions (A initiates,
 * then B initiates): an operation, a size (1, 7, 63, 4096, 4097, 64 KiB,
 * 1 MiB), and a variant: aligned with one SGE, unaligned (buffer + 1..7)
 * with one SGE, unaligned with up to 8 SGEs of uneven lengths scattered
 * with gaps.  The data is a deterministic function of (seed, iteration,
 * case, QP, operation, byte offset in the message); the receiving end
 * checks every byte, and that every byte around and between the SGEs kept
 * its poison:
 *   WRITE: the initiator writes, then sends a SEND_WITH_IMM (imm = case
 *          tag); the target verifies when that arrives;
 *   READ:  the initiator reads the target's pattern and verifies it;
 *   SEND:  the receiver verifies its (differently scattered) RECV buffers.
 *
 * First of all a probe: one 8-byte RDMA WRITE from A on QP 0.  If it does
 * not complete within --probe-timeout (5 s), or posting it says the
 * operation is not supported, the device does not execute RDMA WRITE yet:
 * "engine not available: ..." and exit 77 (both sides).  Otherwise every
 * verbs call and every work completion is checked, every wait has a
 * deadline (--timeout, 30 s), one "ok - ..."/"FAIL - ..." line per case, a
 * summary, exit 0 only if all passed.  --corrupt[=data|guard] flips one
 * received byte (or one byte of the poison after it) before a verification
 * this process does (--corrupt-at N: the N-th), to show that the check
 * catches it.
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ntbrdma-integrity.h"

static const char *const op_name[] = { "WRITE", "READ", "SEND" };
static const size_t sizes[] = { 1, 7, 63, 4096, 4097, 65536, MAX_LEN };
#define NR_SIZES (sizeof(sizes) / sizeof(sizes[0]))
#define NR_VARIANTS 3

struct options opt = {
	.dev = "ntbrdma0",
	.gid_index = -1,
	.port = "18600",
	.qps = 4,
	.iters = 1,
	.seed = 1,
	.timeout_s = 30,
	.probe_timeout_s = 5,
	.qp_timeout = 18,
};

/* ---- small helpers ---- */

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void die(const char *fmt, ...)
{
	va_list ap;

	printf("FAIL - ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

void rset(struct result *r, bool fatal, const char *fmt, ...)
{
	va_list ap;

	if (!r->ok)
		return; /* keep the first reason */
	r->ok = false;
	r->fatal = fatal;
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* ---- the run ---- */

static struct side A, B; /* loopback: both; else the local one */
static struct side shadow; /* the remote side's SGE limits */
static struct hello hA, hB;

static int passed, failed, skipped;

static void report(const struct tcase *c, const struct result *r, int nsge_i,
		   int nsge_r)
{
	const char *from = c->dir ? "B->A" : "A->B";

	if (r->skipped) {
		skipped++;
		printf("ok - %s %s %zu B # SKIP %s\n", op_name[c->op], from,
		       c->len, r->text);
	} else if (r->ok) {
		passed++;
		printf("ok - %s %s %zu B var %d (sge %d/%d) x %d QPs\n",
		       op_name[c->op], from, c->len, c->var, nsge_i, nsge_r,
		       opt.qps);
	} else {
		failed++;
		printf("FAIL - %s %s %zu B var %d (sge %d/%d) x %d QPs: %s\n",
		       op_name[c->op], from, c->len, c->var, nsge_i, nsge_r,
		       opt.qps, r->text);
	}
	fflush(stdout);
}

static bool fatal_seen;

static void run_case(struct tcase *c)
{
	/* in two-process mode A is the client, B the server */
	bool a_local = opt.loopback || !opt.server;
	bool b_local = opt.loopback || opt.server;
	struct side *ini = c->dir ? &B : &A, *tgt = c->dir ? &A : &B;
	bool ini_local = c->dir ? b_local : a_local;
	bool tgt_local = c->dir ? a_local : b_local;
	const struct side *ini_peer = opt.loopback ? tgt : &shadow;
	const struct side *tgt_peer = opt.loopback ? ini : &shadow;
	const struct hello *th = c->dir ? &hA : &hB;
	struct result r = { .ok = true }, pr = { .ok = true };
	uint32_t max_msg = hA.max_msg < hB.max_msg ? hA.max_msg : hB.max_msg;
	struct sgl il, rl;
	size_t ro;
	struct msg m;
	int isge;

	if (c->len > max_msg) {
		r.skipped = true;
		snprintf(r.text, sizeof(r.text), "port max_msg_sz %u", max_msg);
		report(c, &r, 0, 0);
		return;
	}
	if (tgt_local) {
		t_prepare(tgt, tgt_peer, c, &r);
		if (!opt.loopback)
			msg_send(MSG_READY, r.ok, 0, NULL);
	} else {
		msg_recv(&m, MSG_READY);
		if (!m.a)
			rset(&r, true, "peer could not prepare");
	}
	if (ini_local && r.ok)
		i_run(ini, ini_peer, th, c, &r);
	if (tgt_local && r.ok)
		t_finish(tgt, tgt_peer, c, &r);
	if (!opt.loopback) { /* each side tells the other its verdict */
		msg_send(MSG_RESULT, r.ok, r.fatal, r.text);
		msg_recv(&m, MSG_RESULT);
		if (!m.a)
			rset(&pr, m.b, "peer: %s", m.text);
		if (!pr.ok && r.ok)
			r = pr;
	}
	isge = c->op == OP_READ ? (ini_local ? ini : &shadow)->sge_rd :
				  (ini_local ? ini : &shadow)->sge_send;
	case_layout(c, 0, isge, (tgt_local ? tgt : &shadow)->sge_recv, &il, &ro,
		    &rl);
	report(c, &r, il.n, c->op == OP_SEND ? rl.n : 1);
	if (r.fatal)
		fatal_seen = true;
}

/*
 * The probe: one 8-byte RDMA WRITE A -> B on QP 0, with a short deadline.
 * Returns 0 (it worked), 77 (the device does not execute it) or 1.
 */
static int probe(void)
{
	bool a_local = opt.loopback || !opt.server;
	struct tcase c = { .iter = 0xfff,
			   .ci = 0xffff,
			   .op = OP_WRITE,
			   .len = PROBE_LEN,
			   .tag = 0xffff };
	struct result r = { .ok = true };
	char detail[300];
	struct msg m;
	int code = 0;

	if (a_local) {
		struct qpres *q = &A.q[0];
		struct sgl l;
		struct ibv_sge sg;
		struct ibv_send_wr wr = { .wr_id = 0xffffull << 16 | K_DATA,
					  .sg_list = &sg,
					  .num_sge = 1,
					  .opcode = IBV_WR_RDMA_WRITE,
					  .send_flags = IBV_SEND_SIGNALED },
				   *bad;
		int rc;

		layout(&l, PROBE_LEN, 1, 0, false);
		fill(q->buf, &l, case_key(&c, 0));
		to_sge(&sg, &l, q->buf, q->mr);
		wr.wr.rdma.remote_addr = hB.q[0].addr + AREA + 2 * PROBE_LEN;
		wr.wr.rdma.rkey = hB.q[0].rkey;
		rc = ibv_post_send(q->qp, &wr, &bad);
		if (rc == EOPNOTSUPP || rc == ENOSYS) {
			code = 77;
			snprintf(detail, sizeof(detail),
				 "ibv_post_send(RDMA WRITE) on %s: %s", opt.dev,
				 strerror(rc));
		} else if (rc) {
			code = 1;
			snprintf(detail, sizeof(detail),
				 "probe: ibv_post_send(RDMA WRITE): %s",
				 strerror(rc));
		} else {
			wait_cq(&A, A.scq, 1, &c, opt.probe_timeout_s, &r,
				false);
			if (!r.ok && strstr(r.text, "timeout")) {
				code = 77;
				snprintf(
					detail, sizeof(detail),
					"one %d-byte RDMA WRITE on %s (QP 0x%x) did not complete within %d s",
					PROBE_LEN, opt.dev, q->qp->qp_num,
					opt.probe_timeout_s);
			} else if (!r.ok) {
				code = 1;
				snprintf(detail, sizeof(detail), "probe: %s",
					 r.text);
			} else {
				snprintf(detail, sizeof(detail),
					 "probe: %d-byte RDMA WRITE completed",
					 PROBE_LEN);
			}
		}
		if (!opt.loopback)
			msg_send(MSG_PROBE, code, 0, detail);
	} else {
		msg_recv(&m, MSG_PROBE);
		code = m.a;
		snprintf(detail, sizeof(detail), "%s", m.text);
	}
	if (code == 77) {
		printf("engine not available: %s\n", detail);
	} else if (code) {
		printf("FAIL - %s\n", detail);
	} else if (opt.loopback || opt.server) {
		/* the target checks the probe's bytes too */
		uint8_t *p = B.q[0].buf + AREA + 2 * PROBE_LEN;
		uint64_t key = case_key(&c, 0);
		int i;

		r.ok = true;
		for (i = 0; i < PROBE_LEN; i++)
			if (p[i] != pbyte(key, i))
				rset(&r, false,
				     ": byte %d is 0x%02x, expected 0x%02x", i,
				     p[i], pbyte(key, i));
		CHECK(r.ok, "%s%s", detail, r.ok ? "" : r.text);
		if (!r.ok)
			code = 1;
	} else {
		printf("ok - %s\n", detail);
	}
	fflush(stdout);
	return code;
}

static void usage(int code)
{
	printf("usage: ntbrdma-integrity [options] (--loopback | --server | --connect HOST)\n"
	       "  --dev NAME          RDMA device (ntbrdma0)\n"
	       "  --gid-index N       GID index (default: first RoCE v2 IPv4-mapped GID)\n"
	       "  --port P            TCP port of the out-of-band exchange (18600)\n"
	       "  --server            wait for the client (side B)\n"
	       "  --connect HOST      client (side A); retries for 60 s\n"
	       "  --loopback          both sides in this process, one device\n"
	       "  --qps N             QPs run at once (4; the client's value wins)\n"
	       "  --iters N           passes over all cases (1)\n"
	       "  --seed N            pattern seed (1)\n"
	       "  --timeout S         deadline of each wait (30)\n"
	       "  --probe-timeout S   deadline of the first RDMA WRITE (5)\n"
	       "  --probe-only        only the probe: 0 works, 77 engine not available\n"
	       "  --qp-timeout N      RC local ACK timeout exponent (18)\n"
	       "  --corrupt[=data|guard]  debug: before a verification this process\n"
	       "                      does, flip one byte of the data (in the middle of\n"
	       "                      the last SGE) or of the poison just after it;\n"
	       "                      the case must FAIL\n"
	       "  --corrupt-at N      ... in the N-th verification (from 0; default 0)\n");
	exit(code);
}

static int num(const char *s, int lo, int hi)
{
	char *e;
	long v = strtol(s, &e, 0);

	if (*s == 0 || *e || v < lo || v > hi) {
		fprintf(stderr, "bad number '%s' (%d..%d)\n", s, lo, hi);
		usage(2);
	}
	return (int)v;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = { { "dev", 1, NULL, 'd' },
					    { "gid-index", 1, NULL, 'g' },
					    { "port", 1, NULL, 'p' },
					    { "server", 0, NULL, 's' },
					    { "connect", 1, NULL, 'c' },
					    { "loopback", 0, NULL, 'l' },
					    { "qps", 1, NULL, 'q' },
					    { "iters", 1, NULL, 'n' },
					    { "seed", 1, NULL, 'S' },
					    { "timeout", 1, NULL, 't' },
					    { "probe-timeout", 1, NULL, 'P' },
					    { "qp-timeout", 1, NULL, 'u' },
					    { "corrupt", 2, NULL, 'C' },
					    { "corrupt-at", 1, NULL, 'A' },
					    { "probe-only", 0, NULL, 'O' },
					    { "help", 0, NULL, 'h' },
					    { NULL, 0, NULL, 0 } };
	int o, code, it, op, dir, si, var, ci;
	double t0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((o = getopt_long(argc, argv, "d:g:p:sc:lq:n:S:t:P:u:C::A:Oh", lo,
				NULL)) != -1) {
		switch (o) {
		case 'd':
			opt.dev = optarg;
			break;
		case 'g':
			opt.gid_index = num(optarg, 0, 65535);
			break;
		case 'p':
			opt.port = optarg;
			break;
		case 's':
			opt.server = true;
			break;
		case 'c':
			opt.host = optarg;
			break;
		case 'l':
			opt.loopback = true;
			break;
		case 'q':
			opt.qps = num(optarg, 1, MAX_QPS);
			break;
		case 'n':
			opt.iters = num(optarg, 1, 1000000);
			break;
		case 'S':
			opt.seed = (unsigned int)num(optarg, 0, 0x7fffffff);
			break;
		case 't':
			opt.timeout_s = num(optarg, 1, 3600);
			break;
		case 'P':
			opt.probe_timeout_s = num(optarg, 1, 3600);
			break;
		case 'u':
			opt.qp_timeout = num(optarg, 0, 31);
			break;
		case 'C':
			if (!optarg || !strcmp(optarg, "data"))
				opt.corrupt = 1;
			else if (!strcmp(optarg, "guard"))
				opt.corrupt = 2;
			else
				usage(2);
			break;
		case 'O':
			opt.probe_only = true;
			break;
		case 'A':
			opt.corrupt_at = num(optarg, 0, 1000000);
			break;
		case 'h':
			usage(0);
			break;
		default:
			usage(2);
		}
	}
	if (optind != argc ||
	    (opt.loopback + opt.server + (opt.host != NULL)) != 1)
		usage(2);

	if (opt.loopback) {
		side_init(&A, "A");
		side_init(&B, "B");
		hello_of(&A, &hA);
		hello_of(&B, &hB);
		connect_qps(&A, &hB);
		connect_qps(&B, &hA);
	} else {
		struct side *me = opt.server ? &B : &A;
		struct hello *mine = opt.server ? &hB : &hA;
		struct hello *theirs = opt.server ? &hA : &hB;

		if (opt.server) {
			struct {
				uint32_t qps, iters, seed;
			} cfg;

			tcp_server();
			tcp_recv(&cfg, sizeof(cfg)); /* the client's choice */
			if (cfg.qps < 1 || cfg.qps > MAX_QPS || !cfg.iters)
				die("bad configuration from the client");
			opt.qps = cfg.qps, opt.iters = cfg.iters;
			opt.seed = cfg.seed;
		} else {
			struct {
				uint32_t qps, iters, seed;
			} cfg = { opt.qps, opt.iters, opt.seed };

			tcp_client();
			tcp_send(&cfg, sizeof(cfg));
		}
		side_init(me, opt.server ? "B" : "A");
		hello_of(me, mine);
		tcp_send(mine, sizeof(*mine));
		tcp_recv(theirs, sizeof(*theirs));
		if (theirs->magic != mine->magic ||
		    theirs->nqps != mine->nqps || theirs->seed != mine->seed)
			die("peer's hello does not match ours");
		connect_qps(me, theirs);
		/* the peer's SGE limits, to derive the layouts it uses */
		shadow.sge_send = theirs->sge_send;
		shadow.sge_recv = theirs->sge_recv;
		shadow.sge_rd = theirs->sge_rd;
		/* both ends must agree: ready once both are RTS */
		msg_send(MSG_READY, 1, 0, NULL);
		{
			struct msg m;

			msg_recv(&m, MSG_READY);
		}
	}
	printf("# %s, GID index %d, %d QPs, %d iteration(s), seed %u, sge send/recv/rd %d/%d/%d\n",
	       opt.dev, (opt.loopback || !opt.server ? &A : &B)->gidx, opt.qps,
	       opt.iters, opt.seed,
	       (opt.loopback || !opt.server ? &A : &B)->sge_send,
	       (opt.loopback || !opt.server ? &A : &B)->sge_recv,
	       (opt.loopback || !opt.server ? &A : &B)->sge_rd);

	code = probe();
	if (code || opt.probe_only)
		return code;

	t0 = now_s();
	ci = 0;
	for (it = 0; it < opt.iters && !fatal_seen; it++)
		for (op = 0; op < NR_OPS && !fatal_seen; op++)
			for (dir = 0; dir < 2 && !fatal_seen; dir++)
				for (si = 0; si < (int)NR_SIZES && !fatal_seen;
				     si++)
					for (var = 0;
					     var < NR_VARIANTS && !fatal_seen;
					     var++, ci++) {
						struct tcase c = {
							.iter = it,
							.ci = ci & 0xfff,
							.op = op,
							.dir = dir,
							.var = var,
							.len = sizes[si],
							.tag = (uint32_t)ci &
							       0xffff,
						};

						run_case(&c);
					}
	if (fatal_seen)
		printf("# stopped after a fatal error (QPs may be in ERR)\n");
	printf("# %d passed, %d failed, %d skipped (%d QPs, %.1f s)\n", passed,
	       failed, skipped, opt.qps, now_s() - t0);
	return failed || fatal_seen || failures ? 1 : 0;
}
