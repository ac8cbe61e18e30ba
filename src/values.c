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

struct table {
	GHashTable *by_name;	/* folded name -> code */
	GPtrArray *names;	/* folded names, longest first, for searching */
	GHashTable *by_code;	/* code -> the names as written (GStrv) */
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
	g_hash_table_destroy(t->by_name);
	g_hash_table_destroy(t->by_code);
	g_ptr_array_free(t->names, TRUE);
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

/* The table written in TEXT (the file PATH, for messages). */
static struct table *
table_parse(const char *path, const char *text, GError **error)
{
	g_autoptr(table) t = g_new0(struct table, 1);
	t->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	t->names = g_ptr_array_new_with_free_func(g_free);
	t->by_code = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
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
		g_auto(GStrv) names = g_strsplit(tab + 1, "|", -1);
		for (int n = 0; names[n]; n++)
			g_strstrip(names[n]);
		if (!g_hash_table_contains(t->by_code, line))
			g_hash_table_insert(t->by_code, g_strdup(line), g_strdupv(names));
		for (int n = 0; names[n]; n++) {
			char *key = value_fold(names[n]);
			if (!*key || g_hash_table_contains(t->by_name, key)) {
				g_free(key);
				continue;
			}
			g_ptr_array_add(t->names, key);
			g_hash_table_insert(t->by_name, key, g_strdup(line));
		}
	}
	g_ptr_array_sort(t->names, longest_first);
	return g_steal_pointer(&t);
}

/* A table as bytes for rules_cache.c, in its encoding: u32 codes; each:
 * the code, u32 names, each name as written; u32 folded names, longest
 * first; each: the name, its code. */
static GBytes *
table_encode(const struct table *t)
{
	GByteArray *b = g_byte_array_new();
	GHashTableIter it;
	gpointer code, written;
	cache_put_u32(b, g_hash_table_size(t->by_code));
	g_hash_table_iter_init(&it, t->by_code);
	while (g_hash_table_iter_next(&it, &code, &written)) {
		cache_put_string(b, code);
		cache_put_u32(b, g_strv_length(written));
		for (char **w = written; *w; w++)
			cache_put_string(b, *w);
	}
	cache_put_u32(b, t->names->len);
	for (guint i = 0; i < t->names->len; i++) {
		const char *key = g_ptr_array_index(t->names, i);
		cache_put_string(b, key);
		cache_put_string(b, g_hash_table_lookup(t->by_name, key));
	}
	return g_byte_array_free_to_bytes(b);
}

/* The table of BYTES, or NULL when they are not one. */
static struct table *
table_decode(GBytes *bytes)
{
	gsize size;
	const guint8 *data = g_bytes_get_data(bytes, &size);
	struct cache_reader r = { data, data + size, false };
	g_autoptr(table) t = g_new0(struct table, 1);
	t->by_name = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, g_free);
	t->names = g_ptr_array_new_with_free_func(g_free);
	t->by_code = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)g_strfreev);
	/* every count is bounded by what is left: a damaged one stops soon */
	guint32 codes = cache_take_u32(&r);
	for (guint32 i = 0; i < codes && !r.bad; i++) {
		char *code = cache_take_string(&r);
		guint32 n = cache_take_u32(&r);
		if (n > (size_t)(r.end - r.p) / 4) {
			g_free(code);
			return NULL;
		}
		char **written = g_new(char *, n + 1);
		for (guint32 k = 0; k < n; k++)
			written[k] = cache_take_string(&r);
		written[n] = NULL;
		g_hash_table_replace(t->by_code, code, written);
	}
	guint32 keys = cache_take_u32(&r);
	if (r.bad || keys > (size_t)(r.end - r.p) / 8)
		return NULL;
	for (guint32 i = 0; i < keys && !r.bad; i++) {
		char *key = cache_take_string(&r);
		g_ptr_array_add(t->names, key);
		g_hash_table_replace(t->by_name, key, cache_take_string(&r));
	}
	return r.bad || r.p != r.end ? NULL : g_steal_pointer(&t);
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
	struct table *t = kept ? table_decode(kept) : NULL;
	if (t)
		return t;
	t = table_parse(path, text, error);
	if (t && cache) {
		g_autoptr(GBytes) b = table_encode(t);
		rules_cache_keep_bytes(cache, "table", text, b);
	}
	return t;
}

const char *
table_name_of(const struct table *t, const char *code, int index)
{
	char **names = t ? g_hash_table_lookup(t->by_code, code) : NULL;
	if (!names)
		return NULL;
	for (int i = 0; names[i]; i++)
		if (i == index && *names[i])
			return names[i];
	return *names[0] ? names[0] : NULL;
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
	return g_hash_table_lookup(t->by_name, key);
}

const char *
table_search(const struct table *t, const char *text)
{
	g_autofree char *key = value_fold(text);
	const char *best = NULL, *best_at = NULL;

	/* Longest names first, so "Kurdistan Region of Iraq" wins over
	 * "Iraq"; among names of one length, the earliest in the text. */
	for (guint i = 0; i < t->names->len; i++) {
		const char *name = g_ptr_array_index(t->names, i);
		if (best && strlen(name) < strlen(best))
			break;
		const char *at = find_word(key, name);
		if (at && (!best || at < best_at)) {
			best = name;
			best_at = at;
		}
	}
	return best ? g_hash_table_lookup(t->by_name, best) : NULL;
}

GPtrArray *
table_search_all(const struct table *t, const char *text)
{
	g_autofree char *key = value_fold(text);
	GPtrArray *found = g_ptr_array_new_with_free_func(g_free);
	g_autoptr(GArray) at = g_array_new(FALSE, FALSE, sizeof(gsize));

	/* Claim each stretch of text once, longest names first, then order
	 * the codes by where they were written. */
	g_autofree char *claimed = g_strdup(key);
	for (guint i = 0; i < t->names->len; i++) {
		const char *name = g_ptr_array_index(t->names, i);
		const char *p;
		while ((p = find_word(claimed, name))) {
			const char *code = g_hash_table_lookup(t->by_name, name);
			gsize pos = (gsize)(p - claimed);
			memset(claimed + pos, '#', strlen(name));
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
