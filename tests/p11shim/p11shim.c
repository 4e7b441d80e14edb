/*
 * p11shim.c: a fault-injecting PKCS#11 module for tests.
 *
 * It exports C_GetFunctionList, loads the real module (P11SHIM_MODULE, or
 * the SoftHSM2 path the build found), and hands out a copy of the real
 * function list in which a few entries are wrapped: every call is forwarded
 * and counted, and a call can be made to fail with a chosen CKR_* code, or
 * (C_Sign) to return a corrupted signature.
 *
 * Rules: "FUNC:ACTION:COUNT[:SKIP][,...]" where ACTION is a CKR_ name from
 * the table below, a number, CORRUPT, or HANGms (the call sleeps ms
 * milliseconds and then goes through: an HSM that stops answering for a
 * while), COUNT is how many calls to affect
 * ('*' = until the rules change) and SKIP how many matching calls to let
 * through first. Set them with the
 * P11SHIM_FAIL environment variable before the module loads, or at run time
 * through p11shim_rules_set() (dlsym it from the same path the code under
 * test dlopens: dlopen returns the same instance). p11shim_calls("C_Login")
 * reads a call counter.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <p11-kit/pkcs11.h>

#ifndef P11SHIM_REAL_MODULE
#define P11SHIM_REAL_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

#define SHIM_RULES_MAX 16
#define SHIM_CORRUPT ((CK_RV)-2)
#define SHIM_HANG ((CK_RV)-3)

enum shim_fn {
	SHIM_INITIALIZE,
	SHIM_FINALIZE,
	SHIM_LOGIN,
	SHIM_LOGOUT,
	SHIM_OPEN_SESSION,
	SHIM_CLOSE_SESSION,
	SHIM_GET_SESSION_INFO,
	SHIM_FIND_OBJECTS_INIT,
	SHIM_SIGN_INIT,
	SHIM_SIGN,
	SHIM_GENERATE_KEY_PAIR,
	SHIM_FN_COUNT,
};

static const char *const shim_fn_names[SHIM_FN_COUNT] = {"C_Initialize", "C_Finalize",
    "C_Login", "C_Logout", "C_OpenSession", "C_CloseSession", "C_GetSessionInfo",
    "C_FindObjectsInit", "C_SignInit", "C_Sign", "C_GenerateKeyPair"};

static const struct {
	const char *name;
	CK_RV rv;
} shim_ckr[] = {
    {"CKR_GENERAL_ERROR", CKR_GENERAL_ERROR},
    {"CKR_FUNCTION_FAILED", CKR_FUNCTION_FAILED},
    {"CKR_DEVICE_ERROR", CKR_DEVICE_ERROR},
    {"CKR_DEVICE_REMOVED", CKR_DEVICE_REMOVED},
    {"CKR_TOKEN_NOT_PRESENT", CKR_TOKEN_NOT_PRESENT},
    {"CKR_SESSION_HANDLE_INVALID", CKR_SESSION_HANDLE_INVALID},
    {"CKR_SESSION_CLOSED", CKR_SESSION_CLOSED},
    {"CKR_OBJECT_HANDLE_INVALID", CKR_OBJECT_HANDLE_INVALID},
    {"CKR_KEY_HANDLE_INVALID", CKR_KEY_HANDLE_INVALID},
    {"CKR_USER_NOT_LOGGED_IN", CKR_USER_NOT_LOGGED_IN},
    {"CKR_PIN_INCORRECT", CKR_PIN_INCORRECT},
    {"CKR_PIN_LOCKED", CKR_PIN_LOCKED},
    {"CKR_HOST_MEMORY", CKR_HOST_MEMORY},
    {"CKR_SLOT_ID_INVALID", CKR_SLOT_ID_INVALID},
};

struct shim_rule {
	enum shim_fn fn;
	CK_RV action;
	long hang_ms;   /* SHIM_HANG */
	long remaining; /* -1: persistent */
	long skip;
};

static pthread_mutex_t shim_mu = PTHREAD_MUTEX_INITIALIZER;
static struct shim_rule shim_rules[SHIM_RULES_MAX];
static unsigned shim_nrules;
static unsigned long shim_counts[SHIM_FN_COUNT];
static CK_FUNCTION_LIST shim_list;
static CK_FUNCTION_LIST_PTR real;
static void *real_dl;

int p11shim_rules_set(const char *spec);
unsigned long p11shim_calls(const char *fn);
void p11shim_counts_reset(void);
CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list);

