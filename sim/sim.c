/*
 * sim.c: sim_run(): the ports, their threads, the stop on SIGINT/SIGTERM,
 * the fixture map and the summary.
 */
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sim/sim_int.h"

void
sim_options_default(struct sim_options *o)
{
	memset(o, 0, sizeof(*o));
	o->count = 1;
	o->dialect = PROTO_DIALECT_FRAME;
	o->baud = 115200;
	o->key_type = PROTO_KEY_P256;
	o->id_prefix = "SN-";
	o->id_start = 1;
	o->gap_ms = 100;
	o->max_frame = PROTO_FRAME_DEFAULT;
	o->seed = 1;
	o->timeout_ms = PROTO_DEVICE_PROGRESS_TIMEOUT_MS;
	o->out = stdout;
}

static int
sim_check_options(const struct sim_options *o, struct cs_err *err)
{
	if (o->count < 1 || o->count > SIM_PORTS_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "--count %u: must be 1..%d", o->count,
		                  SIM_PORTS_MAX);
	if (o->dialect != PROTO_DIALECT_FRAME && o->dialect != PROTO_DIALECT_TEXT)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "dialect must be frame or text");
	if (o->key_type != PROTO_KEY_P256 && o->key_type != PROTO_KEY_P384 &&
	    o->key_type != PROTO_KEY_RSA2048 && o->key_type != PROTO_KEY_RSA3072)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		                  "--key: one of p256, p384, rsa2048, rsa3072");
	if (o->id_prefix == NULL || strlen(o->id_prefix) > SIM_ID_PREFIX_MAX ||
	    strchr(o->id_prefix, '/') != NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		                  "--id-prefix: at most %d characters, no '/'", SIM_ID_PREFIX_MAX);
	for (const char *c = o->id_prefix; *c != '\0'; c++)
		if (*c < 0x21 || *c > 0x7e)
			return cs_err_set(err, CS_ERR_INVALID_ARG,
			                  "--id-prefix: printable ASCII without spaces only");
	if (o->max_frame < PROTO_FRAME_MIN || o->max_frame > PROTO_FRAME_MAX)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "--max-frame %u: must be %d..%d",
		                  (unsigned)o->max_frame, PROTO_FRAME_MIN, PROTO_FRAME_MAX);
	if (o->timeout_ms == 0)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "--timeout-ms must be at least 1");
	return CS_OK;
}

/* mkdir that accepts an existing directory; the absolute path into abs. */
static int
sim_dir(const char *dir, const char *what, char *abs, struct cs_err *err)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return cs_err_set(err, CS_ERR_IO, "%s %s: cannot create: %s", what, dir,
		                  strerror(errno));
	if (realpath(dir, abs) == NULL)
		return cs_err_set(err, CS_ERR_IO, "%s %s: %s", what, dir, strerror(errno));
	return CS_OK;
}

/*
 * The fragment a station config can include: one slot per port, matched by
 * the stable link path (or the pty path without --links).
 */
static int
sim_write_fixture_map(struct sim *s, struct cs_err *err)
{
	const struct sim_options *o = s->o;
	json_t *root = json_object(), *slots = json_array();
	int rc = CS_OK;

	if (root == NULL || slots == NULL || json_object_set_new(root, "slots", slots) != 0) {
		json_decref(root);
		return cs_err_set(err, CS_ERR_NOMEM, "out of memory");
	}
	for (unsigned i = 0; i < o->count; i++) {
		const struct sim_port *p = s->ports[i];
		json_t *slot =
		    json_pack("{s:s, s:{s:s}, s:s, s:I}", "name", p->name, "match", "path",
		              p->link_path[0] != '\0' ? p->link_path : p->pts, "dialect",
		              o->dialect == PROTO_DIALECT_TEXT ? "text" : "frame", "baud",
		              (json_int_t)(o->baud != 0 ? o->baud : 115200));

		if (slot == NULL || json_array_append_new(slots, slot) != 0) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
	}
	if (json_dump_file(root, o->fixture_map, JSON_INDENT(2)) != 0)
		rc = cs_err_set(err, CS_ERR_IO, "%s: cannot write the fixture map", o->fixture_map);
out:
	json_decref(root);
	return rc;
}

