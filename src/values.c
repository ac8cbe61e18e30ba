/*
 * values.c - what a written value means: the tables of names in
 * filters/NAME.table (countries, languages, months, yes/no words) and the
 * normalisers of FIELDS.md (phones to E.164, dates to YYYY-MM-DD, countries
 * to ISO codes, answers to booleans, lists of languages to codes).
 *
 * Matching folds text first (value_fold): case, Arabic diacritics and the
 * Arabic/Persian/Kurdish variants of the same letter do not matter.
 */
#include "rules_cache.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A table is one block of bytes, read where it lies: made once from the
 * file's text, or taken as it is from the rules cache, so that a
 * delivery builds nothing for the few names it looks up.  The block:
 *
 *   u32 codes; each: CODE, u32 names, each name as written
 *   u32 names; each, longest first: the folded NAME, its CODE
 *
 * each string a u32 length, its bytes and a NUL (used in place). */
struct table {
	GBytes *block;
	const guint8 *codes, *names;	/* the two parts of BLOCK */
	guint32 ncodes, nnames;
};

/* One character of the matching key, or 0 to drop it. */
static gunichar
fold_char(gunichar c)
{
	switch (c) {
	case 0x0623: case 0x0625: case 0x0622: case 0x0671:	/* أ إ آ ٱ */
		return 0x0627;					/* ا */
	case 0x0649: case 0x06CC: case 0x06D2:			/* ى ی ے */
		return 0x064A;					/* ي */
	case 0x06A9:						/* ک */
		return 0x0643;					/* ك */
	case 0x0629:						/* ة */
		return 0x0647;					/* ه */
	case 0x06C0: case 0x06D5:				/* ۀ ە */
		return 0x0647;
	case 0x0640:						/* tatweel */
		return 0;
	}
	if (c >= 0x064B && c <= 0x065F)		/* harakat, shadda, sukun */
		return 0;
	if (c == 0x0670)			/* superscript alef */
		return 0;
	return g_unichar_tolower(c);
}

/* An Arabic mark that folding drops (fold_char) and that takes no part
 * in composition: with nothing else to normalise, NFKC may reorder such
 * marks among themselves but the fold drops them all the same.  The
 * hamza and madda above and below (U+0653..0655) compose and are not
 * among them. */
static bool
dropped_mark(gunichar c)
{
	return (c >= 0x064B && c <= 0x0652) || (c >= 0x0656 && c <= 0x065F) || c == 0x0670;
}

/* Whether S has anything NFKC would change: combining marks, Arabic
 * presentation forms, full-width forms.  Most text has none, and
 * normalising is the dearest step of folding. */
static bool
needs_normalising(const char *s)
{
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		if ((unsigned char)*p < 0x80)
			continue;
		gunichar c = g_utf8_get_char(p);
		if ((g_unichar_ismark(c) && !dropped_mark(c)) || (c >= 0xFB50 && c <= 0xFDFF) ||
		    (c >= 0xFE70 && c <= 0xFEFF) || (c >= 0xFF00 && c <= 0xFFEF) ||
		    (c >= 0x2000 && c <= 0x2BFF) || c == 0x00A0)
			return true;
	}
	return false;
}

char *
value_fold(const char *s)
{
	g_autofree char *nfc = needs_normalising(s) ? g_utf8_normalize(s, -1, G_NORMALIZE_NFKC)
	    : g_strdup(s);
	if (!nfc)
		return g_strdup("");
	/* A folded character takes at most 4 bytes and an input character
	 * at least 1, so 4 bytes per input byte always suffice. */
	char *out = g_malloc(strlen(nfc) * 4 + 1), *o = out;
	bool space = false;

	for (const char *p = nfc; *p; p = g_utf8_next_char(p)) {
		gunichar c = (unsigned char)*p < 0x80 ? (gunichar)*p : g_utf8_get_char(p);
		if (c < 0x80 ? g_ascii_isspace((int)c) || c == '_' : g_unichar_isspace(c)) {
			space = o > out;
			continue;
		}
		c = c < 0x80 ? (gunichar)g_ascii_tolower((int)c) : fold_char(c);
		if (!c)
			continue;
		if (space)
			*o++ = ' ';
		space = false;
		if (c < 0x80)
			*o++ = (char)c;
		else
			o += g_unichar_to_utf8(c, o);
	}
	*o = '\0';
	return out;
}