static int
shim_rule_parse(const char *s, size_t len, struct shim_rule *r)
{
	char buf[96], *fn, *act, *cnt, *skip, *end;
	unsigned i;

	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	fn = buf;
	act = strchr(fn, ':');
	if (act == NULL)
		return -1;
	*act++ = '\0';
	cnt = strchr(act, ':');
	if (cnt == NULL)
		return -1;
	*cnt++ = '\0';
	skip = strchr(cnt, ':');
	r->skip = 0;
	if (skip != NULL) {
		*skip++ = '\0';
		r->skip = strtol(skip, &end, 10);
		if (*end != '\0' || r->skip < 0)
			return -1;
	}
	for (i = 0; i < SHIM_FN_COUNT; i++)
		if (strcmp(fn, shim_fn_names[i]) == 0)
			break;
	if (i == SHIM_FN_COUNT)
		return -1;
	r->fn = (enum shim_fn)i;
	r->hang_ms = 0;
	if (strcmp(act, "CORRUPT") == 0) {
		r->action = SHIM_CORRUPT;
	} else if (strncmp(act, "HANG", 4) == 0) {
		r->action = SHIM_HANG;
		r->hang_ms = strtol(act + 4, &end, 10);
		if (*end != '\0' || r->hang_ms <= 0 || r->hang_ms > 600000)
			return -1;
	} else {
		r->action = 0;
		for (i = 0; i < sizeof(shim_ckr) / sizeof(shim_ckr[0]); i++)
			if (strcmp(act, shim_ckr[i].name) == 0)
				r->action = shim_ckr[i].rv;
		if (r->action == 0) {
			r->action = strtoul(act, &end, 0);
			if (*end != '\0' || r->action == 0)
				return -1;
		}
	}
	if (strcmp(cnt, "*") == 0) {
		r->remaining = -1;
	} else {
		r->remaining = strtol(cnt, &end, 10);
		if (*end != '\0' || r->remaining <= 0)
			return -1;
	}
	return 0;
}

/* Replace all rules; "" clears them. 0 on success, -1 on a malformed spec
 * (rules unchanged). */
int
p11shim_rules_set(const char *spec)
{
	struct shim_rule rules[SHIM_RULES_MAX];
	unsigned n = 0;
	const char *p = spec != NULL ? spec : "";

	while (*p != '\0') {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);

		if (n == SHIM_RULES_MAX || shim_rule_parse(p, len, &rules[n]) != 0)
			return -1;
		n++;
		p += len;
		if (*p == ',')
			p++;
	}
	pthread_mutex_lock(&shim_mu);
	memcpy(shim_rules, rules, n * sizeof(rules[0]));
	shim_nrules = n;
	pthread_mutex_unlock(&shim_mu);
	return 0;
}

unsigned long
p11shim_calls(const char *fn)
{
	unsigned long v = 0;
	unsigned i;

	pthread_mutex_lock(&shim_mu);
	for (i = 0; i < SHIM_FN_COUNT; i++)
		if (strcmp(fn, shim_fn_names[i]) == 0)
			v = shim_counts[i];
	pthread_mutex_unlock(&shim_mu);
	return v;
}

void
p11shim_counts_reset(void)
{
	pthread_mutex_lock(&shim_mu);
	memset(shim_counts, 0, sizeof(shim_counts));
	pthread_mutex_unlock(&shim_mu);
}

/* Count the call; return the action to apply (CKR_OK = none). */
static CK_RV
shim_hit(enum shim_fn fn)
{
	CK_RV action = CKR_OK;
	long hang_ms = 0;
	unsigned i;

	pthread_mutex_lock(&shim_mu);
	shim_counts[fn]++;
	for (i = 0; i < shim_nrules; i++) {
		struct shim_rule *r = &shim_rules[i];

		if (r->fn != fn || r->remaining == 0)
			continue;
		if (r->skip > 0) {
			r->skip--;
			continue;
		}
		if (r->remaining > 0)
			r->remaining--;
		action = r->action;
		hang_ms = r->hang_ms;
		break;
	}
	pthread_mutex_unlock(&shim_mu);
	if (action == SHIM_HANG) {
		/* outside the lock: other calls go on while this one hangs */
		struct timespec ts = {hang_ms / 1000, (hang_ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) != 0)
			;
		action = CKR_OK;
	}
	return action;
}

/* Most wrappers fail before forwarding: the real token never sees the call. */
#define SHIM_PRE(fn)                                                                           \
	do {                                                                                   \
		CK_RV shim_a_ = shim_hit(fn);                                                 \
		if (shim_a_ != CKR_OK && shim_a_ != SHIM_CORRUPT)                              \
			return shim_a_;                                                        \
	} while (0)

static CK_RV
shim_initialize(CK_VOID_PTR args)
{
	SHIM_PRE(SHIM_INITIALIZE);
	return real->C_Initialize(args);
}

static CK_RV
shim_finalize(CK_VOID_PTR r)
{
	SHIM_PRE(SHIM_FINALIZE);
	return real->C_Finalize(r);
}

