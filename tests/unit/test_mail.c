/* mail.c and intake.c: decoding to UTF-8, headers, quarantine, envelope. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

static struct mail *
parse_text(const char *text, GByteArray **raw)
{
	*raw = g_byte_array_new();
	g_byte_array_append(*raw, (const guint8 *)text, (guint)strlen(text));
	return mail_parse(*raw);
}

static void
test_to_utf8(void **state)
{
	(void)state;
	/* windows-1256 named, and guessed when no charset is given */
	const char cp1256[] = "\xc7\xe1\xc7\xd3\xe3";	/* الاسم */
	g_autofree char *a = mail_to_utf8(cp1256, sizeof cp1256 - 1, "windows-1256");
	assert_string_equal(a, "الاسم");
	g_autofree char *b = mail_to_utf8(cp1256, sizeof cp1256 - 1, NULL);
	assert_string_equal(b, "الاسم");
	/* ISO-8859-6 */
	g_autofree char *c = mail_to_utf8("\xc7\xe4\xd9\xd1\xc7\xe2", 6, "iso-8859-6");
	assert_string_equal(c, "العراق");
	/* accented Latin without a charset: lone high bytes are not Arabic */
	g_autofree char *d = mail_to_utf8("Caf\xe9 cr\xe8me", 10, NULL);
	assert_string_equal(d, "Café crème");
	/* an unknown charset falls back to guessing */
	g_autofree char *e = mail_to_utf8("na\xefve", 5, "x-unknown");
	assert_string_equal(e, "naïve");
	/* "utf-8" that is not: still valid UTF-8 out */
	g_autofree char *f = mail_to_utf8("ok \xff\xfe", 5, "utf-8");
	assert_true(g_utf8_validate(f, -1, NULL));
	/* NUL bytes are dropped, not allowed to cut the text */
	g_autofree char *g = mail_to_utf8("A\0mal", 5, "utf-8");
	assert_string_equal(g, "Amal");
}

static void
test_parse_headers_and_body(void **state)
{
	(void)state;
	GByteArray *raw;
	struct mail *m = parse_text(
		"From: =?UTF-8?B?2LPZiNiy2KfZhg==?= <Sozan@Example.ORG>\n"
		"Subject: =?windows-1256?Q?=C7=E1=C7=D3=E3?=\n"
		"Message-ID: <abc@x.example>\n"
		"Date: Tue, 25 Jan 2022 18:40:02 +0300\n"
		"MIME-Version: 1.0\n"
		"Content-Type: multipart/alternative; boundary=zz\n\n"
		"--zz\nContent-Type: text/html; charset=utf-8\n\n<p>html</p>\n"
		"--zz\nContent-Type: text/plain; charset=iso-8859-6\n"
		"Content-Transfer-Encoding: quoted-printable\n\n=C7=E4=D9=D1=C7=E2\n"
		"--zz--\n", &raw);
	assert_non_null(m->message);
	assert_null(m->parse_error);
	assert_string_equal(m->from_addr, "sozan@example.org");
	assert_string_equal(m->from_name, "سوزان");
	assert_string_equal(m->subject, "الاسم");
	assert_string_equal(m->message_id, "abc@x.example");
	assert_string_equal(m->date, "2022-01-25T15:40:02Z");
	assert_string_equal(m->body_type, "text/plain");
	assert_string_equal(m->body, "العراق");
	assert_int_equal(m->parts, 2);
	assert_string_equal(mail_header(m, "message-id"), "<abc@x.example>");
	assert_int_equal(strlen(m->sha256), 64);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
}

static void
test_quarantine(void **state)
{
	(void)state;
	GByteArray *raw;
	struct mail *m = parse_text("", &raw);
	assert_null(m->message);
	assert_string_equal(m->parse_error, "empty message");
	mail_free(m);
	g_byte_array_free(raw, TRUE);

	m = parse_text("\x01\x02 just bytes\n\nmore", &raw);
	assert_null(m->message);
	assert_non_null(m->parse_error);
	mail_free(m);
	g_byte_array_free(raw, TRUE);
}

