/*
 * web_session.c: sessions, CSRF tokens and the login rate limiter
 * (contract in web_session.h).
 *
 * Both tables are small fixed arrays scanned linearly under their mutex: a
 * line-side PC has a handful of browsers, and a bounded scan cannot be
 * grown by a client.
 */
#include "web-ui/web_session.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "station/cs_error.h"

struct web_session {
	int used;
	struct web_session_info info;
};

struct web_sessions {
	pthread_mutex_t mu;
	int64_t idle_us;
	size_t max;
	struct web_session *s;
};

static void
hex_encode(const uint8_t *p, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[p[i] >> 4];
		out[2 * i + 1] = hx[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/* SHA-256 of a well-formed cookie (64 lower-case hex), else -1. */
static int
cookie_hash(const char *cookie, uint8_t out[32])
{
	unsigned int n = 0;

	if (cookie == NULL || strnlen(cookie, WEB_SESSION_TOKEN_HEX + 1) != WEB_SESSION_TOKEN_HEX ||
	    strspn(cookie, "0123456789abcdef") != WEB_SESSION_TOKEN_HEX)
		return -1;
	if (EVP_Digest(cookie, WEB_SESSION_TOKEN_HEX, out, &n, EVP_sha256(), NULL) != 1 || n != 32)
		return -1;
	return 0;
}

web_sessions *
web_sessions_new(int64_t idle_us, size_t max)
{
	web_sessions *ws = calloc(1, sizeof(*ws));

	if (ws == NULL)
		return NULL;
	ws->max = max > 0 ? max : WEB_SESSIONS_MAX;
	ws->idle_us = idle_us;
	ws->s = calloc(ws->max, sizeof(*ws->s));
	if (ws->s == NULL) {
		free(ws);
		return NULL;
	}
	pthread_mutex_init(&ws->mu, NULL);
	return ws;
}

void
web_sessions_free(web_sessions *ws)
{
	if (ws == NULL)
		return;
	OPENSSL_cleanse(ws->s, ws->max * sizeof(*ws->s));
	free(ws->s);
	pthread_mutex_destroy(&ws->mu);
	free(ws);
}

static int
expired(const web_sessions *ws, const struct web_session *s, int64_t now_us)
{
	return now_us - s->info.last_us >= ws->idle_us;
}

int
web_session_create(web_sessions *ws, const char *user, enum user_role role, int64_t now_us,
    char cookie[WEB_SESSION_TOKEN_HEX + 1], struct web_session_info *info)
{
	uint8_t id[32], csrf[32];
	struct web_session *slot = NULL;
	size_t k;

	if (RAND_bytes(id, sizeof(id)) != 1 || RAND_bytes(csrf, sizeof(csrf)) != 1)
		return CS_ERR_INTERNAL;
	hex_encode(id, sizeof(id), cookie);
	OPENSSL_cleanse(id, sizeof(id));

	pthread_mutex_lock(&ws->mu);
	/* a free or expired entry, else the least recently used */
	for (k = 0; k < ws->max; k++) {
		struct web_session *s = &ws->s[k];

		if (!s->used || expired(ws, s, now_us)) {
			slot = s;
			break;
		}
		if (slot == NULL || s->info.last_us < slot->info.last_us)
			slot = s;
	}
	if (slot == NULL) { /* max is never 0; keeps the compiler's bounds check honest */
		pthread_mutex_unlock(&ws->mu);
		return CS_ERR_INTERNAL;
	}
	memset(slot, 0, sizeof(*slot));
	slot->used = 1;
	snprintf(slot->info.user, sizeof(slot->info.user), "%s", user);
	slot->info.role = role;
	hex_encode(csrf, sizeof(csrf), slot->info.csrf);
	cookie_hash(cookie, slot->info.id_hash);
	slot->info.created_us = slot->info.last_us = now_us;
	if (info != NULL)
		*info = slot->info;
	pthread_mutex_unlock(&ws->mu);
	OPENSSL_cleanse(csrf, sizeof(csrf));
	return 0;
}

/* The entry whose ID hash is h, or NULL; caller holds mu. */
static struct web_session *
find(web_sessions *ws, const uint8_t h[32])
{
	for (size_t k = 0; k < ws->max; k++)
		if (ws->s[k].used && CRYPTO_memcmp(ws->s[k].info.id_hash, h, 32) == 0)
			return &ws->s[k];
	return NULL;
}

int
web_session_lookup(web_sessions *ws, const char *cookie, int64_t now_us, int touch,
    struct web_session_info *info)
{
	uint8_t h[32];
	struct web_session *s;
	int rc = CS_ERR_NOT_FOUND;

	if (cookie_hash(cookie, h) != 0)
		return CS_ERR_NOT_FOUND;
	pthread_mutex_lock(&ws->mu);
	s = find(ws, h);
	if (s != NULL && expired(ws, s, now_us)) {
		memset(s, 0, sizeof(*s));
	} else if (s != NULL) {
		if (touch && now_us > s->info.last_us)
			s->info.last_us = now_us;
		*info = s->info;
		rc = 0;
	}
	pthread_mutex_unlock(&ws->mu);
	return rc;
}

int
web_session_alive(web_sessions *ws, const uint8_t id_hash[32], int64_t now_us)
{
	struct web_session *s;
	int alive;

	pthread_mutex_lock(&ws->mu);
	s = find(ws, id_hash);
	alive = s != NULL && !expired(ws, s, now_us);
	pthread_mutex_unlock(&ws->mu);
	return alive;
}

int
web_session_destroy(web_sessions *ws, const char *cookie)
{
	uint8_t h[32];
	struct web_session *s;

	if (cookie_hash(cookie, h) != 0)
		return CS_ERR_NOT_FOUND;
	pthread_mutex_lock(&ws->mu);
	s = find(ws, h);
	if (s != NULL)
		OPENSSL_cleanse(s, sizeof(*s));
	pthread_mutex_unlock(&ws->mu);
	return s != NULL ? 0 : CS_ERR_NOT_FOUND;
}

size_t
web_session_count(web_sessions *ws, int64_t now_us)
{
	size_t n = 0;

	pthread_mutex_lock(&ws->mu);
	for (size_t k = 0; k < ws->max; k++)
		if (ws->s[k].used && !expired(ws, &ws->s[k], now_us))
			n++;
	pthread_mutex_unlock(&ws->mu);
	return n;
}

int
web_session_csrf_ok(const struct web_session_info *info, const char *token)
{
	if (info == NULL || token == NULL ||
	    strnlen(token, WEB_SESSION_TOKEN_HEX + 1) != WEB_SESSION_TOKEN_HEX)
		return 0;
	return CRYPTO_memcmp(info->csrf, token, WEB_SESSION_TOKEN_HEX) == 0;
}

/* ---- login rate limiting ---- */

#define RL_KEY_MAX 96

struct rl_entry {
	char key[RL_KEY_MAX];
	int64_t window_start;
	unsigned failures;
};

struct web_ratelimit {
	pthread_mutex_t mu;
	unsigned max_failures;
	int64_t window_us;
	size_t slots;
	struct rl_entry *e;
};

web_ratelimit *
web_ratelimit_new(unsigned max_failures, int64_t window_us, size_t slots)
{
	web_ratelimit *rl = calloc(1, sizeof(*rl));

	if (rl == NULL)
		return NULL;
	rl->e = calloc(slots > 0 ? slots : 1, sizeof(*rl->e));
	if (rl->e == NULL) {
		free(rl);
		return NULL;
	}
	rl->slots = slots > 0 ? slots : 1;
	rl->max_failures = max_failures > 0 ? max_failures : 1;
	rl->window_us = window_us;
	pthread_mutex_init(&rl->mu, NULL);
	return rl;
}

void
web_ratelimit_free(web_ratelimit *rl)
{
	if (rl == NULL)
		return;
	free(rl->e);
	pthread_mutex_destroy(&rl->mu);
	free(rl);
}

/* Entry for key whose window is still open, or NULL; caller holds mu. */
static struct rl_entry *
rl_find(web_ratelimit *rl, const char *key, int64_t now_us)
{
	for (size_t k = 0; k < rl->slots; k++) {
		struct rl_entry *e = &rl->e[k];

		if (e->key[0] != '\0' && strncmp(e->key, key, RL_KEY_MAX - 1) == 0) {
			if (now_us - e->window_start >= rl->window_us || now_us < e->window_start) {
				memset(e, 0, sizeof(*e));
				return NULL;
			}
			return e;
		}
	}
	return NULL;
}

int
web_ratelimit_check(web_ratelimit *rl, const char *key, int64_t now_us, unsigned *retry_after_s)
{
	struct rl_entry *e;
	int rc = 0;

	pthread_mutex_lock(&rl->mu);
	e = rl_find(rl, key, now_us);
	if (e != NULL && e->failures >= rl->max_failures) {
		int64_t left = e->window_start + rl->window_us - now_us;

		*retry_after_s = (unsigned)((left + 999999) / 1000000);
		if (*retry_after_s == 0)
			*retry_after_s = 1;
		rc = CS_ERR_BUSY;
	}
	pthread_mutex_unlock(&rl->mu);
	return rc;
}

void
web_ratelimit_fail(web_ratelimit *rl, const char *key, int64_t now_us)
{
	struct rl_entry *e;

	pthread_mutex_lock(&rl->mu);
	e = rl_find(rl, key, now_us);
	if (e == NULL) {
		/* a free or lapsed entry, else the oldest window */
		for (size_t k = 0; k < rl->slots; k++) {
			struct rl_entry *c = &rl->e[k];

			if (c->key[0] == '\0' || now_us - c->window_start >= rl->window_us) {
				e = c;
				break;
			}
			if (e == NULL || c->window_start < e->window_start)
				e = c;
		}
		if (e == NULL) {
			pthread_mutex_unlock(&rl->mu);
			return;
		}
		memset(e, 0, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->window_start = now_us;
	}
	if (e->failures < UINT32_MAX)
		e->failures++;
	pthread_mutex_unlock(&rl->mu);
}
