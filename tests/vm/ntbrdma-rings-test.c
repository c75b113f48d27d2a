// SPDX-License-Identifier: GPL-2.0
/*
 * ntbrdma-rings-test: a hostile process that writes its mapped rings
 * itself (not through the provider, which serialises its producers) and
 * races the kernel's handling of them with raw uverbs write() commands,
 * for tests/vm/ntbrdma-rings.sh (issue 8, items 2, 4 and 5).
 *
 *   starve DEV [SECONDS]  item 5: an attacker process keeps the SQ of a
 *                         loopback QP non-empty for SECONDS (default 30):
 *                         one thread writes unsignalled 64 KiB RDMA WRITEs
 *                         straight into the ring and moves prod (never
 *                         more than a ring ahead of cons), another kicks
 *                         the engine with raw post_send commands whenever
 *                         the ring's engine word is clear.  (Zero-length
 *                         WRITEs cost the engine so little that it empties
 *                         the ring within one time slice of the VM's one
 *                         vCPU, before the refilling thread runs again.)
 *                         A victim process of the same host must meanwhile
 *                         deregister an MR and destroy a QP within 10 s
 *                         each (the engine used to run the SQ, holding
 *                         eng_sem for reading, for as long as it was
 *                         refilled); every kick returns within 10 s, the
 *                         attacker's QP stays in RTS and it exits by itself
 *   write DEV             a loopback RDMA WRITE, checked byte for byte
 *                         (run after starve, in a new process)
 *   resize DEV [SECONDS]  item 2: two threads resize one CQ for SECONDS
 *                         (default 15) with raw RESIZE_CQ commands, to
 *                         different sizes; every answer describes one
 *                         ring of the size asked for; afterwards only the
 *                         current ring's mmap entry exists: one (offset,
 *                         size) of all handed out still maps, and filling
 *                         the offset space with new CQs finds no page
 *                         held by a stray entry (ib_core would warn about
 *                         it when the context closes); destroying the CQ
 *                         unmaps its offset
 *   mmap DEV [SECONDS]    items 2 and 4: the same with a third thread
 *                         that maps and reads the newest ring, racing the
 *                         resize that replaces and frees it; then the CQ
 *                         is destroyed while that thread maps its ring
 *   destroy DEV [SECONDS] item 4: for SECONDS (default 15), new CQs are
 *                         destroyed while a thread maps their ring: after
 *                         destroy returned the offset no longer maps, and
 *                         a mapping made before reads as the ring
 *
 * Every ring this program maps is never written by the kernel (no
 * completions, never armed), so it must read as zeros: anything else
 * is memory that is not the ring.  Exit 0 when every check passed.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <infiniband/verbs.h>
#include <rdma/ib_user_verbs.h>
#include <rdma/ntbrdma-abi.h>

#include "ntbrdma-rc.h"

#define BOUND_S 10.0 /* liveness bound of one verb or kick, seconds */
#define SQ_WR 4096 /* the attacker's SQ; every other ring is small */
#define MARKER 0x5a5a1234abcd0001ull /* wr_id of the first WQE */
#define PAYLOAD 65536 /* bytes of each WRITE of the attack */
#define MAX_RECS (1u << 18) /* resizes per thread */
#define MAX_FILL 8192 /* CQs that fill the offset space */

/* --- raw uverbs commands ----------------------------------------------- */

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/*
 * A legacy write() command (uverbs_main.c, ib_uverbs_write): the header,
 * then req (whose first field points at the response); in_words counts
 * the header, out_words the whole response.  0 or an errno value.
 */
static int ucmd(int fd, uint32_t command, const void *req, size_t len,
		size_t resp_len)
{
	unsigned char msg[256];
	struct ib_uverbs_cmd_hdr hdr = {
		.command = command,
		.in_words = (uint16_t)((sizeof(hdr) + len) / 4),
		.out_words = (uint16_t)(resp_len / 4),
	};
	size_t n = sizeof(hdr) + len;

	memcpy(msg, &hdr, sizeof(hdr));
	memcpy(msg + sizeof(hdr), req, len);
	return write(fd, msg, n) == (ssize_t)n ? 0 : errno;
}

/* Where a ring is: mmap offset and size on the uverbs fd, its entries. */
struct ring_ref {
	uint64_t off;
	uint64_t size;
	uint32_t num;
};

static int raw_resize_cq(int fd, uint32_t handle, uint32_t cqe,
			 struct ring_ref *r)
{
	uint64_t resp[(sizeof(struct ib_uverbs_resize_cq_resp) +
		       sizeof(struct ntbrdma_resize_cq_resp)) /
		      8];
	struct ib_uverbs_resize_cq cmd = {
		.response = (uintptr_t)resp,
		.cq_handle = handle,
		.cqe = cqe,
	};
	struct ntbrdma_resize_cq_resp drv;
	int err;

