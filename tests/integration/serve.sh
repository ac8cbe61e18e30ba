# confmail serve and confmail-filter: the intake kept running.  What the
# pair records is what `confmail filter` records; the client exits as
# filter would, after the commit; with no server, or a server that dies,
# the client runs filter itself and nothing is lost or doubled.
source "$(dirname "$0")/lib.sh"

CLIENT=$(dirname "$CONFMAIL")/confmail-filter
export CONFMAIL_NOW=2022-01-20T10:00:00+03:00
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; rm -rf "$TMP"' EXIT

# serve DB SOCKET [CONF]: a server in the background, ready when it returns.
serve() {
	local db=$1 sock=$2 conf=${3:-$CONFMAIL_CONF} i
	CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" init >/dev/null
	CONFMAIL_DATABASE=$db "$CONFMAIL" -c "$conf" serve --socket "$sock" 2>>"$TMP/serve.err" &
	pids+=($!)
	server=$!
	for i in $(seq 1 200); do
		[ -S "$sock" ] && grep -q "serving $db on $sock" "$TMP/serve.err" && return 0
		sleep 0.05
	done
	notok "serve did not start on $sock: $(cat "$TMP/serve.err")"
}

sock=$TMP/db.sqlite.sock
serve "$CONFMAIL_DATABASE" "$sock"

# --- the same records as filter ----------------------------------------
n=0 bad=0
for f in "$DATA"/*.eml; do
	"$CLIENT" -S "$sock" <"$f" || bad=$((bad + 1))
	n=$((n + 1))
done
equal "every sample through confmail-filter exits 0" "$bad" 0
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
ORIGINAL_RECIPIENT=info@icssi.example SENDER= "$CLIENT" -S "$sock" <"$TMP/env.eml"
equal "\$ORIGINAL_RECIPIENT and an empty \$SENDER reach the server" \
	"$(sql "SELECT a.recipient_source || ' ' || a.envelope_recipient || ' [' || a.envelope_sender || ']'
		FROM arrivals a JOIN messages m ON m.id = a.message WHERE m.message_id = 'env-1@test.example'")" \
	"\$ORIGINAL_RECIPIENT info@icssi.example []"
sed 's/^Message-ID: .*/Message-ID: <env-2@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/env2.eml"
"$CLIENT" -S "$sock" -r Register@ICSSI.example -f Jane@X.example <"$TMP/env2.eml"
equal "-r and -f reach the server" \
	"$(sql "SELECT a.recipient_source || ' ' || a.envelope_recipient || ' ' || a.envelope_sender
		FROM arrivals a JOIN messages m ON m.id = a.message WHERE m.message_id = 'env-2@test.example'")" \
	"-r register@icssi.example jane@x.example"
"$CLIENT" -S "$sock" -r register@icssi.example <"$TMP/env2.eml"
equal "a redelivery is recorded once, as a second arrival" \
	"$(sql "SELECT count(*) || ' ' || max(deliveries) FROM messages WHERE message_id = 'env-2@test.example'")" "1 2"
expect_rc 78 "an -r that is not UTF-8: 78, as filter" "$CLIENT" -S "$sock" -r $'\xff@x' <"$TMP/env.eml"
check "... with filter's words" grep -q '^4.3.5 confmail: filter: -r or -f is not UTF-8$' "$TMP/err"

# --- the size limit is the server's -------------------------------------
small=$(conf_with limits max_message_size 3000)
serve "$TMP/small.sqlite" "$TMP/small.sock" "$small"
head -c 5000 /dev/zero | tr '\0' x | cat "$DATA/question-en.eml" - >"$TMP/big.eml"
expect_rc 65 "over the server's max_message_size: 65" "$CLIENT" -S "$TMP/small.sock" <"$TMP/big.eml"
check "... with 5.3.4 and the limit" grep -q '^5.3.4 confmail: message refused: larger than the limit of 3000 bytes' "$TMP/err"
expect_rc 0 "... and a message within it: 0" "$CLIENT" -S "$TMP/small.sock" <"$DATA/question-en.eml"

