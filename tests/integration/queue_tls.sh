# The SMTP transport's TLS and AUTH (issue 5) against a real Postfix smtpd:
# a private Postfix instance started here listens on 127.0.0.1 three ways
# and relays what it accepts to Postfix's smtp-sink.
#   S1  STARTTLS offered, AUTH (Cyrus SASL, sasldb) only after it, relaying
#       only for authenticated clients; a certificate from a test CA made
#       here, for localhost and 127.0.0.1
#   S2  the same with a certificate from the same CA for relay.invalid only
#   S3  implicit TLS (wrapper mode), relaying for 127.0.0.0/8 without AUTH
# It proves that confmail verifies the certificate (against ca_file, or the
# system store when ca_file is unset) and the name in it, authenticates with
# the password file (refusing one others may read), sends its helo_name, and
# maps each failure to deferred (the relay's problem) or failed (5xx on a
# recipient), never sending a message it should not.
source "$(dirname "$0")/lib.sh"
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$(id -u)" != 0 ] || ! have postfix || ! have smtp-sink || ! id postfix >/dev/null 2>&1 ||
	! have openssl || ! have saslpasswd2 || ! have python3; then
	skip "needs root, Postfix (postfix, smtp-sink), openssl and saslpasswd2 (Debian package sasl2-bin)"
	finish
fi
# the PLAIN and LOGIN mechanisms are libsasl2-modules, only recommended by
# libsasl2-2 (sasldb itself is libsasl2-modules-db, a dependency)
if ! postconf -a 2>/dev/null | grep -qx cyrus || ! compgen -G '/usr/lib/*/sasl2/libplain.so*' >/dev/null; then
	skip "needs Postfix with Cyrus SASL and its PLAIN mechanism (Debian package libsasl2-modules)"
	finish
fi
export CONFMAIL_NOW=2022-01-25T09:00:00Z
read -r S1 S2 S3 SINKPORT < <(free_ports 4)
# Postfix's daemons run as postfix and must reach the files under $TMP.
chmod 755 "$TMP"
P=$TMP/pfx
SINKDIR=$(mktemp -d /tmp/confmail-sink.XXXXXX) && chmod 777 "$SINKDIR"
trap 'postfix -c "$P/etc" stop >/dev/null 2>&1; kill $sink 2>/dev/null; rm -rf "$TMP" "$SINKDIR"' EXIT
sink=

# --- A throwaway CA and two server certificates, made now, never kept ------
T=$TMP/tls
CA=$T/ca.pem
if ! { test_ca "$T" && test_cert "$T" localhost "DNS:localhost, IP:127.0.0.1" &&
	test_cert "$T" relay.invalid "DNS:relay.invalid"; }; then
	notok "openssl makes a test CA and server certificates"
	finish
fi

# --- SASL: one user in a sasldb that smtpd (user postfix) can read ---------
# Debian's Postfix reads smtpd.conf from $config_directory/sasl whatever
# cyrus_sasl_config_path says, so it goes there (and that parameter names it
# too, for a Postfix that does honour it).
REALM=mx.icssi.example	# smtpd_sasl_local_domain below: the realm users are looked up in
SASL=$P/etc/sasl
mkdir -p "$SASL"
echo 'sesame-tls-1' | saslpasswd2 -p -c -f "$SASL/sasldb2" -u "$REALM" alice
chown postfix "$SASL/sasldb2"
chmod 600 "$SASL/sasldb2"
cat >"$SASL/smtpd.conf" <<END
pwcheck_method: auxprop
auxprop_plugin: sasldb
mech_list: PLAIN LOGIN
sasldb_path: $SASL/sasldb2
END

