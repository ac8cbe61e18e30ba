/*
 * confmail-filter - the MDA half of `confmail serve` (src/cmd_serve.c).
 *
 * An MTA runs it as it would run `confmail filter`, with the same
 * options, plus the socket of a running `confmail serve`:
 *
 *     confmail-filter -S /var/lib/confmail/icssi.sqlite.sock [-c CONF] [-r RCPT] [-f SENDER]
 *
 * It reads the message, hands it and the envelope to the server, waits
 * for the commit and exits with the server's answer, the code `confmail
 * filter` would have given.  It is libc alone, so that starting it costs
 * what starting /bin/true does, not the 8 ms of loading GMime, GLib,
 * SQLite and PCRE2.
 *
 * When there is no socket or no server, or the server goes away before
 * answering, it runs `confmail filter` itself with the same message and
 * options (the confmail beside this program, else the one on $PATH):
 * slower, never lost.  A message the server committed just before it
 * died is then recognised as a duplicate and recorded once.
 */
#define _GNU_SOURCE	/* memfd_create */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "../wire.h"

#define EX_TEMPFAIL 75
#define EX_CONFIG 78

/* An answer slower than this is given up on: filter runs instead (a
 * message the server commits meanwhile is then a duplicate, recorded
 * once).  Generous: the server takes messages one at a time. */
#define ANSWER_TIMEOUT_MS (300 * 1000)

static const char *const passed_env[] = WIRE_PASSED_ENV;

struct message {
	char *data;
	size_t len, cap;
};

static bool
read_stdin(struct message *m)
{
	for (;;) {
		if (m->len == m->cap) {
			size_t cap = m->cap ? m->cap * 2 : 65536;
			char *p = realloc(m->data, cap);
			if (!p)
				return false;
			m->data = p;
			m->cap = cap;
		}
		ssize_t n = read(STDIN_FILENO, m->data + m->len, m->cap - m->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;
		if (n == 0)
			return true;
		m->len += (size_t)n;
	}
}

/* Appends "KEY VALUE\n"; false when VALUE cannot be carried on one line. */
static bool
add_line(char **buf, size_t *len, const char *key, const char *value)
{
	if (strchr(value, '\n'))
		return false;
	size_t n = strlen(key) + strlen(value) + 2;
	char *p = realloc(*buf, *len + n + 1);
	if (!p)
		return false;
	*buf = p;
	snprintf(p + *len, n + 1, "%s %s\n", key, value);
	*len += n;
	return true;
}

/* Hands M to the server on SOCKET_PATH.  The server's exit code, with its
 * text printed; -1 when it could not be asked or did not answer. */
/* PATH resolved, else as given (the server compares them). */
static char *
resolved(const char *path)
{
	char *real = realpath(path, NULL);
	return real ? real : strdup(path);
}

static int
ask_server(const char *socket_path, const struct message *m, const char *recipient,
	   const char *sender, const char *conf)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof addr.sun_path)
		return -1;
	strcpy(addr.sun_path, socket_path);

	char *head = strdup(WIRE_GREETING "\n");
	size_t hlen = head ? strlen(head) : 0;
	char size[32];
	snprintf(size, sizeof size, "%zu", m->len);
	bool ok = head && add_line(&head, &hlen, "size", size) &&
	    (!recipient || add_line(&head, &hlen, "recipient", recipient)) &&
	    (!sender || add_line(&head, &hlen, "sender", sender));
	/* what filter would use, which must be what the server uses */
	const char *db = getenv("CONFMAIL_DATABASE");
	char *conf_real = resolved(conf);
	char *db_real = db && *db ? resolved(db) : NULL;
	ok = ok && conf_real && add_line(&head, &hlen, "config", conf_real) &&
	    (!db_real || add_line(&head, &hlen, "database", db_real));
	free(conf_real);
	free(db_real);
	for (size_t i = 0; ok && i < sizeof passed_env / sizeof *passed_env; i++) {
		const char *v = getenv(passed_env[i]);
		if (!v)
			continue;
		char key[64];
		snprintf(key, sizeof key, "env %s", passed_env[i]);
		ok = add_line(&head, &hlen, key, v);
	}
	char *end = ok ? realloc(head, hlen + 2) : NULL;	/* the empty line */
	if (!end) {
		free(head);
		return -1;
	}
	head = end;
	head[hlen++] = '\n';
	head[hlen] = '\0';

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct ucred peer;
	socklen_t plen = sizeof peer;
	/* only a server of our own user gets the message (the socket's
	 * directory might be writable by others) */
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &plen) != 0 || peer.uid != geteuid() ||
	    !wire_write_all(fd, head, hlen) || !wire_write_all(fd, m->data, m->len)) {
		free(head);
		if (fd >= 0)
			close(fd);
		return -1;
	}
	free(head);

	char reply[8192];
	size_t got = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int ready = poll(&p, 1, ANSWER_TIMEOUT_MS);
		if (ready < 0 && errno == EINTR)
			continue;
		if (ready <= 0)
			break;
		ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		if (memchr(reply, '\n', got) || got == sizeof reply - 1)
			break;
	}
	close(fd);
	reply[got] = '\0';
	char *nl = strchr(reply, '\n');
	char *text;
	long code = nl ? strtol(reply, &text, 10) : -1;
	if (!nl || text == reply || *text != ' ' || code < 0 || code > 255)
		return -1;	/* no answer: the server went away */
	*nl = '\0';
	if (text[1])
		fprintf(stderr, "%s\n", text + 1);
	return (int)code;
}

