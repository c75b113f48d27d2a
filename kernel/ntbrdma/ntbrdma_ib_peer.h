/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma: the QP protocol with the peer host, shared by its two halves:
 * ntbrdma_ib_peer.c (publishing our receives, requests to the peer, QP
 * life) and ntbrdma_ib_peer_rx.c (the handlers of the peer's messages).
 * The wire format (little endian, exact sizes) and the bounds of the
 * protocol are here.  Not for the rest of the driver.
 */
#ifndef NTBRDMA_IB_PEER_H
#define NTBRDMA_IB_PEER_H

#include <linux/overflow.h>

#include "ntbrdma_ib_engine.h"

/* Control-message types of the QP protocol: 24..31 belong to it. */
enum {
	NTBR_CTRL_QP_RECV_POST = NTBR_CTRL_TYPE_IB + 8,	/* 24 */
	NTBR_CTRL_QP_RECV_DONE,				/* 25 */
	NTBR_CTRL_QP_RRQ_FLUSH,				/* 26 */
	NTBR_CTRL_QP_READ_REQ,				/* 27 */
	NTBR_CTRL_QP_READ_DONE,				/* 28 */
	NTBR_CTRL_QP_ATOMIC_REQ,			/* 29 */
	NTBR_CTRL_QP_UD_SEND,				/* 30 */
	NTBR_CTRL_QP_UD_MORE,				/* 31 */
	NTBR_CTRL_QP_SRQ_POST,				/* 32 */
	NTBR_CTRL_QP_SRQ_FLUSH,				/* 33 */
	NTBR_CTRL_QP_PUB_REQ,				/* 34 */
	NTBR_CTRL_QP_LAST = NTBR_CTRL_QP_PUB_REQ,	/* 34: the last */
};

/* Messages: little endian, dst_qpn is the receiver's QP, src_qpn ours. */
struct ntbr_wire_sge {
	__le64 va;
	__le32 key;
	__le32 len;
};

/*
 * Bits of ntbr_qp_msg_post.access: the sender QP's qp_access_flags, READ
 * and ATOMIC only while its max_dest_rd_atomic is not 0 (it would refuse
 * them: what the requester may map for READs from user space).
 */
#define NTBR_POST_A_WRITE	0x1	/* IB_ACCESS_REMOTE_WRITE */
#define NTBR_POST_A_READ	0x2	/* IB_ACCESS_REMOTE_READ */
#define NTBR_POST_A_ATOMIC	0x4	/* IB_ACCESS_REMOTE_ATOMIC */
/* Not an access bit: the sender QP is UC (RC if clear).  Types must match. */
#define NTBR_POST_A_UC		0x8

/*
 * RECV_POST: count receives follow, each an entry and nsge SGEs.  The
 * header also says what the requester needs to know of the responder
 * QP: its PD, access flags and timer; count 0 only updates them.
 */
struct ntbr_qp_msg_post {
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 epoch;
	__le32 pd_id;			/* the sender QP's PD (its MRs') */
	__le16 count;
	u8 rnr_timer;			/* the sender QP's min_rnr_timer */
	u8 access;			/* NTBR_POST_A_* */
	u8 rq_order;			/* its RQ holds 1 << rq_order */
	u8 rsvd[3];
	/* Since protocol 8: the sender QP receives from this SRQ (count 0). */
	__le32 srq_id;
	__le32 rsvd2;
	/*
	 * Since protocol 9: the sender QP's receive inbox (order 0: none),
	 * slots of struct ntbrdma_inbox_ent in its MR inbox_key (LOCAL_WRITE,
	 * announced), ntbrdma_ib_inbox.c.
	 */
	__le32 inbox_key;
	u8 inbox_order;
	/*
	 * Since protocol 12: the inbox MR also holds a status page and
	 * 1 << eager_order payload slots (NTBRDMA_INBOX_BYTES; 0: none),
	 * which the requester's provider may map and write (Stage B).
	 */
	u8 eager_order;
	u8 rsvd3[2];
	__le64 inbox_va;
};

#define NTBR_RCV_F_BAD	0x1	/* an SGE failed the responder's checks */

struct ntbr_qp_msg_rcv {
	__le32 rq_index;
	u8 nsge;
	u8 flags;			/* NTBR_RCV_F_* */
	__le16 rsvd;
	struct ntbr_wire_sge sge[];
};

enum {
	NTBR_RECV_OP_SEND,
	NTBR_RECV_OP_WRITE_IMM,
};

#define NTBR_DONE_F_IMM		0x1
#define NTBR_DONE_F_SOLICITED	0x2
/* A receive of an SRQ: epoch is the SRQ's id, rq_index its handle. */
#define NTBR_DONE_F_SRQ		0x4
/* Since protocol 9: the completion is in the responder QP's inbox. */
#define NTBR_DONE_F_INBOX	0x8
/*
 * Since protocol 12, with F_INBOX: the requester's provider placed the
 * message eagerly (payload and slot) and the responder's CQ was armed;
 * only the event is asked for, the receive's RQ slot stays the
 * provider's to complete.
 */
#define NTBR_DONE_F_EAGER	0x10

struct ntbr_qp_msg_done {		/* RECV_DONE */
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 epoch;
	__le32 rq_index;
	__le32 byte_len;
	u32 imm;			/* as in the WQE: network order */
	u8 opcode;			/* NTBR_RECV_OP_* */
	u8 flags;			/* NTBR_DONE_F_* */
	u8 status;			/* enum ib_wc_status of the receive */
	u8 rsvd[5];
};

struct ntbr_qp_msg_flush {		/* RRQ_FLUSH */
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 epoch;
	__le32 rsvd;
};

/*
 * PUB_REQ (protocol 12): the requester found none of our receives
 * published (RNR) and our QP publishes lazily (it has an eager area):
 * publish what is posted now.  The same layout as RRQ_FLUSH; epoch is
 * ours as the requester last knew it.
 */
struct ntbr_qp_msg_pubreq {
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 epoch;
	__le32 rsvd;
};

/*
 * SRQ_POST: count receives of the sender's SRQ srq_id follow, as in
 * RECV_POST (rq_index: the receive's handle, returned in RECV_DONE).
 */
struct ntbr_srq_msg_post {
	__le32 srq_id;
	__le16 count;
	__le16 rsvd;
};

struct ntbr_srq_msg_flush {		/* SRQ_FLUSH: drop them all */
	__le32 srq_id;
	__le32 rsvd;
};

struct ntbr_qp_msg_read {		/* READ_REQ: nsge SGEs follow */
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 req_id;
	__le32 len;
	__le64 va;
	__le32 rkey;
	u8 nsge;
	u8 rsvd[3];
	struct ntbr_wire_sge sge[];
};

/* ntbr_qp_msg_atomic.op */
#define NTBR_ATOMIC_CMP_SWAP	1
#define NTBR_ATOMIC_FETCH_ADD	2

/*
 * ATOMIC_REQ: answered by READ_DONE (the same req_id space), after the
 * value from before is written, little endian, into sge.
 */
struct ntbr_qp_msg_atomic {
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 req_id;
	__le32 rkey;
	__le64 va;
	__le64 compare_add;
	__le64 swap;
	u8 op;				/* NTBR_ATOMIC_* */
	u8 rsvd[7];
	struct ntbr_wire_sge sge;	/* 8 bytes of a LOCAL_WRITE MR */
};

/* ntbr_ud_msg_send.flags */
#define NTBR_UD_F_IMM		0x1
#define NTBR_UD_F_SOLICITED	0x2
#define NTBR_UD_F_IPV4		0x4	/* the GRH is an IPv4 header */

/*
 * UD_SEND: a datagram (ntbrdma_ib_ud.c) - its header and the first
 * payload bytes, as many as fit; UD_MORE messages carry the rest.
 */
struct ntbr_ud_msg_send {
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 qkey;
	__le32 len;			/* the whole payload, <= 4096 */
	u32 imm;			/* as in the WQE: network order */
	u8 flags;			/* NTBR_UD_F_* */
	u8 hop_limit;
	u8 traffic_class;
	u8 rsvd0;
	__le32 flow_label;
	__le32 rsvd1;
	u8 sgid[16];			/* the sender's GID */
	u8 dgid[16];			/* the receiver's */
	u8 data[];
};

struct ntbr_ud_msg_more {		/* UD_MORE */
	__le32 offset;			/* of data in the payload */
	__le32 rsvd;
	u8 data[];
};

struct ntbr_qp_msg_rdone {		/* READ_DONE (READ and ATOMIC_REQ) */
	__le32 dst_qpn;
	__le32 src_qpn;
	__le32 req_id;
	__le32 status;			/* enum ib_wc_status for the requester */
};

static_assert(sizeof(struct ntbr_qp_msg_post) +
	      struct_size((struct ntbr_qp_msg_rcv *)NULL, sge,
			  NTBRDMA_MAX_SGE) <= NTBR_CTRL_MAX_PAYLOAD);
static_assert(sizeof(struct ntbr_srq_msg_post) +
	      struct_size((struct ntbr_qp_msg_rcv *)NULL, sge,
			  NTBRDMA_MAX_SGE) <= NTBR_CTRL_MAX_PAYLOAD);
static_assert(struct_size((struct ntbr_qp_msg_read *)NULL, sge,
			  NTBRDMA_MAX_SGE) <= NTBR_CTRL_MAX_PAYLOAD);

/* Eager payload slots of an inbox at most (256 KiB a QP). */
#define NTBR_EAGER_MAX_ORDER	8

/* A receive the peer published (A's side), on qp->rrq. */
struct ntbr_rrq_ent {
	struct list_head entry;
	u32 src_qpn;
	u32 epoch;
	u32 rq_index;
	u8 nsge;
	u8 flags;			/* NTBR_RCV_F_* */
	u64 total;			/* bytes the receive holds */
	struct ntbr_wire_sge sge[];	/* validated lengths, still LE */
};

/*
 * A responder publishes at most NTBR_PUB_AHEAD receives (and never more
 * than its RQ holds) that the requester has not completed yet; a
 * requester holds at most that many per QP, and all its QPs together
 * at most NTBR_RRQ_DEV_BYTES of them.  A peer that publishes more breaks
 * the protocol: the link is reset.
 */
#define NTBR_PUB_AHEAD		1024U
#define NTBR_RRQ_DEV_BYTES	(64L << 20)
static_assert(NTBR_PUB_AHEAD <= NTBR_MAX_QP_WR);
/* Receives published by one kick before the rest goes to rq_work. */
#define NTBR_PUB_BUDGET		256U

/* ntbrdma_ib_peer.c */
bool ntbr_peer_state_rcv(enum ib_qp_state s);
void ntbr_rrq_free_list(struct list_head *list);
size_t ntbr_rrq_ent_size(const struct ntbr_rrq_ent *e);
/* Under rrq_lock: every receive qp holds moves to old (freed unlocked). */
void ntbr_rrq_take_all(struct ntbr_qp *qp, struct list_head *old);
/*
 * Under rrq_lock: if epoch is newer than the peer QP's epoch qp knows,
 * adopt it; the receives of the old one move to old (to free unlocked).
 */
bool ntbr_rrq_new_epoch(struct ntbr_qp *qp, u32 epoch,
			struct list_head *old);
/* NTBR_POST_A_* -> IB_ACCESS_REMOTE_* */
u32 ntbr_post_ib_access(u8 a);
/* Receives a responder may have published and not seen completed. */
u32 ntbr_pub_max(u32 rq_slots);
/*
 * Copy len bytes, from the local segments src or the inline bytes inl,
 * into the n pieces of the peer's memory that sge gives (keys of its
 * LOCAL_WRITE MRs); exact: they must hold exactly len bytes.
 * IB_WC_SUCCESS, IB_WC_LOC_PROT_ERR, IB_WC_LOC_LEN_ERR, or -ENOTCONN.
 */
int ntbr_peer_copy_to(struct ntbr_ib_dev *dev,
		      const struct ntbr_wire_sge *sge, u32 n,
		      struct ntbr_rseg *rdst, struct ntbr_seg *src,
		      u32 nsrc, const void *inl, u64 len, bool exact);

/*
 * ntbrdma_ib_inbox.c.  B: our inbox in a RECV_POST header.  A: write the
 * completion of receive index (epoch) of the peer QP into its inbox pi,
 * after the message's data; 0 or an errno (then RECV_DONE goes without
 * NTBR_DONE_F_INBOX and the responder's kernel writes the slot).
 * Caller holds eng_sem (read).
 */
void ntbr_inbox_post_info(const struct ntbr_qp *qp, struct ntbr_qp_msg_post *h);
/*
 * B, under rq_lock: the receives the provider took from the inbox
 * (rx_taken, untrusted: forward only, published ones only) are
 * consumed - cons catches up, as eager messages send no RECV_DONE.
 */
void ntbr_inbox_catch_up(struct ntbr_qp *qp);
/*
 * A, under rrq_lock: the receives on list (epoch) into the provider's
 * published-receive ring; rx_next set if it names an older epoch.
 */
void ntbr_pub_ring_add(struct ntbr_qp *qp, struct list_head *list, u32 epoch);
/*
 * A, under rrq_lock: e was taken by an eager message of the provider
 * (below its eager_next); else the kernel takes it and rx_next follows.
 */
bool ntbr_pub_eager_took(struct ntbr_qp *qp, const struct ntbr_rrq_ent *e);
/*
 * A, under rrq_lock: what we held of the peer QP is gone (a new epoch, a
 * new peer QP, link down): the ring forgets it, rx_next names nothing.
 */
void ntbr_pub_ring_reset(struct ntbr_qp *qp);
/*
 * A, under rrq_lock: the receives at the head that eager messages took
 * move to old (to free unlocked): a responder that saw them taken
 * publishes more, which must find room.
 */
void ntbr_rrq_drop_eager(struct ntbr_qp *qp, struct list_head *old);
void ntbr_pub_took(struct ntbr_qp *qp, const struct ntbr_rrq_ent *e);
/* A: tell the peer's kernel of the eager message wqe (F_NOTIFY). */
void ntbr_peer_eager_notify(struct ntbr_ib_dev *dev, struct ntbr_qp *qp,
			    const struct ntbrdma_send_wqe *wqe);
int ntbr_peer_inbox_put(struct ntbr_ib_dev *dev, const struct ntbr_pinbox *pi,
			u32 index, u32 epoch, const struct ntbrdma_cqe *cqe,
			bool solicited);

/* ntbrdma_ib_peer_rx.c: handler of the types above. */
void ntbr_peer_ctrl(struct ntbr_dev *nd, u16 type, const void *p,
		    size_t len);
/*
 * Our QP qpn if it is connected to the peer's QP src; with pending, also
 * if it has no destination yet.  Caller holds eng_sem (read).
 */
struct ntbr_qp *ntbr_peer_qp(struct ntbr_ib_dev *dev, u32 qpn, u32 src,
			     bool pending);
/* The receive completion a RECV_DONE describes (wr_id aside). */
void ntbr_done_cqe(const struct ntbr_qp_msg_done *m, struct ntbrdma_cqe *cqe);
/* A message of the peer dropped: logged (ratelimited). */
void ntbr_peer_bad(struct ntbr_ib_dev *dev, const char *what, u32 qpn);

/*
 * The receive fields of a RECV_POST or SRQ_POST at p, len bytes, parsed
 * into entries (src_qpn, epoch set by the caller) on list; the bytes
 * they take in *bytes.  -EINVAL for a malformed message, -ENOMEM.
 */
int ntbr_rrq_parse(const void *p, size_t len, size_t off, u32 n,
		   struct list_head *list, size_t *bytes);

/* ntbrdma_ib_srq.c: SRQ_POST, SRQ_FLUSH; RECV_DONE of an SRQ receive. */
void ntbr_srq_h_post(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_srq_h_flush(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_srq_h_done(struct ntbr_ib_dev *dev, const struct ntbr_qp_msg_done *m);
/* A: the first receive the peer's SRQ id published, taken off; or NULL. */
struct ntbr_rrq_ent *ntbr_srq_pop(struct ntbr_ib_dev *dev, u32 id);
/* B: append one receive to a RECV_POST or SRQ_POST being built. */
void ntbr_pub_add(struct ntbr_ib_dev *dev, struct ib_pd *pd,
		  const struct ntbrdma_recv_wqe *w, u32 index, u8 *buf,
		  size_t *len, __le16 *count);

/* ntbrdma_ib_read.c: READ_REQ, ATOMIC_REQ and READ_DONE; QP life. */
void ntbr_read_h_req(struct ntbr_ib_dev *dev, u16 type, const void *p,
		     size_t len);
void ntbr_read_h_done(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_read_h_req_nodev(struct ntbr_dev *nd, const void *p, size_t len);

/* ntbrdma_ib_ud.c: UD datagrams (engine side and the peer's). */
void ntbr_ud_h_send(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_ud_h_more(struct ntbr_ib_dev *dev, const void *p, size_t len);
int ntbr_read_qp_init(struct ntbr_qp *qp);
void ntbr_read_qp_fini(struct ntbr_qp *qp);

#endif /* NTBRDMA_IB_PEER_H */
