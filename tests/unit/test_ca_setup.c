/*
 * test_ca_setup.c: station/ca_setup.c.
 *
 * 1. The subject parser on valid and hostile input: every refusal with its
 *    own sentence and byte position, every cap at and past its limit.
 * 2. Against a SoftHSM2 token in a temp dir, for P-256, P-384, RSA-2048 and
 *    RSA-2048 with PSS: ca_key_generate() (its CKA_ID found by an id= URI;
 *    a second run refused), ca_csr_create() read back and checked by
 *    OpenSSL alone (signature, subject, every extension, public key), and
 *    ca_install_check() on certificates OpenSSL builds here in software:
 *    the good one, then one for each rule it enforces.
 * 3. ca_install_write(): new files, refusal to overwrite, --replace with
 *    FILE.previous and the old mode, the ca_load() gate, no temp files left.
 */
#include <dirent.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hsm/hsm.h"
#include "station/ca.h"
#include "station/ca_setup.h"
#include "tests/support/check.h"
#include "tests/support/softhsm_fixture.h"

static struct softhsm_fixture fx;
static struct ca_subject subj; /* large: static */

/* ---- 1. subject parser -------------------------------------------------------------------- */

static int
parse(const char *s)
{
	struct cs_err err;

	return ca_subject_parse(s, strlen(s), &subj, &err);
}

/* The parse must fail with code and a message holding needle. */
static void
refuse_n(const char *s, size_t len, int code, const char *needle)
{
	struct cs_err err;
	int rc = ca_subject_parse(s, len, &subj, &err);

	CHECK_INT_EQ(rc, code);
	CHECK_INT_EQ(err.code, code);
	CHECK_MSG_HAS(err, needle);
}

static void
refuse(const char *s, const char *needle)
{
	refuse_n(s, strlen(s), CS_ERR_INVALID_ARG, needle);
}

static char *
repeat(char *buf, const char *prefix, char ch, size_t n)
{
	size_t p = strlen(prefix);

	memcpy(buf, prefix, p);
	memset(buf + p, ch, n);
	buf[p + n] = '\0';
	return buf;
}

static void
test_subject_valid(void)
{
	char buf[2048], out[2048];
	struct cs_err err;
	size_t o;

	CHECK_INT_EQ(parse("/CN=Line 1 Issuing CA/O=Contoso/C=DE"), CS_OK);
	CHECK_INT_EQ(subj.count, 3);
	CHECK_INT_EQ(subj.attr[0].type, CERT_RDN_CN);
	CHECK(strcmp(subj.attr[0].value, "Line 1 Issuing CA") == 0);
	CHECK_INT_EQ(subj.attr[0].len, 17);
	CHECK_INT_EQ(subj.attr[1].type, CERT_RDN_O);
	CHECK_INT_EQ(subj.attr[2].type, CERT_RDN_C);
	CHECK(strcmp(subj.attr[2].value, "DE") == 0);

	/* long names, any case; OU, O, L, ST may repeat; order is kept */
	CHECK_INT_EQ(parse("/organizationalUnitName=A/ou=B/commonName=x/st=Bayern/L=M/o=P/O=Q/"
			   "serialNumber=SN-0042:1"),
	    CS_OK);
	CHECK_INT_EQ(subj.count, 8);
	CHECK_INT_EQ(subj.attr[0].type, CERT_RDN_OU);
	CHECK_INT_EQ(subj.attr[2].type, CERT_RDN_CN);
	CHECK_INT_EQ(subj.attr[3].type, CERT_RDN_ST);
	CHECK_INT_EQ(subj.attr[7].type, CERT_RDN_SERIALNUMBER);

	/* escapes: any byte after '\' is taken as it is */
	CHECK_INT_EQ(parse("/CN=a\\/b\\\\c=d+e\\x"), CS_OK);
	CHECK(strcmp(subj.attr[0].value, "a/b\\c=d+ex") == 0);
	CHECK_INT_EQ(ca_subject_format(&subj, out, sizeof(out)), CS_OK);
	CHECK(strcmp(out, "/CN=a\\/b\\\\c=d+ex") == 0);
	CHECK_INT_EQ(ca_subject_format(&subj, out, 8), CS_ERR_TOO_LARGE);

	/* UTF-8 counts characters: 64 two-byte characters are a valid CN */
	o = 0;
	o += (size_t)snprintf(buf, sizeof(buf), "/CN=");
	for (int i = 0; i < 64; i++)
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\xc3\xa4");
	CHECK_INT_EQ(parse(buf), CS_OK);
	CHECK_INT_EQ(subj.attr[0].len, 128);
	CHECK_INT_EQ(parse("/CN=\xe2\x82\xac \xf0\x9f\x94\x92 M\xc3\xbcnchen"), CS_OK);

	/* RFC 5280 bounds, at the limit */
	CHECK_INT_EQ(parse(repeat(buf, "/CN=", 'a', 64)), CS_OK);
	CHECK_INT_EQ(parse(strcat(repeat(buf, "/CN=x/L=", 'l', 128), "/ST=Bayern")), CS_OK);

	/* 1024 bytes and 16 attributes: accepted */
	o = (size_t)snprintf(buf, sizeof(buf), "/CN=x");
	for (int i = 0; i < 14; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "/OU=");
		memset(buf + o, 'u', 64);
		o += 64;
	}
	o += (size_t)snprintf(buf + o, sizeof(buf) - o, "/L=");
	memset(buf + o, 'l', 1024 - o);
	o = 1024;
	buf[o] = '\0';
	CHECK_INT_EQ(ca_subject_parse(buf, o, &subj, &err), CS_OK);
	CHECK_INT_EQ(subj.count, 16);
	/* one byte more: refused before parsing */
	buf[o] = 'l';
	buf[o + 1] = '\0';
	refuse_n(buf, o + 1, CS_ERR_TOO_LARGE, "subject is 1025 bytes; at most 1024");
}