	err = ucmd(fd, IB_USER_VERBS_CMD_RESIZE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (err)
		return err;
	memcpy(&drv, (char *)resp + sizeof(struct ib_uverbs_resize_cq_resp),
	       sizeof(drv));
	r->off = drv.mmap_offset;
	r->size = drv.mmap_size;
	r->num = drv.num_cqe;
	return 0;
}

static int raw_create_cq(int fd, uint32_t cqe, uint32_t *handle,
			 struct ring_ref *r)
{
	uint64_t resp[(sizeof(struct ib_uverbs_create_cq_resp) +
		       sizeof(struct ntbrdma_create_cq_resp)) /
		      8];
	struct ib_uverbs_create_cq cmd = {
		.response = (uintptr_t)resp,
		.cqe = cqe,
		.comp_channel = -1,
	};
	struct ib_uverbs_create_cq_resp core;
	struct ntbrdma_create_cq_resp drv;
	int err;

	err = ucmd(fd, IB_USER_VERBS_CMD_CREATE_CQ, &cmd, sizeof(cmd),
		   sizeof(resp));
	if (err)
		return err;
	memcpy(&core, resp, sizeof(core));
	memcpy(&drv, (char *)resp + sizeof(core), sizeof(drv));
	*handle = core.cq_handle;
	r->off = drv.mmap_offset;
	r->size = drv.mmap_size;
	r->num = drv.num_cqe;
	return 0;
}

static int raw_destroy_cq(int fd, uint32_t handle)
{
	struct ib_uverbs_destroy_cq_resp resp;
	struct ib_uverbs_destroy_cq cmd = {
		.response = (uintptr_t)&resp,
		.cq_handle = handle,
	};

	return ucmd(fd, IB_USER_VERBS_CMD_DESTROY_CQ, &cmd, sizeof(cmd),
		    sizeof(resp));
}

/* The provider's kick (post_send with one empty request), done by hand. */
static int raw_kick(int fd, uint32_t qp_handle)
{
	struct ib_uverbs_post_send_resp resp;
	struct ib_uverbs_post_send cmd = {
		.response = (uintptr_t)&resp,
		.qp_handle = qp_handle,
		.wr_count = 1,
		.wqe_size = sizeof(struct ib_uverbs_send_wr),
	};
	struct ib_uverbs_send_wr wr = { .opcode = IB_UVERBS_WR_SEND };
	unsigned char req[sizeof(cmd) + sizeof(wr)];

	memcpy(req, &cmd, sizeof(cmd));
	memcpy(req + sizeof(cmd), &wr, sizeof(wr));
	return ucmd(fd, IB_USER_VERBS_CMD_POST_SEND, req, sizeof(req),
		    sizeof(resp));
}

static bool all_zero(const void *p, size_t n)
{
	const volatile uint64_t *w = p;
	uint64_t acc = 0;
	size_t i;

	for (i = 0; i < n / 8; i++)
		acc |= w[i];
	return !acc;
}

/*
 * Map r read-only and read all of it: 0 (and *zero: it read as zeros)
 * or the errno of mmap.
 */
static int try_map(int fd, const struct ring_ref *r, bool *zero)
{
	void *p = mmap(NULL, r->size, PROT_READ, MAP_SHARED, fd, (off_t)r->off);

	if (p == MAP_FAILED)
		return errno;
	*zero = all_zero(p, r->size);
	munmap(p, r->size);
	return 0;
}

/* --- starve: item 5 ------------------------------------------------------ */

struct attack {
	struct env e;
	struct ibv_qp *x, *y; /* x sends (the attack), y answers */
	struct ntbrdma_wq_ctrl *ctrl; /* x's SQ, the provider's mapping */
	struct ntbrdma_send_wqe *slot;
	uint32_t num;
	int stop;
	double max_kick;
	unsigned long kicks, kick_errs;
};

static uint32_t sq_cons(struct attack *a)
{
	return __atomic_load_n(&a->ctrl->cons, __ATOMIC_ACQUIRE);
}

static uint32_t sq_prod(struct attack *a)
{
	return __atomic_load_n(&a->ctrl->prod, __ATOMIC_ACQUIRE);
}

static bool engine_running(struct attack *a)
{
	return __atomic_load_n(&a->ctrl->engine, __ATOMIC_ACQUIRE) &
	       NTBRDMA_WQ_ENGINE_RUNNING;
}

static bool stopped(int *flag)
{
	return __atomic_load_n(flag, __ATOMIC_ACQUIRE);
}

static struct ibv_qp *make_sized_qp(struct env *e, uint32_t send_wr)
{
	struct ibv_qp_init_attr ia;

