// SPDX-License-Identifier: GPL-2.0
/*
 * RDMA WRITE and READ from user space under a peer that deregisters
 * (tests/vm/ntbrdma-bypass.sh).
 *
 *   ntbrdma-bypass-test serve DEV PORT        ntbrdma-bypass-test rserve DEV PORT
 *   ntbrdma-bypass-test client DEV IP PORT    ntbrdma-bypass-test rclient DEV IP PORT
 *
 * serve/client: the client RDMA WRITEs 64 KiB at a time into the
 * server's MR, without end, each WRITE stamping every page with its
 * sequence number, until a WRITE completes in error.  Once the client is
 * writing, the server deregisters the MR and waits until the client's
 * MR_DEL_ACK let it go (the MR leaves its debugfs mr_dying list); then it
 * copies the buffer, waits a second while the client is still posting,
 * and checks that not one byte changed: no store reaches an MR after the
 * acknowledgement.  The client checks that its first failed WRITE
 * completed with IBV_WC_REM_ACCESS_ERR (and that WRITEs succeeded before).
 *
 * rserve/rclient: RDMA READs, checked byte for byte: sizes around the
 * provider's limit for READs from user space (256 bytes), across pages, two
 * SGEs, an unsignalled READ before a signalled one; the server changes
 * its buffer and the client reads the new bytes; a READ from a server QP
 * with max_dest_rd_atomic 0 (REM_INV_REQ_ERR) and from an MR without
 * REMOTE_READ (REM_ACCESS_ERR), each on a QP of its own; then the client
 * READs without end while the server deregisters the MR: every READ that
 * succeeds carries the MR's bytes (none read a revoked mapping's scratch
 * page), and the first that fails says REM_ACCESS_ERR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define CHUNK (64u << 10)

static int serve(const char *dev, int port)
{
	unsigned char *copy = malloc(BUF_SIZE);
	struct peer p;
	char go;

	if (!copy || peer_open(&p, dev, NULL, port))
		return 1;
	/* The client says when it has written a while. */
	CHECK(read(p.fd, &go, 1) == 1, "server: the client is writing");
	usleep(300000);
	peer_dereg_dst(&p, dev);
	memcpy(copy, p.e.dst, BUF_SIZE);
	sleep(1);
	CHECK(!memcmp(copy, p.e.dst, BUF_SIZE),
	      "server: no byte of the MR changed in the second after the acknowledgement");
	barrier(p.fd);
	return failures ? 1 : 0;
}

static int client(const char *dev, const char *ip, int port)
{
	uint64_t i, ok = 0, off, pg;
	struct ibv_wc wc = { 0 };
	bool told = false, err = false;
	struct ibv_sge sge;
	struct peer p;
	double t0;
	int rc;

	if (peer_open(&p, dev, ip, port))
		return 1;
	t0 = now_s();
	for (i = 1; !err && now_s() - t0 < 60; i++) {
		off = (i % (BUF_SIZE / CHUNK)) * CHUNK;
		for (pg = 0; pg < CHUNK; pg += 4096)
			memcpy(p.e.src + off + pg, &i, sizeof(i));
		sge = (struct ibv_sge){ (uintptr_t)p.e.src + off, CHUNK,
					p.e.smr->lkey };
		/* Signalled (post_rdma): each WRITE's completion, in turn. */
		rc = post_rdma(p.qp, IBV_WR_RDMA_WRITE, i, &sge, 1,
			       p.them.addr + off, p.them.rkey, 0, 0);
		if (rc) {
			printf("# client: post %llu: %s\n",
			       (unsigned long long)i, strerror(rc));
			break;
		}
		if (wait_wc(p.e.scq, &wc))
			break;
		if (wc.status != IBV_WC_SUCCESS)
			err = true;
		else
			ok++;
		if (!told && ok >= 32) {
			CHECK(write(p.fd, "g", 1) == 1,
			      "client: %llu WRITEs succeeded, the server may go on",
			      (unsigned long long)ok);
			told = true;
		}
	}
	CHECK(err && wc.status == IBV_WC_REM_ACCESS_ERR,
	      "client: the WRITE after the removal completed with REM_ACCESS_ERR (got %s after %llu WRITEs)",
	      err ? ibv_wc_status_str(wc.status) : "none",
	      (unsigned long long)i);
	barrier(p.fd);
	return failures ? 1 : 0;
}