static double
sim_mean(double sum, uint64_t n)
{
	return n > 0 ? sum / (double)n : 0.0;
}

static void
sim_summary(const struct sim *s)
{
	const struct sim_options *o = s->o;
	const struct sim_totals *t = &s->totals;
	double bytes_out = sim_mean((double)t->bytes_out, t->done);
	double bytes_in = sim_mean((double)t->bytes_in, t->done);
	double floor_ms = o->baud > 0 ? (bytes_out + bytes_in) * 10.0 * 1000.0 / o->baud : 0.0;
	FILE *out = o->out;

	fprintf(out,
	        "summary: devices %" PRIu64 " passed %" PRIu64 " failed %" PRIu64
	        " aborted %" PRIu64 " unexpected %" PRIu64 "\n",
	        t->done, t->passed, t->failed, t->aborted, t->unexpected);
	fprintf(out,
	        "summary: per device mean wall %.1f ms, keygen %.1f ms, csr %.1f ms, wall - keygen "
	        "%.1f ms\n",
	        sim_mean(t->wall_ms, t->done), sim_mean(t->keygen_ms, t->done),
	        sim_mean(t->csr_ms, t->done), sim_mean(t->wall_ms - t->keygen_ms, t->done));
	fprintf(out,
	        "summary: per device mean bytes out %.0f in %.0f; wire floor %.1f ms at %u baud\n",
	        bytes_out, bytes_in, floor_ms, (unsigned)o->baud);
	if (t->failed > 0) {
		fprintf(out, "summary: failures by reason:");
		for (size_t r = 0; r < 16; r++)
			if (t->by_reason[r] > 0)
				fprintf(out, " %s %" PRIu64, proto_reason_name((int)r),
				        t->by_reason[r]);
		fprintf(out, "\n");
	}
	if (o->json) {
		json_t *fails = json_object();
		json_t *j;
		char *text;

		for (size_t r = 0; fails != NULL && r < 16; r++)
			if (t->by_reason[r] > 0)
				json_object_set_new(fails, proto_reason_name((int)r),
				                    json_integer((json_int_t)t->by_reason[r]));
		j = json_pack(
		    "{s:I, s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, "
		    "s:f, s:f, s:o}",
		    "ports", (json_int_t)o->count, "dialect",
		    o->dialect == PROTO_DIALECT_TEXT ? "text" : "frame", "baud",
		    (json_int_t)o->baud, "key", proto_key_type_name(o->key_type), "seed",
		    (json_int_t)o->seed, "devices", (json_int_t)t->done, "passed",
		    (json_int_t)t->passed, "failed", (json_int_t)t->failed, "aborted",
		    (json_int_t)t->aborted, "unexpected", (json_int_t)t->unexpected, "mean_wall_ms",
		    sim_mean(t->wall_ms, t->done), "mean_keygen_ms",
		    sim_mean(t->keygen_ms, t->done), "mean_csr_ms", sim_mean(t->csr_ms, t->done),
		    "mean_bytes_out", bytes_out, "mean_bytes_in", bytes_in, "mean_wire_floor_ms",
		    floor_ms, "failures", fails != NULL ? fails : json_object());
		text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
		if (text != NULL)
			fprintf(out, "%s\n", text);
		free(text);
		json_decref(j);
	}
	fflush(out);
}

