/* needles.c: the words a pattern cannot match without. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "confmail.h"

static gint
by_string(gconstpointer a, gconstpointer b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The needles of PATTERN, sorted and joined with "|", or "(none)". */
static char *
words_of(const char *pattern)
{
	struct needle_index *idx = needle_index_new();
	struct needles *n = needles_of(idx, pattern);
	if (!n) {
		needle_index_free(idx);
		return g_strdup("(none)");
	}
	GPtrArray *w = g_ptr_array_new();
	for (guint i = 0; i < needles_count(n); i++)
		g_ptr_array_add(w, (gpointer)needles_word(idx, n, i));
	g_ptr_array_sort(w, by_string);
	g_ptr_array_add(w, NULL);
	char *s = g_strjoinv("|", (char **)w->pdata);
	g_ptr_array_free(w, TRUE);
	needles_free(n);
	needle_index_free(idx);
	return s;
}

#define assert_needles(pattern, expected) do { \
	g_autofree char *got_ = words_of(pattern); \
	assert_string_equal(got_, expected); \
} while (0)

static void
test_words(void **state)
{
	(void)state;
	/* alternations of words, optional letters left out, case folded */
	assert_needles("\\bfund(s|ing|ed)?\\b|Sponsor|\\bcosts?\\b", "cost|fund|sponsor");
	assert_needles("\\bvisas?\\b|passport|تأشيرة", "passport|visa|تأشيرة");
	assert_needles("pick[- ]?up|shuttle", "pick up|pick-up|pickup|shuttle");
	/* a required group stands for its words; the rarest element wins */
	assert_needles("\\b(question|query|could you (tell|let))\\b", "could you let|could you tell|query|question");
	assert_needles("(?i)\\bmy name is\\s+(?<v>\\p{Lu}\\w+)", "my name is");
	assert_needles("\\b(?:I|we) (?:will )?(?:cover|pay(?: for)?) our",
		       "i cover our|i pay for our|i pay our|i will cover our|i will pay for our|i will pay our|"
		       "we cover our|we pay for our|we pay our|we will cover our|we will pay for our|we will pay our");
	assert_needles("\\b(?:I|we) (?:will )?(?:cover|pay(?: for)?)",
		       "i cover|i pay|i will cover|i will pay|we cover|we pay|we will cover|we will pay");
	/* quantifiers, escapes, lookarounds, option settings */
	assert_needles("abc{2}de", "abc");
	assert_needles("x{0,3}bcd", "bcd");
	assert_needles("(?<=x)abc(?!def)", "abc");
	assert_needles("e\\-mail\\?", "e-mail?");
	assert_needles("(?-i)\\b[Tt]his is (?:Ahmed)", "this is ahmed");
	/* exact pieces side by side multiply: classes of a few characters,
	 * groups of words, optional parts; a class with a range does not */
	assert_needles("organi[sz]ation", "organisation|organization");
	assert_needles("\\bis (there|it)\\b", "is it|is there");
	assert_needles("we (?:will )?go", "we go|we will go");
	assert_needles("(abc|)def", "def");
	assert_needles("[a-c]bcd|[^x]abc", "abc|bcd");
	/* more than 64 strings: the product stops at the piece before */
	struct needle_index *idx = needle_index_new();
	struct needles *n = needles_of(idx, "(a1|a2|a3|a4|a5)(b1|b2|b3|b4|b5)(c1|c2|c3|c4|c5)");
	assert_int_equal(needles_count(n), 25);
	assert_int_equal(strlen(needles_word(idx, n, 0)), 4);
	needles_free(n);
	needle_index_free(idx);
	/* a line break is never part of a word */
	assert_needles("abcd\nef", "abcd");
	/* a letter with case beyond ASCII is not a literal: é matches É */
	assert_needles("réponse", "ponse");
}

static void
test_no_words(void **state)
{
	(void)state;
	/* an alternative with no word of three bytes or more: nothing to rule out */
	assert_needles(".", "(none)");
	assert_needles("abc|de", "(none)");
	assert_needles("abc|", "(none)");
	assert_needles("(abcd)?x", "(none)");
	assert_needles("[a-z]+in|walk", "(none)");
	assert_needles("[a-z]+ing|walk", "ing|walk");
	assert_needles("(?=abcd)x", "(none)");
	/* syntax this reader does not know is never guessed at */
	assert_needles("(?x) a b c d", "(none)");
	assert_needles("\\Qabcd\\E", "(none)");
	assert_needles("(*UCP)abcd", "(none)");
	assert_needles("(?(1)abcd|efgh)", "(none)");
	assert_needles("abcd)", "(none)");
	assert_needles("(abcd", "(none)");
}

/* Whether the text may match PATTERN, by the index IDX. */
static bool
may_hold(struct needle_index *idx, struct needles *n, const char *text)
{
	g_autofree char *folded = needles_fold(text);
	g_autoptr(needle_hits) hits = needle_hits_of(idx, folded);
	return needles_in(n, hits);
}

static void
test_texts(void **state)
{
	(void)state;
	struct needle_index *idx = needle_index_new();
	struct needles *visa = needles_of(idx, "\\bvisa\\b|passport");
	/* words shared with another pattern are one word of the index; a
	 * word of three bytes; words that start alike ("hotel", "hotels") */
	struct needles *travel = needles_of(idx, "passport|bus|hotel|hotels only");
	assert_true(may_hold(idx, visa, "About my PASSPORT, please"));
	assert_true(may_hold(idx, visa, "visa"));
	assert_false(may_hold(idx, visa, "Nothing about travel papers"));
	assert_false(may_hold(idx, visa, "vis"));
	assert_false(may_hold(idx, visa, ""));
	assert_true(may_hold(idx, travel, "by BUS"));
	assert_true(may_hold(idx, travel, "the hotel"));
	assert_false(may_hold(idx, travel, "the hote"));
	assert_true(may_hold(idx, visa, "\xd9\x81\xd9\x8a passport \xd8\xaa"));
	/* no needles, or a text that must not be filtered: always "may match" */
	assert_true(needles_in(NULL, NULL));
	assert_true(needles_in(visa, NULL));
	/* PCRE2 folds the Kelvin sign to k and the long s to s: such a text
	 * is not filtered */
	assert_null(needles_fold("pa\xc5\xbfsport"));
	assert_null(needles_fold("\xe2\x84\xaa"));
	assert_true(may_hold(idx, visa, "pa\xc5\xbfsport"));
	/* the hits of a subject and a body make those of both */
	g_autofree char *subject = needles_fold("Visa");
	g_autofree char *body = needles_fold("I come by bus");
	g_autoptr(needle_hits) both = needle_hits_of(idx, subject);
	g_autoptr(needle_hits) body_hits = needle_hits_of(idx, body);
	assert_false(needles_in(travel, both));
	needle_hits_add(both, body_hits);
	assert_true(needles_in(visa, both));
	assert_true(needles_in(travel, both));
	assert_false(needles_in(visa, body_hits));
	needles_free(visa);
	needles_free(travel);
	needle_index_free(idx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_no_words),
		cmocka_unit_test(test_texts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
