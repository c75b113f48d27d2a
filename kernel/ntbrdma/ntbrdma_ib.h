/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma: the RDMA half's private declarations (ib_device, verbs objects).
 */
#ifndef NTBRDMA_IB_H
#define NTBRDMA_IB_H

#include <linux/list.h>
#include <linux/spinlock.h>
#include <rdma/ib_verbs.h>
#include <rdma/uverbs_ioctl.h>
#include <rdma/ntbrdma-abi.h>

#include "ntbrdma.h"
#include "ntbrdma_ib_mr.h"

/* Limits of this device, reported by query_device. */
#define NTBR_MAX_CQ		16384
#define NTBR_MAX_CQE		32768	/* a power of two */
#define NTBR_MAX_PD		65536
#define NTBR_MAX_QP		4096
#define NTBR_MAX_QP_WR		16384
#define NTBR_MAX_SGE		16
#define NTBR_MAX_INLINE		256
#define NTBR_MAX_MR		65536
#define NTBR_MAX_RD_ATOM	16	/* a power of two: qp->rd_q */
/* Our READs in flight beyond the first of each QP (ntbrdma_ib_read.c). */
#define NTBR_RD_EXTRA_MAX	1024
#define NTBR_GID_TBL_LEN	32
#define NTBR_MAX_AH		65536
/* UD: the largest datagram (IB_MTU_4096) and the Q_Key of QP1. */
#define NTBR_UD_MAX_MSG		4096
#define NTBR_QP1_QKEY		0x80010000U
/* Control messages one datagram of NTBR_UD_MAX_MSG bytes takes. */
#define NTBR_UD_MSGS_MAX	9
#define NTBR_MAX_MSG_SZ		0x80000000U
/* SRQs (ntbrdma_ib_srq.c); UCX's rc_verbs asks for 4096 receives. */
#define NTBR_MAX_SRQ		1024
#define NTBR_MAX_SRQ_WR		16384	/* a power of two */

struct ntbr_ud_dev;
struct ntbr_ud_qp;

struct ntbr_ib_dev {
	struct ib_device ibdev;		/* first: ib_alloc_device */
	struct ntbr_dev *nd;		/* reference held until dealloc */
	struct list_head list;		/* ntbr_ib_devs, under ntbr_ib_lock */
	/* Last port state reported by an event, under ntbr_ib_lock. */
	bool port_active;
	atomic_t next_cq_id;
	atomic_t num_cq;		/* enforces NTBR_MAX_CQ */
	atomic_t num_pd;		/* enforces NTBR_MAX_PD */
	spinlock_t cq_lock;		/* cqs */
	struct list_head cqs;		/* user CQs, for the test hook */
	struct xarray qps;		/* QP number -> ntbr_qp (>= 2) */
	u32 next_qpn;			/* cyclic allocation, under qps lock */
	atomic_t num_qp;		/* enforces NTBR_MAX_QP */
	/* Engine: held (read) while it uses MRs/QPs of the xarrays. */
	struct rw_semaphore eng_sem;
	/* Bytes of receives the peer published, all QPs (peer.c budget). */
	atomic_long_t rrq_bytes;
	/*
	 * RDMA READ (ntbrdma_ib_read.c): our READs in flight beyond the
	 * first of each QP, and the peer's READs queued on our QPs.
	 */
	atomic_t rd_extra;
	atomic_t rd_in;
	/* Address handles by index (user WQEs name them so), ntbrdma_ib_ah.c. */
	struct xarray ahs;
	atomic_t num_ah;
	struct ntbr_ud_dev *ud;		/* UD datagrams (ntbrdma_ib_ud.c) */
	/*
	 * SRQs (ntbrdma_ib_srq.c): ours by id, and the receives the peer's
	 * SRQs published to us (struct ntbr_rsrq by the peer's id, their
	 * lists under rsrq_lock).
	 */
	struct xarray srqs;
	u32 next_srq;			/* cyclic allocation, under srqs lock */
	atomic_t num_srq;		/* enforces NTBR_MAX_SRQ */
	struct xarray rsrqs;
	spinlock_t rsrq_lock;		/* also the lists, nrsrq */
	u32 nrsrq;			/* enforces NTBR_MAX_SRQ on the peer */
	struct ntbr_mr_dev mrd;		/* MRs, the peer's MRs (ntbrdma_ib_mr.h) */
	struct dentry *dbg;		/* debugfs directory */
	/* User mappings of peer MRs (ntbrdma_ib_umap.c). */
	struct mutex umap_lock;		/* umaps, each QP's umap_count/map_gen */
	struct list_head umaps;		/* struct ntbr_umap, live ones */
	struct work_struct umap_work;	/* revokes what is no longer allowed */
	atomic_t umap_live;		/* debugfs: live, made, revoked */
	atomic_t umap_made;
	atomic_t umap_revoked;
	atomic_t umap_made_read;	/* of those made, for READs */
	atomic_t umap_read_done;	/* READs done by the provider we completed */
	atomic_t umap_made_inbox;	/* of those made, of peer inboxes */
	atomic_t eager_notify;		/* eager messages we told the peer of */
	/*
	 * Receive inboxes (ntbrdma_ib_inbox.c), debugfs "inbox": slots we
	 * wrote into the peer's inboxes, slots we wrote into ours, and
	 * RECV_DONEs whose completion the peer had put into our inbox.
	 */
	atomic_t inbox_put;
	atomic_t inbox_local;
	atomic_t inbox_done;
};

