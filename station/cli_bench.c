/* memmem() for scanning HTTP responses. */
#define _GNU_SOURCE

/*
 * cli_bench.c: `certstation bench issue`: what the station costs around the HSM.
 *
 * For each issuing-key type, in one run and on the same SoftHSM2 key:
 *   full    issuances/s through the whole transaction (CSR decode, parse and
 *           proof-of-possession verify, policy, TBS build, durable RESERVED
 *           row, C_Sign, check of the HSM signature with the CA key, durable
 *           SIGNED row with the certificate), W requests in flight;
 *   raw     bare C_Sign/s on the same key;
 *   bound   the crypto-only bound: one C_Sign + one verify of a device CSR
 *           signature + one verify of an HSM signature, per iteration;
 *   cfssl   `cfssl serve` signing the same CSR with a key file of the same
 *           type, driven by a keep-alive HTTP client on loopback.
 * and prints the ratios full/bound, full/raw and full/cfssl.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "station/cli.h"
#include "station/demo.h"
#include "station/station.h"

#define BENCH_CSRS 32
#define BENCH_MAX_THREADS 8
#define BENCH_CFSSL_CONNS 16
#define BENCH_MAX_ROUNDS 15

static const char bench_usage[] =
    "usage: certstation bench issue [--seconds N] [--threads 1,2] [--key-types P-256,P-384]\n"
    "                               [--inflight W] [--rounds N] [--no-cfssl] [--full-only]\n"
    "                               [--dir DIR]\n"
    "  Measures, side by side in one run: the full issuance transaction, the raw\n"
    "  PKCS#11 C_Sign rate of the same key, the crypto-only bound (one C_Sign +\n"
    "  two ECDSA verifies) and cfssl serve with a key file of the same type.\n"
    "  Defaults: 3 s per measurement, 3 interleaved rounds (medians reported),\n"
    "  threads 1,2, key types P-256,P-384, W=128.\n"
    "  --full-only measures only the full transaction (for profiling).\n"
    "  Last measured on a 2-core VM (full / crypto-only bound, 1 and 2 threads):\n"
    "  P-256 0.87 / 0.55, P-384 0.88 / 0.88; see README \"Performance\".\n"
    "usage: certstation bench line [--fixtures 1,8,32] [--bauds 115200,921600]\n"
    "                              [--dialects frame,text] [--seconds S] [--gap-ms G]\n"
    "                              [--fault SPEC]... [--dir DIR] [--keep]\n"
    "  The whole line (ports, protocol, issuance, ledger) against simulated devices:\n"
    "  devices/h, per-device time against wire floor + device compute, bytes per\n"
    "  device, scaling with the fixture count; see `certstation bench line --help`.\n";

struct bench_opts {
	double seconds;
	unsigned threads[BENCH_MAX_THREADS];
	size_t thread_count;
	enum hsm_key_type types[4];
	size_t type_count;
	unsigned inflight;
	unsigned rounds;
	int cfssl;
	int full_only; /* profiling: skip the comparison loops */
	const char *dir;
};

struct bench_csrs {
	uint8_t *der[BENCH_CSRS];
	size_t len[BENCH_CSRS];
	char *pem0;
	EVP_PKEY *key0;            /* the device key of csr 0, for the bound */
	uint8_t digest[48];        /* a digest and the device's signature over it */
	size_t digest_len;
	uint8_t sig[256];
	size_t sig_len;
};

static double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *
bench_curve(enum hsm_key_type t)
{
	return t == HSM_KEY_EC_P384 ? "P-384" : "P-256";
}

