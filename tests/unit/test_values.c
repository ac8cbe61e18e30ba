/* values.c: the normalisers of FIELDS.md, with the shipped tables. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <glib/gstdio.h>

#include "rules_cache.h"

static struct table *countries, *languages, *months, *words;

static int
load(void **state)
{
	(void)state;
	countries = table_load(TOP_SRCDIR "/filters/countries.table", NULL);
	languages = table_load(TOP_SRCDIR "/filters/languages.table", NULL);
	months = table_load(TOP_SRCDIR "/filters/months.table", NULL);
	words = table_load(TOP_SRCDIR "/filters/words.table", NULL);
	return countries && languages && months && words ? 0 : -1;
}

static int
unload(void **state)
{
	(void)state;
	table_free(countries);
	table_free(languages);
	table_free(months);
	table_free(words);
	return 0;
}

static void
phone_is(const char *in, const char *want)
{
	g_autofree char *got = value_phone(in, "964");
	if (g_strcmp0(got, want) != 0)
		fail_msg("phone '%s': got '%s', want '%s'", in, got ? got : "(null)", want ? want : "(null)");
}

static void
test_phone(void **state)
{
	(void)state;
	phone_is("+964 770 123 4567", "+9647701234567");
	phone_is("0770 123 4567", "+9647701234567");
	phone_is("07701234567", "+9647701234567");
	phone_is("٠٧٧٠١٢٣٤٥٦٧", "+9647701234567");	/* Arabic-Indic */
	phone_is("۰۷۵۰۱۲۳۴۵۶۷", "+9647501234567");	/* Persian */
	phone_is("00964 750 123 4567", "+9647501234567");
	phone_is("+44 (0)20 7946 0958", "+442079460958");
	phone_is("\u200e+39 333 812 4471\u200e", "+393338124471");
	phone_is("0770-123-4567 (WhatsApp)", "+9647701234567");
	phone_is("9647701234567", "+9647701234567");
	phone_is("+964 0770 123 4567", "+9647701234567");
	phone_is("12345", NULL);
	phone_is("none", NULL);
}

static void
date_is(const char *in, const char *want)
{
	g_autofree char *got = value_date(in, 2022, months);
	if (g_strcmp0(got, want) != 0)
		fail_msg("date '%s': got '%s', want '%s'", in, got ? got : "(null)", want ? want : "(null)");
}

static void
test_date(void **state)
{
	(void)state;
	date_is("10 March", "2022-03-10");
	date_is("March 10th, 2022", "2022-03-10");
	date_is("10/3", "2022-03-10");
	date_is("10.03.2022", "2022-03-10");
	date_is("2022-03-16", "2022-03-16");
	date_is("١٠ آذار", "2022-03-10");
	date_is("11 اذار 2022", "2022-03-11");
	date_is("١٦ مارس ٢٠٢٢", "2022-03-16");
	date_is("١٠/٣", "2022-03-10");
	date_is("10ی ئازار", "2022-03-10");
	date_is("9 شوبات", "2022-02-09");
	/* two-word Kurdish months take the ezafe on their second word */
	date_is("10ی کانوونی دووەمی 2022", "2022-01-10");
	date_is("3ی تشرینی یەکەمی", "2022-10-03");
	date_is("Thursday 10 March", "2022-03-10");
	date_is("10/3 at 14:30", "2022-03-10");
	date_is("I may leave 12/3", "2022-03-12");
	date_is("on the 10th of March", "2022-03-10");
	date_is("31/2", NULL);
	date_is("soon", NULL);
}

static void
test_bool(void **state)
{
	(void)state;
	static const struct { const char *in; int want; } cases[] = {
		{ "Yes", 1 }, { "yes, please", 1 }, { "YES.", 1 }, { "نعم", 1 }, { "بەڵێ", 1 },
		{ "☒", 1 }, { "✓", 1 }, { "No", 0 }, { "no thanks", 0 }, { "لا", 0 },
		{ "نەخێر", 0 }, { "☐", 0 }, { "maybe", -1 }, { "", -1 },
	};
	for (size_t i = 0; i < G_N_ELEMENTS(cases); i++)
		if (value_bool(cases[i].in, words) != cases[i].want)
			fail_msg("bool '%s': got %d, want %d", cases[i].in,
				 value_bool(cases[i].in, words), cases[i].want);
}

