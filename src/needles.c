/*
 * needles.c - the words a pattern cannot match without.
 *
 * Most rules are alternations of words ("\bvisas?\b|passport|تأشيرة")
 * run over the whole text of every message, and most of them do not
 * match.  PCRE2 tries the alternatives at nearly every position of the
 * text; looking for each word with strstr() is several times cheaper.
 *
 * needles_of() reads a pattern for a set of literal strings of which
 * every match must contain one.  Where that cannot be shown (a class, a
 * dot or an optional part is all an alternative has, or a construct this
 * reader does not know), it gives NULL and the pattern always runs.  The
 * set only rules a text out: a text that holds a needle still goes to
 * PCRE2.  The words of all patterns go into one index, so that one pass
 * over a text (needle_hits_of) finds every word of every pattern in it.  Patterns are caseless, so needles and texts are compared with
 * ASCII letters folded to lower case; a needle never holds a character
 * with case beyond ASCII, and a text holding one of the few characters
 * that PCRE2 folds to an ASCII letter (Kelvin sign, long s, dotted and
 * dotless i) is not filtered at all.
 */
#include "confmail.h"

#include <stdlib.h>
#include <string.h>

struct needles {
	GArray *ids;		/* of guint: the words, in the index */
};

/* Words by their first three bytes: a chained hash table small enough
 * that a single filter run does not pay for touching much of it. */
#define BUCKETS 4096

/* A word as the scan compares it: its first four bytes at once. */
struct entry {
	guint64 key, mask;	/* the first bytes, and which of them count */
	guint len;
	guint next;		/* the next word of the same bucket, plus one */
};

/* Words of LONG bytes or more are filed by that many first bytes, the
 * others by their first three: many words begin alike ("we will", "we
 * need", "ال..."), and three bytes would put them all in one bucket. */
#define LONG 6

struct needle_index {
	GPtrArray *words;	/* ASCII-folded, at least MIN_NEEDLE bytes */
	GHashTable *ids;	/* word -> its index in words, plus one */
	guint head[2][BUCKETS];	/* first word (index plus one) of a bucket:
				 * [0] short words, [1] long ones */
	GArray *entries;	/* of struct entry, by word index */
};

struct needle_hits {
	guint words;
	guint8 bits[];		/* one per word of the index */
};

/* Shorter words would be found in nearly every text. */
#define MIN_NEEDLE 3

struct scan {
	const char *p;
	bool bail;		/* a construct this reader does not know */
	GString *lit;		/* the plain character an atom read */
	GPtrArray *runs;	/* of GString: the pending run of each depth */
	guint depth;		/* of groups */
};

/* What a piece of a pattern tells of the text it matches.  NEEDED: words
 * of which that text holds one, or NULL.  EXACT: the strings it can
 * match, when it can match nothing else ("(I|we)" is {"I", "we"},
 * "(?:will )?" is {"will ", ""}), or NULL.  Exact pieces side by side
 * multiply: "do (I|we) need" needs "do I need" or "do we need". */
struct lits {
	GPtrArray *needed, *exact;
};

/* More strings than this, and a piece is not worth listing exactly. */
#define MAX_EXACT 64

enum atom { ATOM_LITERAL, ATOM_GROUP, ATOM_CLASS, ATOM_EMPTY, ATOM_OTHER };

static struct lits alternation(struct scan *s);

static void
free_string(gpointer s)
{
	g_string_free(s, TRUE);
}

static void
set_free(GPtrArray *set)
{
	if (set)
		g_ptr_array_free(set, TRUE);
}

static GPtrArray *
set_new(void)
{
	return g_ptr_array_new_with_free_func(g_free);
}

static GPtrArray *
set_of(const char *word)
{
	GPtrArray *set = set_new();
	g_ptr_array_add(set, g_strdup(word));
	return set;
}

static size_t
shortest(const GPtrArray *set)
{
	size_t n = SIZE_MAX;
	for (guint i = 0; i < set->len; i++)
		n = MIN(n, strlen(g_ptr_array_index(set, i)));
	return n;
}

/* Every string of A followed by every string of B, or NULL when that
 * would be more than MAX_EXACT. */