static int
bench_csrs_make(struct bench_csrs *c, enum hsm_key_type t)
{
	const EVP_MD *md = t == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256();

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < BENCH_CSRS; i++) {
		EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", bench_curve(t));
		X509_REQ *r = X509_REQ_new();
		X509_NAME *n = X509_NAME_new();
		unsigned char *p = NULL;
		int len;

		if (k == NULL || r == NULL || n == NULL)
			return -1;
		X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"bench", -1,
		    -1, 0);
		X509_REQ_set_subject_name(r, n);
		X509_REQ_set_pubkey(r, k);
		if (X509_REQ_sign(r, k, md) <= 0)
			return -1;
		len = i2d_X509_REQ(r, &p);
		if (len <= 0)
			return -1;
		c->der[i] = p;
		c->len[i] = (size_t)len;
		if (i == 0) {
			BIO *b = BIO_new(BIO_s_mem());
			char *data;
			long dl;
			EVP_PKEY_CTX *ctx;

			PEM_write_bio_X509_REQ(b, r);
			dl = BIO_get_mem_data(b, &data);
			c->pem0 = strndup(data, (size_t)dl);
			BIO_free(b);
			c->key0 = k;
			EVP_PKEY_up_ref(k);
			c->digest_len = t == HSM_KEY_EC_P384 ? 48 : 32;
			RAND_bytes(c->digest, (int)c->digest_len);
			ctx = EVP_PKEY_CTX_new(k, NULL);
			c->sig_len = sizeof(c->sig);
			if (ctx == NULL || EVP_PKEY_sign_init(ctx) != 1 ||
			    EVP_PKEY_sign(ctx, c->sig, &c->sig_len, c->digest, c->digest_len) != 1)
				return -1;
			EVP_PKEY_CTX_free(ctx);
		}
		X509_NAME_free(n);
		X509_REQ_free(r);
		EVP_PKEY_free(k);
	}
	return 0;
}

static void
bench_csrs_free(struct bench_csrs *c)
{
	for (size_t i = 0; i < BENCH_CSRS; i++)
		OPENSSL_free(c->der[i]);
	free(c->pem0);
	EVP_PKEY_free(c->key0);
}

/* --- full transaction ------------------------------------------------- */

struct bench_window {
	pthread_mutex_t lock;
	pthread_cond_t cv;
	unsigned in_flight;
	uint64_t done_ok, done_fail;
	int first_error;
	char first_msg[CS_ERR_MSG_MAX];
};

struct bench_slot {
	struct issuer_request req;
	char device_id[64];
	struct bench_window *w;
	int free_;
};

static void
bench_on_done(struct issuer_request *req)
{
	struct bench_slot *s = req->arg;
	struct bench_window *w = s->w;

	pthread_mutex_lock(&w->lock);
	if (req->status == CS_OK) {
		w->done_ok++;
	} else {
		if (w->done_fail++ == 0) {
			w->first_error = req->status;
			snprintf(w->first_msg, sizeof(w->first_msg), "%s", req->err.msg);
		}
	}
	s->free_ = 1;
	w->in_flight--;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->lock);
}

static double
bench_full(struct station *st, const struct bench_csrs *c, unsigned threads, unsigned window,
    double seconds, const char *tag, struct cs_err *err)
{
	struct bench_window w;
	struct bench_slot *slots = calloc(window, sizeof(*slots));
	issuer *is;
	uint64_t seq = 0, ok_at_start = 0;
	double t0, t_measure = 0, t_end, rate = -1;
	int measuring = 0;

	if (slots == NULL)
		return -1;
	struct ledger_stats ls0, ls1;

	ledger_stats_get(st->ledger, &ls0);
	is = issuer_new(st->cfg, st->hsm, st->ledger, st->ca, threads, err);
	if (is == NULL) {
		free(slots);
		return -1;
	}
	memset(&w, 0, sizeof(w));
	pthread_mutex_init(&w.lock, NULL);
	pthread_cond_init(&w.cv, NULL);
	for (unsigned i = 0; i < window; i++) {
		slots[i].w = &w;
		slots[i].free_ = 1;
	}
	/* A short warm-up (caches, SQLite pages) is not measured. */
	t0 = bench_now();
	t_end = t0 + 0.5 + seconds;
	pthread_mutex_lock(&w.lock);
	for (;;) {
		double now = bench_now();

		if (!measuring && now >= t0 + 0.5) {
			measuring = 1;
			t_measure = now;
			ok_at_start = w.done_ok;
		}
		if (now >= t_end || w.done_fail > 0)
			break;
		for (unsigned i = 0; i < window && w.in_flight < window; i++) {
			struct bench_slot *s = &slots[i];

			if (!s->free_)
				continue;
			s->free_ = 0;
			memset(&s->req, 0, offsetof(struct issuer_request, cert_der));
			snprintf(s->device_id, sizeof(s->device_id), "%s-%llu", tag,
			    (unsigned long long)seq);
			s->req.csr = c->der[seq % BENCH_CSRS];
			s->req.csr_len = c->len[seq % BENCH_CSRS];
			s->req.device_id = s->device_id;
			s->req.done = bench_on_done;
			s->req.arg = s;
			seq++;
			w.in_flight++;
			pthread_mutex_unlock(&w.lock);
			if (issuer_submit(is, &s->req) != CS_OK) {
				pthread_mutex_lock(&w.lock);
				s->free_ = 1;
				w.in_flight--;
				continue;
			}
			pthread_mutex_lock(&w.lock);
		}
		pthread_cond_wait(&w.cv, &w.lock);
	}
	rate = (double)(w.done_ok - ok_at_start) / (bench_now() - t_measure);
	while (w.in_flight > 0)
		pthread_cond_wait(&w.cv, &w.lock);
	pthread_mutex_unlock(&w.lock);
	issuer_free(is);
	ledger_stats_get(st->ledger, &ls1);
	if (ls1.commits > ls0.commits)
		fprintf(stderr, "  [%s: %llu ledger commits, %.1f rows per commit]\n", tag,
		    (unsigned long long)(ls1.commits - ls0.commits),
		    (double)(ls1.ops_committed - ls0.ops_committed) /
			(double)(ls1.commits - ls0.commits));
	if (w.done_fail > 0) {
		cs_err_set(err, w.first_error, "issuance failed during the benchmark: %s", w.first_msg);
		rate = -1;
	}
	pthread_cond_destroy(&w.cv);
	pthread_mutex_destroy(&w.lock);
	free(slots);
	return rate;
}