	memset(&ia, 0, sizeof(ia));
	ia.send_cq = e->scq;
	ia.recv_cq = e->rcq;
	ia.qp_type = IBV_QPT_RC;
	ia.cap.max_send_wr = send_wr;
	ia.cap.max_recv_wr = 16;
	ia.cap.max_send_sge = 1;
	ia.cap.max_recv_sge = 1;
	return ibv_create_qp(e->pd, &ia);
}

/*
 * The provider keeps its ring private: find x's SQ among this process's
 * mappings of the uverbs device by its size (SQ_WR slots: no other ring
 * is that big) and the marker WQE the provider wrote into slot 0.
 */
static struct ntbrdma_wq_ctrl *find_sq(size_t size)
{
	struct ntbrdma_wq_ctrl *found = NULL;
	const struct ntbrdma_send_wqe *s;
	unsigned long lo, hi;
	char line[512];
	FILE *f;
	int n;

	f = fopen("/proc/self/maps", "r");
	while (f && !found && fgets(line, sizeof(line), f)) {
		n = 0;
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &lo, &hi, &n) <
			    2 ||
		    !n || !strstr(line + n, "uverbs") || hi - lo != size)
			continue;
		s = (const void *)(uintptr_t)(lo + NTBRDMA_WQ_WQE_OFFSET);
		if (s->wr_id == MARKER)
			found = (void *)(uintptr_t)lo;
	}
	if (f)
		fclose(f);
	return found;
}

/* x and y connected to each other, the marker through the provider. */
static int attack_setup(struct attack *a, const char *dev)
{
	struct ibv_qp_init_attr ia;
	struct ibv_qp_attr qa;
	struct ibv_wc wc;
	size_t size;

	memset(a, 0, sizeof(*a));
	if (env_open(&a->e, dev))
		return -1;
	a->x = make_sized_qp(&a->e, SQ_WR);
	a->y = make_sized_qp(&a->e, 16);
	if (!a->x || !a->y ||
	    connect_qp(&a->e, a->x, &a->e.gid, a->y->qp_num, 7) ||
	    connect_qp(&a->e, a->y, &a->e.gid, a->x->qp_num, 7) ||
	    ibv_query_qp(a->x, &qa, IBV_QP_CAP, &ia))
		return -1;
	a->num = qa.cap.max_send_wr;
	if (post_rdma(a->x, IBV_WR_RDMA_WRITE, MARKER, NULL, 0,
		      (uintptr_t)a->e.dst, a->e.dmr->rkey, 0, 0) ||
	    wait_wc(a->e.scq, &wc) || wc.status != IBV_WC_SUCCESS)
		return -1;
	size = NTBRDMA_WQ_WQE_OFFSET +
	       (size_t)a->num * sizeof(struct ntbrdma_send_wqe);
	size = (size + page_size() - 1) & ~(page_size() - 1);
	/* An RC QP's SQ memory ends with the published-receive ring. */
	size += NTBRDMA_PUB_ENTRIES * sizeof(struct ntbrdma_pub_ent);
	a->ctrl = find_sq(size);
	if (!a->ctrl)
		return -1;
	a->slot = (void *)((char *)a->ctrl + NTBRDMA_WQ_WQE_OFFSET);
	printf("# attacker: SQ of QP %u found in /proc/self/maps: %u slots, "
	       "%zu bytes\n",
	       a->x->qp_num, a->num, size);
	return 0;
}

/* An unsignalled RDMA WRITE of src into y's dst, slot index & (num - 1). */
static void write_wqe(struct attack *a, uint32_t index)
{
	struct ntbrdma_send_wqe *w = &a->slot[index & (a->num - 1)];

	w->wr_id = index;
	w->opcode = IB_UVERBS_WR_RDMA_WRITE;
	w->flags = 0;
	w->num_sge = 1;
	w->inline_len = 0;
	w->d.sge[0].addr = (uintptr_t)a->e.src;
	w->d.sge[0].length = PAYLOAD;
	w->d.sge[0].lkey = a->e.smr->lkey;
	w->u.rdma.remote_addr = (uintptr_t)a->e.dst;
	w->u.rdma.rkey = a->e.dmr->rkey;
}