static GPtrArray *
product(const GPtrArray *a, const GPtrArray *b)
{
	if ((gsize)a->len * b->len > MAX_EXACT)
		return NULL;
	GPtrArray *out = set_new();
	for (guint i = 0; i < a->len; i++)
		for (guint k = 0; k < b->len; k++)
			g_ptr_array_add(out, g_strconcat(g_ptr_array_index(a, i),
							 g_ptr_array_index(b, k), NULL));
	return out;
}

/* Keeps in *BEST whichever of *BEST and CANDIDATE has the longer
 * shortest word: the rarer the words, the more texts they rule out.
 * CANDIDATE is consumed. */
static void
consider(GPtrArray **best, GPtrArray *candidate)
{
	if (!candidate || shortest(candidate) < MIN_NEEDLE) {
		set_free(candidate);
		return;
	}
	if (!*best || shortest(candidate) > shortest(*best)) {
		set_free(*best);
		*best = candidate;
	} else {
		set_free(candidate);
	}
}

/* Skips a group whose "(" is just behind S->p, nested groups, classes and
 * escapes included (a lookaround: what it says is not in the match). */
static void
skip_group(struct scan *s)
{
	int depth = 1;
	while (*s->p && depth > 0) {
		if (*s->p == '\\' && s->p[1])
			s->p++;
		else if (*s->p == '(')
			depth++;
		else if (*s->p == ')')
			depth--;
		s->p++;
	}
	if (depth > 0)
		s->bail = true;
}

/* Whether C, a character of a caseless pattern, stands for itself (and
 * its ASCII case): a letter with case beyond ASCII matches its other
 * case, and a word never holds a line break (needle_hits_add). */
static bool
plain_char(gunichar c)
{
	return c != '\n' && (c < 0x80 || (g_unichar_tolower(c) == c && g_unichar_toupper(c) == c));
}

/* A character class, S->p on its "[": the characters it can match when
 * it is a short list of plain ones ("[sz]", "[- ]"), else NULL. */
static GPtrArray *
class_set(struct scan *s)
{
	const char *start = ++s->p;
	bool plain = *s->p != '^';
	if (*s->p == '^')
		s->p++;
	if (*s->p == ']')
		s->p++;
	while (*s->p && *s->p != ']') {
		if (*s->p == '\\' && s->p[1]) {
			plain = false;
			s->p++;
		} else if (s->p[0] == '[' && s->p[1] == ':') {
			const char *end = strstr(s->p + 2, ":]");
			plain = false;
			if (end)
				s->p = end + 1;
		}
		s->p = g_utf8_next_char(s->p);
	}
	if (*s->p != ']') {
		s->bail = true;
		return NULL;
	}
	const char *end = s->p++;
	if (!plain || end == start)
		return NULL;
	GPtrArray *set = set_new();
	for (const char *c = start; c < end; c = g_utf8_next_char(c)) {
		gunichar u = g_utf8_get_char(c);
		/* a range, or a character that is not itself */
		if ((*c == '-' && c != start && c + 1 != end) || !plain_char(u) || set->len == 8) {
			set_free(set);
			return NULL;
		}
		g_ptr_array_add(set, g_strndup(c, g_utf8_next_char(c) - c));
	}
	return set;
}

/* Skips "{...}", "<...>" or "'...'" after an escape such as \p or \k. */
static void
skip_argument(struct scan *s)
{
	char close = *s->p == '{' ? '}' : *s->p == '<' ? '>' : *s->p == '\'' ? '\'' : 0;
	if (!close) {
		while (g_ascii_isdigit(*s->p))
			s->p++;
		return;
	}
	const char *end = strchr(s->p + 1, close);
	if (!end) {
		s->bail = true;
		return;
	}
	s->p = end + 1;
}

/* The character at S->p, a literal when it is plain (into LIT). */
static enum atom
character(struct scan *s, GString *lit)
{
	const char *next = g_utf8_next_char(s->p);
	bool plain = plain_char(g_utf8_get_char(s->p));
	if (plain)
		g_string_append_len(lit, s->p, next - s->p);
	s->p = next;
	return plain ? ATOM_LITERAL : ATOM_OTHER;
}