/* --- READs --------------------------------------------------------------- */

#define WO_SIZE (64u << 10)
/* The provider's default limit for READs from user space. */
#define READ_MAX 256u

/* The server's extra QPs and its MR without REMOTE_READ. */
struct rx {
	uint32_t qpn[2];
	uint32_t wo_rkey;
	uint32_t pad;
	uint64_t wo_addr;
};

/*
 * Two more QPs of p->e connected to the other side's two: qp[0] as a
 * responder without READ resources on the server (max_dest_rd_atomic
 * 0), qp[1] as usual.  The server also tells its MR without REMOTE_READ.
 */
static int extra_qps(struct peer *p, struct ibv_qp **qp, bool server,
		     struct ibv_mr *wo, struct rx *them)
{
	struct qp_opts o = { ACCESS, 0, 14, 7, 7 };
	struct rx mine;
	int i;

	memset(&mine, 0, sizeof(mine));
	for (i = 0; i < 2; i++) {
		qp[i] = make_qp(&p->e);
		if (!qp[i])
			return -1;
		mine.qpn[i] = qp[i]->qp_num;
	}
	if (wo) {
		mine.wo_rkey = wo->rkey;
		mine.wo_addr = (uintptr_t)wo->addr;
	}
	if (xchg(p->fd, &mine, them, sizeof(mine)))
		return -1;
	if (server &&
	    connect_qp_opts(&p->e, qp[0], &p->them.gid, them->qpn[0], &o))
		return -1;
	if (!server && connect_qp(&p->e, qp[0], &p->them.gid, them->qpn[0], 7))
		return -1;
	if (connect_qp(&p->e, qp[1], &p->them.gid, them->qpn[1], 7))
		return -1;
	return barrier(p->fd);
}

static int rserve(const char *dev, int port)
{
	unsigned char *wo_buf = aligned_alloc(4096, WO_SIZE);
	struct ibv_mr *wo = NULL;
	struct ibv_qp *qp[2];
	struct peer p;
	struct rx them;
	char go;

	if (!wo_buf || peer_open(&p, dev, NULL, port))
		return 1;
	fill(p.e.dst, BUF_SIZE, 7);
	memset(wo_buf, 0x5a, WO_SIZE);
	wo = ibv_reg_mr(p.e.pd, wo_buf, WO_SIZE,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE);
	CHECK(wo, "server: an MR without REMOTE_READ");
	CHECK(!extra_qps(&p, qp, true, wo, &them),
	      "server: two more QPs connected, one with max_dest_rd_atomic 0");
	barrier(p.fd); /* the client read the first bytes */
	fill(p.e.dst, BUF_SIZE, 8);
	barrier(p.fd); /* ... may read the new ones */
	barrier(p.fd); /* ... read them, and the refused READs */
	CHECK(read(p.fd, &go, 1) == 1, "server: the client is reading");
	usleep(300000);
	peer_dereg_dst(&p, dev);
	barrier(p.fd);
	return failures ? 1 : 0;
}

/*
 * READ len bytes at the server's offset off into our src + dst_off (two
 * SGEs when split is not 0: the first split bytes, then the rest 64 KiB
 * further), and check them against exp; what, for the message.
 */
