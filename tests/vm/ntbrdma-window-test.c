// SPDX-License-Identifier: GPL-2.0
/*
 * MRs whose pages lie where we choose in physical memory: in one inbound
 * window or another, across two, or above what the windows cover
 * (tests/vm/ntbrdma-windows.sh, Documentation/memory-windows.md).
 *
 * Pages are taken from a memfd: the program grows it, faults its pages in,
 * reads their physical addresses from /proc/self/pagemap (root) and keeps
 * the pages that lie in the wanted ranges; then maps the chosen pages of
 * the file, in order, into one virtually contiguous buffer.  After
 * registration (which pins them) every page's address is checked again.
 *
 *   ntbrdma-window-test serve DEV PORT RANGES
 *   ntbrdma-window-test client DEV IP PORT RANGES
 *	Both sides place one 8-page buffer in each range of RANGES
 *	(LO-HI,LO-HI..., hex physical addresses) and, with two ranges or
 *	more, one whose pages alternate between the first two.  For every
 *	buffer the client RDMA WRITEs into the server's (a sub-range, the
 *	server checks it and the guard bytes around it), RDMA READs the
 *	server's into its own and SENDs into a receive the server posted
 *	there; every byte is checked.
 *   ntbrdma-window-test refuse DEV LO HI
 *	Buffers with pages in [LO, HI) (outside the coverage): every
 *	ibv_reg_mr fails with ERANGE, also one that mixes a page below LO
 *	with one above; a page below LO registers.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ntbrdma-rc.h"

#define PG 4096ul
#define NP 8 /* pages of a buffer */
#define MAX_RANGES 4
#define MAX_BUFS (MAX_RANGES + 1)
#define CHUNK_PAGES 2048ul /* the memfd grows 8 MiB at a time */

struct range {
	uint64_t lo, hi;
};

/* Pages of the memfd, found where we want them. */
struct pool {
	int fd;
	size_t npages; /* pages in the file */
	unsigned char *use; /* per file page: kept for a buffer */
};

/* One placed buffer: page i lies in want[i]. */
struct buf {
	unsigned char *p;
	size_t len;
	struct range want[NP];
	long fpage[NP]; /* file page backing page i */
	struct ibv_mr *mr;
};

/* What the two sides exchange about one buffer. */
struct bufdesc {
	uint64_t addr;
	uint32_t rkey;
	uint32_t len;
};

/* The pagemap entry of va (0 and a message on stderr when unreadable). */
static uint64_t pagemap_entry(const void *va)
{
	static int fd = -1;
	uint64_t e;
	ssize_t n;

	if (fd < 0)
		fd = open("/proc/self/pagemap", O_RDONLY);
	n = fd < 0 ? -1 :
		     pread(fd, &e, sizeof(e), (off_t)((uintptr_t)va / PG) * 8);
	if (n != sizeof(e)) {
		fprintf(stderr, "pagemap of %p: %s\n", va,
			n < 0 ? strerror(errno) : "short read");
		return 0;
	}
	return e;
}

/* The physical address of va's page, UINT64_MAX if not present. */
static uint64_t phys_of(const void *va)
{
	uint64_t e = pagemap_entry(va), pfn = e & ((1ull << 55) - 1);

	/* Bit 63: present; no PFN without CAP_SYS_ADMIN (we run as root). */
	return (e & (1ull << 63)) && pfn ? pfn * PG : UINT64_MAX;
}

static size_t mem_available(void)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[128];
	size_t kb = 0;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

static bool in_range(uint64_t a, const struct range *r)
{
	return a >= r->lo && a < r->hi;
}

/*
 * Grow the memfd until every page of every buffer has a file page in its
 * range (each file page used once), within what the system can spare.
 */
