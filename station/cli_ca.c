/*
 * cli_ca.c: `certstation ca show|keygen|csr|install|verification-cert`:
 * the issuing CA, from its key generated in the HSM to its certificate
 * installed (the work is in ca_setup.c) and registered with the cloud.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "station/clock.h"
#include "station/ca_setup.h"
#include "station/cli.h"
#include "station/issuer.h"
#include "station/station.h"

static const char ca_usage[] =
    "usage: certstation ca show [--config F]\n"
    "       certstation ca keygen [--config F] --key-type P-256|P-384|RSA-2048|RSA-3072\n"
    "       certstation ca csr [--config F] --subject /CN=NAME[/O=ORG][/C=CC]... [--pathlen N]\n"
    "                          [--out FILE]\n"
    "       certstation ca install [--config F] --cert FILE [--chain FILE] [--replace]\n"
    "       certstation ca verification-cert [--config F] [--out FILE] CODE\n"
    "\n"
    "  show: the key in the HSM (location, type, SPKI SHA-256, state) and the\n"
    "  installed chain; exit 1 while the key or the certificate is missing.\n"
    "\n"
    "  Setting up the issuing CA for production (the key never leaves the HSM):\n"
    "  1. keygen: generate the key pair hsm.uri names inside the token (sensitive,\n"
    "     not extractable); prints type, label, CKA_ID and the SHA-256 of its\n"
    "     SubjectPublicKeyInfo. Refused if the key already exists.\n"
    "  2. csr: a PKCS#10 request for that key, signed inside the token: CA:TRUE with\n"
    "     pathlen N (default 0), keyUsage keyCertSign and cRLSign, subjectKeyIdentifier.\n"
    "     Subject as in `openssl req -subj`; names CN (required), O, OU, C, ST, L,\n"
    "     serialNumber; '\\' escapes the next character ('\\/' is a '/'). PEM to\n"
    "     --out (an existing file is never overwritten) or to standard output.\n"
    "  3. The offline root (or an intermediate CA) signs the request as a CA.\n"
    "  4. install: checks the certificate (it holds the HSM key, CA:TRUE, keyUsage\n"
    "     keyCertSign, valid now, verifies up to the self-signed root in --chain)\n"
    "     and writes it to ca.certificate and the verified chain to ca.chain.\n"
    "     Without --chain the installed ca.chain is used (a renewal under the same\n"
    "     root). Existing files are refused; --replace replaces them and keeps the\n"
    "     old ones as FILE.previous.\n"
    "  5. show, then verification-cert for the cloud registration.\n"
    "\n"
    "  verification-cert: the proof-of-possession certificate for CA registration.\n"
    "  CODE is the verification code the cloud service gives (Azure IoT Hub/DPS:\n"
    "  'Generate verification code'; AWS IoT: the registration code). The\n"
    "  certificate's CN is CODE and it is signed by the issuing-CA key in the HSM.\n";

/* Options, and which subcommand takes which. */
#define CA_OPT_CONFIG 0x01u
#define CA_OPT_OUT 0x02u
#define CA_OPT_KEY_TYPE 0x04u
#define CA_OPT_SUBJECT 0x08u
#define CA_OPT_PATHLEN 0x10u
#define CA_OPT_CERT 0x20u
#define CA_OPT_CHAIN 0x40u
#define CA_OPT_REPLACE 0x80u

struct ca_args {
	unsigned seen; /* CA_OPT_* given */
	const char *config, *out, *key_type, *subject, *pathlen, *cert, *chain;
};

static const char *
ca_sig_alg_name(enum hsm_sig_alg alg)
{
	switch (alg) {
	case HSM_SIG_ECDSA_SHA256:
		return "ecdsa-with-SHA256";
	case HSM_SIG_ECDSA_SHA384:
		return "ecdsa-with-SHA384";
	case HSM_SIG_RSA_PKCS1_SHA256:
		return "sha256WithRSAEncryption";
	case HSM_SIG_RSA_PKCS1_SHA384:
		return "sha384WithRSAEncryption";
	case HSM_SIG_RSA_PSS_SHA256:
		return "RSASSA-PSS with SHA-256";
	case HSM_SIG_RSA_PSS_SHA384:
		return "RSASSA-PSS with SHA-384";
	default:
		return "?";
	}
}