static void
test_subject_hostile(void)
{
	char buf[2048];

	refuse_n(NULL, 0, CS_ERR_INVALID_ARG, "subject is empty");
	refuse("", "subject is empty");
	refuse("CN=x", "subject byte 1: must start with '/'");
	refuse("/", "subject byte 1: empty component (a '/' at the end)");
	refuse("/CN=x/", "subject byte 6: empty component (a '/' at the end)");
	refuse("/CN=x//O=y", "subject byte 6: empty component (a '/' followed by '/')");
	refuse("/CN", "subject byte 2: component 'CN' has no '='");
	refuse("/CN=x/O", "subject byte 7: component 'O' has no '='");
	refuse("/=x", "subject byte 2: attribute name missing before '='");
	refuse("/CN=a/XX=b", "subject byte 7: unknown attribute 'XX' (known: CN, O, OU, C, ST, L, "
			     "serialNumber)");
	refuse("/CN =a", "unknown attribute 'CN '");
	refuse("/emailAddress=a@b/CN=x", "unknown attribute 'emailAddress'");
	refuse("/\x01\xff'=a", "unknown attribute '\\x01\\xff\\x27'");
	refuse(repeat(buf, "/", 'N', 100), "has no '='");
	refuse(strcat(repeat(buf, "/", 'N', 100), "=x"), "unknown attribute 'NNNNNNNNNNNNNNNNNNNNNNNNNNNNNNNN...'");
	refuse("/CN=", "subject byte 2: CN has an empty value");
	refuse("/CN=x/O=", "subject byte 7: O has an empty value");
	refuse("/CN=x/O=/C=DE", "O has an empty value");
	refuse("/CN= x", "CN begins or ends with a blank");
	refuse("/CN=x ", "CN begins or ends with a blank");
	refuse("/CN= ", "CN begins or ends with a blank");
	refuse("/CN=a\\", "subject byte 6: a '\\' at the end escapes nothing");
	refuse_n("/CN=a\0b", 7, CS_ERR_INVALID_ARG, "subject byte 6: CN contains a NUL byte");
	refuse_n("/CN=a\\\0", 8, CS_ERR_INVALID_ARG, "CN contains a NUL byte");
	refuse("/CN=a\xff", "subject byte 6: CN is not valid UTF-8 (byte 0xff)");
	refuse("/CN=\xc0\x80", "not valid UTF-8 (byte 0xc0)");             /* overlong NUL */
	refuse("/CN=\xe0\x80\xaf", "not valid UTF-8 (byte 0xe0)");         /* overlong '/' */
	refuse("/CN=\xed\xa0\x80", "not valid UTF-8 (byte 0xed)");         /* surrogate */
	refuse("/CN=\xf4\x90\x80\x80", "not valid UTF-8 (byte 0xf4)");     /* above U+10FFFF */
	refuse("/CN=ab\xe2\x82", "subject byte 7: CN is not valid UTF-8"); /* truncated */
	refuse("/CN=a\x80", "not valid UTF-8 (byte 0x80)");                /* lone continuation */
	refuse("/CN=a\x01", "subject byte 6: CN contains the control character U+0001");
	refuse("/CN=a\nb", "control character U+000A");
	refuse("/CN=a\x7f", "control character U+007F");
	refuse("/CN=a\xc2\x85", "control character U+0085");
	refuse("/CN=x/C=de", "C must be a two-letter ISO 3166 country code in capitals");
	refuse("/CN=x/C=DEU", "got 'DEU'");
	refuse("/CN=x/C=D", "C must be a two-letter");
	refuse("/CN=x/C=D1", "C must be a two-letter");
	refuse("/CN=x/C=\xc3\x84\xc3\x84", "PrintableString");
	refuse("/CN=x/serialNumber=SN_1", "serialNumber may hold only A-Z");
	refuse("/CN=x/serialNumber=a@b", "PrintableString");
	refuse(repeat(buf, "/CN=", 'a', 65), "CN is 65 characters; RFC 5280 allows at most 64");
	refuse(repeat(buf, "/CN=x/O=", 'o', 65), "O is 65 characters");
	refuse(repeat(buf, "/CN=x/OU=", 'o', 65), "OU is 65 characters");
	refuse(repeat(buf, "/CN=x/L=", 'l', 129), "L is 129 characters; RFC 5280 allows at most 128");
	refuse(repeat(buf, "/CN=x/ST=", 's', 129), "ST is 129 characters");
	refuse(repeat(buf, "/CN=x/serialNumber=", '1', 65), "serialNumber is 65 characters");
	refuse(repeat(buf, "/CN=x/L=", 'l', 513), "subject byte 7: L is longer than 512 bytes");
	refuse("/CN=a/CN=b", "subject byte 7: CN appears twice (first at byte 2)");
	refuse("/cn=a/commonName=b", "CN appears twice");
	refuse("/CN=a/C=DE/C=FR", "C appears twice");
	refuse("/CN=a/serialNumber=1/serialNumber=2", "serialNumber appears twice");
	refuse("/O=Contoso/C=DE", "subject has no CN");
	{
		size_t o = (size_t)snprintf(buf, sizeof(buf), "/CN=x");
		for (int i = 0; i < 16; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "/OU=u");
		refuse(buf, "more than 16 attributes");
	}
	/* a refused parse leaves no attribute behind */
	CHECK_INT_EQ(parse("/CN=ok/XX=1"), CS_ERR_INVALID_ARG);
}