static void
test_country(void **state)
{
	(void)state;
	assert_string_equal(table_search(countries, "Iraq"), "IQ");
	assert_string_equal(table_search(countries, "العراق"), "IQ");
	assert_string_equal(table_search(countries, "عێراق"), "IQ");
	assert_string_equal(table_search(countries, "Erbil, Kurdistan Region, Iraq"), "IQ");
	assert_string_equal(table_search(countries, "Rome, Italy"), "IT");
	assert_string_equal(table_search(countries, "السّويد"), "SE");	/* with shadda */
	assert_string_equal(table_search(countries, "السويد"), "SE");
	assert_string_equal(table_search(countries, "the UK"), "GB");
	assert_null(table_search(countries, "Baghdad"));
	assert_null(table_search(countries, "Italian"));		/* not a word of "Italy" */
}

static void
test_languages(void **state)
{
	(void)state;
	g_autoptr(GPtrArray) a = table_search_all(languages, "Arabic, Kurdish and English");
	assert_int_equal(a->len, 3);
	assert_string_equal(g_ptr_array_index(a, 0), "ar");
	assert_string_equal(g_ptr_array_index(a, 1), "ckb");
	assert_string_equal(g_ptr_array_index(a, 2), "en");
	g_autoptr(GPtrArray) b = table_search_all(languages, "الكوردية والعربية");
	assert_int_equal(b->len, 2);
	assert_string_equal(g_ptr_array_index(b, 0), "ckb");
	assert_string_equal(g_ptr_array_index(b, 1), "ar");
	g_autoptr(GPtrArray) c = table_search_all(languages, "Italian, English, French, some Arabic");
	assert_int_equal(c->len, 4);
	assert_string_equal(g_ptr_array_index(c, 0), "it");
	assert_string_equal(g_ptr_array_index(c, 3), "ar");
}

static void
test_fold(void **state)
{
	(void)state;
	g_autofree char *a = value_fold("  Kurdistan   REGION ");
	assert_string_equal(a, "kurdistan region");
	g_autofree char *b = value_fold("إقليم كوردستان");
	g_autofree char *c = value_fold("اقليم كوردستان");
	assert_string_equal(b, c);
	g_autofree char *d = value_fold("کوردی");	/* Kurdish kaf and yeh */
	g_autofree char *e = value_fold("كوردي");	/* Arabic ones */
	assert_string_equal(d, e);
}

/* value_fold skips NFKC for text whose only marks are Arabic ones it
 * drops: it must fold any text as it folds the text's NFKC.  Random
 * strings of letters, those marks, the hamza and madda that compose, and
 * Latin with a combining accent, from a fixed seed. */
static void
test_fold_as_nfkc(void **state)
{
	(void)state;
	static const gunichar alphabet[] = {
		'a', 'E', ' ', 0x00e9, 0x0301, 0x0627, 0x0648, 0x064a, 0x06cc, 0x06d5, 0x0649, 0x0644,
		0x064b, 0x064e, 0x0650, 0x0651, 0x0652, 0x0656, 0x0670, 0x0653, 0x0654, 0x0655, 0x0640,
	};
	g_autoptr(GRand) rand = g_rand_new_with_seed(2022);
	for (int n = 0; n < 20000; n++) {
		GString *s = g_string_new(NULL);
		for (int k = g_rand_int_range(rand, 1, 8); k > 0; k--)
			g_string_append_unichar(s, alphabet[g_rand_int_range(rand, 0, G_N_ELEMENTS(alphabet))]);
		g_autofree char *nfkc = g_utf8_normalize(s->str, -1, G_NORMALIZE_NFKC);
		g_autofree char *got = value_fold(s->str);
		g_autofree char *want = value_fold(nfkc);
		if (strcmp(got, want) != 0)
			fail_msg("value_fold('%s') = '%s', of its NFKC '%s'", s->str, got, want);
		g_string_free(s, TRUE);
	}
}

/* What a table answers, made from its text and taken from a warm cache:
 * the first of a repeated code wins, names keep their file order within
 * one length, an empty name is skipped, the INDEX-th name as written. */