/* --- raw sign and crypto-only bound ----------------------------------- */

struct bench_loop {
	struct station *st;
	const struct bench_csrs *c;
	enum hsm_sig_alg alg;
	int with_verifies;
	double until;
	uint64_t count;
	int failed;
	const uint8_t *ca_sig; /* a valid HSM signature (DER) over c->digest */
	size_t ca_sig_len;
};

static void *
bench_loop_run(void *arg)
{
	struct bench_loop *b = arg;
	uint8_t sig[HSM_SIG_MAX];
	EVP_PKEY_CTX *dev = NULL;

	if (b->with_verifies) {
		dev = EVP_PKEY_CTX_new(b->c->key0, NULL);
		if (dev == NULL || EVP_PKEY_verify_init(dev) != 1) {
			b->failed = 1;
			goto out;
		}
	}
	while (bench_now() < b->until) {
		for (int i = 0; i < 16; i++) {
			size_t sig_len = sizeof(sig);

			if (hsm_sign_raw(b->st->hsm, b->alg, b->c->digest, b->c->digest_len, sig,
				&sig_len) != CS_OK) {
				b->failed = 1;
				goto out;
			}
			if (b->with_verifies &&
			    (EVP_PKEY_verify(dev, b->c->sig, b->c->sig_len, b->c->digest,
				 b->c->digest_len) != 1 ||
				hsm_verify_digest(b->st->hsm, b->alg, b->c->digest, b->c->digest_len,
				    b->ca_sig, b->ca_sig_len) != CS_OK)) {
				b->failed = 1;
				goto out;
			}
			b->count++;
		}
	}
out:
	EVP_PKEY_CTX_free(dev);
	return NULL;
}

static double
bench_loop(struct station *st, const struct bench_csrs *c, unsigned threads, int with_verifies,
    double seconds)
{
	struct bench_loop loops[BENCH_MAX_THREADS];
	pthread_t tids[BENCH_MAX_THREADS];
	uint8_t ca_sig[HSM_SIG_MAX];
	size_t ca_sig_len = sizeof(ca_sig);
	double t0, total = 0;
	struct cs_err err;

	if (hsm_sign_digest(st->hsm, st->ca->sig_alg, c->digest, c->digest_len, ca_sig, &ca_sig_len,
		&err) != CS_OK)
		return -1;
	t0 = bench_now();
	for (unsigned i = 0; i < threads; i++) {
		memset(&loops[i], 0, sizeof(loops[i]));
		loops[i].st = st;
		loops[i].c = c;
		loops[i].alg = st->ca->sig_alg;
		loops[i].with_verifies = with_verifies;
		loops[i].until = t0 + seconds;
		loops[i].ca_sig = ca_sig;
		loops[i].ca_sig_len = ca_sig_len;
		pthread_create(&tids[i], NULL, bench_loop_run, &loops[i]);
	}
	for (unsigned i = 0; i < threads; i++) {
		pthread_join(tids[i], NULL);
		if (loops[i].failed)
			return -1;
		total += (double)loops[i].count;
	}
	return total / (bench_now() - t0);
}