struct ntbr_ucontext {
	struct ib_ucontext ibuc;
	/* Where a revoked peer-MR mapping's stores go (ntbr_uc_sink). */
	struct mutex sink_lock;
	struct page *sink;
};

struct ntbr_pd {
	struct ib_pd ibpd;
};

/*
 * What an address handle says: where a UD datagram goes (a GID of ours:
 * loopback; any other: the peer) and what its GRH says.  Immutable; in
 * dev->ahs by index (what WQEs carry), freed after an RCU grace period.
 */
struct ntbr_ah_info {
	struct rcu_head rcu;
	u32 index;
	struct ib_pd *pd;		/* compared, never dereferenced */
	bool local;			/* the destination GID is one of ours */
	bool ipv4;			/* both GIDs IPv4-mapped: an IPv4 GRH */
	u8 hop_limit;
	u8 traffic_class;
	u32 flow_label;
	union ib_gid sgid;
	union ib_gid dgid;
};

struct ntbr_ah {
	struct ib_ah ibah;
	struct ntbr_ah_info *info;
};

/*
 * A CQ ring (include/rdma/ntbrdma-abi.h).  The kernel is its only
 * producer (ntbr_cq_post, under lock).  For user CQs the consumer is the
 * provider, for kernel CQs it is ntbr_poll_cq (under lock as well).
 */
struct ntbr_cq_ring {
	void *buf;			/* vmalloc_user: ctrl + entries */
	size_t size;			/* bytes, page multiple */
	u32 num_cqe;			/* power of two */
	u32 prod;			/* the kernel's own copy of ctrl->prod */
	struct ntbrdma_cq_ctrl *ctrl;
	struct ntbrdma_cqe *cqe;
	struct rdma_user_mmap_entry *mmap_entry; /* user CQs */
};

struct ntbr_cq {
	struct ib_cq ibcq;
	struct mutex resize_mutex;	/* one resize at a time */
	spinlock_t lock;		/* producer side, and kernel polling */
	struct ntbr_cq_ring ring;
	/* Kernel CQs: the ib_qp of each slot (the CQE holds only its number). */
	struct ib_qp **slot_qp;
	/*
	 * Kernel CQs: calls the completion handler, never from inside a
	 * producer (which may hold a QP's ring lock with interrupts off: a
	 * handler that posts again on that QP would deadlock).
	 */
	struct work_struct comp_work;
	struct list_head dev_entry;	/* ntbr_ib_dev.cqs (user CQs) */
	u32 inject_seq;			/* test hook: next wr_id */
	u32 id;
	bool user;
	bool error;			/* overflowed: IB_EVENT_CQ_ERR sent */
};

struct ntbr_mmap_entry {
	struct rdma_user_mmap_entry rdma_entry;
	void *buf;			/* vmalloc_user memory to map */
	struct ntbr_umap *umap;		/* or: a peer MR's pages (then buf NULL) */
};

/*
 * A user mapping of the whole pages of one peer MR for one QP
 * (ntbrdma_ib_umap.c).  qp, rmr and dev_entry under dev->umap_lock until
 * revoked; vmas and revoked under lock.  Freed with the last reference
 * of its mmap entry (ntbr_mmap_free).
 */
