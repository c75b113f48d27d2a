// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-ufuzz: what every part of the fuzzer shares - the random
 * generator (one per thread; its sequence is the seed's), the operation
 * statistics and failure(), the global state and the object tables, the
 * buffers MRs and SGEs point into (read-write, read-only file mapping,
 * hole, PROT_NONE) with their random ranges, and the table helpers
 * (locks, keys and QP numbers: live, stale or random).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "ufuzz.h"

/* --- random numbers ------------------------------------------------------ */

uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint32_t below(struct rng *r, uint32_t n)
{
	return n ? (uint32_t)(rnd(r) % n) : 0;
}

bool chance(struct rng *r, unsigned int pct)
{
	return below(r, 100) < pct;
}

/* A 32-bit value biased to the edges: 0, 1, small, powers of two, ~0. */
uint32_t edgy32(struct rng *r)
{
	switch (below(r, 8)) {
	case 0:
		return 0;
	case 1:
		return 1;
	case 2:
		return below(r, 64);
	case 3:
		return 1u << below(r, 32);
	case 4:
		return (1u << below(r, 32)) - 1;
	case 5:
		return UINT32_MAX - below(r, 4);
	case 6:
		return 0x80000000u + below(r, 4) - 2;
	default:
		return (uint32_t)rnd(r);
	}
}

void rfill(struct rng *r, void *p, size_t n)
{
	unsigned char *c = p;
	size_t i;

	for (i = 0; i < n; i++)
		c[i] = (unsigned char)rnd(r);
}

double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- statistics ------------------------------------------------------------ */

const char *const op_names[OP_N] = {
	"pd_alloc",    "pd_dealloc",	 "cq_create",	  "cq_create_raw",
	"cq_destroy",  "cq_destroy_raw", "cq_resize",	  "cq_poll",
	"cq_notify",   "cq_ring_write",	 "mr_reg",	  "mr_dereg",
	"qp_create",   "qp_create_raw",	 "qp_destroy",	  "qp_destroy_raw",
	"qp_modify",   "qp_modify_raw",	 "qp_connect",	  "qp_query",
	"post_send",   "post_recv",	 "post_wr",	  "qp_ring_write",
	"kick",	       "raw_post",	 "raw_stray_cmd", "mmap_probe",
	"map_peer_mr", "events",	 "fork",	  "anchor",
};

atomic_ulong st_calls[OP_N], st_ok[OP_N], st_err[OP_N];
atomic_ulong st_wc[32]; /* completions by status (31: other) */
atomic_ulong st_wc_bad, st_child_segv, st_child_ok, st_raw_cqe;
atomic_ulong st_qp_busy, st_child_cmd_ok;
atomic_ulong st_map_noent, st_map_acces, st_map_inval, st_map_mapped;
atomic_int failed;

void count(enum op op, int err)
{
	atomic_fetch_add(&st_calls[op], 1);
	if (err)
		atomic_fetch_add(&st_err[op], 1);
	else
		atomic_fetch_add(&st_ok[op], 1);
}

void failure(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("FAIL: ");
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
	atomic_store(&failed, 1);
}

/* --- global state and the tables ---------------------------------------- */

struct ibv_context *ctx;
int cmd_fd;
union ibv_gid gid, peer_gid;
bool have_peer;
int gid_index;
int chan_fd = -1; /* a raw completion channel (read directly) */
pthread_rwlock_t ring_map_lk = PTHREAD_RWLOCK_INITIALIZER;
unsigned char *rw_buf, *ro_buf, *hole, *none_buf;
int ro_fd;
atomic_int stop;

_Atomic uint32_t stale_keys[NKEYS];
_Atomic uint32_t qpns[NKEYS];
atomic_uint key_pos, qpn_pos;
_Atomic uint32_t max_qpn;

void remember_key(uint32_t k)
{
	atomic_store(&stale_keys[atomic_fetch_add(&key_pos, 1) % NKEYS], k);
}

void remember_qpn(uint32_t q)
{
	uint32_t m = atomic_load(&max_qpn);

	atomic_store(&qpns[atomic_fetch_add(&qpn_pos, 1) % NKEYS], q);
	while (q > m && !atomic_compare_exchange_weak(&max_qpn, &m, q))
		;
}

struct pd_slot pds[NPD];
struct cq_slot cqs[NCQ];
struct mr_slot mrs[NMR];
struct qp_slot qps[NQP];

/* --- buffers --------------------------------------------------------------- */

/* A region of n bytes between PROT_NONE guards. */
static unsigned char *guarded(size_t n)
{
	unsigned char *p = mmap(NULL, n + 2 * GUARD, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	return p + GUARD;
}

static unsigned char ro_pattern(size_t i)
{
	return (unsigned char)(i * 131 + 7);
}

int buffers_init(void)
{
	size_t i;

	rw_buf = guarded(RW_SIZE);
	if (!rw_buf || mprotect(rw_buf, RW_SIZE, PROT_READ | PROT_WRITE))
		return -1;
	memset(rw_buf, 0xa5, RW_SIZE);
	ro_fd = memfd_create("ufuzz-ro", 0);
	if (ro_fd < 0 || ftruncate(ro_fd, RO_SIZE))
		return -1;
	for (i = 0; i < RO_SIZE; i++) {
		unsigned char c = ro_pattern(i);

		if (pwrite(ro_fd, &c, 1, (off_t)i) != 1)
			return -1;
	}
	ro_buf = guarded(RO_SIZE);
	if (!ro_buf || mmap(ro_buf, RO_SIZE, PROT_READ, MAP_SHARED | MAP_FIXED,
			    ro_fd, 0) == MAP_FAILED)
		return -1;
	none_buf = guarded(GUARD); /* itself PROT_NONE */
	hole = mmap(NULL, GUARD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!none_buf || hole == MAP_FAILED || munmap(hole, GUARD))
		return -1;
	return 0;
}

/* The read-only file was never written (through the MRs on it). */
void check_ro(void)
{
	static unsigned char buf[RO_SIZE];
	size_t i;

	if (pread(ro_fd, buf, RO_SIZE, 0) != RO_SIZE) {
		failure("read-only file: cannot read it back");
		return;
	}
	for (i = 0; i < RO_SIZE; i++)
		if (buf[i] != ro_pattern(i)) {
			failure("read-only file mapping written at offset %zu "
				"(0x%02x, was 0x%02x)",
				i, buf[i], ro_pattern(i));
			return;
		}
	printf("# read-only file mapping: unchanged (%u bytes)\n", RO_SIZE);
}

/* An address and length for an MR or an SGE, of any kind. */
void pick_range(struct rng *r, uint64_t *addr, uint64_t *len, bool mr)
{
	uint32_t off;

	switch (below(r, mr ? 10 : 6)) {
	case 0:
	case 1:
	case 2:
	case 3: /* inside the read-write buffer, maybe running off its end */
		off = below(r, RW_SIZE);
		*addr = (uintptr_t)rw_buf + off;
		*len = chance(r, 85) ? below(r, RW_SIZE - off + 1) :
				       below(r, RW_SIZE + 2 * GUARD);
		if (chance(r, 10))
			*len = 0;
		break;
	case 4: /* the read-only file mapping */
		off = below(r, RO_SIZE);
		*addr = (uintptr_t)ro_buf + off;
		*len = below(r, RO_SIZE - off + 1);
		break;
	case 5: /* random */
		*addr = rnd(r) & ~(uint64_t)below(r, 2);
		*len = edgy32(r);
		break;
	case 6: /* a hole */
		*addr = (uintptr_t)hole + below(r, GUARD);
		*len = 1 + below(r, GUARD);
		break;
	case 7: /* PROT_NONE */
		*addr = (uintptr_t)none_buf;
		*len = 1 + below(r, GUARD);
		break;
	case 8: /* kernel or non-canonical */
		*addr = chance(r, 50) ?
				0xffff888000000000ull + rnd(r) % (1ull << 30) :
				0x0000900000000000ull + rnd(r) % (1ull << 40);
		*len = 1 + below(r, 1u << 20);
		break;
	default: /* huge */
		*addr = (uintptr_t)rw_buf;
		*len = 1ull << (31 + below(r, 20));
		break;
	}
}

/* --- table helpers --------------------------------------------------------- */

void rd(pthread_rwlock_t *l)
{
	pthread_rwlock_rdlock(l);
}

void wr(pthread_rwlock_t *l)
{
	pthread_rwlock_wrlock(l);
}

void un(pthread_rwlock_t *l)
{
	pthread_rwlock_unlock(l);
}

/* A key: of a live MR (racy read, may be stale by use), stale, random. */
uint32_t pick_key(struct rng *r)
{
	struct ibv_mr *mr;

	switch (below(r, 4)) {
	case 0:
	case 1:
		mr = __atomic_load_n(&mrs[below(r, NMR)].mr, __ATOMIC_RELAXED);
		return mr ? (chance(r, 50) ? mr->lkey : mr->rkey) :
			    (uint32_t)rnd(r);
	case 2:
		return atomic_load(&stale_keys[below(r, NKEYS)]);
	default:
		return edgy32(r);
	}
}

/* Only the value of a live MR's pointer is read: mr->lkey needs it live. */
uint32_t pick_live_key(struct rng *r, uint64_t *addr, uint32_t *len)
{
	struct mr_slot *m = &mrs[below(r, NMR)];
	uint32_t key = 0;

	rd(&m->lk);
	if (m->mr) {
		key = m->mr->lkey;
		*addr = (uintptr_t)m->mr->addr +
			(m->mr->length ? below(r, (uint32_t)m->mr->length) : 0);
		*len = below(r, 1 + (uint32_t)((uintptr_t)m->mr->addr +
					       m->mr->length - *addr));
	}
	un(&m->lk);
	return key;
}

uint32_t pick_qpn(struct rng *r)
{
	switch (below(r, 4)) {
	case 0:
	case 1:
		return atomic_load(&qpns[below(r, NKEYS)]);
	case 2:
		return 2 + below(r, atomic_load(&max_qpn) + 64);
	default:
		return edgy32(r) & 0xffffff;
	}
}