/* --- cfssl ------------------------------------------------------------- */

static int
bench_write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* A self-signed CA with a software key of the same type, for cfssl. */
static int
bench_cfssl_ca(const char *dir, enum hsm_key_type t)
{
	char path[PATH_MAX];
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", bench_curve(t));
	X509 *x = X509_new();
	X509_NAME *n = X509_NAME_new();
	FILE *f;
	int rc = -1;

	if (k == NULL || x == NULL || n == NULL)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_set_version(x, X509_VERSION_3);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)"cfssl bench CA",
	    -1, -1, 0);
	X509_set_subject_name(x, n);
	X509_set_issuer_name(x, n);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365);
	X509_set_pubkey(x, k);
	{
		X509V3_CTX ctx;
		X509_EXTENSION *e;

		X509V3_set_ctx_nodb(&ctx);
		X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints, "critical,CA:TRUE");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
		e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
		X509_add_ext(x, e, -1);
		X509_EXTENSION_free(e);
	}
	if (X509_sign(x, k, t == HSM_KEY_EC_P384 ? EVP_sha384() : EVP_sha256()) <= 0)
		goto out;
	snprintf(path, sizeof(path), "%s/ca.pem", dir);
	f = fopen(path, "w");
	if (f == NULL || PEM_write_X509(f, x) != 1)
		goto out;
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca-key.pem", dir);
	f = fopen(path, "w");
	if (f == NULL || PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) != 1)
		goto out;
	fclose(f);
	snprintf(path, sizeof(path), "%s/cfssl.json", dir);
	rc = bench_write_file(path,
	    "{\"signing\":{\"default\":{\"usages\":[\"digital signature\",\"client auth\"],"
	    "\"expiry\":\"2160h\"}}}\n");
out:
	X509_NAME_free(n);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

static int
bench_connect(int tcp_port)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)tcp_port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct bench_conn {
	int fd;
	char buf[16384];
	size_t len;
};

/* A complete HTTP response in buf? Returns its length, 0 if incomplete. */
static size_t
bench_http_complete(const char *buf, size_t len)
{
	const char *hdr_end = memmem(buf, len, "\r\n\r\n", 4);
	const char *cl;
	size_t head;

	if (hdr_end == NULL)
		return 0;
	head = (size_t)(hdr_end - buf) + 4;
	cl = memmem(buf, head, "Content-Length:", 15);
	if (cl != NULL) {
		size_t body = strtoul(cl + 15, NULL, 10);
		return len >= head + body ? head + body : 0;
	}
	if (memmem(buf, head, "chunked", 7) != NULL) {
		const char *end = memmem(buf + head, len - head, "\r\n0\r\n\r\n", 7);
		if (end == NULL && len - head >= 5 && memcmp(buf + head, "0\r\n\r\n", 5) == 0)
			return head + 5;
		return end != NULL ? (size_t)(end - buf) + 7 : 0;
	}
	return head;
}

