/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RC QP helpers of the data-path test programs (ntbrdma-engine-test,
 * ntbrdma-fault-test): a device with a PD, two CQs and two registered
 * 2 MiB buffers; QPs connected by GID and QP number; posting, waiting
 * for completions; a TCP side channel to exchange the connection data.
 */
#ifndef NTBRDMA_RC_H
#define NTBRDMA_RC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <infiniband/verbs.h>

#include "vmtest.h"

#define BUF_SIZE (2u << 20)
#define ACCESS                                              \
	(IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | \
	 IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC)

struct env {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	union ibv_gid gid;
	int gid_index;
	struct ibv_cq *scq, *rcq;
	unsigned char *src, *dst;
	struct ibv_mr *smr, *dmr;
};

/* What the peers exchange over TCP (host order: same machine type). */
struct conn {
	uint32_t qpn;
	uint32_t rkey;
	uint64_t addr;
	union ibv_gid gid;
};

/* Open DEV with its IPv4-mapped RoCE v2 GID, PD, CQs, buffers, MRs. */
int env_open(struct env *e, const char *name);
/* The same without buffers and MRs (src, dst, smr, dmr NULL). */
int env_open_bare(struct env *e, const char *name);
/* An RC QP on e's CQs: 64 WRs and 4 SGEs each way. */
struct ibv_qp *make_qp(struct env *e);
/* The same in another PD than e's. */
struct ibv_qp *make_qp_pd(struct env *e, struct ibv_pd *pd);
/* The same of another type (RC, UC). */
struct ibv_qp *make_qp_type(struct env *e, struct ibv_pd *pd,
			    enum ibv_qp_type type);
/* What connect_qp_opts() sets besides the address. */
struct qp_opts {
	int access; /* qp_access_flags */
	uint8_t max_dest_rd_atomic;
	uint8_t timeout; /* local ACK timeout, 4.096 us << timeout */
	uint8_t retry_cnt;
	uint8_t rnr_retry;
};

/* RESET -> INIT -> RTR (to dgid/dqpn) -> RTS. */
int connect_qp_opts(struct env *e, struct ibv_qp *qp, const union ibv_gid *dgid,
		    uint32_t dqpn, const struct qp_opts *o);
/*
 * The same with REMOTE_WRITE|READ|ATOMIC, 4 READs, timeout 14, retry_cnt
 * 7 (for a UC QP only what UC has: the access flags and the address).
 */
int connect_qp(struct env *e, struct ibv_qp *qp, const union ibv_gid *dgid,
	       uint32_t dqpn, int rnr_retry);
/*
 * Two new QPs of e connected to each other by e's GID (loopback,
 * rnr_retry 7); 0, or -1 (what was made is in *a and *b, or NULL).
 */
int loop_pair(struct env *e, struct ibv_qp **a, struct ibv_qp **b);
/* A UD QP of Q_Key qkey through INIT and RTR to RTS; 0 or -1. */
int ud_ready(struct ibv_qp *qp, uint32_t qkey);
/* An AH of e's PD to dgid from e's GID; NULL on failure. */
struct ibv_ah *make_ah(struct env *e, const union ibv_gid *dgid);
/* One signalled UD send WR (sge NULL: none); ibv_post_send's result. */
int post_ud(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
	    struct ibv_sge *sge, struct ibv_ah *ah, uint32_t rqpn,
	    uint32_t qkey, uint32_t imm);
enum ibv_qp_state query_state(struct ibv_qp *qp);
/*
 * The state within 2 s: a responder's QP goes to ERR by its own work
 * after the failed receive completed.
 */
enum ibv_qp_state wait_state(struct ibv_qp *qp, enum ibv_qp_state want);
/* One completion within 10 s; 0 or -1. */
int wait_wc(struct ibv_cq *cq, struct ibv_wc *wc);
/* A pattern of n bytes that depends on seed and on the position. */
void fill(unsigned char *p, size_t n, unsigned int seed);
/* One signalled send WR (flags: more IBV_SEND_*); ibv_post_send's result. */
int post_rdma(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
	      struct ibv_sge *sge, int nsge, uint64_t raddr, uint32_t rkey,
	      uint32_t imm, unsigned int flags);
/* One signalled atomic WR, the old value into sge; ibv_post_send's result. */
int post_atomic(struct ibv_qp *qp, enum ibv_wr_opcode op, uint64_t id,
		struct ibv_sge *sge, uint64_t raddr, uint32_t rkey,
		uint64_t compare_add, uint64_t swap);
int post_recv(struct ibv_qp *qp, uint64_t id, struct ibv_sge *sge, int nsge);
/* The next completion of cq is id with status st (a check). */
void expect_status(struct ibv_cq *cq, uint64_t id, enum ibv_wc_status st,
		   const char *what);
/* ip NULL: listen on port and accept one; else connect (10 s of tries). */
int tcp_conn(const char *ip, int port);
/* Send n bytes, receive n bytes; 0 or -1. */
int xchg(int fd, const void *out, void *in, size_t n);
/* Both ends reached the same point of the script; 0 or -1. */
int barrier(int fd);

/* Seconds on CLOCK_MONOTONIC. */
double now_s(void);

/* Two processes on two hosts, one QP each, connected to each other. */
struct peer {
	struct env e;
	struct ibv_qp *qp;
	struct conn them; /* the other end's QP, GID, dst MR */
	int fd; /* the TCP side channel */
};

/*
 * Open DEV, make a QP, connect over TCP (ip NULL: listen on port),
 * exchange QPN/GID/dst rkey and address, connect the QP (rnr_retry 7).
 * Checks printed; 0, or -1 when nothing further can run.
 */
int peer_open(struct peer *p, const char *name, const char *ip, int port);
/*
 * The same on p->e opened already (e.g. bare: them.rkey and them.addr are
 * then 0).
 */
int peer_connect(struct peer *p, const char *ip, int port);
/* The same with qp (NULL: fails), made by the caller on p->e. */
int peer_connect_qp(struct peer *p, struct ibv_qp *qp, const char *ip,
		    int port);
/*
 * Server side: deregister p's dst MR (on DEV) and wait up to 60 s until
 * its debugfs mr_dying no longer lists the MR (the peer acknowledged the
 * removal); both checked.
 */
void peer_dereg_dst(struct peer *p, const char *dev);

#endif /* NTBRDMA_RC_H */
