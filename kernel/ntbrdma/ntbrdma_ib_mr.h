/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ntbrdma: memory regions (ntbrdma_ib_mr.c) and the table of the peer's
 * memory regions this host may write into (ntbrdma_ib_rmr.c).
 * Included by ntbrdma_ib.h.
 */
#ifndef NTBRDMA_IB_MR_H
#define NTBRDMA_IB_MR_H

#include <linux/bits.h>
#include <linux/completion.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/refcount.h>
#include <linux/wait.h>
#include <linux/workqueue.h>
#include <linux/xarray.h>
#include <rdma/ib_umem.h>
#include <rdma/ib_verbs.h>

struct ntbr_ib_dev;

/*
 * Control-message types of memory registration: NTBR_CTRL_TYPE_IB + 0..7
 * (16..23) belong to the MR code.  Payloads: struct ntbr_mr_msg_*, little
 * endian, exact sizes (ntbrdma_ib_mr.c).
 */
enum {
	NTBR_CTRL_MR_ADD = NTBR_CTRL_TYPE_IB,	/* 16: announce an MR */
	NTBR_CTRL_MR_LIST,			/* 17: where to put its pages */
	NTBR_CTRL_MR_READY,			/* 18: page list written */
	NTBR_CTRL_MR_READY_ACK,			/* 19: entry usable (or not) */
	NTBR_CTRL_MR_DEL,			/* 20: MR deregistered */
	NTBR_CTRL_MR_DEL_ACK,			/* 21: peer no longer uses it */
	NTBR_CTRL_MR_RESYNC,			/* 22: announce all again */
	NTBR_CTRL_MR_LAST = NTBR_CTRL_TYPE_IB + 7, /* 23: reserved to here */
};

/*
 * Messages.  MR_ADD {rkey, seq, iova, length, access, pd_id, npages,
 * page_shift, first_off}: seq numbers the announcement (a new one replaces
 * the old entry); the page list has npages entries of 1 << page_shift
 * bytes, the MR starts first_off bytes into the first.  MR_LIST {rkey,
 * seq, list_dma, status}: status 0, or a negative errno when the peer
 * refused.  MR_READY, MR_DEL, MR_DEL_ACK {rkey, seq}; MR_READY_ACK {rkey,
 * seq, status}; MR_RESYNC has no payload.
 */
struct ntbr_mr_msg_add {
	__le32 rkey;
	__le32 seq;
	__le64 iova;
	__le64 length;
	__le32 access;
	__le32 pd_id;
	__le32 npages;
	__le32 page_shift;
	__le32 first_off;
	__le32 rsvd;
};

struct ntbr_mr_msg_list {
	__le32 rkey;
	__le32 seq;
	__le64 list_dma;
	__le32 status;
	__le32 rsvd;
};

struct ntbr_mr_msg_key {		/* MR_READY, MR_DEL, MR_DEL_ACK */
	__le32 rkey;
	__le32 seq;
};

struct ntbr_mr_msg_ack {		/* MR_READY_ACK */
	__le32 rkey;
	__le32 seq;
	__le32 status;
	__le32 rsvd;
};

/* The peer's MRs: page list at most 4 MiB (one coherent allocation). */
#define NTBR_RMR_MAX_PAGES	BIT(19)
/* ... and at most this many pages of all of them together. */
#define NTBR_RMR_MAX_TOTAL	BIT(23)

/* Announcement state of a local MR with remote access (ntbr_mr.ann). */
enum ntbr_mr_ann {
	NTBR_MR_IDLE,		/* peer has no entry; announce work sends ADD */
	NTBR_MR_ADD_SENT,	/* waiting for MR_LIST */
	NTBR_MR_READY_SENT,	/* list written, waiting for MR_READY_ACK */
	NTBR_MR_ANNOUNCED,	/* the peer's entry is READY */
	NTBR_MR_REFUSED,	/* peer refused; again at next link up/resync */
	NTBR_MR_DEL_SENT,	/* deregistered, waiting for MR_DEL_ACK */
	NTBR_MR_DEL_WAIT,	/* deregistered, MR_DEL not sent yet */
};

struct ntbr_mr {
	struct ib_mr ibmr;
	struct ntbr_ib_dev *dev;
	struct ib_umem *umem;		/* NULL: DMA MR (kernel) */
	u64 *dma;			/* per page: DMA address for the NTB */
	u64 iova;
	u64 length;
	u32 npages;
	u32 first_off;			/* offset of iova in the first page */
	u32 pd_id;
	int access;
	bool mapped;			/* umem sgtable mapped for the NTB */
	bool dead;			/* deregistered: the engine skips it */
	/* Under dev->mr_mutex: */
	enum ntbr_mr_ann ann;
	u32 seq;			/* of the current announcement */
	bool late;			/* DEL not acked in time: logged */
	bool acked;			/* DEL_ACK came before mr_dying */
	/*
	 * The peer may hold an entry of this MR (an MR_ADD went out and
	 * was not refused) from the link session ann_ups; it may write into
	 * the pages until it acknowledges MR_DEL or that session provably
	 * ended (ntbrdma_ib_mr.c, "Deregistration").
	 */
	bool peer_holds;
	u32 ann_ups;
	unsigned long del_deadline;	/* jiffies */
	struct list_head entry;		/* dev->mr_remote or dev->mr_dying */
	struct completion ann_done;	/* announcement finished (any way) */
};

/* An MR of the peer (entry of dev->rmr_xa). */
enum ntbr_rmr_state {
	NTBR_RMR_ADDING,		/* list being written by the peer */
	NTBR_RMR_READY,
};

