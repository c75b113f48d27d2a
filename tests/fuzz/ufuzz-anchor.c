// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: the anchor, so that peer-MR mappings are granted under
 * the fuzzing and not only refused.
 *
 * The kernel maps a peer MR into a process only for an RC QP in RTS whose
 * peer QP is connected back to it, and only an MR of that peer QP's PD
 * with REMOTE_WRITE (REMOTE_READ for a READ mapping).  The fuzzers' random
 * QPs almost never meet that (measured: 0 mappings in 60 s), so each
 * fuzzer started with -p also makes an anchor: a PD of its own with one
 * RC QP and one MR (LOCAL_WRITE | REMOTE_WRITE | REMOTE_READ), the QP
 * connected to the other fuzzer's anchor QP, whose number comes over TCP
 * (ANCHOR_PORT on the peer's address; each side listens and connects, so
 * neither waits for a role).
 *
 * Under the fuzzing, op_map_peer() asks for mappings through the anchor QP
 * half the time, and op_anchor() registers the anchor MR again (a new
 * range of the same buffer, sometimes starting and ending inside a page;
 * the old MR deregistered after, which revokes the peer's mappings of it
 * while its threads write through them) or connects the anchor QP again
 * when a stray command moved it out of RTS.
 *
 * Oracle: the peer writes at random through its mappings of our anchor
 * MRs, which may cover only whole pages inside the MR; every byte of the
 * anchor buffer that no anchor MR ever covered (guard pages around it, and
 * the ends of partial pages) must still be zero at the end (anchor_check).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ufuzz.h"

#define ANCHOR_PORT 18690
#define ANCHOR_PAGES 16 /* the buffer, one guard page at each end */
#define ANCHOR_WAIT_S 60.0

struct anchor_info {
	uint32_t qpn;
	uint32_t rkey;
	uint32_t magic;
};

#define ANCHOR_MAGIC 0x414e4348u /* "ANCH" */

static struct ibv_pd *a_pd;
static struct ibv_cq *a_cq;
static struct ibv_qp *a_qp;
static struct ibv_mr *a_mr;
static unsigned char *a_buf;
static size_t a_len, a_page;
static uint32_t a_peer_qpn, a_peer_rkey;
/* Every byte some anchor MR covered: may hold the peer's writes. */
static unsigned char *a_covered;
static pthread_mutex_t a_lock = PTHREAD_MUTEX_INITIALIZER;

struct ibv_qp *anchor_qp(void)
{
	return a_qp;
}

uint32_t anchor_peer_rkey(void)
{
	return a_peer_rkey;
}

/* Both ways at once: our number to the peer, the peer's to us. */
static int exchange(const char *peer_ip, uint32_t qpn, uint32_t rkey)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(ANCHOR_PORT) };
	struct anchor_info mine = { htonl(qpn), htonl(rkey),
				    htonl(ANCHOR_MAGIC) },
			   theirs;
	double end = now_s() + ANCHOR_WAIT_S;
	int ls, cs = -1, as = -1, one = 1, ret = -1;
	bool sent = false;

	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return -1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sa.sin_addr.s_addr = htonl(INADDR_ANY);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) || listen(ls, 1))
		goto out;
	if (inet_pton(AF_INET, peer_ip, &sa.sin_addr) != 1)
		goto out;
	while (now_s() < end && (!sent || as < 0)) {
		struct pollfd p = { .fd = ls, .events = POLLIN };

		if (!sent) {
			cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
			if (cs >= 0 &&
			    !connect(cs, (struct sockaddr *)&sa, sizeof(sa)) &&
			    write(cs, &mine, sizeof(mine)) == sizeof(mine))
				sent = true;
			if (cs >= 0)
				close(cs);
		}
		if (as < 0 && poll(&p, 1, 200) == 1)
			as = accept(ls, NULL, NULL);
		else if (!sent)
			usleep(200000);
	}
	if (as >= 0 && sent) {
		struct pollfd p = { .fd = as, .events = POLLIN };

		if (poll(&p, 1, 10000) == 1 &&
		    recv(as, &theirs, sizeof(theirs), MSG_WAITALL) ==
			    sizeof(theirs) &&
		    ntohl(theirs.magic) == ANCHOR_MAGIC) {
			a_peer_qpn = ntohl(theirs.qpn);
			a_peer_rkey = ntohl(theirs.rkey);
			ret = 0;
		}
	}
out:
	if (as >= 0)
		close(as);
	close(ls);
	return ret;
}

/* RESET -> INIT -> RTR -> RTS towards the peer's anchor QP. */
static int anchor_connect(void)
{
	struct ibv_qp_attr a;
	int err;

	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RESET;
	err = ibv_modify_qp(a_qp, &a, IBV_QP_STATE);
	if (err)
		return err;
	a.qp_state = IBV_QPS_INIT;
	a.port_num = 1;
	a.qp_access_flags = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			    IBV_ACCESS_REMOTE_READ;
	err = ibv_modify_qp(a_qp, &a,
			    IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT |
				    IBV_QP_ACCESS_FLAGS);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTR;
	a.path_mtu = IBV_MTU_1024;
	a.dest_qp_num = a_peer_qpn;
	a.max_dest_rd_atomic = 4; /* else READ mappings are refused */
	a.min_rnr_timer = 1;
	a.ah_attr.is_global = 1;
	a.ah_attr.port_num = 1;
	a.ah_attr.grh.dgid = peer_gid;
	a.ah_attr.grh.sgid_index = (uint8_t)gid_index;
	a.ah_attr.grh.hop_limit = 64;
	err = ibv_modify_qp(a_qp, &a,
			    IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU |
				    IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				    IBV_QP_MAX_DEST_RD_ATOMIC |
				    IBV_QP_MIN_RNR_TIMER);
	if (err)
		return err;
	memset(&a, 0, sizeof(a));
	a.qp_state = IBV_QPS_RTS;
	a.timeout = 14;
	a.retry_cnt = 7;
	a.rnr_retry = 7;
	a.max_rd_atomic = 4;
	return ibv_modify_qp(a_qp, &a,
			     IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT |
				     IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				     IBV_QP_MAX_QP_RD_ATOMIC);
}