static int pool_fill(struct pool *pl, struct buf *b, int nb)
{
	size_t cap = mem_available(), c, i;
	int missing = -1, k, j;

	cap = cap > (160ul << 20) ? cap - (160ul << 20) : 0;
	for (c = 0; (c + 1) * CHUNK_PAGES * PG <= cap; c++) {
		unsigned char *m;

		if (ftruncate(pl->fd, (off_t)((c + 1) * CHUNK_PAGES * PG)))
			return -1;
		pl->use = realloc(pl->use, (c + 1) * CHUNK_PAGES);
		memset(pl->use + c * CHUNK_PAGES, 0, CHUNK_PAGES);
		pl->npages = (c + 1) * CHUNK_PAGES;
		m = mmap(NULL, CHUNK_PAGES * PG, PROT_READ | PROT_WRITE,
			 MAP_SHARED, pl->fd, (off_t)(c * CHUNK_PAGES * PG));
		if (m == MAP_FAILED)
			return -1;
		missing = 0;
		for (i = 0; i < CHUNK_PAGES; i++) {
			uint64_t a;

			m[i * PG] = 1;
			a = phys_of(m + i * PG);
			for (k = 0; k < nb; k++)
				for (j = 0; j < NP; j++)
					if (b[k].fpage[j] < 0 &&
					    !pl->use[c * CHUNK_PAGES + i] &&
					    in_range(a, &b[k].want[j])) {
						b[k].fpage[j] =
							(long)(c * CHUNK_PAGES +
							       i);
						pl->use[c * CHUNK_PAGES + i] =
							1;
					}
		}
		munmap(m, CHUNK_PAGES * PG);
		for (k = 0; k < nb; k++)
			for (j = 0; j < NP; j++)
				missing += b[k].fpage[j] < 0;
		if (!missing)
			break;
	}
	printf("# searched %zu MiB of a %zu MiB budget: %d pages missing\n",
	       pl->npages * PG >> 20, cap >> 20, missing);
	return missing ? -1 : 0;
}

/* Map each buffer's file pages in order; give the unused pages back. */
static int pool_map(struct pool *pl, struct buf *b, int nb)
{
	size_t i;
	int k, j;

	for (k = 0; k < nb; k++) {
		b[k].len = NP * PG;
		b[k].p = mmap(NULL, b[k].len, PROT_NONE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b[k].p == MAP_FAILED)
			return -1;
		for (j = 0; j < NP; j++)
			if (mmap(b[k].p + j * PG, PG, PROT_READ | PROT_WRITE,
				 MAP_SHARED | MAP_FIXED, pl->fd,
				 (off_t)(b[k].fpage[j] * PG)) == MAP_FAILED)
				return -1;
		/* Fault the pages in: pagemap shows only present pages. */
		for (j = 0; j < NP; j++)
			((volatile unsigned char *)b[k].p)[j * PG] = 0;
	}
	for (i = 0; i < pl->npages; i++)
		if (!pl->use[i])
			fallocate(pl->fd,
				  FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)(i * PG), (off_t)PG);
	return 0;
}

/* Every page of b lies where it was wanted (also after registration). */
static bool placed_ok(const struct buf *b)
{
	int j;

	for (j = 0; j < NP; j++)
		if (!in_range(phys_of(b->p + j * PG), &b->want[j]))
			return false;
	return true;
}

static int place(struct buf *b, int nb)
{
	struct pool pl = { .fd = memfd_create("ntbrdma-window-test", 0) };
	int k, j;

	for (k = 0; k < nb; k++)
		for (j = 0; j < NP; j++)
			b[k].fpage[j] = -1;
	if (pl.fd < 0 || pool_fill(&pl, b, nb) || pool_map(&pl, b, nb)) {
		CHECK(0, "pages found in the wanted physical ranges");
		return -1;
	}
	free(pl.use);
	for (k = 0; k < nb; k++)
		CHECK(placed_ok(&b[k]),
		      "buffer %d: %d pages at %#" PRIx64 "..%#" PRIx64
		      " (pagemap %#" PRIx64 ")",
		      k, NP, phys_of(b[k].p), phys_of(b[k].p + (NP - 1) * PG),
		      pagemap_entry(b[k].p));
	return 0;
}

static int parse_ranges(const char *s, struct range *r)
{
	int n = 0;

	while (*s && n < MAX_RANGES) {
		char *end;

		r[n].lo = strtoull(s, &end, 16);
		if (*end != '-')
			return -1;
		r[n].hi = strtoull(end + 1, &end, 16);
		if (r[n].hi <= r[n].lo || (*end && *end != ','))
			return -1;
		n++;
		s = *end ? end + 1 : end;
	}
	return *s ? -1 : n;
}

/* One buffer per range; with two ranges or more one across the first two. */
static int plan(struct buf *b, const struct range *r, int nr)
{
	int nb = 0, j;

	for (; nb < nr; nb++)
		for (j = 0; j < NP; j++)
			b[nb].want[j] = r[nb];
	if (nr >= 2) {
		for (j = 0; j < NP; j++)
			b[nb].want[j] = r[j % 2];
		nb++;
	}
	return nb;
}

