/*
 * hsm_module.c: one loaded and initialised PKCS#11 module per path per
 * process.
 *
 * PKCS#11 allows exactly one C_Initialize per module per process, and
 * C_Finalize tears the module down for every user in the process. So every
 * hsm_open() and hsm_token_init() goes through this registry: the first user
 * of a path loads and initialises the module, later users share it, and the
 * last release finalises and unloads it. If the module reports
 * CKR_CRYPTOKI_ALREADY_INITIALIZED (another library in the process got there
 * first) we use it but leave C_Finalize to its owner.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hsm/hsm_int.h"

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *registry;

int
hsm_module_acquire(const char *path, struct hsm_module **out, struct cs_err *err)
{
	struct hsm_module *m;
	CK_C_GetFunctionList get_list;
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	void *sym;
	int rc = CS_OK;

	*out = NULL;
	if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof(m->path))
		return cs_err_set(err, CS_ERR_HSM_MODULE,
		    "PKCS#11 module path is empty or longer than %zu bytes", sizeof(m->path) - 1);
	pthread_mutex_lock(&registry_mu);
	for (m = registry; m != NULL; m = m->next) {
		if (strcmp(m->path, path) == 0) {
			m->refs++;
			*out = m;
			goto out;
		}
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL) {
		rc = cs_err_set(err, CS_ERR_NOMEM, "out of memory loading PKCS#11 module");
		goto out;
	}
	memcpy(m->path, path, strlen(path) + 1);
	m->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (m->dl == NULL) {
		const char *why = dlerror();

		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "cannot load PKCS#11 module %s: %s", path,
		    why != NULL ? why : "unknown dlopen error");
		goto fail;
	}
	sym = dlsym(m->dl, "C_GetFunctionList");
	if (sym == NULL) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE,
		    "%s is not a PKCS#11 module: it has no C_GetFunctionList", path);
		goto fail;
	}
	/* POSIX guarantees dlsym results convert to function pointers. */
	memcpy(&get_list, &sym, sizeof(get_list));
	rv = get_list(&m->f);
	if (rv != CKR_OK || m->f == NULL) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "%s: C_GetFunctionList failed: %s", path,
		    hsm_ckr_name(rv));
		goto fail;
	}
	if (m->f->version.major != 2) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE,
		    "%s implements PKCS#11 %u.%u; this station needs 2.x", path,
		    m->f->version.major, m->f->version.minor);
		goto fail;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv == CKR_OK) {
		m->initialized_here = 1;
	} else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "%s: C_Initialize failed: %s", path,
		    hsm_ckr_name(rv));
		goto fail;
	}
	m->refs = 1;
	m->next = registry;
	registry = m;
	*out = m;
	goto out;
fail:
	if (m->dl != NULL)
		dlclose(m->dl);
	free(m);
out:
	pthread_mutex_unlock(&registry_mu);
	return rc;
}

void
hsm_module_release(struct hsm_module *m)
{
	struct hsm_module **pp;

	if (m == NULL)
		return;
	pthread_mutex_lock(&registry_mu);
	if (--m->refs > 0) {
		pthread_mutex_unlock(&registry_mu);
		return;
	}
	for (pp = &registry; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == m) {
			*pp = m->next;
			break;
		}
	}
	if (m->initialized_here)
		m->f->C_Finalize(NULL);
	dlclose(m->dl);
	free(m);
	pthread_mutex_unlock(&registry_mu);
}

int
hsm_module_restartable(struct hsm_module *m)
{
	int ok;

	pthread_mutex_lock(&registry_mu);
	ok = m->initialized_here && m->refs == 1;
	pthread_mutex_unlock(&registry_mu);
	return ok;
}

int
hsm_module_restart(struct hsm_module *m, struct cs_err *err)
{
	CK_C_INITIALIZE_ARGS args;
	CK_RV rv;
	int rc = CS_OK;

	pthread_mutex_lock(&registry_mu);
	if (!m->initialized_here || m->refs != 1) {
		rc = cs_err_set(err, CS_ERR_HSM_DOWN,
		    "%s is shared with another user in this process; not restarting it", m->path);
		goto out;
	}
	rv = m->f->C_Finalize(NULL);
	if (rv != CKR_OK && rv != CKR_CRYPTOKI_NOT_INITIALIZED) {
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "%s: C_Finalize failed: %s", m->path,
		    hsm_ckr_name(rv));
		goto out;
	}
	memset(&args, 0, sizeof(args));
	args.flags = CKF_OS_LOCKING_OK;
	rv = m->f->C_Initialize(&args);
	if (rv != CKR_OK) {
		/* Nothing of ours is initialised now. Stay the owner so that the
		 * next restart tries again (its C_Finalize answers
		 * CKR_CRYPTOKI_NOT_INITIALIZED, which is fine, and so does the one
		 * at release); if someone else initialised it meanwhile, it is
		 * theirs to finalise. */
		m->initialized_here = rv == CKR_CRYPTOKI_ALREADY_INITIALIZED ? 0 : 1;
		rc = cs_err_set(err, CS_ERR_HSM_MODULE, "%s: C_Initialize failed: %s", m->path,
		    hsm_ckr_name(rv));
	}