/* ---- 2. key, request, installation checks ----------------------------------------------- */

static EVP_PKEY *
pub_of(const struct hsm_key_info *ki)
{
	const unsigned char *p = ki->spki;

	return d2i_PUBKEY(NULL, &p, (long)ki->spki_len);
}

static int
add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok == 1 ? 0 : -1;
}

/* A certificate for pub named cn, signed by issuer_key (issuer NULL:
 * self-signed); bc/ku NULL leave the extension out. */
static X509 *
make_cert(EVP_PKEY *pub, const char *cn, X509 *issuer, EVP_PKEY *issuer_key, const char *bc,
    const char *ku, int64_t nb, int64_t na)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	uint8_t serial[8];

	RAND_bytes(serial, sizeof(serial));
	serial[0] &= 0x7f;
	X509_set_version(x, X509_VERSION_3);
	ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), ((uint64_t)serial[0] << 56) | serial[1] | 1);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : name);
	X509_NAME_free(name);
	ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb);
	ASN1_TIME_set(X509_getm_notAfter(x), (time_t)na);
	X509_set_pubkey(x, pub);
	if ((bc != NULL && add_ext(x, issuer != NULL ? issuer : x, NID_basic_constraints, bc) != 0) ||
	    (ku != NULL && add_ext(x, issuer != NULL ? issuer : x, NID_key_usage, ku) != 0) ||
	    add_ext(x, issuer != NULL ? issuer : x, NID_subject_key_identifier, "hash") != 0 ||
	    add_ext(x, issuer != NULL ? issuer : x, NID_authority_key_identifier, "keyid:always") !=
		0 ||
	    X509_sign(x, issuer_key, EVP_sha256()) <= 0) {
		X509_free(x);
		return NULL;
	}
	return x;
}

static void
write_pem(const char *path, X509 *a, X509 *b, X509 *c)
{
	FILE *f = fopen(path, "w");
	X509 *xs[3] = {a, b, c};

	CHECK(f != NULL);
	if (f == NULL)
		return;
	for (int i = 0; i < 3; i++)
		if (xs[i] != NULL)
			PEM_write_X509(f, xs[i]);
	fclose(f);
}

static char *
path_in(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", fx.dir, name);

	CHECK(n > 0 && (size_t)n < cap);
	return buf;
}

static int
temp_files_in(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".tmp") != NULL)
			n++;
	closedir(d);
	return n;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		return NULL;
	buf = calloc(1, 65536);
	n = buf != NULL ? fread(buf, 1, 65535, f) : 0;
	fclose(f);
	if (buf != NULL)
		buf[n] = '\0';
	return buf;
}

