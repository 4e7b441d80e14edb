#include <string.h>

#include "station/cs_error.h"
#include "tests/support/check.h"

int
main(void)
{
	struct cs_err err;

	CHECK(strcmp(cs_reason_name(CS_ERR_CSR_SIGNATURE), "csr-signature") == 0);
	CHECK(strcmp(cs_reason_name(12345), "unknown") == 0);
	CHECK_INT_EQ(cs_err_set(&err, CS_ERR_POLICY_QUOTA, "lot %s used %d of %d", "L7", 5, 5),
	    CS_ERR_POLICY_QUOTA);
	CHECK(strcmp(err.msg, "lot L7 used 5 of 5") == 0);
	CHECK_INT_EQ(err.code, CS_ERR_POLICY_QUOTA);
	cs_err_clear(&err);
	CHECK_INT_EQ(err.code, CS_OK);
	return check_finish("test_cs_error");
}