struct ntbr_umap {
	struct ntbr_mmap_entry me;
	struct list_head dev_entry;	/* dev->umaps */
	struct ntbr_qp *qp;
	struct ntbr_rmr *rmr;		/* a reference, until revoked */
	struct ntbr_ucontext *uc;
	u64 iova;			/* the MR address at the start */
	u64 len;			/* bytes, whole pages */
	struct mutex lock;
	struct list_head vmas;		/* struct ntbr_umap_vma */
	bool revoked;
	bool read;			/* for READs: read-only, REMOTE_READ */
	/*
	 * The peer QP's inbox MR (eager messages, Stage B), made in the
	 * peer's epoch `epoch`; its revocation bumps inbox_gen, not map_gen.
	 */
	bool inbox;
	u32 epoch;
};

/*
 * A work queue (SQ or RQ) ring, include/rdma/ntbrdma-abi.h.  The producer
 * is the provider (user QPs) or the kernel verbs (kernel QPs); the kernel
 * is the only consumer and keeps its own copy of cons.
 */
struct ntbr_wq {
	void *buf;			/* vmalloc_user: ctrl + slots */
	size_t size;			/* bytes, page multiple */
	u32 num_wqe;			/* power of two */
	u32 wqe_size;			/* bytes per slot */
	u32 max_sge;			/* as reported in the QP's cap */
	u32 cons;			/* the kernel's own copy of ctrl->cons */
	u32 prod;			/* kernel QPs: the producer's copy */
	struct ntbrdma_wq_ctrl *ctrl;
	void *wqe;			/* slot 0 */
	struct rdma_user_mmap_entry *mmap_entry; /* user QPs */
};

/* Where an RC QP's destination (ah_attr.grh.dgid) lives. */
enum ntbr_qp_dest {
	NTBR_QP_DEST_NONE,		/* no address vector yet */
	NTBR_QP_DEST_LOCAL,		/* one of our own GIDs: loopback */
	NTBR_QP_DEST_PEER,		/* the other host of the NTB link */
};

struct ntbr_rseg;
struct ntbr_inbox;

/* The inbox of the peer QP (its RECV_POST says where; order 0: none). */
struct ntbr_pinbox {
	u64 va;
	u32 key;
	u8 order;
	u8 eager_order;			/* its eager area (0: none), B */
};

