/*
 * cli_bench_line.c: `certstation bench line`: the whole line (ports,
 * protocol, issuance, ledger) measured against simulated devices, with the
 * ratios computed from figures taken in the same run.
 *
 * For every combination of fixture count, baud rate and dialect, the
 * simulator (sim/sim.h) runs N pty ports in a thread of this process and the
 * station runs the line on the other end, exactly as `certstation run` does.
 * Measured:
 *   throughput   devices/h from the station's own completions, after the
 *                warm-up (the first device of each slot, which may have
 *                waited for the station to open its port);
 *   per device   the simulator's wall time next to what physics and the
 *                device itself impose: the wire floor (bytes * 10 / baud,
 *                8N1, half duplex) plus the device's key generation and CSR
 *                signing; their ratio is the station's overhead;
 *   bytes        per device, frame against text;
 *   scaling      throughput(N) / (N * throughput(1)) per baud and dialect,
 *                next to the issuance core's own rate (issuer alone, same
 *                station, same HSM key, many requests in flight);
 *   cpu          cores busy in the simulator's threads and in the station's,
 *                because both share this machine's cores.
 *
 * DESIGN: the simulator runs in its own thread with SIGINT/SIGTERM blocked
 * (sim_run() takes them with sigtimedwait() in the thread that called it);
 * a SIGTERM sent to exactly that thread with pthread_kill() is its ordinary
 * stop, so the simulator needs no extra entry point. The stop follows
 * `run`'s SIGTERM: the line first (each slot abandons its exchange and
 * tells the device "aborted": a stop artefact, not a failure, when it is
 * that port's last device), then the simulator. The station's slots
 * log one line per device to stderr; during a measurement stderr goes to a
 * log file in the combination's directory instead of flooding the terminal.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim.h"
#include "station/cli.h"
#include "station/demo.h"
#include "station/line.h"
#include "station/station.h"

#define BL_LIST_MAX 8
#define BL_CORE_CSRS 32
#define BL_CORE_WINDOW 64
#define BL_CORE_SECONDS 2.0
#define BL_CORE_WARMUP 0.3
#define BL_MAP_WAIT_S 10.0   /* simulator start: ptys, links, fixture map */
#define BL_WARMUP_MAX_S 30.0 /* every slot's first device */
#define BL_EXTEND_MAX_S 30.0 /* steady state beyond --seconds, for enough devices */
#define BL_SCAN_MS 100
#define BL_LINEAR 0.90 /* scaling at or above this counts as linear */
#define BL_TARGET 1.15 /* wall / (floor + compute) */
#define BL_SLOW 2.0    /* a device this far over it stalled somewhere */
#define BL_TASKS_MAX 512
#define BL_SIM_THREAD "bench-sim"

static const char bench_line_usage[] =
    "usage: certstation bench line [--fixtures 1,8,32] [--bauds 115200,921600]\n"
    "                              [--dialects frame,text] [--seconds S] [--gap-ms G]\n"
    "                              [--fault SPEC]... [--dir DIR] [--keep]\n"
    "  The whole line (ports, protocol, issuance, ledger) against simulated devices\n"
    "  on pseudo-terminals, for every combination of fixture count, baud and dialect.\n"
    "  One SoftHSM2 demo PKI (P-256 issuing key) serves every combination.\n"
    "  --seconds S   steady state measured per combination (default 4), after the\n"
    "                warm-up (every slot's first device); longer if fewer devices than\n"
    "                fixtures completed in it\n"
    "  --gap-ms G    pause between two devices on a fixture (default 0: the next\n"
    "                device says HELLO as soon as the previous one has its result)\n"
    "  --fault SPEC  make chosen simulated devices misbehave (`certstation sim`'s\n"
    "                --fault), to see a failure counted: not for measurements\n"
    "  --dir DIR     work directory, kept (default: a new /tmp/certstation-bench-line-*,\n"
    "                removed at the end unless --keep or a device failed)\n"
    "Columns, one row per combination:\n"
    "  devices/h     station-side completions after the warm-up, divided by the time\n"
    "                from the end of the warm-up to the last completion\n"
    "  wall ms       mean time per device from insertion to its result, as the\n"
    "                simulated device measures it (first device of each port left\n"
    "                out; the simulator prints whole milliseconds)\n"
    "  floor ms      mean wire floor: (bytes out + bytes in) * 10 / baud (8N1, half\n"
    "                duplex): the time the bytes alone need on the line\n"
    "  compute ms    mean device compute: key generation + CSR signing, measured in\n"
    "                the simulated device (on this machine's cores, shared with the\n"
    "                station)\n"
    "  w/(f+c)       mean wall / (mean floor + mean compute): the station's overhead\n"
    "                on top of what the wire and the device impose; target <= 1.15\n"
    "  p95           95th percentile of the same ratio per device\n"
    "  slow          devices whose own ratio is over 2 (stalls, retries), of 'devices'\n"
    "  devices       devices in the per-device figures\n"
    "  bytes/dev     mean bytes on the wire per device, both directions\n"
    "  scaling       devices/h(N) / (N * devices/h(1)) at the same baud and dialect\n"
    "                (relative to the smallest N measured if 1 is not): 1.00 = linear\n"
    "  cpu sim+stn   cores busy during the steady state in the simulator's threads\n"
    "                and in the station's (both run on this machine; the kernel's\n"
    "                pty work runs in its own threads and is not counted)\n"
    "The issuance core's own rate (issuer alone, same station and key, requests in\n"
    "flight) is printed for reference. Exit status 1 when any device failed.\n"
    "Latest on a 2-core VM: w/(f+c) 0.98-1.05 at 1 fixture and at 8 x 115200,\n"
    "1.16-1.28 at 8 x 921600, up to 2.60 at 32 x 921600 (the VM's 2 cores, shared\n"
    "with the simulator, are the bound); frame sends 1.36x fewer bytes than text;\n"
    "scaling 0.97 at 8 x 115200. The README has the whole table.\n";

struct bl_opts {
	unsigned fixtures[BL_LIST_MAX];
	size_t nfix;
	uint32_t bauds[BL_LIST_MAX];
	size_t nbaud;
	enum proto_dialect dialects[2];
	size_t ndial;
	double seconds;
	uint32_t gap_ms;
	struct sim_fault faults[SIM_FAULTS_MAX]; /* to check the failure accounting */
	size_t fault_count;
	const char *dir;
	int keep;
};

static uint64_t
bl_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void
bl_sleep_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static const char *
bl_dialect_name(enum proto_dialect d)
{
	return d == PROTO_DIALECT_TEXT ? "text" : "frame";
}

