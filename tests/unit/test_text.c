/* text.c: HTML to text, normalisation, quoted history, forwards. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

#define assert_html(html, expected) do { \
	g_autofree char *got_ = text_from_html(html); \
	assert_string_equal(got_, expected); \
} while (0)

#define assert_normalised(in, expected) do { \
	g_autofree char *got_ = text_normalise(in); \
	assert_string_equal(got_, expected); \
} while (0)

#define assert_stripped(in, expected) do { \
	g_autofree char *got_ = text_strip_quotes(in); \
	assert_string_equal(got_, expected); \
} while (0)

static void
test_html_tables(void **state)
{
	(void)state;
	/* a form as a two-column table; a label that has its colon already */
	assert_html("<table><tr><td>Name</td><td>Ahmed  Saleh</td></tr>"
		    "<tr><th>Email:</th><td><a href=\"mailto:a@x.example\">a@x.example</a></td></tr>"
		    "<tr><td><p class=MsoNormal>المدينة<o:p></o:p></p></td>"
		    "<td><p class=MsoNormal>أربيل<o:p></o:p></p></td></tr>"
		    "</table><p>after</p>",
		    "Name: Ahmed Saleh\nEmail: a@x.example\nالمدينة: أربيل\n\nafter");
	/* wider rows; empty cells do not count; a list in the value cell */
	assert_html("<table><tbody><tr><td>a</td><td>b</td><td>c</td></tr>"
		    "<tr><td>Languages</td><td></td><td><div>Arabic</div><div>English</div></td></tr>"
		    "</tbody></table>",
		    "a | b | c\nLanguages: Arabic, English");
	/* a layout table whose cells are blocks stays in blocks */
	assert_html("<table><tr><td><p>one</p><p>two</p></td><td><p>three</p></td></tr></table>",
		    "one\n\ntwo\nthree");
}

static void
test_html_outlook(void **state)
{
	(void)state;
	/* Word's HTML: <o:p> is no paragraph, an &nbsp; paragraph is a blank
	 * line, conditional comments and styles vanish, <meta charset> does
	 * not override UTF-8 */
	assert_html("<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head>"
		    "<meta http-equiv=\"Content-Type\" content=\"text/html; charset=windows-1256\">"
		    "<style><!-- p.MsoNormal {margin:0cm;} --></style>"
		    "<!--[if gte mso 9]><xml><o:shapedefaults v:ext=\"edit\" /></xml><![endif]-->"
		    "</head><body lang=EN-US><div class=WordSection1 dir=RTL>\n"
		    "<p class=MsoNormal dir=RTL><span lang=AR-SA>تحية طيبة،</span><o:p></o:p></p>\n"
		    "<p class=MsoNormal dir=RTL><o:p>&nbsp;</o:p></p>\n"
		    "<p class=MsoNormal dir=RTL><span lang=AR-SA>الاسم: كريم</span><o:p></o:p></p>\n"
		    "<p class=MsoNormal dir=RTL><b>Phone:</b>&nbsp;&nbsp;0790 111 4455<o:p></o:p></p>\n"
		    "<p class=MsoListParagraph><![if !supportLists]><span>1.<span>&nbsp;&nbsp; </span></span>"
		    "<![endif]>Water<o:p></o:p></p>\n"
		    "</div></body></html>",
		    "تحية طيبة،\n\nالاسم: كريم\nPhone: 0790 111 4455\n1. Water");
}

