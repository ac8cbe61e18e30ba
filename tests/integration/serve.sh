# confmail serve and confmail-filter: the intake kept running.  What the
# pair records is what `confmail filter` records; the client exits as
# filter would, after the commit; with no server, or a server that dies,
# the client runs filter itself and nothing is lost or doubled.
source "$(dirname "$0")/lib.sh"

CLIENT=$(dirname "$CONFMAIL")/confmail-filter
# The client alone, with no confmail beside it or on $PATH: where it runs
# filter instead of asking the server, it fails (75), so the checks below
# that use it show the server's work, not filter's.
mkdir -p "$TMP/solo"
cp "$CLIENT" "$TMP/solo/"
SOLO=$TMP/solo/confmail-filter
solo() { PATH=/usr/bin:/bin "$SOLO" "$@"; }
export CONFMAIL_NOW=2022-01-20T10:00:00+03:00
trap 'kill -9 $(jobs -pr) 2>/dev/null; rm -rf "$TMP"' EXIT

# stop PID: SIGTERM, and its exit code within 60 s (else 124).
stop() {
	local i
	kill -TERM "$1"
	for i in $(seq 1 600); do
		kill -0 "$1" 2>/dev/null || { wait "$1"; return; }
		sleep 0.1
	done
	kill -9 "$1"
	return 124
}

# serve DB SOCKET [CONF]: a server in the background, ready when it returns.
serve() {
	local db=$1 sock=$2 conf=${3:-$CONFMAIL_CONF} i
	CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" init >/dev/null
	CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" serve --socket "$sock" 2>>"$TMP/serve.err" &
	server=$!
	for i in $(seq 1 200); do
		[ -S "$sock" ] && grep -q "serving $db on $sock" "$TMP/serve.err" && return 0
		sleep 0.05
	done
	notok "serve did not start on $sock: $(cat "$TMP/serve.err")"
}

sock=$TMP/db.sqlite.sock
serve "$CONFMAIL_DATABASE" "$sock"
main_server=$server

# --- the same records as filter ----------------------------------------
n=0 bad=0
for f in "$DATA"/*.eml; do
	solo -S "$sock" <"$f" || bad=$((bad + 1))
	n=$((n + 1))
done
equal "every sample through confmail-filter (no filter to fall back on) exits 0" "$bad" 0
equal "every sample stored" "$(sql 'SELECT count(*) FROM messages')" "$n"
ref=$TMP/ref.sqlite
CONFMAIL_DATABASE=$ref "$CONFMAIL" init >/dev/null
for f in "$DATA"/*.eml; do CONFMAIL_DATABASE=$ref "$CONFMAIL" filter <"$f"; done
view() {
	sqlite3 -batch "$1" "SELECT message_id, class, language, topic, noreply_reason, state,
		envelope_recipient FROM messages ORDER BY id;
		SELECT reference, email, status, pending, fields FROM registrations ORDER BY id;
		SELECT kind, template, recipient FROM outbox ORDER BY id;
		SELECT reference, status FROM tickets ORDER BY id;"
}
equal "messages, registrations, replies and tickets as filter records them" \
	"$(view "$CONFMAIL_DATABASE" | md5sum)" "$(view "$ref" | md5sum)"
check "... and not nothing" test "$(view "$ref" | wc -l)" -gt 20

# --- the envelope as the MTA gives it ----------------------------------
sed 's/^Message-ID: .*/Message-ID: <env-1@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/env.eml"
ORIGINAL_RECIPIENT=info@icssi.example SENDER= solo -S "$sock" <"$TMP/env.eml"
equal "\$ORIGINAL_RECIPIENT and an empty \$SENDER reach the server" \
	"$(sql "SELECT a.recipient_source || ' ' || a.envelope_recipient || ' [' || a.envelope_sender || ']'
		FROM arrivals a JOIN messages m ON m.id = a.message WHERE m.message_id = 'env-1@test.example'")" \
	"\$ORIGINAL_RECIPIENT info@icssi.example []"
sed 's/^Message-ID: .*/Message-ID: <env-2@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/env2.eml"
solo -S "$sock" -r Register@ICSSI.example -f Jane@X.example <"$TMP/env2.eml"
equal "-r and -f reach the server" \
	"$(sql "SELECT a.recipient_source || ' ' || a.envelope_recipient || ' ' || a.envelope_sender
		FROM arrivals a JOIN messages m ON m.id = a.message WHERE m.message_id = 'env-2@test.example'")" \
	"-r register@icssi.example jane@x.example"
solo -S "$sock" -r register@icssi.example <"$TMP/env2.eml"
equal "a redelivery is recorded once, as a second arrival" \
	"$(sql "SELECT count(*) || ' ' || max(deliveries) FROM messages WHERE message_id = 'env-2@test.example'")" "1 2"