static double
bench_cfssl(const struct bench_csrs *c, enum hsm_key_type t, const char *dir, double seconds,
    char *why, size_t why_len)
{
	char ca[PATH_MAX], key[PATH_MAX], conf[PATH_MAX], port_arg[32], *body = NULL, *req = NULL;
	struct bench_conn conns[BENCH_CFSSL_CONNS];
	struct pollfd pfd[BENCH_CFSSL_CONNS];
	size_t body_len = 0, req_len;
	uint64_t ok = 0, bad = 0, ok_at_start = 0;
	double t0, t_measure = 0, rate = -1;
	int tcp_port = 18000 + (int)(getpid() % 2000), measuring = 0;
	pid_t pid;

	for (int i = 0; i < BENCH_CFSSL_CONNS; i++)
		conns[i].fd = -1;
	if (access("/usr/bin/cfssl", X_OK) != 0) {
		snprintf(why, why_len, "cfssl not installed (apt-get install golang-cfssl)");
		return -1;
	}
	if (bench_cfssl_ca(dir, t) != 0) {
		snprintf(why, why_len, "cannot create the cfssl CA");
		return -1;
	}
	snprintf(ca, sizeof(ca), "-ca=%s/ca.pem", dir);
	snprintf(key, sizeof(key), "-ca-key=%s/ca-key.pem", dir);
	snprintf(conf, sizeof(conf), "-config=%s/cfssl.json", dir);
	snprintf(port_arg, sizeof(port_arg), "-port=%d", tcp_port);
	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_WRONLY);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl("/usr/bin/cfssl", "cfssl", "serve", "-address=127.0.0.1", port_arg, ca, key,
		    conf, (char *)NULL);
		_exit(127);
	}
	if (pid < 0) {
		snprintf(why, why_len, "fork failed");
		return -1;
	}

	/* JSON body: the CSR PEM with its newlines escaped. */
	body = malloc(strlen(c->pem0) * 2 + 64);
	req = malloc(strlen(c->pem0) * 2 + 512);
	if (body == NULL || req == NULL)
		goto out;
	body_len = (size_t)snprintf(body, 40, "{\"certificate_request\":\"");
	for (const char *p = c->pem0; *p != '\0'; p++) {
		if (*p == '\n') {
			body[body_len++] = '\\';
			body[body_len++] = 'n';
		} else {
			body[body_len++] = *p;
		}
	}
	body_len += (size_t)snprintf(body + body_len, 8, "\"}");
	req_len = (size_t)snprintf(req, strlen(c->pem0) * 2 + 512,
	    "POST /api/v1/cfssl/sign HTTP/1.1\r\nHost: 127.0.0.1\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
	    body_len, body);

	for (int tries = 0; tries < 100; tries++) {
		int fd = bench_connect(tcp_port);
		if (fd >= 0) {
			close(fd);
			break;
		}
		usleep(100000);
	}
	for (int i = 0; i < BENCH_CFSSL_CONNS; i++) {
		conns[i].fd = bench_connect(tcp_port);
		conns[i].len = 0;
		if (conns[i].fd < 0) {
			snprintf(why, why_len, "cfssl serve did not accept connections on port %d", tcp_port);
			goto out;
		}
		if (write(conns[i].fd, req, req_len) != (ssize_t)req_len)
			goto out;
		pfd[i].fd = conns[i].fd;
		pfd[i].events = POLLIN;
	}
	t0 = bench_now();
	while (bench_now() < t0 + 0.5 + seconds && bad == 0) {
		if (!measuring && bench_now() >= t0 + 0.5) {
			measuring = 1;
			t_measure = bench_now();
			ok_at_start = ok;
		}
		if (poll(pfd, BENCH_CFSSL_CONNS, 1000) <= 0)
			continue;
		for (int i = 0; i < BENCH_CFSSL_CONNS; i++) {
			struct bench_conn *cn = &conns[i];
			ssize_t n;
			size_t full;

			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(cn->fd, cn->buf + cn->len, sizeof(cn->buf) - 1 - cn->len);
			if (n <= 0) {
				bad++;
				snprintf(why, why_len, "cfssl closed a connection");
				break;
			}
			cn->len += (size_t)n;
			cn->buf[cn->len] = '\0';
			full = bench_http_complete(cn->buf, cn->len);
			if (full == 0)
				continue;
			if (memmem(cn->buf, full, "\"success\":true", 14) != NULL) {
				ok++;
			} else {
				bad++;
				snprintf(why, why_len, "cfssl refused the CSR: %.200s", cn->buf);
			}
			memmove(cn->buf, cn->buf + full, cn->len - full);
			cn->len -= full;
			if (write(cn->fd, req, req_len) != (ssize_t)req_len)
				bad++;
		}
	}
	if (bad == 0 && measuring)
		rate = (double)(ok - ok_at_start) / (bench_now() - t_measure);
out:
	for (int i = 0; i < BENCH_CFSSL_CONNS; i++)
		if (conns[i].fd >= 0)
			close(conns[i].fd);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	free(body);
	free(req);
	return rate;
}

/* --- driver ------------------------------------------------------------ */

static int
bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median of n values (sorts a copy). */
static double
bench_median(const double *v, unsigned n)
{
	double s[BENCH_MAX_ROUNDS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), bench_cmp_double);
	return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static int