static void read_check(struct peer *p, const unsigned char *exp, uint64_t off,
		       uint32_t len, uint32_t split, const char *what)
{
	unsigned char *d1 = p->e.src + off, *d2 = d1 + split + (64u << 10);
	struct ibv_sge sge[2] = {
		{ (uintptr_t)d1, split ? split : len, p->e.smr->lkey },
		{ (uintptr_t)d2, len - split, p->e.smr->lkey },
	};
	struct ibv_wc wc = { 0 };
	bool same;

	memset(d1, 0xee, sge[0].length);
	if (split)
		memset(d2, 0xee, sge[1].length);
	if (post_rdma(p->qp, IBV_WR_RDMA_READ, off, sge, split ? 2 : 1,
		      p->them.addr + off, p->them.rkey, 0, 0) ||
	    wait_wc(p->e.scq, &wc)) {
		CHECK(0, "%s: posted and completed", what);
		return;
	}
	same = !memcmp(d1, exp + off, sge[0].length) &&
	       (!split || !memcmp(d2, exp + off + split, sge[1].length));
	CHECK(wc.status == IBV_WC_SUCCESS && wc.opcode == IBV_WC_RDMA_READ &&
		      wc.wr_id == off && wc.byte_len == len && same,
	      "%s: %s, %u bytes, %s", what, ibv_wc_status_str(wc.status),
	      wc.byte_len, same ? "the server's bytes" : "WRONG BYTES");
}

/* An unsignalled READ of 8 bytes at off, then a signalled one at off2. */
static void read_unsignalled(struct peer *p, const unsigned char *exp,
			     uint64_t off, uint64_t off2)
{
	struct ibv_sge s1 = { (uintptr_t)p->e.src + off, 8, p->e.smr->lkey };
	struct ibv_send_wr wr, *bad;
	struct ibv_wc wc = { 0 };

	memset(p->e.src + off, 0xee, 8);
	memset(&wr, 0, sizeof(wr));
	wr.wr_id = 1;
	wr.opcode = IBV_WR_RDMA_READ;
	wr.sg_list = &s1;
	wr.num_sge = 1;
	wr.wr.rdma.remote_addr = p->them.addr + off;
	wr.wr.rdma.rkey = p->them.rkey;
	CHECK(!ibv_post_send(p->qp, &wr, &bad), "unsignalled READ posted");
	read_check(p, exp, off2, 8, 0, "a signalled READ after it");
	CHECK(!memcmp(p->e.src + off, exp + off, 8) &&
		      ibv_poll_cq(p->e.scq, 1, &wc) == 0,
	      "the unsignalled READ: the server's bytes, no completion");
}

/*
 * A READ of 64 bytes at off into an MR of ours (two pages) whose iova is
 * its address plus a page (uverbs wants the same offset in the page):
 * SGE addresses are iovas, so the bytes belong at the buffer's start (a
 * provider that took the SGE address for a pointer would put them a page
 * further: inside the MR's address range too).
 */
static void read_iova(struct peer *p, const unsigned char *exp, uint64_t off)
{
	unsigned char *buf = p->e.src + off;
	uint64_t iova = (uintptr_t)buf + 4096;
	struct ibv_wc wc = { 0 };
	unsigned char ee[64];
	struct ibv_sge sge;
	struct ibv_mr *mr;

	mr = ibv_reg_mr_iova(p->e.pd, buf, 8192, iova, IBV_ACCESS_LOCAL_WRITE);
	if (!mr) {
		CHECK(0, "an MR at its address + 4096: %s", strerror(errno));
		return;
	}
	memset(buf, 0xee, 8192);
	memset(ee, 0xee, sizeof(ee));
	sge = (struct ibv_sge){ iova, 64, mr->lkey };
	CHECK(!post_rdma(p->qp, IBV_WR_RDMA_READ, 4, &sge, 1,
			 p->them.addr + off, p->them.rkey, 0, 0) &&
		      !wait_wc(p->e.scq, &wc) && wc.status == IBV_WC_SUCCESS &&
		      !memcmp(buf, exp + off, 64) &&
		      !memcmp(buf + 4096, ee, 64),
	      "READ into an MR whose iova is not its address: %s, the bytes at its iova",
	      ibv_wc_status_str(wc.status));
	ibv_dereg_mr(mr);
}

