// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile process with mappings of a peer MR (the kernel bypass's, for
 * WRITE and for READ), asked for with the raw modify_qp command the
 * provider uses (tests/vm/ntbrdma-bypass.sh).
 *
 *   ntbrdma-umap-test serve DEV PORT
 *   ntbrdma-umap-test client DEV IP PORT
 *
 * The client, connected to the server's QP, maps the server's MR both
 * ways and then does with the mappings what a process may try:
 *   - the READ mapping: mmap with PROT_WRITE and mprotect to PROT_WRITE are
 *     refused; it shows the server's bytes;
 *   - the WRITE mapping: a store through it lands in the server's MR;
 *     growing it (mremap) and splitting it (munmap of a part, mprotect of
 *     a part) are refused; a fork child does not inherit it (SIGSEGV);
 *     moved elsewhere (mremap MREMAP_MAYMOVE|MREMAP_FIXED) it still
 *     writes the MR;
 *   - then the server deregisters the MR: once its MR_DEL_ACK came, the
 *     client stores through the moved WRITE mapping and through a second
 *     VMA of it for a second (no fault: a scratch page), reads through
 *     the READ mapping (no fault), and the server checks that not one
 *     byte of its buffer changed.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <rdma/ib_user_verbs.h>
#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-rc.h"

struct map_cmd {
	struct ib_uverbs_cmd_hdr hdr;
	struct ib_uverbs_ex_cmd_hdr ex;
	struct ib_uverbs_ex_modify_qp core;
	struct ntbrdma_modify_qp_req drv;
};

struct map_resp {
	struct ib_uverbs_ex_modify_qp_resp core;
	struct ntbrdma_modify_qp_resp drv;
};

/* The peer MR rkey mapped for qp (op: NTBRDMA_QP_OP_*): 0 or errno. */
static int map_peer(struct ibv_qp *qp, uint32_t op, uint32_t rkey,
		    struct ntbrdma_modify_qp_resp *drv)
{
	struct map_resp resp;
	struct map_cmd c;

	memset(&c, 0, sizeof(c));
	memset(&resp, 0, sizeof(resp));
	c.hdr.command = IB_USER_VERBS_CMD_FLAG_EXTENDED |
			IB_USER_VERBS_EX_CMD_MODIFY_QP;
	c.hdr.in_words = sizeof(c.core) / 8;
	c.hdr.out_words = sizeof(resp.core) / 8;
	c.ex.response = (uintptr_t)&resp;
	c.ex.provider_in_words = sizeof(c.drv) / 8;
	c.ex.provider_out_words = sizeof(resp.drv) / 8;
	c.core.base.qp_handle = qp->handle;
	c.drv.op = op;
	c.drv.rkey = rkey;
	if (write(qp->context->cmd_fd, &c, sizeof(c)) != (ssize_t)sizeof(c))
		return errno;
	*drv = resp.drv;
	return 0;
}

static int serve(const char *dev, int port)
{
	unsigned char *copy = malloc(BUF_SIZE);
	struct peer p;

	if (!copy || peer_open(&p, dev, NULL, port))
		return 1;
	fill(p.e.dst, BUF_SIZE, 7);
	barrier(p.fd); /* the client stores its mark at 8 KiB */
	CHECK(p.e.dst[8192] == 0xa5 && p.e.dst[8193] == 0x5a,
	      "server: the client's stores through its mapping landed");
	fill(p.e.dst, BUF_SIZE, 7);
	barrier(p.fd); /* ... and may go on */
	barrier(p.fd); /* the client moved its mapping and stored again */
	CHECK(p.e.dst[4096] == 0x3c,
	      "server: stores through the moved mapping landed");
	peer_dereg_dst(&p, dev);
	memcpy(copy, p.e.dst, BUF_SIZE);
	barrier(p.fd); /* the client stores for a second now */
	barrier(p.fd);
	CHECK(!memcmp(copy, p.e.dst, BUF_SIZE),
	      "server: no byte of the buffer changed after the acknowledgement");
	barrier(p.fd);
	return failures ? 1 : 0;
}

/* A fork child touching addr: killed by SIGSEGV (nothing inherited). */
static void child_faults(volatile char *addr)
{
	int status = 0;
	pid_t pid = fork();

	if (!pid) {
		(void)*addr;
		*addr = 1;
		_exit(0);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid &&
		      WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV,
	      "a fork child has no mapping of the peer's MR (status %#x)",
	      status);
}

