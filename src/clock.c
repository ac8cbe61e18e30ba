/*
 * clock.c - the one source of "now".  $CONFMAIL_NOW (ISO 8601) fixes it, so
 * tests of deadlines, retries and digests are exact and never sleep.
 */
#include "confmail.h"

GDateTime *
confmail_now(void)
{
	const char *fixed = g_getenv("CONFMAIL_NOW");

	if (fixed && *fixed) {
		g_autoptr(GTimeZone) utc = g_time_zone_new_utc();
		GDateTime *t = g_date_time_new_from_iso8601(fixed, utc);
		if (t)
			return t;
		g_warning("ignoring CONFMAIL_NOW='%s': not an ISO 8601 date-time", fixed);
	}
	return g_date_time_new_now_utc();
}

char *
confmail_now_iso(void)
{
	g_autoptr(GDateTime) now = confmail_now();
	g_autoptr(GDateTime) utc = g_date_time_to_utc(now);

	return g_date_time_format(utc, "%Y-%m-%dT%H:%M:%SZ");
}
