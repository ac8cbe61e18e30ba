/*
 * transport.c - handing a queued message to the world.  The maildir
 * transport writes it into a Maildir (tmp/, fsync, rename into new/), so
 * tests and `make demo` can read every reply; the smtp transport speaks to
 * a relay with libetpan, one session for many messages.
 */
#include "confmail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>

/*
 * libetpan and GnuTLS are opened when mail is to be sent over SMTP, not
 * linked: `confmail filter` runs once per delivered message and would
 * otherwise load them (with SASL, Berkeley DB, p11-kit...) for nothing,
 * about 10 ms of each delivery.  The table holds what this file calls;
 * below open_libraries() the libraries' own names call through it.
 */
static struct {
	mailsmtp *(*mailsmtp_new)(size_t, progress_function *);
	void (*mailsmtp_free)(mailsmtp *);
	void (*mailsmtp_set_timeout)(mailsmtp *, time_t);
	int (*mailsmtp_socket_connect)(mailsmtp *, const char *, uint16_t);
	int (*mailsmtp_ssl_connect_with_callback)(mailsmtp *, const char *, uint16_t,
						  void (*)(struct mailstream_ssl_context *, void *), void *);
	int (*mailsmtp_socket_starttls_with_callback)(mailsmtp *,
						      void (*)(struct mailstream_ssl_context *, void *),
						      void *);
	int (*mailsmtp_data_message)(mailsmtp *, const char *, size_t);
	const char *(*mailsmtp_strerror)(int);
	int (*mailesmtp_auth_sasl)(mailsmtp *, const char *, const char *, const char *, const char *,
				   const char *, const char *, const char *, const char *);
	char *(*mailstream_read_line_remove_eol)(mailstream *, MMAPString *);
	ssize_t (*mailstream_write)(mailstream *, const void *, size_t);
	int (*mailstream_flush)(mailstream *);
	int (*mailstream_close)(mailstream *);
	mailstream_low *(*mailstream_get_low)(mailstream *);
	void (*mailstream_low_set_timeout)(mailstream_low *, time_t);
	carray *(*mailstream_get_certificate_chain)(mailstream *);
	void (*mailstream_certificate_chain_free)(carray *);
	int (*mailstream_ssl_set_server_name)(struct mailstream_ssl_context *, char *);
	struct timeval *mailstream_network_delay;
	int (*gnutls_x509_crt_init)(gnutls_x509_crt_t *);
	int (*gnutls_x509_crt_import)(gnutls_x509_crt_t, const gnutls_datum_t *, gnutls_x509_crt_fmt_t);
	void (*gnutls_x509_crt_deinit)(gnutls_x509_crt_t);
	int (*gnutls_x509_trust_list_init)(gnutls_x509_trust_list_t *, unsigned);
	void (*gnutls_x509_trust_list_deinit)(gnutls_x509_trust_list_t, unsigned);
	int (*gnutls_x509_trust_list_add_trust_file)(gnutls_x509_trust_list_t, const char *, const char *,
						     gnutls_x509_crt_fmt_t, unsigned, unsigned);
	int (*gnutls_x509_trust_list_add_system_trust)(gnutls_x509_trust_list_t, unsigned, unsigned);
	int (*gnutls_x509_trust_list_verify_crt2)(gnutls_x509_trust_list_t, gnutls_x509_crt_t *, unsigned,
						  gnutls_typed_vdata_st *, unsigned, unsigned, unsigned *,
						  gnutls_verify_output_function);
	int (*gnutls_certificate_verification_status_print)(unsigned, gnutls_certificate_type_t,
							    gnutls_datum_t *, unsigned);
	gnutls_free_function *gnutls_free;
} lib;

