// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-mr-test: memory registration through libibverbs and the
 * libntbrdma provider, for tests/vm/ntbrdma-mr.sh.  Every check prints
 * "ok - ..." or "FAIL - ..."; the exit code is 0 only if all passed.
 *
 *   ntbrdma-mr-test errors DEV        exact errors of ibv_reg_mr
 *   ntbrdma-mr-test hold DEV FILE     register 4 MRs, print them ("mr ..."
 *                                     lines), print "held"; deregister
 *                                     the REMOTE_WRITE one when FILE.1
 *                                     exists ("dereg1"), the others when
 *                                     FILE exists ("released")
 *   ntbrdma-mr-test every DEV EXPECT  register buffers of many sizes and
 *                                     places with every access: EXPECT
 *                                     ok (each registers) or an errno
 *                                     name (each fails with it)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>

#include <infiniband/verbs.h>

#include "vmtest.h"

/* reg_mr must fail with exactly err. */
static void expect_reg_err(struct ibv_pd *pd, void *buf, size_t len, int access,
			   int err, const char *what)
{
	struct ibv_mr *mr;

	errno = 0;
	mr = ibv_reg_mr(pd, buf, len, access);
	CHECK(!mr && errno == err, "%s: %s (got %s)", what, strerror(err),
	      mr ? "success" : strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);
}

static int do_errors(const char *name)
{
	struct ibv_context *ctx;
	struct ibv_mr *mr, *mr2;
	struct ibv_pd *pd;
	char *buf;

	ctx = open_dev(name);
	if (!ctx)
		return 1;
	pd = ibv_alloc_pd(ctx);
	buf = aligned_alloc(4096, 65536);
	if (!pd || !buf) {
		printf("FAIL - PD or buffer\n");
		return 1;
	}
	expect_reg_err(pd, buf, 4096, IBV_ACCESS_REMOTE_WRITE, EINVAL,
		       "REMOTE_WRITE without LOCAL_WRITE");
	expect_reg_err(pd, buf, 4096, IBV_ACCESS_REMOTE_ATOMIC, EINVAL,
		       "REMOTE_ATOMIC without LOCAL_WRITE");
	expect_reg_err(pd, buf, 0, IBV_ACCESS_LOCAL_WRITE, EINVAL, "length 0");
	expect_reg_err(pd, NULL, 4096, IBV_ACCESS_LOCAL_WRITE, EFAULT,
		       "unmapped address");

	mr = ibv_reg_mr(pd, buf, 4096,
			IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_RELAXED_ORDERING);
	CHECK(mr, "RELAXED_ORDERING accepted (%s)",
	      mr ? "yes" : strerror(errno));
	mr2 = ibv_reg_mr(pd, buf, 4096, IBV_ACCESS_LOCAL_WRITE);
	CHECK(mr2, "same buffer registered twice");
	if (mr && mr2) {
		CHECK(mr->lkey == mr->rkey, "lkey == rkey (%#x)", mr->lkey);
		CHECK(mr->lkey != mr2->lkey && mr->lkey >> 8 && mr2->lkey >> 8,
		      "distinct keys with non-zero index (%#x, %#x)", mr->lkey,
		      mr2->lkey);
		CHECK(mr->addr == buf && mr->length == 4096,
		      "addr and length kept");
	}
	if (mr)
		CHECK(!ibv_dereg_mr(mr), "dereg_mr");
	if (mr2)
		CHECK(!ibv_dereg_mr(mr2), "dereg_mr of the second");
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd after the MRs went");
	ibv_close_device(ctx);
	free(buf);
	return failures ? 1 : 0;
}

struct hold_mr {
	const char *name;
	size_t len;
	size_t off; /* into an aligned buffer */
	int access;
	uint64_t iova; /* 0: the address */
};

static const struct hold_mr hold_mrs[] = {
	{ "ro1", 1, 5, 0, 0 },
	{ "rw4k", 4096, 0, IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
	  0 },
	{ "rd1m", (1 << 20) + 123, 7, IBV_ACCESS_REMOTE_READ, 0 },
	{ "all", 8192, 100,
	  IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
		  IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC |
		  IBV_ACCESS_RELAXED_ORDERING,
	  0x7000000000ULL + 100 },
};

#define NHOLD (sizeof(hold_mrs) / sizeof(hold_mrs[0]))

static void wait_file(const char *file)
{
	int i;

	for (i = 0; i < 2400 && access(file, F_OK); i++)
		usleep(50000);
}

static int do_hold(const char *name, const char *file)
{
	struct ibv_mr *mr[NHOLD];
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char file1[256];
	unsigned int i;

	ctx = open_dev(name);
	if (!ctx)
		return 1;
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		printf("FAIL - alloc_pd: %s\n", strerror(errno));
		return 1;
	}
	for (i = 0; i < NHOLD; i++) {
		const struct hold_mr *h = &hold_mrs[i];
		char *buf = aligned_alloc(4096, h->len + h->off + 4096);
		uintptr_t addr = (uintptr_t)buf + h->off;
		uint64_t iova = h->iova ? h->iova : addr;

		struct timespec t0, t1;

		if (!buf)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		mr[i] = ibv_reg_mr_iova(pd, (void *)addr, h->len, iova,
					h->access);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (!mr[i]) {
			printf("FAIL - reg_mr %s: %s\n", h->name,
			       strerror(errno));
			return 1;
		}
		/* npages: 4 KiB pages spanned by [addr, addr + len). */
		printf("mr %s lkey=%#x rkey=%#x iova=%#llx len=%zu access=%#x npages=%zu us=%ld\n",
		       h->name, mr[i]->lkey, mr[i]->rkey,
		       (unsigned long long)iova, h->len, h->access & 0xf,
		       ((addr & 4095) + h->len + 4095) / 4096,
		       (t1.tv_sec - t0.tv_sec) * 1000000L +
			       (t1.tv_nsec - t0.tv_nsec) / 1000);
	}
	printf("held\n");
	fflush(stdout);
	snprintf(file1, sizeof(file1), "%s.1", file);
	wait_file(file1);
	CHECK(!ibv_dereg_mr(mr[1]), "dereg_mr rw4k");
	printf("dereg1\n");
	fflush(stdout);
	wait_file(file);
	for (i = 0; i < NHOLD; i++)
		if (i != 1)
			CHECK(!ibv_dereg_mr(mr[i]), "dereg_mr %s",
			      hold_mrs[i].name);
	ibv_dealloc_pd(pd);
	ibv_close_device(ctx);
	printf("released\n");
	return failures ? 1 : 0;
}

