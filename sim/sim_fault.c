/*
 * sim_fault.c: "--fault KIND[:WHICH]" specs and which device they hit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "sim/sim.h"

static const struct {
	enum sim_fault_kind kind;
	const char *name;
	const char *what;
	int expect_fail;
} sim_faults[] = {
    {SIM_FAULT_NONE, "none", "behaved", 0},
    {SIM_FAULT_GARBAGE, "garbage", "sent random bytes instead of its CSR", 1},
    {SIM_FAULT_NOISE, "noise", "injected a burst of random bytes mid-transfer", 0},
    {SIM_FAULT_DROP, "drop", "pulled the cable mid-chain", 1},
    {SIM_FAULT_STALL, "stall", "stopped answering after HELLO", 1},
    {SIM_FAULT_BAD_SIG, "bad-sig", "sent a CSR with a corrupted signature", 1},
    {SIM_FAULT_REPLAY, "replay", "replayed an earlier CSR with its old nonce", 1},
    {SIM_FAULT_WRONG_READBACK, "wrong-readback", "reported a wrong read-back hash", 1},
    {SIM_FAULT_DUP_ID, "dup-id", "reused the previous device's ID with a new key", -1},
    {SIM_FAULT_OFF_LIST, "off-list", "used an ID that no allowlist has", -1},
    {SIM_FAULT_OVERSIZE, "oversize", "sent more than the station's frame/line limit", 1},
    {SIM_FAULT_BAD_VERSION, "bad-version", "said HELLO with protocol version 99", 1},
    {SIM_FAULT_STALL_MID, "stall-mid", "stopped half-way through its CSR", 1},
};

#define SIM_FAULT_KINDS (sizeof(sim_faults) / sizeof(sim_faults[0]))

const char *
sim_fault_name(int kind)
{
	for (size_t i = 0; i < SIM_FAULT_KINDS; i++)
		if ((int)sim_faults[i].kind == kind)
			return sim_faults[i].name;
	return "?";
}

const char *
sim_fault_what(int kind)
{
	for (size_t i = 0; i < SIM_FAULT_KINDS; i++)
		if ((int)sim_faults[i].kind == kind)
			return sim_faults[i].what;
	return "?";
}

int
sim_fault_expect_fail(int kind)
{
	for (size_t i = 0; i < SIM_FAULT_KINDS; i++)
		if ((int)sim_faults[i].kind == kind)
			return sim_faults[i].expect_fail;
	return -1;
}

/* A decimal number 1..max (0 allowed when zero_ok) that is the whole string. */
static int
sim_fault_number(const char *s, uint64_t max, int zero_ok, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max || (v == 0 && !zero_ok))
		return -1;
	*out = v;
	return 0;
}

int
sim_fault_parse(const char *spec, struct sim_fault *out, struct cs_err *err)
{
	const char *colon;
	size_t klen;
	struct sim_fault f = {SIM_FAULT_NONE, SIM_WHICH_ALL, 0, 0};

	if (spec == NULL)
		return cs_err_set(err, CS_ERR_INVALID_ARG, "--fault: missing KIND[:WHICH]");
	colon = strchr(spec, ':');
	klen = colon != NULL ? (size_t)(colon - spec) : strlen(spec);
	for (size_t i = 1; i < SIM_FAULT_KINDS; i++)
		if (strlen(sim_faults[i].name) == klen &&
		    strncmp(spec, sim_faults[i].name, klen) == 0)
			f.kind = sim_faults[i].kind;
	if (f.kind == SIM_FAULT_NONE)
		return cs_err_set(err, CS_ERR_INVALID_ARG,
		                  "--fault '%s': unknown kind; one of garbage, noise, drop, stall, "
		                  "bad-sig, replay, "
		                  "wrong-readback, dup-id, off-list, oversize, bad-version, stall-mid",
		                  spec);
	if (colon != NULL) {
		const char *w = colon + 1;

		if (strncmp(w, "every=", 6) == 0) {
			f.which = SIM_WHICH_EVERY;
			if (sim_fault_number(w + 6, UINT32_MAX, 0, &f.n) != 0)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				                  "--fault '%s': every=K needs K >= 1", spec);
		} else if (strncmp(w, "port=", 5) == 0) {
			/* port=P: every device on port P; port=P.N: its N-th device only */
			char pbuf[16];
			const char *dot = strchr(w + 5, '.');
			size_t plen = dot != NULL ? (size_t)(dot - (w + 5)) : strlen(w + 5);

			f.which = SIM_WHICH_PORT;
			if (plen >= sizeof(pbuf))
				plen = sizeof(pbuf) - 1;
			memcpy(pbuf, w + 5, plen);
			pbuf[plen] = '\0';
			if (sim_fault_number(pbuf, SIM_PORTS_MAX - 1, 1, &f.n) != 0 ||
			    (dot != NULL && sim_fault_number(dot + 1, UINT32_MAX, 0, &f.nth) != 0))
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				                  "--fault '%s': port=P or port=P.N needs P in 0..%d "
				                  "and N >= 1", spec, SIM_PORTS_MAX - 1);
		} else {
			f.which = SIM_WHICH_DEVICE;
			if (sim_fault_number(w, UINT64_MAX, 0, &f.n) != 0)
				return cs_err_set(err, CS_ERR_INVALID_ARG,
				                  "--fault '%s': WHICH is a device number >= 1, "
				                  "every=K or port=P",
				                  spec);
		}
	}
	*out = f;
	return CS_OK;
}

enum sim_fault_kind
sim_fault_pick(const struct sim_fault *list, size_t count, uint64_t number, unsigned port,
    uint64_t nth)
{
	for (size_t i = 0; i < count; i++) {
		const struct sim_fault *f = &list[i];
		int hit = 0;

		switch (f->which) {
		case SIM_WHICH_ALL:
			hit = 1;
			break;
		case SIM_WHICH_DEVICE:
			hit = number == f->n;
			break;
		case SIM_WHICH_EVERY:
			hit = f->n > 0 && number % f->n == 0;
			break;
		case SIM_WHICH_PORT:
			hit = port == f->n && (f->nth == 0 || nth == f->nth);
			break;
		}
		if (hit)
			return f->kind;
	}
	return SIM_FAULT_NONE;
}
