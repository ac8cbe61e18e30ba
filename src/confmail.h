/*
 * confmail.h - the one internal header: shared types and the prototypes of
 * every module, grouped by the file that defines them.
 *
 * Modules return a status and never exit or print to stdout; only main.c and
 * cmd_*.c decide what the user sees and which exit code the MTA gets.
 */
#ifndef CONFMAIL_H
#define CONFMAIL_H

#include <glib.h>
#include <json-glib/json-glib.h>
#include <gmime/gmime.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sysexits.h>

#define CONFMAIL_VERSION "0.1.0"

/* Typedefs so that g_autoptr(config), g_autoptr(mail) and g_autoptr(store)
 * work; the code otherwise says "struct". */
typedef struct config config;
typedef struct mail mail;
typedef struct store store;
struct verdict;
struct rules;

/* What a bounce says (dsn.c). */
struct bounce {
	GPtrArray *recipients;	/* of char *, lower-cased, no duplicates; NULL when none */
	bool permanent;		/* failed or 5.x.x (a server that gave up on 4.x.x too) */
	bool delayed;		/* only a warning: the MTA is still trying */
};

/* GMime 3.2 does not declare these itself. */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeStream, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeParser, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeMessage, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimePart, g_object_unref)
G_DEFINE_AUTOPTR_CLEANUP_FUNC(GMimeDataWrapper, g_object_unref)

/* The error domain every module reports in; codes are sysexits values so a
 * command can hand them to the MTA unchanged. */
#define CONFMAIL_ERROR (confmail_error_quark())
GQuark confmail_error_quark(void);

/* config.c ------------------------------------------------------------- */

struct config {
	char *path;		/* the file read, for messages */
	char *dir;		/* its directory: relative paths start here */

	/* [conference] */
	char *name;
	char *reference_prefix;
	char *timezone;
	GTimeZone *tz;
	GDateTime *registration_deadline;
	int capacity;		/* 0: no limit */
	char *default_language;

	/* [addresses] */
	char *domain;
	char *from_address;	/* what replies come from */
	char *register_address;
	char *info_address;
	char *announce_address;
	char **organisers;	/* NULL-terminated */
	char *tickets_address;	/* tickets+REF@: answers to a question */
	char *comments_address;	/* comment+REF@: notes between coordinators */

	/* [coordinators] */
	GHashTable *coordinators;	/* name -> NULL-terminated addresses */

	/* [tickets] */
	int remind_after;	/* hours a question may wait unanswered */

	/* [digest] */
	char *digest_language;		/* the organisers' */
	int remind_incomplete_days;	/* before the deadline; 0: never */

	/* [list] */
	char *list_subscribe_registered;	/* "true": registering subscribes */
	char *list_unsubscribe_url;	/* https, for RFC 8058 one-click; or NULL */
	int list_rate;			/* announcements per minute; 0: no limit */
	char *list_request_address;	/* announce-request@: subscribe, leave */

	/* [store] */
	char *database;		/* absolute */
	char *secret_file;	/* the token key; NULL: DATABASE.secret */
	int busy_timeout_ms;

	/* [limits] */
	gint64 max_message_size;
	gint64 forward_whole_max;	/* larger: header and text forwarded, not all */
	int max_replies_per_day;
	int max_replies_per_hour;	/* to everyone together; 0: no limit */

	/* [intake] */
	char *loop_id;		/* our X-Loop value */

	/* [transport] */
	char *transport_kind;
	char *transport_maildir;
	char *transport_host;
	int transport_port;
	char *transport_starttls;
	char *transport_sendmail;	/* the command, with its own options */
	char *transport_implicit_tls;	/* "true": TLS from the first byte (port 465) */
	char *transport_ca_file;	/* NULL: the system's CA store */
	char *transport_user;		/* AUTH, with the password in password_file */
	char *transport_password_file;
	char *transport_helo_name;	/* NULL: this host's name */
	int transport_timeout;		/* seconds, per exchange */
	int transport_max_recipients;	/* per SMTP transaction */
	int max_queue_lifetime;	/* days a message may wait before it fails */

	/* [fetch] */
	char *fetch_protocol;
	char *fetch_host;
	int fetch_port;
	char *fetch_tls;
	char *fetch_ca_file;
	char *fetch_user;
	char *fetch_password_file;
	char *fetch_folder;
	char *fetch_after;
	char *fetch_processed_folder;
	int fetch_interval;	/* seconds between looks without IDLE; at most, with it */
	int fetch_timeout;	/* seconds, per exchange */
};

/* Loads and validates a configuration file.  On error, sets an EX_CONFIG
 * error whose message names the file, the line and what was expected. */
