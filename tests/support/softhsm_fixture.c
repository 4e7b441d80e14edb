/*
 * softhsm_fixture.c: a private SoftHSM2 token per test (see the header).
 */
#include "tests/support/softhsm_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "hsm/hsm.h"

static int
fixture_file_write(const char *path, const char *text, mode_t mode, struct cs_err *err)
{
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return cs_err_set(err, CS_ERR_IO, "cannot create %s: %s", path, strerror(errno));
	n = write(fd, text, len);
	if (fchmod(fd, mode) != 0 || n < 0 || (size_t)n != len) {
		close(fd);
		return cs_err_set(err, CS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	}
	if (close(fd) != 0)
		return cs_err_set(err, CS_ERR_IO, "cannot write %s: %s", path, strerror(errno));
	return CS_OK;
}

/* Recursive removal; the tree is ours and shallow (dir/tokens/<uuid>/files). */
static void
fixture_tree_remove(const char *path, int depth)
{
	struct stat st;
	DIR *d;
	struct dirent *de;

	if (lstat(path, &st) != 0)
		return;
	if (!S_ISDIR(st.st_mode) || depth > 8) {
		unlink(path);
		return;
	}
	d = opendir(path);
	if (d != NULL) {
		for (;;) {
			char sub[1024];

			de = readdir(d);
			if (de == NULL)
				break;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			fixture_tree_remove(sub, depth + 1);
		}
		closedir(d);
	}
	rmdir(path);
}

int
softhsm_fixture_setup(struct softhsm_fixture *fx, const char *module_path, const char *label,
    const char *so_pin, const char *user_pin, struct cs_err *err)
{
	const char *tmp = getenv("TMPDIR");
	char conf[600];
	int rc;

	memset(fx, 0, sizeof(*fx));
	if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > 200)
		tmp = "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/cs-softhsm-XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL) {
		rc = cs_err_set(err, CS_ERR_IO, "mkdtemp %s: %s", fx->dir, strerror(errno));
		fx->dir[0] = '\0';
		return rc;
	}
	snprintf(fx->conf_path, sizeof(fx->conf_path), "%s/softhsm2.conf", fx->dir);
	snprintf(fx->token_dir, sizeof(fx->token_dir), "%s/tokens", fx->dir);
	snprintf(fx->pin_path, sizeof(fx->pin_path), "%s/user.pin", fx->dir);
	snprintf(fx->label, sizeof(fx->label), "%s", label != NULL ? label : "cs-test");
	snprintf(fx->so_pin, sizeof(fx->so_pin), "%s", so_pin != NULL ? so_pin : SOFTHSM_FIXTURE_SO_PIN);
	snprintf(fx->user_pin, sizeof(fx->user_pin), "%s",
	    user_pin != NULL ? user_pin : SOFTHSM_FIXTURE_USER_PIN);
	if (mkdir(fx->token_dir, 0700) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "mkdir %s: %s", fx->token_dir, strerror(errno));
		goto fail;
	}
	snprintf(conf, sizeof(conf),
	    "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n"
	    "slots.removable = false\n",
	    fx->token_dir);
	rc = fixture_file_write(fx->conf_path, conf, 0600, err);
	if (rc != CS_OK)
		goto fail;
	if (setenv("SOFTHSM2_CONF", fx->conf_path, 1) != 0) {
		rc = cs_err_set(err, CS_ERR_IO, "setenv SOFTHSM2_CONF: %s", strerror(errno));
		goto fail;
	}
	rc = hsm_token_init(module_path, fx->label, fx->so_pin, fx->user_pin, err);
	if (rc < 0)
		goto fail;
	if (rc == 1) {
		rc = cs_err_set(err, CS_ERR_INTERNAL,
		    "token '%s' already exists in a fresh directory: SoftHSM2 was initialised "
		    "before the fixture set SOFTHSM2_CONF",
		    fx->label);
		goto fail;
	}
	rc = fixture_file_write(fx->pin_path, fx->user_pin, 0600, err);
	if (rc != CS_OK)
		goto fail;
	return CS_OK;
fail:
	softhsm_fixture_cleanup(fx);
	return rc;
}

int
softhsm_fixture_token_add(struct softhsm_fixture *fx, const char *module_path, const char *label,
    struct cs_err *err)
{
	int rc = hsm_token_init(module_path, label, fx->so_pin, fx->user_pin, err);

	return rc < 0 ? rc : CS_OK;
}

int
softhsm_fixture_uri(const struct softhsm_fixture *fx, const char *object, char *buf, size_t cap)
{
	int n;

	if (object != NULL)
		n = snprintf(buf, cap, "pkcs11:token=%s;object=%s?pin-source=file:%s", fx->label,
		    object, fx->pin_path);
	else
		n = snprintf(buf, cap, "pkcs11:token=%s?pin-source=file:%s", fx->label,
		    fx->pin_path);
	return n < 0 || (size_t)n >= cap ? CS_ERR_TOO_LARGE : CS_OK;
}

void
softhsm_fixture_cleanup(struct softhsm_fixture *fx)
{
	const char *cur;

	if (fx == NULL || fx->dir[0] == '\0')
		return;
	cur = getenv("SOFTHSM2_CONF");
	if (cur != NULL && strcmp(cur, fx->conf_path) == 0)
		unsetenv("SOFTHSM2_CONF");
	fixture_tree_remove(fx->dir, 0);
	explicit_bzero(fx->so_pin, sizeof(fx->so_pin));
	explicit_bzero(fx->user_pin, sizeof(fx->user_pin));
	fx->dir[0] = '\0';
}

int
softhsm_fixture_sign(hsm *h, struct cs_err *err)
{
	uint8_t dg[32], sig[HSM_SIG_MAX];
	size_t sl = sizeof(sig);
	unsigned int n;

	EVP_Digest("tbs", 3, dg, &n, EVP_sha256(), NULL);
	cs_err_clear(err);
	return hsm_sign_digest(h, HSM_SIG_ECDSA_SHA256, dg, 32, sig, &sl, err);
}
