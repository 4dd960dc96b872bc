/*
 * human - figures as a person reads them: sizes, rates, durations, timestamps.
 */
#ifndef CAIRN_HUMAN_H
#define CAIRN_HUMAN_H

#include <stddef.h>
#include <stdint.h>

/* "0 B", "512 B", "1.5 KiB", "3.2 GiB". */
const char *human_bytes(uint64_t n, char *buf, size_t cap);

/* "850 ms", "12.3 s", "4m05s", "2h03m". */
const char *human_duration(uint64_t ms, char *buf, size_t cap);

/* UTC "2026-11-24 16:03:00Z" from milliseconds since the epoch. */
const char *human_time(uint64_t ms, char *buf, size_t cap);

/* Milliseconds since the epoch, and a monotonic clock in milliseconds. */
uint64_t human_now_ms(void);
uint64_t human_mono_ms(void);

#endif
