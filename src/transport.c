/*
 * transport.c - handing a queued message to the world.  The maildir
 * transport writes it into a Maildir (tmp/, fsync, rename into new/), so
 * tests and `make demo` can read every reply; the smtp transport speaks to
 * a relay with libetpan, one session for many messages.
 */
#include "confmail.h"
#include "etpan.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static gboolean
make_dirs(const char *maildir, GError **error)
{
	static const char *const subs[] = { "tmp", "new", "cur" };
	for (size_t i = 0; i < G_N_ELEMENTS(subs); i++) {
		g_autofree char *d = g_build_filename(maildir, subs[i], NULL);
		if (g_mkdir_with_parents(d, 0700) != 0) {
			g_set_error(error, CONFMAIL_ERROR, EX_CANTCREAT, "%s: %s", d, g_strerror(errno));
			return FALSE;
		}
	}
	return TRUE;
}

static gboolean
sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return FALSE;
	int rc = fsync(fd);
	close(fd);
	return rc == 0;
}

gboolean
transport_maildir(const char *maildir, gint64 id, const void *data, gsize len, char **delivered,
		  GError **error)
{
	static unsigned seq;
	char host[256] = "localhost";

	if (!make_dirs(maildir, error))
		return FALSE;
	gethostname(host, sizeof host - 1);
	for (char *p = host; *p; p++)
		if (*p == '/' || *p == ':')
			*p = '_';
	g_autoptr(GDateTime) now = g_date_time_new_now_utc();
	g_autofree char *name = g_strdup_printf("%" G_GINT64_FORMAT ".M%dP%dQ%uO%" G_GINT64_FORMAT ".%s",
						g_date_time_to_unix(now), g_date_time_get_microsecond(now),
						(int)getpid(), ++seq, id, host);
	g_autofree char *tmp = g_build_filename(maildir, "tmp", name, NULL);
	g_autofree char *new = g_build_filename(maildir, "new", name, NULL);
	g_autofree char *newdir = g_build_filename(maildir, "new", NULL);

	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "%s: %s", tmp, g_strerror(errno));
		return FALSE;
	}
	const char *p = data;
	gsize left = len;
	while (left > 0) {
		ssize_t n = write(fd, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (gsize)n;
	}
	bool ok = left == 0 && fsync(fd) == 0;
	int saved = errno;
	close(fd);
	if (!ok || rename(tmp, new) != 0 || !sync_dir(newdir)) {
		saved = ok ? errno : saved;
		unlink(tmp);
		g_set_error(error, CONFMAIL_ERROR, EX_TEMPFAIL, "delivering into %s: %s", maildir,
			    g_strerror(saved));
		return FALSE;
	}
	*delivered = g_steal_pointer(&new);
	return TRUE;
}

/* SMTP ------------------------------------------------------------------- */

/*
 * libetpan connects, wraps the socket in TLS, dot-stuffs the message and
 * speaks SASL.  The commands around a message are written here, on its
 * stream, because libetpan waits for each reply in turn: with PIPELINING
 * offered, MAIL, every RCPT and DATA go out in one write and their
 * replies are read back in order (RFC 2920).  The reply code decides each
 * outcome (libetpan's error enum gives 450 and 550 the same value).
 */
struct smtp {
	mailsmtp *session;
	char *host;
	bool pipelining, eightbit, starttls;
	char *auth;		/* the mechanisms the relay offers, or NULL */
	GString *reply;		/* the text of the last reply */
	int timeout;
};

/* Reads one reply, all its lines; its code, or 0 when the connection is
 * gone (then the session is closed: the next message opens another). */