/* One READ of 8 bytes through qp (rkey at raddr): it fails with st. */
static void read_refused(struct peer *p, struct ibv_qp *qp, uint64_t raddr,
			 uint32_t rkey, enum ibv_wc_status st, const char *what)
{
	struct ibv_sge sge = { (uintptr_t)p->e.src, 8, p->e.smr->lkey };
	struct ibv_wc wc = { 0 };

	memset(p->e.src, 0xee, 8);
	if (post_rdma(qp, IBV_WR_RDMA_READ, 2, &sge, 1, raddr, rkey, 0, 0) ||
	    wait_wc(p->e.scq, &wc)) {
		CHECK(0, "%s: posted and completed", what);
		return;
	}
	CHECK(wc.status == st && p->e.src[0] == 0xee,
	      "%s: %s (want %s), nothing read", what,
	      ibv_wc_status_str(wc.status), ibv_wc_status_str(st));
}

/*
 * The first and last 8 bytes of every page of buf's len bytes (all of
 * them up to a page): poisoned (exp NULL), or compared with exp's.  A READ whose loads met a revoked
 * mapping's scratch page has other bytes in every page from there on;
 * checking these alone keeps the loop's time in the READs.
 */
static bool marks(unsigned char *buf, const unsigned char *exp, uint32_t len)
{
	uint32_t off, at[2];
	int i;

	if (len <= 4096) { /* all of it */
		if (!exp)
			memset(buf, 0xee, len);
		return !exp || !memcmp(buf, exp, len);
	}
	for (off = 0; off < len; off += 4096) {
		at[0] = off;
		at[1] = (off + 4096 < len ? off + 4096 : len) - 8;
		for (i = 0; i < 2; i++) {
			if (!exp)
				memset(buf + at[i], 0xee, 8);
			else if (memcmp(buf + at[i], exp + at[i], 8))
				return false;
		}
	}
	return true;
}