static gint
longest_first(gconstpointer a, gconstpointer b)
{
	return (int)strlen(*(char *const *)b) - (int)strlen(*(char *const *)a);
}

void
table_free(struct table *t)
{
	if (!t)
		return;
	g_bytes_unref(t->block);
	g_free(t);
}

char *
rules_read_text(const char *path, GError **error)
{
	g_autofree char *text = NULL;
	g_autoptr(GError) local = NULL;
	gsize len;
	const char *bad;

	if (!g_file_get_contents(path, &text, &len, &local)) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s", local->message);
		return NULL;
	}
	/* labels and names are walked as UTF-8 (clean_label, value_fold):
	 * an invalid byte took them past the end */
	if (!g_utf8_validate(text, (gssize)len, &bad)) {
		int line = 1;
		for (const char *q = text; q < bad; q++)
			line += *q == '\n';
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG, "%s:%d: not UTF-8 text", path, line);
		return NULL;
	}
	return g_steal_pointer(&text);
}

static void
put_string(GByteArray *b, const char *s)
{
	cache_put_string(b, s);
	g_byte_array_append(b, (const guint8 *)"", 1);
}

/* The next string of a block already checked by table_of, and its length. */
static const char *
next_string(const guint8 **p, guint32 *len)
{
	guint32 n;
	memcpy(&n, *p, sizeof n);
	const char *s = (const char *)*p + sizeof n;
	*p += sizeof n + n + 1;
	if (len)
		*len = n;
	return s;
}

static guint32
next_u32(const guint8 **p)
{
	guint32 n;
	memcpy(&n, *p, sizeof n);
	*p += sizeof n;
	return n;
}

/* The block of the table written in TEXT (the file PATH, for messages). */
static GBytes *
table_parse(const char *path, const char *text, GError **error)
{
	g_autoptr(GHashTable) codes_seen = g_hash_table_new(g_str_hash, g_str_equal);
	g_autoptr(GHashTable) code_of = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
	g_autoptr(GPtrArray) names = g_ptr_array_new();	/* the keys of code_of */
	g_autoptr(GByteArray) codes = g_byte_array_new();
	g_auto(GStrv) lines = g_strsplit(text, "\n", -1);

	for (int i = 0; lines[i]; i++) {
		char *line = g_strstrip(lines[i]);
		if (!*line || *line == '#')
			continue;
		char *tab = strpbrk(line, "\t ");
		if (!tab) {
			g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
				    "%s:%d: expected a code, then names separated by '|'", path, i + 1);
			return NULL;
		}
		*tab = '\0';
		g_auto(GStrv) written = g_strsplit(tab + 1, "|", -1);
		for (int n = 0; written[n]; n++)
			g_strstrip(written[n]);
		if (!g_hash_table_contains(codes_seen, line)) {
			g_hash_table_add(codes_seen, line);
			put_string(codes, line);
			cache_put_u32(codes, g_strv_length(written));
			for (int n = 0; written[n]; n++)
				put_string(codes, written[n]);
		}
		for (int n = 0; written[n]; n++) {
			char *key = value_fold(written[n]);
			if (!*key || g_hash_table_contains(code_of, key)) {
				g_free(key);
				continue;
			}
			g_ptr_array_add(names, key);
			g_hash_table_insert(code_of, key, line);
		}
	}
	g_ptr_array_sort(names, longest_first);	/* stable: file order within a length */

	GByteArray *b = g_byte_array_new();
	cache_put_u32(b, g_hash_table_size(codes_seen));
	g_byte_array_append(b, codes->data, codes->len);
	cache_put_u32(b, names->len);
	for (guint i = 0; i < names->len; i++) {
		const char *key = g_ptr_array_index(names, i);
		put_string(b, key);
		put_string(b, g_hash_table_lookup(code_of, key));
	}
	return g_byte_array_free_to_bytes(b);
}

