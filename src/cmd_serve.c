/*
 * cmd_serve.c - `confmail serve`: the intake kept running.  A `confmail
 * filter` process spends about 8 ms loading its 21 shared libraries
 * before it reads a byte (tests/bench/intake), more than procmail and
 * formail need for a whole delivery.  This process loads them, the
 * configuration and the rules once; confmail-filter, a small program of
 * libc alone, hands it each message over a Unix socket and waits for the
 * commit.  The same deliver(), the same transaction, the same answers:
 * the client exits with the code filter would have, after the commit.
 *
 * One message per connection, one at a time (the database takes one
 * writer at a time anyway).  Both ends are ours:
 *   client: "confmail-filter 1\n", then "KEY VALUE\n" lines: "size N",
 *           "recipient R" (-r), "sender S" (-f, may be empty), "env NAME
 *           VALUE" for ORIGINAL_RECIPIENT, RECIPIENT and SENDER when set;
 *           an empty line; the N bytes of the message.
 *   server: "CODE TEXT\n", the exit code and what filter would have
 *           printed (nothing on success).
 * A connection from another user, or anything malformed, is closed
 * unanswered, and the client then runs `confmail filter` itself: the
 * slow way, never a lost message.
 */
#define _GNU_SOURCE	/* accept4, memmem, struct ucred */
#include "confmail.h"
#include "wire.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

/* A client that stalls this long is dropped (it falls back to filter). */
#define CLIENT_TIMEOUT_S 30
#define MAX_HEADER 65536

static volatile sig_atomic_t stop_requested;

static void
request_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

struct server {
	struct command_context *ctx;
	struct config *cfg;
	struct rules *rules;
	struct store *st;
	GError *broken;		/* why messages cannot be taken now (78) */
	char *rules_dir;
	char *signature;	/* of the configuration and rules files */
};

/* What the configuration and rule files look like from outside: a change
 * of any of them (an organiser edited a rule) reloads them before the
 * next message, as the next `filter` would have read them. */
static char *
files_signature(const struct server *sv)
{
	GString *s = g_string_new(NULL);
	struct stat sb;
	if (stat(sv->ctx->config_path, &sb) == 0)
		g_string_append_printf(s, "%ld.%ld:%ld/", (long)sb.st_mtim.tv_sec,
				       sb.st_mtim.tv_nsec, (long)sb.st_size);
	g_autoptr(GDir) dir = g_dir_open(sv->rules_dir, 0, NULL);
	const char *name;
	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *path = g_build_filename(sv->rules_dir, name, NULL);
		if (stat(path, &sb) == 0)
			g_string_append_printf(s, "%s=%ld.%ld:%ld/", name, (long)sb.st_mtim.tv_sec,
					       sb.st_mtim.tv_nsec, (long)sb.st_size);
	}
	return g_string_free(s, FALSE);
}

/* (Re)loads configuration, rules and store; on failure keeps the reason
 * to answer every message with, as filter would (78 or 75). */
static void
load(struct server *sv)
{
	g_autoptr(GError) error = NULL;
	g_clear_pointer(&sv->st, store_close);
	g_clear_pointer(&sv->rules, rules_free);
	g_clear_pointer(&sv->cfg, config_free);
	g_clear_error(&sv->broken);
	g_free(sv->signature);
	sv->signature = files_signature(sv);

	sv->cfg = config_load(sv->ctx->config_path, &error);
	if (sv->cfg)
		sv->rules = rules_load(sv->rules_dir, &error);
	if (sv->rules)
		sv->st = store_open(sv->cfg, STORE_CREATE, &error);
	if (!sv->st) {
		sv->broken = g_steal_pointer(&error);
		cm_fail(sv->broken);
	}
}

static void
answer(int fd, int code, const char *text)
{
	g_autofree char *line = g_strdup_printf("%d %s\n", code, text ? text : "");
	wire_write_all(fd, line, strlen(line));
}

/* The request's header: up to the empty line; what came after it (the
 * start of the message) is left in *REST. */
