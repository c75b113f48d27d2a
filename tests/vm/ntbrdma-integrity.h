/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma-integrity: what its files share (see ntbrdma-integrity.c).
 *   ntbrdma-integrity.c        main, options, the run (probe, cases, report)
 *   ntbrdma-integrity-verbs.c  device/PD/CQ/QP/MR set-up, connection, TCP
 *   ntbrdma-integrity-cases.c  pattern and verification, one case's posting
 *                              and polling with deadlines
 */
#ifndef NTBRDMA_INTEGRITY_H
#define NTBRDMA_INTEGRITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmtest.h"

#define MAX_QPS 64
#define MAX_SGE 8
#define MAX_LEN (1024 * 1024)
/* One area holds the largest message, its offset, its gaps and guards. */
#define AREA (MAX_LEN + 4096)
#define GUARD 64
#define SCRATCH 64
#define PROBE_LEN 8

enum op { OP_WRITE, OP_READ, OP_SEND, NR_OPS };

struct options {
	const char *dev;
	int gid_index; /* -1: auto */
	const char *port;
	const char *host; /* client */
	bool server, loopback;
	int qps, iters;
	unsigned int seed;
	int timeout_s, probe_timeout_s;
	int qp_timeout; /* local ACK timeout exponent of the RC QPs */
	int corrupt; /* 0: off, 1: a data byte, 2: a guard byte */
	int corrupt_at; /* in the corrupt_at-th verification (from 0) */
	bool probe_only;
};

extern struct options opt;

struct qpres {
	struct ibv_qp *qp;
	struct ibv_mr *mr;
	uint8_t *buf; /* tx area, rx area, scratch */
	uint32_t psn;
};

struct side {
	const char *name;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct qpres q[MAX_QPS];
	int gidx;
	union ibv_gid gid;
	struct ibv_port_attr port;
	struct ibv_device_attr attr;
	int sge_send, sge_recv, sge_rd, rd_atom;
};

/* What a side tells its peer (both ends run this program on one arch). */
struct hello {
	uint32_t magic, nqps, iters, seed, mtu, max_msg;
	int32_t sge_send, sge_recv, sge_rd, pad;
	uint8_t gid[16];
	struct {
		uint32_t qpn, psn, rkey, pad;
		uint64_t addr;
	} q[MAX_QPS];
};

struct msg {
	uint32_t type, a, b, pad;
	char text[240];
};

enum { MSG_READY = 1, MSG_RESULT, MSG_PROBE };

struct result {
	bool ok, fatal, skipped;
	char text[240];
};

struct sgl {
	int n;
	size_t pos[MAX_SGE], len[MAX_SGE];
};

/* One case: what, which direction, which size and variant. */
struct tcase {
	int iter, ci, op, dir, var;
	size_t len;
	uint32_t tag;
};

/* wr_id: tag << 16 | qp << 4 | kind */
enum { K_DATA = 1, K_IMM, K_RECV };

/* ---- small helpers (ntbrdma-integrity.c) ---- */

double now_s(void);
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rset(struct result *r, bool fatal, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static inline uint64_t mix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* The pattern: a byte per offset in the message, for a key (pkey()). */
static inline uint8_t pbyte(uint64_t key, size_t o)
{
	return (uint8_t)(mix64(key + (o >> 3)) >> ((o & 7) * 8));
}

/* ---- pattern, verification, one case (ntbrdma-integrity-cases.c) ---- */

void layout(struct sgl *l, size_t len, int n, size_t off, bool rev);
void fill(uint8_t *area, const struct sgl *l, uint64_t key);
void case_layout(const struct tcase *c, int qp, int max_sge, int max_rsge,
		 struct sgl *il, size_t *roff, struct sgl *rl);
uint64_t case_key(const struct tcase *c, int qp);
void to_sge(struct ibv_sge *sg, const struct sgl *l, uint8_t *base,
	    struct ibv_mr *mr);
void wait_cq(struct side *s, struct ibv_cq *cq, int want, const struct tcase *c,
	     double tmo, struct result *r, bool recv);
void t_prepare(struct side *s, const struct side *peer, const struct tcase *c,
	       struct result *r);
void i_run(struct side *s, const struct side *peer, const struct hello *rh,
	   const struct tcase *c, struct result *r);
void t_finish(struct side *s, const struct side *peer, const struct tcase *c,
	      struct result *r);

/* ---- TCP and verbs set-up (ntbrdma-integrity-verbs.c) ---- */

void tcp_send(const void *p, size_t n);
void tcp_recv(void *p, size_t n);
void msg_send(uint32_t type, uint32_t a, uint32_t b, const char *text);
void msg_recv(struct msg *m, uint32_t type);
void tcp_server(void);
void tcp_client(void);
void side_init(struct side *s, const char *name);
void hello_of(struct side *s, struct hello *h);
void connect_qps(struct side *s, const struct hello *r);

#endif /* NTBRDMA_INTEGRITY_H */