/* The configuration, with hsm.module_env applied to this process. */
static struct cs_config *
ca_config_open(const char *config, struct cs_err *err)
{
	struct cs_config *cfg = config_load(cli_config_path(config), err);

	if (cfg != NULL && station_env_apply(cfg, err) != CS_OK) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

static void
ca_hsm_config(const struct cs_config *cfg, unsigned flags, struct hsm_config *hc)
{
	memset(hc, 0, sizeof(*hc));
	hc->module_path = cfg->hsm.module;
	hc->uri = cfg->hsm.uri;
	hc->pin_env = cfg->hsm.pin_env;
	hc->sessions = 1;
	hc->flags = flags;
}

/* RSA-PSS is chosen per CA, by the default profile (as station_open() does). */
static int
ca_rsa_pss(const struct cs_config *cfg)
{
	const struct profile *p = config_profile(cfg, NULL);

	return p != NULL && p->rsa_pss;
}

/* A new file holding text; an existing one is never overwritten. */
static int
ca_file_create(const char *path, const char *text, struct cs_err *err)
{
	size_t len = strlen(text), done = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0) {
		if (errno == EEXIST)
			return cs_err_set(err, CS_ERR_IO,
			    "%s already exists; not overwritten (remove it or give another --out)", path);
		return cs_err_set(err, CS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
	}
	while (done < len) {
		ssize_t w = write(fd, text + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = errno;

			close(fd);
			unlink(path);
			return cs_err_set(err, CS_ERR_IO, "%s: write failed: %s", path, strerror(e));
		}
		done += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		unlink(path);
		return cs_err_set(err, CS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
	}
	return CS_OK;
}

/* ---- ca show ---- */

static void
ca_key_print(const struct hsm_key_info *ki, const struct hsm_status *hs)
{
	uint8_t h[32];
	char hex[65];

	SHA256(ki->spki, ki->spki_len, h);
	ca_hex(hex, sizeof(hex), h, sizeof(h));
	printf("Issuing CA key\n");
	printf("  location:    %s\n", ki->uri);
	printf("  token:       %s\n", ki->token_label);
	printf("  type:        %s\n", hsm_key_type_name(ki->type));
	printf("  sensitive:   %s, extractable: %s\n", ki->sensitive ? "yes" : "NO",
	    ki->extractable ? "YES" : "no");
	printf("  HSM state:   %s%s%s\n", hsm_state_name(hs->state), hs->reason[0] ? ": " : "",
	    hs->reason);
	printf("  SPKI SHA-256: %s\n", hex);
}

static int
ca_cmd_show(const struct ca_args *a)
{
	struct cs_config *cfg;
	struct hsm_config hc;
	struct hsm_key_info ki;
	struct hsm_status hs;
	struct ca *ca = NULL;
	struct stat st;
	struct cs_err err;
	char nb[32], na[32];
	hsm *h = NULL;
	int rc = CLI_EXIT_FAIL;

	cs_err_clear(&err);
	cfg = ca_config_open(a->config, &err);
	if (cfg == NULL)
		return cli_fail(&err);
	ca_hsm_config(cfg, HSM_OPEN_KEY_OPTIONAL, &hc);
	h = hsm_open(&hc, &err);
	if (h == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	if (hsm_key_info_get(h, &ki) != CS_OK) {
		printf("Issuing CA key\n  location:    %s\n  token:       %s\n  key:         none\n",
		    ki.uri, ki.token_label);
		cs_err_set(&err, CS_ERR_HSM_KEY_NOT_FOUND,
		    "token '%s' holds no issuing-CA key yet; create it with `certstation ca keygen`",
		    ki.token_label);
		rc = cli_fail(&err);
		goto out;
	}
	hsm_status_get(h, &hs);
	ca_key_print(&ki, &hs);
	if (stat(cfg->ca_certificate, &st) != 0 && errno == ENOENT) {
		printf("Chain: not installed (%s does not exist)\n", cfg->ca_certificate);
		cs_err_set(&err, CS_ERR_NOT_FOUND,
		    "no issuing CA certificate installed yet; next: `certstation ca csr`, have the "
		    "root sign it, then `certstation ca install`");
		rc = cli_fail(&err);
		goto out;
	}
	ca = ca_load(cfg->ca_certificate, cfg->ca_chain, &ki, ca_rsa_pss(cfg), &err);
	if (ca == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	printf("Chain (%zu certificate%s, %s)\n", ca->chain_len, ca->chain_len == 1 ? "" : "s",
	    ca->has_root ? "ends at a self-signed root" : "root not included");
	for (size_t i = 0; i < ca->chain_len; i++) {
		cs_time_text(ca->chain[i].not_before, nb, sizeof(nb));
		cs_time_text(ca->chain[i].not_after, na, sizeof(na));
		printf("  [%zu] %s\n      valid %s .. %s\n", i, ca->chain[i].subject, nb, na);
	}
	printf("\n%s", ca->chain[0].pem);
	rc = CLI_EXIT_OK;
out:
	ca_free(ca);
	hsm_close(h);
	config_free(cfg);
	return rc;
}

/* ---- ca keygen ---- */

static int
ca_cmd_keygen(const struct ca_args *a)
{
	struct cs_config *cfg;
	struct hsm_config hc;
	struct ca_keygen_result res;
	struct cs_err err;
	enum hsm_key_type type;
	char id[2 * P11_URI_ID_MAX + 1], sha[65];
	int rc;

	cs_err_clear(&err);
	type = hsm_key_type_from_name(a->key_type);
	if (type != HSM_KEY_EC_P256 && type != HSM_KEY_EC_P384 && type != HSM_KEY_RSA_2048 &&
	    type != HSM_KEY_RSA_3072) {
		fprintf(stderr, "certstation: --key-type '%s': give P-256, P-384, RSA-2048 or RSA-3072\n",
		    a->key_type);
		return CLI_EXIT_USAGE;
	}
	cfg = ca_config_open(a->config, &err);
	if (cfg == NULL)
		return cli_fail(&err);
	ca_hsm_config(cfg, 0, &hc);
	rc = ca_key_generate(&hc, type, &res, &err);
	if (rc != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	ca_hex(id, sizeof(id), res.id, res.id_len);
	ca_hex(sha, sizeof(sha), res.spki_sha256, sizeof(res.spki_sha256));
	printf("Issuing-CA key generated inside the HSM (sensitive, not extractable)\n");
	printf("  token:        %s\n", res.key.token_label);
	printf("  label:        %s\n", res.key.key_label);
	printf("  CKA_ID:       %s\n", id);
	printf("  type:         %s\n", hsm_key_type_name(res.key.type));
	printf("  SPKI SHA-256: %s\n", sha);
	printf("  location:     %s\n", res.key.uri);
	printf("Next: certstation ca csr --config %s --subject \"/CN=Line 1 Issuing CA/O=Company/C=DE\" "
	       "--out issuing-ca.csr\n",
	    cfg->path);
	rc = CLI_EXIT_OK;
out:
	config_free(cfg);
	return rc;
}

/* ---- ca csr ---- */

static int
ca_cmd_csr(const struct ca_args *a)
{
	struct cs_config *cfg = NULL;
	struct hsm_config hc;
	struct hsm_key_info ki;
	struct ca_subject *subj = NULL;
	struct cs_err err;
	unsigned long pathlen = 0;
	char *pem = NULL, *end, shown[CA_SUBJECT_MAX_LEN * 2 + 1];
	hsm *h = NULL;
	int rc = CLI_EXIT_FAIL, pss;

	cs_err_clear(&err);
	if (a->pathlen != NULL) {
		errno = 0;
		pathlen = strtoul(a->pathlen, &end, 10);
		if (a->pathlen[0] < '0' || a->pathlen[0] > '9' || *end != '\0' || errno != 0 ||
		    pathlen > CA_PATHLEN_MAX) {
			fprintf(stderr,
			    "certstation: --pathlen '%s': give a number 0..%d (0: the CA signs end "
			    "entities only)\n",
			    a->pathlen, CA_PATHLEN_MAX);
			return CLI_EXIT_USAGE;
		}
	}
	subj = malloc(sizeof(*subj));
	if (subj == NULL) {
		cs_err_set(&err, CS_ERR_NOMEM, "out of memory");
		return cli_fail(&err);
	}
	if (ca_subject_parse(a->subject, strlen(a->subject), subj, &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	cfg = ca_config_open(a->config, &err);
	if (cfg == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	ca_hsm_config(cfg, 0, &hc);
	h = hsm_open(&hc, &err);
	if (h == NULL) {
		if (err.code == CS_ERR_HSM_KEY_NOT_FOUND) {
			size_t n = strlen(err.msg);

			snprintf(err.msg + n, sizeof(err.msg) - n,
			    "; create it with `certstation ca keygen`");
		}
		rc = cli_fail(&err);
		goto out;
	}
	hsm_key_info_get(h, &ki);
	pss = ca_rsa_pss(cfg);
	if (ca_csr_create(h, subj, (unsigned)pathlen, pss, &pem, &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	if (a->out != NULL && strcmp(a->out, "-") != 0) {
		if (ca_file_create(a->out, pem, &err) != CS_OK) {
			rc = cli_fail(&err);
			goto out;
		}
	} else if (cli_file_write(NULL, pem, strlen(pem), &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	ca_subject_format(subj, shown, sizeof(shown));
	fprintf(stderr,
	    "certstation: request for '%s' (%s key '%s', %s, CA:TRUE pathlen %lu)%s%s.\n"
	    "Have the offline root sign it as a CA, then: certstation ca install --cert "
	    "ISSUED.pem --chain ROOT.pem\n",
	    shown, hsm_key_type_name(ki.type), ki.key_label,
	    ca_sig_alg_name(ca_sig_alg_for(ki.type, pss)), pathlen,
	    a->out != NULL && strcmp(a->out, "-") != 0 ? " written to " : "",
	    a->out != NULL && strcmp(a->out, "-") != 0 ? a->out : "");
	rc = CLI_EXIT_OK;
out:
	free(pem);
	free(subj);
	hsm_close(h);
	config_free(cfg);
	return rc;
}

/* ---- ca install ---- */

static int
ca_cmd_install(const struct ca_args *a, int replace)
{
	struct cs_config *cfg;
	struct hsm_config hc;
	struct hsm_key_info ki;
	struct ca_install_plan plan;
	struct station *st = NULL;
	struct stat sb;
	struct cs_err err;
	const char *chain;
	char nb[32], na[32];
	hsm *h = NULL;
	int rc = CLI_EXIT_FAIL, replaced = 0;

	cs_err_clear(&err);
	memset(&plan, 0, sizeof(plan));
	cfg = ca_config_open(a->config, &err);
	if (cfg == NULL)
		return cli_fail(&err);
	if (cfg->ca_chain == NULL) {
		cs_err_set(&err, CS_ERR_CONFIG,
		    "%s has no ca.chain; add \"chain\": \"root-ca.pem\" to its \"ca\" section: the "
		    "certificates above the issuing CA, up to the root, are installed there",
		    cfg->path);
		rc = cli_fail(&err);
		goto out;
	}
	ca_hsm_config(cfg, 0, &hc);
	h = hsm_open(&hc, &err);
	if (h == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	hsm_key_info_get(h, &ki);
	/* Without --chain: the chain already installed (renewing the issuing
	 * CA under the same root). */
	chain = a->chain;
	if (chain == NULL && stat(cfg->ca_chain, &sb) == 0)
		chain = cfg->ca_chain;
	if (ca_install_check(a->cert, chain, &ki, (int64_t)time(NULL), &plan, &err) != CS_OK ||
	    ca_install_write(&plan, cfg->ca_certificate, cfg->ca_chain,
		replace ? CA_INSTALL_REPLACE : 0, &ki, ca_rsa_pss(cfg), &replaced, &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	hsm_close(h);
	h = NULL;
	cs_time_text(plan.not_before, nb, sizeof(nb));
	cs_time_text(plan.not_after, na, sizeof(na));
	printf("Installed the issuing CA certificate %s\n  valid %s .. %s\n", plan.subject, nb, na);
	printf("  certificate: %s\n", cfg->ca_certificate);
	printf("  chain:       %s: %zu certificate%s up to %s\n", cfg->ca_chain, plan.chain_count,
	    plan.chain_count == 1 ? "" : "s", plan.root_subject);
	if (replaced & CA_INSTALL_REPLACED_CERT)
		printf("  replaced:    the old certificate is kept as %s.previous\n",
		    cfg->ca_certificate);
	if (replaced & CA_INSTALL_REPLACED_CHAIN)
		printf("  replaced:    the old chain is kept as %s.previous\n", cfg->ca_chain);
	for (size_t i = 0; i < cfg->profile_count; i++) {
		const struct profile *pr = &cfg->profiles[i];
		int64_t until = plan.not_before + pr->backdate_seconds;
		char t[32];

		if (pr->backdate_seconds <= 0 || until <= (int64_t)time(NULL))
			continue;
		cs_time_text(until, t, sizeof(t));
		printf("  note:        profile '%s' backdates notBefore by %lld s; until %s its "
		       "certificates would start before this CA's and are refused (precheck-failed)\n",
		    pr->name, (long long)pr->backdate_seconds, t);
	}
	if (plan.unused_count > 0)
		printf("  left out:    %zu certificate%s of %s not on the path to the root\n",
		    plan.unused_count, plan.unused_count == 1 ? "" : "s", chain);

	/* The proof: the station opens with it, as it will at start. */
	st = station_open(cfg->path, STATION_OPEN_NO_LEDGER, &err);
	if (st == NULL) {
		rc = cli_fail(&err);
		goto out;
	}
	printf("The station loads it. Check: certstation ca show --config %s\n", cfg->path);
	rc = CLI_EXIT_OK;
out:
	station_close(st);
	ca_install_plan_clear(&plan);
	hsm_close(h);
	config_free(cfg);
	return rc;
}

/* ---- ca verification-cert ---- */

static int
ca_cmd_verification_cert(const struct ca_args *a, const char *code)
{
	struct station *st;
	struct cs_err err;
	uint8_t der[CERT_MAX_DER];
	size_t der_len = 0;
	char *pem = NULL;
	int rc;

	cs_err_clear(&err);
	st = station_open(cli_config_path(a->config), STATION_OPEN_NO_LEDGER, &err);
	if (st == NULL)
		return cli_fail(&err);
	if (station_verification_cert(st, code, der, sizeof(der), &der_len, &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	pem = issuer_cert_pem(der, der_len);
	if (pem == NULL || cli_file_write(a->out, pem, strlen(pem), &err) != CS_OK) {
		rc = cli_fail(&err);
		goto out;
	}
	fprintf(stderr, "certstation: verification certificate for code '%s' signed by '%s'\n", code,
	    st->ca->chain[0].subject);
	rc = CLI_EXIT_OK;
out:
	free(pem);
	station_close(st);
	return rc;
}

static const char *
ca_opt_name(unsigned bit)
{
	switch (bit) {
	case CA_OPT_CONFIG:
		return "--config";
	case CA_OPT_OUT:
		return "--out";
	case CA_OPT_KEY_TYPE:
		return "--key-type";
	case CA_OPT_SUBJECT:
		return "--subject";
	case CA_OPT_PATHLEN:
		return "--pathlen";
	case CA_OPT_CERT:
		return "--cert";
	case CA_OPT_CHAIN:
		return "--chain";
	default:
		return "--replace";
	}
}

int
cli_ca_main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"out", required_argument, NULL, 'o'},
	    {"key-type", required_argument, NULL, 'k'},
	    {"subject", required_argument, NULL, 's'},
	    {"pathlen", required_argument, NULL, 'p'},
	    {"cert", required_argument, NULL, 'C'},
	    {"chain", required_argument, NULL, 'H'},
	    {"replace", no_argument, NULL, 'r'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	static const struct {
		const char *name;
		unsigned allowed, required;
		int operands;
	} subs[] = {
	    {"show", CA_OPT_CONFIG, 0, 0},
	    {"keygen", CA_OPT_CONFIG | CA_OPT_KEY_TYPE, CA_OPT_KEY_TYPE, 0},
	    {"csr", CA_OPT_CONFIG | CA_OPT_SUBJECT | CA_OPT_PATHLEN | CA_OPT_OUT, CA_OPT_SUBJECT, 0},
	    {"install", CA_OPT_CONFIG | CA_OPT_CERT | CA_OPT_CHAIN | CA_OPT_REPLACE, CA_OPT_CERT, 0},
	    {"verification-cert", CA_OPT_CONFIG | CA_OPT_OUT, 0, 1},
	};
	struct ca_args a;
	const char *sub;
	size_t k;
	int c;

	memset(&a, 0, sizeof(a));
	if (argc < 2) {
		fputs(ca_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	if (cli_group_help(argc, argv, ca_usage))
		return CLI_EXIT_OK;
	sub = argv[1];
	argc--;
	argv++;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			a.config = optarg;
			a.seen |= CA_OPT_CONFIG;
			break;
		case 'o':
			a.out = optarg;
			a.seen |= CA_OPT_OUT;
			break;
		case 'k':
			a.key_type = optarg;
			a.seen |= CA_OPT_KEY_TYPE;
			break;
		case 's':
			a.subject = optarg;
			a.seen |= CA_OPT_SUBJECT;
			break;
		case 'p':
			a.pathlen = optarg;
			a.seen |= CA_OPT_PATHLEN;
			break;
		case 'C':
			a.cert = optarg;
			a.seen |= CA_OPT_CERT;
			break;
		case 'H':
			a.chain = optarg;
			a.seen |= CA_OPT_CHAIN;
			break;
		case 'r':
			a.seen |= CA_OPT_REPLACE;
			break;
		case 'h':
			fputs(ca_usage, stdout);
			return CLI_EXIT_OK;
		default:
			fputs(ca_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	for (k = 0; k < sizeof(subs) / sizeof(subs[0]); k++)
		if (strcmp(sub, subs[k].name) == 0)
			break;
	if (k == sizeof(subs) / sizeof(subs[0])) {
		fprintf(stderr, "certstation: unknown ca subcommand '%s'\n", sub);
		fputs(ca_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	for (unsigned bit = 1; bit <= CA_OPT_REPLACE; bit <<= 1) {
		if ((a.seen & bit) != 0 && (subs[k].allowed & bit) == 0) {
			fprintf(stderr, "certstation: ca %s does not take %s\n", sub, ca_opt_name(bit));
			fputs(ca_usage, stderr);
			return CLI_EXIT_USAGE;
		}
		if ((subs[k].required & bit) != 0 && (a.seen & bit) == 0) {
			fprintf(stderr, "certstation: ca %s needs %s\n", sub, ca_opt_name(bit));
			fputs(ca_usage, stderr);
			return CLI_EXIT_USAGE;
		}
	}
	if (argc - optind != subs[k].operands) {
		fprintf(stderr, "certstation: ca %s: %s\n", sub,
		    subs[k].operands == 0 ? "unexpected argument" : "give exactly one CODE");
		fputs(ca_usage, stderr);
		return CLI_EXIT_USAGE;
	}
	switch (k) {
	case 0:
		return ca_cmd_show(&a);
	case 1:
		return ca_cmd_keygen(&a);
	case 2:
		return ca_cmd_csr(&a);
	case 3:
		return ca_cmd_install(&a, (a.seen & CA_OPT_REPLACE) != 0);
	default:
		return ca_cmd_verification_cert(&a, argv[optind]);
	}
}