struct ntbr_qp {
	struct ib_qp ibqp;
	struct mutex mutex;		/* modify/query: state and attr */
	spinlock_t sq_lock;		/* SQ producer (kernel QPs), flush */
	spinlock_t rq_lock;		/* RQ likewise */
	struct ntbr_wq sq;
	struct ntbr_wq rq;
	struct ib_qp_cap cap;		/* as reported at creation */
	enum ib_sig_type sq_sig_type;
	/* What modify_qp set (only the fields of the accumulated mask). */
	enum ib_qp_state state;
	struct ib_qp_attr attr;		/* ah_attr: no sgid_attr reference */
	enum ntbr_qp_dest dest;
	bool user;
	/* Engine (ntbrdma_ib_engine.c); all but err_pending under mutex. */
	struct delayed_work sq_work;	/* drains the SQ; RNR timer */
	struct ntbr_eng_ctx *eng_ctx;	/* the current WQE */
	int rnr_left;			/* RNR retries left, -1: not started */
	int retry_left;			/* transport retries left, likewise */
	bool err_pending;		/* a responder's receive failed: ERR */
	/* READ WQEs at the head of the SQ sent to the peer, not completed. */
	u32 rd_sq;
	/* NTBR_QP_WAIT_* bits: held back for the control queue (atomic). */
	unsigned long ctrl_wait;
	/*
	 * Peer protocol (ntbrdma_ib_peer.c).  As responder: our receives
	 * published to the peer QP, under rq_lock (pub_mutex serializes
	 * the publishers).  As requester: the receives the peer published
	 * (rrq) and the answer to our READ, under rrq_lock.
	 */
	struct mutex pub_mutex;
	struct work_struct rq_work;	/* publishes for kernel QPs */
	u32 rq_pub;			/* next receive to publish */
	u32 rq_epoch;			/* bumped at each flush/reset */
	u32 pub_qpn;			/* the peer QP holding them */
	bool pub_any;			/* the peer holds this epoch's */
	bool flush_pending;		/* RRQ_FLUSH to send (rq_work) */
	u32 flush_qpn;			/* to this peer QP */
	void *pub_buf;			/* RECV_POST being built */
	struct ntbrdma_recv_wqe *pub_wqe; /* copy of the slot published */
	void *pub_rd;			/* READ_REQ being built */
	spinlock_t rrq_lock;
	struct list_head rrq;		/* struct ntbr_rrq_ent, in order */
	u32 rrq_count;
	u32 rrq_epoch;			/* the peer QP's current epoch */
	u8 peer_rnr_timer;		/* its min_rnr_timer */
	u32 peer_dead_qpn;		/* a peer QP that stopped receiving */
	/*
	 * The engine found no receive of the peer QP (under rrq_lock): the
	 * next RECV_POST runs it at once, whatever its RNR timer says (a
	 * message of the peer may have overtaken that RECV_POST through
	 * our inbox, so its receive is there a moment later).
	 */
	bool rrq_want;
	/*
	 * The peer QP known to be connected back to this one: the source
	 * of a RECV_POST accepted in the current epoch (0: none), with
	 * its PD (the pd_id of its MRs) and its IB_ACCESS_REMOTE_* flags.
	 * Requests go only to it (ntbr_peer_conn()).  Under rrq_lock.
	 */
	u32 peer_qpn;
	u32 peer_pd_id;
	u32 peer_access;
	size_t rrq_bytes;		/* held in rrq, for the device budget */
	bool pub_hdr;			/* send a RECV_POST even if empty */
	/*
	 * RDMA READ (ntbrdma_ib_read.c).  As requester, under rrq_lock:
	 * our last READ_REQ, the last one answered with every one before
	 * it, how many of ours count against dev->rd_extra, and what each
	 * READ not yet answered needs for its completion (by req_id).  As
	 * responder: the peer's READ_REQs, executed in order by rd_work.
	 */
	u32 rd_id;
	u32 rd_acked;
	u32 rd_extra;
	struct ntbr_rd_ent {
		u64 wr_id;
		u32 len;
		u32 flags;		/* NTBRDMA_WQE_F_* of the WQE */
		u32 opcode;		/* READ or an atomic */
		int status;		/* its answer, -1 while none */
	} rd_q[NTBR_MAX_RD_ATOM];
	struct list_head rd_in;		/* struct ntbr_rd_req, under rrq_lock */
	bool rd_busy;			/* one of them executing (rrq_lock) */
	struct work_struct rd_work;
	struct ntbr_rseg *rd_dst;	/* rd_work's scratch */
	/*
	 * UD and GSI (ntbrdma_ib_ud.c): scratch of the datagram sent and
	 * received; ud_rx_mutex makes the delivery of datagrams to this QP
	 * one at a time (the peer's handler and local engines).
	 */
	struct ntbr_ud_qp *ud;
	struct mutex ud_rx_mutex;	/* one delivery at a time */
	/* Peer-MR mappings of user space (ntbrdma_ib_umap.c), umap_lock. */
	u32 umap_count;
	u32 map_gen;			/* published in sq.ctrl->map_gen */
	u32 inbox_gen;			/* published in sq.ctrl->inbox_gen */
	/*
	 * SRQ (ntbrdma_ib_srq.c).  As responder: the QP receives from
	 * ibqp.srq (its own RQ stays empty) and counts in the SRQ's npeer
	 * while connected to the peer (under mutex).  As requester: the
	 * peer QP receives from its SRQ peer_srq (under rrq_lock; 0: none).
	 */
	bool srq_peer;
	u32 peer_srq;
	/*
	 * Receive inboxes (ntbrdma_ib_inbox.c).  Ours, set at creation
	 * (NULL: none); the peer QP's, under rrq_lock as the rest of what
	 * its RECV_POST says.
	 */
	struct ntbr_inbox *inbox;
	struct ntbr_pinbox peer_inbox;
	/*
	 * The peer's published receives for the provider's eager messages
	 * (Stage B): NTBRDMA_PUB_ENTRIES entries at the end of the SQ ring's
	 * memory (mapped with it); written under rrq_lock (NULL: none).
	 */
	struct ntbrdma_pub_ent *pub_ring;
};