/* The errno names "every" takes. */
static const struct {
	const char *name;
	int err;
} errnames[] = {
	{ "ERANGE", ERANGE }, { "EFAULT", EFAULT }, { "EIO", EIO },
	{ "ENOMEM", ENOMEM }, { "EINVAL", EINVAL },
};

#define NERRNAMES (sizeof(errnames) / sizeof(errnames[0]))

/* Where "every" takes its buffers from. */
static const char *const buf_kinds[] = { "malloc", "aligned", "mmap" };

#define NKINDS (sizeof(buf_kinds) / sizeof(buf_kinds[0]))

/* A buffer of len bytes of kind k (touched, so the pages exist), or NULL. */
static char *buf_alloc(size_t k, size_t len)
{
	char *buf;

	if (k == 0)
		buf = malloc(len);
	else if (k == 1)
		buf = aligned_alloc(4096, (len + 4095) & ~(size_t)4095);
	else
		buf = mmap(NULL, len, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		buf = NULL;
	if (buf)
		memset(buf, 0x5a, len);
	return buf;
}

static void buf_free(size_t k, char *buf, size_t len)
{
	if (k == 2)
		munmap(buf, len);
	else
		free(buf);
}

/* The errno of name ("ERANGE", ...), 0 for "ok", -1 if unknown. */
static int errno_of(const char *name)
{
	size_t i;

	if (!strcmp(name, "ok"))
		return 0;
	for (i = 0; i < NERRNAMES; i++)
		if (!strcmp(errnames[i].name, name))
			return errnames[i].err;
	return -1;
}

/*
 * buf (len bytes, from kind) registered with every access: each must
 * register (expect 0) or fail with expect; counted in *accepted and
 * *refused.
 */
static void reg_every_access(struct ibv_pd *pd, char *buf, size_t len,
			     const char *kind, int expect,
			     const char *expect_name, int *accepted,
			     int *refused)
{
	static const int accesses[] = {
		0,
		IBV_ACCESS_LOCAL_WRITE,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE,
		IBV_ACCESS_REMOTE_READ,
		IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE |
			IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_ATOMIC,
	};
	struct ibv_mr *mr;
	size_t a;

	for (a = 0; a < sizeof(accesses) / sizeof(accesses[0]); a++) {
		errno = 0;
		mr = ibv_reg_mr(pd, buf, len, accesses[a]);
		if (mr) {
			(*accepted)++;
			ibv_dereg_mr(mr);
		} else {
			(*refused)++;
		}
		if (!expect)
			CHECK(mr, "%zu bytes (%s) access %#x registers (%s)",
			      len, kind, accesses[a],
			      mr ? "ok" : strerror(errno));
		else
			CHECK(!mr && errno == expect,
			      "%zu bytes (%s) access %#x refused with %s (got %s)",
			      len, kind, accesses[a], expect_name,
			      mr ? "success" : strerror(errno));
	}
}

/*
 * Buffers of several sizes, from malloc, aligned_alloc and mmap (touched,
 * so the pages exist), each registered with every access: all must
 * register (expect "ok") or all fail with the errno expect_name.
 */
static int do_every(const char *name, const char *expect_name)
{
	static const size_t sizes[] = {
		1, 100, 4096, 65536 + 7, (1 << 20) + 123, 64 << 20
	};
	int expect = errno_of(expect_name), accepted = 0, refused = 0;
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	size_t k, s;
	char *buf;

	if (expect < 0) {
		fprintf(stderr, "unknown errno name %s\n", expect_name);
		return 2;
	}
	ctx = open_dev(name);
	if (!ctx)
		return 1;
	pd = ibv_alloc_pd(ctx);
	if (!pd) {
		printf("FAIL - PD\n");
		return 1;
	}
	for (s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		for (k = 0; k < NKINDS; k++) {
			buf = buf_alloc(k, sizes[s]);
			if (!buf) {
				printf("FAIL - buffer of %zu bytes\n",
				       sizes[s]);
				return 1;
			}
			reg_every_access(pd, buf, sizes[s], buf_kinds[k],
					 expect, expect_name, &accepted,
					 &refused);
			buf_free(k, buf, sizes[s]);
		}
	}
	printf("registered %d, refused %d\n", accepted, refused);
	CHECK(!ibv_dealloc_pd(pd), "dealloc_pd");
	ibv_close_device(ctx);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "errors"))
		return do_errors(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "hold"))
		return do_hold(argv[2], argv[3]);
	if (argc == 4 && !strcmp(argv[1], "every"))
		return do_every(argv[2], argv[3]);
	fprintf(stderr,
		"usage: %s errors DEV | hold DEV FILE | every DEV ok|ERRNO\n",
		argv[0]);
	return 2;
}
