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
 *           VALUE" for ORIGINAL_RECIPIENT, RECIPIENT and SENDER when set,
 *           "config PATH" and "database PATH" (the configuration and the
 *           $CONFMAIL_DATABASE its filter would use, which must be this
 *           server's); an empty line; the N bytes of the message.
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
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* A client that has not sent its message in this time is dropped (it
 * falls back to filter), so that no connection holds up the others. */
#define CLIENT_TIMEOUT_MS 30000
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
	GError *broken;		/* why messages cannot be taken now */
	bool broken_early;	/* ... the configuration or rules (78, before the size) */
	bool reopen;		/* the store failed: open it again for the next */
	dev_t db_dev;		/* the database file the store has open */
	ino_t db_ino;
	char *rules_dir;
	char *signature;	/* of the configuration and rules files */
	char *config_real, *database_real;	/* what clients must name */
};

/* PATH resolved, else as given; "" for NULL. */
static char *
real_or_given(const char *path)
{
	if (!path)
		return g_strdup("");
	char *real = realpath(path, NULL);
	char *out = g_strdup(real ? real : path);
	free(real);
	return out;
}

/* What the configuration and rule files look like from outside: a change
 * of any of them (an organiser edited a rule) reloads them before the
 * next message, as the next `filter` would have read them. */
static char *
files_signature(const struct server *sv)
{
	GString *s = g_string_new(NULL);
	struct stat sb;
	if (stat(sv->ctx->config_path, &sb) == 0)
		g_string_append_printf(s, "%lu:%ld.%ld:%ld.%ld:%ld/", (unsigned long)sb.st_ino,
				       (long)sb.st_mtim.tv_sec, sb.st_mtim.tv_nsec, (long)sb.st_ctim.tv_sec,
				       sb.st_ctim.tv_nsec, (long)sb.st_size);
	g_autoptr(GDir) dir = g_dir_open(sv->rules_dir, 0, NULL);
	const char *name;
	while (dir && (name = g_dir_read_name(dir))) {
		g_autofree char *path = g_build_filename(sv->rules_dir, name, NULL);
		if (stat(path, &sb) == 0)
			g_string_append_printf(s, "%s=%lu:%ld.%ld:%ld.%ld:%ld/", name,
					       (unsigned long)sb.st_ino, (long)sb.st_mtim.tv_sec,
					       sb.st_mtim.tv_nsec, (long)sb.st_ctim.tv_sec,
					       sb.st_ctim.tv_nsec, (long)sb.st_size);
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

	sv->reopen = false;
	sv->cfg = config_load(sv->ctx->config_path, &error);
	if (sv->cfg)
		sv->rules = rules_load(sv->rules_dir, &error);
	sv->broken_early = !sv->rules;
	if (sv->rules)
		sv->st = store_open(sv->cfg, STORE_CREATE, &error);
	struct stat sb;
	if (sv->st && stat(sv->cfg->database, &sb) == 0) {
		sv->db_dev = sb.st_dev;
		sv->db_ino = sb.st_ino;
	} else if (sv->st) {
		g_clear_pointer(&sv->st, store_close);
		g_set_error(&error, CONFMAIL_ERROR, EX_TEMPFAIL, "%s: gone as it was opened",
			    sv->cfg->database);
	}
	if (!sv->st) {
		if (!error)
			g_set_error(&error, CONFMAIL_ERROR, EX_SOFTWARE, "serve: cannot load");
		sv->broken = g_steal_pointer(&error);
		cm_fail(sv->broken);
	}
}

/* Whether the store must be opened again before the next message: a
 * failure, an edited file, or a database file that is no longer the one
 * open (replaced by a backup, removed and made anew by init). */
static bool
must_reload(const struct server *sv)
{
	if (sv->broken || sv->reopen)
		return true;
	g_autofree char *now = files_signature(sv);
	if (g_strcmp0(now, sv->signature) != 0)
		return true;
	struct stat sb;
	if (stat(sv->cfg->database, &sb) != 0 || sb.st_dev != sv->db_dev || sb.st_ino != sv->db_ino)
		return true;
	/* another confmail migrated it: this build may not know the schema
	 * (store_open then says so, and messages wait for a newer serve) */
	return store_schema_version(sv->st) != store_latest_version();
}

static void
answer(int fd, int code, const char *text)
{
	g_autofree char *line = g_strdup_printf("%d %s", code, text ? text : "");
	g_strdelimit(line, "\r\n", ' ');	/* one line */
	wire_write_all(fd, line, strlen(line));
	wire_write_all(fd, "\n", 1);
}

static gint64
now_ms(void)
{
	return g_get_monotonic_time() / 1000;
}

/* read(2) that gives up at DEADLINE (now_ms): -1 then. */
static ssize_t
read_until(int fd, void *buf, size_t n, gint64 deadline)
{
	for (;;) {
		gint64 left = deadline - now_ms();
		if (left <= 0)
			return -1;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int rc = poll(&p, 1, (int)MIN(left, G_MAXINT));
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc <= 0)
			return -1;
		ssize_t got = read(fd, buf, n);
		if (got < 0 && errno == EINTR)
			continue;
		return got;
	}
}