/*
 * A shared receive queue.  Its ring (the RQ layout of ntbrdma-abi.h) is
 * written by the provider (user SRQs) or ntbr_post_srq_recv; the kernel
 * is its only consumer, under lock: a loopback requester or a UD
 * delivery takes the head, the publisher moves receives into records
 * it hands to the peer (SRQ_POST), which names a record in RECV_DONE.
 */
struct ntbr_srq_rec {
	struct ntbrdma_recv_wqe wqe;
	u16 gen;			/* in the handle: a stale one is refused */
	u8 state;			/* NTBR_SRQ_REC_* */
};

struct ntbr_srq {
	struct ib_srq ibsrq;
	u32 id;				/* dev->srqs, on the wire */
	bool user;
	spinlock_t lock;		/* ring consumer, records, limit */
	struct ntbr_wq rq;		/* rq.num_wqe: max_wr as reported */
	u32 limit;			/* armed srq_limit; 0: not armed */
	struct ntbr_srq_rec *rec;	/* rq.num_wqe records */
	u32 *free;			/* free record indices (a stack) */
	u32 nfree;
	u32 *avail;			/* records to publish again (FIFO) */
	u32 avail_head;
	u32 navail;
	u32 npub;			/* records the peer holds */
	bool pub_any;			/* the peer may hold some: flush */
	atomic_t npeer;			/* attached QPs connected to the peer */
	struct mutex pub_mutex;		/* one publisher; link down */
	struct work_struct pub_work;
	void *pub_buf;			/* SRQ_POST being built */
	u32 *pub_idx;			/* its records */
	unsigned long ctrl_wait;	/* bit 0: waits for the control queue */
};

static inline struct ntbr_ib_dev *to_ntbr_ib(struct ib_device *ibdev)
{
	return container_of(ibdev, struct ntbr_ib_dev, ibdev);
}

static inline struct ntbr_ucontext *to_ntbr_uc(struct ib_ucontext *ibuc)
{
	return container_of(ibuc, struct ntbr_ucontext, ibuc);
}

static inline struct ntbr_cq *to_ntbr_cq(struct ib_cq *ibcq)
{
	return container_of(ibcq, struct ntbr_cq, ibcq);
}

static inline struct ntbr_qp *to_ntbr_qp(struct ib_qp *ibqp)
{
	return container_of(ibqp, struct ntbr_qp, ibqp);
}

/* Unreliable Connected: no acknowledgements, no READ or atomics. */
static inline bool ntbr_qp_uc(const struct ntbr_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_UC;
}

/* UD, or GSI (QP1, a kernel UD QP). */
static inline bool ntbr_qp_ud(const struct ntbr_qp *qp)
{
	return qp->ibqp.qp_type == IB_QPT_UD || qp->ibqp.qp_type == IB_QPT_GSI;
}

static inline struct ntbr_srq *to_ntbr_srq(struct ib_srq *ibsrq)
{
	return container_of(ibsrq, struct ntbr_srq, ibsrq);
}

static inline struct ntbr_ah *to_ntbr_ah(struct ib_ah *ibah)
{
	return container_of(ibah, struct ntbr_ah, ibah);
}

/* ntbrdma_ib.c: the registered ib_device on nd, referenced (ib_device_put). */
struct ntbr_ib_dev *ntbr_ib_dev_get(struct ntbr_dev *nd);
/*
 * Also a device being unregistered (until its dealloc_driver unlinks it):
 * pinned with get_device(), the caller puts it; NULL if none.
 */
struct ntbr_ib_dev *ntbr_ib_dev_get_unreg(struct ntbr_dev *nd);

/* ntbrdma_ib_query.c */
int ntbr_query_device(struct ib_device *ibdev, struct ib_device_attr *attr,
		      struct ib_udata *udata);
int ntbr_query_port(struct ib_device *ibdev, u32 port,
		    struct ib_port_attr *attr);
int ntbr_query_pkey(struct ib_device *ibdev, u32 port, u16 index, u16 *pkey);
int ntbr_get_port_immutable(struct ib_device *ibdev, u32 port,
			    struct ib_port_immutable *immutable);
