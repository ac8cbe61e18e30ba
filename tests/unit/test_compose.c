/* compose.c: replies built with GMime; nothing from a message can add or
 * break a header. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "confmail.h"

static char *dir;
static struct config cfg;

static void
put(const char *rel, const char *text)
{
	g_autofree char *path = g_build_filename(dir, rel, NULL);
	g_autofree char *parent = g_path_get_dirname(path);
	assert_int_equal(g_mkdir_with_parents(parent, 0700), 0);
	assert_true(g_file_set_contents(path, text, -1, NULL));
}

static int
setup(void **state)
{
	(void)state;
	dir = g_dir_make_tmp("confmail-compose-XXXXXX", NULL);
	put("en/labels", "field.name = Name\nseparator = ,\n");
	put("en/x.tmpl", "Subject: About {{subject}}\n\nHello {{name}},\nyour words: {{subject}}\n"
	    "%% html\n<p>Hello {{name}}</p>\n");
	put("ar/labels", "field.name = الاسم\n");
	cfg.name = g_strdup("Conference \"Solidarity\", 11–16 March");
	cfg.domain = g_strdup("icssi.example");
	cfg.from_address = g_strdup("register@icssi.example");
	cfg.loop_id = g_strdup("register@icssi.example");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	g_free(dir);
	g_free(cfg.name);
	g_free(cfg.domain);
	g_free(cfg.from_address);
	g_free(cfg.loop_id);
	return 0;
}

/* The reply, written out and parsed back as a stranger would. */
static GMimeMessage *
compose_and_reparse(const char *lang, const char *to, const char *to_name, const char *name,
		    const char *subject, const struct mail *answering, char **wire)
{
	g_autoptr(templates) ts = templates_open(dir);
	g_autoptr(JsonObject) vars = json_object_new();
	json_object_set_string_member(vars, "name", name);
	json_object_set_string_member(vars, "subject", subject);
	struct reply r = {
		.template = "x", .language = lang, .to_addr = to, .to_name = to_name,
		.reference = "ICSSI22-0042", .reply_to = "confirm+cancel-1-2-3@icssi.example",
		.answering = answering, .vars = vars,
	};
	g_autofree char *mid = NULL;
	GError *error = NULL;
	g_autoptr(GMimeMessage) msg = compose_reply(&cfg, ts, &r, &mid, &error);
	if (!msg) {
		g_clear_error(&error);
		return NULL;
	}
	*wire = g_mime_object_to_string(GMIME_OBJECT(msg), NULL);
	g_autoptr(GMimeStream) s = g_mime_stream_mem_new_with_buffer(*wire, strlen(*wire));
	g_autoptr(GMimeParser) p = g_mime_parser_new_with_stream(s);
	return g_mime_parser_construct_message(p, NULL);
}

static int
count_headers(GMimeMessage *m, const char *name)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m));
	int n = 0;
	for (int i = 0; i < g_mime_header_list_get_count(hl); i++)
		if (g_ascii_strcasecmp(g_mime_header_get_name(g_mime_header_list_get_header_at(hl, i)), name) == 0)
			n++;
	return n;
}

static void
test_headers_of_a_reply(void **state)
{
	(void)state;
	g_autofree char *wire = NULL;
	GByteArray *raw = g_byte_array_new();
	const char *in = "Message-ID: <abc@x.example>\nReferences: <r1@x.example>\nFrom: a@x.example\n\nhi\n";
	g_byte_array_append(raw, (const guint8 *)in, (guint)strlen(in));
	g_autoptr(mail) m = mail_parse(raw);
	g_autoptr(GMimeMessage) back = compose_and_reparse("ar", "amal@example.org", "أمل رشيد",
							   "أمل", "تسجيل", m, &wire);
	g_byte_array_free(raw, TRUE);
	assert_non_null(back);
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(back), "Auto-Submitted"), "auto-replied");
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(back), "X-Loop"), "register@icssi.example");
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(back), "In-Reply-To"), "<abc@x.example>");
	assert_string_equal(g_mime_object_get_header(GMIME_OBJECT(back), "References"),
			    "<r1@x.example> <abc@x.example>");
	/* no Arabic template: English is used, and says so */
	GMimeObject *top = g_mime_message_get_mime_part(back);
	assert_string_equal(g_mime_object_get_header(top, "Content-Language"), "en");
	assert_string_equal(g_mime_message_get_subject(back), "[ICSSI22-0042] About تسجيل [confirm cancel-1-2-3]");
	assert_true(g_str_has_suffix(g_mime_message_get_message_id(back), "@icssi.example"));
	InternetAddressList *to = g_mime_message_get_to(back);
	assert_int_equal(internet_address_list_length(to), 1);
	assert_string_equal(internet_address_get_name(internet_address_list_get_address(to, 0)), "أمل رشيد");
	/* headers are encoded as UTF-8, never a legacy charset */
	assert_null(strstr(wire, "windows-12"));
	GMimeObject *body = g_mime_message_get_mime_part(back);
	assert_true(GMIME_IS_MULTIPART(body));
	GMimeTextPart *html = GMIME_TEXT_PART(g_mime_multipart_get_part(GMIME_MULTIPART(body), 1));
	g_autofree char *text = g_mime_text_part_get_text(html);
	assert_non_null(strstr(text, "<p>Hello أمل</p>"));
	assert_non_null(strstr(text, "dir=\"ltr\""));
}