static int reg_all(struct env *e, struct buf *b, int nb)
{
	int k;

	for (k = 0; k < nb; k++) {
		b[k].mr = ibv_reg_mr(e->pd, b[k].p, b[k].len, ACCESS);
		CHECK(b[k].mr, "buffer %d registered (%s)", k,
		      b[k].mr ? "ok" : strerror(errno));
		if (!b[k].mr)
			return -1;
		CHECK(placed_ok(&b[k]),
		      "buffer %d: pages still in place once pinned", k);
	}
	return 0;
}

static bool check_bytes(const unsigned char *p, size_t n, unsigned int seed)
{
	unsigned char *want = malloc(n);
	bool ok;

	fill(want, n, seed);
	ok = !memcmp(p, want, n);
	free(want);
	return ok;
}

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* The sub-range a WRITE covers: unaligned, across every page boundary. */
#define W_OFF 1500u
#define W_LEN(b) ((b)->len - 3000u)

static void serve_buf(struct peer *p, struct buf *b, int k)
{
	struct ibv_sge sge = { (uintptr_t)b->p, (uint32_t)b->len, b->mr->lkey };
	unsigned char *q = b->p;
	struct ibv_wc wc;

	/* WRITE: the client writes [W_OFF, W_OFF + W_LEN) of our buffer. */
	memset(q, 0xa5, b->len);
	barrier(p->fd);
	barrier(p->fd);
	CHECK(check_bytes(q + W_OFF, W_LEN(b), 100 + k) &&
		      all_bytes(q, W_OFF, 0xa5) &&
		      all_bytes(q + W_OFF + W_LEN(b), b->len - W_OFF - W_LEN(b),
				0xa5),
	      "buffer %d: the peer's RDMA WRITE landed byte for byte, guards intact",
	      k);

	/* READ: the client reads all of it. */
	fill(q, b->len, 200 + k);
	barrier(p->fd);
	barrier(p->fd);

	/* SEND: into a receive posted on the whole buffer. */
	memset(q, 0, b->len);
	CHECK(!post_recv(p->qp, 300 + k, &sge, 1), "buffer %d: receive posted",
	      k);
	barrier(p->fd);
	CHECK(!wait_wc(p->e.rcq, &wc) && wc.status == IBV_WC_SUCCESS &&
		      wc.byte_len == b->len && check_bytes(q, b->len, 300 + k),
	      "buffer %d: the peer's SEND received byte for byte (%s, %u bytes)",
	      k, ibv_wc_status_str(wc.status), wc.byte_len);
	barrier(p->fd);
}

static void client_buf(struct peer *p, struct buf *b, const struct bufdesc *t,
		       int k)
{
	struct ibv_sge sge = { (uintptr_t)b->p + W_OFF, W_LEN(b), b->mr->lkey };

	fill(b->p + W_OFF, W_LEN(b), 100 + k);
	barrier(p->fd);
	CHECK(!post_rdma(p->qp, IBV_WR_RDMA_WRITE, 100 + k, &sge, 1,
			 t->addr + W_OFF, t->rkey, 0, 0),
	      "buffer %d: RDMA WRITE posted", k);
	expect_status(p->e.scq, 100 + k, IBV_WC_SUCCESS, "RDMA WRITE");
	barrier(p->fd);

	memset(b->p, 0, b->len);
	sge.addr = (uintptr_t)b->p;
	sge.length = (uint32_t)b->len;
	barrier(p->fd);
	CHECK(!post_rdma(p->qp, IBV_WR_RDMA_READ, 200 + k, &sge, 1, t->addr,
			 t->rkey, 0, 0),
	      "buffer %d: RDMA READ posted", k);
	expect_status(p->e.scq, 200 + k, IBV_WC_SUCCESS, "RDMA READ");
	CHECK(check_bytes(b->p, b->len, 200 + k),
	      "buffer %d: RDMA READ byte for byte", k);
	barrier(p->fd);

	fill(b->p, b->len, 300 + k);
	barrier(p->fd);
	CHECK(!post_rdma(p->qp, IBV_WR_SEND, 300 + k, &sge, 1, 0, 0, 0, 0),
	      "buffer %d: SEND posted", k);
	expect_status(p->e.scq, 300 + k, IBV_WC_SUCCESS, "SEND");
	barrier(p->fd);
}

