/* noreply.c and classify.c: what must never be answered; language; class
 * from the envelope. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

struct parsed {
	GByteArray *raw;
	struct mail *m;
};

static struct parsed
parse(const char *text)
{
	struct parsed p = { g_byte_array_new(), NULL };
	g_byte_array_append(p.raw, (const guint8 *)text, (guint)strlen(text));
	p.m = mail_parse(p.raw);
	return p;
}

static void
done(struct parsed *p)
{
	mail_free(p->m);
	g_byte_array_free(p->raw, TRUE);
}

static struct config *
test_config(void)
{
	struct config *cfg = g_new0(struct config, 1);
	cfg->domain = g_strdup("icssi.example");
	cfg->loop_id = g_strdup("register@icssi.example");
	return cfg;
}

static void
test_noreply(void **state)
{
	(void)state;
	static const struct {
		const char *headers;
		const char *sender;	/* NULL: unknown */
		const char *reason;	/* NULL: may be answered */
	} cases[] = {
		{ "From: a@x.example\n", "a@x.example", NULL },
		{ "From: a@x.example\nAuto-Submitted: no\n", NULL, NULL },
		{ "From: a@x.example\n", "", "null envelope sender" },
		{ "From: a@x.example\n", "MAILER-DAEMON@x.example", "envelope sender is a machine address" },
		{ "From: No-Reply@bank.example\n", NULL, "From is a machine address" },
		{ "From: owner-list@x.example\n", NULL, "From is a machine address" },
		{ "From: a@x.example\nAuto-Submitted: auto-replied (vacation)\n", NULL, "Auto-Submitted" },
		{ "From: a@x.example\nAuto-Submitted: auto-generated\n", NULL, "Auto-Submitted" },
		{ "From: a@x.example\nPrecedence: bulk\n", NULL, "Precedence: bulk, list or junk" },
		{ "From: a@x.example\nPrecedence: junk\n", NULL, "Precedence: bulk, list or junk" },
		{ "From: a@x.example\nPrecedence: first-class\n", NULL, NULL },
		{ "From: a@x.example\nList-Id: <news.x.example>\n", NULL, "list or automatic mail header" },
		{ "From: a@x.example\nX-Loop: someone@else.example\n", NULL, NULL },
		{ "From: a@x.example\nX-Loop: other\nX-Loop:  REGISTER@icssi.example \n", NULL, "our own X-Loop" },
	};
	g_autoptr(config) cfg = test_config();
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strconcat(cases[i].headers, "Subject: t\n\nbody\n", NULL);
		struct parsed p = parse(text);
		struct envelope env = { .sender = (char *)cases[i].sender };
		const char *got = noreply_reason(p.m, &env, cfg);
		if (g_strcmp0(got, cases[i].reason) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, got ? got : "(null)",
				 cases[i].reason ? cases[i].reason : "(null)");
		done(&p);
	}
}

static void
test_language(void **state)
{
	(void)state;
	assert_string_equal(classify_language("I would like to register."), "en");
	assert_string_equal(classify_language("أرغب في التسجيل في المؤتمر الدولي"), "ar");
	assert_string_equal(classify_language("دەمەوێت بەشداری لە کۆنفرانسەکە بکەم"), "ckb");
	/* mostly English with an Arabic name stays English */
	assert_string_equal(classify_language("Name: سوزان أحمد\nOrganisation: Hewa for Development\n"
					      "Country: Iraq, City: Erbil, arriving on the tenth"), "en");
	assert_string_equal(classify_language(NULL), "en");
	assert_string_equal(classify_language(""), "en");
}

static void
test_class_from_envelope(void **state)
{
	(void)state;
	static const struct {
		const char *rcpt, *sender, *extra, *class;
	} cases[] = {
		{ "register@icssi.example", "a@x.example", "", "registration" },
		{ "info@icssi.example", "a@x.example", "", "question" },
		{ "announce-request@icssi.example", "a@x.example", "", "subscribe" },
		{ "register@elsewhere.example", "a@x.example", "", "other" },
		{ NULL, "a@x.example", "", "other" },
		{ "register@icssi.example", "", "", "bounce" },
		{ "register@icssi.example", "a@x.example", "Auto-Submitted: auto-replied\n", "autoreply" },
		{ "info@icssi.example", "a@x.example",
		  "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n", "bounce" },
	};
	g_autoptr(config) cfg = test_config();
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
		g_autofree char *text = g_strconcat("From: a@x.example\n", cases[i].extra,
						    "Subject: t\n\nbody\n", NULL);
		struct parsed p = parse(text);
		struct envelope env = { .recipient = (char *)cases[i].rcpt, .sender = (char *)cases[i].sender };
		struct verdict v;
		classify(p.m, &env, cfg, &v);
		if (strcmp(v.class, cases[i].class) != 0)
			fail_msg("case %zu: got '%s', want '%s'", i, v.class, cases[i].class);
		done(&p);
	}
}

int
main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_noreply),
		cmocka_unit_test(test_language),
		cmocka_unit_test(test_class_from_envelope),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	g_mime_shutdown();
	return rc;
}
