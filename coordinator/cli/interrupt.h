/*
 * interrupt - SIGINT and SIGTERM during `cairn backup` and `cairn restore`.
 *
 * The handler only sets a flag; the polling loops (jobrun, the backup's steps) look
 * at it, cancel the agents' jobs, clean up and make the command exit 130. A second
 * signal while that runs is not needed and not acted on: the cleanup is bounded.
 */
#ifndef CAIRN_INTERRUPT_H
#define CAIRN_INTERRUPT_H

#include <stdbool.h>

/* The exit status of a command stopped by a signal (128 + SIGINT, as shells do). */
#define INTERRUPT_EXIT 130

/* Installs the handler for SIGINT and SIGTERM (without SA_RESTART: a sleeping poll
 * loop wakes at once). */
void interrupt_install(void);

/* Whether a stop signal has arrived since interrupt_install. */
bool interrupt_requested(void);

/* The signal that arrived (0 if none). */
int interrupt_signal(void);

#endif