static void
test_html_blocks(void **state)
{
	(void)state;
	/* Gmail: <div><br></div> is one blank line, never more than one */
	assert_html("<div dir=\"ltr\">Hello,<div><br></div><div>Name: Claire</div>"
		    "<div>City: Lyon</div><div><br></div><div><br></div><br><br><div>Claire</div></div>",
		    "Hello,\n\nName: Claire\nCity: Lyon\n\nClaire");
	/* paragraphs get a blank line; headings too; lists one line each */
	assert_html("<h1>Registration</h1><p>First   para\ngraph</p><p>Second</p>"
		    "<ul><li>one</li><li>two</li></ul>",
		    "Registration\n\nFirst para graph\n\nSecond\n\none\ntwo");
	/* script, style, head, title dropped; entities decoded */
	assert_html("<html><head><title>t</title><script>var x = 1;</script></head>"
		    "<body><style>p {}</style>Tom &amp; Jerry &lt;a@b.example&gt; &#1575;&#1604; &eacute;</body></html>",
		    "Tom & Jerry <a@b.example> ال é");
	/* <pre> keeps its lines */
	assert_html("<pre>Name:  A\nCity:  B</pre>", "Name: A\nCity: B");
	/* a citing blockquote is quoted text; Gmail's indent is not */
	assert_html("<div>Yes, I come.</div><div class=\"gmail_quote\">On Mon, 10 Jan 2022 X wrote:<br>"
		    "<blockquote class=\"gmail_quote\"><div>Dear friends,</div><div><br></div>"
		    "<blockquote type=\"cite\">older</blockquote></blockquote></div>"
		    "<blockquote style=\"margin:0 0 0 40px;border:none\">indented</blockquote>",
		    "Yes, I come.\nOn Mon, 10 Jan 2022 X wrote:\n> Dear friends,\n>\n> > older\nindented");
}

static void
test_html_garbage(void **state)
{
	(void)state;
	assert_html("", "");
	assert_html(NULL, "");
	assert_html("   \n ", "");
	assert_html("plain text, no tags", "plain text, no tags");
	g_autofree char *a = text_from_html("<<<>>></div></td><tr><td>x");
	assert_true(g_utf8_validate(a, -1, NULL));
	g_autofree char *b = text_from_html("<p>bad \xff\xfe bytes</p>");
	assert_true(g_utf8_validate(b, -1, NULL));
	/* deep nesting ends in a string, not a crash */
	GString *deep = g_string_new(NULL);
	for (int i = 0; i < 5000; i++)
		g_string_append(deep, "<div><span>");
	g_string_append(deep, "x");
	g_autofree char *c = text_from_html(deep->str);
	assert_non_null(c);
	g_string_free(deep, TRUE);
}

static void
test_normalise(void **state)
{
	(void)state;
	/* NFD to NFC */
	assert_normalised("Malmo\xcc\x88", "Malmö");
	/* spaces */
	assert_normalised("a\xc2\xa0" "b\xe2\x80\xaf" "c\xe2\x80\x87" "d\xe3\x80\x80" "e\xe2\x80\x89" "f",
			  "a b c d e f");
	/* Arabic-Indic and Persian digits, Arabic separators */
	assert_normalised("٠٧٧٠ ١٢٣ ٤٥٦٧", "0770 123 4567");
	assert_normalised("۰۷۵۰ ۴۱۲ ۳۳۲۱", "0750 412 3321");
	assert_normalised("٣٫٥ و ١٬٠٠٠", "3.5 و 1,000");
	/* tatweel */
	assert_normalised("مـــرحـبا", "مرحبا");
	/* RLM/LRM around a phone number, isolates, embeddings, ALM, ZWSP, BOM */
	assert_normalised("الهاتف: \xe2\x80\x8f+964 780 246 8135\xe2\x80\x8f", "الهاتف: +964 780 246 8135");
	assert_normalised("\xef\xbb\xbf\xe2\x80\x8e" "a\xe2\x81\xa6" "b\xe2\x81\xa9\xe2\x80\xab" "c\xe2\x80\xac\xd8\x9c" "d\xe2\x80\x8b" "e",
			  "abcde");
	/* ZWNJ stays: Sorani spelling needs it */
	assert_normalised("ئه\xe2\x80\x8cو", "ئه\xe2\x80\x8cو");
	/* line ends; tabs stay */
	assert_normalised("a\r\nb\rc\n\td", "a\nb\nc\n\td");
	/* a mark between a letter and its accent does not block composition */
	assert_normalised("e\xe2\x80\x8e\xcc\x81", "é");
	/* presentation forms (PDF copies) are the ordinary letters */
	assert_normalised("\xef\xbb\xbb", "لا");
	/* invalid UTF-8 still comes out valid */
	g_autofree char *bad = text_normalise("ok \xff\xfe end");
	assert_true(g_utf8_validate(bad, -1, NULL));
	assert_true(g_str_has_prefix(bad, "ok "));
	assert_normalised(NULL, "");
}