static int data(const char *dev, const char *ip, int port, const char *ranges)
{
	struct buf b[MAX_BUFS] = {};
	struct bufdesc mine[MAX_BUFS] = {}, theirs[MAX_BUFS];
	struct range r[MAX_RANGES];
	struct peer p;
	int nr = parse_ranges(ranges, r), nb, k;

	if (nr <= 0) {
		fprintf(stderr, "bad ranges '%s' (LO-HI,LO-HI..., hex)\n",
			ranges);
		return 2;
	}
	nb = plan(b, r, nr);
	/* No other MR: with coverage below RAM, any buffer may be refused. */
	if (place(b, nb))
		return 1;
	if (env_open_bare(&p.e, dev)) {
		CHECK(0, "device, PD, CQs, GID");
		return 1;
	}
	if (peer_connect(&p, ip, port) || reg_all(&p.e, b, nb))
		return 1;
	for (k = 0; k < nb; k++)
		mine[k] = (struct bufdesc){ (uintptr_t)b[k].p, b[k].mr->rkey,
					    (uint32_t)b[k].len };
	CHECK(!xchg(p.fd, mine, theirs, sizeof(mine)), "buffers exchanged");
	for (k = 0; k < nb; k++) {
		if (ip)
			client_buf(&p, &b[k], &theirs[k], k);
		else
			serve_buf(&p, &b[k], k);
	}
	return 0;
}

static int refuse(const char *dev, uint64_t lo, uint64_t hi)
{
	struct buf b[3] = {};
	struct ibv_context *ctx = open_dev(dev);
	struct ibv_pd *pd = ctx ? ibv_alloc_pd(ctx) : NULL;
	struct ibv_mr *mr;
	int j, k, refused = 0;

	if (!pd)
		return 1;
	for (j = 0; j < NP; j++) {
		b[0].want[j] = (struct range){ lo, hi }; /* all above */
		b[1].want[j] =
			(struct range){ j ? lo : 0, j ? hi : lo }; /* mixed */
		b[2].want[j] = (struct range){ 0, lo }; /* all below */
	}
	if (place(b, 3))
		return 1;
	/* Every page above, one MR each, and then the whole buffer. */
	for (j = 0; j <= NP; j++) {
		errno = 0;
		mr = ibv_reg_mr(pd, b[0].p + (j < NP ? j * PG : 0),
				j < NP ? PG : b[0].len, ACCESS);
		refused += !mr && errno == ERANGE;
		CHECK(!mr && errno == ERANGE,
		      "MR %s above the coverage refused: %s",
		      j < NP ? "of one page" : "of 8 pages",
		      mr ? "accepted" : strerror(errno));
		if (mr)
			ibv_dereg_mr(mr);
	}
	errno = 0;
	mr = ibv_reg_mr(pd, b[1].p, b[1].len, ACCESS);
	CHECK(!mr && errno == ERANGE,
	      "MR with one page below and seven above refused: %s",
	      mr ? "accepted" : strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);
	mr = ibv_reg_mr(pd, b[2].p, b[2].len, ACCESS);
	CHECK(mr, "MR below the coverage registers (%s)",
	      mr ? "ok" : strerror(errno));
	if (mr)
		ibv_dereg_mr(mr);
	for (k = 0; k < 3; k++)
		CHECK(placed_ok(&b[k]), "buffer %d stayed in place", k);
	printf("# %d of %d refused with ERANGE\n", refused, NP + 1);
	return 0;
}

int main(int argc, char **argv)
{
	int ret = 2;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 5 && !strcmp(argv[1], "serve"))
		ret = data(argv[2], NULL, atoi(argv[3]), argv[4]);
	else if (argc == 6 && !strcmp(argv[1], "client"))
		ret = data(argv[2], argv[3], atoi(argv[4]), argv[5]);
	else if (argc == 5 && !strcmp(argv[1], "refuse"))
		ret = refuse(argv[2], strtoull(argv[3], NULL, 16),
			     strtoull(argv[4], NULL, 16));
	else
		fprintf(stderr,
			"usage: %s serve DEV PORT RANGES | client DEV IP PORT RANGES | "
			"refuse DEV LO HI\n",
			argv[0]);
	if (ret == 0 && failures)
		ret = 1;
	printf("# %s\n", ret ? "FAILED" : "passed");
	return ret;
}