/* The confmail program beside this one, else "confmail" from $PATH. */
static char *
confmail_path(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		size_t room = slash ? sizeof self - (size_t)(slash + 1 - self) : 0;
		if (slash && (size_t)snprintf(slash + 1, room, "confmail") < room &&
		    access(self, X_OK) == 0)
			return strdup(self);
	}
	return strdup("confmail");
}

/* Runs `confmail [-c CONF] filter ARGS` on M: never returns. */
static void
run_filter(const struct message *m, const char *conf, char **filter_args)
{
	int fd = memfd_create("message", 0);
	if (fd < 0 || !wire_write_all(fd, m->data, m->len) || lseek(fd, 0, SEEK_SET) != 0 ||
	    dup2(fd, STDIN_FILENO) < 0) {
		fprintf(stderr, "4.3.0 confmail-filter: cannot hand the message on: %s\n", strerror(errno));
		exit(EX_TEMPFAIL);
	}
	if (fd != STDIN_FILENO)
		close(fd);
	char *prog = confmail_path();
	size_t n = 0;
	while (filter_args[n])
		n++;
	char **argv = calloc(n + 5, sizeof *argv);
	if (!prog || !argv) {
		fprintf(stderr, "4.3.0 confmail-filter: out of memory\n");
		exit(EX_TEMPFAIL);
	}
	size_t k = 0;
	argv[k++] = prog;
	if (conf) {
		argv[k++] = "-c";
		argv[k++] = (char *)conf;
	}
	argv[k++] = "filter";
	for (size_t i = 0; i < n; i++)
		argv[k++] = filter_args[i];
	signal(SIGPIPE, SIG_DFL);	/* as the MTA started us */
	execvp(prog, argv);
	fprintf(stderr, "4.3.0 confmail-filter: cannot run %s: %s\n", prog, strerror(errno));
	exit(EX_TEMPFAIL);
}

int
main(int argc, char **argv)
{
	const char *socket_path = getenv("CONFMAIL_SOCKET"), *conf = NULL;
	const char *recipient = NULL, *sender = NULL;
	bool understood = true;
	/* what is passed on to `confmail filter` when it runs instead */
	char **filter_args = calloc((size_t)argc + 1, sizeof *filter_args);
	int nf = 0;

	if (!filter_args)
		return EX_TEMPFAIL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *next = i + 1 < argc ? argv[i + 1] : NULL;
		if ((!strcmp(a, "-S") || !strcmp(a, "--socket")) && next) {
			socket_path = argv[++i];
		} else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && next) {
			conf = argv[++i];
		} else if ((!strcmp(a, "-r") || !strcmp(a, "--recipient")) && next) {
			recipient = argv[++i];
			filter_args[nf++] = argv[i - 1];
			filter_args[nf++] = argv[i];
		} else if ((!strcmp(a, "-f") || !strcmp(a, "--sender")) && next) {
			sender = argv[++i];
			filter_args[nf++] = argv[i - 1];
			filter_args[nf++] = argv[i];
		} else {
			/* filter itself will say what is wrong with it */
			understood = false;
			filter_args[nf++] = argv[i];
		}
	}

	struct message m = { 0 };
	if (!read_stdin(&m)) {
		fprintf(stderr, "4.3.0 confmail-filter: reading the message: %s\n", strerror(errno));
		free(m.data);
		free(filter_args);
		return EX_TEMPFAIL;
	}
	/* the configuration filter would read: -c, else $CONFMAIL_CONF, else
	 * ./confmail.conf (main.c) */
	const char *conf_used = conf ? conf : getenv("CONFMAIL_CONF");
	if (!conf_used || !*conf_used)
		conf_used = "confmail.conf";
	signal(SIGPIPE, SIG_IGN);	/* a server that goes away is a write error */
	if (understood && socket_path && *socket_path) {
		int code = ask_server(socket_path, &m, recipient, sender, conf_used);
		if (code >= 0) {
			free(m.data);
			free(filter_args);
			return code;
		}
	}
	run_filter(&m, conf, filter_args);
}