/* Checks one string of a block: in bounds, no NUL inside, NUL after. */
static bool
take_string(struct cache_reader *r)
{
	guint32 n = cache_take_u32(r);
	if (r->bad || (size_t)(r->end - r->p) <= n || memchr(r->p, 0, n) || r->p[n] != '\0') {
		r->bad = true;
		return false;
	}
	r->p += n + 1;
	return true;
}

/* The table whose block is BLOCK, or NULL when BLOCK is not one (a
 * damaged cache: every count and length is checked once, here). */
static struct table *
table_of(GBytes *block)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(block, &size);
	struct cache_reader r = { data, data + size, false };
	struct table t = { 0 };

	t.ncodes = cache_take_u32(&r);
	t.codes = r.p;
	for (guint32 i = 0; i < t.ncodes && !r.bad; i++) {
		if (!take_string(&r))
			break;
		guint32 n = cache_take_u32(&r);
		for (guint32 k = 0; k < n && take_string(&r); k++)
			;
	}
	t.nnames = cache_take_u32(&r);
	t.names = r.p;
	for (guint32 i = 0; i < t.nnames && take_string(&r) && take_string(&r); i++)
		;
	if (r.bad || r.p != r.end)
		return NULL;
	struct table *out = g_memdup2(&t, sizeof t);
	out->block = g_bytes_ref(block);
	return out;
}

struct table *
table_load(const char *path, GError **error)
{
	return table_load_cached(path, NULL, error);
}

struct table *
table_load_cached(const char *path, struct rules_cache *cache, GError **error)
{
	g_autofree char *text = rules_read_text(path, error);
	if (!text)
		return NULL;
	GBytes *kept = cache ? rules_cache_bytes(cache, "table", text) : NULL;
	struct table *t = kept ? table_of(kept) : NULL;
	if (t)
		return t;
	g_autoptr(GBytes) block = table_parse(path, text, error);
	if (!block)
		return NULL;
	if (cache)
		rules_cache_keep_bytes(cache, "table", text, block);
	return table_of(block);
}

const char *
table_name_of(const struct table *t, const char *code, int index)
{
	const guint8 *p = t ? t->codes : NULL;
	for (guint32 i = 0; p && i < t->ncodes; i++) {
		bool found = strcmp(next_string(&p, NULL), code) == 0;
		guint32 n = next_u32(&p);
		const char *first = NULL;
		for (guint32 k = 0; k < n; k++) {
			const char *name = next_string(&p, NULL);
			if (!found)
				continue;
			if (k == 0)
				first = name;
			if ((int)k == index && *name)
				return name;
		}
		if (found)
			return first && *first ? first : NULL;
	}
	return NULL;
}

/* Whether NAME occurs in HAY at word boundaries. */
static const char *
find_word(const char *hay, const char *name)
{
	size_t n = strlen(name);

	for (const char *p = strstr(hay, name); p; p = strstr(p + 1, name)) {
		bool start = p == hay || !g_unichar_isalnum(g_utf8_get_char(g_utf8_prev_char(p)));
		/* Arabic writes "and" as a prefix: "والعربية" */
		if (!start && g_utf8_get_char(g_utf8_prev_char(p)) == 0x0648) {
			const char *w = g_utf8_prev_char(p);
			start = w == hay || !g_unichar_isalnum(g_utf8_get_char(g_utf8_prev_char(w)));
		}
		bool end = !p[n] || !g_unichar_isalnum(g_utf8_get_char(p + n));
		if (start && end)
			return p;
	}
	return NULL;
}