/* An escape, S->p on the character after the backslash. */
static enum atom
escape(struct scan *s, GString *lit)
{
	char c = *s->p;
	if (!c) {
		s->bail = true;
		return ATOM_OTHER;
	}
	if (!g_ascii_isalnum(c))	/* \? \. \- \\ and escaped non-ASCII */
		return character(s, lit);
	s->p++;
	if (strchr("bBAzZGK", c))	/* they match no text */
		return ATOM_EMPTY;
	if (strchr("pPNgk", c))
		skip_argument(s);
	else if (g_ascii_isdigit(c) && c != '0')
		while (g_ascii_isdigit(*s->p))
			s->p++;
	else if (!strchr("dDwWsShHvVRXCntrfea", c))
		s->bail = true;	/* \Q, \x, \o, \c, \0, \u ...: not worth knowing */
	return ATOM_OTHER;
}

/* A group, S->p on its "(": what it tells in *L.  Lookarounds, option
 * settings and comments match no text (ATOM_EMPTY). */
static enum atom
group(struct scan *s, struct lits *l)
{
	const char *p = s->p + 1;
	if (*p == '*') {
		s->bail = true;	/* (*VERB) */
		return ATOM_OTHER;
	}
	if (*p == '?') {
		p++;
		if (*p == '#') {	/* a comment */
			const char *end = strchr(p, ')');
			s->p = end ? end + 1 : p + strlen(p);
			s->bail = !end;
			return ATOM_EMPTY;
		}
		if (*p == '=' || *p == '!' || (p[0] == '<' && (p[1] == '=' || p[1] == '!'))) {
			s->p = p;
			skip_group(s);
			return ATOM_EMPTY;
		}
		if (*p == ':' || *p == '>' || *p == '|') {
			p++;
		} else if (*p == '<' || *p == '\'' || (p[0] == 'P' && p[1] == '<')) {
			const char *end = strpbrk(p + 1, ">'");
			if (!end) {
				s->bail = true;
				return ATOM_OTHER;
			}
			p = end + 1;
		} else {
			/* option letters: (?i) or (?i:...); extended mode is
			 * another syntax, recursion and conditions another game */
			const char *q = p;
			while (g_ascii_isalpha(*q) || *q == '-' || *q == '^')
				q++;
			if (q == p || memchr(p, 'x', q - p) || (*q != ')' && *q != ':')) {
				s->bail = true;
				return ATOM_OTHER;
			}
			if (*q == ')') {
				s->p = q + 1;
				return ATOM_EMPTY;
			}
			p = q + 1;
		}
	}
	s->p = p;
	s->depth++;
	*l = alternation(s);
	s->depth--;
	if (*s->p != ')') {
		s->bail = true;
		return ATOM_OTHER;
	}
	s->p++;
	return ATOM_GROUP;
}

/* A quantifier after an atom, if any: its minimum (1 with none), and
 * whether the atom may repeat. */
static int
quantifier(struct scan *s, bool *repeats)
{
	int min = 1;
	*repeats = false;
	switch (*s->p) {
	case '?': min = 0; s->p++; break;
	case '*': min = 0; *repeats = true; s->p++; break;
	case '+': *repeats = true; s->p++; break;
	case '{': {
		/* {n}, {n,}, {n,m}; anything else is a literal "{" */
		const char *q = s->p + 1;
		if (!g_ascii_isdigit(*q))
			return 1;
		min = atoi(q);
		while (g_ascii_isdigit(*q))
			q++;
		int max = min;
		if (*q == ',') {
			q++;
			max = g_ascii_isdigit(*q) ? atoi(q) : G_MAXINT;
			while (g_ascii_isdigit(*q))
				q++;
		}
		if (*q != '}')
			return 1;
		*repeats = max > 1;
		s->p = q + 1;
		break;
	}
	default:
		return 1;
	}
	if (*s->p == '?' || *s->p == '+')	/* lazy, possessive */
		s->p++;
	return min;
}

/* One atom: its kind, with its literal text in LIT, its strings in *SET
 * (a class) or what it tells in *L (a group). */
static enum atom
atom(struct scan *s, GString *lit, GPtrArray **set, struct lits *l)
{
	switch (*s->p) {
	case '\\':
		s->p++;
		return escape(s, lit);
	case '[':
		*set = class_set(s);
		return *set ? ATOM_CLASS : ATOM_OTHER;
	case '(':
		return group(s, l);
	case '^': case '$':
		s->p++;
		return ATOM_EMPTY;
	case '.':
		s->p++;
		return ATOM_OTHER;
	case '*': case '+': case '?':
		s->bail = true;
		return ATOM_OTHER;
	}
	return character(s, lit);
}