static int rclient(const char *dev, const char *ip, int port)
{
	unsigned char *exp = malloc(BUF_SIZE);
	uint64_t n = 0, ok = 0;
	struct ibv_wc wc = { 0 };
	struct ibv_qp *qp[2];
	bool told = false, wrong = false;
	struct ibv_sge sge;
	const char *env;
	struct peer p;
	struct rx them;
	uint64_t old;
	uint32_t len;
	double t0;

	if (!exp || peer_open(&p, dev, ip, port))
		return 1;
	CHECK(!extra_qps(&p, qp, false, NULL, &them),
	      "client: two more QPs connected");
	fill(exp, BUF_SIZE, 7);
	/*
	 * First a compare-and-swap that does not swap (atomics go through
	 * the kernel): once it completed the peer QP answers, and the
	 * provider is granted its mapping at the first READ.
	 */
	memcpy(&old, exp, 8);
	sge = (struct ibv_sge){ (uintptr_t)p.e.src, 8, p.e.smr->lkey };
	CHECK(!post_atomic(p.qp, IBV_WR_ATOMIC_CMP_AND_SWP, 3, &sge,
			   p.them.addr, p.them.rkey, old ^ 1, 0) &&
		      !wait_wc(p.e.scq, &wc) && wc.status == IBV_WC_SUCCESS &&
		      !memcmp(p.e.src, &old, 8),
	      "a compare-and-swap that does not swap: %s",
	      ibv_wc_status_str(wc.status));
	read_check(&p, exp, 64u << 10, 64u << 10, 0, "READ 64 KiB");
	read_check(&p, exp, 0, 8, 0, "READ 8 bytes");
	read_check(&p, exp, 4096 + 100, 100, 0, "READ 100 bytes at 4196");
	read_check(&p, exp, 2 * 4096 + 7, READ_MAX, 0, "READ 256 bytes");
	read_check(&p, exp, 3 * 4096 + 9, READ_MAX + 1, 0, "READ 257 bytes");
	read_check(&p, exp, 4 * 4096 - 100, 200, 0,
		   "READ 200 bytes across two pages");
	read_check(&p, exp, 5 * 4096, 4096, 0, "READ 4 KiB, one page");
	read_check(&p, exp, 6 * 4096 + 5, 4000, 0,
		   "READ 4000 bytes across two pages");
	read_check(&p, exp, BUF_SIZE - 64, 64, 0, "READ the last 64 bytes");
	read_check(&p, exp, 7 * 4096 + 17, 250, 100,
		   "READ 250 bytes, two SGEs");
	read_unsignalled(&p, exp, 9 * 4096, 10 * 4096);
	/*
	 * The CQ armed: the provider reads, the kernel makes the completion
	 * (and would raise the event): debugfs umap read_done, checked by
	 * the script.
	 */
	CHECK(!ibv_req_notify_cq(p.e.scq, 0), "send CQ armed");
	read_check(&p, exp, 11 * 4096 + 3, 64, 0,
		   "READ 64 bytes, the CQ armed");
	read_iova(&p, exp, 12 * 4096);
	barrier(p.fd);
	barrier(p.fd); /* the server wrote new bytes */
	fill(exp, BUF_SIZE, 8);
	read_check(&p, exp, 5 * 4096, 4096, 0,
		   "READ 4 KiB again: the new bytes");
	read_check(&p, exp, 0, 8, 0, "READ 8 bytes again: the new bytes");
	read_check(&p, exp, 4096 + 100, 100, 0,
		   "READ 100 bytes again: the new bytes");
	read_refused(&p, qp[0], p.them.addr, p.them.rkey,
		     IBV_WC_REM_INV_REQ_ERR,
		     "READ from a QP with max_dest_rd_atomic 0");
	read_refused(&p, qp[1], them.wo_addr, them.wo_rkey,
		     IBV_WC_REM_ACCESS_ERR,
		     "READ from an MR without REMOTE_READ");
	barrier(p.fd);

	/*
	 * READs without end while the server deregisters the MR, as long as
	 * the provider reads from user space (longer: more of them run
	 * while the mapping is revoked).
	 */
	env = getenv("NTBRDMA_BYPASS_READ_MAX");
	len = env ? (uint32_t)strtoul(env, NULL, 0) : READ_MAX;
	if (!len || len > BUF_SIZE)
		len = READ_MAX;
	sge = (struct ibv_sge){ (uintptr_t)p.e.src, len, p.e.smr->lkey };
	t0 = now_s();
	for (n = 1; now_s() - t0 < 60; n++) {
		marks(p.e.src, NULL, len);
		if (post_rdma(p.qp, IBV_WR_RDMA_READ, n, &sge, 1, p.them.addr,
			      p.them.rkey, 0, 0) ||
		    wait_wc(p.e.scq, &wc))
			break;
		if (wc.status != IBV_WC_SUCCESS)
			break;
		if (!marks(p.e.src, exp, len))
			wrong = true;
		if (++ok >= 32 && !told) {
			CHECK(write(p.fd, "g", 1) == 1,
			      "client: %llu READs, the server may go on",
			      (unsigned long long)ok);
			told = true;
		}
	}
	CHECK(!wrong,
	      "client: each of %llu READs of %u bytes that succeeded carried the MR's bytes",
	      (unsigned long long)ok, len);
	CHECK(wc.status == IBV_WC_REM_ACCESS_ERR,
	      "client: the READ after the removal completed with REM_ACCESS_ERR (got %s after %llu READs)",
	      ibv_wc_status_str(wc.status), (unsigned long long)n);
	barrier(p.fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client"))
		return client(argv[2], argv[3], atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[1], "rserve"))
		return rserve(argv[2], atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "rclient"))
		return rclient(argv[2], argv[3], atoi(argv[4]));
	fprintf(stderr,
		"usage: %s serve|rserve DEV PORT | client|rclient DEV IP PORT\n",
		argv[0]);
	return 2;
}
