/*
 * rules_cache.h - the compiled patterns of the rules and their words,
 * kept in a file between runs (rules_cache.c); used by rules.c.
 */
#ifndef CONFMAIL_RULES_CACHE_H
#define CONFMAIL_RULES_CACHE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "confmail.h"

/* How every pattern of the rules is compiled. */
#define RULES_PCRE2_OPTIONS (PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | \
			     PCRE2_CASELESS | PCRE2_MULTILINE)

struct rules_cache;
/* The cache kept in the file PATH (which need not exist yet). */
struct rules_cache *rules_cache_open(const char *path);
void rules_cache_free(struct rules_cache *c);
/* PATTERN compiled, the caller's to free, or NULL when the file lacks it. */
pcre2_code *rules_cache_code(struct rules_cache *c, const char *pattern);
/* Notes RE (the rules keep it) as what PATTERN compiles to. */
void rules_cache_keep_code(struct rules_cache *c, const char *pattern, const pcre2_code *re);
/* needles_of(IDX, PATTERN), from the file when it holds the words. */
struct needles *rules_cache_needles(struct rules_cache *c, struct needle_index *idx,
				    const char *pattern);
/* The bytes kept for TEXT as a KIND ("table": what values.c made of a
 * table file; "labels": the folded labels of a label line), borrowed, or
 * NULL. */
GBytes *rules_cache_bytes(struct rules_cache *c, const char *kind, const char *text);
void rules_cache_keep_bytes(struct rules_cache *c, const char *kind, const char *text,
			    GBytes *bytes);
/* How many patterns and kept bytes came from the file, and how many were
 * made. */
void rules_cache_counts(const struct rules_cache *c, guint *hits, guint *misses);
/* Writes the file when this run made something it lacked, or used less
 * than it holds; false and *ERROR when it cannot. */
bool rules_cache_save(struct rules_cache *c, GError **error);

/* The file's own encoding, for the bytes kept in it: a u32 in this
 * machine's byte order; a string as a u32 length and its bytes.  Reading
 * past the end, or a string holding a NUL, sets BAD and gives 0 or "". */
void cache_put_u32(GByteArray *b, guint32 v);
void cache_put_string(GByteArray *b, const char *s);
struct cache_reader {
	const guint8 *p, *end;
	bool bad;
};
bool cache_take(struct cache_reader *r, void *out, size_t n);
guint32 cache_take_u32(struct cache_reader *r);
char *cache_take_string(struct cache_reader *r);

/* values.c: a table, made with the help of CACHE when not NULL. */
struct table *table_load_cached(const char *path, struct rules_cache *cache, GError **error);

#endif