/* Whether C is an ASCII character that stands for itself in a pattern. */
static bool
plain_ascii(char c)
{
	return c >= 0x20 && c < 0x7f && !strchr("\\[]()|.^$*+?{}", c);
}

/* RUN added to the end of every string of *CUR (NULL: the empty string
 * alone), and emptied. */
static void
append_run(GPtrArray **cur, GString *run)
{
	if (!run->len)
		return;
	if (!*cur) {
		*cur = set_new();
		g_ptr_array_add(*cur, g_strndup(run->str, run->len));
	} else {
		for (guint i = 0; i < (*cur)->len; i++) {
			char *old = (*cur)->pdata[i];
			(*cur)->pdata[i] = g_strconcat(old, run->str, NULL);
			g_free(old);
		}
	}
	g_string_truncate(run, 0);
}

/* One alternative.  CUR holds the strings the atoms read so far can
 * match, as long as each of them is known exactly (NULL: only the empty
 * string, which saves making sets for the many alternatives that are one
 * word); an atom that is not ends them, and they become a candidate for
 * the words it needs. */
static struct lits
sequence(struct scan *s)
{
	GPtrArray *cur = NULL, *best = NULL;
	bool exact = true;	/* CUR holds all of the alternative so far */
	/* plain characters are gathered in RUN and added to CUR at once;
	 * the strings are kept from one alternative to the next */
	if (s->runs->len <= s->depth)
		g_ptr_array_add(s->runs, g_string_new(NULL));
	GString *lit = s->lit, *run = g_ptr_array_index(s->runs, s->depth);
	g_string_truncate(run, 0);

	while (*s->p && *s->p != '|' && *s->p != ')' && !s->bail) {
		/* the common case first: plain ASCII characters that no
		 * quantifier follows go into RUN as they are */
		const char *q = s->p;
		while (plain_ascii(q[0]) && !strchr("?*+{", q[1] ? q[1] : '?'))
			q++;
		if (q > s->p) {
			g_string_append_len(run, s->p, q - s->p);
			s->p = q;
			continue;
		}
		GPtrArray *set = NULL;
		struct lits l = { 0 };
		g_string_truncate(lit, 0);
		enum atom kind = atom(s, lit, &set, &l);
		bool repeats = false;
		int min = s->bail ? 0 : quantifier(s, &repeats);
		if (kind == ATOM_EMPTY)
			continue;
		if (kind == ATOM_LITERAL && min == 1 && !repeats) {
			g_string_append(run, lit->str);
			continue;
		}
		append_run(&cur, run);
		GPtrArray *strings = kind == ATOM_LITERAL ? set_of(lit->str)
		    : kind == ATOM_CLASS ? g_steal_pointer(&set)
		    : kind == ATOM_GROUP ? g_steal_pointer(&l.exact) : NULL;
		if (strings && min == 0 && !repeats)
			g_ptr_array_add(strings, g_strdup(""));	/* optional */
		GPtrArray *next = !strings || (min == 0 && repeats) ? NULL
		    : cur ? product(cur, strings) : g_steal_pointer(&strings);
		if (next && !repeats) {
			set_free(cur);
			cur = next;
		} else {
			/* a repeat of a known piece still begins with it */
			consider(&best, next ? next : g_steal_pointer(&cur));
			if (kind == ATOM_GROUP && min > 0)
				consider(&best, g_steal_pointer(&l.needed));
			set_free(g_steal_pointer(&cur));
			exact = false;
		}
		set_free(strings);
		set_free(l.needed);
		set_free(l.exact);
	}
	append_run(&cur, run);
	struct lits out = { 0 };
	if (exact) {
		/* CUR is both what the alternative matches and, if better
		 * than what was found, the words it needs */
		if (!cur)
			cur = set_of("");
		size_t n = shortest(cur);
		if (n >= MIN_NEEDLE && (!best || n > shortest(best)))
			consider(&best, g_ptr_array_copy(cur, (GCopyFunc)(void (*)(void))g_strdup, NULL));
		out.exact = cur;
	} else {
		consider(&best, cur);
	}
	out.needed = best;
	if (s->bail) {
		set_free(g_steal_pointer(&out.needed));
		set_free(g_steal_pointer(&out.exact));
	}
	return out;
}