/* ---- station-side completions ----------------------------------------- */

struct bl_done {
	uint64_t t_ns; /* monotonic, when the event arrived */
	unsigned slot;
	int status;
};

struct bl_record {
	pthread_mutex_t mu;
	unsigned nslots;
	struct bl_done *v;
	size_t len, cap;
	int nomem;
	int stopping; /* events from the shutdown are not measured */
	uint64_t first_ns[SIM_PORTS_MAX];
	unsigned warmed; /* slots with a first completion */
	int first_fail_status;
	char first_fail_slot[SLOT_NAME_MAX + 1];
	char first_fail_text[CS_ERR_MSG_MAX];
};

/* "sim-P" -> P; UINT_MAX for any other name. */
static unsigned
bl_slot_index(const char *name)
{
	char *end;
	unsigned long v;

	if (strncmp(name, "sim-", 4) != 0 || name[4] < '0' || name[4] > '9')
		return UINT_MAX;
	v = strtoul(name + 4, &end, 10);
	return *end == '\0' && v < SIM_PORTS_MAX ? (unsigned)v : UINT_MAX;
}

/* Runs on slot threads: record and return. */
static void
bl_on_event(void *arg, const struct line_event *ev)
{
	struct bl_record *r = arg;
	uint64_t now = bl_now_ns();
	unsigned slot;

	if (ev->kind != LINE_EV_DEVICE_DONE)
		return;
	slot = bl_slot_index(ev->slot->name);
	pthread_mutex_lock(&r->mu);
	if (r->stopping)
		goto out;
	if (r->len == r->cap) {
		size_t cap = r->cap == 0 ? 4096 : r->cap * 2;
		struct bl_done *v = realloc(r->v, cap * sizeof(*v));

		if (v == NULL) {
			r->nomem = 1;
			goto out;
		}
		r->v = v;
		r->cap = cap;
	}
	r->v[r->len].t_ns = now;
	r->v[r->len].slot = slot;
	r->v[r->len].status = ev->status;
	r->len++;
	if (slot < r->nslots && r->first_ns[slot] == 0) {
		r->first_ns[slot] = now;
		r->warmed++;
	}
	if (ev->status != 0 && r->first_fail_status == 0) {
		r->first_fail_status = ev->status;
		snprintf(r->first_fail_slot, sizeof(r->first_fail_slot), "%s", ev->slot->name);
		snprintf(r->first_fail_text, sizeof(r->first_fail_text), "%.60s: %.400s",
		         ev->slot->last_reason, ev->slot->last_text);
	}
out:
	pthread_mutex_unlock(&r->mu);
}

/* ---- CPU per thread group ---------------------------------------------- */

struct bl_task {
	long tid;
	int sim;     /* a simulator thread (named BL_SIM_THREAD) */
	uint64_t ns; /* CPU time so far */
};

struct bl_cpu {
	struct bl_task t[BL_TASKS_MAX];
	size_t n;
	uint64_t at_ns;
};

/* Read a small /proc file into buf; 0 or -1. */
static int
bl_read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* CPU time of every thread of this process (schedstat: ns on a CPU). */
static void
bl_cpu_sample(struct bl_cpu *c)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	c->n = 0;
	c->at_ns = bl_now_ns();
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL && c->n < BL_TASKS_MAX) {
		char path[300], buf[128], *end;
		long tid = strtol(e->d_name, &end, 10);
		struct bl_task *t = &c->t[c->n];

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || *end != '\0')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%ld/schedstat", tid);
		if (bl_read_small(path, buf, sizeof(buf)) != 0)
			continue;
		t->tid = tid;
		t->ns = strtoull(buf, NULL, 10);
		snprintf(path, sizeof(path), "/proc/self/task/%ld/comm", tid);
		t->sim = bl_read_small(path, buf, sizeof(buf)) == 0 &&
		         strncmp(buf, BL_SIM_THREAD, strlen(BL_SIM_THREAD)) == 0;
		c->n++;
	}
	closedir(d);
}

/* Cores busy between two samples: simulator threads and all the others. */
static void
bl_cpu_delta(const struct bl_cpu *a, const struct bl_cpu *b, double *sim, double *station)
{
	double s = 0, o = 0, wall = (double)(b->at_ns - a->at_ns);

	for (size_t i = 0; i < b->n; i++) {
		uint64_t before = 0;

		for (size_t j = 0; j < a->n; j++)
			if (a->t[j].tid == b->t[i].tid) {
				before = a->t[j].ns;
				break;
			}
		if (b->t[i].ns < before)
			continue;
		if (b->t[i].sim)
			s += (double)(b->t[i].ns - before);
		else
			o += (double)(b->t[i].ns - before);
	}
	*sim = wall > 0 ? s / wall : 0;
	*station = wall > 0 ? o / wall : 0;
}

/* ---- the simulator in a thread ----------------------------------------- */

struct bl_sim {
	struct sim_options o;
	struct cs_err err;
	int rc;
	atomic_int finished;
	pthread_t thread;
};

static void *
bl_sim_main(void *arg)
{
	struct bl_sim *s = arg;

	/* inherited by the port threads sim_run() starts: their CPU time is
	 * told apart from the station's by this name */
	prctl(PR_SET_NAME, BL_SIM_THREAD, 0, 0, 0);
	s->rc = sim_run(&s->o, &s->err);
	atomic_store(&s->finished, 1);
	return NULL;
}

