/*
 * web_events.c: the broadcast ring between slot threads and event streams
 * (contract and design in web_events.h).
 */
#include "web-ui/web_events.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct web_bus {
	pthread_mutex_t mu;
	pthread_cond_t cv; /* CLOCK_MONOTONIC */
	uint64_t next;     /* seq of the next event published */
	uint64_t pokes;    /* bumped by web_bus_poke so waiters notice */
	int stopping;
	struct web_event ring[WEB_BUS_RING];
};

web_bus *
web_bus_new(void)
{
	web_bus *b = calloc(1, sizeof(*b));
	pthread_condattr_t ca;

	if (b == NULL)
		return NULL;
	pthread_mutex_init(&b->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cv, &ca);
	pthread_condattr_destroy(&ca);
	b->next = 1;
	return b;
}

void
web_bus_free(web_bus *b)
{
	if (b == NULL)
		return;
	pthread_cond_destroy(&b->cv);
	pthread_mutex_destroy(&b->mu);
	free(b);
}

void
web_bus_publish(web_bus *b, const struct web_event *ev)
{
	struct web_event *slot;

	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	slot = &b->ring[b->next % WEB_BUS_RING];
	*slot = *ev;
	slot->seq = b->next++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

uint64_t
web_bus_cursor(web_bus *b)
{
	uint64_t c;

	pthread_mutex_lock(&b->mu);
	c = b->next;
	pthread_mutex_unlock(&b->mu);
	return c;
}

enum web_bus_result
web_bus_read(web_bus *b, uint64_t *cursor, struct web_event *out, unsigned timeout_ms)
{
	struct timespec until;
	enum web_bus_result r = WEB_BUS_TIMEOUT;
	uint64_t pokes;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_ms / 1000;
	until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->mu);
	pokes = b->pokes;
	for (;;) {
		if (b->stopping) {
			r = WEB_BUS_STOPPED;
			break;
		}
		if (*cursor > b->next || b->next - *cursor > WEB_BUS_RING) {
			/* skip to now: the reader reloads its snapshot, and older
			 * events replayed after that would show stale states */
			*cursor = b->next;
			r = WEB_BUS_OVERFLOW;
			break;
		}
		if (*cursor < b->next) {
			*out = b->ring[*cursor % WEB_BUS_RING];
			(*cursor)++;
			r = WEB_BUS_EVENT;
			break;
		}
		if (b->pokes != pokes)
			break;
		if (pthread_cond_timedwait(&b->cv, &b->mu, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&b->mu);
	return r;
}

void
web_bus_poke(web_bus *b)
{
	pthread_mutex_lock(&b->mu);
	b->pokes++;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

void
web_bus_stop(web_bus *b)
{
	if (b == NULL)
		return;
	pthread_mutex_lock(&b->mu);
	b->stopping = 1;
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}