# --- The private Postfix -------------------------------------------------
postfix_relay "$P" "$REALM" "$SINKPORT"
cat >>"$P/etc/main.cf" <<END
# no local delivery here: no aliases to look up
alias_maps =
alias_database =
mynetworks = 127.0.0.0/8
smtpd_tls_chain_files = $T/localhost.key, $T/localhost.pem
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = $SASL
smtpd_sasl_local_domain = $REALM
# a failed AUTH answers at once, not after the default 1 s per error
smtpd_error_sleep_time = 0
END
# S1 and S2 differ only in the certificate; chroot (5th column) is n so
# smtpd sees $TMP.
submission_opts="-o smtpd_tls_security_level=may -o smtpd_tls_auth_only=yes
  -o smtpd_sasl_auth_enable=yes -o smtpd_relay_restrictions=permit_sasl_authenticated,reject"
{
	postfix_services
	echo "tlsmgr    unix  -       -       n       1000?   1       tlsmgr"
	echo "smtp      unix  -       -       n       -       -       smtp"
	echo "relay     unix  -       -       n       -       -       smtp"
	echo "127.0.0.1:$S1 inet n  -       n       -       -       smtpd"
	echo "  $submission_opts"
	echo "127.0.0.1:$S2 inet n  -       n       -       -       smtpd"
	echo "  $submission_opts"
	echo "  -o smtpd_tls_chain_files=$T/relay.invalid.key,$T/relay.invalid.pem"
	echo "127.0.0.1:$S3 inet n  -       n       -       -       smtpd"
	echo "  -o smtpd_tls_wrappermode=yes -o smtpd_tls_security_level=encrypt"
	echo "  -o smtpd_relay_restrictions=permit_mynetworks,reject"
} >"$P/etc/master.cf"
smtp-sink -u nobody -d "$SINKDIR/" "127.0.0.1:$SINKPORT" 64 &
sink=$!
if ! postfix -c "$P/etc" start >"$TMP/out" 2>&1; then
	notok "a private Postfix starts ($(cat "$TMP/out"; tail -n 3 "$P/maillog" 2>/dev/null))"
	finish
fi
for port in $S1 $S2 $S3 $SINKPORT; do
	wait_port "$port"
done

# --- Precondition: the server side does what the cases below assume -------
# Checked with Python's smtplib, not confmail, so that a broken setup is
# reported as such rather than as confmail's fault.  Nothing is sent.
if ! python3 - "$S1" "$S2" "$S3" "$CA" >"$TMP/pre" 2>&1 <<'PY'; then
import smtplib, ssl, sys
s1, s2, s3, ca = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
with smtplib.SMTP("localhost", s1, timeout=10) as s:	# S1: AUTH only after STARTTLS
    s.ehlo(); assert not s.has_extn("auth"), "S1 offers AUTH before STARTTLS"
    s.starttls(context=ctx); s.ehlo(); assert s.has_extn("auth"), "S1 offers no AUTH"
    s.login("alice", "sesame-tls-1")
with smtplib.SMTP("localhost", s2, timeout=10) as s:	# S2: the CA is fine, the name is not
    s.ehlo()
    try:
        s.starttls(context=ctx); raise AssertionError("S2's relay.invalid certificate passed")
    except ssl.SSLCertVerificationError as e:
        assert "mismatch" in str(e), e
with smtplib.SMTP_SSL("localhost", s3, context=ctx, timeout=10) as s:	# S3: TLS at once
    s.ehlo()
PY
	notok "precondition: the Postfix listeners (STARTTLS + AUTH, wrong name, implicit TLS): $(tail -n 2 "$TMP/pre") $(tail -n 3 "$P/maillog")"
	finish
fi
ok "precondition: Postfix offers STARTTLS, then AUTH for alice; implicit TLS; a certificate for the wrong name (checked with smtplib)"