static char *
read_header(int fd, GByteArray *rest)
{
	GByteArray *b = g_byte_array_new();
	guint8 chunk[16384];
	for (;;) {
		guint8 *end = b->len >= 2 ? memmem(b->data, b->len, "\n\n", 2) : NULL;
		if (end) {
			size_t hlen = (size_t)(end - b->data) + 1;
			g_byte_array_append(rest, end + 2, b->len - (guint)hlen - 1);
			g_byte_array_set_size(b, (guint)hlen);
			g_byte_array_append(b, (const guint8 *)"", 1);
			return (char *)g_byte_array_free(b, FALSE);
		}
		if (b->len > MAX_HEADER)
			break;
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		g_byte_array_append(b, chunk, (guint)n);
	}
	g_byte_array_free(b, TRUE);
	return NULL;
}

static const char *const passed_env[] = WIRE_PASSED_ENV;

struct request {
	gint64 size;
	char *recipient, *sender;	/* -r, -f as given, or NULL */
	char *env[G_N_ELEMENTS(passed_env)];
};

static void
request_clear(struct request *q)
{
	g_free(q->recipient);
	g_free(q->sender);
	for (size_t i = 0; i < G_N_ELEMENTS(q->env); i++)
		g_free(q->env[i]);
}

static bool
parse_header(const char *header, struct request *q)
{
	g_auto(GStrv) lines = g_strsplit(header, "\n", -1);
	if (!lines[0] || strcmp(lines[0], WIRE_GREETING) != 0)
		return false;
	q->size = -1;
	for (int i = 1; lines[i] && *lines[i]; i++) {
		char *value = strchr(lines[i], ' ');
		if (!value)
			return false;
		*value++ = '\0';
		const char *key = lines[i];
		if (strcmp(key, "size") == 0) {
			char *end;
			q->size = g_ascii_strtoll(value, &end, 10);
			if (*end || q->size < 0)
				return false;
		} else if (strcmp(key, "recipient") == 0) {
			g_free(q->recipient);
			q->recipient = g_strdup(value);
		} else if (strcmp(key, "sender") == 0) {
			g_free(q->sender);
			q->sender = g_strdup(value);
		} else if (strcmp(key, "env") == 0) {
			char *v = strchr(value, ' ');
			if (!v)
				return false;
			*v++ = '\0';
			size_t k = 0;
			while (k < G_N_ELEMENTS(passed_env) && strcmp(passed_env[k], value) != 0)
				k++;
			if (k == G_N_ELEMENTS(passed_env))
				return false;
			g_free(q->env[k]);
			q->env[k] = g_strdup(v);
		} else {
			return false;
		}
	}
	return q->size >= 0;
}

/* Reads SIZE bytes of message after what READ_HEADER left in RAW; over
 * LIMIT they are read and dropped (the answer is 65 either way). */
static bool
read_message(int fd, GByteArray *raw, gint64 size, gint64 limit)
{
	if ((gint64)raw->len > size)
		return false;
	bool keep = size <= limit;
	gint64 left = size - raw->len;
	guint8 chunk[65536];
	while (left > 0) {
		ssize_t n = read(fd, chunk, (size_t)MIN(left, (gint64)sizeof chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		if (keep)
			g_byte_array_append(raw, chunk, (guint)n);
		left -= n;
	}
	return true;
}

/* One connection: one message, answered after its commit. */
static void
serve_one(struct server *sv, int fd)
{
	struct ucred peer;
	socklen_t len = sizeof peer;
	/* only the user the database belongs to (as its 0600 mode says) */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0 || peer.uid != geteuid())
		return;
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_S };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);

	g_autoptr(GByteArray) raw = g_byte_array_new();
	g_autofree char *header = read_header(fd, raw);
	struct request q = { 0 };
	if (!header || !parse_header(header, &q)) {
		request_clear(&q);
		return;
	}
	/* an edited file, or a store that could not be opened (locked,
	 * disk full): try again, as the next filter would */
	g_autofree char *now = files_signature(sv);
	if (sv->broken || g_strcmp0(now, sv->signature) != 0)
		load(sv);
	gint64 limit = sv->cfg ? sv->cfg->max_message_size : G_MAXINT64;
	if (!read_message(fd, raw, q.size, limit)) {
		request_clear(&q);
		return;
	}

	g_autoptr(GError) error = NULL;
	if (sv->broken) {
		error = g_error_copy(sv->broken);
	} else if (q.size > limit) {
		g_set_error(&error, CONFMAIL_ERROR, EX_DATAERR,
			    "message refused: larger than the limit of %" G_GINT64_FORMAT
			    " bytes ([limits] max_message_size)", limit);
	} else if ((q.recipient && !g_utf8_validate(q.recipient, -1, NULL)) ||
		   (q.sender && !g_utf8_validate(q.sender, -1, NULL))) {
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG, "filter: -r or -f is not UTF-8");
	} else {
		/* the envelope as the MTA gave it to the client (intake.c
		 * reads these); one message at a time, so setting them is safe */
		for (size_t i = 0; i < G_N_ELEMENTS(passed_env); i++) {
			if (q.env[i])
				g_setenv(passed_env[i], q.env[i], TRUE);
			else
				g_unsetenv(passed_env[i]);
		}
		if (deliver(sv->st, sv->cfg, sv->rules, raw, q.recipient, q.sender, &error) != RECORD_ERROR)
			g_clear_error(&error);
	}
	request_clear(&q);
	if (!error) {
		answer(fd, 0, NULL);
		return;
	}
	int code;
	g_autofree char *text = cm_fail_text(error, &code);
	answer(fd, code, text);
}