int
sim_run(const struct sim_options *o, struct cs_err *err)
{
	struct sim *s;
	char links_abs[PATH_MAX], store_abs[PATH_MAX];
	sigset_t sigs, old;
	int rc, masked = 0;
	unsigned started = 0;

	rc = sim_check_options(o, err);
	if (rc != CS_OK)
		return rc;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return cs_err_set(err, CS_ERR_NOMEM, "out of memory");
	s->o = o;
	s->stop_fd = -1;
	atomic_init(&s->stop, 0);
	atomic_init(&s->next_number, 0);
	atomic_init(&s->finished_ports, 0);
	pthread_mutex_init(&s->lock, NULL);
	if (o->links_dir != NULL &&
	    (rc = sim_dir(o->links_dir, "--links", links_abs, err)) != CS_OK)
		goto out;
	if (o->store_dir != NULL &&
	    (rc = sim_dir(o->store_dir, "--store", store_abs, err)) != CS_OK)
		goto out;
	s->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (s->stop_fd < 0) {
		rc = cs_err_set(err, CS_ERR_IO, "eventfd: %s", strerror(errno));
		goto out;
	}
	for (unsigned i = 0; i < o->count; i++) {
		struct sim_port *p = calloc(1, sizeof(*p));

		if (p == NULL) {
			rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory");
			goto out;
		}
		s->ports[i] = p;
		p->sim = s;
		p->index = i;
		p->master = p->slave = -1;
		snprintf(p->name, sizeof(p->name), "sim-%u", i);
		if (o->links_dir != NULL &&
		    snprintf(p->link_path, sizeof(p->link_path), "%s/%s", links_abs, p->name) >=
		        (int)sizeof(p->link_path)) {
			rc = cs_err_set(err, CS_ERR_IO, "--links %s: path too long", o->links_dir);
			goto out;
		}
		p->rng = o->seed ^ (0x9e3779b97f4a7c15ull * (i + 1));
		rc = sim_port_open(p, err);
		if (rc != CS_OK)
			goto out;
	}
	if (o->fixture_map != NULL && (rc = sim_write_fixture_map(s, err)) != CS_OK)
		goto out;
	for (unsigned i = 0; i < o->count; i++)
		fprintf(o->out, "%s %s\n", s->ports[i]->name, s->ports[i]->pts);
	fflush(o->out);

	/* The threads inherit the mask: the signals come to this thread only,
	 * through sigtimedwait(), and nothing runs in a signal handler. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);
	masked = 1;
	for (unsigned i = 0; i < o->count; i++) {
		struct sim_port *p = s->ports[i];

		if (pthread_create(&p->thread, NULL, sim_port_main, p) != 0) {
			rc = cs_err_set(err, CS_ERR_INTERNAL, "cannot start the thread of %s",
			                p->name);
			atomic_store(&s->stop, 1);
			break;
		}
		p->started = 1;
		started++;
	}
	while (!atomic_load(&s->stop) && atomic_load(&s->finished_ports) < started) {
		struct timespec ts = {0, 100000000L};

		if (sigtimedwait(&sigs, NULL, &ts) > 0)
			atomic_store(&s->stop, 1);
	}
	if (atomic_load(&s->stop)) {
		uint64_t one = 1;

		/* wakes every port thread out of its poll */
		if (write(s->stop_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
			rc =
			    rc != CS_OK ? rc : cs_err_set(err, CS_ERR_IO, "cannot signal the stop");
	}
	for (unsigned i = 0; i < o->count; i++)
		if (s->ports[i] != NULL && s->ports[i]->started)
			pthread_join(s->ports[i]->thread, NULL);
	if (started > 0) {
		sim_summary(s);
		if (rc == CS_OK && s->totals.unexpected > 0)
			rc = cs_err_set(err, CS_ERR_DEVICE_ERROR,
			                "%" PRIu64
			                " device(s) did not end as their fault (or none) predicts",
			                s->totals.unexpected);
	}
out:
	for (unsigned i = 0; i < SIM_PORTS_MAX; i++) {
		if (s->ports[i] == NULL)
			continue;
		sim_port_close(s->ports[i]);
		free(s->ports[i]);
	}
	if (s->stop_fd >= 0)
		close(s->stop_fd);
	pthread_mutex_destroy(&s->lock);
	free(s);
	/* Last: a second SIGTERM still pending ends the process here, after
	 * the links are gone. */
	if (masked)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}