enum rdma_link_layer ntbr_get_link_layer(struct ib_device *ibdev, u32 port);
void ntbr_get_dev_fw_str(struct ib_device *ibdev, char *str);
void ntbr_init_device_attrs(struct ntbr_ib_dev *dev);

/* ntbrdma_ib_ctx.c */
int ntbr_alloc_ucontext(struct ib_ucontext *ibuc, struct ib_udata *udata);
void ntbr_dealloc_ucontext(struct ib_ucontext *ibuc);
int ntbr_mmap(struct ib_ucontext *ibuc, struct vm_area_struct *vma);
void ntbr_mmap_free(struct rdma_user_mmap_entry *rdma_entry);
/* On success the entry owns buf (ntbr_ring_buf_free). */
struct rdma_user_mmap_entry *ntbr_mmap_insert(struct ib_ucontext *ibuc,
					      void *buf, size_t size,
					      u64 *offset);
/* A ring's memory: vfree()d now, or by its mmap entry's last reference. */
void ntbr_ring_buf_free(void *buf, struct rdma_user_mmap_entry *entry);
int ntbr_alloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
int ntbr_dealloc_pd(struct ib_pd *ibpd, struct ib_udata *udata);
/* The context's sink page for revoked mappings (made once); NULL: ENOMEM. */
struct page *ntbr_uc_sink(struct ntbr_ucontext *uc);

/* ntbrdma_ib_umap.c: user mappings of peer MRs (kernel bypass). */
void ntbr_umap_dev_init(struct ntbr_ib_dev *dev);
void ntbr_umap_dev_fini(struct ntbr_ib_dev *dev);
/* read: a read-only mapping for READs (NTBRDMA_QP_OP_MAP_PEER_MR_READ). */
int ntbr_umap_create(struct ntbr_qp *qp, u32 rkey, bool read,
		     struct ib_udata *udata);
int ntbr_umap_mmap(struct ntbr_umap *um, struct vm_area_struct *vma);
/* NTBRDMA_QP_OP_MAP_PEER_INBOX: the peer QP's inbox MR, for eager messages. */
int ntbr_umap_create_inbox(struct ntbr_qp *qp, struct ib_udata *udata);
void ntbr_umap_revoke(struct ntbr_ib_dev *dev, struct ntbr_qp *qp, bool all);
void ntbr_umap_recheck(struct ntbr_ib_dev *dev);
/*
 * debugfs "umap": peer-MR mappings live, made, revoked, made for READs;
 * READs the provider did whose completion we made (NTBRDMA_WQE_F_DONE).
 */
void ntbr_umap_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir);

/* ntbrdma_ib_cq.c */
int ntbr_create_cq(struct ib_cq *ibcq, const struct ib_cq_init_attr *attr,
		   struct ib_udata *udata);
int ntbr_destroy_cq(struct ib_cq *ibcq, struct ib_udata *udata);
int ntbr_resize_cq(struct ib_cq *ibcq, int cqe, struct ib_udata *udata);
int ntbr_poll_cq(struct ib_cq *ibcq, int num_entries, struct ib_wc *wc);
int ntbr_req_notify_cq(struct ib_cq *ibcq, enum ib_cq_notify_flags flags);
/*
 * Producer side, for the QP code: append one completion (qp is the local
 * QP the completion belongs to; solicited marks a solicited receive).
 * Calls the completion handler when the CQ is armed for it.  -ENOSPC when
 * the ring was full (the CQ is then in error, IB_EVENT_CQ_ERR sent).
 */
int ntbr_cq_post(struct ntbr_cq *cq, const struct ntbrdma_cqe *cqe,
		 struct ib_qp *qp, bool solicited);
/*
 * A completion that is not in the ring (an inbox slot) was made: raise
 * the completion event if the CQ is armed for it (notify_solicited: a
 * solicited or failed completion).
 */
void ntbr_cq_notify(struct ntbr_cq *cq, bool notify_solicited);
/* Test hook (debugfs inject_cqe): n receive completions to every user CQ. */
void ntbr_cq_inject(struct ntbr_ib_dev *dev, u32 n, bool solicited);

/* ntbrdma_ib_qp.c */
int ntbr_create_qp(struct ib_qp *ibqp, struct ib_qp_init_attr *init,
		   struct ib_udata *udata);
int ntbr_modify_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr,
		   int attr_mask, struct ib_udata *udata);