/* The request, checked with OpenSSL only. */
static void
check_request(const char *pem, const struct hsm_key_info *ki, unsigned pathlen, int sig_nid,
    const char *want_subject)
{
	BIO *b = BIO_new_mem_buf(pem, -1);
	X509_REQ *req = PEM_read_bio_X509_REQ(b, NULL, NULL, NULL);
	EVP_PKEY *pub = pub_of(ki);
	STACK_OF(X509_EXTENSION) *exts = NULL;
	unsigned char *spki = NULL;
	BASIC_CONSTRAINTS *bc = NULL;
	ASN1_BIT_STRING *ku = NULL;
	ASN1_OCTET_STRING *ski = NULL;
	char subject[512] = "";
	uint8_t want_ski[20];
	BIO *mem;
	int n, crit = 0;

	CHECK(req != NULL);
	if (req == NULL)
		goto out;
	CHECK_INT_EQ(X509_REQ_verify(req, pub), 1);
	CHECK_INT_EQ(X509_REQ_get_version(req), 0);
	CHECK_INT_EQ(X509_REQ_get_signature_nid(req), sig_nid);
	n = i2d_X509_PUBKEY(X509_REQ_get_X509_PUBKEY(req), &spki);
	CHECK(n > 0 && (size_t)n == ki->spki_len && memcmp(spki, ki->spki, ki->spki_len) == 0);
	mem = BIO_new(BIO_s_mem());
	X509_NAME_print_ex(mem, X509_REQ_get_subject_name(req), 0, XN_FLAG_RFC2253);
	n = BIO_read(mem, subject, sizeof(subject) - 1);
	subject[n > 0 ? n : 0] = '\0';
	BIO_free(mem);
	CHECK(strcmp(subject, want_subject) == 0);
	if (strcmp(subject, want_subject) != 0)
		fprintf(stderr, "subject %s, want %s\n", subject, want_subject);

	exts = X509_REQ_get_extensions(req);
	CHECK_INT_EQ(sk_X509_EXTENSION_num(exts), 3);
	bc = X509V3_get_d2i(exts, NID_basic_constraints, &crit, NULL);
	CHECK(bc != NULL && bc->ca && crit == 1);
	CHECK(bc != NULL && bc->pathlen != NULL && ASN1_INTEGER_get(bc->pathlen) == (long)pathlen);
	ku = X509V3_get_d2i(exts, NID_key_usage, &crit, NULL);
	CHECK(ku != NULL && crit == 1);
	CHECK(ku != NULL && ASN1_BIT_STRING_get_bit(ku, 5) && ASN1_BIT_STRING_get_bit(ku, 6));
	CHECK(ku != NULL && !ASN1_BIT_STRING_get_bit(ku, 0) && !ASN1_BIT_STRING_get_bit(ku, 2));
	ski = X509V3_get_d2i(exts, NID_subject_key_identifier, &crit, NULL);
	CHECK(ski != NULL && crit == 0);
	CHECK_INT_EQ(cert_ski_from_spki(ki->spki, ki->spki_len, want_ski), 0);
	CHECK(ski != NULL && ASN1_STRING_length(ski) == 20 &&
	    memcmp(ASN1_STRING_get0_data(ski), want_ski, 20) == 0);
out:
	ASN1_OCTET_STRING_free(ski);
	ASN1_BIT_STRING_free(ku);
	BASIC_CONSTRAINTS_free(bc);
	sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
	OPENSSL_free(spki);
	EVP_PKEY_free(pub);
	X509_REQ_free(req);
	BIO_free(b);
}

static void
refuse_install(const char *cert, const char *chain, const struct hsm_key_info *ki, int64_t now,
    int code, const char *needle)
{
	struct ca_install_plan plan;
	struct cs_err err;

	CHECK_INT_EQ(ca_install_check(cert, chain, ki, now, &plan, &err), code);
	CHECK_MSG_HAS(err, needle);
	CHECK(plan.cert_pem == NULL && plan.chain_pem == NULL);
}