/* Thread 2: keep the SQ full, never more than num ahead of cons. */
static void *writer(void *arg)
{
	struct attack *a = arg;
	uint32_t prod = sq_prod(a), cons;

	while (!stopped(&a->stop)) {
		cons = sq_cons(a);
		for (; prod - cons < a->num; prod++)
			write_wqe(a, prod);
		__atomic_store_n(&a->ctrl->prod, prod, __ATOMIC_RELEASE);
		usleep(500);
	}
	return NULL;
}

/* Thread 1: kick whenever the engine says it is not running. */
static void *kicker(void *arg)
{
	struct attack *a = arg;
	double t, dt;

	while (!stopped(&a->stop)) {
		if (engine_running(a) || sq_prod(a) == sq_cons(a)) {
			usleep(1000);
			continue;
		}
		t = now_s();
		if (raw_kick(a->e.ctx->cmd_fd, a->x->handle))
			a->kick_errs++;
		dt = now_s() - t;
		if (dt > a->max_kick)
			a->max_kick = dt;
		a->kicks++;
	}
	return NULL;
}

/* Until the engine consumed a full ring (the attack is on), 20 s at most. */
static bool attack_started(struct attack *a, uint32_t cons0)
{
	double end = now_s() + 20;

	while (now_s() < end) {
		if (sq_cons(a) - cons0 >= a->num)
			return true;
		usleep(10000);
	}
	return false;
}

/* Until the victim says it is done (or gone), or secs passed. */
static void attack_wait(int rfd, int secs)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	double end = now_s() + secs, left;

	while ((left = end - now_s()) > 0) {
		if (poll(&p, 1, (int)(left * 1000) + 1) > 0)
			return;
	}
}

/* After the threads stopped: the engine empties the SQ. */
static bool sq_drain(struct attack *a)
{
	double end = now_s() + BOUND_S;

	while (now_s() < end) {
		if (sq_prod(a) == sq_cons(a))
			return true;
		if (!engine_running(a))
			raw_kick(a->e.ctx->cmd_fd, a->x->handle);
		usleep(10000);
	}
	return false;
}

static void attack_checks(struct attack *a, uint32_t cons0, double secs)
{
	uint32_t consumed = sq_cons(a) - cons0;
	struct ibv_wc wc;

	printf("# attacker: %u WQEs consumed in %.1f s, %lu kicks, longest "
	       "kick %.3f s\n",
	       consumed, secs, a->kicks, a->max_kick);
	CHECK(sq_drain(a), "attacker: the SQ drains after the attack");
	CHECK(consumed > a->num,
	      "attacker: the engine ran the attack's WQEs "
	      "(%u)",
	      consumed);
	CHECK(a->max_kick < BOUND_S,
	      "attacker: every kick (post_send) returned within %.0f s "
	      "(longest %.3f s)",
	      BOUND_S, a->max_kick);
	CHECK(!a->kick_errs,
	      "attacker: raw post_send kicks accepted (%lu "
	      "errors)",
	      a->kick_errs);
	CHECK(query_state(a->x) == IBV_QPS_RTS &&
		      !ibv_poll_cq(a->e.scq, 1, &wc),
	      "attacker: QP still in RTS, no (error) completion");
}

static int attacker(const char *dev, int secs, int rfd, int wfd)
{
	pthread_t tw, tk;
	struct attack a;
	uint32_t cons0;
	double t0;

	if (attack_setup(&a, dev)) {
		CHECK(0, "attacker: loopback QPs and their SQ ring");
		return 1;
	}
	cons0 = sq_cons(&a);
	t0 = now_s();
	pthread_create(&tw, NULL, writer, &a);
	pthread_create(&tk, NULL, kicker, &a);
	CHECK(attack_started(&a, cons0), "attacker: attack running");
	CHECK(write(wfd, "R", 1) == 1, "attacker: victim told");
	attack_wait(rfd, secs);
	__atomic_store_n(&a.stop, 1, __ATOMIC_RELEASE);
	pthread_join(tw, NULL);
	pthread_join(tk, NULL);
	attack_checks(&a, cons0, now_s() - t0);
	CHECK(!ibv_destroy_qp(a.x) && !ibv_destroy_qp(a.y) &&
		      !ibv_dereg_mr(a.e.smr) && !ibv_dereg_mr(a.e.dmr),
	      "attacker: QPs destroyed, MRs deregistered");
	return failures ? 1 : 0;
}

/* Wait for one byte from the attacker: it says the attack is on. */
static bool victim_wait(int rfd)
{
	struct pollfd p = { .fd = rfd, .events = POLLIN };
	char c;

	return poll(&p, 1, 60000) == 1 && read(rfd, &c, 1) == 1 && c == 'R';
}