struct config *config_load(const char *path, GError **error);
void config_free(struct config *cfg);
const char *config_default_path(void);
/* The line (1-based) where KEY of GROUP is set in PATH, or 0. */
int config_line_of(const char *path, const char *group, const char *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(config, config_free)
/* What fetching needs beyond each key's own check: host, user and
 * password_file; processed_folder for after = move; no move or flag with
 * POP3; no tls = off but to this machine.  EX_CONFIG with file:line. */
gboolean config_check_fetch(const struct config *cfg, GError **error);

/* clock.c -------------------------------------------------------------- */

/* "Now", honouring $CONFMAIL_NOW (ISO 8601) so tests are exact. */
GDateTime *confmail_now(void);
/* Now as an ISO 8601 UTC string, e.g. 2022-01-17T09:22:05Z. */
char *confmail_now_iso(void);

/* intake.c: reading one message as an MDA is handed it ------------------ */

struct envelope {
	char *recipient;	/* NULL when nobody told us */
	char *sender;		/* NULL when unknown, "" for the null sender */
	const char *recipient_source;	/* "-r", "$ORIGINAL_RECIPIENT", ... */
};

enum read_status {
	READ_OK,
	READ_TOO_BIG,		/* over the limit; input was drained */
	READ_FAILED,		/* I/O error: transient */
};

/* Reads all of FD into *RAW, at most LIMIT bytes. */
enum read_status intake_read(int fd, gint64 limit, GByteArray **raw, GError **error);
/* Removes a leading mbox "From " line from RAW, returning the sender it
 * names (or NULL if there was none). */
char *intake_strip_from_line(GByteArray *raw);
/* Fills ENV from the -r and -f options, the environment, and the message
 * itself (OPT_SENDER "" is the null sender; NULL: not given). */
void intake_envelope(struct envelope *env, const char *opt_recipient,
		     const char *opt_sender, char *from_line_sender, const struct mail *m);
void envelope_clear(struct envelope *env);
/* The environment variables intake_envelope reads. */
#define INTAKE_ENVIRONMENT { "ORIGINAL_RECIPIENT", "RECIPIENT", "SENDER" }
/* From now on intake_envelope reads VALUES (in INTAKE_ENVIRONMENT's order,
 * NULL: unset) instead of the environment; NULL goes back to it.  For
 * `serve`, which delivers for other processes. */
void intake_use_environment(const char *const *values);

/* mail.c: a parsed message as plain data -------------------------------- */

struct header {
	char *name;
	char *value;		/* decoded to UTF-8, unfolded */
};

struct mail {
	GMimeMessage *message;	/* NULL when GMime could not parse it */
	char *parse_error;	/* why it is quarantined, or NULL */

	char *message_id;	/* without <>, or NULL */
	char *from_addr;	/* lower-cased, or NULL */
	char *from_name;	/* decoded, or NULL */
	char *subject;		/* decoded, or NULL */
	char *date;		/* ISO 8601 UTC, or NULL */
	char *in_reply_to;
	char *references;
	GArray *headers;	/* of struct header, in message order */

	char *body;		/* best text part as UTF-8, or NULL */
	char *body_type;	/* "text/plain", "text/html" or NULL */
	/* A message forwarded as an attached message/rfc822 part: its
	 * sender and its best text part (may be HTML), or NULL. */
	char *forwarded_from;
	char *forwarded_body;
	char *forwarded_type;
	int parts;		/* MIME leaves seen */
	int attachments;

	char sha256[65];	/* of the raw bytes as stored */
	char content_sha256[65];	/* the same without the MTA's leading
					 * trace headers: identifies a message
					 * that has no Message-ID (and is
					 * only computed for one) */
	gsize size;
};

/* Parses RAW.  Never fails: a message GMime cannot read comes back with
 * message == NULL and parse_error set, so the caller can quarantine it. */
struct mail *mail_parse(GByteArray *raw);
void mail_free(struct mail *m);
/* The first header called NAME (case-insensitive), decoded, or NULL. */
const char *mail_header(const struct mail *m, const char *name);
/* Converts LEN bytes in CHARSET (NULL: unknown) to valid UTF-8. */
char *mail_to_utf8(const char *bytes, gsize len, const char *charset);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(mail, mail_free)

/* text.c: the body as a person reads it ---------------------------------- */

/* HTML to plain text with libxml2's HTML parser: block elements end lines,
 * a table row becomes "cell: cell" on one line, script and style are
 * dropped, entities decoded.  Always returns a string. */
char *text_from_html(const char *html);
/* Unicode NFC; NBSP and other spaces to ' '; Arabic-Indic and Persian
 * digits to ASCII; tatweel and direction/zero-width marks removed;
 * CRLF and CR to LF. */
char *text_normalise(const char *s);
bool text_nfc_inert(gunichar c);
bool text_nfc_lone_mark(gunichar c);
/* Without quoted history ("> " lines, "On ... wrote:", Outlook
 * "From:/Sent:" blocks, "-----Original Message-----", their Arabic and
 * Kurdish forms) and without a signature after "-- ". */
char *text_strip_quotes(const char *s);
/* S (UTF-8) cut in place to at most MAX bytes, between characters. */
char *text_cut(char *s, size_t max);

struct forward {
	char *from_addr;	/* lower-cased, or NULL */
	char *from_name;	/* or NULL */
	char *note;		/* what the forwarder wrote above it */
	char *body;		/* the forwarded text below its header block */
};
/* Finds an inline forwarded message ("---------- Forwarded message
 * ---------", "Begin forwarded message:", their Arabic/Kurdish forms). */
bool text_find_forward(const char *s, struct forward *fw);
void forward_clear(struct forward *fw);

/* dsn.c: delivery status notifications ------------------------------------ */

/* Reads a bounce: an RFC 3464 multipart/report (Final-Recipient, Action,
 * Status), else the usual non-standard reports (qmail, Exim, Postfix
 * text, Gmail).  False when M is not recognisably a bounce. */
bool dsn_parse(const struct mail *m, struct bounce *b);
void bounce_clear(struct bounce *b);

/* values.c: tables of names and the normalisers of FIELDS.md ------------- */

struct table;
typedef struct table table;
/* A filters/NAME.table file: "CODE<TAB>name | name | ..." lines. */
/* The whole of a rules or table file, which must be UTF-8 (else an
 * EX_CONFIG error naming file:line). */
char *rules_read_text(const char *path, GError **error);
struct table *table_load(const char *path, GError **error);
void table_free(struct table *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(table, table_free)
/* The code of a name given whole, or NULL. */
const char *table_lookup(const struct table *t, const char *text);
/* The INDEX-th name written for CODE (0: the first), else the first. */
const char *table_name_of(const struct table *t, const char *code, int index);
/* The code of the longest name found in TEXT at word boundaries. */
const char *table_search(const struct table *t, const char *text);
/* Every code whose name is in TEXT, in the order written, once each. */
GPtrArray *table_search_all(const struct table *t, const char *text);
/* The matching key: NFKC, lower case, no Arabic diacritics or tatweel,
 * one form for the Arabic/Persian/Kurdish variants of a letter. */
char *value_fold(const char *s);
/* E.164 ("+9647701234567"), or NULL when S holds no usable number; a local
 * number with a trunk 0 gets DEFAULT_COUNTRY_CODE ("964"). */
char *value_phone(const char *s, const char *default_country_code);
/* YYYY-MM-DD from "10 March", "١٠ آذار", "10/3", "10.03.2022", "2022-03-10";
 * numeric dates are day/month; no year means DEFAULT_YEAR. */
char *value_date(const char *s, int default_year, const struct table *months);
/* 1 yes, 0 no, -1 neither, by the words table. */
int value_bool(const char *s, const struct table *words);

/* rules.c: filters/classify.rules and filters/fields.rules -------------- */

enum field_type {
	FIELD_TEXT, FIELD_EMAIL, FIELD_PHONE, FIELD_COUNTRY, FIELD_DATE,
	FIELD_BOOL, FIELD_ENUM, FIELD_LIST, FIELD_LANGUAGES, FIELD_LANGUAGE,
};

/* What the rules look at: the message, its envelope, and the writer's own
 * text (decoded, normalised, without quoted history). */
struct message_view {
	const struct mail *mail;
	const struct envelope *env;
	const char *text;
	const char *participant;	/* the From address, or a forward's */
	int default_year;		/* for dates written without one */
};

/* needles.c: words a pattern cannot match without ---------------------- */

struct needles;
/* The words of many patterns, and which of them a text holds. */
struct needle_index;
typedef struct needle_hits needle_hits;
struct needle_index *needle_index_new(void);
void needle_index_free(struct needle_index *idx);
/* The set of words (ASCII letters folded, kept in IDX) of which every
 * match of the caseless PATTERN holds one, or NULL when none can be
 * shown. */
struct needles *needles_of(struct needle_index *idx, const char *pattern);
/* The needles of the words WORDS, as needles_of gave them (rules_cache). */
struct needles *needles_of_words(struct needle_index *idx, const GPtrArray *words);
void needles_free(struct needles *n);
guint needles_count(const struct needles *n);
const char *needles_word(const struct needle_index *idx, const struct needles *n, guint i);
/* TEXT with ASCII letters folded, or NULL when it must not be filtered. */
char *needles_fold(const char *text);
/* The words of IDX that FOLDED (from needles_fold) holds, in one pass;
 * NULL when FOLDED is NULL. */
struct needle_hits *needle_hits_of(const struct needle_index *idx, const char *folded);
/* TO gets the words of FROM too (both of the same index); a word holds
 * no line break, so the hits of "A\nB" are those of A and of B. */
void needle_hits_add(struct needle_hits *to, const struct needle_hits *from);
void needle_hits_free(struct needle_hits *h);
/* Whether the text of HITS may match: true when N or HITS is NULL or the
 * text holds a word of N. */
bool needles_in(const struct needles *n, const struct needle_hits *hits);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(needle_hits, needle_hits_free)

typedef struct rules rules;
/* Loads DIR/classify.rules, DIR/fields.rules and DIR's tables; errors
 * (EX_CONFIG) name file:line and, for patterns, PCRE2's message. */
struct rules *rules_load(const char *dir, GError **error);
/* The same, with what an earlier load made of the patterns taken from the
 * file CACHE (and the file brought up to date): the MDA's way, since one
 * process per message would otherwise compile every pattern each time. */
struct rules *rules_load_cached(const char *dir, const char *cache, GError **error);
/* How many patterns the last rules_load_cached took from its file, and
 * how many it had to make (tests). */
void rules_cache_last_counts(guint *hits, guint *misses);
/* The cache file of CFG's database: DATABASE.rules-cache, beside it. */
char *rules_cache_path(const struct config *cfg);
void rules_free(struct rules *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(rules, rules_free)
/* Whether rules loaded from now on are JIT-compiled: worth it only for
 * runs over many messages ($CONFMAIL_PCRE2_JIT=0 forbids it). */
void rules_use_jit(bool on);
/* $CONFMAIL_RULES, else filters/ beside the binary, else the directory
 * named at build time. */
char *rules_default_dir(void);
const struct table *rules_table(const struct rules *r, const char *name);
/* Refines V->class (and sets V->topic for questions) by the recipes. */
void rules_classify(const struct rules *r, const struct message_view *mv, struct verdict *v);
/* The fields of FIELDS.md, every key present, null where nothing says. */
JsonObject *rules_extract(const struct rules *r, const struct message_view *mv);

/* noreply.c: RFC 3834 and loop discipline -------------------------------- */

/* Why this message must never be answered, or NULL if it may be. */
const char *noreply_reason(const struct mail *m, const struct envelope *env,
			   const struct config *cfg);

/* classify.c ------------------------------------------------------------ */

struct verdict {
	const char *class;	/* FIELDS.md class */
	const char *language;	/* en, ar, ckb */
	const char *topic;	/* questions only */
	bool has_bounce;	/* bounces: what dsn_parse read */
	struct bounce bounce;
};

/* What the message is, as far as the envelope and headers tell. */
void classify(const struct mail *m, const struct envelope *env,
	      const struct config *cfg, struct verdict *v);
/* The language a text is written in: "en", "ar" or "ckb". */
const char *classify_language(const char *text);
/* The writer's own text: decoded, normalised, without quoted history. */
char *classify_own_text(const struct mail *m);
/* classify(), then the rules' recipes; for registrations and updates the
 * extracted fields (else NULL).  R may be NULL: envelope and headers only. */
JsonObject *classify_message(const struct rules *r, const struct mail *m,
			     const struct envelope *env, const struct config *cfg,
			     struct verdict *v, char **participant);

/* store.c --------------------------------------------------------------- */

struct store;

enum store_mode {
	STORE_READ,		/* open an existing database */
	STORE_CREATE,		/* create it or migrate it */
};

/* Opens the database of CFG, applying migrations.  Errors carry EX_TEMPFAIL
 * for anything worth retrying (busy, full disk, out of memory) and
 * EX_CONFIG/EX_SOFTWARE/EX_NOINPUT otherwise. */
struct store *store_open(const struct config *cfg, enum store_mode mode, GError **error);
void store_close(struct store *st);
sqlite3 *store_db(struct store *st);
/* For a command that reads the whole conference (digest, report, export):
 * the file mapped, a larger cache, sorting in memory. */
void store_for_scans(struct store *st);
int store_schema_version(struct store *st);
int store_latest_version(void);
gboolean store_begin(struct store *st, GError **error);
gboolean store_commit(struct store *st, GError **error);
void store_rollback(struct store *st);
/* Sets *ERROR from the database's last error, mapping codes to sysexits. */
void store_set_error(struct store *st, int rc, const char *what, GError **error);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(store, store_close)

/* messages.c: the messages table ----------------------------------------- */

struct message_row {
	const struct mail *mail;
	const struct envelope *env;
	const GByteArray *raw;
	const struct verdict *verdict;
	const char *noreply;	/* reason, or NULL */
	const char *received_at;
};

enum record_result {
	RECORD_NEW,
	RECORD_DUPLICATE,
	RECORD_ERROR,
};

/* Inserts the message, or counts one more delivery of a message already
 * stored (same Message-ID, or same bytes when there is none).  Must run
 * inside a transaction.  *ID receives the row's id. */
enum record_result messages_record(struct store *st, const struct message_row *row,
				   gint64 *id, GError **error);
/* The key that identifies a message across redeliveries. */
char *messages_dedup_key(const struct mail *m);

/* deliver.c: one message recorded and acted on ---------------------------- */

/* Parses RAW (dropping a leading mbox From_ line), takes its envelope from
 * OPT_RECIPIENT and OPT_SENDER (NULL: the environment and the headers, as
 * intake_envelope), classifies it, records it and acts on it in one
 * transaction committed on ST.  RECORD_DUPLICATE when it was already there;
 * RECORD_ERROR sets ERROR (code EX_TEMPFAIL when trying again may work). */
enum record_result deliver(struct store *st, const struct config *cfg, const struct rules *r,
			   GByteArray *raw, const char *opt_recipient, const char *opt_sender,
			   GError **error);

/* registry.c: registrations and their history ---------------------------- */

struct registry_result {
	const char *action;	/* none, created, updated, update-pending,
				 * cancel-pending, unknown */
	gint64 registration;
	char reference[32];
	char status[16];
	int changed;		/* fields changed (or pending) */
};

/* One registration as stored. */
struct registration {
	gint64 id;
	char *reference;
	char *email;
	char *status;
	char *name;
	char *language;
	char *pending;		/* "cancel" or NULL */
	JsonObject *fields;
};
bool registry_find(struct store *st, gint64 id, struct registration *r);
void registration_clear(struct registration *r);
/* Applies the cancellation pending on REG (confirmed by MESSAGE);
 * *APPLIED false: none was pending (already done, or never asked). */
gboolean registry_confirm_cancel(struct store *st, gint64 reg, gint64 message, const char *now,
				 bool *applied, GError **error);
/* Applies the changes SOURCE (a message) asked for on REG and that wait
 * for the owner, confirmed by MESSAGE. */
gboolean registry_confirm_update(struct store *st, gint64 reg, gint64 source, gint64 message,
				 const char *now, bool *applied, GError **error);
/* The reference ("ICSSI22-0042") cited in SUBJECT, upper-cased, or NULL. */
char *registry_reference_in(const char *subject, const char *prefix);
/* Acts on a registration, update or cancellation carried by MESSAGE (the
 * messages row), inside the caller's transaction.  PARTICIPANT is whose
 * registration it is (a forward's sender), else the From address.  AGAIN:
 * the message was read before (reprocess): it only fills unknown fields. */
gboolean registry_apply(struct store *st, const struct config *cfg, gint64 message,
			const struct mail *m, const struct verdict *v, JsonObject *fields,
			const char *participant, const char *now, bool again,
			struct registry_result *out, GError **error);

/* template.c: one reply template (confmail-templates(5)) ---------------- */

enum template_part { PART_SUBJECT, PART_TEXT, PART_HTML };
typedef struct template template;
/* What a template may name: the global variables, and the members of the
 * items of each list (NULL: not a list). */
struct template_schema {
	const char *const *globals;
	const char *const *(*items_of)(const char *list);
};
/* Parses PATH; a syntax error is EX_CONFIG with file:line. */
struct template *template_load(const char *path, GError **error);
/* The same from LEN bytes of DATA; PATH names it in messages. */
struct template *template_parse(const char *path, const char *data, gsize len, GError **error);
void template_free(struct template *t);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(template, template_free)
bool template_has_html(const struct template *t);
/* Adds a "file:line: ..." string to PROBLEMS for each variable SCHEMA does
 * not know. */
void template_check(const struct template *t, const struct template_schema *schema,
		    GPtrArray *problems);
/* PART rendered over VARS; values are HTML-escaped in PART_HTML. */
char *template_render(const struct template *t, enum template_part part, JsonObject *vars);

/* compose.c: replies built from templates with GMime --------------------- */

typedef struct templates templates;
/* templates/ beside the binary, else $CONFMAIL_TEMPLATES, else installed. */
char *templates_default_dir(void);
/* The templates of DIR, loaded when first asked for. */
struct templates *templates_open(const char *dir);
void templates_free(struct templates *ts);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(templates, templates_free)
/* Template NAME in LANG, else in English (*USED: the language used). */
const struct template *templates_get(struct templates *ts, const char *lang, const char *name,
				     const char **used, GError **error);
/* The labels entry KEY in LANG, else in English, else NULL. */
const char *templates_label(struct templates *ts, const char *lang, const char *key);
/* Every template and labels file of every language: errors and unknown
 * variables to PROBLEMS, missing translations to NOTES.  FALSE when a
 * problem was found. */
bool templates_check(struct templates *ts, GPtrArray *problems, GPtrArray *notes);
/* The languages replies are written in (en, ar, ckb). */
const char *compose_language(const char *detected);
/* S made fit for a header: no control characters (CR, LF, NUL, ...),
 * spaces collapsed, at most MAX characters. */
char *header_safe(const char *s, gsize max);
/* FIELDS (the record) as the template list "fields": {field, label, value}
 * with values written for people in LANG. */
JsonArray *compose_field_list(struct templates *ts, const struct rules *r, const char *lang,
			      JsonObject *fields);
/* The required fields FIELDS lacks, as the list "missing". */
JsonArray *compose_missing_list(struct templates *ts, const char *lang, JsonObject *fields);
/* A date (YYYY-MM-DD or a GDateTime) written in LANG. */
char *compose_date(struct templates *ts, const char *lang, GDateTime *when);
/* The variables every template may use, for CFG and LANG. */
JsonObject *compose_vars(const struct config *cfg, struct templates *ts, const char *lang);

struct reply {
	const char *template;		/* received, updated, ... */
	const char *language;		/* en, ar, ckb */
	const char *to_addr, *to_name;
	const char *reference;		/* the subject tag, or NULL */
	const char *reply_to;		/* confirm+TOKEN@..., or NULL */
	const struct mail *answering;	/* threading: In-Reply-To, References */
	JsonObject *vars;
};
/* The message for R; *MESSAGE_ID receives its Message-ID (no brackets). */
GMimeMessage *compose_reply(const struct config *cfg, struct templates *ts, const struct reply *r,
			    char **message_id, GError **error);
/* A message to organisers or coordinators. */
struct staff_mail {
	const char *subject, *text;
	char *const *to;		/* NULL-terminated */
	const char *reply_to;		/* tickets+REF@..., or NULL */
};
/* SM's TEXT, then M (if any) attached whole as message/rfc822; over
 * [limits] forward_whole_max, its header and text only, its files named. */
GMimeMessage *compose_forward(const struct config *cfg, const struct mail *m,
			      const struct staff_mail *sm, char **message_id);
/* A coordinator's answer, relayed to a participant from the conference. */
struct answer_mail {
	const char *to_addr, *to_name;
	const char *subject;		/* the question's; "Re: " is added */
	const char *reference;		/* the ticket, tagged in the subject */
	const char *text;
	const char *in_reply_to;	/* the question's Message-ID */
	const char *references;		/* the question's References */
};
GMimeMessage *compose_answer(const struct config *cfg, const struct answer_mail *a,
			     char **message_id);
/* One recipient's copy of an announcement, with the list's headers. */
struct announcement_mail {
	const char *to_addr, *to_name, *subject, *text, *language;
	const char *list_id;		/* "ICSSI22 announcements <announce.icssi.example>" */
	const char *unsubscribe_mailto;	/* confirm+TOKEN@domain */
	const char *unsubscribe_url;	/* [list] unsubscribe_url?token=..., or NULL */
	guint files;			/* attachments: a placeholder part each */
};
/* The message; PLACEHOLDERS receives the placeholder parts, in order (the
 * message holds them). */
GMimeMessage *compose_announcement(const struct config *cfg, const struct announcement_mail *a,
				   GPtrArray *placeholders, char **message_id);
/* Whether ADDR is a plain addr-spec we may write to (no spaces, controls,
 * brackets or quotes; one @). */
bool compose_address_ok(const char *addr);

/* token.c: stateless confirmation tokens (HMAC-SHA256) ------------------- */

enum token_status { TOKEN_OK, TOKEN_EXPIRED, TOKEN_INVALID };
/* A token for ACTION on RECORD by ADDRESS, valid until EXPIRES. */
char *token_make(const char *secret, const char *action, const char *address,
		 const char *record, GDateTime *expires);
/* Checks TOKEN for ADDRESS at NOW; on TOKEN_OK (and TOKEN_EXPIRED) sets
 * *ACTION and *RECORD. */
enum token_status token_check(const char *secret, const char *token, const char *address,
			      GDateTime *now, char **action, char **record);
/* The token a confirmation carries: in a confirm+TOKEN@ recipient, else
 * "[confirm TOKEN]" in the subject; NULL if none. */
char *token_in(const char *recipient, const char *subject);
/* The secret file: [store] secret_file, else DATABASE.secret. */
char *secret_path(const struct config *cfg);
/* Creates the secret file (mode 0600) unless it exists. */
gboolean secret_ensure(const struct config *cfg, GError **error);
char *secret_load(const struct config *cfg, GError **error);
/* The MAC that proves an address tickets+REF.MAC@ came from our forward
 * of ticket REFERENCE (any case). */
char *token_ticket(const char *secret, const char *reference);

/* outbox.c: what is to be sent ------------------------------------------- */

struct outgoing {
	const char *kind;		/* reply, forward, digest, announce */
	const char *recipient;
	const char *envelope_from;
	const char *message_id;
	const char *template;
	gint64 source_message;		/* 0: none */
	gint64 registration;		/* 0: none */
	gint64 ticket;			/* 0: none */
	gint64 announcement;		/* 0: none */
	const char *verp_domain;	/* sender bounces+ID@ this domain, or NULL */
	const char *not_before;		/* not sent before (a list's rate), or NULL */
	GHashTable *parts;		/* placeholder GMimeObject -> gint64 * part id */
};
/* Stores LEN bytes of DATA (a serialised MIME part) once, by SHA-256;
 * its outbox_parts id, or 0 and ERROR. */
gint64 outbox_store_part(struct store *st, const guint8 *data, gsize len, GError **error);
/* Queues MSG for O->recipient, inside the caller's transaction. */
gboolean outbox_put(struct store *st, const struct outgoing *o, GMimeMessage *msg,
		    const char *now, GError **error);
/* Queues MSG once per recipient: each gets its own To: and Message-ID
 * (made in DOMAIN), the parts of 16 KB or more are stored once for all;
 * with VERP_DOMAIN, each row's envelope sender is bounces+ID@VERP_DOMAIN. */
gboolean outbox_put_each(struct store *st, const struct outgoing *o, GMimeMessage *msg,
			 char *const *recipients, const char *verp_domain, const char *domain,
			 const char *now, GError **error);
/* A row's message as sent: CONTENT with the shared parts named in SPLICES
 * put back, into OUT.  CACHE (gint64 * -> GBytes) keeps parts between
 * rows. */
gboolean outbox_assemble(struct store *st, const guint8 *content, gsize len, const char *splices,
			 GHashTable *cache, GByteArray *out, GError **error);
/* Automatic replies queued to RECIPIENT (NULL: to anyone) since NOW
 * moved by BACK, an SQLite modifier such as "-1 day". */
gint64 outbox_replies_since(struct store *st, const char *recipient, const char *now,
			    const char *back);
/* Records a reply not sent, and why (rate limit, machine, ...). */
gboolean outbox_note_withheld(struct store *st, gint64 message, const char *recipient,
			      const char *tmpl, const char *reason, const char *now,
			      GError **error);

/* tickets.c: questions -------------------------------------------------- */

struct ticket_request {
	gint64 message;
	const char *email, *name, *language, *topic, *now;
};
/* Opens a ticket for a question, assigned to its topic; REFERENCE
 * receives "ICSSI22-Q-0012" and *ID its row. */
gboolean tickets_open(struct store *st, const struct config *cfg, const struct ticket_request *t,
		      char reference[32], gint64 *id, GError **error);

struct ticket {
	gint64 id;
	char *reference, *email, *name, *language, *topic, *status, *assignee;
	gint64 message;		/* the question */
	char *created_at, *updated_at, *reminded_at;
};
void ticket_clear(struct ticket *t);
/* The ticket with row ID, or with REFERENCE (any case); false if none. */
bool tickets_find(struct store *st, gint64 id, struct ticket *t);
bool tickets_find_reference(struct store *st, const char *reference, struct ticket *t);
/* The ticket one of our messages (Message-IDs in IDS, "<a> <b>") was
 * about, or 0. */
gint64 tickets_by_message_ids(struct store *st, const char *ids);
/* Records what happened (opened, forwarded, answered, comment, assigned,
 * closed, follow-up, reminded, ignored), by ACTOR, with MESSAGE if any. */
gboolean tickets_event(struct store *st, gint64 ticket, const char *kind, const char *actor,
		       gint64 message, const char *note, const char *now, GError **error);
/* Sets STATUS (open, answered, closed) or ASSIGNEE (NULL: unchanged);
 * a change that needs a coordinator again also restarts the wait. */
gboolean tickets_update(struct store *st, gint64 ticket, const char *status,
			const char *assignee, const char *now, GError **error);
/* The open tickets unanswered for [tickets] remind_after hours at NOW
 * and not reminded in the last day. */
GArray *tickets_reminders_due(struct store *st, const struct config *cfg, const char *now);
gboolean tickets_reminded(struct store *st, gint64 ticket, const char *now, GError **error);

/* routing.c: who answers which question --------------------------------- */

typedef struct routing routing;
/* DIR/routing.rules: topic -> coordinator names; none means organisers. */
struct routing *routing_load(const char *dir, GError **error);
void routing_free(struct routing *r);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(routing, routing_free)
bool routing_is_topic(const char *word);
/* The addresses for WHO: a topic (through the rules), a [coordinators]
 * name, or an address; the organisers when that means nobody. */
char **routing_coordinators(const struct routing *r, const struct config *cfg, const char *who);
/* Whether ADDR is an organiser or a coordinator: who may answer. */
bool routing_is_staff(const struct config *cfg, const char *addr);
/* Names the configuration does not know, as "file:line: ..." notes. */
void routing_check(const struct routing *r, const struct config *cfg, GPtrArray *problems);

/* reply.c: the answer a message deserves --------------------------------- */

struct reply_context {
	struct store *st;
	const struct config *cfg;
	const struct rules *rules;
	struct templates *ts;
	gint64 message;
	const struct mail *mail;
	const struct envelope *env;
	const struct verdict *verdict;
	JsonObject *fields;
	const char *noreply;		/* why not to answer, or NULL */
	const char *now;
};
/* Queues the reply (or none) for what registry_apply did (RES), inside the
 * caller's transaction; *WHAT names it ("received", "none: ..."). */
gboolean reply_act(const struct reply_context *c, const struct registry_result *res,
		   const char **what, GError **error);
/* Acts on a confirmation (a token in the recipient or subject), applying
 * the pending change or cancellation it names, and queues the answer.
 * FALSE with no error: the message carries no token. */
gboolean reply_confirm(const struct reply_context *c, bool *handled, GError **error);
/* Template TMPL to the sender, in their language (withheld from machines
 * and past the daily limit, as every reply). */
gboolean reply_with(const struct reply_context *c, const char *tmpl, GError **error);
/* Reminds registration REG, in its language, of what it still lacks
 * (the "incomplete" template). */
gboolean reply_remind_incomplete(const struct reply_context *c, gint64 reg, GError **error);
/* A plain note from the conference to a member of staff. */
gboolean reply_staff(const struct reply_context *c, const char *to, const char *subject,
		     const char *text, GError **error);

/* list.c: the announcement list ------------------------------------------- */

struct member {
	char *address, *name, *language;
	gint64 registration;		/* 0: a subscriber only */
};
void member_clear(struct member *m);
/* Subscribes ADDRESS (again: active, bounce score reset). */
gboolean list_add(struct store *st, const char *address, const char *name, const char *language,
		  const char *source, const char *now, GError **error);
/* Unsubscribes ADDRESS; *REMOVED false if it was not on the list. */
gboolean list_remove(struct store *st, const char *address, const char *now, bool *removed,
		     GError **error);
/* ADDRESS's status (active, unsubscribed, disabled) in BUF, or NULL. */
const char *list_status(struct store *st, const char *address, char buf[16]);
/* Who AUDIENCE (registered, list, all) is: members, each address once,
 * never one unsubscribed or disabled. */
GArray *list_audience(struct store *st, const char *audience);
/* A bounce B of outbox row OUTBOX (from its VERP address): recorded and
 * scored; *DISABLED when it took the member past the threshold. */
gboolean list_bounce(struct store *st, gint64 outbox, gint64 message, const struct bounce *b,
		     const char *now, bool *disabled, GError **error);

/* announce.c: announcements ---------------------------------------------- */

struct announcement_draft {
	const char *subject;
	const char *audience;		/* registered, list, all */
	const char *document;		/* programme, guide, or NULL */
	const char *author;
	const char *bodies[3];		/* en, ar, ckb: template text, or NULL */
	char **files;			/* paths, NULL-terminated, or NULL */
	gint64 message;			/* the post, when it came by email */
	GMimeMessage *post;		/* ... whose attachments go along */
};
/* Records DRAFT (held or ready to send); *ID its row.  A body that is
 * not a valid template is EX_DATAERR with its line. */
gboolean announce_create(struct store *st, const struct config *cfg,
			 const struct announcement_draft *d, gint64 *id, GError **error);
/* Queues announcement ID to its audience (or to ONLY, one address), each
 * copy in the member's language, personalised, VERP, at [list] rate. */
gboolean announce_send(struct store *st, const struct config *cfg, gint64 id, const char *only,
		       const char *approved_by, const char *now, int *sent, GError **error);
/* The latest announced programme and guide, to ADDRESS (a registrant). */
gboolean announce_documents_to(struct store *st, const struct config *cfg, const char *address,
			       const char *now, GError **error);
/* A message to the announcement address: held as an announcement, each
 * organiser asked to approve it with a token of their own; a sender who
 * is not an organiser is told so. */
gboolean announce_post(const struct reply_context *c, GError **error);
/* "programme" or "guide" when M asks for that document, else NULL. */
const char *announce_requested(const struct mail *m);
/* The newest sent announcement of DOCUMENT, or 0. */
gint64 announce_latest(struct store *st, const char *document);

/* figures.c: the conference in numbers ----------------------------------- */

/* Every figure the digest, the report and the spreadsheet show, at NOW:
 * {"generated_at", "conference", "capacity", "deadline", "days_left",
 *  "registrations": {"total", "by_status": {registered, incomplete, late,
 *  waitlisted, cancelled}}, "by_country", "by_org_type", "by_gender",
 *  "by_language", "interpretation", "arrivals", "departures",
 *  "hotel_nights" (each [{"key", "count"}], not counting cancellations),
 *  "funding": {self, needs_sponsorship, sponsor_other}, "visa_letters",
 *  "list": {active, disabled, unsubscribed, bounces},
 *  "queue": {queued, deferred, sent, failed}, "tickets": {open, overdue}}. */
JsonObject *figures_collect(struct store *st, const struct config *cfg, const char *now);
/* When a question still open counts as overdue at NOW ([tickets]
 * remind_after hours before), as the store writes times. */
char *figures_overdue_since(const struct config *cfg, const char *now);
/* figures_collect() started on a connection and a thread of its own, so
 * that the caller writes its rows meanwhile, then waited for.  A job that
 * could not start (NULL), or whose store would not open, is computed on ST
 * at the join: the figures are there either way.  Both connections read
 * the same committed state unless a delivery commits in between. */
struct figures_job *figures_start(const struct config *cfg, const char *now);
JsonObject *figures_join(struct figures_job *job, struct store *st, const struct config *cfg,
			 const char *now);
/* FN(ROW, DATA) for each registration (with STATUS, or all when NULL),
 * in the order registered: an object with the members
 * registration_columns() names (null when unknown), or only those in ONLY
 * (NULL: all), freed after. */
void registrations_each(struct store *st, const char *status, const char *const *only,
			void (*fn)(JsonObject *, gpointer), gpointer data);
const char *const *registration_columns(void);
/* Whether column C is the registration's own (not one of its fields). */
bool registration_own_column(const char *c);
/* The query registrations_each steps through (?1: the status, or NULL):
 * the name as registered, then for each column its type ("text", "bool",
 * "array", SQLite's json_type, or NULL for an own column) and its value;
 * columns not in ONLY (when given) are NULL, NULL. */
char *registrations_select(const char *const *only);
/* Every registration, straight from SQL (a hundred thousand in a second):
 * as CSV (UTF-8 with a BOM, RFC 4180 quoting, booleans yes/no, lists
 * joined with ", ", a value that starts like a formula kept as text), or
 * as a JSON array of objects. */
void registrations_csv(struct store *st, GString *out);
void registrations_json(struct store *st, GString *out);

/* digest.c: the organisers' daily email ----------------------------------- */

/* The digest since SINCE (NULL: since the last one) at NOW, to the
 * organisers; *SINCE_OUT is what it covers from. */
GMimeMessage *digest_build(struct store *st, const struct config *cfg, const char *since,
			   const char *now, char **since_out, char **message_id);
/* Queues it and remembers that it covered up to NOW. */
gboolean digest_queue(struct store *st, const struct config *cfg, GMimeMessage *msg,
		      const char *message_id, const char *since, const char *now, GError **error);

/* privacy.c: a person's data, on request --------------------------------- */

/* Erases everything about the person of registration REFERENCE (their
 * registrations, messages, tickets, list membership, the mail sent to or
 * about them) and records that it was done, by BY; *MESSAGES counts the
 * messages removed. */
gboolean privacy_forget(struct store *st, const char *reference, const char *by, const char *now,
			int *messages, GError **error);
/* Everything held about ADDRESS, as JSON. */
JsonObject *privacy_export(struct store *st, const char *address);

/* report.c: the organisers' one-page HTML report ------------------------- */

/* A self-contained page (no network): the figures at NOW as SVG charts and the
 * registrations of ST as a sortable table, names in any script shown in
 * their own direction. */
char *report_html(const struct config *cfg, struct store *st, const char *now);

/* xlsx.c: the spreadsheet (libxlsxwriter) -------------------------------- */

/* PATH: a sheet of the registrations of ST (registration_columns()), then
 * a sheet per statistic of the figures at NOW. */
gboolean xlsx_write(const char *path, struct store *st, const struct config *cfg, const char *now,
		    GError **error);

/* questions.c: the question desk ----------------------------------------- */

/* Sends the new TICKET's question to the coordinators of its topic. */
gboolean questions_opened(const struct reply_context *c, gint64 ticket, GError **error);
/* Acts on a message about a ticket (to tickets+REF@ or comment+REF@, with
 * [REF] in its subject, or answering one of our messages about it): a
 * coordinator's answer or command, or the participant's follow-up.
 * *HANDLED false: it is about no ticket, or a stranger cited one (then it
 * is read as a new message). */
gboolean questions_handle(const struct reply_context *c, bool *handled, GError **error);
/* Assigns ticket REFERENCE to WHO (a topic, a [coordinators] name, or a
 * staff address) for ACTOR; its new coordinators get the question. */
gboolean questions_assign(struct store *st, const struct config *cfg, const char *reference,
			  const char *who, const char *actor, const char *now, GError **error);
/* Reminds the coordinators of each ticket unanswered for [tickets]
 * remind_after hours, at most once a day; *SENT counts the tickets. */
gboolean questions_remind(struct store *st, const struct config *cfg, const char *now, int *sent,
			  GError **error);

/* transport.c: delivery ------------------------------------------------- */

/* Writes LEN bytes of DATA (outbox row ID) into MAILDIR/new, durably;
 * *DELIVERED receives the file's name. */
gboolean transport_maildir(const char *maildir, gint64 id, const void *data, gsize len,
			   char **delivered, GError **error);

enum delivery { DELIVERY_SENT, DELIVERY_DEFERRED, DELIVERY_FAILED };
typedef struct smtp smtp;
/* A session with [transport] host:port: connected (TLS from the start
 * with implicit_tls), EHLO done, STARTTLS as [transport] starttls says
 * (the certificate verified when "required" or implicit), AUTH when
 * [transport] user is set; NULL and *WHY when it cannot be had. */
struct smtp *transport_smtp_open(const struct config *cfg, char **why);
void transport_smtp_close(struct smtp *t);
/* One transaction: DATA from FROM to the N recipients TO, pipelined when
 * the relay offers it.  Each recipient's outcome (OUTCOME[i], and WHY[i]
 * unless sent) comes from the reply code that decided it: MAIL's, its own
 * RCPT's, or the end of DATA's. */
void transport_smtp_send(struct smtp *t, const char *from, char *const *to, guint n,
			 const void *data, gsize len, enum delivery *outcome, char **why);
/* One message to N recipients through [transport] sendmail -oi -f FROM
 * -- TO...; its exit status decides for all (0 sent, 65/67/68/77/64
 * failed, else deferred). */
enum delivery transport_sendmail(const struct config *cfg, const char *from, char *const *to,
				 guint n, const void *data, gsize len, char **why);
/* Whether the connection is still open (a 421 or a hang-up closes it). */
bool transport_smtp_alive(const struct smtp *t);

/* fetch.c: intake from a hosted mailbox (IMAP or POP3) ------------------ */

typedef struct fetch_session fetch_session;
struct fetch_counts {
	int recorded;		/* new messages */
	int duplicates;		/* already recorded (a retry after a failure) */
	int too_big;		/* over max_message_size, left on the server */
};
enum fetch_wait {
	FETCH_AGAIN,		/* look again on this session */
	FETCH_RECONNECT,	/* the session is over (POP3): log in again later */
	FETCH_FAILED,		/* the connection failed: ERROR says how */
};
/* Connects to [fetch] host, verifies its certificate (tls implicit or
 * starttls), logs in with the password in password_file (refused when
 * others may read it) and, for IMAP, selects the folder.  NULL and ERROR
 * otherwise: EX_CONFIG for the configuration, EX_NOPERM when the login is
 * refused, EX_TEMPFAIL for the network and the server. */
struct fetch_session *fetch_connect(const struct config *cfg, GError **error);
/* Takes every message not yet taken, one at a time: deliver(), then, once
 * committed, what [fetch] after says on the server.  Stops between
 * messages when *STOP is set.  false and ERROR (EX_TEMPFAIL when it may
 * work later) leave the message at hand on the server. */
bool fetch_run(struct fetch_session *s, struct store *st, const struct rules *r,
	       struct fetch_counts *counts, const volatile sig_atomic_t *stop, GError **error);
/* Waits for new mail: IMAP IDLE when the server offers it (woken by the
 * server), at most SECONDS, or until *STOP. */
enum fetch_wait fetch_wait(struct fetch_session *s, int seconds, const volatile sig_atomic_t *stop,
			   GError **error);
/* "imap://user@host:port/folder", for messages. */
const char *fetch_account(const struct fetch_session *s);
void fetch_close(struct fetch_session *s);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(fetch_session, fetch_close)

/* etpan.c: what SMTP, IMAP and POP3 share (the rest is in etpan.h) ------ */

/* Whether HOST is this machine, where nothing sent can be overheard. */
bool etpan_loopback(const char *host);

/* json.c: output -------------------------------------------------------- */

/* The FIELDS.md object for one parsed message, as a single line; FIELDS
 * (may be NULL) is the extracted fields object. */
char *json_verdict(const struct mail *m, const struct verdict *v, JsonObject *fields,
		   const char *noreply);
/* The decoded headers as a JSON array of [name, value] pairs. */
char *json_headers(const struct mail *m);
/* DESIGN.md's stats object. */
char *json_stats(struct store *st, GError **error);

/* cmd_*.c: the commands -------------------------------------------------- */

struct command_context {
	const char *config_path;
	const char *prog;
};

int cmd_init(struct command_context *ctx, int argc, char **argv);
int cmd_filter(struct command_context *ctx, int argc, char **argv);
int cmd_serve(struct command_context *ctx, int argc, char **argv);
int cmd_fetch(struct command_context *ctx, int argc, char **argv);
int cmd_parse(struct command_context *ctx, int argc, char **argv);
int cmd_stats(struct command_context *ctx, int argc, char **argv);
int cmd_queue(struct command_context *ctx, int argc, char **argv);
int cmd_tickets(struct command_context *ctx, int argc, char **argv);
int cmd_announce(struct command_context *ctx, int argc, char **argv);
int cmd_list(struct command_context *ctx, int argc, char **argv);
int cmd_report(struct command_context *ctx, int argc, char **argv);
int cmd_digest(struct command_context *ctx, int argc, char **argv);
int cmd_preview(struct command_context *ctx, int argc, char **argv);
int cmd_check(struct command_context *ctx, int argc, char **argv);
int cmd_messages(struct command_context *ctx, int argc, char **argv);
int cmd_reprocess(struct command_context *ctx, int argc, char **argv);
int cmd_registrations(struct command_context *ctx, int argc, char **argv);

/* main.c helpers, shared by commands */
void cm_err(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Loads the configuration named by CTX, printing the error; NULL on error. */
struct config *cm_load_config(struct command_context *ctx);
/* The configuration (*CFG) and its store, opened in MODE; NULL with *RC
 * the exit code when either fails (the error printed). */
struct store *cm_open(struct command_context *ctx, enum store_mode mode, struct config **cfg,
		      int *rc);
/* Prints ERROR and returns the exit code it carries (EX_SOFTWARE if none).
 * In MDA mode (filter) the line starts with an RFC 3463 status code. */
int cm_fail(GError *error);
/* What cm_fail prints in MDA mode, with its RFC 3463 code, and in *CODE
 * the exit code (for confmail-filter's answer from `serve`). */
char *cm_fail_text(const GError *error, int *code);
extern bool cm_mda_mode;

/* heap.c: from here on, malloc serves from a 2 MiB transparent huge page
 * (one page fault for a delivery's whole heap).  False when this malloc
 * or kernel cannot; the heap then works as before. */
bool heap_use_huge_pages(void);

#endif
