/*
 * tap.h - the TAP output of the LiveUpdateFs C tests, and nothing else (the
 * LUO helpers are luo.h, the fd passing is fdpass.h).
 *
 * Every case prints one line:
 *     ok N - [§x.y] description
 *     not ok N - [§x.y] description (got errno E (NAME), expected ...)
 * and tap_done() prints the plan and the summary line "N passed, M failed"
 * and returns the exit status (1 if anything failed).
 *
 * A case is one call: check(cond, ...), check_why(pass, why, ...), or
 * check_rc(rc, expected_errno, ...) for the ">= 0 or -errno" results of the
 * helpers. Only the parent process of a test prints (stdio: never from a
 * signal handler); forked children report back through exit codes or pipes.
 */
#ifndef LUFS_TESTS_TAP_H
#define LUFS_TESTS_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_PRINTF(fmt_idx) __attribute__((format(printf, fmt_idx, fmt_idx + 1)))

static int tap_count;
static int tap_failures;

static inline const char *tap_errname(int e)
{
	const char *n = strerrorname_np(e);
	return n ? n : "?";
}

static inline void tap_vline(int pass, const char *detail, const char *sec,
			     const char *fmt, va_list ap)
{
	tap_count++;
	if (!pass)
		tap_failures++;
	/* numeric sections get the § sign; other labels ("envelope") do not */
	printf("%sok %d - [%s%s] ", pass ? "" : "not ", tap_count,
	       sec[0] >= '0' && sec[0] <= '9' ? "§" : "", sec);
	vprintf(fmt, ap);
	if (!pass && detail && detail[0])
		printf(" (%s)", detail);
	putchar('\n');
	fflush(stdout);
}

/* A boolean case; `why` explains a failure (may be NULL). */
static inline TAP_PRINTF(4) void check_why(int pass, const char *why, const char *sec,
					   const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

#define check(cond, sec, ...) check_why((cond), "condition false: " #cond, (sec), __VA_ARGS__)

static inline void tap_describe_rc(char *buf, size_t n, long rc, int e1, int e2)
{
	char want[96];
	if (e1 == 0)
		snprintf(want, sizeof want, "success");
	else if (e2 == 0)
		snprintf(want, sizeof want, "errno %d (%s)", e1, tap_errname(e1));
	else
		snprintf(want, sizeof want, "errno %d (%s) or %d (%s)", e1, tap_errname(e1), e2,
			 tap_errname(e2));
	if (rc >= 0)
		snprintf(buf, n, "got success (%ld), expected %s", rc, want);
	else
		snprintf(buf, n, "got errno %ld (%s), expected %s", -rc, tap_errname((int)-rc), want);
}

/*
 * rc is ">= 0 on success, -errno on failure". expected == 0 means success
 * is expected, otherwise the errno that must come back.
 */
static inline TAP_PRINTF(4) void check_rc(long rc, int expected, const char *sec,
					  const char *fmt, ...)
{
	char why[200];
	int pass = expected == 0 ? rc >= 0 : rc == -(long)expected;
	tap_describe_rc(why, sizeof why, rc, expected, 0);
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

/* Like check_rc, but either of two errnos is accepted. */
static inline TAP_PRINTF(5) void check_rc2(long rc, int e1, int e2, const char *sec,
					   const char *fmt, ...)
{
	char why[200];
	int pass = rc == -(long)e1 || rc == -(long)e2;
	tap_describe_rc(why, sizeof why, rc, e1, e2);
	va_list ap;
	va_start(ap, fmt);
	tap_vline(pass, why, sec, fmt, ap);
	va_end(ap);
}

static inline void tap_note(const char *fmt, ...) TAP_PRINTF(1);
static inline void tap_note(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	putchar('\n');
	va_end(ap);
	fflush(stdout);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	printf("%d passed, %d failed\n", tap_count - tap_failures, tap_failures);
	fflush(stdout);
	return tap_failures ? 1 : 0;
}

/* A setup step failed so badly that the rest cannot run: report and stop. */
static inline TAP_PRINTF(3) _Noreturn void tap_fatal(const char *sec, const char *why,
						     const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tap_vline(0, why, sec, fmt, ap);
	va_end(ap);
	tap_done();
	exit(1);
}

#endif /* LUFS_TESTS_TAP_H */