struct ntbr_rmr {
	refcount_t ref;			/* the table's + users' */
	struct ntbr_ib_dev *dev;
	u32 rkey;
	u32 seq;
	u64 iova;
	u64 length;
	u32 access;
	u32 pd_id;
	u32 npages;
	u32 page_shift;
	u32 first_off;
	enum ntbr_rmr_state state;	/* under the xarray lock */
	u64 *list;			/* READY: validated copy, kvmalloc */
	__le64 *list_buf;		/* ADDING: coherent, the peer writes */
	dma_addr_t list_dma;
	struct work_struct free_work;	/* frees in process context */
	/* MR_DEL unlinked it: MR_DEL_ACK when the last user left. */
	bool del_ack;
	u32 del_ups;			/* in this link session (mrd.ups) */
	struct ntbr_mr_msg_key del_msg;
};

struct ntbr_mr_dev {
	/* Local MRs, keys: index (xa) << 8 | random byte. */
	struct xarray mr_xa;		/* index -> ntbr_mr, own lock */
	u32 mr_next;			/* cyclic allocation cursor */
	atomic_t num_mr;		/* enforces NTBR_MAX_MR */
	struct mutex mr_mutex;		/* announcement state, the lists */
	struct list_head mr_remote;	/* registered MRs with REMOTE_* */
	struct list_head mr_dying;	/* deregistered, waiting for ack */
	wait_queue_head_t dying_wq;	/* an MR left mr_dying */
	u32 ups;			/* link-ups seen (sessions), mr_mutex */
	bool up;			/* between our link_up and link_down */
	bool closed;			/* dev_fini: no handler touches MRs */
	struct work_struct ann_work;	/* sends MR_ADDs and MR_DELs, paced */
	u32 del_out;			/* MR_DELs unanswered, this session */
	u32 del_wait;			/* MRs in state DEL_WAIT */
	struct delayed_work late_work;	/* logs unanswered MR_DELs */
	/* The peer's MRs: rkey -> ntbr_rmr, XA_FLAGS_LOCK_IRQ. */
	struct xarray rmr_xa;
	u32 rmr_pages;			/* sum of npages, under xa lock */
	u32 rmr_count;			/* entries (<= NTBR_MAX_MR), likewise */
	/* debugfs rmr_xlate: last result, under xlate_mutex */
	struct mutex xlate_mutex;
	char xlate_res[64];
};

/* ntbrdma_ib_mr.c */
extern struct workqueue_struct *ntbr_mr_wq;	/* announce, late, frees */
struct ib_mr *ntbr_reg_user_mr(struct ib_pd *ibpd, u64 start, u64 length,
			       u64 iova, int access, struct ib_udata *udata);
struct ib_mr *ntbr_get_dma_mr(struct ib_pd *ibpd, int access);
int ntbr_dereg_mr(struct ib_mr *ibmr, struct ib_udata *udata);
void ntbr_mr_dev_init(struct ntbr_ib_dev *dev);
void ntbr_mr_dev_registered(struct ntbr_ib_dev *dev);
void ntbr_mr_dev_fini(struct ntbr_ib_dev *dev);
void ntbr_mr_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir);
void ntbr_mr_link_up(struct ntbr_ib_dev *dev);
void ntbr_mr_link_down(struct ntbr_ib_dev *dev);
int ntbr_mr_init(void);
void ntbr_mr_exit(void);

/*
 * Control message to the peer (ntbr_ctrl_send: never waits; queued when
 * the ring is full): 0 or -ENOTCONN.
 */
int ntbr_mr_send(struct ntbr_ib_dev *dev, u16 type, const void *msg,
		 size_t len);

/* ntbrdma_ib_rmr.c: the remote-MR table, for the data path. */
/*
 * A referenced READY entry for rkey if [va, va + len) lies inside it and
 * its access includes every flag of @access (IB_ACCESS_REMOTE_*), else
 * NULL.  Any context.  The caller still checks rmr->pd_id.
 */
struct ntbr_rmr *ntbr_rmr_get(struct ntbr_ib_dev *dev, u32 rkey, u64 va,
			      u64 len, int access);
/* A referenced READY entry for rkey, whatever its range and access. */
struct ntbr_rmr *ntbr_rmr_get_key(struct ntbr_ib_dev *dev, u32 rkey);
/* As ntbr_rmr_get, saying why not: -ENOENT, -ERANGE or -EACCES. */
int ntbr_rmr_lookup(struct ntbr_ib_dev *dev, u32 rkey, u64 va, u64 len,
		    int access, struct ntbr_rmr **rmrp);
void ntbr_rmr_put(struct ntbr_rmr *rmr);
/*
 * The peer's DMA address of va (inside rmr) and how many bytes from there
 * are contiguous in the peer's DMA space (up to the end of the MR, at
 * most 1024 pages looked at).  0 or -ERANGE.
 */
int ntbr_rmr_dma_addr(struct ntbr_rmr *rmr, u64 va, u64 *dma, size_t *contig);
/*
 * Runs of contiguous pages under [va, va + len) of rmr (inside it, len >
 * 0: as ntbr_rmr_lookup checked); ntbr_page_runs() for any page list.
 */
u64 ntbr_rmr_runs(struct ntbr_rmr *rmr, u64 va, u64 len);
u64 ntbr_page_runs(const u64 *list, u32 shift, u64 off, u64 len);
void ntbr_rmr_handle_add(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_rmr_handle_ready(struct ntbr_ib_dev *dev, const void *p,
			   size_t len);
void ntbr_rmr_handle_del(struct ntbr_ib_dev *dev, const void *p, size_t len);
void ntbr_rmr_drop_all(struct ntbr_ib_dev *dev);
void ntbr_rmr_debugfs(struct ntbr_ib_dev *dev, struct dentry *dir);

#endif /* NTBRDMA_IB_MR_H */