static void
test_install_checks(const struct hsm_key_info *ki, const char *tag)
{
	char p_cert[512], p_root[512], p_int[512], p_chain[512], p_tmp[64];
	int64_t now = (int64_t)time(NULL), day = 86400;
	EVP_PKEY *pub = pub_of(ki);
	EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *ik = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	X509 *root = make_cert(rk, "Test Root", NULL, rk, "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", now - day, now + 3650 * day);
	X509 *root2 = make_cert(ik, "Other Root", NULL, ik, "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", now - day, now + 3650 * day);
	X509 *inter = make_cert(ik, "Test Intermediate", root, rk, "critical,CA:TRUE,pathlen:1",
	    "critical,keyCertSign,cRLSign", now - day, now + 3000 * day);
	X509 *good = make_cert(pub, "Line CA", root, rk, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", now - day, now + 1000 * day);
	X509 *via = make_cert(pub, "Line CA", inter, ik, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", now - day, now + 1000 * day);
	struct ca_install_plan plan;
	struct cs_err err;
	X509 *x;

	CHECK(root != NULL && inter != NULL && good != NULL && via != NULL && root2 != NULL);
	snprintf(p_tmp, sizeof(p_tmp), "%s-cert.pem", tag);
	path_in(p_cert, sizeof(p_cert), p_tmp);
	path_in(p_root, sizeof(p_root), "root.pem");
	path_in(p_int, sizeof(p_int), "int.pem");
	path_in(p_chain, sizeof(p_chain), "chain.pem");
	write_pem(p_root, root, NULL, NULL);
	write_pem(p_int, inter, NULL, NULL);

	/* the good one, with the root alone and with an intermediate (given
	 * root first, plus an unrelated root: the plan holds the path) */
	write_pem(p_cert, good, NULL, NULL);
	CHECK_INT_EQ(ca_install_check(p_cert, p_root, ki, now, &plan, &err), CS_OK);
	CHECK_INT_EQ(plan.chain_count, 1);
	CHECK_INT_EQ(plan.unused_count, 0);
	CHECK(strcmp(plan.subject, "/CN=Line CA") == 0);
	CHECK(strcmp(plan.root_subject, "/CN=Test Root") == 0);
	CHECK(plan.not_before == now - day);
	ca_install_plan_clear(&plan);
	CHECK(plan.cert_pem == NULL);
	ca_install_plan_clear(NULL);
	write_pem(p_cert, via, NULL, NULL);
	write_pem(p_chain, root, root2, inter);
	CHECK_INT_EQ(ca_install_check(p_cert, p_chain, ki, now, &plan, &err), CS_OK);
	CHECK_INT_EQ(plan.chain_count, 2);
	CHECK_INT_EQ(plan.unused_count, 1);
	{
		BIO *b = BIO_new_mem_buf(plan.chain_pem != NULL ? plan.chain_pem : "", -1);
		X509 *first = PEM_read_bio_X509(b, NULL, NULL, NULL);
		X509 *second = PEM_read_bio_X509(b, NULL, NULL, NULL);

		CHECK(first != NULL && X509_cmp(first, inter) == 0);
		CHECK(second != NULL && X509_cmp(second, root) == 0);
		X509_free(first);
		X509_free(second);
		BIO_free(b);
	}
	ca_install_plan_clear(&plan);

	/* one refusal per rule, in the order they are checked */
	x = make_cert(other, "Line CA", root, rk, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", now - day, now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_HSM_KEY_MISMATCH,
	    "is a certificate for another key");
	x = make_cert(pub, "Line CA", root, rk, NULL, "critical,keyCertSign,cRLSign", now - day,
	    now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "has no basicConstraints");
	x = make_cert(pub, "Line CA", root, rk, "critical,CA:FALSE", "critical,keyCertSign",
	    now - day, now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "basicConstraints CA:FALSE");
	x = make_cert(pub, "Line CA", root, rk, "critical,CA:TRUE", NULL, now - day,
	    now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "has no keyUsage extension");
	x = make_cert(pub, "Line CA", root, rk, "critical,CA:TRUE", "critical,digitalSignature",
	    now - day, now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG,
	    "keyUsage lacks keyCertSign (it allows digitalSignature)");
	x = make_cert(pub, "Line CA", root, rk, "critical,CA:TRUE", "critical,keyCertSign",
	    now - 10 * day, now - day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "has expired: notAfter");
	x = make_cert(pub, "Line CA", root, rk, "critical,CA:TRUE", "critical,keyCertSign",
	    now + day, now + 10 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "is not valid yet: notBefore");
	/* the same certificate is fine at a time inside its validity */
	CHECK_INT_EQ(ca_install_check(p_cert, p_root, ki, now + 2 * day, &plan, &err), CS_OK);
	ca_install_plan_clear(&plan);

	write_pem(p_cert, via, NULL, NULL);
	refuse_install(p_cert, p_int, ki, now, CS_ERR_INVALID_ARG,
	    "no self-signed root certificate among its 1 certificate");
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG,
	    "lacks the certificate that issued it");
	refuse_install(p_cert, NULL, ki, now, CS_ERR_INVALID_ARG, "no --chain given");
	write_pem(p_chain, root2, NULL, NULL);
	write_pem(p_cert, good, NULL, NULL);
	refuse_install(p_cert, p_chain, ki, now, CS_ERR_INVALID_ARG,
	    "does not verify up to a self-signed root");
	/* strict: a CA certificate without critical basicConstraints */
	x = make_cert(pub, "Line CA", root, rk, "CA:TRUE", "critical,keyCertSign", now - day,
	    now + 1000 * day);
	write_pem(p_cert, x, NULL, NULL);
	X509_free(x);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "Basic Constraints");
	/* files */
	write_pem(p_cert, good, root, NULL);
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG,
	    "the --cert file holds more than 1 certificate");
	{
		FILE *f = fopen(p_cert, "w");

		fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
		    f);
		fclose(f);
	}
	refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG, "cannot be read");
	{
		FILE *f = fopen(p_cert, "w");
		unsigned char *der = NULL;
		int n = i2d_X509(good, &der);

		fwrite(der, 1, (size_t)n, f); /* DER is accepted ... */
		fclose(f);
		CHECK_INT_EQ(ca_install_check(p_cert, p_root, ki, now, &plan, &err), CS_OK);
		ca_install_plan_clear(&plan);
		f = fopen(p_cert, "w");
		fwrite(der, 1, (size_t)n - 1, f); /* ... whole */
		fclose(f);
		refuse_install(p_cert, p_root, ki, now, CS_ERR_INVALID_ARG,
		    "neither PEM nor one DER certificate");
		OPENSSL_free(der);
	}
	refuse_install(path_in(p_tmp, sizeof(p_tmp), "missing.pem"), p_root, ki, now,
	    CS_ERR_NOT_FOUND, "missing.pem");
	{
		FILE *f = fopen(p_cert, "w");

		for (int i = 0; i < 70000; i++)
			fputc('A', f);
		fclose(f);
	}
	refuse_install(p_cert, p_root, ki, now, CS_ERR_TOO_LARGE, "at most 65536 bytes");
	{
		X509 *nine[9] = {root, root, root, root, root, root, root, root, root};
		FILE *f = fopen(p_chain, "w");

		for (int i = 0; i < 9; i++)
			PEM_write_X509(f, nine[i]);
		fclose(f);
		write_pem(p_cert, good, NULL, NULL);
		refuse_install(p_cert, p_chain, ki, now, CS_ERR_INVALID_ARG,
		    "holds more than 7 certificates");
	}

	X509_free(root);
	X509_free(root2);
	X509_free(inter);
	X509_free(good);
	X509_free(via);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(rk);
	EVP_PKEY_free(ik);
	EVP_PKEY_free(other);
}

