/*
 * debug - assertions for invariants, checked in debug builds only.
 *
 * CAIRN_ASSERT states what must hold for the code around it to be right (a lock held,
 * an index in range, a legal state transition). It is for bugs in cairn, never for bad
 * input: input is checked and reported through cairn_err in every build. Release
 * builds (NDEBUG) compile the condition away, so it must have no side effects.
 */
#ifndef CAIRN_DEBUG_H
#define CAIRN_DEBUG_H

/* Prints where and what failed, then aborts (a core dump for the post-mortem). */
_Noreturn void debug_assert_fail(const char *cond, const char *file, int line, const char *func);

#ifdef NDEBUG
#define CAIRN_ASSERT(cond) ((void)sizeof(!(cond)))
#else
#define CAIRN_ASSERT(cond)                                                                         \
    ((cond) ? (void)0 : debug_assert_fail(#cond, __FILE__, __LINE__, __func__))
#endif

#endif