/* A new anchor MR over [off, off + len) of the buffer (no guard page). */
static struct ibv_mr *anchor_reg(size_t off, size_t len)
{
	struct ibv_mr *mr;

	mr = ibv_reg_mr(a_pd, a_buf + off, len,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
				IBV_ACCESS_REMOTE_READ);
	if (mr)
		memset(a_covered + off, 1, len);
	return mr;
}

int anchor_init(const char *peer_ip)
{
	struct ibv_qp_init_attr ia = { 0 };
	const char *why = "alloc_pd";

	a_page = (size_t)sysconf(_SC_PAGESIZE);
	a_len = ANCHOR_PAGES * a_page;
	a_buf = mmap(NULL, a_len, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	a_covered = calloc(1, a_len);
	if (a_buf == MAP_FAILED || !a_covered) {
		printf("# anchor: no memory\n");
		return -1;
	}
	/* Faulted in before pinning; a fork child does not inherit it. */
	memset(a_buf, 0, a_len);
	madvise(a_buf, a_len, MADV_DONTFORK);
	a_pd = ibv_alloc_pd(ctx);
	if (!a_pd)
		goto fail;
	why = "create_cq";
	a_cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	if (!a_cq)
		goto fail;
	why = "create_qp";
	ia.send_cq = a_cq;
	ia.recv_cq = a_cq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = 4;
	ia.cap.max_recv_wr = 4;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	a_qp = ibv_create_qp(a_pd, &ia);
	if (!a_qp)
		goto fail;
	why = "reg_mr";
	a_mr = anchor_reg(a_page, a_len - 2 * a_page);
	if (!a_mr)
		goto fail;
	why = "the exchange with the peer's fuzzer";
	if (exchange(peer_ip, a_qp->qp_num, a_mr->rkey))
		goto fail;
	why = "connect";
	if (anchor_connect())
		goto fail;
	printf("# anchor: QP %u connected to the peer's anchor QP %u, MR rkey 0x%x\n",
	       a_qp->qp_num, a_peer_qpn, a_mr->rkey);
	return 0;
fail:
	printf("# anchor: %s failed (%s): no anchor\n", why, strerror(errno));
	anchor_fini();
	return -1;
}

/*
 * The anchor MR registered again over a random range (whole pages, or
 * from and to the middle of a page), then the old one deregistered: the
 * peer's mappings of the old one are revoked under its writes.  Or the
 * anchor QP connected again if a stray command moved it out of RTS.
 */
void op_anchor(struct rng *r)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr qa;
	struct ibv_mr *mr, *old;
	size_t first, last, off, end;
	int err = 0;

	if (!a_qp)
		return;
	if (!chance(r, 10)) /* the peer needs time to map one */
		return;
	pthread_mutex_lock(&a_lock);
	if (!ibv_query_qp(a_qp, &qa, IBV_QP_STATE, &ia) &&
	    qa.qp_state != IBV_QPS_RTS) {
		err = anchor_connect();
		count(OP_ANCHOR, err);
		pthread_mutex_unlock(&a_lock);
		return;
	}
	first = 1 + below(r, ANCHOR_PAGES - 3);
	last = first + 1 + below(r, (uint32_t)(ANCHOR_PAGES - 1 - first));
	off = first * a_page;
	end = last * a_page;
	if (chance(r, 30)) {
		off += below(r, (uint32_t)a_page);
		end -= below(r, (uint32_t)a_page);
		if (end <= off)
			end = off + 1;
	}
	mr = anchor_reg(off, end - off);
	if (!mr) {
		err = errno;
	} else {
		old = a_mr;
		a_mr = mr;
		if (old && ibv_dereg_mr(old))
			err = errno;
	}
	count(OP_ANCHOR, err);
	pthread_mutex_unlock(&a_lock);
}

/* The oracle: no byte that no anchor MR covered was written. */
void anchor_check(void)
{
	size_t i, n = 0, first = 0;

	if (!a_buf || a_buf == MAP_FAILED)
		return;
	for (i = 0; i < a_len; i++)
		if (!a_covered[i] && a_buf[i]) {
			if (!n++)
				first = i;
		}
	if (n)
		failure("anchor: %zu bytes outside every anchor MR written by the peer (the first at offset %zu)",
			n, first);
	else
		printf("# anchor: no byte outside the anchor MRs written\n");
}

void anchor_fini(void)
{
	if (a_qp && ibv_destroy_qp(a_qp))
		failure("anchor: destroy_qp: %s", strerror(errno));
	if (a_mr && ibv_dereg_mr(a_mr))
		failure("anchor: dereg_mr: %s", strerror(errno));
	if (a_cq && ibv_destroy_cq(a_cq))
		failure("anchor: destroy_cq: %s", strerror(errno));
	if (a_pd && ibv_dealloc_pd(a_pd))
		failure("anchor: dealloc_pd: %s", strerror(errno));
	a_qp = NULL;
	a_mr = NULL;
	a_cq = NULL;
	a_pd = NULL;
}