/* The request's header: up to the empty line; what came after it (the
 * start of the message) is left in *REST. */
static char *
read_header(int fd, GByteArray *rest, gint64 deadline)
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
		ssize_t n = read_until(fd, chunk, sizeof chunk, deadline);
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
	char *config, *database;	/* "" when the client named none */
};

static void
request_clear(struct request *q)
{
	g_free(q->recipient);
	g_free(q->sender);
	g_free(q->config);
	g_free(q->database);
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
		struct {
			const char *key;
			char **slot;
		} strings[] = {
			{ "recipient", &q->recipient }, { "sender", &q->sender },
			{ "config", &q->config }, { "database", &q->database },
		};
		size_t si = 0;
		while (si < G_N_ELEMENTS(strings) && strcmp(strings[si].key, key) != 0)
			si++;
		if (si < G_N_ELEMENTS(strings)) {
			g_free(*strings[si].slot);
			*strings[si].slot = g_strdup(value);
		} else if (strcmp(key, "size") == 0) {
			char *end;
			q->size = g_ascii_strtoll(value, &end, 10);
			if (*end || q->size < 0)
				return false;
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

/* Reads the SIZE bytes of the message after what read_header left in
 * RAW; unless KEEP they are read and dropped (the answer does not need
 * them, and the client must be able to write them all to read it). */
static bool
read_message(int fd, GByteArray *raw, gint64 size, bool keep, gint64 deadline)
{
	if ((gint64)raw->len > size)
		return false;
	gint64 left = size - raw->len;
	guint8 chunk[65536];
	if (!keep)
		g_byte_array_set_size(raw, 0);
	while (left > 0) {
		ssize_t n = read_until(fd, chunk, (size_t)MIN(left, (gint64)sizeof chunk), deadline);
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
	struct timeval tv = { .tv_sec = CLIENT_TIMEOUT_MS / 1000 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	gint64 deadline = now_ms() + CLIENT_TIMEOUT_MS;

	g_autoptr(GByteArray) raw = g_byte_array_new();
	g_autofree char *header = read_header(fd, raw, deadline);
	struct request q = { 0 };
	if (!header || !parse_header(header, &q)) {
		request_clear(&q);
		return;
	}
	/* a client for another configuration or database: its own filter
	 * must take the message where it was configured to go */
	if (g_strcmp0(q.config ? q.config : "", sv->config_real) != 0 ||
	    g_strcmp0(q.database ? q.database : "", sv->database_real) != 0) {
		cm_err("serve: a client for %s%s%s, not this server's %s%s%s: it runs filter itself",
		       q.config ? q.config : "(no configuration)", q.database ? " and " : "",
		       q.database ? q.database : "", sv->config_real, *sv->database_real ? " and " : "",
		       sv->database_real);
		request_clear(&q);
		return;
	}
	if (must_reload(sv))
		load(sv);

	/* the answer filter would give, in filter's order: its options, the
	 * configuration and rules, the size, the store */
	g_autoptr(GError) error = NULL;
	if ((q.recipient && !g_utf8_validate(q.recipient, -1, NULL)) ||
	    (q.sender && !g_utf8_validate(q.sender, -1, NULL)))
		g_set_error(&error, CONFMAIL_ERROR, EX_CONFIG, "filter: -r or -f is not UTF-8");
	else if (sv->broken && sv->broken_early)
		error = g_error_copy(sv->broken);
	else if (q.size > sv->cfg->max_message_size)
		g_set_error(&error, CONFMAIL_ERROR, EX_DATAERR,
			    "message refused: larger than the limit of %" G_GINT64_FORMAT
			    " bytes ([limits] max_message_size)", sv->cfg->max_message_size);
	else if (sv->broken)
		error = g_error_copy(sv->broken);
	if (!read_message(fd, raw, q.size, !error, deadline)) {
		request_clear(&q);
		return;
	}

	if (!error) {
		/* the envelope as the MTA gave it to the client */
		static const char *const intake_names[] = INTAKE_ENVIRONMENT;
		const char *values[G_N_ELEMENTS(intake_names)] = { 0 };
		for (size_t i = 0; i < G_N_ELEMENTS(intake_names); i++)
			for (size_t k = 0; k < G_N_ELEMENTS(passed_env); k++)
				if (strcmp(intake_names[i], passed_env[k]) == 0)
					values[i] = q.env[k];
		intake_use_environment(values);
		enum record_result rec = deliver(sv->st, sv->cfg, sv->rules, raw, q.recipient, q.sender,
						 &error);
		intake_use_environment(NULL);
		if (rec != RECORD_ERROR)
			g_clear_error(&error);
		else if (!error)
			g_set_error(&error, CONFMAIL_ERROR, EX_TEMPFAIL, "serve: not recorded");
		/* a transient failure (locked, disk full, I/O): a fresh
		 * connection for the next message, as a new filter would have */
		if (error && error->domain == CONFMAIL_ERROR && error->code == EX_TEMPFAIL)
			sv->reopen = true;
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

/* Listens on PATH, holding PATH.lock for as long as it serves: the lock
 * says whose the socket is, so a second server neither takes it over nor
 * removes it. */
static int
listen_on(const char *path, int *lock_fd, ino_t *ino, GError **error)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof addr.sun_path) {
		g_set_error(error, CONFMAIL_ERROR, EX_CONFIG,
			    "serve: socket path too long for a Unix socket (%zu bytes at most): %s",
			    sizeof addr.sun_path - 1, path);
		return -1;
	}
	g_autofree char *lock_path = g_strconcat(path, ".lock", NULL);
	*lock_fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (*lock_fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "serve: %s: %s", lock_path,
			    g_strerror(errno));
		return -1;
	}
	if (flock(*lock_fd, LOCK_EX | LOCK_NB) != 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL,
			    "serve: another confmail serve answers on %s (it holds %s)", path, lock_path);
		return -1;
	}
	strcpy(addr.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "serve: socket: %s", g_strerror(errno));
		return -1;
	}
	struct stat sb;
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode))
		unlink(path);	/* left by a server that died: the lock is ours */
	mode_t old = umask(077);	/* the socket: its owner's alone */
	int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
	umask(old);
	if (rc != 0 || listen(fd, 128) != 0 || lstat(path, &sb) != 0) {
		g_set_error(error, CONFMAIL_ERROR, errno == EADDRINUSE ? EX_CONFIG : EX_TEMPFAIL,
			    "serve: %s: %s", path, g_strerror(errno));
		close(fd);
		return -1;
	}
	*ino = sb.st_ino;
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

	struct server sv = {
		.ctx = ctx,
		.rules_dir = rules_default_dir(),
		.config_real = real_or_given(ctx->config_path),
		.database_real = real_or_given(g_getenv("CONFMAIL_DATABASE")),
	};
	rules_use_jit(true);	/* many messages: compiling pays */
	load(&sv);
	int rc = 0, lock_fd = -1, lfd = -1;
	ino_t ino = 0;
	if (!sv.cfg) {
		rc = EX_CONFIG;
		goto out;
	}
	if (!socket_path)
		socket_path = g_strconcat(sv.cfg->database, ".sock", NULL);
	lfd = listen_on(socket_path, &lock_fd, &ino, &error);
	if (lfd < 0) {
		rc = cm_fail(error);
		goto out;
	}

	/* SIGTERM and SIGINT are let in only while waiting for a client
	 * (ppoll), so one that comes at any other moment ends the wait at
	 * once instead of being missed */
	struct sigaction sa = { .sa_handler = request_stop };
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigset_t stops, waiting;
	sigemptyset(&stops);
	sigaddset(&stops, SIGTERM);
	sigaddset(&stops, SIGINT);
	sigprocmask(SIG_BLOCK, &stops, &waiting);
	sigdelset(&waiting, SIGTERM);
	sigdelset(&waiting, SIGINT);
	fprintf(stderr, "confmail: serving %s on %s\n", sv.cfg->database, socket_path);
	while (!stop_requested) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		if (ppoll(&p, 1, NULL, &waiting) <= 0)
			continue;
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				sleep(1);	/* out of descriptors: clients fall back meanwhile */
			continue;
		}
		serve_one(&sv, fd);
		close(fd);
	}
	struct stat sb;
	if (lstat(socket_path, &sb) == 0 && sb.st_ino == ino)
		unlink(socket_path);
out:
	if (lfd >= 0)
		close(lfd);
	if (lock_fd >= 0)
		close(lock_fd);
	store_close(sv.st);
	rules_free(sv.rules);
	config_free(sv.cfg);
	g_clear_error(&sv.broken);
	g_free(sv.rules_dir);
	g_free(sv.signature);
	g_free(sv.config_real);
	g_free(sv.database_real);
	return rc;
}
