/* token.c: confirmation tokens that cannot be forged, moved or stretched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

#define SECRET "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"

static GDateTime *
day(int y, int m, int d)
{
	return g_date_time_new_utc(y, m, d, 12, 0, 0);
}

static enum token_status
check(const char *token, const char *address, GDateTime *now)
{
	g_autofree char *action = NULL, *record = NULL;
	enum token_status s = token_check(SECRET, token, address, now, &action, &record);
	if (s == TOKEN_INVALID) {
		assert_null(action);
		assert_null(record);
	}
	return s;
}

static void
test_round_trip(void **state)
{
	(void)state;
	g_autoptr(GDateTime) expires = day(2022, 2, 1), now = day(2022, 1, 25);
	g_autofree char *t = token_make(SECRET, "cancel", "Amal@Example.org", "42", expires);
	g_autofree char *action = NULL, *record = NULL;
	assert_int_equal(token_check(SECRET, t, "amal@example.org", now, &action, &record), TOKEN_OK);
	assert_string_equal(action, "cancel");
	assert_string_equal(record, "42");
	/* usable in an address's local part, and found there and in a subject */
	for (const char *p = t; *p; p++)
		assert_true(g_ascii_isalnum(*p) || *p == '-' || *p == '.');
	g_autofree char *rcpt = g_strdup_printf("confirm+%s@icssi.example", t);
	g_autofree char *found = token_in(rcpt, NULL);
	assert_string_equal(found, t);
	g_autofree char *subject = g_strdup_printf("Re: [ICSSI22-0042] Please confirm [confirm %s]", t);
	g_autofree char *found2 = token_in(NULL, subject);
	assert_string_equal(found2, t);
	assert_null(token_in("register@icssi.example", "no token here"));
}

static void
test_expiry(void **state)
{
	(void)state;
	g_autoptr(GDateTime) expires = day(2022, 2, 1);
	g_autofree char *t = token_make(SECRET, "update", "a@b.example", "42.7", expires);
	g_autoptr(GDateTime) last = g_date_time_new_utc(2022, 2, 1, 23, 59, 0);
	g_autoptr(GDateTime) after = day(2022, 2, 2);
	assert_int_equal(check(t, "a@b.example", last), TOKEN_OK);
	assert_int_equal(check(t, "a@b.example", after), TOKEN_EXPIRED);
}

static void
test_tampering(void **state)
{
	(void)state;
	g_autoptr(GDateTime) expires = day(2022, 2, 1), now = day(2022, 1, 25);
	g_autofree char *t = token_make(SECRET, "cancel", "a@b.example", "42", expires);
	g_auto(GStrv) p = g_strsplit(t, "-", -1);
	g_autofree char *other_record = g_strdup_printf("%s-43-%s-%s", p[0], p[2], p[3]);
	g_autofree char *other_action = g_strdup_printf("update-%s-%s-%s", p[1], p[2], p[3]);
	g_autofree char *later = g_strdup_printf("%s-%s-%" G_GINT64_FORMAT "-%s", p[0], p[1],
						 g_ascii_strtoll(p[2], NULL, 10) + 30, p[3]);
	g_autofree char *flipped = g_strdup(t);
	char *last = flipped + strlen(flipped) - 1;
	*last = *last == '0' ? '1' : '0';

	assert_int_equal(check(other_record, "a@b.example", now), TOKEN_INVALID);
	assert_int_equal(check(other_action, "a@b.example", now), TOKEN_INVALID);
	assert_int_equal(check(later, "a@b.example", now), TOKEN_INVALID);
	assert_int_equal(check(flipped, "a@b.example", now), TOKEN_INVALID);
	/* another address may not use it */
	assert_int_equal(check(t, "mallory@b.example", now), TOKEN_INVALID);
	/* another installation's secret does not make it */
	g_autofree char *action = NULL, *record = NULL;
	assert_int_equal(token_check("another secret of enough length 1234567890", t, "a@b.example",
				     now, &action, &record), TOKEN_INVALID);
	static const char *const junk[] = {
		"", "cancel", "cancel-42", "cancel-42-19000", "cancel-42-x-0123456789abcdef0123",
		"can cel-42-19000-0123456789abcdef0123", "cancel-42-19000-0123",
		"cancel-42-19000-0123456789abcdef0123-extra", "-42-19000-0123456789abcdef0123",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(junk); i++)
		assert_int_equal(check(junk[i], "a@b.example", now), TOKEN_INVALID);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_tampering),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