expect_rc 78 "an -r that is not UTF-8: 78, as filter" solo -S "$sock" -r $'\xff@x' <"$TMP/env.eml"
check "... with filter's words" grep -q '^4.3.5 confmail: filter: -r or -f is not UTF-8$' "$TMP/err"

# --- the size limit is the server's -------------------------------------
small=$(conf_with limits max_message_size 3000)
serve "$TMP/small.sqlite" "$TMP/small.sock" "$small"
head -c 5000 /dev/zero | tr '\0' x | cat "$DATA/question-en.eml" - >"$TMP/big.eml"
expect_rc 65 "over the server's max_message_size: 65" \
	env CONFMAIL_DATABASE="$TMP/small.sqlite" PATH=/usr/bin:/bin "$SOLO" -c "$small" -S "$TMP/small.sock" <"$TMP/big.eml"
check "... with 5.3.4 and the limit" grep -q '^5.3.4 confmail: message refused: larger than the limit of 3000 bytes' "$TMP/err"
expect_rc 0 "... and a message within it: 0" \
	env CONFMAIL_DATABASE="$TMP/small.sqlite" PATH=/usr/bin:/bin "$SOLO" -c "$small" -S "$TMP/small.sock" <"$DATA/question-en.eml"

# --- a client configured for another database is not served -------------
sed 's/^Message-ID: .*/Message-ID: <other-db@test.example>/' "$DATA/question-en.eml" >"$TMP/other.eml"
expect_rc 0 "a client for another database than the server's: 0" "$CLIENT" -S "$TMP/small.sock" <"$TMP/other.eml"
equal "... recorded by its own filter, in its own database" \
	"$(sql "SELECT count(*) FROM messages WHERE message_id = 'other-db@test.example'")" 1
equal "... not in the server's" \
	"$(sqlite3 "$TMP/small.sqlite" "SELECT count(*) FROM messages WHERE message_id = 'other-db@test.example'")" 0
check "... and the server says why" grep -q 'not this server.s .*: it runs filter itself' "$TMP/serve.err"

# --- an edited rule is read before the next message ---------------------
rules=$TMP/rules
cp -r "$ROOT/filters" "$rules"
CONFMAIL_RULES=$rules serve "$TMP/rules.sqlite" "$TMP/rules.sock"
rsolo() { CONFMAIL_DATABASE=$TMP/rules.sqlite PATH=/usr/bin:/bin "$SOLO" -S "$TMP/rules.sock" "$@"; }
expect_rc 0 "with its own rules: 0" rsolo <"$DATA/reg-en-form.eml"
cp "$rules/classify.rules" "$TMP/classify.keep"
printf 'class registration 1\n  subject ~ (unclosed\n' >>"$rules/classify.rules"
sed 's/^Message-ID: .*/Message-ID: <rules-1@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/rules1.eml"
expect_rc 78 "a broken rule, added while it runs: 78, as filter" rsolo <"$TMP/rules1.eml"
check "... naming the file" grep -q 'classify.rules:[0-9]*: bad pattern' "$TMP/err"
cp "$TMP/classify.keep" "$rules/classify.rules"
expect_rc 0 "mended: 0 again" rsolo <"$TMP/rules1.eml"

# --- the database migrated by a newer confmail ---------------------------
v=$(sqlite3 "$TMP/rules.sqlite" 'PRAGMA user_version')
sqlite3 "$TMP/rules.sqlite" "PRAGMA user_version = $((v + 1))"
expect_rc 78 "the schema made newer while it runs: 78, as filter" rsolo <"$DATA/reg-en-form.eml"
check "... saying so" grep -q 'is newer than this confmail knows' "$TMP/err"
sqlite3 "$TMP/rules.sqlite" "PRAGMA user_version = $v"
expect_rc 0 "... and 0 when it is one it knows again" rsolo <"$DATA/reg-en-form.eml"

# --- the database file replaced under it ---------------------------------
sqlite3 "$TMP/rules.sqlite" ".backup '$TMP/rules.backup'"
mv "$TMP/rules.backup" "$TMP/rules.sqlite"
rm -f "$TMP/rules.sqlite-wal" "$TMP/rules.sqlite-shm"
sed 's/^Message-ID: .*/Message-ID: <replaced@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/replaced.eml"
expect_rc 0 "the database replaced by a copy while it runs: 0" rsolo <"$TMP/replaced.eml"
equal "... and the message is in the file now at that path" \
	"$(sqlite3 "$TMP/rules.sqlite" "SELECT count(*) FROM messages WHERE message_id = 'replaced@test.example'")" 1

# --- one server per socket; SIGTERM ends it ------------------------------
expect_rc 75 "a second server on the same socket is refused" \
	env CONFMAIL_DATABASE="$TMP/rules.sqlite" CONFMAIL_RULES="$rules" "$CONFMAIL" serve --socket "$TMP/rules.sock"