static void
test_no_header_injection(void **state)
{
	(void)state;
	g_autofree char *huge = g_strnfill(5000, 'A');
	static const char *const evil[] = {
		"Amal\r\nBcc: victim@evil.example",
		"Amal\nBcc: victim@evil.example",
		"Amal\rBcc: victim@evil.example",
		"Amal\u2028Bcc: victim@evil.example",
		"=?utf-8?q?x=0D=0ABcc:_victim@evil.example?=",
		"Amal\x01\x1b\x7f\tBcc: victim@evil.example",
		"\"Amal\" <x@evil.example>, Bcc: victim@evil.example",
	};
	for (size_t i = 0; i <= G_N_ELEMENTS(evil); i++) {
		const char *bad = i < G_N_ELEMENTS(evil) ? evil[i] : huge;
		g_autofree char *wire = NULL;
		GByteArray *raw = g_byte_array_new();
		g_autofree char *in = g_strdup_printf("Message-ID: <a@b>\r\nBcc: x@y\r\n\r\nhi\r\n");
		g_byte_array_append(raw, (const guint8 *)in, (guint)strlen(in));
		g_autoptr(mail) m = mail_parse(raw);
		g_byte_array_free(raw, TRUE);
		g_free(m->message_id);
		m->message_id = g_strdup(bad);	/* a hostile Message-ID to answer */
		g_autoptr(GMimeMessage) back = compose_and_reparse("en", "amal@example.org", bad, bad, bad,
								   m, &wire);
		assert_non_null(back);
		if (count_headers(back, "Bcc"))
			fail_msg("case %zu:\n%s", i, wire);
		assert_int_equal(count_headers(back, "To"), 1);
		assert_int_equal(count_headers(back, "Subject"), 1);
		assert_int_equal(count_headers(back, "In-Reply-To"), 0);
		assert_int_equal(internet_address_list_length(g_mime_message_get_all_recipients(back)), 1);
		/* no line of the wire form is longer than RFC 5322 allows */
		g_auto(GStrv) lines = g_strsplit(wire, "\n", -1);
		for (int k = 0; lines[k]; k++)
			assert_true(strlen(lines[k]) <= 998);
		const char *subject = g_mime_message_get_subject(back);
		assert_null(strchr(subject, '\r'));
		assert_null(strchr(subject, '\n'));
		assert_true(g_utf8_strlen(subject, -1) <= 200);
	}
	/* an address that is not one gets no reply at all */
	static const char *const bad_to[] = {
		"a@b.example\r\nBcc: v@evil.example", "a b@example.org", "<a@b>", "nobody", "a@b@c",
		"a@b.example, v@evil.example", "",
	};
	for (size_t i = 0; i < G_N_ELEMENTS(bad_to); i++) {
		g_autofree char *wire = NULL;
		assert_null(compose_and_reparse("en", bad_to[i], "x", "x", "x", NULL, &wire));
	}
}

static void
test_header_safe(void **state)
{
	(void)state;
	g_autofree char *a = header_safe("  a\r\n\tb\x01 c  ", 100);
	assert_string_equal(a, "a b c");
	g_autofree char *b = header_safe("أمل رشيد", 3);
	assert_string_equal(b, "أمل");
	g_autofree char *c = header_safe("bad \xff utf8", 100);
	assert_true(g_utf8_validate(c, -1, NULL));
	g_autofree char *e = header_safe("=?utf-8?q?x=0D=0A?=", 100);
	assert_string_equal(e, "= ?utf-8?q?x=0D=0A?=");
	g_autofree char *d = header_safe(NULL, 10);
	assert_string_equal(d, "");
}

int
main(void)
{
	g_mime_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_headers_of_a_reply),
		cmocka_unit_test(test_no_header_injection),
		cmocka_unit_test(test_header_safe),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	g_mime_shutdown();
	return failed;
}