# --- an edited rule is read before the next message ---------------------
rules=$TMP/rules
cp -r "$ROOT/filters" "$rules"
CONFMAIL_RULES=$rules serve "$TMP/rules.sqlite" "$TMP/rules.sock"
expect_rc 0 "with its own rules: 0" "$CLIENT" -S "$TMP/rules.sock" <"$DATA/reg-en-form.eml"
cp "$rules/classify.rules" "$TMP/classify.keep"
printf 'class registration 1\n  subject ~ (unclosed\n' >>"$rules/classify.rules"
sed 's/^Message-ID: .*/Message-ID: <rules-1@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/rules1.eml"
expect_rc 78 "a broken rule, added while it runs: 78, as filter" "$CLIENT" -S "$TMP/rules.sock" <"$TMP/rules1.eml"
check "... naming the file" grep -q 'classify.rules:[0-9]*: bad pattern' "$TMP/err"
cp "$TMP/classify.keep" "$rules/classify.rules"
expect_rc 0 "mended: 0 again" "$CLIENT" -S "$TMP/rules.sock" <"$TMP/rules1.eml"

# --- one server per socket; SIGTERM ends it ------------------------------
expect_rc 75 "a second server on the same socket is refused" \
	env CONFMAIL_DATABASE="$TMP/rules.sqlite" CONFMAIL_RULES="$rules" "$CONFMAIL" serve --socket "$TMP/rules.sock"
check "... saying why" grep -q 'another confmail serve answers on' "$TMP/err"
kill -TERM "$server"
wait "$server"
equal "SIGTERM: the server exits 0" "$?" 0
check "... and removes its socket" test ! -e "$TMP/rules.sock"

# --- no server: the client runs filter itself ---------------------------
sed 's/^Message-ID: .*/Message-ID: <nosrv@test.example>/' "$DATA/reg-en-form.eml" >"$TMP/nosrv.eml"
expect_rc 0 "no server on the socket: 0" "$CLIENT" -S "$TMP/rules.sock" <"$TMP/nosrv.eml"
equal "... stored by filter" "$(sql "SELECT count(*) FROM messages WHERE message_id = 'nosrv@test.example'")" 1
expect_rc 0 "no socket given: 0" "$CLIENT" <"$DATA/reg-en-form.eml"
expect_rc 78 "an option filter does not know: filter says so" "$CLIENT" -S "$sock" --bogus <"$DATA/reg-en-form.eml"

# --- 50 clients at once, and the server killed among them ---------------
mkdir -p "$TMP/in"
for i in $(seq 1 50); do
	sed "s/^Message-ID: .*/Message-ID: <many-$i@test.example>/" "$DATA/reg-ar-base64.eml" >"$TMP/in/$i.eml"
done
rm -f "$TMP"/rc.*
clients=()
for i in $(seq 1 50); do
	( "$CLIENT" -S "$sock" <"$TMP/in/$i.eml" 2>/dev/null; echo $? >"$TMP/rc.$i" ) &
	clients+=($!)
done
wait "${clients[@]}"
equal "50 clients at once: every one exits 0" "$(cat "$TMP"/rc.* | sort | uniq -c | tr -s ' ')" " 50 0"
equal "... every message stored once" \
	"$(sql "SELECT count(*) || ' ' || count(DISTINCT message_id) FROM messages WHERE message_id LIKE 'many-%'")" "50 50"

for i in $(seq 1 50); do
	sed "s/^Message-ID: .*/Message-ID: <kill-$i@test.example>/" "$DATA/reg-ar-base64.eml" >"$TMP/in/k$i.eml"
done
rm -f "$TMP"/rc.*
main_server=${pids[0]}
clients=()
for i in $(seq 1 50); do
	( "$CLIENT" -S "$sock" <"$TMP/in/k$i.eml" 2>/dev/null; echo $? >"$TMP/rc.$i" ) &
	clients+=($!)
	[ "$i" = 20 ] && kill -9 "$main_server"
done
wait "${clients[@]}"
# the clients that found no server ran filter, 30 at once on one
# database: as for 50 filters (concurrency.sh), 75 is allowed, and the
# MTA's retry succeeds
others=0
for i in $(seq 1 50); do
	case $(cat "$TMP/rc.$i") in
	0) ;;
	75) "$CLIENT" -S "$sock" <"$TMP/in/k$i.eml" || others=$((others + 1)) ;;
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
	pids+=($vg)
	for i in $(seq 1 400); do [ -S "$vsock" ] && break; sleep 0.05; done
	sleep 0.5
	vbad=0
	for f in "$DATA"/*.eml; do "$CLIENT" -S "$vsock" <"$f" || vbad=$((vbad + 1)); done
	equal "under valgrind: every sample exits 0" "$vbad" 0
	kill -TERM "$vg"
	wait "$vg"
	equal "... and valgrind finds no error in serve" "$?" 0
	grep -v '^confmail: serving' "$TMP/vg.err" | head -20
fi

exit $((failures > 0))