int ntbr_query_qp(struct ib_qp *ibqp, struct ib_qp_attr *attr,
		  int attr_mask, struct ib_qp_init_attr *init);
int ntbr_destroy_qp(struct ib_qp *ibqp, struct ib_udata *udata);
int ntbr_fill_res_qp_entry(struct sk_buff *msg, struct ib_qp *ibqp);
int ntbr_post_send(struct ib_qp *ibqp, const struct ib_send_wr *wr,
		   const struct ib_send_wr **bad_wr);
int ntbr_post_recv(struct ib_qp *ibqp, const struct ib_recv_wr *wr,
		   const struct ib_recv_wr **bad_wr);

/* Ring helpers of ntbrdma_ib_qp.c, for the engine (under the ring lock). */
/* extra: bytes after the slots, page aligned (the SQ's pub ring). */
int ntbr_wq_alloc(struct ntbr_wq *wq, u32 num_wqe, u32 wqe_size, u32 max_sge,
		  size_t extra);
void ntbr_wq_free(struct ntbr_wq *wq);
void *ntbr_wq_slot(struct ntbr_wq *wq, u32 index);
bool ntbr_wq_prod(struct ntbr_qp *qp, struct ntbr_wq *wq, u32 *prod);
void ntbr_wq_set_cons(struct ntbr_wq *wq, u32 cons);
/* Under qp->mutex: RTR/RTS/SQD/SQE -> ERR, both rings flushed. */
void ntbr_qp_set_err_locked(struct ntbr_qp *qp);
/* IB_UVERBS_WR_* of a send WQE -> the IB_UVERBS_WC_* of its completion. */
u32 ntbr_wr_to_wc_opcode(u32 opcode);

/* ntbrdma_ib_engine.c */
int ntbr_eng_init(void);
void ntbr_eng_exit(void);
int ntbr_eng_qp_init(struct ntbr_qp *qp);
void ntbr_eng_qp_fini(struct ntbr_qp *qp);
void ntbr_eng_kick(struct ntbr_qp *qp);
void ntbr_eng_kick_user(struct ntbr_qp *qp);
void ntbr_eng_sync(struct ntbr_ib_dev *dev);
void ntbr_eng_link_down(struct ntbr_ib_dev *dev);
/* What of a QP waits for room in the control queue (qp->ctrl_wait). */
enum {
	NTBR_QP_WAIT_SQ,	/* the engine: a SEND's RECV_DONE, a READ_REQ */
	NTBR_QP_WAIT_RQ,	/* publishing: RECV_POST, RRQ_FLUSH */
	NTBR_QP_WAIT_RD,	/* answering the peer's READs: READ_DONE */
};

bool ntbr_eng_ctrl_wait(struct ntbr_qp *qp, int what);
void ntbr_eng_ctrl_room(struct ntbr_ib_dev *dev);

/* ntbrdma_ib_peer.c: the protocol with a QP of the peer host. */
int ntbr_peer_init(void);
void ntbr_peer_exit(void);
int ntbr_peer_qp_init(struct ntbr_qp *qp);
void ntbr_peer_qp_fini(struct ntbr_qp *qp);
void ntbr_peer_rq_kick(struct ntbr_qp *qp);
void ntbr_peer_rq_kick_async(struct ntbr_qp *qp);
void ntbr_peer_rq_flushed(struct ntbr_qp *qp);
void ntbr_peer_attr_changed(struct ntbr_qp *qp);

/* ntbrdma_ib_inbox.c: receive inboxes (rdma-datapath.md, "Stage A"). */
/* create_qp's driver request: maybe an inbox; NTBRDMA_QP_F_* in *flags. */
int ntbr_inbox_create(struct ntbr_qp *qp, struct ib_udata *udata, u32 *flags);
void ntbr_inbox_destroy(struct ntbr_qp *qp);
/*
 * The published-receive ring of a user QP with an inbox (Stage B): the
 * last NTBR_PUB_BYTES of its SQ ring's memory; where, in the answer.
 */
#define NTBR_PUB_BYTES (NTBRDMA_PUB_ENTRIES * sizeof(struct ntbrdma_pub_ent))
void ntbr_pub_ring_map(struct ntbr_qp *qp,
		       struct ntbrdma_create_qp_resp *resp);