static int victim(const char *dev, int rfd, int wfd)
{
	struct ibv_qp *qp;
	struct env e;
	double t, dt;
	int r;

	if (env_open(&e, dev) || !(qp = make_qp(&e))) {
		CHECK(0, "victim: device, PD, CQs, MRs, QP");
		return 1;
	}
	if (!victim_wait(rfd)) {
		CHECK(0, "victim: the attack started");
		return 1;
	}
	sleep(3);
	t = now_s();
	r = ibv_dereg_mr(e.dmr);
	dt = now_s() - t;
	CHECK(!r && dt < BOUND_S,
	      "victim: ibv_dereg_mr under the attack returned %d after %.3f "
	      "s (bound %.0f s)",
	      r, dt, BOUND_S);
	t = now_s();
	r = ibv_destroy_qp(qp);
	dt = now_s() - t;
	CHECK(!r && dt < BOUND_S,
	      "victim: ibv_destroy_qp under the attack returned %d after "
	      "%.3f s (bound %.0f s)",
	      r, dt, BOUND_S);
	if (write(wfd, "D", 1) != 1)
		perror("victim: write");
	ibv_dereg_mr(e.smr);
	return failures ? 1 : 0;
}

/* A child's end: it must have exited by itself; its checks count. */
static void reap(pid_t pid, const char *who)
{
	int st = 0;

	waitpid(pid, &st, 0);
	CHECK(WIFEXITED(st), "%s process exited by itself (status %#x)", who,
	      st);
	if (WIFEXITED(st) && WEXITSTATUS(st))
		failures++; /* its own FAIL lines said why */
}

/*
 * Attacker and victim are forked before either opens the device (fork
 * and libibverbs do not mix); two pipes tell the victim when the attack
 * runs and the attacker when the victim is done.
 */
static int do_starve(const char *dev, int secs)
{
	int a2v[2], v2a[2];
	pid_t att, vic;

	if (pipe(a2v) || pipe(v2a))
		return 1;
	att = fork();
	if (!att) {
		close(a2v[0]);
		close(v2a[1]);
		exit(attacker(dev, secs, v2a[0], a2v[1]));
	}
	vic = fork();
	if (!vic) {
		close(a2v[1]);
		close(v2a[0]);
		exit(victim(dev, a2v[0], v2a[1]));
	}
	close(a2v[0]);
	close(a2v[1]);
	close(v2a[0]);
	close(v2a[1]);
	if (att < 0 || vic < 0) {
		CHECK(0, "fork");
		return 1;
	}
	reap(vic, "victim");
	reap(att, "attacker");
	return failures ? 1 : 0;
}

/* --- write: the data path after the attack ------------------------------ */

static int do_write(const char *dev)
{
	struct ibv_sge sge;
	struct ibv_qp *qa, *qb;
	struct ibv_wc wc;
	struct env e;
	size_t len = 65536;

	if (env_open(&e, dev)) {
		CHECK(0, "device, PD, CQs, MRs, GID");
		return 1;
	}
	CHECK(!loop_pair(&e, &qa, &qb),
	      "two QPs connected to each other (loopback)");
	if (!qa || !qb)
		return 1;
	fill(e.src, len, 77);
	memset(e.dst, 0, BUF_SIZE);
	sge.addr = (uintptr_t)e.src;
	sge.length = (uint32_t)len;
	sge.lkey = e.smr->lkey;
	CHECK(!post_rdma(qa, IBV_WR_RDMA_WRITE, 7, &sge, 1, (uintptr_t)e.dst,
			 e.dmr->rkey, 0, 0) &&
		      !wait_wc(e.scq, &wc) && wc.status == IBV_WC_SUCCESS,
	      "loopback RDMA WRITE of %zu bytes completes (%s)", len,
	      ibv_wc_status_str(wc.status));
	CHECK(!memcmp(e.dst, e.src, len) && e.dst[len] == 0,
	      "loopback RDMA WRITE: data byte for byte");
	CHECK(!ibv_destroy_qp(qa) && !ibv_destroy_qp(qb) &&
		      !ibv_dereg_mr(e.smr) && !ibv_dereg_mr(e.dmr),
	      "QPs destroyed, MRs deregistered");
	return failures ? 1 : 0;
}

/* --- resize: items 2 and 4 --------------------------------------------- */

struct race {
	int fd;
	uint32_t handle;
	double end;
	int stop;
	uint64_t latest; /* pgoff << 32 | pages of the newest ring; 0: none */
	unsigned long maps, mapped, nonzero; /* the mapping thread's */
};

struct resizer {
	pthread_t t;
	struct race *race;
	uint32_t cqe;
	struct ring_ref *recs;
	size_t n;
	unsigned long errs, odd;
	int err;
};

