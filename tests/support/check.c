#include "tests/support/check.h"

#include <time.h>

int check_failures;
int check_count;

int
check_finish(const char *test_name)
{
	if (check_count == 0) {
		fprintf(stderr, "%s: no checks ran\n", test_name);
		return 1;
	}
	fprintf(stderr, "%s: %d checks, %d failed\n", test_name, check_count, check_failures);
	return check_failures == 0 ? 0 : 1;
}

double
check_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}