/* ---- 3. writing the files ------------------------------------------------------------------ */

static void
test_install_write(const struct hsm_key_info *ki)
{
	char dir[512], p_cert[600], p_chain[600], p_prev[640], p_src[512], p_root[512];
	int64_t now = (int64_t)time(NULL), day = 86400;
	EVP_PKEY *pub = pub_of(ki);
	EVP_PKEY *rk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *root = make_cert(rk, "Write Root", NULL, rk, "critical,CA:TRUE",
	    "critical,keyCertSign,cRLSign", now - day, now + 3650 * day);
	X509 *good = make_cert(pub, "Line CA 1", root, rk, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", now - day, now + 1000 * day);
	X509 *good2 = make_cert(pub, "Line CA 2", root, rk, "critical,CA:TRUE,pathlen:0",
	    "critical,keyCertSign,cRLSign", now - day, now + 1000 * day);
	struct ca_install_plan plan, plan2;
	struct cs_err err;
	struct stat st;
	struct ca *ca;
	char *text, *old_cert;
	int replaced = -1;

	path_in(dir, sizeof(dir), "install");
	CHECK(mkdir(dir, 0755) == 0);
	snprintf(p_cert, sizeof(p_cert), "%s/issuing-ca.pem", dir);
	snprintf(p_chain, sizeof(p_chain), "%s/root-ca.pem", dir);
	path_in(p_src, sizeof(p_src), "write-src.pem");
	path_in(p_root, sizeof(p_root), "write-root.pem");
	write_pem(p_root, root, NULL, NULL);
	write_pem(p_src, good, NULL, NULL);
	CHECK_INT_EQ(ca_install_check(p_src, p_root, ki, now, &plan, &err), CS_OK);
	write_pem(p_src, good2, NULL, NULL);
	CHECK_INT_EQ(ca_install_check(p_src, p_root, ki, now, &plan2, &err), CS_OK);

	/* same file for both: refused */
	CHECK_INT_EQ(ca_install_write(&plan, p_cert, p_cert, 0, ki, 0, NULL, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "are the same file");

	/* new files; ca_load() accepts them */
	CHECK_INT_EQ(ca_install_write(&plan, p_cert, p_chain, 0, ki, 0, &replaced, &err), CS_OK);
	CHECK_INT_EQ(replaced, 0);
	text = slurp(p_cert);
	CHECK(text != NULL && strcmp(text, plan.cert_pem) == 0);
	free(text);
	text = slurp(p_chain);
	CHECK(text != NULL && strcmp(text, plan.chain_pem) == 0);
	free(text);
	CHECK(stat(p_cert, &st) == 0 && (st.st_mode & 0777) == 0644);
	ca = ca_load(p_cert, p_chain, ki, 0, &err);
	CHECK(ca != NULL && ca->chain_len == 2 && ca->has_root);
	ca_free(ca);
	CHECK_INT_EQ(temp_files_in(dir), 0);

	/* not over them without CA_INSTALL_REPLACE; nothing changes */
	old_cert = slurp(p_cert);
	CHECK_INT_EQ(ca_install_write(&plan2, p_cert, p_chain, 0, ki, 0, NULL, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "already exists (and so does the chain file); nothing written");
	CHECK_MSG_HAS(err, "--replace");
	text = slurp(p_cert);
	CHECK(text != NULL && old_cert != NULL && strcmp(text, old_cert) == 0);
	free(text);
	/* only the chain there is enough to refuse */
	unlink(p_cert);
	CHECK_INT_EQ(ca_install_write(&plan2, p_cert, p_chain, 0, ki, 0, NULL, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "root-ca.pem already exists;");
	CHECK(stat(p_cert, &st) != 0);
	CHECK_INT_EQ(ca_install_write(&plan, p_cert, p_chain, CA_INSTALL_REPLACE, ki, 0, &replaced,
			 &err),
	    CS_OK);
	CHECK_INT_EQ(replaced, CA_INSTALL_REPLACED_CHAIN);

	/* with it: the old files become .previous; the new one takes the old mode */
	CHECK(chmod(p_cert, 0640) == 0);
	CHECK_INT_EQ(ca_install_write(&plan2, p_cert, p_chain, CA_INSTALL_REPLACE, ki, 0, &replaced,
			 &err),
	    CS_OK);
	CHECK_INT_EQ(replaced, CA_INSTALL_REPLACED_CERT | CA_INSTALL_REPLACED_CHAIN);
	text = slurp(p_cert);
	CHECK(text != NULL && strcmp(text, plan2.cert_pem) == 0);
	free(text);
	snprintf(p_prev, sizeof(p_prev), "%s.previous", p_cert);
	text = slurp(p_prev);
	CHECK(text != NULL && old_cert != NULL && strcmp(text, old_cert) == 0);
	free(text);
	CHECK(stat(p_cert, &st) == 0 && (st.st_mode & 0777) == 0640);
	CHECK(stat(p_prev, &st) == 0 && (st.st_mode & 0777) == 0640);
	snprintf(p_prev, sizeof(p_prev), "%s.previous", p_chain);
	CHECK(stat(p_prev, &st) == 0);
	CHECK_INT_EQ(temp_files_in(dir), 0);

	/* the ca_load() gate: a plan the station would not load is not
	 * installed (here: a certificate for another key) */
	{
		struct hsm_key_info wrong = *ki;

		wrong.spki[wrong.spki_len - 1] ^= 0x01;
		CHECK_INT_EQ(ca_install_write(&plan, p_cert, p_chain, CA_INSTALL_REPLACE, &wrong, 0,
				 NULL, &err),
		    CS_ERR_HSM_KEY_MISMATCH);
		text = slurp(p_cert);
		CHECK(text != NULL && strcmp(text, plan2.cert_pem) == 0);
		free(text);
		CHECK_INT_EQ(temp_files_in(dir), 0);
	}
	/* a directory that does not exist */
	{
		char bad[700];

		snprintf(bad, sizeof(bad), "%s/nope/issuing-ca.pem", dir);
		CHECK_INT_EQ(ca_install_write(&plan, bad, p_chain, CA_INSTALL_REPLACE, ki, 0, NULL,
				 &err),
		    CS_ERR_IO);
		CHECK_MSG_HAS(err, "cannot create a temporary file beside it");
		CHECK_INT_EQ(temp_files_in(dir), 0);
	}

	free(old_cert);
	ca_install_plan_clear(&plan);
	ca_install_plan_clear(&plan2);
	X509_free(root);
	X509_free(good);
	X509_free(good2);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(rk);
}

/* keygen + request for one key type (and the PSS variant for RSA). */
static void
test_key_and_request(const char *label, enum hsm_key_type type, int rsa_pss, int sig_nid,
    int install)
{
	char uri[1024], uri_id[1200];
	struct hsm_config hc;
	struct ca_keygen_result res, again;
	struct hsm_key_info ki;
	struct cs_err err;
	char *pem = NULL;
	hsm *h;

	CHECK_INT_EQ(softhsm_fixture_uri(&fx, label, uri, sizeof(uri)), CS_OK);
	memset(&hc, 0, sizeof(hc));
	hc.uri = uri;
	hc.sessions = 1;
	CHECK_INT_EQ(ca_key_generate(&hc, type, &res, &err), CS_OK);
	if (err.code != CS_OK)
		fprintf(stderr, "%s: %s\n", label, err.msg);
	CHECK_INT_EQ(res.key.type, type);
	CHECK(strcmp(res.key.key_label, label) == 0);
	CHECK(res.key.sensitive && !res.key.extractable);
	CHECK_INT_EQ(res.id_len, 8);
	CHECK(strstr(res.key.uri, "pin-source") == NULL && strstr(res.key.uri, "id=") == NULL);
	{
		uint8_t h256[32];

		EVP_Digest(res.key.spki, res.key.spki_len, h256, NULL, EVP_sha256(), NULL);
		CHECK(memcmp(h256, res.spki_sha256, 32) == 0);
	}
	/* a second keygen is refused and names `ca show` */
	CHECK_INT_EQ(ca_key_generate(&hc, type, &again, &err), CS_ERR_CONFIG);
	CHECK_MSG_HAS(err, "already holds the key");
	CHECK_MSG_HAS(err, "certstation ca show");

	/* the key is found by the reported CKA_ID alone (id=, no object=) */
	{
		char hexid[3 * P11_URI_ID_MAX + 1] = "";
		size_t o = 0;

		for (size_t i = 0; i < res.id_len; i++)
			o += (size_t)snprintf(hexid + o, sizeof(hexid) - o, "%%%02x", res.id[i]);
		snprintf(uri_id, sizeof(uri_id), "pkcs11:token=%s;id=%s?pin-source=file:%s", fx.label,
		    hexid, fx.pin_path);
		hc.uri = uri_id;
		h = hsm_open(&hc, &err);
		CHECK(h != NULL);
		if (h == NULL)
			fprintf(stderr, "%s: open by id: %s\n", label, err.msg);
		CHECK(h != NULL && hsm_key_info_get(h, &ki) == CS_OK && strcmp(ki.key_label, label) == 0);
		hsm_close(h);
		hc.uri = uri;
	}

	h = hsm_open(&hc, &err);
	CHECK(h != NULL);
	if (h == NULL)
		return;
	CHECK_INT_EQ(hsm_key_info_get(h, &ki), CS_OK);
	CHECK_INT_EQ(parse("/CN=Line 1 Issuing CA/O=Contoso \\/ Werk 2/C=DE"), CS_OK);
	CHECK_INT_EQ(ca_csr_create(h, &subj, 0, rsa_pss, &pem, &err), CS_OK);
	CHECK(pem != NULL && strncmp(pem, "-----BEGIN CERTIFICATE REQUEST-----\n", 36) == 0);
	if (pem != NULL)
		check_request(pem, &ki, 0, sig_nid, "C=DE,O=Contoso / Werk 2,CN=Line 1 Issuing CA");
	free(pem);
	pem = NULL;
	CHECK_INT_EQ(parse("/CN=\xc3\x84rger/serialNumber=42"), CS_OK);
	CHECK_INT_EQ(ca_csr_create(h, &subj, 3, rsa_pss, &pem, &err), CS_OK);
	if (pem != NULL)
		check_request(pem, &ki, 3, sig_nid, "serialNumber=42,CN=\\C3\\84rger");
	free(pem);
	pem = NULL;
	CHECK_INT_EQ(ca_csr_create(h, &subj, CA_PATHLEN_MAX + 1, rsa_pss, &pem, &err),
	    CS_ERR_INVALID_ARG);
	CHECK_MSG_HAS(err, "pathlen 17 is above 16");
	CHECK(pem == NULL);
	if (install) {
		test_install_checks(&ki, label);
		test_install_write(&ki);
	}
	hsm_close(h);
}

int
main(void)
{
	struct cs_err err;

	test_subject_valid();
	test_subject_hostile();

	if (softhsm_fixture_setup(&fx, NULL, NULL, NULL, NULL, &err) != CS_OK) {
		fprintf(stderr, "softhsm fixture: %s\n", err.msg);
		return 1;
	}
	test_key_and_request("ca-p256", HSM_KEY_EC_P256, 0, NID_ecdsa_with_SHA256, 1);
	test_key_and_request("ca-p384", HSM_KEY_EC_P384, 0, NID_ecdsa_with_SHA384, 0);
	test_key_and_request("ca-rsa", HSM_KEY_RSA_2048, 0, NID_sha256WithRSAEncryption, 0);
	test_key_and_request("ca-rsa-pss", HSM_KEY_RSA_2048, 1, NID_rsassaPss, 0);
	softhsm_fixture_cleanup(&fx);
	return check_finish("test_ca_setup");
}