static void
test_from_line(void **state)
{
	(void)state;
	GByteArray *raw = g_byte_array_new();
	const char text[] = "From someone@x.example Mon Jan 24 09:12:40 2022\nSubject: s\n\nb\n";
	g_byte_array_append(raw, (const guint8 *)text, sizeof text - 1);
	g_autofree char *sender = intake_strip_from_line(raw);
	assert_string_equal(sender, "someone@x.example");
	assert_int_equal(raw->len, strlen("Subject: s\n\nb\n"));
	assert_null(intake_strip_from_line(raw));
	g_byte_array_free(raw, TRUE);

	raw = g_byte_array_new();
	g_byte_array_append(raw, (const guint8 *)"From MAILER-DAEMON Mon\nX: y\n", 28);
	g_autofree char *null_sender = intake_strip_from_line(raw);
	assert_string_equal(null_sender, "");
	g_byte_array_free(raw, TRUE);
}

static void
test_envelope_order(void **state)
{
	(void)state;
	GByteArray *raw;
	struct mail *m = parse_text("Delivered-To: <Info@ICSSI.example>\nReturn-Path: <rp@x.example>\n"
				    "Subject: s\n\nb\n", &raw);
	struct envelope env = { 0 };

	g_unsetenv("ORIGINAL_RECIPIENT");
	g_unsetenv("RECIPIENT");
	g_unsetenv("SENDER");
	intake_envelope(&env, NULL, NULL, NULL, m);
	assert_string_equal(env.recipient, "info@icssi.example");
	assert_string_equal(env.recipient_source, "Delivered-To");
	assert_string_equal(env.sender, "rp@x.example");
	envelope_clear(&env);

	g_setenv("RECIPIENT", "r@icssi.example", TRUE);
	g_setenv("ORIGINAL_RECIPIENT", "o@icssi.example", TRUE);
	g_setenv("SENDER", "", TRUE);
	intake_envelope(&env, NULL, NULL, NULL, m);
	assert_string_equal(env.recipient, "o@icssi.example");
	assert_string_equal(env.sender, "");
	envelope_clear(&env);

	intake_envelope(&env, "<Cli@icssi.example>", NULL, NULL, m);
	assert_string_equal(env.recipient, "cli@icssi.example");
	assert_string_equal(env.recipient_source, "-r");
	envelope_clear(&env);
	g_unsetenv("RECIPIENT");
	g_unsetenv("ORIGINAL_RECIPIENT");
	g_unsetenv("SENDER");

	char from_line[] = "fl@x.example";
	intake_envelope(&env, NULL, NULL, from_line, m);
	assert_string_equal(env.sender, "fl@x.example");
	envelope_clear(&env);

	/* -f beats everything; MAILER-DAEMON there is the null sender */
	g_setenv("SENDER", "env@x.example", TRUE);
	intake_envelope(&env, NULL, "Opt@X.example", from_line, m);
	assert_string_equal(env.sender, "opt@x.example");
	envelope_clear(&env);
	intake_envelope(&env, NULL, "MAILER-DAEMON", from_line, m);
	assert_string_equal(env.sender, "");
	envelope_clear(&env);
	g_unsetenv("SENDER");
	mail_free(m);
	g_byte_array_free(raw, TRUE);
}

static void
test_read_limit(void **state)
{
	(void)state;
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	close(fds[1]);
	GByteArray *raw = NULL;
	assert_int_equal(intake_read(fds[0], 9, &raw, NULL), READ_TOO_BIG);
	assert_null(raw);
	close(fds[0]);

	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "0123456789", 10), 10);
	close(fds[1]);
	assert_int_equal(intake_read(fds[0], 10, &raw, NULL), READ_OK);
	assert_int_equal(raw->len, 10);
	g_byte_array_free(raw, TRUE);
	close(fds[0]);
}

int
main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_to_utf8),
		cmocka_unit_test(test_parse_headers_and_body),
		cmocka_unit_test(test_quarantine),
		cmocka_unit_test(test_from_line),
		cmocka_unit_test(test_envelope_order),
		cmocka_unit_test(test_read_limit),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