check "... saying why" grep -q 'another confmail serve answers on' "$TMP/err"
check "... leaving the first one's socket" test -S "$TMP/rules.sock"
expect_rc 0 "... which still answers" rsolo <"$DATA/reg-en-form.eml"
stop "$server"
equal "SIGTERM: the server exits 0" "$?" 0
check "... and removes its socket" test ! -e "$TMP/rules.sock"

# --- no server: the client runs filter itself ---------------------------
sed 's/^Message-ID: .*/Message-ID: <nosrv@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/nosrv.eml"
expect_rc 0 "no server on the socket: 0" "$CLIENT" -S "$TMP/rules.sock" <"$TMP/nosrv.eml"
equal "... stored by filter" "$(sql "SELECT count(*) FROM messages WHERE message_id = 'nosrv@test.example'")" 1
expect_rc 0 "no socket given: 0" "$CLIENT" <"$DATA/reg-en-form.eml"
expect_rc 78 "an option filter does not know: filter says so" "$CLIENT" -S "$sock" --bogus <"$DATA/reg-en-form.eml"

# --- 50 clients at once, and the server killed among them ---------------
# fifty TAG KILL_AT CMD...: 50 messages (Message-ID TAG-N) to CMD at once,
# their exit codes in $TMP/rc.N; the main server SIGKILLed right after
# client KILL_AT starts (0: never).
mkdir -p "$TMP/in"
fifty() {
	local tag=$1 kill_at=$2 i clients=()
	shift 2
	rm -f "$TMP"/rc.*
	for i in $(seq 1 50); do
		sed "s/^Message-ID: .*/Message-ID: <$tag-$i@test.example>/" "$DATA/reg-ar-base64.eml" >"$TMP/in/$tag-$i.eml"
	done
	for i in $(seq 1 50); do
		( "$@" <"$TMP/in/$tag-$i.eml" 2>/dev/null; echo $? >"$TMP/rc.$i" ) &
		clients+=($!)
		[ "$i" = "$kill_at" ] && kill -9 "$main_server"
	done
	wait "${clients[@]}"
}
fifty many 0 solo -S "$sock"
equal "50 clients at once: every one exits 0" "$(cat "$TMP"/rc.* | sort | uniq -c | tr -s ' ')" " 50 0"
equal "... every message stored once" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT message_id) FROM messages WHERE message_id LIKE 'many-%'")" "50 50"
stop "$main_server"
equal "the server that took them all ends with SIGTERM: 0" "$?" 0
serve "$CONFMAIL_DATABASE" "$sock"
main_server=$server

fifty kill 20 "$CLIENT" -S "$sock"
# the clients that found no server ran filter, 30 at once on one
# database: as for 50 filters (concurrency.sh), 75 is allowed, and the
# MTA's retry succeeds
others=0
for i in $(seq 1 50); do
	case $(cat "$TMP/rc.$i") in
	0) ;;
	75) "$CLIENT" -S "$sock" <"$TMP/in/kill-$i.eml" || others=$((others + 1)) ;;
	*) others=$((others + 1)) ;;
	esac
done
equal "the server SIGKILLed among 50 clients: each exits 0 (or 75, and its retry 0)" "$others" 0
equal "... every message stored exactly once" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT message_id) FROM messages WHERE message_id LIKE 'kill-%'")" "50 50"
equal "... and the database is whole" "$(sql 'PRAGMA integrity_check')" ok

# --- valgrind: the server's own loop ------------------------------------
if [ -n "${CONFMAIL_SANITIZED:-}" ] || ! command -v valgrind >/dev/null; then
	skip "valgrind of serve (an ASan build, or no valgrind)"
else
	vsock=$TMP/vg.sock
	CONFMAIL_DATABASE=$TMP/vg.sqlite "$CONFMAIL" init >/dev/null
	CONFMAIL_PCRE2_JIT=0 CONFMAIL_DATABASE=$TMP/vg.sqlite valgrind -q --error-exitcode=99 \
		--leak-check=full --errors-for-leak-kinds=definite \
		--suppressions=/usr/share/glib-2.0/valgrind/glib.supp \
		"$CONFMAIL" serve --socket "$vsock" 2>"$TMP/vg.err" &
	vg=$!
	for i in $(seq 1 600); do grep -q 'serving' "$TMP/vg.err" && break; sleep 0.1; done
	vbad=0
	for f in "$DATA"/*.eml; do
		CONFMAIL_DATABASE=$TMP/vg.sqlite solo -S "$vsock" <"$f" || vbad=$((vbad + 1))
	done
	equal "under valgrind: every sample exits 0" "$vbad" 0
	stop "$vg"
	equal "... and valgrind finds no error in serve" "$?" 0
	grep -v '^confmail: serving' "$TMP/vg.err" | head -20
fi

exit $((failures > 0))