bench_parse_list(const char *s, struct bench_opts *o, int types)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", s);
	if (types)
		o->type_count = 0;
	else
		o->thread_count = 0;
	for (tok = strtok_r(buf, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
		if (types) {
			enum hsm_key_type t = hsm_key_type_from_name(tok);
			if ((t != HSM_KEY_EC_P256 && t != HSM_KEY_EC_P384) || o->type_count == 4)
				return -1;
			o->types[o->type_count++] = t;
		} else {
			char *end;
			unsigned long v = strtoul(tok, &end, 10);
			if (*end != '\0' || v < 1 || v > BENCH_MAX_THREADS ||
			    o->thread_count == BENCH_MAX_THREADS)
				return -1;
			o->threads[o->thread_count++] = (unsigned)v;
		}
	}
	return (types ? o->type_count : o->thread_count) > 0 ? 0 : -1;
}

static int
bench_issue(const struct bench_opts *o)
{
	char base[PATH_MAX], dir[PATH_MAX + 32], cfg[PATH_MAX + 64], why[512];
	struct cs_err err;
	int rc = CLI_EXIT_OK;

	cs_err_clear(&err);
	if (o->dir != NULL) {
		snprintf(base, sizeof(base), "%s", o->dir);
		if (station_mkdirs(base, &err) != CS_OK)
			return cli_fail(&err);
	} else {
		snprintf(base, sizeof(base), "/tmp/certstation-bench-XXXXXX");
		if (mkdtemp(base) == NULL) {
			perror("mkdtemp");
			return CLI_EXIT_FAIL;
		}
	}
	printf("certstation %s issuance benchmark: %.1f s per measurement, median of %u "
	       "interleaved rounds, %u requests in flight, SoftHSM2 key, ledger fsync per group "
	       "commit (synchronous=FULL)\n",
	    CERTSTATION_VERSION, o->seconds, o->rounds, o->inflight);
	printf("%-6s %3s %12s %12s %12s %12s %10s %10s %10s\n", "key", "thr", "full tx/s",
	    "raw sign/s", "crypto-bnd/s", "cfssl/s", "full/bnd", "full/raw", "full/cfssl");

	for (size_t ti = 0; ti < o->type_count; ti++) {
		enum hsm_key_type t = o->types[ti];
		struct bench_csrs csrs;
		struct station *st;
		double cfssl = -1;

		snprintf(dir, sizeof(dir), "%s/%s", base, hsm_key_type_name(t));
		if (demo_pki_create(dir, t, NULL, 0, &err) != CS_OK)
			return cli_fail(&err);
		snprintf(cfg, sizeof(cfg), "%s/certstation.json", dir);
		st = station_open(cfg, 0, &err);
		if (st == NULL)
			return cli_fail(&err);
		if (bench_csrs_make(&csrs, t) != 0) {
			fprintf(stderr, "certstation: cannot generate benchmark CSRs\n");
			station_close(st);
			return CLI_EXIT_FAIL;
		}
		if (o->cfssl) {
			char cdir[PATH_MAX + 64];

			snprintf(cdir, sizeof(cdir), "%s/cfssl", dir);
			station_mkdirs(cdir, &err);
			why[0] = '\0';
			cfssl = bench_cfssl(&csrs, t, cdir, o->seconds, why, sizeof(why));
			if (cfssl < 0)
				fprintf(stderr, "certstation: cfssl comparison skipped: %s\n", why);
		}
		for (size_t hi = 0; hi < o->thread_count; hi++) {
			unsigned thr = o->threads[hi];
			double full[BENCH_MAX_ROUNDS], raw[BENCH_MAX_ROUNDS], bound[BENCH_MAX_ROUNDS];
			double ratio[BENCH_MAX_ROUNDS], f, r, b, q;

			/* Rounds interleave the three measurements so that a slow spell of
			 * the machine hits all of them; the medians are reported. */
			for (unsigned ri = 0; ri < o->rounds && rc == CLI_EXIT_OK; ri++) {
				char tag[40];

				snprintf(tag, sizeof(tag), "bench-%s-%u-%ld-%u", hsm_key_type_name(t),
				    thr, (long)time(NULL), ri);
				full[ri] = bench_full(st, &csrs, thr, o->inflight, o->seconds, tag, &err);
				if (full[ri] < 0) {
					rc = cli_fail(&err);
					break;
				}
				if (o->full_only)
					continue;
				raw[ri] = bench_loop(st, &csrs, thr, 0, o->seconds);
				bound[ri] = bench_loop(st, &csrs, thr, 1, o->seconds);
				ratio[ri] = full[ri] / bound[ri];
			}
			if (rc != CLI_EXIT_OK)
				break;
			f = bench_median(full, o->rounds);
			if (o->full_only) {
				printf("%-6s %3u %12.0f\n", hsm_key_type_name(t), thr, f);
				continue;
			}
			r = bench_median(raw, o->rounds);
			b = bench_median(bound, o->rounds);
			q = bench_median(ratio, o->rounds);
			if (cfssl > 0)
				printf("%-6s %3u %12.0f %12.0f %12.0f %12.0f %10.3f %10.3f %10.3f\n",
				    hsm_key_type_name(t), thr, f, r, b, cfssl, q, f / r, f / cfssl);
			else
				printf("%-6s %3u %12.0f %12.0f %12.0f %12s %10.3f %10.3f %10s\n",
				    hsm_key_type_name(t), thr, f, r, b, "-", q, f / r, "-");
			fflush(stdout);
		}
		bench_csrs_free(&csrs);
		station_close(st);
		if (rc != CLI_EXIT_OK)
			break;
	}
	printf("cfssl: 'cfssl serve' on 127.0.0.1 with a software key of the same type, %d "
	       "keep-alive connections, all cores; it keeps no durable record.\n",
	    BENCH_CFSSL_CONNS);
	if (o->dir == NULL) {
		char cmd[PATH_MAX + 16];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
		if (system(cmd) != 0)
			fprintf(stderr, "certstation: could not remove %s\n", base);
	}
	return rc;
}