static void
test_strip_marked_quotes(void **state)
{
	(void)state;
	/* nested quotes go, interleaved answers stay, no double blank line */
	assert_stripped("Answers below.\n\n> Name:\nAmal\n> Email:\n>> old\n> > older\n"
			"amal@x.example\n\n> Thanks\n\nAmal\n\n\n",
			"Answers below.\n\nAmal\namal@x.example\n\nAmal");
	/* an attribution wrapped over two lines, with its quote */
	assert_stripped("Yes, I will come.\n\nOn Mon, Jan 10, 2022 at 11:20 AM ICSSI Announcements <\n"
			"announce@icssi.example> wrote:\n\n> Dear friends,\n> Name:\n",
			"Yes, I will come.");
	/* Arabic Gmail attribution */
	assert_stripped("الاسم: يوسف\n\nفي الاثنين، 10 يناير 2022 في 11:05 ص كتب ICSSI <announce@icssi.example>:\n\n> الأصدقاء الأعزاء،\n",
			"الاسم: يوسف");
	/* Kurdish attribution, quote not marked: everything below goes */
	assert_stripped("ناو: دلێر\n\nلە 10/1/2022 ICSSI <announce@icssi.example> نووسی:\nهاوڕێیانی ئازیز\nناو:\n",
			"ناو: دلێر");
	/* Thunderbird, unmarked history below */
	assert_stripped("Fine.\nOn 10/01/2022 11:02, ICSSI Announcements wrote:\nDear friends,\nName:",
			"Fine.");
	/* a sentence is no attribution */
	assert_stripped("As my colleague wrote:\nWe need a visa letter.",
			"As my colleague wrote:\nWe need a visa letter.");
}

static void
test_strip_outlook(void **state)
{
	(void)state;
	/* English Outlook block after its separator */
	assert_stripped("My arrival changes to 12 March.\n\nSara\n\n________________________________\n"
			"From: ICSSI <register@icssi.example>\nSent: Monday, January 10, 2022 11:02 AM\n"
			"To: Sara <sara@x.example>\nSubject: Registration\n\nDear Sara,\n",
			"My arrival changes to 12 March.\n\nSara");
	/* Arabic Outlook labels, bold markers from an HTML conversion */
	assert_stripped("أرجو إلغاء تسجيلي.\n\n*من:* ICSSI <info@icssi.example>\n"
			"*تاريخ الإرسال:* الاثنين، 10 كانون الثاني 2022 11:02 ص\n*إلى:* سارة\n"
			"*الموضوع:* دعوة\n\nالأصدقاء الأعزاء",
			"أرجو إلغاء تسجيلي.");
	/* -----Original Message----- */
	assert_stripped("See you there.\n-----Original Message-----\nFrom: x\nhistory",
			"See you there.");
	/* a trip is not a header block; an underscore divider in a form stays */
	assert_stripped("From: Baghdad\nTo: Sulaymaniyah\nDate: 10 March 2022\n"
			"______________________\nName: Ali",
			"From: Baghdad\nTo: Sulaymaniyah\nDate: 10 March 2022\n"
			"______________________\nName: Ali");
}

static void
test_strip_signature(void **state)
{
	(void)state;
	assert_stripped("Principles: yes\n\nBest regards\nJonas\n\n-- \nBrücke e.V. | Köln\n+49 221 1234\n",
			"Principles: yes\n\nBest regards\nJonas");
	assert_stripped("المبادئ: موافقة\r\n\r\n--\r\nمريم\r\nهاتف المكتب: 023 555 1234\r\n",
			"المبادئ: موافقة");
	/* "--" inside a line is no delimiter */
	assert_stripped("Dietary -- none\nok", "Dietary -- none\nok");
}