static int
read_reply(struct smtp *t)
{
	mailsmtp *s = t->session;
	g_string_truncate(t->reply, 0);
	while (s->stream) {
		char *line = mailstream_read_line_remove_eol(s->stream, s->line_buffer);
		if (!line || strlen(line) < 3 || !g_ascii_isdigit(line[0]) || !g_ascii_isdigit(line[1]) ||
		    !g_ascii_isdigit(line[2]) || (line[3] && line[3] != ' ' && line[3] != '-'))
			break;
		if (t->reply->len)
			g_string_append_c(t->reply, '\n');
		g_string_append(t->reply, line[3] ? line + 4 : "");
		if (line[3] != '-')
			return (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	}
	if (s->stream) {
		mailstream_close(s->stream);
		s->stream = NULL;
	}
	g_string_assign(t->reply, "connection lost");
	return 0;
}

static bool
write_line(struct smtp *t, const char *line)
{
	mailsmtp *s = t->session;
	return s->stream && mailstream_write(s->stream, line, strlen(line)) >= 0 &&
	    mailstream_write(s->stream, "\r\n", 2) >= 0;
}

static bool
flush(struct smtp *t)
{
	return t->session->stream && mailstream_flush(t->session->stream) == 0;
}

/* One command, one reply. */
static int
smtp_command(struct smtp *t, const char *line)
{
	return write_line(t, line) && flush(t) ? read_reply(t) : read_reply(t);
}

static char *
reply_text(struct smtp *t, int code)
{
	char *oneline = g_strdelimit(g_strdup(t->reply->str), "\r\n", ' ');
	char *text = code ? g_strdup_printf("%d %s", code, oneline)
	    : g_strdup_printf("%s: connection lost", t->host);
	g_free(oneline);
	return text;
}

static enum delivery
outcome_of(int code)
{
	if (code >= 200 && code < 400)
		return DELIVERY_SENT;
	return code >= 500 && code < 600 ? DELIVERY_FAILED : DELIVERY_DEFERRED;
}

/* EHLO (HELO if refused) with NAME; what the relay offers.  libetpan's own
 * EHLO cannot be given a name, and the flags it would set are set here. */
static int
greet(struct smtp *t, const char *name)
{
	g_autofree char *ehlo = g_strdup_printf("EHLO %s", name);
	int code = smtp_command(t, ehlo);
	t->pipelining = t->eightbit = t->starttls = false;
	g_clear_pointer(&t->auth, g_free);
	t->session->esmtp = 0;
	if (code >= 500) {
		g_autofree char *helo = g_strdup_printf("HELO %s", name);
		return smtp_command(t, helo);
	}
	if (code != 250)
		return code;
	t->session->esmtp = MAILSMTP_ESMTP;
	g_auto(GStrv) lines = g_strsplit(t->reply->str, "\n", -1);
	for (int i = 1; lines[i]; i++) {
		const char *l = lines[i];
		if (g_ascii_strcasecmp(l, "PIPELINING") == 0) {
			t->pipelining = true;
			t->session->esmtp |= MAILSMTP_ESMTP_PIPELINING;
		} else if (g_ascii_strcasecmp(l, "8BITMIME") == 0) {
			t->eightbit = true;
			t->session->esmtp |= MAILSMTP_ESMTP_8BITMIME;
		} else if (g_ascii_strcasecmp(l, "STARTTLS") == 0) {
			t->starttls = true;
			t->session->esmtp |= MAILSMTP_ESMTP_STARTTLS;
		} else if (g_ascii_strncasecmp(l, "AUTH", 4) == 0 && (l[4] == ' ' || l[4] == '=')) {
			g_free(t->auth);
			t->auth = g_ascii_strup(l + 5, -1);
		}
	}
	return code;
}

static bool
authenticate(struct smtp *t, const struct config *cfg, bool tls, char **why)
{
	if (!cfg->transport_password_file) {
		*why = g_strdup("[transport] user is set but password_file is not");
		return false;
	}
	if (!tls && !etpan_loopback(t->host)) {
		*why = g_strdup_printf("%s: no TLS, and a password is never sent in the clear", t->host);
		return false;
	}
	g_auto(GStrv) offered = g_strsplit(t->auth ? t->auth : "", " ", -1);
	const char *mech = NULL;
	/* PLAIN and LOGIN are what relays offer over TLS; both need TLS */
	if (g_strv_contains((const char *const *)offered, "PLAIN"))
		mech = "PLAIN";
	else if (g_strv_contains((const char *const *)offered, "LOGIN"))
		mech = "LOGIN";
	if (!mech) {
		*why = g_strdup_printf("%s offers no AUTH PLAIN or LOGIN (offers: %s)", t->host,
				       t->auth ? t->auth : "none");
		return false;
	}
	g_autofree char *password = etpan_read_password("transport", cfg->transport_password_file, why);
	if (!password)
		return false;
	int r = mailesmtp_auth_sasl(t->session, mech, t->host, NULL, NULL, cfg->transport_user,
				    cfg->transport_user, password, NULL);
	memset(password, 0, strlen(password));
	if (r != MAILSMTP_NO_ERROR) {
		*why = g_strdup_printf("%s: AUTH %s as %s: %d %s", t->host, mech, cfg->transport_user,
				       t->session->response_code,
				       t->session->response ? t->session->response : mailsmtp_strerror(r));
		return false;
	}
	return true;
}

void
transport_smtp_close(struct smtp *t)
{
	if (!t)
		return;
	if (t->session) {
		if (t->session->stream) {
			smtp_command(t, "QUIT");
			if (t->session->stream)
				mailstream_close(t->session->stream);
			t->session->stream = NULL;
		}
		mailsmtp_free(t->session);
	}
	if (t->reply)
		g_string_free(t->reply, TRUE);
	g_free(t->auth);
	g_free(t->host);
	g_free(t);
}

struct smtp *
transport_smtp_open(const struct config *cfg, char **why)
{
	if (!etpan_open("SMTP", why))
		return NULL;
	struct smtp *t = g_new0(struct smtp, 1);
	const char *host = cfg->transport_host;
	uint16_t port = (uint16_t)cfg->transport_port;
	bool implicit = strcmp(cfg->transport_implicit_tls, "true") == 0;
	const char *policy = cfg->transport_starttls;
	const char *name = cfg->transport_helo_name ? cfg->transport_helo_name : g_get_host_name();

	t->session = mailsmtp_new(0, NULL);
	t->host = g_strdup(host);
	t->reply = g_string_new(NULL);
	t->timeout = cfg->transport_timeout;
	/* libetpan waits on reads for its global delay, not the session's
	 * timeout, which covers only the connect */
	mailsmtp_set_timeout(t->session, cfg->transport_timeout);
	mailstream_network_delay.tv_sec = cfg->transport_timeout;
	mailstream_network_delay.tv_usec = 0;
	int r = implicit ? mailsmtp_ssl_connect_with_callback(t->session, host, port, etpan_server_name,
							     (void *)host)
	    : mailsmtp_socket_connect(t->session, host, port);
	if (r != MAILSMTP_NO_ERROR) {
		*why = g_strdup_printf("connecting to %s:%d%s: %s", host, port, implicit ? " (TLS)" : "",
				       mailsmtp_strerror(r));
		goto fail;
	}
	if (implicit && (*why = etpan_verify_peer(t->session->stream, host, cfg->transport_ca_file)))
		goto fail;
	int code = greet(t, name);
	if (code != 250) {
		g_autofree char *said = reply_text(t, code);
		*why = g_strdup_printf("%s: EHLO: %s", host, said);
		goto fail;
	}
	bool tls = implicit;
	if (!implicit && strcmp(policy, "off") != 0 && t->starttls) {
		r = mailsmtp_socket_starttls_with_callback(t->session, etpan_server_name, (void *)host);
		if (r != MAILSMTP_NO_ERROR) {
			*why = g_strdup_printf("%s: STARTTLS: %d %s", host, t->session->response_code,
					       mailsmtp_strerror(r));
			goto fail;
		}
		/* "opportunistic" protects against someone listening, not
		 * against someone in the middle; "required" against both */
		if (strcmp(policy, "required") == 0 &&
		    (*why = etpan_verify_peer(t->session->stream, host, cfg->transport_ca_file)))
			goto fail;
		tls = true;
		if ((code = greet(t, name)) != 250) {
			g_autofree char *said = reply_text(t, code);
			*why = g_strdup_printf("%s: EHLO after STARTTLS: %s", host, said);
			goto fail;
		}
	} else if (!implicit && strcmp(policy, "required") == 0) {
		*why = g_strdup_printf("%s does not offer STARTTLS, and [transport] starttls = required", host);
		goto fail;
	}
	if (t->session->stream)
		mailstream_low_set_timeout(mailstream_get_low(t->session->stream), cfg->transport_timeout);
	if (cfg->transport_user && !authenticate(t, cfg, tls, why))
		goto fail;
	return t;
fail:
	transport_smtp_close(t);
	return NULL;
}

static bool
has_8bit(const guint8 *data, gsize len)
{
	for (gsize i = 0; i < len; i++)
		if (data[i] & 0x80)
			return true;
	return false;
}

static bool
positive(int code)
{
	return code >= 200 && code < 300;
}

void
transport_smtp_send(struct smtp *t, const char *from, char *const *to, guint n, const void *data,
		    gsize len, enum delivery *outcome, char **why)
{
	g_autofree char *mail_from = g_strdup_printf("MAIL FROM:<%s>%s", from,
						t->eightbit && has_8bit(data, len) ? " BODY=8BITMIME" : "");
	/* the replies, in order: MAIL, each RCPT, DATA (0: none) */
	g_autofree int *code = g_new0(int, n + 2);
	char **said = g_new0(char *, n + 3);
	bool pipe = t->pipelining, accepted = false, reset = false;

	/* Without PIPELINING each command waits for its reply.  With it, all
	 * go at once and a refused MAIL or RCPT is answered by refusing the
	 * rest (RFC 2920 3.1), so the replies still say what happened. */
	write_line(t, mail_from);
	if (!pipe && flush(t)) {
		code[0] = read_reply(t);
		said[0] = reply_text(t, code[0]);
	}
	for (guint i = 0; i < n && (pipe || positive(code[0])); i++) {
		g_autofree char *rcpt = g_strdup_printf("RCPT TO:<%s>", to[i]);
		write_line(t, rcpt);
		if (!pipe && flush(t)) {
			code[i + 1] = read_reply(t);
			said[i + 1] = reply_text(t, code[i + 1]);
			accepted |= positive(code[i + 1]);
		}
	}
	if (pipe || accepted)
		write_line(t, "DATA");
	if (flush(t) && pipe) {
		for (guint k = 0; k < n + 1; k++) {
			code[k] = read_reply(t);
			said[k] = reply_text(t, code[k]);
			accepted |= k > 0 && positive(code[k]);
		}
	}
	if (pipe || accepted) {
		code[n + 1] = read_reply(t);
		said[n + 1] = reply_text(t, code[n + 1]);
	}
	if (code[n + 1] == 354) {
		/* dot-stuffing and CRLF line ends are libetpan's.  With no
		 * recipient accepted, an empty message ends the DATA the
		 * relay should not have opened. */
		int r = mailsmtp_data_message(t->session, accepted ? data : "", accepted ? len : 0);
		code[n + 1] = r == MAILSMTP_ERROR_STREAM ? 0 : t->session->response_code;
		if (!code[n + 1] && t->session->stream) {
			mailstream_close(t->session->stream);
			t->session->stream = NULL;
		}
		g_free(said[n + 1]);
		g_string_assign(t->reply, t->session->response ? t->session->response : "");
		said[n + 1] = reply_text(t, code[n + 1]);
	}
	for (guint i = 0; i < n; i++) {
		/* a refused MAIL decides for everyone; else a refused RCPT for
		 * its recipient; else the end of DATA */
		guint k = !positive(code[0]) ? 0 : !positive(code[i + 1]) ? i + 1 : n + 1;
		outcome[i] = outcome_of(code[k]);
		why[i] = outcome[i] == DELIVERY_SENT ? NULL
		    : said[k] ? g_strdup_printf("%s%s%s", said[k], k == i + 1 ? " to " : "",
						k == i + 1 ? to[i] : "")
		    : g_strdup_printf("%s: connection lost", t->host);
		reset |= outcome[i] != DELIVERY_SENT;
	}
	if (reset && t->session->stream)
		smtp_command(t, "RSET");	/* the session stays usable for the next */
	for (guint k = 0; k < n + 2; k++)
		g_free(said[k]);
	g_free(said);
}

bool
transport_smtp_alive(const struct smtp *t)
{
	return t && t->session && t->session->stream;
}

/* sendmail ------------------------------------------------------------------ */

/* The sendmail(8) exit codes that mean "this will never work": the rest
 * (75 above all, or a signal) are worth another try. */
static bool
permanent_exit(int status)
{
	return status == EX_USAGE || status == EX_DATAERR || status == EX_NOUSER ||
	    status == EX_NOHOST || status == EX_NOPERM;
}

enum delivery
transport_sendmail(const struct config *cfg, const char *from, char *const *to, guint n,
		   const void *data, gsize len, char **why)
{
	g_auto(GStrv) command = NULL;
	g_autoptr(GError) error = NULL;

	if (!g_shell_parse_argv(cfg->transport_sendmail, NULL, &command, &error)) {
		*why = g_strdup_printf("[transport] sendmail: %s", error->message);
		return DELIVERY_DEFERRED;
	}
	/* -oi: a line with a lone dot is not the end; -f: the envelope
	 * sender; --: no recipient is ever read as an option */
	g_autoptr(GPtrArray) argv = g_ptr_array_new();
	for (int i = 0; command[i]; i++)
		g_ptr_array_add(argv, command[i]);
	g_ptr_array_add(argv, (gpointer) "-oi");
	g_ptr_array_add(argv, (gpointer) "-f");
	g_ptr_array_add(argv, (gpointer)(*from ? from : "<>"));
	g_ptr_array_add(argv, (gpointer) "--");
	for (guint i = 0; i < n; i++)
		g_ptr_array_add(argv, (gpointer)to[i]);
	g_ptr_array_add(argv, NULL);
	g_autoptr(GSubprocess) p = g_subprocess_newv((const char *const *)argv->pdata,
						     G_SUBPROCESS_FLAGS_STDIN_PIPE |
						     G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
						     G_SUBPROCESS_FLAGS_STDERR_PIPE, &error);
	if (!p) {
		*why = g_strdup_printf("%s: %s", command[0], error->message);
		return DELIVERY_DEFERRED;
	}
	g_autoptr(GBytes) in = g_bytes_new_static(data, len);
	g_autoptr(GBytes) err = NULL;
	if (!g_subprocess_communicate(p, in, NULL, NULL, &err, &error)) {
		*why = g_strdup_printf("%s: %s", command[0], error->message);
		g_subprocess_force_exit(p);
		g_subprocess_wait(p, NULL, NULL);
		return DELIVERY_DEFERRED;
	}
	if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0)
		return DELIVERY_SENT;
	gsize err_len = 0;
	const char *text = err ? g_bytes_get_data(err, &err_len) : NULL;
	g_autofree char *said = g_strstrip(g_strndup(text ? text : "", err_len));
	int status = g_subprocess_get_if_exited(p) ? g_subprocess_get_exit_status(p) : -1;
	*why = status >= 0 ? g_strdup_printf("%s exited %d: %s", command[0], status, said)
	    : g_strdup_printf("%s was killed: %s", command[0], said);
	return status >= 0 && permanent_exit(status) ? DELIVERY_FAILED : DELIVERY_DEFERRED;
}