const char *
table_lookup(const struct table *t, const char *text)
{
	g_autofree char *key = value_fold(text);
	size_t len = strlen(key);
	const guint8 *p = t->names;

	for (guint32 i = 0; i < t->nnames; i++) {
		guint32 n;
		const char *name = next_string(&p, &n);
		const char *code = next_string(&p, NULL);
		if (n == len && memcmp(name, key, len) == 0)
			return code;
	}
	return NULL;
}

const char *
table_search(const struct table *t, const char *text)
{
	g_autofree char *key = value_fold(text);
	const char *best = NULL, *best_at = NULL;
	guint32 best_len = 0;
	const guint8 *p = t->names;

	/* Longest names first, so "Kurdistan Region of Iraq" wins over
	 * "Iraq"; among names of one length, the earliest in the text. */
	for (guint32 i = 0; i < t->nnames; i++) {
		guint32 n;
		const char *name = next_string(&p, &n);
		const char *code = next_string(&p, NULL);
		if (best && n < best_len)
			break;
		const char *at = find_word(key, name);
		if (at && (!best || at < best_at)) {
			best = code;
			best_at = at;
			best_len = n;
		}
	}
	return best;
}

GPtrArray *
table_search_all(const struct table *t, const char *text)
{
	g_autofree char *key = value_fold(text);
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) at = g_array_new(FALSE, FALSE, sizeof(gsize));
	const guint8 *p = t->names;

	/* Claim each stretch of text once, longest names first, then order
	 * the codes by where they were written. */
	g_autofree char *claimed = g_strdup(key);
	for (guint32 i = 0; i < t->nnames; i++) {
		guint32 n;
		const char *name = next_string(&p, &n);
		const char *code = next_string(&p, NULL);
		const char *q;
		while ((q = find_word(claimed, name))) {
			gsize pos = (gsize)(q - claimed);
			memset(claimed + pos, '#', n);
			bool dup = false;
			for (guint k = 0; k < found->len; k++)
				dup = dup || strcmp(g_ptr_array_index(found, k), code) == 0;
			if (dup)
				continue;
			guint k = 0;
			while (k < at->len && g_array_index(at, gsize, k) < pos)
				k++;
			g_array_insert_val(at, k, pos);
			g_ptr_array_insert(found, (gint)k, g_strdup(code));
		}
	}
	return found;
}

/* Phones ------------------------------------------------------------------ */

char *
value_phone(const char *s, const char *default_country_code)
{
	GString *digits = g_string_new(NULL);
	bool plus = false, started = false;

	/* Up to the first letter after digits began: "0770 123 4567 (mobile)" */
	for (const char *p = s; *p; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		int d = g_unichar_digit_value(c);
		if (d >= 0) {
			g_string_append_c(digits, (char)('0' + d));
			started = true;
		} else if (c == '+' && !started) {
			plus = true;
		} else if (c == '(' && started && p[1] == '0' && p[2] == ')') {
			p += 2;		/* "+44 (0)20": the trunk 0 is dropped */
		} else if (g_unichar_isalpha(c) && started) {
			break;
		}
	}
	g_autofree char *d = g_string_free(digits, FALSE);
	size_t n = strlen(d);
	/* "+964 0770 ...": the trunk 0 written after the country code */
	if (plus && default_country_code && g_str_has_prefix(d, default_country_code) &&
	    d[strlen(default_country_code)] == '0') {
		size_t cc = strlen(default_country_code);
		memmove(d + cc, d + cc + 1, n - cc);
		n--;
	}
	if (plus && n >= 8 && n <= 15)
		return g_strconcat("+", d, NULL);
	if (!plus && g_str_has_prefix(d, "00") && n >= 10 && n <= 17)
		return g_strconcat("+", d + 2, NULL);
	/* A local number with its trunk 0: "0770 123 4567" in Iraq */
	if (!plus && d[0] == '0' && n >= 10 && n <= 11 && default_country_code)
		return g_strconcat("+", default_country_code, d + 1, NULL);
	if (!plus && g_str_has_prefix(d, "964") && n >= 12 && n <= 13)
		return g_strconcat("+", d, NULL);
	return NULL;
}