static void
test_strip_keeps_forward(void **state)
{
	(void)state;
	/* the forward stays, with its header block; a signature above it goes,
	 * the forwarded mail's own quote goes */
	assert_stripped("Please register her.\n-- \nAhmed Saleh\nTel: +964 750 111 2233\n\n"
			"---------- Forwarded message ---------\nFrom: Rawa Othman <rawa@yahoo.example>\n"
			"Date: Sun, Jan 23, 2022 at 7:41 PM\nSubject: Registration\nTo: Ahmed <a@x.example>\n\n"
			"Name: Rawa Othman\n\nOn Mon, 10 Jan 2022 ICSSI <announce@icssi.example> wrote:\n> Name:\n",
			"Please register her.\n"
			"---------- Forwarded message ---------\nFrom: Rawa Othman <rawa@yahoo.example>\n"
			"Date: Sun, Jan 23, 2022 at 7:41 PM\nSubject: Registration\nTo: Ahmed <a@x.example>\n\n"
			"Name: Rawa Othman");
}

static void
test_forward_gmail(void **state)
{
	(void)state;
	struct forward fw;
	assert_true(text_find_forward(
		"Dear ICSSI team,\n\nPlease find below the registration of my colleague.\n\nAhmed\n\n"
		"---------- Forwarded message ---------\n"
		"From: \"Rawa Othman\" <Rawa.Othman@Yahoo.example>\n"
		"Date: Sun, Jan 23, 2022 at 7:41 PM\nSubject: Registration\n"
		"To: Ahmed Saleh <ahmed@eyf.example>, Sara <sara@eyf.example>,\n"
		"  Ali <ali@eyf.example>\n\n\nName: Rawa Othman Karim\nEmail: rawa@yahoo.example\n\n", &fw));
	assert_string_equal(fw.from_addr, "rawa.othman@yahoo.example");
	assert_string_equal(fw.from_name, "Rawa Othman");
	assert_string_equal(fw.note,
			    "Dear ICSSI team,\n\nPlease find below the registration of my colleague.\n\nAhmed");
	assert_string_equal(fw.body, "Name: Rawa Othman Karim\nEmail: rawa@yahoo.example");
	forward_clear(&fw);
	assert_null(fw.body);
	forward_clear(&fw);	/* twice is harmless */
}

static void
test_forward_arabic_kurdish(void **state)
{
	(void)state;
	struct forward fw;
	assert_true(text_find_forward(
		"أعيد إليكم توجيه استمارة زميلتنا.\n\n---------- الرسالة المُعاد توجيهها ---------\n"
		"من: نادية صالح <nadia@gmail.example>\nالتاريخ: السبت، 5 فبراير 2022 في 8:12 م\n"
		"الموضوع: استمارة التسجيل\nإلى: مهند علي <m@s.example>\n\nالاسم: نادية صالح مهدي\n", &fw));
	assert_string_equal(fw.from_addr, "nadia@gmail.example");
	assert_string_equal(fw.from_name, "نادية صالح");
	assert_string_equal(fw.note, "أعيد إليكم توجيه استمارة زميلتنا.");
	assert_string_equal(fw.body, "الاسم: نادية صالح مهدي");
	forward_clear(&fw);

	assert_true(text_find_forward(
		"---------- نامەی ئاڕاستەکراو ---------\nلە: ئاوات <Awat@Gmail.example>\n"
		"بەروار: 5 شوبات 2022\nبابەت: تۆمارکردن\n\nناو: ئاوات\n", &fw));
	assert_string_equal(fw.from_addr, "awat@gmail.example");
	assert_string_equal(fw.from_name, "ئاوات");
	assert_string_equal(fw.note, "");
	assert_string_equal(fw.body, "ناو: ئاوات");
	forward_clear(&fw);
}