/* Opens libetpan and GnuTLS once; false, and why, when one is missing. */
static bool
open_libraries(char **why)
{
	static GModule *etpan, *tls;
	if (etpan && tls)
		return true;
#define SYM(m, name) { m, #name, (gpointer *)&lib.name }
	struct {
		GModule **module;
		const char *name;
		gpointer *slot;
	} symbols[] = {
		SYM(&etpan, mailsmtp_new), SYM(&etpan, mailsmtp_free), SYM(&etpan, mailsmtp_set_timeout),
		SYM(&etpan, mailsmtp_socket_connect), SYM(&etpan, mailsmtp_ssl_connect_with_callback),
		SYM(&etpan, mailsmtp_socket_starttls_with_callback), SYM(&etpan, mailsmtp_data_message),
		SYM(&etpan, mailsmtp_strerror), SYM(&etpan, mailesmtp_auth_sasl),
		SYM(&etpan, mailstream_read_line_remove_eol), SYM(&etpan, mailstream_write),
		SYM(&etpan, mailstream_flush), SYM(&etpan, mailstream_close), SYM(&etpan, mailstream_get_low),
		SYM(&etpan, mailstream_low_set_timeout), SYM(&etpan, mailstream_get_certificate_chain),
		SYM(&etpan, mailstream_certificate_chain_free), SYM(&etpan, mailstream_ssl_set_server_name),
		SYM(&etpan, mailstream_network_delay),
		SYM(&tls, gnutls_x509_crt_init), SYM(&tls, gnutls_x509_crt_import),
		SYM(&tls, gnutls_x509_crt_deinit), SYM(&tls, gnutls_x509_trust_list_init),
		SYM(&tls, gnutls_x509_trust_list_deinit), SYM(&tls, gnutls_x509_trust_list_add_trust_file),
		SYM(&tls, gnutls_x509_trust_list_add_system_trust), SYM(&tls, gnutls_x509_trust_list_verify_crt2),
		SYM(&tls, gnutls_certificate_verification_status_print), SYM(&tls, gnutls_free),
	};
#undef SYM
	if (!etpan)
		etpan = g_module_open(LIBETPAN_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	if (!tls)
		tls = g_module_open(LIBGNUTLS_SONAME, G_MODULE_BIND_LAZY | G_MODULE_BIND_LOCAL);
	const char *missing = !etpan ? LIBETPAN_SONAME : !tls ? LIBGNUTLS_SONAME : NULL;
	for (size_t i = 0; !missing && i < G_N_ELEMENTS(symbols); i++)
		if (!g_module_symbol(*symbols[i].module, symbols[i].name, symbols[i].slot))
			missing = symbols[i].name;
	if (missing) {
		*why = g_strdup_printf("SMTP needs %s: %s", missing, g_module_error());
		g_clear_pointer(&etpan, g_module_close);
		g_clear_pointer(&tls, g_module_close);
		return false;
	}
	return true;
}

#define mailsmtp_new lib.mailsmtp_new
#define mailsmtp_free lib.mailsmtp_free
#define mailsmtp_set_timeout lib.mailsmtp_set_timeout
#define mailsmtp_socket_connect lib.mailsmtp_socket_connect
#define mailsmtp_ssl_connect_with_callback lib.mailsmtp_ssl_connect_with_callback
#define mailsmtp_socket_starttls_with_callback lib.mailsmtp_socket_starttls_with_callback
#define mailsmtp_data_message lib.mailsmtp_data_message
#define mailsmtp_strerror lib.mailsmtp_strerror
#define mailesmtp_auth_sasl lib.mailesmtp_auth_sasl
#define mailstream_read_line_remove_eol lib.mailstream_read_line_remove_eol
#define mailstream_write lib.mailstream_write
#define mailstream_flush lib.mailstream_flush
#define mailstream_close lib.mailstream_close
#define mailstream_get_low lib.mailstream_get_low
#define mailstream_low_set_timeout lib.mailstream_low_set_timeout
#define mailstream_get_certificate_chain lib.mailstream_get_certificate_chain
#define mailstream_certificate_chain_free lib.mailstream_certificate_chain_free
#define mailstream_ssl_set_server_name lib.mailstream_ssl_set_server_name
#define mailstream_network_delay (*lib.mailstream_network_delay)
#define gnutls_x509_crt_init lib.gnutls_x509_crt_init
#define gnutls_x509_crt_import lib.gnutls_x509_crt_import
#define gnutls_x509_crt_deinit lib.gnutls_x509_crt_deinit
#define gnutls_x509_trust_list_init lib.gnutls_x509_trust_list_init
#define gnutls_x509_trust_list_deinit lib.gnutls_x509_trust_list_deinit
#define gnutls_x509_trust_list_add_trust_file lib.gnutls_x509_trust_list_add_trust_file
#define gnutls_x509_trust_list_add_system_trust lib.gnutls_x509_trust_list_add_system_trust
#define gnutls_x509_trust_list_verify_crt2 lib.gnutls_x509_trust_list_verify_crt2
#define gnutls_certificate_verification_status_print lib.gnutls_certificate_verification_status_print
#define gnutls_free (*lib.gnutls_free)

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

/* Whether HOST is this machine, where a password and a message cannot be
 * overheard without TLS. */
static bool
loopback(const char *host)
{
	return strcmp(host, "127.0.0.1") == 0 || strcmp(host, "::1") == 0 ||
	    g_ascii_strcasecmp(host, "localhost") == 0;
}

/* The relay's certificate chain, verified against [transport] ca_file or
 * the system's CA store, for HOST (name or address).  Debian's libetpan
 * does not verify: a relay that cannot prove who it is never gets a
 * message or a password.  NULL when verified, else why not. */
static char *
verify_peer(mailstream *stream, const char *host, const char *ca_file)
{
	carray *chain = mailstream_get_certificate_chain(stream);
	if (!chain || carray_count(chain) == 0) {
		if (chain)
			mailstream_certificate_chain_free(chain);
		return g_strdup("the relay sent no certificate");
	}
	unsigned n = carray_count(chain) < 16 ? carray_count(chain) : 16, imported = 0;
	gnutls_x509_crt_t crts[16];
	for (; imported < n; imported++) {
		MMAPString *der = carray_get(chain, imported);
		gnutls_datum_t d = { (unsigned char *)der->str, (unsigned)der->len };
		if (gnutls_x509_crt_init(&crts[imported]) < 0)
			break;
		if (gnutls_x509_crt_import(crts[imported], &d, GNUTLS_X509_FMT_DER) < 0) {
			gnutls_x509_crt_deinit(crts[imported]);
			break;
		}
	}
	mailstream_certificate_chain_free(chain);
	char *why = NULL;
	gnutls_x509_trust_list_t trust = NULL;
	int r = imported == n ? gnutls_x509_trust_list_init(&trust, 0) : -1;
	if (r < 0)
		why = g_strdup("the relay's certificate could not be read");
	else if (ca_file)
		r = gnutls_x509_trust_list_add_trust_file(trust, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
	else
		r = gnutls_x509_trust_list_add_system_trust(trust, 0, 0);
	if (!why && r <= 0)
		why = g_strdup_printf("no trusted certificates in %s", ca_file ? ca_file : "the system CA store");
	unsigned status = 0;
	gnutls_typed_vdata_st data[] = {
		{ GNUTLS_DT_DNS_HOSTNAME, (unsigned char *)host, 0 },
		{ GNUTLS_DT_KEY_PURPOSE_OID, (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, 0 },
	};
	if (!why && gnutls_x509_trust_list_verify_crt2(trust, crts, n, data, 2, 0, &status, NULL) < 0)
		why = g_strdup("the relay's certificate could not be verified");
	if (!why && status) {
		gnutls_datum_t out = { NULL, 0 };
		gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0);
		why = g_strdup_printf("the relay's certificate for %s is not trusted (%s)", host,
				      out.data ? (char *)out.data : "?");
		gnutls_free(out.data);
	}
	if (trust)
		gnutls_x509_trust_list_deinit(trust, 1);
	for (unsigned i = 0; i < imported; i++)
		gnutls_x509_crt_deinit(crts[i]);
	return why;
}

/* Names the relay in the TLS handshake (SNI), unless it is an address. */
static void
set_server_name(struct mailstream_ssl_context *ctx, void *host)
{
	if (!g_hostname_is_ip_address(host))
		mailstream_ssl_set_server_name(ctx, host);
}

/* The password: the first line of [transport] password_file, which only
 * its owner may read. */
static char *
read_password(const char *path, char **why)
{
	struct stat st;
	g_autofree char *text = NULL;
	g_autoptr(GError) error = NULL;
	if (stat(path, &st) != 0) {
		*why = g_strdup_printf("[transport] password_file %s: %s", path, g_strerror(errno));
		return NULL;
	}
	if (st.st_mode & 0077) {
		*why = g_strdup_printf("[transport] password_file %s: readable by others (mode %03o);"
				       " chmod 600 it", path, (unsigned)(st.st_mode & 0777));
		return NULL;
	}
	if (!g_file_get_contents(path, &text, NULL, &error)) {
		*why = g_strdup_printf("[transport] password_file: %s", error->message);
		return NULL;
	}
	text[strcspn(text, "\r\n")] = '\0';
	return g_steal_pointer(&text);
}

static bool
authenticate(struct smtp *t, const struct config *cfg, bool tls, char **why)
{
	if (!cfg->transport_password_file) {
		*why = g_strdup("[transport] user is set but password_file is not");
		return false;
	}
	if (!tls && !loopback(t->host)) {
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
	g_autofree char *password = read_password(cfg->transport_password_file, why);
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
	if (!open_libraries(why))
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
	int r = implicit ? mailsmtp_ssl_connect_with_callback(t->session, host, port, set_server_name,
							     (void *)host)
	    : mailsmtp_socket_connect(t->session, host, port);
	if (r != MAILSMTP_NO_ERROR) {
		*why = g_strdup_printf("connecting to %s:%d%s: %s", host, port, implicit ? " (TLS)" : "",
				       mailsmtp_strerror(r));
		goto fail;
	}
	if (implicit && (*why = verify_peer(t->session->stream, host, cfg->transport_ca_file)))
		goto fail;
	int code = greet(t, name);
	if (code != 250) {
		g_autofree char *said = reply_text(t, code);
		*why = g_strdup_printf("%s: EHLO: %s", host, said);
		goto fail;
	}
	bool tls = implicit;
	if (!implicit && strcmp(policy, "off") != 0 && t->starttls) {
		r = mailsmtp_socket_starttls_with_callback(t->session, set_server_name, (void *)host);
		if (r != MAILSMTP_NO_ERROR) {
			*why = g_strdup_printf("%s: STARTTLS: %d %s", host, t->session->response_code,
					       mailsmtp_strerror(r));
			goto fail;
		}
		/* "opportunistic" protects against someone listening, not
		 * against someone in the middle; "required" against both */
		if (strcmp(policy, "required") == 0 &&
		    (*why = verify_peer(t->session->stream, host, cfg->transport_ca_file)))
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