/* Alternatives up to ")" or the end: the union of their words (none
 * when one of them has none), and of their strings. */
static struct lits
alternation(struct scan *s)
{
	GPtrArray *needed = set_new(), *exact = set_new();
	bool every_needed = true, every_exact = true;
	for (;;) {
		struct lits alt = sequence(s);
		/* the strings move from the alternative's sets to these */
		every_needed = every_needed && alt.needed;
		if (every_needed)
			g_ptr_array_extend_and_steal(needed, g_steal_pointer(&alt.needed));
		every_exact = every_exact && alt.exact && exact->len + alt.exact->len <= MAX_EXACT;
		if (every_exact)
			g_ptr_array_extend_and_steal(exact, g_steal_pointer(&alt.exact));
		set_free(alt.needed);
		set_free(alt.exact);
		if (*s->p != '|' || s->bail)
			break;
		s->p++;
	}
	struct lits out = { needed, exact };
	if (!every_needed || s->bail)
		set_free(g_steal_pointer(&out.needed));
	if (!every_exact || s->bail)
		set_free(g_steal_pointer(&out.exact));
	return out;
}

/* The bucket of the word of at most 8 bytes KEY, by its first N. */
static guint
bucket_of(guint64 key, int n)
{
	key &= n >= 8 ? ~(guint64)0 : ((guint64)1 << (8 * n)) - 1;	/* little-endian */
	return (guint)((key * 0x9e3779b97f4a7c15u) >> (64 - 12));	/* BUCKETS */
}

struct needle_index *
needle_index_new(void)
{
	struct needle_index *idx = g_new0(struct needle_index, 1);
	idx->words = g_ptr_array_new_with_free_func(g_free);
	idx->ids = g_hash_table_new(g_str_hash, g_str_equal);
	idx->entries = g_array_new(FALSE, TRUE, sizeof(struct entry));
	return idx;
}

void
needle_index_free(struct needle_index *idx)
{
	if (!idx)
		return;
	g_hash_table_destroy(idx->ids);
	g_ptr_array_free(idx->words, TRUE);
	g_array_free(idx->entries, TRUE);
	g_free(idx);
}

/* The id of WORD in IDX, added if new. */
static guint
word_id(struct needle_index *idx, char *word)
{
	gpointer known = g_hash_table_lookup(idx->ids, word);
	if (known) {
		g_free(word);
		return GPOINTER_TO_UINT(known) - 1;
	}
	guint id = idx->words->len;
	g_ptr_array_add(idx->words, word);
	g_hash_table_insert(idx->ids, word, GUINT_TO_POINTER(id + 1));
	struct entry e = { .len = (guint)strlen(word) };
	memcpy(&e.key, word, MIN(e.len, 8));
	e.mask = e.len >= 8 ? ~(guint64)0 : ((guint64)1 << (8 * e.len)) - 1;
	bool long_word = e.len >= LONG;
	guint b = bucket_of(e.key, long_word ? LONG : MIN_NEEDLE);
	e.next = idx->head[long_word][b];
	g_array_append_val(idx->entries, e);
	idx->head[long_word][b] = id + 1;
	return id;
}

struct needles *
needles_of(struct needle_index *idx, const char *pattern)
{
	struct scan s = {
		.p = pattern,
		.lit = g_string_new(NULL),
		.runs = g_ptr_array_new_with_free_func(free_string),
	};
	struct lits l = alternation(&s);
	GPtrArray *words = l.needed;
	set_free(l.exact);
	g_string_free(s.lit, TRUE);
	g_ptr_array_free(s.runs, TRUE);
	if (!words || *s.p) {	/* a stray ")" */
		set_free(words);
		return NULL;
	}
	for (guint i = 0; i < words->len; i++)
		for (char *c = g_ptr_array_index(words, i); *c; c++)
			*c = g_ascii_tolower(*c);
	struct needles *n = g_new(struct needles, 1);
	n->ids = g_array_new(FALSE, FALSE, sizeof(guint));
	/* a text holding "funding" holds "fund": keep the shorter */
	g_autofree bool *redundant = g_new0(bool, words->len);
	g_autofree size_t *len = g_new(size_t, words->len);
	for (guint i = 0; i < words->len; i++)
		len[i] = strlen(g_ptr_array_index(words, i));
	for (guint i = 0; i < words->len; i++)
		for (guint k = 0; k < words->len && !redundant[i]; k++) {
			const char *w = g_ptr_array_index(words, i), *o = g_ptr_array_index(words, k);
			redundant[i] = k != i && len[k] <= len[i] &&
			    (len[k] < len[i] ? strstr(w, o) != NULL : strcmp(w, o) == 0 && k < i);
		}
	for (guint i = 0; i < words->len; i++) {
		if (redundant[i])
			continue;
		guint id = word_id(idx, g_steal_pointer(&words->pdata[i]));
		g_array_append_val(n->ids, id);
	}
	set_free(words);
	return n;
}

