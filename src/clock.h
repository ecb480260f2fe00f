#ifndef OPSTREAM_CLOCK_H
#define OPSTREAM_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CLOCK_RFC3339_SIZE 32

int64_t clock_now_ms(void);       /* wall clock, ms since the epoch */
int64_t clock_mono_ms(void);      /* monotonic, for deadlines */
int64_t clock_mono_us(void);      /* monotonic, for durations */
/* "2026-11-21T10:00:00.123Z"; returns 0, or -1 if size is too small. */
int clock_rfc3339(int64_t ms, char *buf, size_t size);
/* Parses an RFC 3339 date-time ("2026-11-21T10:00:00Z", with optional
 * fraction and a Z or +hh:mm offset) into ms since the epoch: 0, or -1. */
int clock_parse_rfc3339(const char *s, int64_t *ms);
/* Sleeps for ms (backoff between retries; never a stand-in for a wait). */
void clock_sleep_ms(int ms);

#endif