static void
test_forward_other_clients(void **state)
{
	(void)state;
	struct forward fw;
	/* Apple Mail, and our own conversion of its <blockquote type=cite>:
	 * the forwarded mail is quoted below the marker */
	assert_true(text_find_forward(
		"FYI\n\nBegin forwarded message:\n\n> From: Layla Hassan <layla@x.example>\n"
		"> Subject: Registration\n> Date: 23 January 2022 at 19:41:00 GMT+3\n"
		"> To: Omar <omar@x.example>\n>\n> Name: Layla Hassan\n> > quoted CFP\n", &fw));
	assert_string_equal(fw.from_addr, "layla@x.example");
	assert_string_equal(fw.from_name, "Layla Hassan");
	assert_string_equal(fw.note, "FYI");
	assert_string_equal(fw.body, "Name: Layla Hassan\n> quoted CFP");
	forward_clear(&fw);

	/* Gmail's HTML made text: bold labels, a mailto, headers on <p>s */
	assert_true(text_find_forward(
		"-------- Forwarded Message --------\n\n*From:* *Omar Younis* [mailto:Omar@x.example]\n\n"
		"*Date:* 1/2/2022 10:00\n\n*Subject:* Fwd: reg\n\nName: Omar\n", &fw));
	assert_string_equal(fw.from_addr, "omar@x.example");
	assert_string_equal(fw.from_name, "Omar Younis");
	assert_string_equal(fw.body, "Name: Omar");
	forward_clear(&fw);

	/* an address alone; the name in parentheses */
	assert_true(text_find_forward("---------- Forwarded message ---------\nFrom: x@y.example\n\nbody", &fw));
	assert_string_equal(fw.from_addr, "x@y.example");
	assert_null(fw.from_name);
	forward_clear(&fw);
	assert_true(text_find_forward("---------- Forwarded message ---------\n"
				      "From: x@y.example (Xena Y)\n\nbody", &fw));
	assert_string_equal(fw.from_name, "Xena Y");
	forward_clear(&fw);
}

static void
test_forward_none(void **state)
{
	(void)state;
	struct forward fw;
	/* a note that mentions forwarding is no marker without a header block */
	assert_false(text_find_forward("I am forwarding my colleague's details:\n\nName: Ali\n", &fw));
	assert_null(fw.from_addr);
	assert_null(fw.note);
	assert_null(fw.body);
	assert_false(text_find_forward("", &fw));
	assert_false(text_find_forward(NULL, &fw));
	/* a forward inside quoted history is history */
	assert_false(text_find_forward(
		"My details: Name: Ali\n\nFrom: ICSSI <info@icssi.example>\nSent: Monday, 10 January 2022 11:00\n"
		"To: Ali\nSubject: Fwd: call\n\n---------- Forwarded message ---------\n"
		"From: ICSSI <announce@icssi.example>\n\nName:\n", &fw));
	assert_false(text_find_forward(
		"> ---------- Forwarded message ---------\n> From: A <a@b.example>\n", &fw));
}

/* text_cut: never more than asked, never half a character. */
/* text_normalise skips NFC when every character is "inert": hold GLib
 * to that over every such character and every ordered pair of them (the
 * string c x1 c x2 c x3 ... holds each pair (c, x) and (x, c) side by
 * side), and show that a mark or a character outside the set still gets
 * its NFC. */