out:
	pthread_mutex_unlock(&registry_mu);
	return rc;
}

const char *
hsm_ckr_name(CK_RV rv)
{
	switch (rv) {
#define CKR_CASE(x)                                                                            \
	case x:                                                                                \
		return #x;
		CKR_CASE(CKR_OK)
		CKR_CASE(CKR_CANCEL)
		CKR_CASE(CKR_HOST_MEMORY)
		CKR_CASE(CKR_SLOT_ID_INVALID)
		CKR_CASE(CKR_GENERAL_ERROR)
		CKR_CASE(CKR_FUNCTION_FAILED)
		CKR_CASE(CKR_ARGUMENTS_BAD)
		CKR_CASE(CKR_ATTRIBUTE_READ_ONLY)
		CKR_CASE(CKR_ATTRIBUTE_SENSITIVE)
		CKR_CASE(CKR_ATTRIBUTE_TYPE_INVALID)
		CKR_CASE(CKR_ATTRIBUTE_VALUE_INVALID)
		CKR_CASE(CKR_DATA_INVALID)
		CKR_CASE(CKR_DATA_LEN_RANGE)
		CKR_CASE(CKR_DEVICE_ERROR)
		CKR_CASE(CKR_DEVICE_MEMORY)
		CKR_CASE(CKR_DEVICE_REMOVED)
		CKR_CASE(CKR_FUNCTION_CANCELED)
		CKR_CASE(CKR_FUNCTION_NOT_SUPPORTED)
		CKR_CASE(CKR_KEY_HANDLE_INVALID)
		CKR_CASE(CKR_KEY_SIZE_RANGE)
		CKR_CASE(CKR_KEY_TYPE_INCONSISTENT)
		CKR_CASE(CKR_KEY_FUNCTION_NOT_PERMITTED)
		CKR_CASE(CKR_MECHANISM_INVALID)
		CKR_CASE(CKR_MECHANISM_PARAM_INVALID)
		CKR_CASE(CKR_OBJECT_HANDLE_INVALID)
		CKR_CASE(CKR_OPERATION_ACTIVE)
		CKR_CASE(CKR_OPERATION_NOT_INITIALIZED)
		CKR_CASE(CKR_PIN_INCORRECT)
		CKR_CASE(CKR_PIN_INVALID)
		CKR_CASE(CKR_PIN_LEN_RANGE)
		CKR_CASE(CKR_PIN_EXPIRED)
		CKR_CASE(CKR_PIN_LOCKED)
		CKR_CASE(CKR_SESSION_CLOSED)
		CKR_CASE(CKR_SESSION_COUNT)
		CKR_CASE(CKR_SESSION_HANDLE_INVALID)
		CKR_CASE(CKR_SESSION_READ_ONLY)
		CKR_CASE(CKR_SESSION_EXISTS)
		CKR_CASE(CKR_SIGNATURE_INVALID)
		CKR_CASE(CKR_SIGNATURE_LEN_RANGE)
		CKR_CASE(CKR_TEMPLATE_INCOMPLETE)
		CKR_CASE(CKR_TEMPLATE_INCONSISTENT)
		CKR_CASE(CKR_TOKEN_NOT_PRESENT)
		CKR_CASE(CKR_TOKEN_NOT_RECOGNIZED)
		CKR_CASE(CKR_TOKEN_WRITE_PROTECTED)
		CKR_CASE(CKR_USER_ALREADY_LOGGED_IN)
		CKR_CASE(CKR_USER_NOT_LOGGED_IN)
		CKR_CASE(CKR_USER_PIN_NOT_INITIALIZED)
		CKR_CASE(CKR_USER_TYPE_INVALID)
		CKR_CASE(CKR_USER_ANOTHER_ALREADY_LOGGED_IN)
		CKR_CASE(CKR_USER_TOO_MANY_TYPES)
		CKR_CASE(CKR_BUFFER_TOO_SMALL)
		CKR_CASE(CKR_CRYPTOKI_NOT_INITIALIZED)
		CKR_CASE(CKR_CRYPTOKI_ALREADY_INITIALIZED)
#undef CKR_CASE
	default:
		break;
	}
	return "CKR_(vendor or unknown code)";
}
