/*
 * web_session.h: the dashboard's logged-in sessions, their CSRF tokens,
 * and the login rate limiter.
 *
 * Contract: a session ID is 256 bits from the OpenSSL CSPRNG, handed to the
 * browser once (as 64 hex characters, the cookie) and stored only as its
 * SHA-256, so a memory dump of the table does not yield usable cookies.
 * Each session has its own random 256-bit CSRF token. A session ends after
 * idle_s seconds without a lookup that touches it, on destroy, or when the
 * table is full and it is the least recently used. Comparisons of secrets
 * are constant-time.
 *
 * The rate limiter counts failed logins per key ("addr:127.0.0.1",
 * "user:ana") in fixed windows: after max_failures failures within window_s
 * seconds of the first one, the key is refused until that window ends. The
 * table is bounded; when full, the entry whose window started first is
 * reused.
 *
 * Time is passed in (Unix or monotonic microseconds, the caller's choice,
 * consistently) so tests can drive it.
 *
 * Threads: every function may be called from any thread; each table has
 * its own mutex, held for a table scan at most.
 */
#ifndef WEB_UI_WEB_SESSION_H
#define WEB_UI_WEB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "station/users.h"

#define WEB_SESSION_TOKEN_HEX 64 /* 256 bits as hex */
#define WEB_SESSIONS_MAX 256

typedef struct web_sessions web_sessions;

struct web_session_info {
	char user[USER_NAME_MAX + 1];
	enum user_role role;
	char csrf[WEB_SESSION_TOKEN_HEX + 1];
	uint8_t id_hash[32]; /* SHA-256 of the cookie value: names the session to streams */
	int64_t created_us, last_us;
};

/* NULL if out of memory. max 0: WEB_SESSIONS_MAX. */
web_sessions *web_sessions_new(int64_t idle_us, size_t max);
void web_sessions_free(web_sessions *ws); /* NULL is fine */

/* New session for user with role. cookie receives the ID (64 hex + NUL);
 * info (may be NULL) the session. 0 or CS_ERR_INTERNAL (no randomness). */
int web_session_create(web_sessions *ws, const char *user, enum user_role role, int64_t now_us,
    char cookie[WEB_SESSION_TOKEN_HEX + 1] /* OUT */, struct web_session_info *info /* OUT */);

/* The live session named by cookie, touching its idle timer when touch is
 * set. 0 with info, or CS_ERR_NOT_FOUND (unknown, malformed or timed out;
 * a timed-out session is removed). */
int web_session_lookup(web_sessions *ws, const char *cookie, int64_t now_us, int touch,
    struct web_session_info *info /* OUT */);

/* Is the session with this ID hash still live (no touch)? 1 or 0. */
int web_session_alive(web_sessions *ws, const uint8_t id_hash[32], int64_t now_us);

/* End the session named by cookie. 0 or CS_ERR_NOT_FOUND. */
int web_session_destroy(web_sessions *ws, const char *cookie);

/* Live sessions now. */
size_t web_session_count(web_sessions *ws, int64_t now_us);

/* 1 if token equals the session's CSRF token (constant time), else 0. */
int web_session_csrf_ok(const struct web_session_info *info, const char *token);

typedef struct web_ratelimit web_ratelimit;

web_ratelimit *web_ratelimit_new(unsigned max_failures, int64_t window_us, size_t slots);
void web_ratelimit_free(web_ratelimit *rl); /* NULL is fine */

/* 0 if key may try now; CS_ERR_BUSY if it is locked out, with the seconds
 * until the window ends in *retry_after_s (at least 1). */
int web_ratelimit_check(web_ratelimit *rl, const char *key, int64_t now_us,
    unsigned *retry_after_s /* OUT */);

/* Count one failed attempt for key. */
void web_ratelimit_fail(web_ratelimit *rl, const char *key, int64_t now_us);

#endif