int
cli_bench_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"seconds", required_argument, NULL, 's'},
	    {"threads", required_argument, NULL, 't'},
	    {"key-types", required_argument, NULL, 'k'},
	    {"inflight", required_argument, NULL, 'w'},
	    {"rounds", required_argument, NULL, 'r'},
	    {"no-cfssl", no_argument, NULL, 'n'},
	    {"full-only", no_argument, NULL, 'f'},
	    {"dir", required_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench_opts o = {.seconds = 3, .threads = {1, 2}, .thread_count = 2,
	    .types = {HSM_KEY_EC_P256, HSM_KEY_EC_P384}, .type_count = 2, .inflight = 128, .rounds = 3,
	    .cfssl = 1};
	int c;

	if (argc >= 2 && strcmp(argv[1], "line") == 0)
		return cli_bench_line_main(argc - 1, argv + 1);
	if (cli_group_help(argc, argv, bench_usage))
		return CLI_EXIT_OK;
	if (argc < 2 || strcmp(argv[1], "issue") != 0) {
		fputs(bench_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.seconds = strtod(optarg, NULL);
			if (o.seconds < 0.5 || o.seconds > 600) {
				fputs("certstation: --seconds must be 0.5..600\n", stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 't':
			if (bench_parse_list(optarg, &o, 0) != 0) {
				fputs("certstation: --threads takes a list like 1,2 (1..8)\n", stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'k':
			if (bench_parse_list(optarg, &o, 1) != 0) {
				fputs("certstation: --key-types takes P-256 and/or P-384\n", stderr);
				return CLI_EXIT_USAGE;
			}
			break;
		case 'w': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > 4096) {
				fputs("certstation: --inflight must be 1..4096\n", stderr);
				return CLI_EXIT_USAGE;
			}
			o.inflight = (unsigned)v;
			break;
		}
		case 'r': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);
			if (*end != '\0' || v < 1 || v > BENCH_MAX_ROUNDS) {
				fputs("certstation: --rounds must be 1..15\n", stderr);
				return CLI_EXIT_USAGE;
			}
			o.rounds = (unsigned)v;
			break;
		}
		case 'n':
			o.cfssl = 0;
			break;
		case 'f':
			o.full_only = 1;
			o.cfssl = 0;
			break;
		case 'd':
			o.dir = optarg;
			break;
		case 'h':
			fputs(bench_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(bench_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fputs(bench_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	return bench_issue(&o);
}
