/*
 * check.h: the assertion macros every C test uses. A failed CHECK prints
 * file:line and the expression, counts the failure and carries on, so one
 * run shows every broken expectation; check_finish() turns the count into
 * the exit status ctest reads.
 */
#ifndef TESTS_CHECK_H
#define TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

extern int check_failures;
extern int check_count;

#define CHECK(expr)                                                                    \
	do {                                                                           \
		check_count++;                                                         \
		if (!(expr)) {                                                         \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #expr); \
		}                                                                      \
	} while (0)

#define CHECK_INT_EQ(a, b)                                                             \
	do {                                                                           \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);         \
		check_count++;                                                         \
		if (check_a_ != check_b_) {                                            \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",  \
			    __FILE__, __LINE__, #a, #b, check_a_, check_b_);            \
		}                                                                      \
	} while (0)

/* err_ is a struct cs_err; checks that its message contains needle. */
#define CHECK_MSG_HAS(err_, needle)                                                    \
	do {                                                                           \
		check_count++;                                                         \
		if (strstr((err_).msg, (needle)) == NULL) {                            \
			check_failures++;                                              \
			fprintf(stderr, "%s:%d: message \"%s\" lacks \"%s\"\n", __FILE__,  \
			    __LINE__, (err_).msg, (needle));                           \
		}                                                                      \
	} while (0)

/* Monotonic clock in milliseconds, for tests that time an outcome. */
double check_now_ms(void);

/* Exit status for main(): 0 if every check passed and at least one ran. */
int check_finish(const char *test_name);

#endif