static int
bl_sim_start(struct bl_sim *s)
{
	sigset_t sigs, old;
	int rc;

	/* Blocked before the thread exists, so the SIGTERM that stops it can
	 * never take the default action (ending the process). */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	rc = pthread_create(&s->thread, NULL, bl_sim_main, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc == 0 ? 0 : -1;
}

static void
bl_sim_stop(struct bl_sim *s)
{
	pthread_kill(s->thread, SIGTERM);
	pthread_join(s->thread, NULL);
}

/* The simulator has written the whole fixture map (N slots). */
static int
bl_map_ready(const char *path, unsigned n)
{
	json_t *j = json_load_file(path, 0, NULL);
	json_t *slots = json_object_get(j, "slots");
	int ok = json_is_array(slots) && json_array_size(slots) == n;

	json_decref(j);
	return ok;
}

/* ---- the simulator's device lines -------------------------------------- */

/* One "sim-P ID PASS|FAIL [reason] W ms keygen K ms bytes O/I ..." line. */
struct bl_dev {
	unsigned port;
	int pass;
	int aborted_fail; /* FAIL aborted: the station told it so while stopping */
	double wall_ms, keygen_ms;
	uint64_t bytes_out, bytes_in;
};

static const char *
bl_expect(const char *p, const char *lit)
{
	size_t n = strlen(lit);

	return p != NULL && strncmp(p, lit, n) == 0 ? p + n : NULL;
}

/* 1 for a device line, 0 for any other line, -1 for a malformed one. */
static int
bl_parse_dev(const char *text, struct bl_dev *d)
{
	const char *p, *sp;
	char *end;
	unsigned long pnum;

	memset(d, 0, sizeof(*d));
	if (strncmp(text, "sim-", 4) != 0)
		return 0;
	pnum = strtoul(text + 4, &end, 10);
	if (end == text + 4 || *end != ' ' || pnum >= SIM_PORTS_MAX)
		return -1;
	d->port = (unsigned)pnum;
	p = end + 1;
	if (*p == '/')
		return 0; /* "sim-P /dev/pts/K": a port line */
	sp = strchr(p, ' ');
	if (sp == NULL)
		return -1;
	p = sp + 1;
	if (bl_expect(p, "ABORTED") != NULL)
		return 0; /* in progress when the simulator stopped */
	if (bl_expect(p, "PASS ") != NULL) {
		d->pass = 1;
		p += 5;
	} else if (bl_expect(p, "FAIL ") != NULL) {
		p += 5;
		d->aborted_fail = bl_expect(p, "aborted ") != NULL;
		sp = strchr(p, ' ');
		if (sp == NULL)
			return -1;
		p = sp + 1;
	} else {
		return -1;
	}
	d->wall_ms = strtod(p, &end);
	p = bl_expect(end, " ms keygen ");
	if (p == NULL)
		return -1;
	d->keygen_ms = strtod(p, &end);
	p = bl_expect(end, " ms bytes ");
	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	d->bytes_out = strtoull(p, &end, 10);
	p = bl_expect(end, "/");
	if (p == NULL || *p < '0' || *p > '9')
		return -1;
	d->bytes_in = strtoull(p, &end, 10);
	return 1;
}

/* ---- one combination --------------------------------------------------- */

struct bl_row {
	unsigned n;
	uint32_t baud;
	enum proto_dialect dialect;
	double per_h;     /* 0: none measured */
	uint64_t counted; /* completions in the rate */
	uint64_t devices; /* sim devices in the per-device figures */
	uint64_t slow;    /* ... whose own ratio is over BL_SLOW */
	double wall, floor_ms, compute, ratio, p95, bytes;
	double scaling; /* < 0: not computed */
	double cpu_sim, cpu_station;
	uint64_t failures;        /* devices that failed (either side), slots that never served */
	uint64_t sim_failures;    /* as the simulated devices report them */
	char why[CS_ERR_MSG_MAX]; /* first failure, for the report */
};

static int
bl_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/*
 * Parse the simulator's output into row: per-device means (first device of
 * each port left out), p95 of the per-device ratio, failures. The device
 * that was mid-exchange on each port when the line stopped hears "aborted"
 * from the station: a stop artefact when it is its port's last line.
 */
static int
bl_parse_sim(const char *text, struct bl_row *row, struct cs_err *err)
{
	struct bl_dev *devs = NULL;
	size_t n = 0, cap = 0, last[SIM_PORTS_MAX], seen[SIM_PORTS_MAX];
	double csr_ms = -1, *ratios = NULL, sum_wall = 0, sum_floor = 0, sum_comp = 0,
	       sum_bytes = 0;
	const char *p = text;
	uint64_t used = 0;
	int rc = CS_OK;

	for (size_t i = 0; i < SIM_PORTS_MAX; i++)
		last[i] = SIZE_MAX;
	while (p != NULL && *p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		char buf[1200];
		struct bl_dev d;
		int k;

		snprintf(buf, sizeof(buf), "%.*s", (int)(len < sizeof(buf) ? len : sizeof(buf) - 1),
		         p);
		p = nl != NULL ? nl + 1 : NULL;
		if (buf[0] == '{') {
			json_t *j = json_loads(buf, 0, NULL);
			json_t *v = json_object_get(j, "mean_csr_ms");

			if (json_is_number(v))
				csr_ms = json_number_value(v);
			json_decref(j);
			continue;
		}
		k = bl_parse_dev(buf, &d);
		if (k < 0) {
			rc = cs_err_set(err, CS_ERR_INTERNAL, "unexpected simulator line: %.200s",
			                buf);
			goto out;
		}
		if (k == 0)
			continue;
		if (n == cap) {
			size_t c = cap == 0 ? 1024 : cap * 2;
			struct bl_dev *v = realloc(devs, c * sizeof(*v));

			if (v == NULL) {
				rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
				goto out;
			}
			devs = v;
			cap = c;
		}
		devs[n] = d;
		last[d.port] = n;
		n++;
	}
	if (csr_ms < 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "the simulator printed no JSON summary");
		goto out;
	}
	ratios = calloc(n > 0 ? n : 1, sizeof(*ratios));
	if (ratios == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	memset(seen, 0, sizeof(seen));
	for (size_t i = 0; i < n; i++) {
		const struct bl_dev *d = &devs[i];
		double floor_ms, comp;

		if (!d->pass) {
			if (d->aborted_fail && last[d->port] == i)
				continue;
			if (row->sim_failures++ == 0 && row->why[0] == '\0')
				snprintf(row->why, sizeof(row->why),
				         "a simulated device failed on sim-%u (see sim.out)",
				         d->port);
			continue;
		}
		if (seen[d->port]++ == 0)
			continue; /* may have waited for the station to open its port */
		floor_ms = (double)(d->bytes_out + d->bytes_in) * 10.0 * 1000.0 / (double)row->baud;
		comp = d->keygen_ms + csr_ms;
		sum_wall += d->wall_ms;
		sum_floor += floor_ms;
		sum_comp += comp;
		sum_bytes += (double)(d->bytes_out + d->bytes_in);
		ratios[used] = d->wall_ms / (floor_ms + comp);
		if (ratios[used] > BL_SLOW)
			row->slow++;
		used++;
	}
	row->devices = used;
	if (used > 0) {
		size_t idx = (size_t)ceil(0.95 * (double)used);

		row->wall = sum_wall / (double)used;
		row->floor_ms = sum_floor / (double)used;
		row->compute = sum_comp / (double)used;
		row->bytes = sum_bytes / (double)used;
		row->ratio = row->wall / (row->floor_ms + row->compute);
		qsort(ratios, used, sizeof(*ratios), bl_cmp_double);
		row->p95 = ratios[idx > 0 ? idx - 1 : 0];
	}
out:
	free(ratios);
	free(devs);
	return rc;
}

/* Throughput from the station's completions: after every slot's first. */
static void
bl_rate(const struct bl_record *r, uint64_t stop_ns, struct bl_row *row)
{
	uint64_t warm = 0, last = 0, count = 0;

	for (unsigned i = 0; i < r->nslots; i++)
		if (r->first_ns[i] > warm)
			warm = r->first_ns[i];
	for (size_t i = 0; i < r->len; i++) {
		const struct bl_done *d = &r->v[i];

		if (d->status != 0 || d->t_ns <= warm || d->t_ns > stop_ns)
			continue;
		count++;
		if (d->t_ns > last)
			last = d->t_ns;
	}
	row->counted = count;
	row->per_h = count > 0 && last > warm ? (double)count * 3600e9 / (double)(last - warm) : 0;
}

/* The demo config plus a "line" section reading the simulator's map. */
static int
bl_write_config(const json_t *base, const char *map, const char *path, struct cs_err *err)
{
	json_t *c = json_deep_copy(base);
	json_t *sect = json_pack("{s:s, s:i}", "fixture_map", map, "scan_interval_ms", BL_SCAN_MS);
	int rc = CS_OK;

	if (c == NULL || sect == NULL || json_object_set_new(c, "line", sect) != 0) {
		json_decref(sect);
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	if (json_dump_file(c, path, JSON_INDENT(2)) != 0)
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write the line configuration", path);
out:
	json_decref(c);
	return rc;
}

/* stderr into a file while the line runs (one log line per device). */
static int
bl_stderr_to(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	int saved;

	if (fd < 0)
		return -1;
	fflush(stderr);
	saved = dup(STDERR_FILENO);
	if (saved < 0 || dup2(fd, STDERR_FILENO) < 0) {
		if (saved >= 0)
			close(saved);
		close(fd);
		return -1;
	}
	close(fd);
	return saved;
}

static void
bl_stderr_back(int saved)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

struct bl_ctx {
	const struct bl_opts *o;
	const char *base; /* work directory */
	const char *pki;  /* base/pki */
	json_t *config;   /* the demo configuration */
	char tag[24];     /* makes device IDs unique across runs of one ledger */
	size_t combo;
};

/*
 * One combination: simulator, station, line; the steady state; the stop.
 * Returns 0 when it ran (row filled, failures counted), else CS_ERR_* with
 * err (the benchmark itself could not run).
 */
static int
bl_combo(struct bl_ctx *ctx, struct bl_row *row, struct cs_err *err)
{
	char dir[PATH_MAX], links[PATH_MAX + 8], map[PATH_MAX + 16], cfg[PATH_MAX + 64],
	    log[PATH_MAX + 16], prefix[40], *out_text = NULL;
	size_t out_len = 0;
	struct bl_sim *sim = NULL;
	struct bl_record rec;
	struct bl_cpu *cpu0 = NULL, *cpu1 = NULL;
	struct station *st = NULL;
	line *ln = NULL;
	FILE *out = NULL;
	uint64_t t0, stop_ns = 0;
	int rc = CS_OK, saved_err = -1, sim_started = 0;

	memset(&rec, 0, sizeof(rec));
	pthread_mutex_init(&rec.mu, NULL);
	rec.nslots = row->n;
	snprintf(dir, sizeof(dir), "%s/f%u-b%u-%s", ctx->base, row->n, (unsigned)row->baud,
	         bl_dialect_name(row->dialect));
	snprintf(links, sizeof(links), "%s/links", dir);
	snprintf(map, sizeof(map), "%s/map.json", dir);
	snprintf(log, sizeof(log), "%s/station.log", dir);
	snprintf(cfg, sizeof(cfg), "%s/line-f%u-b%u-%s.json", ctx->pki, row->n, (unsigned)row->baud,
	         bl_dialect_name(row->dialect));
	snprintf(prefix, sizeof(prefix), "L%s-%02zu-", ctx->tag, ctx->combo);
	if ((rc = station_mkdirs(dir, err)) != CS_OK)
		goto out;
	remove(map);

	sim = calloc(1, sizeof(*sim));
	cpu0 = calloc(1, sizeof(*cpu0));
	cpu1 = calloc(1, sizeof(*cpu1));
	out = open_memstream(&out_text, &out_len);
	if (sim == NULL || cpu0 == NULL || cpu1 == NULL || out == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
		goto out;
	}
	sim_options_default(&sim->o);
	sim->o.count = row->n;
	sim->o.dialect = row->dialect;
	sim->o.baud = row->baud;
	sim->o.key_type = PROTO_KEY_P256;
	sim->o.id_prefix = prefix;
	sim->o.links_dir = links;
	sim->o.fixture_map = map;
	sim->o.gap_ms = ctx->o->gap_ms;
	memcpy(sim->o.faults, ctx->o->faults, sizeof(sim->o.faults));
	sim->o.fault_count = ctx->o->fault_count;
	sim->o.devices_per_port = 0;
	sim->o.json = 1;
	sim->o.out = out;
	atomic_init(&sim->finished, 0);
	if (bl_sim_start(sim) != 0) {
		rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot start the simulator's thread");
		goto out;
	}
	sim_started = 1;
	t0 = bl_now_ns();
	while (!bl_map_ready(map, row->n)) {
		if (atomic_load(&sim->finished)) {
			rc = cs_err_set(err, CS_ERR_INTERNAL, "the simulator stopped at start: %s",
			                sim->err.msg);
			goto out;
		}
		if ((double)(bl_now_ns() - t0) / 1e9 > BL_MAP_WAIT_S) {
			rc = cs_err_set(err, CS_ERR_TIMEOUT,
			                "%s: the simulator wrote no fixture map within %.0f s", map,
			                BL_MAP_WAIT_S);
			goto out;
		}
		bl_sleep_ms(10);
	}
	if ((rc = bl_write_config(ctx->config, map, cfg, err)) != CS_OK)
		goto out;
	st = station_open(cfg, 0, err);
	if (st == NULL) {
		rc = err->code != 0 ? err->code : CS_ERR_INTERNAL;
		goto out;
	}
	saved_err = bl_stderr_to(log);
	ln = line_start(st->cfg, st->issuer, st->ledger, bl_on_event, &rec, err);
	if (ln == NULL) {
		rc = err->code != 0 ? err->code : CS_ERR_INTERNAL;
		goto out;
	}

	/* Warm-up: until every slot has finished its first device. */
	t0 = bl_now_ns();
	for (;;) {
		unsigned warmed;

		pthread_mutex_lock(&rec.mu);
		warmed = rec.warmed;
		pthread_mutex_unlock(&rec.mu);
		if (warmed >= row->n)
			break;
		if (atomic_load(&sim->finished) ||
		    (double)(bl_now_ns() - t0) / 1e9 > BL_WARMUP_MAX_S) {
			row->failures++;
			snprintf(row->why, sizeof(row->why),
			         "only %u of %u slots finished a device within %.0f s%s", warmed,
			         row->n, BL_WARMUP_MAX_S,
			         atomic_load(&sim->finished) ? " (the simulator stopped)" : "");
			break;
		}
		bl_sleep_ms(5);
	}
	bl_cpu_sample(cpu0);
	if (row->failures == 0) {
		uint64_t now = bl_now_ns(), until = now + (uint64_t)(ctx->o->seconds * 1e9);
		uint64_t limit = until + (uint64_t)(BL_EXTEND_MAX_S * 1e9);
		size_t at_warm, after;

		/* S seconds, and at least as many completions as slots after
		 * the warm-up: a rate from a handful of devices (a short
		 * --seconds, a stalled exchange) would be noise */
		pthread_mutex_lock(&rec.mu);
		at_warm = rec.len;
		pthread_mutex_unlock(&rec.mu);
		for (;;) {
			pthread_mutex_lock(&rec.mu);
			after = rec.len - at_warm;
			pthread_mutex_unlock(&rec.mu);
			now = bl_now_ns();
			if ((now >= until && after >= row->n) || now >= limit ||
			    atomic_load(&sim->finished))
				break;
			bl_sleep_ms(20);
		}
	}
	bl_cpu_sample(cpu1);
	stop_ns = bl_now_ns();
	pthread_mutex_lock(&rec.mu);
	rec.stopping = 1;
	pthread_mutex_unlock(&rec.mu);
	bl_cpu_delta(cpu0, cpu1, &row->cpu_sim, &row->cpu_station);

out:
	/* The order of `run`'s SIGTERM: the line abandons its exchanges
	 * safely, then the devices go away, then the station closes. */
	line_stop(ln);
	if (sim_started)
		bl_sim_stop(sim);
	station_close(st);
	bl_stderr_back(saved_err);
	if (out != NULL)
		fclose(out);
	if (rc == CS_OK && sim->rc != CS_OK && sim->rc != CS_ERR_DEVICE_ERROR)
		/* DEVICE_ERROR: devices ended otherwise than predicted; the
		 * stop's "aborted" ones are, and are sorted out below */
		rc = cs_err_set(err, sim->rc, "simulator: %s", sim->err.msg);
	if (rc == CS_OK && rec.nomem)
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory recording completions");
	if (rc == CS_OK) {
		uint64_t station_failures = 0;

		bl_rate(&rec, stop_ns, row);
		for (size_t i = 0; i < rec.len; i++)
			if (rec.v[i].status != 0)
				station_failures++;
		if (rec.first_fail_status != 0)
			snprintf(row->why, sizeof(row->why),
			         "station: slot %.64s: %.300s (log: %.100s)", rec.first_fail_slot,
			         rec.first_fail_text, log);
		rc = bl_parse_sim(out_text != NULL ? out_text : "", row, err);
		/* one failed device is seen by both sides */
		row->failures +=
		    station_failures > row->sim_failures ? station_failures : row->sim_failures;
		if (rc == CS_OK && row->failures > 0 && out_text != NULL) {
			/* the simulator's own lines, for the person reading the report */
			char path[PATH_MAX + 16];
			FILE *f;

			snprintf(path, sizeof(path), "%s/sim.out", dir);
			f = fopen(path, "w");
			if (f != NULL) {
				fputs(out_text, f);
				fclose(f);
			}
		}
	}
	free(out_text);
	free(rec.v);
	pthread_mutex_destroy(&rec.mu);
	free(cpu0);
	free(cpu1);
	free(sim);
	return rc;
}

/* ---- the issuance core alone -------------------------------------------- */

struct bl_core_req {
	struct issuer_request req;
	char id[64];
	int busy;
	struct bl_core *core;
};

struct bl_core {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned in_flight;
	uint64_t ok, failed;
	char first_msg[CS_ERR_MSG_MAX];
};

static void
bl_core_done(struct issuer_request *req)
{
	struct bl_core_req *r = req->arg;
	struct bl_core *c = r->core;

	pthread_mutex_lock(&c->mu);
	if (req->status == CS_OK)
		c->ok++;
	else if (c->failed++ == 0)
		snprintf(c->first_msg, sizeof(c->first_msg), "%s", req->err.msg);
	r->busy = 0;
	c->in_flight--;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* P-256 CSRs, as the simulated devices send (DER). */
static int
bl_core_csrs(uint8_t *der[BL_CORE_CSRS], size_t len[BL_CORE_CSRS])
{
	for (size_t i = 0; i < BL_CORE_CSRS; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
		X509_REQ *r = X509_REQ_new();
		X509_NAME *n = X509_NAME_new();
		unsigned char *p = NULL;
		int l = -1;

		if (k != NULL && r != NULL && n != NULL &&
		    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
		                               (const unsigned char *)"core", -1, -1, 0) == 1 &&
		    X509_REQ_set_subject_name(r, n) == 1 && X509_REQ_set_pubkey(r, k) == 1 &&
		    X509_REQ_sign(r, k, EVP_sha256()) > 0)
			l = i2d_X509_REQ(r, &p);
		X509_NAME_free(n);
		X509_REQ_free(r);
		EVP_PKEY_free(k);
		if (l <= 0)
			return -1;
		der[i] = p;
		len[i] = (size_t)l;
	}
	return 0;
}

/*
 * Issuances/s of the issuer alone on st (its configured threads), a window
 * of requests in flight, after a short warm-up. < 0 with err on failure.
 */
static double
bl_core_rate(struct station *st, const char *tag, unsigned *threads, struct cs_err *err)
{
	uint8_t *der[BL_CORE_CSRS] = {0};
	size_t len[BL_CORE_CSRS] = {0};
	struct bl_core_req *reqs = calloc(BL_CORE_WINDOW, sizeof(*reqs));
	struct bl_core c;
	uint64_t seq = 0, ok0 = 0;
	double t0, t_measure = 0, rate = -1;
	int measuring = 0;

	*threads = st->cfg->issue_threads;
	memset(&c, 0, sizeof(c));
	pthread_mutex_init(&c.mu, NULL);
	pthread_cond_init(&c.cv, NULL);
	if (reqs == NULL || bl_core_csrs(der, len) != 0) {
		cs_err_set(err, CS_ERR_INTERNAL, "cannot make the CSRs of the issuance core run");
		goto out;
	}
	t0 = (double)bl_now_ns() / 1e9;
	pthread_mutex_lock(&c.mu);
	for (;;) {
		double now = (double)bl_now_ns() / 1e9;

		if (!measuring && now >= t0 + BL_CORE_WARMUP) {
			measuring = 1;
			t_measure = now;
			ok0 = c.ok;
		}
		if (now >= t0 + BL_CORE_WARMUP + BL_CORE_SECONDS || c.failed > 0)
			break;
		for (unsigned i = 0; i < BL_CORE_WINDOW && c.in_flight < BL_CORE_WINDOW; i++) {
			struct bl_core_req *r = &reqs[i];

			if (r->busy)
				continue;
			r->busy = 1;
			r->core = &c;
			memset(&r->req, 0, offsetof(struct issuer_request, cert_der));
			snprintf(r->id, sizeof(r->id), "C%s-%llu", tag, (unsigned long long)seq);
			r->req.csr = der[seq % BL_CORE_CSRS];
			r->req.csr_len = len[seq % BL_CORE_CSRS];
			r->req.device_id = r->id;
			r->req.done = bl_core_done;
			r->req.arg = r;
			seq++;
			c.in_flight++;
			pthread_mutex_unlock(&c.mu);
			if (issuer_submit(st->issuer, &r->req) != CS_OK) {
				pthread_mutex_lock(&c.mu);
				r->busy = 0;
				c.in_flight--;
				c.failed++;
				snprintf(c.first_msg, sizeof(c.first_msg),
				         "the issuer is stopping");
				continue;
			}
			pthread_mutex_lock(&c.mu);
		}
		if (c.in_flight > 0)
			pthread_cond_wait(&c.cv, &c.mu);
	}
	if (measuring)
		rate = (double)(c.ok - ok0) / ((double)bl_now_ns() / 1e9 - t_measure);
	while (c.in_flight > 0)
		pthread_cond_wait(&c.cv, &c.mu);
	pthread_mutex_unlock(&c.mu);
	if (c.failed > 0) {
		cs_err_set(err, CS_ERR_INTERNAL, "issuance failed while measuring the core: %s",
		           c.first_msg);
		rate = -1;
	}
out:
	for (size_t i = 0; i < BL_CORE_CSRS; i++)
		OPENSSL_free(der[i]);
	free(reqs);
	pthread_cond_destroy(&c.cv);
	pthread_mutex_destroy(&c.mu);
	return rate;
}

/* ---- report -------------------------------------------------------------- */

static void
bl_print_header(void)
{
	printf("%8s %7s %-7s %10s %8s %8s %10s %7s %5s %4s %7s %9s %7s %11s\n", "fixtures", "baud",
	       "dialect", "devices/h", "wall ms", "floor ms", "compute ms", "w/(f+c)", "p95",
	       "slow", "devices", "bytes/dev", "scaling", "cpu sim+stn");
}

static void
bl_print_row(const struct bl_row *r)
{
	char scaling[16];

	if (r->scaling >= 0)
		snprintf(scaling, sizeof(scaling), "%.2f", r->scaling);
	else
		snprintf(scaling, sizeof(scaling), "-");
	if (r->devices == 0 || r->per_h <= 0)
		printf("%8u %7u %-7s %10s %8s %8s %10s %7s %5s %4s %7llu %9s %7s %5.2f+%-5.2f",
		       r->n, (unsigned)r->baud, bl_dialect_name(r->dialect), "-", "-", "-", "-",
		       "-", "-", "-", (unsigned long long)r->devices, "-", "-", r->cpu_sim,
		       r->cpu_station);
	else
		printf("%8u %7u %-7s %10.0f %8.1f %8.1f %10.1f %7.2f %5.2f %4llu %7llu %9.0f %7s "
		       "%5.2f+%-5.2f",
		       r->n, (unsigned)r->baud, bl_dialect_name(r->dialect), r->per_h, r->wall,
		       r->floor_ms, r->compute, r->ratio, r->p95, (unsigned long long)r->slow,
		       (unsigned long long)r->devices, r->bytes, scaling, r->cpu_sim,
		       r->cpu_station);
	if (r->failures > 0)
		printf("  FAILED: %llu device(s)", (unsigned long long)r->failures);
	printf("\n");
	fflush(stdout);
}

static void
bl_print_machine(void)
{
	char buf[8192], model[128] = "unknown CPU";
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (bl_read_small("/proc/cpuinfo", buf, sizeof(buf)) == 0) {
		const char *m = strstr(buf, "model name");
		const char *colon = m != NULL ? strchr(m, ':') : NULL;

		if (colon != NULL) {
			size_t k = strcspn(colon + 2, "\n");

			snprintf(model, sizeof(model), "%.*s", (int)(k < 127 ? k : 127), colon + 2);
		}
	}
	printf("machine: %ld cores (nproc), %s; simulator and station share them\n", n, model);
}

/* Verdicts over all rows; returns the number of failed devices. */
static uint64_t
bl_verdicts(const struct bl_opts *o, const struct bl_row *rows, size_t nrows, double core_s,
            unsigned core_threads)
{
	const struct bl_row *worst = NULL, *busiest = NULL;
	size_t within = 0, judged = 0;
	double fb = 0, tb = 0;
	uint64_t fn = 0, tn = 0, failures = 0, devices = 0;

	printf("\n");
	for (size_t i = 0; i < nrows; i++) {
		const struct bl_row *r = &rows[i];

		failures += r->failures;
		devices += r->devices;
		if (r->devices == 0)
			continue;
		judged++;
		if (r->ratio <= BL_TARGET)
			within++;
		if (worst == NULL || r->ratio > worst->ratio)
			worst = r;
		if (busiest == NULL || r->per_h > busiest->per_h)
			busiest = r;
		if (r->dialect == PROTO_DIALECT_FRAME) {
			fb += r->bytes * (double)r->devices;
			fn += r->devices;
		} else {
			tb += r->bytes * (double)r->devices;
			tn += r->devices;
		}
	}
	if (worst != NULL)
		printf(
		    "per-device time within %.2fx of wire floor + device compute: %s (worst %.2f, "
		    "p95 %.2f, at %u fixtures, %u baud, %s; %zu of %zu combinations within)\n",
		    BL_TARGET, within == judged ? "yes" : "no", worst->ratio, worst->p95, worst->n,
		    (unsigned)worst->baud, bl_dialect_name(worst->dialect), within, judged);
	else
		printf("per-device time within %.2fx of wire floor + device compute: no (no device "
		       "measured)\n",
		       BL_TARGET);
	if (fn > 0 && tn > 0) {
		fb /= (double)fn;
		tb /= (double)tn;
		if (fb < tb)
			printf("frame sends fewer bytes than text: yes (%.2f times fewer: %.0f "
			       "against "
			       "%.0f bytes per device)\n",
			       tb / fb, fb, tb);
		else
			printf("frame sends fewer bytes than text: no (frame %.0f, text %.0f bytes "
			       "per "
			       "device)\n",
			       fb, tb);
	} else {
		printf("frame sends fewer bytes than text: not measured (needs both dialects)\n");
	}

	/* Scaling per baud and dialect: the largest N up to which every
	 * measured N scaled at BL_LINEAR or better. */
	for (size_t b = 0; b < o->nbaud; b++)
		for (size_t d = 0; d < o->ndial; d++) {
			const struct bl_row *lin = NULL, *drop = NULL, *top = NULL;

			for (size_t i = 0; i < nrows; i++) {
				const struct bl_row *r = &rows[i];

				if (r->baud != o->bauds[b] || r->dialect != o->dialects[d] ||
				    r->scaling < 0)
					continue;
				top = r;
				if (drop == NULL && r->scaling >= BL_LINEAR)
					lin = r;
				else if (drop == NULL)
					drop = r;
			}
			if (o->nfix < 2 || top == NULL) {
				printf(
				    "throughput scaling at %u baud, %s: needs two fixture counts\n",
				    (unsigned)o->bauds[b], bl_dialect_name(o->dialects[d]));
				continue;
			}
			if (drop == NULL) {
				printf(
				    "throughput scales linearly up to %u fixtures at %u baud, %s "
				    "(scaling %.2f at %u)\n",
				    top->n, (unsigned)top->baud, bl_dialect_name(top->dialect),
				    top->scaling, top->n);
				continue;
			}
			printf(
			    "throughput scales linearly up to %u fixture%s at %u baud, %s; at %u: "
			    "%.2f of linear, %.0f devices/h = %.0f%% of the issuance core, cpu "
			    "%.2f+%.2f of %ld cores (sim+station), %llu of %llu devices over "
			    "%.0fx\n",
			    lin != NULL ? lin->n : 0, lin != NULL && lin->n == 1 ? "" : "s",
			    (unsigned)drop->baud, bl_dialect_name(drop->dialect), drop->n,
			    drop->scaling, drop->per_h,
			    core_s > 0 ? 100.0 * drop->per_h / (core_s * 3600.0) : 0.0,
			    drop->cpu_sim, drop->cpu_station, sysconf(_SC_NPROCESSORS_ONLN),
			    (unsigned long long)drop->slow, (unsigned long long)drop->devices,
			    BL_SLOW);
		}
	if (core_s > 0)
		printf("issuance core alone: %.0f devices/h (%.0f/s; issuer with %u threads, %d "
		       "requests in flight, same station and key)%s",
		       core_s * 3600.0, core_s, core_threads, BL_CORE_WINDOW,
		       busiest != NULL ? "; " : "\n");
	if (core_s > 0 && busiest != NULL)
		printf(
		    "busiest line row %.0f devices/h = %.0f%% of it (%u fixtures, %u baud, %s)\n",
		    busiest->per_h, 100.0 * busiest->per_h / (core_s * 3600.0), busiest->n,
		    (unsigned)busiest->baud, bl_dialect_name(busiest->dialect));
	if (failures == 0)
		printf("all devices passed: yes (%llu measured devices)\n",
		       (unsigned long long)devices);
	else
		printf("all devices passed: no (%llu failed)\n", (unsigned long long)failures);
	for (size_t i = 0; i < nrows; i++)
		if (rows[i].failures > 0)
			printf("  %u fixtures, %u baud, %s: %llu failed: %s\n", rows[i].n,
			       (unsigned)rows[i].baud, bl_dialect_name(rows[i].dialect),
			       (unsigned long long)rows[i].failures, rows[i].why);
	bl_print_machine();
	return failures;
}

/* ---- driver -------------------------------------------------------------- */

static int
bl_cmp_unsigned(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

/* Comma-separated numbers in [min, max] into v; count, or -1. */
static int
bl_parse_numbers(const char *s, unsigned long min, unsigned long max, unsigned long *v)
{
	int n = 0;

	for (;;) {
		char *end;
		unsigned long x;

		if (*s < '0' || *s > '9' || n == BL_LIST_MAX)
			return -1;
		errno = 0;
		x = strtoul(s, &end, 10);
		if (errno != 0 || x < min || x > max)
			return -1;
		for (int i = 0; i < n; i++)
			if (v[i] == x)
				return -1;
		v[n++] = x;
		if (*end == '\0')
			return n;
		if (*end != ',')
			return -1;
		s = end + 1;
	}
}

static int
bl_parse_dialects(const char *s, struct bl_opts *o)
{
	o->ndial = 0;
	for (;;) {
		size_t k = strcspn(s, ",");
		enum proto_dialect d;

		if (k == 5 && strncmp(s, "frame", 5) == 0)
			d = PROTO_DIALECT_FRAME;
		else if (k == 4 && strncmp(s, "text", 4) == 0)
			d = PROTO_DIALECT_TEXT;
		else
			return -1;
		if (o->ndial == 2 || (o->ndial == 1 && o->dialects[0] == d))
			return -1;
		o->dialects[o->ndial++] = d;
		if (s[k] == '\0')
			return 0;
		s += k + 1;
	}
}

static int
bl_run(const struct bl_opts *o)
{
	char base[PATH_MAX], pki[PATH_MAX + 8], cfg[PATH_MAX + 32];
	struct bl_row *rows = NULL;
	struct bl_ctx ctx;
	struct station *st;
	struct cs_err err;
	size_t nrows = 0;
	double core_s;
	unsigned core_threads = 0;
	uint64_t failures;
	int rc = CLI_EXIT_OK, keep = o->keep;

	cs_err_clear(&err);
	memset(&ctx, 0, sizeof(ctx));
	if (o->dir != NULL) {
		snprintf(base, sizeof(base), "%s", o->dir);
		if (station_mkdirs(base, &err) != CS_OK)
			return cli_fail(&err);
	} else {
		snprintf(base, sizeof(base), "/tmp/certstation-bench-line-XXXXXX");
		if (mkdtemp(base) == NULL) {
			fprintf(stderr, "certstation: cannot create a work directory in /tmp: %s\n",
			        strerror(errno));
			return CLI_EXIT_FAIL;
		}
	}
	snprintf(pki, sizeof(pki), "%s/pki", base);
	snprintf(cfg, sizeof(cfg), "%s/certstation.json", pki);
	snprintf(ctx.tag, sizeof(ctx.tag), "%08lx", (unsigned long)time(NULL) & 0xffffffffUL);
	ctx.o = o;
	ctx.base = base;
	ctx.pki = pki;
	/* a device pulled mid-write must not end the benchmark (as in `run`) */
	signal(SIGPIPE, SIG_IGN);

	if (demo_pki_create(pki, HSM_KEY_EC_P256, NULL, 0, &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	ctx.config = json_load_file(cfg, 0, NULL);
	if (ctx.config == NULL) {
		fprintf(stderr, "certstation: %s: cannot read the demo configuration\n", cfg);
		rc = CLI_EXIT_FAIL;
		goto out;
	}
	rows = calloc(o->nfix * o->nbaud * o->ndial, sizeof(*rows));
	if (rows == NULL) {
		fprintf(stderr, "certstation: out of memory\n");
		rc = CLI_EXIT_FAIL;
		goto out;
	}

	printf("certstation %s line benchmark: simulated devices on pseudo-terminals (P-256 keys), "
	       "the station's line, issuer, SoftHSM2 key and ledger (synchronous=FULL) in one "
	       "process; %.1f s steady state per combination after every slot's first device; "
	       "%u ms between two devices on a fixture\n",
	       CERTSTATION_VERSION, o->seconds, (unsigned)o->gap_ms);
	fflush(stdout);
	st = station_open(cfg, 0, &err);
	if (st == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	core_s = bl_core_rate(st, ctx.tag, &core_threads, &err);
	station_close(st);
	if (core_s < 0) {
		rc = cli_fail(&err);
		goto out;
	}
	printf("issuance core alone: %.0f/s = %.0f devices/h\n", core_s, core_s * 3600.0);
	bl_print_header();
	fflush(stdout);

	for (size_t b = 0; b < o->nbaud; b++)
		for (size_t d = 0; d < o->ndial; d++) {
			const struct bl_row *ref = NULL;

			for (size_t f = 0; f < o->nfix; f++) {
				struct bl_row *r = &rows[nrows];

				r->n = o->fixtures[f];
				r->baud = o->bauds[b];
				r->dialect = o->dialects[d];
				r->scaling = -1;
				ctx.combo = nrows;
				if (bl_combo(&ctx, r, &err) != CS_OK) {
					rc = cli_fail(&err);
					goto out;
				}
				nrows++;
				/* fixtures are sorted: the first is the reference */
				if (ref == NULL && r->per_h > 0)
					ref = r;
				if (ref != NULL && r->per_h > 0)
					r->scaling =
					    r->per_h / ((double)r->n / (double)ref->n * ref->per_h);
				bl_print_row(r);
			}
		}
	failures = bl_verdicts(o, rows, nrows, core_s, core_threads);
	if (failures > 0) {
		rc = CLI_EXIT_FAIL;
		keep = 1;
	}
out:
	json_decref(ctx.config);
	free(rows);
	if (!keep && o->dir == NULL) {
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd) != 0)
			fprintf(stderr, "certstation: could not remove %s\n", base);
	} else {
		printf("work directory kept: %s\n", base);
	}
	return rc;
}

int
cli_bench_line_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"fixtures", required_argument, NULL, 'f'}, {"bauds", required_argument, NULL, 'b'},
	    {"dialects", required_argument, NULL, 'D'}, {"seconds", required_argument, NULL, 's'},
	    {"gap-ms", required_argument, NULL, 'g'},   {"fault", required_argument, NULL, 'F'},
	    {"dir", required_argument, NULL, 'd'},      {"keep", no_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
	};
	struct bl_opts o = {.fixtures = {1, 8, 32},
	                    .nfix = 3,
	                    .bauds = {115200, 921600},
	                    .nbaud = 2,
	                    .dialects = {PROTO_DIALECT_FRAME, PROTO_DIALECT_TEXT},
	                    .ndial = 2,
	                    .seconds = 4};
	unsigned long v[BL_LIST_MAX];
	int c, n;
	char *end;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			n = bl_parse_numbers(optarg, 1, SIM_PORTS_MAX, v);
			if (n < 0) {
				fprintf(stderr,
				        "certstation: --fixtures takes up to %d different "
				        "counts like 1,8,32 (1..%d)\n",
				        BL_LIST_MAX, SIM_PORTS_MAX);
				return CLI_EXIT_USAGE;
			}
			for (int i = 0; i < n; i++)
				o.fixtures[i] = (unsigned)v[i];
			o.nfix = (size_t)n;
			qsort(o.fixtures, o.nfix, sizeof(o.fixtures[0]), bl_cmp_unsigned);
			break;
		case 'b':
			n = bl_parse_numbers(optarg, 1200, 4000000, v);
			if (n < 0) {
				fprintf(stderr,
				        "certstation: --bauds takes up to %d different rates "
				        "like 115200,921600 (1200..4000000)\n",
				        BL_LIST_MAX);
				return CLI_EXIT_USAGE;
			}
			for (int i = 0; i < n; i++)
				o.bauds[i] = (uint32_t)v[i];
			o.nbaud = (size_t)n;
			break;
		case 'D':
			if (bl_parse_dialects(optarg, &o) != 0) {
				fputs("certstation: --dialects takes frame, text or frame,text\n",
				      stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 's':
			errno = 0;
			o.seconds = strtod(optarg, &end);
			if (errno != 0 || *end != '\0' || !(o.seconds >= 0.5 && o.seconds <= 86400)) {
				fputs("certstation: --seconds must be 0.5..86400\n", stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'g':
			errno = 0;
			v[0] = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || optarg[0] < '0' || optarg[0] > '9' ||
			    v[0] > 60000) {
				fputs("certstation: --gap-ms must be 0..60000\n", stderr);
				return CLI_EXIT_USAGE;
			}
			o.gap_ms = (uint32_t)v[0];
			break;
		case 'F': {
			struct cs_err ferr;

			if (o.fault_count == SIM_FAULTS_MAX ||
			    sim_fault_parse(optarg, &o.faults[o.fault_count], &ferr) != CS_OK) {
				fprintf(stderr, "certstation: --fault %s: %s\n", optarg,
				        o.fault_count == SIM_FAULTS_MAX ? "too many" : ferr.msg);
				return CLI_EXIT_USAGE;
			}
			o.fault_count++;
			break;
		}
		case 'd':
			o.dir = optarg;
			break;
		case 'k':
			o.keep = 1;
			break;
		case 'h':
			fputs(bench_line_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(bench_line_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(bench_line_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return bl_run(&o);
}