static void
check_small_table(const struct table *t)
{
	assert_string_equal(table_lookup(t, "Kurdistan Region"), "KR");
	assert_string_equal(table_lookup(t, "ALPHA"), "A");
	assert_null(table_lookup(t, "Kurdistan"));
	assert_string_equal(table_search(t, "from the kurdistan region of iraq"), "KR");
	assert_string_equal(table_search(t, "beta and alpha"), "A");	/* longest */
	assert_string_equal(table_search(t, "beta and alfa"), "B");	/* earliest */
	assert_string_equal(table_search(t, "alfa and beta"), "A");
	assert_string_equal(table_search(t, "an alphabet"), "A");	/* the repeated A's name */
	assert_null(table_search(t, "alphabetical"));	/* whole words only */
	assert_string_equal(table_name_of(t, "A", 0), "Alpha");
	assert_string_equal(table_name_of(t, "A", 1), "Alfa");
	assert_string_equal(table_name_of(t, "A", 7), "Alpha");
	assert_string_equal(table_name_of(t, "A", 2), "Alpha");	/* not "Alphabet", of the repeated A */
	assert_string_equal(table_lookup(t, "alphabet"), "A");
	assert_string_equal(table_name_of(t, "KR", 1), "Kurdistan Region");
	assert_null(table_name_of(t, "ZZ", 0));
	g_autoptr(GPtrArray) all = table_search_all(t, "beta, the Kurdistan Region, iraq and alfa");
	assert_int_equal(all->len, 4);
	assert_string_equal(g_ptr_array_index(all, 0), "B");
	assert_string_equal(g_ptr_array_index(all, 1), "KR");
	assert_string_equal(g_ptr_array_index(all, 2), "IQ");
	assert_string_equal(g_ptr_array_index(all, 3), "A");
}

static void
test_table_text_and_cache(void **state)
{
	(void)state;
	g_autofree char *dir = g_dir_make_tmp("confmail-table-XXXXXX", NULL);
	g_autofree char *path = g_build_filename(dir, "small.table", NULL);
	g_autofree char *cache_path = g_build_filename(dir, "db.rules-cache", NULL);
	assert_true(g_file_set_contents(path,
					"# code, then names\n"
					"A\tAlpha | Alfa\n"
					"B\tBeta |  | Alpha\n"
					"KR\tKurdistan Region | Kurdistan Region\n"
					"IQ\tIraq\n"
					"A\tAlphabet\n", -1, NULL));
	g_autoptr(table) plain = table_load(path, NULL);
	assert_non_null(plain);
	check_small_table(plain);

	for (int round = 0; round < 2; round++) {	/* cold, then warm */
		struct rules_cache *c = rules_cache_open(cache_path);
		/* a file is written only with a pattern in it */
		pcre2_code *re = rules_cache_code(c, "x");
		if (!re) {
			int err;
			PCRE2_SIZE at;
			re = pcre2_compile((PCRE2_SPTR) "x", 1, RULES_PCRE2_OPTIONS, &err, &at, NULL);
			rules_cache_keep_code(c, "x", re);
		}
		g_autoptr(table) t = table_load_cached(path, c, NULL);
		assert_non_null(t);
		check_small_table(t);
		guint hits, misses;
		rules_cache_counts(c, &hits, &misses);
		assert_int_equal(hits, round ? 2 : 0);	/* the pattern and the table */
		assert_true(rules_cache_save(c, NULL));
		rules_cache_free(c);
		pcre2_code_free(re);
	}
	g_autoptr(GError) error = NULL;
	assert_true(g_file_set_contents(path, "A Alpha\nno-names-here\n", -1, NULL));
	assert_null(table_load(path, &error));
	assert_non_null(strstr(error->message, "small.table:2:"));
	g_unlink(cache_path);
	g_unlink(path);
	g_rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_text_and_cache),
		cmocka_unit_test(test_phone),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_bool),
		cmocka_unit_test(test_country),
		cmocka_unit_test(test_languages),
		cmocka_unit_test(test_fold),
		cmocka_unit_test(test_fold_as_nfkc),
	};
	return cmocka_run_group_tests(tests, load, unload);
}