static uint64_t pack(const struct ring_ref *r)
{
	size_t pg = page_size();

	return (r->off / pg) << 32 | (r->size / pg);
}

static size_t cq_ring_bytes(uint32_t num)
{
	size_t n = NTBRDMA_CQ_CQE_OFFSET +
		   (size_t)num * sizeof(struct ntbrdma_cqe);

	return (n + page_size() - 1) & ~(page_size() - 1);
}

static uint32_t pow2_at_least(uint32_t n)
{
	uint32_t p = 1;

	while (p < n)
		p <<= 1;
	return p;
}

/* One answer describes one ring of the size asked for. */
static bool resize_answer_ok(const struct resizer *z, const struct ring_ref *r)
{
	return r->num == pow2_at_least(z->cqe) &&
	       r->size == cq_ring_bytes(r->num) && !(r->off % page_size());
}

static void *resize_thread(void *arg)
{
	struct resizer *z = arg;
	struct race *race = z->race;
	struct ring_ref r;
	int err;

	while (z->n < MAX_RECS && now_s() < race->end) {
		err = raw_resize_cq(race->fd, race->handle, z->cqe, &r);
		if (err) {
			z->errs++;
			z->err = err;
			continue;
		}
		if (!resize_answer_ok(z, &r))
			z->odd++;
		z->recs[z->n++] = r;
		__atomic_store_n(&race->latest, pack(&r), __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Map the newest ring, read it all, unmap; until told to stop. */
static void *map_thread(void *arg)
{
	struct race *race = arg;
	size_t pg = page_size();
	struct ring_ref r;
	uint64_t v;
	bool zero;

	while (!stopped(&race->stop)) {
		v = __atomic_load_n(&race->latest, __ATOMIC_ACQUIRE);
		if (!v) {
			sched_yield();
			continue;
		}
		r.off = (v >> 32) * pg;
		r.size = (v & 0xffffffffu) * pg;
		__atomic_fetch_add(&race->maps, 1, __ATOMIC_RELAXED);
		if (!try_map(race->fd, &r, &zero)) {
			race->mapped++;
			if (!zero)
				race->nonzero++;
		}
	}
	return NULL;
}

static int ref_cmp(const void *pa, const void *pb)
{
	const struct ring_ref *a = pa, *b = pb;

	if (a->off != b->off)
		return a->off < b->off ? -1 : 1;
	if (a->size != b->size)
		return a->size < b->size ? -1 : 1;
	return 0;
}

/*
 * Of every distinct (offset, size) handed out, the ones that still map
 * (into live[], at most nlive); returns how many.
 */
static size_t still_mapped(struct race *race, struct ring_ref *all, size_t n,
			   struct ring_ref *live, size_t nlive,
			   size_t *distinct, unsigned long *nonzero)
{
	size_t i, found = 0;
	bool zero;

	qsort(all, n, sizeof(*all), ref_cmp);
	*distinct = 0;
	for (i = 0; i < n; i++) {
		if (i && !ref_cmp(&all[i], &all[i - 1]))
			continue;
		(*distinct)++;
		if (try_map(race->fd, &all[i], &zero))
			continue;
		if (!zero)
			(*nonzero)++;
		if (found < nlive)
			live[found] = all[i];
		found++;
	}
	return found;
}

/*
 * Fill the offset space below the highest offset handed out with
 * one-page CQs: ib_core gives each the lowest free page offset, so
 * every page there that is neither the live ring's nor a new CQ's is
 * held by an mmap entry nobody can reach - a stray entry of a replaced
 * ring.  Returns the number of such pages (or -1).
 */
static long stray_pages(struct race *race, const struct ring_ref *all, size_t n,
			const struct ring_ref *live, size_t nlive,
			size_t *limit)
{
	size_t pg = page_size(), top = 0, i, p, cqs = 0;
	struct ring_ref r;
	uint32_t h;
	long holes = 0;
	char *used;

	for (i = 0; i < n; i++)
		if ((all[i].off + all[i].size) / pg > top)
			top = (all[i].off + all[i].size) / pg;
	*limit = top;
	used = calloc(top + 1, 1);
	if (!used)
		return -1;
	for (i = 0; i < nlive; i++)
		for (p = live[i].off / pg;
		     p < (live[i].off + live[i].size) / pg; p++)
			used[p < top ? p : top] = 1;
	for (; cqs < MAX_FILL; cqs++) {
		if (raw_create_cq(race->fd, 1, &h, &r) || r.size != pg)
			break;
		if (r.off / pg >= top)
			break;
		used[r.off / pg] = 1;
	}
	printf("# %zu one-page CQs fill the %zu pages below the highest "
	       "offset handed out\n",
	       cqs, top);
	for (p = 0; p < top; p++)
		holes += !used[p];
	free(used);
	return cqs == MAX_FILL ? -1 : holes;
}

static bool resize_checks(struct race *race, struct resizer *z, size_t nz,
			  bool mapper, struct ring_ref *cur)
{
	size_t i, n = 0, distinct, nlive, limit;
	struct ring_ref live[4] = { { 0 } };
	struct ring_ref *all;
	unsigned long nonzero = 0;
	long holes;

	for (i = 0; i < nz; i++) {
		printf("# resizer %zu (cqe %u): %zu resizes, %lu errors (last "
		       "%s)\n",
		       i, z[i].cqe, z[i].n, z[i].errs, strerror(z[i].err));
		CHECK(!z[i].errs, "resizer %zu: every RESIZE_CQ succeeded", i);
		CHECK(!z[i].odd,
		      "resizer %zu: every answer is one ring of the size asked "
		      "for (%lu are not)",
		      i, z[i].odd);
		n += z[i].n;
	}
	if (mapper) {
		printf("# mapping thread: %lu mmaps of the newest ring, %lu "
		       "mapped\n",
		       race->maps, race->mapped);
		CHECK(!race->nonzero,
		      "mapping thread: every ring it mapped read as zeros (%lu "
		      "did not)",
		      race->nonzero);
	}
	all = malloc((n ? n : 1) * sizeof(*all));
	for (i = 0, n = 0; all && i < nz; i++) {
		memcpy(all + n, z[i].recs, z[i].n * sizeof(*all));
		n += z[i].n;
	}
	nlive = all ? still_mapped(race, all, n, live, 4, &distinct, &nonzero) :
		      0;
	CHECK(all && nlive == 1,
	      "after %zu resizes, %zu of the %zu distinct (offset, size) "
	      "handed out still map (only the current ring's may)",
	      n, nlive, all ? distinct : 0);
	CHECK(!nonzero, "the rings that still map read as zeros");
	holes = all ? stray_pages(race, all, n, live, nlive < 4 ? nlive : 4,
				  &limit) :
		      -1;
	CHECK(holes == 0,
	      "no stray mmap entry: below the highest offset handed out "
	      "(%zu pages), %ld pages are held by no live ring",
	      all ? limit : 0, holes);
	free(all);
	*cur = live[0];
	return nlive == 1;
}

/*
 * Two resizers (different sizes) for secs, and a mapper if asked for;
 * then the checks, the current ring into *cur (false: none).
 */
static bool resize_race(struct race *race, int secs, bool mapper,
			struct ring_ref *cur)
{
	struct resizer z[2] = { { .cqe = 64 }, { .cqe = 256 } };
	pthread_t tm;
	bool found;
	size_t i;

	race->end = now_s() + secs;
	for (i = 0; i < 2; i++) {
		z[i].race = race;
		z[i].recs = calloc(MAX_RECS, sizeof(*z[i].recs));
		if (!z[i].recs)
			return false;
	}
	race->stop = 0;
	if (mapper)
		pthread_create(&tm, NULL, map_thread, race);
	for (i = 0; i < 2; i++)
		pthread_create(&z[i].t, NULL, resize_thread, &z[i]);
	for (i = 0; i < 2; i++)
		pthread_join(z[i].t, NULL);
	__atomic_store_n(&race->stop, 1, __ATOMIC_RELEASE);
	if (mapper)
		pthread_join(tm, NULL);
	found = resize_checks(race, z, 2, mapper, cur);
	for (i = 0; i < 2; i++)
		free(z[i].recs);
	return found;
}

struct destroyed {
	unsigned long n, still_maps, pre_bad, errs;
};

/*
 * r's CQ is destroyed by destroy() once the mapping thread (if mapper)
 * maps r: a mapping made before stays readable (and zero) after, and r
 * no longer maps.
 */
static void destroy_one(struct race *race, const struct ring_ref *r,
			int (*destroy)(void *), void *arg, bool mapper,
			struct destroyed *d)
{
	void *pre = mmap(NULL, r->size, PROT_READ, MAP_SHARED, race->fd,
			 (off_t)r->off);
	unsigned long maps = __atomic_load_n(&race->maps, __ATOMIC_RELAXED);
	bool zero;
	int i;

	__atomic_store_n(&race->latest, pack(r), __ATOMIC_RELEASE);
	for (i = 0; mapper && i < 1000 &&
		    __atomic_load_n(&race->maps, __ATOMIC_RELAXED) == maps;
	     i++)
		usleep(100);
	usleep((useconds_t)(d->n % 8) * 250);
	if (destroy(arg))
		d->errs++;
	__atomic_store_n(&race->latest, 0, __ATOMIC_RELEASE);
	d->n++;
	if (!try_map(race->fd, r, &zero))
		d->still_maps++;
	if (pre == MAP_FAILED || !all_zero(pre, r->size))
		d->pre_bad++;
	if (pre != MAP_FAILED)
		munmap(pre, r->size);
}

struct raw_cq {
	int fd;
	uint32_t handle;
};

static int destroy_raw(void *arg)
{
	struct raw_cq *c = arg;

	return raw_destroy_cq(c->fd, c->handle);
}

static int destroy_verbs(void *arg)
{
	return ibv_destroy_cq(arg);
}

/*
 * cq (through the provider; cur: its ring), then new CQs for secs, each
 * destroyed while the mapping thread (if mapper) maps its ring.
 */
static void destroy_race(struct race *race, struct ibv_cq *cq,
			 const struct ring_ref *cur, int secs, bool mapper)
{
	struct destroyed d = { 0 };
	struct raw_cq c = { .fd = race->fd };
	double end = now_s() + secs;
	struct ring_ref r;
	pthread_t tm;

	race->stop = 0;
	race->maps = race->mapped = race->nonzero = 0;
	if (mapper)
		pthread_create(&tm, NULL, map_thread, race);
	if (cur)
		destroy_one(race, cur, destroy_verbs, cq, mapper, &d);
	else if (ibv_destroy_cq(cq))
		d.errs++;
	while (now_s() < end) {
		if (raw_create_cq(race->fd, 256, &c.handle, &r)) {
			d.errs++;
			break;
		}
		destroy_one(race, &r, destroy_raw, &c, mapper, &d);
	}
	__atomic_store_n(&race->stop, 1, __ATOMIC_RELEASE);
	if (mapper)
		pthread_join(tm, NULL);
	printf("# destroy: %lu CQs destroyed\n", d.n);
	CHECK(!d.errs, "destroy: every CQ created and destroyed");
	CHECK(!d.still_maps,
	      "destroy: after destroy returned, the ring's offset maps no "
	      "more (%lu of %lu still did)",
	      d.still_maps, d.n);
	CHECK(!d.pre_bad,
	      "destroy: a mapping made before destroy reads as the ring "
	      "after it (%lu did not)",
	      d.pre_bad);
	if (!mapper)
		return;
	printf("# destroy: mapping thread: %lu mmaps, %lu mapped\n", race->maps,
	       race->mapped);
	CHECK(!race->nonzero,
	      "destroy: every ring the mapping thread mapped read as zeros "
	      "(%lu did not)",
	      race->nonzero);
}

enum ring_mode {
	RESIZE, /* resizes racing each other */
	MMAP, /* resizes racing each other and mmap */
	DESTROY, /* destroy racing mmap */
};

static int do_rings(const char *dev, enum ring_mode m, int secs)
{
	struct race race = { 0 };
	struct ibv_context *ctx;
	struct ring_ref cur;
	struct ibv_cq *cq;
	bool found;

	ctx = open_dev(dev);
	if (!ctx)
		return 1;
	cq = ibv_create_cq(ctx, 16, NULL, NULL, 0);
	CHECK(cq != NULL, "CQ created through the provider");
	if (!cq)
		return 1;
	race.fd = ctx->cmd_fd;
	race.handle = cq->handle;
	if (m == DESTROY) {
		found = !raw_resize_cq(race.fd, race.handle, 256, &cur);
		CHECK(found, "one raw RESIZE_CQ: the ring's place");
	} else {
		found = resize_race(&race, secs, m == MMAP, &cur);
	}
	destroy_race(&race, cq, found ? &cur : NULL, m == DESTROY ? secs : 0,
		     m != RESIZE);
	CHECK(!ibv_close_device(ctx), "device closed");
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const char *const modes[] = { "resize", "mmap", "destroy" };
	int secs = argc > 3 ? atoi(argv[3]) : 0;
	unsigned int i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if ((argc == 3 || argc == 4) && !strcmp(argv[1], "starve"))
		return do_starve(argv[2], secs > 0 ? secs : 30);
	if (argc == 3 && !strcmp(argv[1], "write"))
		return do_write(argv[2]);
	for (i = 0; i < 3 && (argc == 3 || argc == 4); i++)
		if (!strcmp(argv[1], modes[i]))
			return do_rings(argv[2], (enum ring_mode)i,
					secs > 0 ? secs : 15);
	fprintf(stderr,
		"usage: %s starve|resize|mmap|destroy DEV [SECONDS] | write "
		"DEV\n",
		argv[0]);
	return 2;
}