# --- confmail --------------------------------------------------------------
PW=$TMP/relay-password
echo 'sesame-tls-1' >"$PW"
chmod 600 "$PW"
# smtp_conf KEY=VALUE...: the sample configuration with the smtp transport
# and these keys, a later KEY replacing an earlier one and KEY= dropping it;
# base: case a's settings, to which the other cases add.
smtp_conf() {
	local conf kv k order=()
	local -A val=()
	for kv in "$@"; do
		k=${kv%%=*}
		[ -n "${val[$k]+x}" ] || order+=("$k")
		val[$k]=${kv#*=}
	done
	conf=$(conf_with transport kind smtp)
	for k in "${order[@]}"; do
		[ -z "${val[$k]}" ] || sed -i "/^kind = smtp\$/a $k = ${val[$k]}" "$conf"
	done
	echo "$conf"
}
base=(host=localhost "port=$S1" starttls=required "ca_file=$CA" user=alice "password_file=$PW" timeout=20)
"$CONFMAIL" -c "$(smtp_conf "${base[@]}")" init >/dev/null
# enqueue TAG: one message to TAG@example.org straight into the outbox (the
# transport is under test, not the replies); prints its id.
enqueue() {
	python3 - "$CONFMAIL_DATABASE" "$1" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
tag = sys.argv[2]
body = (f"From: register@icssi.example\nTo: {tag}@example.org\nSubject: tls {tag}\n"
        f"Message-ID: <{tag}@icssi.example>\n\nbody of {tag}\n.leading dot\n")
cur = db.execute("INSERT INTO outbox (created_at, kind, envelope_from, recipient, content, next_attempt_at)"
                 " VALUES ('2022-01-25T09:00:00Z', 'reply', 'register@icssi.example', ?, ?, '2022-01-25T09:00:00Z')",
                 (f"{tag}@example.org", body.encode()))
db.commit()
print(cur.lastrowid)
PY
}
# run CONF: one queue run; its exit status in $rc, its output in $TMP/run.out
run() {
	rc=0
	"$CONFMAIL" -c "$1" queue run --once >"$TMP/run.out" 2>&1 || rc=$?
}
row() { sql "SELECT state FROM outbox WHERE id = $1"; }
why() { sql "SELECT coalesce(last_error, '') FROM outbox WHERE id = $1"; }
# state DESCRIPTION ID WANT: the row is in state WANT; if not, say why
state() {
	local got
	got=$(row "$2")
	if [ "$got" = "$3" ]; then ok "$1"; else
		notok "$1 (got '$got', want '$3'; last_error: $(why "$2"); run: $(tail -n 2 "$TMP/run.out" | tr '\n' ' '))"
	fi
}
# dump TAG: the sink's dump of the message to TAG@example.org, waiting up
# to 30 s for Postfix to relay it; empty if it never came.
dump() {
	local f
	for _ in $(seq 150); do
		f=$(grep -l "^X-Rcpt-Args: <$1@example.org>" "$SINKDIR"/* 2>/dev/null | head -n 1)
		[ -n "$f" ] && { cat "$f"; return; }
		sleep 0.2
	done
}
# body_ok TAG: the dump has the envelope sender, subject and body confmail sent
body_ok() {
	grep -q '^X-Mail-Args: <register@icssi.example>' "$TMP/dump.$1" &&
		grep -q "^Subject: tls $1\$" "$TMP/dump.$1" &&
		grep -q "^body of $1\$" "$TMP/dump.$1" && grep -q '^\.leading dot$' "$TMP/dump.$1"
}

# a. STARTTLS required, the test CA as ca_file, AUTH PLAIN/LOGIN: sent.
id=$(enqueue a)
run "$(smtp_conf "${base[@]}")"
equal "a. starttls + ca_file + AUTH: the run sends it (exit 0)" "$rc" 0
state "a. ... marked sent" "$id" sent
dump a >"$TMP/dump.a"
check "a. ... relayed by Postfix to the sink, envelope sender and body intact" body_ok a
# Postfix's Received header says ESMTPSA: TLS (S) and authenticated (A)
check "a. ... over TLS and authenticated (Postfix's Received: ... with ESMTPSA)" \
	grep -q 'with ESMTPSA' "$TMP/dump.a"

# b. No ca_file: the system store does not know the test CA.
id=$(enqueue b)
run "$(smtp_conf "${base[@]}" ca_file=)"
equal "b. CA not trusted (system store): the run says mail waits (75)" "$rc" 75
state "b. ... deferred" "$id" deferred
check "b. ... the reason names the certificate" grep -qi certificate <<<"$(why "$id")"

# c. The CA is trusted but the certificate is for relay.invalid.
id=$(enqueue c)
run "$(smtp_conf "${base[@]}" "port=$S2")"
equal "c. certificate for another name: the run says mail waits (75)" "$rc" 75
state "c. ... deferred" "$id" deferred
check "c. ... the reason names the certificate" grep -qi certificate <<<"$(why "$id")"
check "c. ... and the name that does not match (not only an untrusted issuer)" grep -qiE 'name|match' <<<"$(why "$id")"

# d. TLS but no AUTH: Postfix refuses to relay (554 at RCPT), which is final.
id=$(enqueue d)
run "$(smtp_conf host=localhost "port=$S1" starttls=required "ca_file=$CA" timeout=20)"
state "d. no user: relaying refused, failed" "$id" failed
check "d. ... with the server's 5xx" grep -q '^5' <<<"$(why "$id")"

# e. The wrong password: AUTH fails; the relay's configuration, not the
# recipient, is wrong, so the message waits.
id=$(enqueue e)
echo 'not-the-password' >"$TMP/wrong-password"
chmod 600 "$TMP/wrong-password"
run "$(smtp_conf "${base[@]}" "password_file=$TMP/wrong-password")"
equal "e. wrong password: the run says mail waits (75)" "$rc" 75
state "e. ... deferred, not failed" "$id" deferred
check "e. ... the reason names AUTH or the 535" grep -qiE 'auth|535' <<<"$(why "$id")"

# f. A password file others may read is refused: a configuration error
# (exit 78) or a deferral, but never sent nor failed.
id=$(enqueue f)
cp "$PW" "$TMP/open-password"
chmod 644 "$TMP/open-password"
run "$(smtp_conf "${base[@]}" "password_file=$TMP/open-password")"
check "f. password file mode 0644: refused (exit 75 or 78, got $rc)" test "$rc" = 75 -o "$rc" = 78
check "f. ... the message neither sent nor failed (got $(row "$id"))" test "$(row "$id")" = queued -o "$(row "$id")" = deferred
check "f. ... the reason names the password file" \
	grep -qi 'password' <<<"$(why "$id"; cat "$TMP/run.out")"

# g. Implicit TLS on S3 (no STARTTLS, no AUTH needed from 127.0.0.1).
id=$(enqueue g)
run "$(smtp_conf host=localhost "port=$S3" implicit_tls=true "ca_file=$CA" timeout=20)"
equal "g. implicit TLS: the run sends it (exit 0)" "$rc" 0
state "g. ... marked sent" "$id" sent
dump g >"$TMP/dump.g"
check "g. ... relayed to the sink, envelope sender and body intact" body_ok g
check "g. ... over TLS (Postfix's Received: ... with ESMTPS)" grep -q 'with ESMTPS ' "$TMP/dump.g"

# h. helo_name: Postfix writes the EHLO name in its Received header.
id=$(enqueue h)
run "$(smtp_conf "${base[@]}" helo_name=confmail.test)"
state "h. helo_name: sent" "$id" sent
dump h >"$TMP/dump.h"
check "h. ... Postfix saw EHLO confmail.test (Received: from confmail.test)" \
	grep -q '^Received: from confmail\.test (' "$TMP/dump.h"

# Nothing that should not have gone out reached the sink; a, g and h were
# waited for above, so anything relayed by mistake would be there by now.
leaked=$(for t in b c d e f; do grep -l "^X-Rcpt-Args: <$t@example.org>" "$SINKDIR"/* 2>/dev/null | sed "s/.*/$t/"; done | sort -u | tr '\n' ' ')
equal "b-f: none of the refused messages reached the sink" "$leaked" ""
finish