static void
test_nfc_inert(void **state)
{
	(void)state;
	GArray *inert = g_array_new(FALSE, FALSE, sizeof(gunichar));
	for (gunichar c = 1; c < 0x3000; c++)
		if (text_nfc_inert(c) && c != '\r')
			g_array_append_val(inert, c);
	assert_true(inert->len > 1000);
	for (guint i = 0; i < inert->len; i++) {
		gunichar c = g_array_index(inert, gunichar, i);
		GString *s = g_string_new(NULL);
		for (guint k = 0; k < inert->len; k++) {
			g_string_append_unichar(s, c);
			g_string_append_unichar(s, g_array_index(inert, gunichar, k));
		}
		g_autofree char *nfc = g_utf8_normalize(s->str, (gssize)s->len, G_NORMALIZE_NFC);
		if (strcmp(nfc, s->str) != 0)
			fail_msg("NFC changes a string of U+%04X and the inert characters", c);
		g_string_free(s, TRUE);
	}
	/* an Arabic mark with an inert character before it and after it */
	for (gunichar m = 0x0600; m < 0x0700; m++) {
		if (!text_nfc_lone_mark(m))
			continue;
		GString *s = g_string_new(NULL);
		for (guint k = 0; k < inert->len; k++) {
			g_string_append_unichar(s, g_array_index(inert, gunichar, k));
			g_string_append_unichar(s, m);
		}
		g_autofree char *nfc = g_utf8_normalize(s->str, (gssize)s->len, G_NORMALIZE_NFC);
		if (strcmp(nfc, s->str) != 0)
			fail_msg("NFC changes U+%04X after an inert character", m);
		g_string_free(s, TRUE);
	}
	g_array_free(inert, TRUE);
	assert_false(text_nfc_lone_mark(0x0654));	/* hamza above composes */
	assert_false(text_nfc_lone_mark(0x0301));
	/* shadda then fatha: two marks, put in canonical order (fatha first) */
	assert_normalised("\xd8\xa8\xd9\x91\xd9\x8e", "\xd8\xa8\xd9\x8e\xd9\x91");
	/* ... also when a tatweel between them has gone */
	assert_normalised("\xd8\xa8\xd9\x91\xd9\x80\xd9\x8e", "\xd8\xa8\xd9\x8e\xd9\x91");
	/* one mark alone stays where it is: shukran with fathatan */
	assert_normalised("\xd8\xb4\xd9\x83\xd8\xb1\xd8\xa7\xd9\x8b", "\xd8\xb4\xd9\x83\xd8\xb1\xd8\xa7\xd9\x8b");
	assert_false(text_nfc_inert(0x0301));	/* combining acute */
	assert_false(text_nfc_inert(0x0654));	/* Arabic hamza above */
	assert_false(text_nfc_inert(0x212b));	/* Angstrom sign: a singleton */
	/* e + combining acute, alef + hamza above, Angstrom: composed */
	assert_normalised("caf\x65\xcc\x81", "caf\xc3\xa9");
	assert_normalised("\xd8\xa7\xd9\x94", "\xd8\xa3");
	assert_normalised("\xe2\x84\xab", "\xc3\x85");
	/* ASCII, Arabic, Sorani and punctuation are returned as they are */
	assert_normalised("Name: \xda\x95\xdb\x86\xda\x98 \xe2\x80\x94 ok", "Name: \xda\x95\xdb\x86\xda\x98 \xe2\x80\x94 ok");
}

static void
test_cut(void **state)
{
	(void)state;
	char ascii[] = "abcdef", arabic[] = "\xd8\xb9\xd9\x84\xd9\x8a";	/* علي */
	assert_string_equal(text_cut(ascii, 10), "abcdef");
	assert_string_equal(text_cut(ascii, 3), "abc");
	assert_string_equal(text_cut(arabic, 3), "\xd8\xb9");
	assert_true(g_utf8_validate(arabic, -1, NULL));
	assert_string_equal(text_cut(arabic, 1), "");
	assert_null(text_cut(NULL, 1));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_tables),
		cmocka_unit_test(test_html_outlook),
		cmocka_unit_test(test_html_blocks),
		cmocka_unit_test(test_html_garbage),
		cmocka_unit_test(test_normalise),
		cmocka_unit_test(test_strip_marked_quotes),
		cmocka_unit_test(test_strip_outlook),
		cmocka_unit_test(test_strip_signature),
		cmocka_unit_test(test_strip_keeps_forward),
		cmocka_unit_test(test_forward_gmail),
		cmocka_unit_test(test_forward_arabic_kurdish),
		cmocka_unit_test(test_forward_other_clients),
		cmocka_unit_test(test_forward_none),
		cmocka_unit_test(test_nfc_inert),
		cmocka_unit_test(test_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
