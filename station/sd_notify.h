/*
 * sd_notify.h: systemd's service notification protocol, without libsystemd.
 *
 * Contract: under systemd with Type=notify, $NOTIFY_SOCKET names a unix
 * datagram socket ("/run/..." or "@name" for the abstract namespace);
 * cs_notify() sends it one datagram of newline-separated VAR=VALUE pairs
 * ("READY=1", "WATCHDOG=1", "STOPPING=1", "STATUS=..."). Outside systemd
 * (no $NOTIFY_SOCKET) it does nothing, so callers need not care how the
 * station was started. Any thread; no allocation.
 */
#ifndef STATION_SD_NOTIFY_H
#define STATION_SD_NOTIFY_H

#include <stdint.h>

/* 0 sent; 1 not running under a notifying manager; -1 the socket name is
 * unusable or the send failed (errno says why). */
int cs_notify(const char *state);

/* The watchdog interval systemd expects pings within (WatchdogSec=), in
 * microseconds, when $WATCHDOG_USEC is set and $WATCHDOG_PID is unset or this
 * process; else 0. Ping at half of it. */
uint64_t cs_notify_watchdog_usec(void);

#endif