/* Listens on PATH, refusing one another server still answers on. */
static int
listen_on(const char *path, GError **error)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "serve: socket path too long for a Unix socket (%zu bytes at most): %s",
			    sizeof addr.sun_path - 1, path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "serve: socket: %s", g_strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
		close(fd);
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL,
			    "serve: another confmail serve answers on %s", path);
		return -1;
	}
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);	/* left by a server that died */
	mode_t old = umask(077);	/* the socket: its owner only */
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0) {
		g_set_error(error, CONFMAIL_ERROR, errno == EADDRINUSE ? EX_CONFIG : EX_TEMPFAIL,
			    "serve: %s: %s", path, g_strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

int
cmd_serve(struct command_context *ctx, int argc, char **argv)
{
	g_autofree char *socket_path = NULL;
	GOptionEntry entries[] = {
		{ "socket", 's', 0, G_OPTION_ARG_FILENAME, &socket_path,
		  "the Unix socket to listen on (default: DATABASE.sock)", "PATH" },
		G_OPTION_ENTRY_NULL
	};
	g_autoptr(GError) error = NULL;
	g_autoptr(GOptionContext) oc = g_option_context_new(
		"- take messages from confmail-filter until SIGTERM");
	g_option_context_add_main_entries(oc, entries, NULL);
	if (!g_option_context_parse(oc, &argc, &argv, &error)) {
		cm_err("serve: %s", error->message);
		return EX_USAGE;
	}
	if (argc > 1) {
		cm_err("serve: unexpected argument '%s'", argv[1]);
		return EX_USAGE;
	}

	struct server sv = { .ctx = ctx, .rules_dir = rules_default_dir() };
	rules_use_jit(true);	/* many messages: compiling pays */
	load(&sv);
	if (!sv.cfg) {
		g_free(sv.rules_dir);
		g_free(sv.signature);
		g_clear_error(&sv.broken);
		return EX_CONFIG;
	}
	if (!socket_path)
		socket_path = g_strconcat(sv.cfg->database, ".sock", NULL);
	int lfd = listen_on(socket_path, &error);
	int rc = 0;
	if (lfd < 0) {
		rc = cm_fail(error);
	} else {
		struct sigaction sa = { .sa_handler = request_stop };	/* no SA_RESTART: accept returns */
		sigemptyset(&sa.sa_mask);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		fprintf(stderr, "confmail: serving %s on %s\n", sv.cfg->database, socket_path);
		while (!stop_requested) {
			int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd < 0) {
				if (errno != EINTR && errno != ECONNABORTED)
					sleep(1);	/* out of descriptors: let clients fall back */
				continue;
			}
			serve_one(&sv, fd);
			close(fd);
		}
		close(lfd);
		unlink(socket_path);
	}
	store_close(sv.st);
	rules_free(sv.rules);
	config_free(sv.cfg);
	g_clear_error(&sv.broken);
	g_free(sv.rules_dir);
	g_free(sv.signature);
	return rc;
}