/*
 * Under rq_lock: receive index (at cons) completed as cqe says - into
 * the inbox (and the event) if the QP has one, else into the CQ ring.
 */
void ntbr_rq_complete(struct ntbr_qp *qp, u32 index,
		      const struct ntbrdma_cqe *cqe, bool solicited);
/*
 * Under rq_lock, flushing receives up to prod: freeze the provider's
 * rx_taken, put the completions it did not take into the CQ ring; the
 * first receive the flush completes (cons without an inbox).
 */
u32 ntbr_inbox_flush(struct ntbr_qp *qp, u32 prod);
/*
 * Under rq_lock: receive index (at cons) completed into the inbox by the
 * peer; its wr_id and length (from its RQ slot, still intact) are kept
 * for a flush.
 */
void ntbr_inbox_peer_done(struct ntbr_qp *qp, u32 index, u64 wr_id);
/* Under rq_lock: RESET (rx_taken = cons) and a new epoch (rx_epoch). */
void ntbr_inbox_reset(struct ntbr_qp *qp);
void ntbr_inbox_new_epoch(struct ntbr_qp *qp);
void ntbr_inbox_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir);

/* ntbrdma_ib_srq.c: shared receive queues (rdma-datapath.md, "SRQ"). */
int ntbr_create_srq(struct ib_srq *ibsrq, struct ib_srq_init_attr *init,
		    struct ib_udata *udata);
int ntbr_modify_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr,
		    enum ib_srq_attr_mask mask, struct ib_udata *udata);
int ntbr_query_srq(struct ib_srq *ibsrq, struct ib_srq_attr *attr);
int ntbr_destroy_srq(struct ib_srq *ibsrq, struct ib_udata *udata);
int ntbr_post_srq_recv(struct ib_srq *ibsrq, const struct ib_recv_wr *wr,
		       const struct ib_recv_wr **bad_wr);
void ntbr_srq_dev_init(struct ntbr_ib_dev *dev);
void ntbr_srq_dev_fini(struct ntbr_ib_dev *dev);
/* The next receive of srq for a local consumer, copied into *w; false: none. */
bool ntbr_srq_take(struct ntbr_srq *srq, struct ntbrdma_recv_wqe *w);
/* Under qp->mutex: qp (of an SRQ) is connected to the peer or no more. */
void ntbr_srq_qp_peer(struct ntbr_qp *qp, bool peer);
void ntbr_srq_link_up(struct ntbr_ib_dev *dev);
void ntbr_srq_link_down(struct ntbr_ib_dev *dev);
/* Control queue has room: SRQs that held back publish (eng_sem read). */
void ntbr_srq_ctrl_room(struct ntbr_ib_dev *dev);

/* ntbrdma_ib_ah.c: address handles (UD). */
/*
 * A RoCE address vector (port 1, a GRH with its source GID entry, not
 * multicast): 0 and whether its destination GID is one of ours (else,
 * since an NTB link joins two hosts, the peer's), or -EINVAL.
 */
int ntbr_av_dest(struct ib_device *ibdev, struct rdma_ah_attr *attr,
		 bool *local);
int ntbr_create_ah(struct ib_ah *ibah, struct rdma_ah_init_attr *init,
		   struct ib_udata *udata);
int ntbr_destroy_ah(struct ib_ah *ibah, u32 flags);
int ntbr_query_ah(struct ib_ah *ibah, struct rdma_ah_attr *attr);
u32 ntbr_ah_index(struct ib_ah *ibah);
/* AH index of pd into *out (a copy, taken under RCU); false if none. */
bool ntbr_ah_copy(struct ntbr_ib_dev *dev, u32 index, struct ib_pd *pd,
		  struct ntbr_ah_info *out);

/* ntbrdma_ib_ud.c: UD datagrams (Documentation/rdma-datapath.md). */
int ntbr_ud_dev_init(struct ntbr_ib_dev *dev);
void ntbr_ud_dev_fini(struct ntbr_ib_dev *dev);
int ntbr_ud_qp_init(struct ntbr_qp *qp);
void ntbr_ud_qp_fini(struct ntbr_qp *qp);
void ntbr_ud_link_down(struct ntbr_ib_dev *dev);
void ntbr_ud_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir);

#endif /* NTBRDMA_IB_H */