/* Dates ------------------------------------------------------------------- */

static bool
valid_date(int y, int m, int d)
{
	return y >= 1900 && y <= 2100 && m >= 1 && m <= 12 && d >= 1 &&
	    d <= g_date_get_days_in_month((GDateMonth)m, (GDateYear)y);
}

/* Numbers in S, in order, ASCII or not; at most MAX. */
static int
numbers_in(const char *s, int *out, int max, char *seps)
{
	int n = 0, cur = -1;
	char sep = 0;

	for (const char *p = s;; p = g_utf8_next_char(p)) {
		gunichar c = g_utf8_get_char(p);
		int d = *p ? g_unichar_digit_value(c) : -1;
		if (d >= 0) {
			cur = cur < 0 ? d : (cur > 100000 ? cur : cur * 10 + d);
			continue;
		}
		if (cur >= 0 && n < max) {
			if (seps)
				seps[n] = sep;
			out[n++] = cur;
		}
		cur = -1;
		if (!*p)
			break;
		if (c == '/' || c == '.' || c == '-' || c == 0x060C)
			sep = (char)c;
		else if (!g_unichar_isspace(c))
			sep = ' ';
	}
	return n;
}

char *
value_date(const char *s, int default_year, const struct table *months)
{
	/* a time of day is not part of the date: "10/3 at 14:30" */
	g_autofree char *t = g_strdup(s);
	for (char *p = t; *p; p++)
		if (*p == ':' && p > t && g_ascii_isdigit(p[-1]) && g_ascii_isdigit(p[1])) {
			char *a = p, *b = p + 1;
			while (a > t && g_ascii_isdigit(a[-1]))
				a--;
			while (g_ascii_isdigit(*b))
				b++;
			memset(a, ' ', (size_t)(b - a));
		}
	int num[4];
	char seps[4];
	int n = numbers_in(t, num, 4, seps);
	int y = default_year, m = 0, d = 0;
	/* a numeric date first: "12/3" in "I may leave 12/3" is not May */
	bool numeric = n >= 2 && (seps[1] == '/' || seps[1] == '.' || seps[1] == '-');
	const char *month = !numeric && months ? table_search(months, t) : NULL;

	if (month) {
		/* "10 March", "March 10th, 2022", "١٠ آذار ٢٠٢٢" */
		m = atoi(month);
		for (int i = 0; i < n; i++) {
			if (num[i] >= 1 && num[i] <= 31 && !d)
				d = num[i];
			else if (num[i] >= 1900)
				y = num[i];
		}
	} else if (n >= 3 && num[0] >= 1900) {
		y = num[0], m = num[1], d = num[2];		/* 2022-03-10 */
	} else if (n >= 2) {
		d = num[0], m = num[1];				/* day/month: 10/3, 10.03.2022 */
		if (n >= 3)
			y = num[2] < 100 ? 2000 + num[2] : num[2];
	}
	if (!valid_date(y, m, d))
		return NULL;
	return g_strdup_printf("%04d-%02d-%02d", y, m, d);
}

/* Answers ----------------------------------------------------------------- */

int
value_bool(const char *s, const struct table *words)
{
	g_autofree char *t = g_strdup(s);
	g_strstrip(t);
	/* "Yes." "Yes, please" "yes - I need one" */
	size_t n = strlen(t);
	while (n > 0 && strchr(".!,;:-", t[n - 1]))
		t[--n] = '\0';
	const char *code = table_lookup(words, t);
	if (!code) {
		char *cut = t + strcspn(t, ",.;:-(");
		*cut = '\0';
		char *arabic_comma = strstr(t, "،");
		if (arabic_comma)
			*arabic_comma = '\0';
		g_strstrip(t);
		code = table_lookup(words, t);
	}
	if (!code) {
		char *space = strchr(t, ' ');
		if (space)
			*space = '\0';
		code = table_lookup(words, t);
	}
	if (!code)
		return -1;
	return strcmp(code, "yes") == 0;
}
