/*
 * fuzz_stats_period.c -- libFuzzer target for the period parsers of
 * `hikyaku report tls` (src/stats/stats_report.c: --since, --from, --to),
 * and for stats_rec_set(), which sanitizes remote peer names (MAIL FROM
 * domains, EHLO names) before they are recorded.
 *
 * Invariants, checked with abort(): every call returns 0 or -1 with an
 * error; an accepted duration is positive and within STATS_MAX_DURATION;
 * an accepted time is not before 1970, and a date-only time printed back
 * as YYYY-MM-DD parses to the same value; sanitized text is NUL-terminated
 * within its array and holds no control byte, space, quote or backslash.
 */
#include <string.h>
#include <time.h>

#include "stats/stats.h"
#include "stats/stats_report.h"
#include "fuzz.h"

/* check_time - an accepted time round-trips through gmtime. */
static void
check_time(const char *s, int64_t t, bool end)
{
	time_t tt = (time_t)(t - (end && strlen(s) == 10 ? STATS_DAY : 0));
	struct tm tm;
	char back[32];
	int64_t again;
	const char *err = NULL;

	FUZZ_ASSERT(t >= 0);
	FUZZ_ASSERT(gmtime_r(&tt, &tm) != NULL);
	if (strlen(s) != 10)
		return;
	FUZZ_ASSERT(strftime(back, sizeof(back), "%Y-%m-%d", &tm) == 10);
	FUZZ_ASSERT(strcmp(back, s) == 0);
	FUZZ_ASSERT(stats_report_parse_time(back, end, &again, &err) == 0 && again == t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char s[64], clean[24];
	const char *err = NULL;
	int64_t v = 0;
	int rc;

	/* Command-line arguments are NUL-terminated strings. */
	size = size < sizeof(s) - 1 ? size : sizeof(s) - 1;
	memcpy(s, data, size);
	s[size] = '\0';

	rc = stats_report_parse_duration(s, &v, &err);
	FUZZ_ASSERT(rc == 0 || (rc == -1 && err != NULL));
	if (rc == 0)
		FUZZ_ASSERT(v > 0 && v <= STATS_MAX_DURATION);
	for (int end = 0; end <= 1; end++) {
		err = NULL;
		rc = stats_report_parse_time(s, end, &v, &err);
		FUZZ_ASSERT(rc == 0 || (rc == -1 && err != NULL));
		if (rc == 0)
			check_time(s, v, end);
	}

	stats_rec_set(clean, sizeof(clean), s, true);
	FUZZ_ASSERT(memchr(clean, '\0', sizeof(clean)) != NULL);
	for (const char *p = clean; *p != '\0'; p++)
		FUZZ_ASSERT((unsigned char)*p > 0x20 && *p != 0x7f && *p != '"' && *p != '\\');
	return 0;
}