static int client(const char *dev, const char *ip, int port)
{
	struct ntbrdma_modify_qp_resp w = { 0 }, r = { 0 };
	unsigned char *exp = malloc(BUF_SIZE);
	char *wm, *rm, *moved, *second, *p2;
	struct ibv_wc wc = { 0 };
	struct ibv_sge sge;
	struct peer p;
	uint64_t old;
	size_t len;
	double t0;
	int fd, err;

	if (!exp || peer_open(&p, dev, ip, port))
		return 1;
	fill(exp, BUF_SIZE, 7);
	fd = p.e.ctx->cmd_fd;
	/* Atomics go through the kernel: once one completed, b answers. */
	memcpy(&old, exp, 8);
	sge = (struct ibv_sge){ (uintptr_t)p.e.src, 8, p.e.smr->lkey };
	CHECK(!post_atomic(p.qp, IBV_WR_ATOMIC_CMP_AND_SWP, 1, &sge,
			   p.them.addr, p.them.rkey, old ^ 1, 0) &&
		      !wait_wc(p.e.scq, &wc) && wc.status == IBV_WC_SUCCESS,
	      "a compare-and-swap that does not swap: %s",
	      ibv_wc_status_str(wc.status));
	err = map_peer(p.qp, NTBRDMA_QP_OP_MAP_PEER_MR, p.them.rkey, &w);
	CHECK(!err && w.mmap_size == BUF_SIZE && w.iova == p.them.addr,
	      "WRITE mapping of the server's MR granted: %s, %llu bytes",
	      strerror(err), (unsigned long long)w.mmap_size);
	err = map_peer(p.qp, NTBRDMA_QP_OP_MAP_PEER_MR_READ, p.them.rkey, &r);
	CHECK(!err && r.mmap_size == BUF_SIZE,
	      "READ mapping of the server's MR granted: %s", strerror(err));
	if (failures)
		return 1;
	len = (size_t)w.mmap_size;

	/* The READ mapping. */
	rm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		  (off_t)r.mmap_offset);
	CHECK(rm == MAP_FAILED && errno == EACCES,
	      "READ mapping: mmap with PROT_WRITE refused (%s)",
	      rm == MAP_FAILED ? strerror(errno) : "mapped");
	if (rm != MAP_FAILED)
		munmap(rm, len);
	rm = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)r.mmap_offset);
	CHECK(rm != MAP_FAILED, "READ mapping: mmap with PROT_READ");
	if (rm == MAP_FAILED)
		return 1;
	CHECK(mprotect(rm, len, PROT_READ | PROT_WRITE) && errno == EACCES,
	      "READ mapping: mprotect to PROT_WRITE refused (%s)",
	      strerror(errno));
	CHECK(!memcmp(rm, exp, 65536),
	      "READ mapping: the server's bytes (64 KiB)");

	/* The WRITE mapping. */
	wm = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		  (off_t)w.mmap_offset);
	CHECK(wm != MAP_FAILED, "WRITE mapping: mmap");
	if (wm == MAP_FAILED)
		return 1;
	wm[8192] = (char)0xa5;
	wm[8193] = 0x5a;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	(void)*(volatile char *)&wm[8193]; /* the stores reached b */
	barrier(p.fd);
	barrier(p.fd);
	p2 = mremap(wm, len, 2 * len, 0);
	CHECK(p2 == MAP_FAILED, "WRITE mapping: mremap to grow it refused");
	CHECK(munmap(wm + 4096, 4096) && errno == EINVAL,
	      "WRITE mapping: munmap of one page inside refused (%s)",
	      strerror(errno));
	CHECK(mprotect(wm, 4096, PROT_READ) && errno == EINVAL,
	      "WRITE mapping: mprotect of one page refused (%s)",
	      strerror(errno));
	child_faults(wm);
	child_faults(rm);
	/* Moved: the kernel still knows it (and revokes it below). */
	moved = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p2 = moved == MAP_FAILED ?
		     MAP_FAILED :
		     mremap(wm, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, moved);
	CHECK(p2 != MAP_FAILED && p2 == moved,
	      "WRITE mapping: moved with mremap (%s)",
	      p2 == MAP_FAILED ? strerror(errno) : "ok");
	if (p2 == MAP_FAILED)
		return 1;
	moved[4096] = 0x3c;
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	(void)*(volatile char *)&moved[4096];
	/* And a second VMA of the same mapping. */
	second = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      (off_t)w.mmap_offset);
	CHECK(second != MAP_FAILED, "WRITE mapping: a second VMA");
	barrier(p.fd); /* the server deregisters */
	barrier(p.fd); /* ... and has its MR_DEL_ACK */
	for (t0 = now_s(); now_s() - t0 < 1;) {
		memset(moved, 0x77, len);
		if (second != MAP_FAILED)
			memset(second, 0x66, len);
		(void)*(volatile char *)rm;
	}
	/* A fault would have killed us (the script checks the exit). */
	printf("# a second of stores through the moved and the second VMA and loads through the READ mapping after the revocation\n");
	barrier(p.fd);
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
	fprintf(stderr, "usage: %s serve DEV PORT | client DEV IP PORT\n",
		argv[0]);
	return 2;
}