struct needles *
needles_of_words(struct needle_index *idx, const GPtrArray *words)
{
	struct needles *n = g_new(struct needles, 1);
	n->ids = g_array_sized_new(FALSE, FALSE, sizeof(guint), words->len);
	for (guint i = 0; i < words->len; i++) {
		guint id = word_id(idx, g_strdup(g_ptr_array_index(words, i)));
		g_array_append_val(n->ids, id);
	}
	return n;
}

void
needles_free(struct needles *n)
{
	if (n) {
		g_array_free(n->ids, TRUE);
		g_free(n);
	}
}

guint
needles_count(const struct needles *n)
{
	return n ? n->ids->len : 0;
}

const char *
needles_word(const struct needle_index *idx, const struct needles *n, guint i)
{
	return g_ptr_array_index(idx->words, g_array_index(n->ids, guint, i));
}

struct needle_hits *
needle_hits_of(const struct needle_index *idx, const char *folded)
{
	if (!idx || !folded)
		return NULL;
	struct needle_hits *h = g_malloc0(sizeof *h + idx->words->len / 8 + 1);
	h->words = idx->words->len;
	size_t len = strlen(folded);
	const struct entry *entries = (const struct entry *)(void *)idx->entries->data;
	for (size_t i = 0; i + MIN_NEEDLE <= len; i++) {
		/* a word begins with a whole character, never inside one */
		if (((guint8)folded[i] & 0xc0) == 0x80)
			continue;
		/* up to 8 bytes, zeros past the text's end */
		guint64 here = 0;
		if (len - i >= 8)
			memcpy(&here, folded + i, 8);
		else
			memcpy(&here, folded + i, len - i);
		for (int kind = 0; kind < 2; kind++) {
			if (kind == 1 && len - i < LONG)
				break;
			guint id = idx->head[kind][bucket_of(here, kind ? LONG : MIN_NEEDLE)];
			for (; id; id = entries[id - 1].next) {
				const struct entry *e = &entries[id - 1];
				if ((here & e->mask) != e->key || e->len > len - i)
					continue;
				if (e->len <= 8 || memcmp(folded + i + 8,
							  (const char *)g_ptr_array_index(idx->words, id - 1) + 8,
							  e->len - 8) == 0)
					h->bits[(id - 1) / 8] |= (guint8)(1u << ((id - 1) % 8));
			}
		}
	}
	return h;
}

void
needle_hits_add(struct needle_hits *to, const struct needle_hits *from)
{
	for (guint i = 0; to && from && i < to->words / 8 + 1; i++)
		to->bits[i] |= from->bits[i];
}

void
needle_hits_free(struct needle_hits *h)
{
	g_free(h);
}

char *
needles_fold(const char *text)
{
	/* U+212A KELVIN SIGN, U+017F LONG S, U+0130, U+0131 */
	static const char *const to_ascii[] = { "\xe2\x84\xaa", "\xc5\xbf", "\xc4\xb0", "\xc4\xb1" };
	if (!text)
		return NULL;
	for (size_t i = 0; i < G_N_ELEMENTS(to_ascii); i++)
		if (strstr(text, to_ascii[i]))
			return NULL;
	return g_ascii_strdown(text, -1);
}

bool
needles_in(const struct needles *n, const struct needle_hits *hits)
{
	if (!n || !hits)
		return true;
	for (guint i = 0; i < n->ids->len; i++) {
		guint id = g_array_index(n->ids, guint, i);
		if (hits->bits[id / 8] & (1u << (id % 8)))
			return true;
	}
	return false;
}