static CK_RV
shim_login(CK_SESSION_HANDLE s, CK_USER_TYPE u, CK_UTF8CHAR_PTR pin, CK_ULONG len)
{
	SHIM_PRE(SHIM_LOGIN);
	return real->C_Login(s, u, pin, len);
}

static CK_RV
shim_logout(CK_SESSION_HANDLE s)
{
	SHIM_PRE(SHIM_LOGOUT);
	return real->C_Logout(s);
}

static CK_RV
shim_open_session(CK_SLOT_ID slot, CK_FLAGS fl, CK_VOID_PTR app, CK_NOTIFY notify,
    CK_SESSION_HANDLE_PTR s)
{
	SHIM_PRE(SHIM_OPEN_SESSION);
	return real->C_OpenSession(slot, fl, app, notify, s);
}

static CK_RV
shim_close_session(CK_SESSION_HANDLE s)
{
	SHIM_PRE(SHIM_CLOSE_SESSION);
	return real->C_CloseSession(s);
}

static CK_RV
shim_get_session_info(CK_SESSION_HANDLE s, CK_SESSION_INFO_PTR info)
{
	SHIM_PRE(SHIM_GET_SESSION_INFO);
	return real->C_GetSessionInfo(s, info);
}

static CK_RV
shim_find_objects_init(CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	SHIM_PRE(SHIM_FIND_OBJECTS_INIT);
	return real->C_FindObjectsInit(s, t, n);
}

static CK_RV
shim_sign_init(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
	SHIM_PRE(SHIM_SIGN_INIT);
	return real->C_SignInit(s, m, k);
}

/* C_Sign forwards first, so the token's operation state stays as a real
 * failure would leave it (ended), then applies the action. */
static CK_RV
shim_sign(CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR sig, CK_ULONG_PTR sl)
{
	CK_RV rv = real->C_Sign(s, d, dl, sig, sl);
	CK_RV a = shim_hit(SHIM_SIGN);

	if (a == CKR_OK)
		return rv;
	if (a == SHIM_CORRUPT) {
		if (rv == CKR_OK && sig != NULL && *sl > 0)
			sig[*sl / 2] ^= 0x01;
		return rv;
	}
	return a;
}

static CK_RV
shim_generate_key_pair(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt,
    CK_ULONG pn, CK_ATTRIBUTE_PTR qt, CK_ULONG qn, CK_OBJECT_HANDLE_PTR pub,
    CK_OBJECT_HANDLE_PTR priv)
{
	SHIM_PRE(SHIM_GENERATE_KEY_PAIR);
	return real->C_GenerateKeyPair(s, m, pt, pn, qt, qn, pub, priv);
}

CK_RV
C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list)
{
	CK_C_GetFunctionList get;
	const char *path;
	void *sym;
	CK_RV rv = CKR_OK;

	if (list == NULL)
		return CKR_ARGUMENTS_BAD;
	pthread_mutex_lock(&shim_mu);
	if (real != NULL)
		goto done;
	path = getenv("P11SHIM_MODULE");
	if (path == NULL || path[0] == '\0')
		path = P11SHIM_REAL_MODULE;
	real_dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (real_dl == NULL) {
		fprintf(stderr, "p11shim: cannot load %s: %s\n", path, dlerror());
		rv = CKR_GENERAL_ERROR;
		goto done;
	}
	sym = dlsym(real_dl, "C_GetFunctionList");
	if (sym == NULL) {
		rv = CKR_GENERAL_ERROR;
		goto done;
	}
	memcpy(&get, &sym, sizeof(get));
	rv = get(&real);
	if (rv != CKR_OK)
		goto done;
	shim_list = *real;
	shim_list.C_GetFunctionList = C_GetFunctionList;
	shim_list.C_Initialize = shim_initialize;
	shim_list.C_Finalize = shim_finalize;
	shim_list.C_Login = shim_login;
	shim_list.C_Logout = shim_logout;
	shim_list.C_OpenSession = shim_open_session;
	shim_list.C_CloseSession = shim_close_session;
	shim_list.C_GetSessionInfo = shim_get_session_info;
	shim_list.C_FindObjectsInit = shim_find_objects_init;
	shim_list.C_SignInit = shim_sign_init;
	shim_list.C_Sign = shim_sign;
	shim_list.C_GenerateKeyPair = shim_generate_key_pair;
done:
	pthread_mutex_unlock(&shim_mu);
	if (rv == CKR_OK) {
		const char *env = getenv("P11SHIM_FAIL");

		if (env != NULL && p11shim_rules_set(env) != 0)
			fprintf(stderr, "p11shim: ignoring malformed P11SHIM_FAIL '%s'\n", env);
		*list = &shim_list;
	}
	return rv;
}
