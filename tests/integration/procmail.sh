# Real procmail, as the MDA, delivers every tests/data message through
# contrib/procmailrc into confmail filter, and hands confmail's failures
# back to the MTA as its own exit code.
source "$(dirname "$0")/lib.sh"
if ! command -v procmail >/dev/null; then
	notok "procmail is not installed (contrib/install-deps installs it)"
	finish
fi
"$CONFMAIL" init >/dev/null

# procmail run by root keeps little of its environment: the rcfile takes
# its settings as assignments on the command line.
deliver() {
	local conf=$1
	shift
	procmail -m CONFMAIL="$CONFMAIL" CONFMAIL_CONF="$conf" \
		CONFMAIL_DATABASE="$CONFMAIL_DATABASE" "$ROOT/contrib/procmailrc" "$@"
}

n=0 fails=0
for f in "$DATA"/*.eml; do
	deliver "$CONFMAIL_CONF" register@icssi.example <"$f" || fails=$((fails + 1))
	n=$((n + 1))
done
equal "procmail delivered every sample (exit 0)" "$fails" 0
equal "every sample stored through procmail" "$(sql 'SELECT count(*) FROM messages')" "$n"
equal "procmail's argument is the envelope recipient" \
	"$(sql "SELECT count(*) FROM arrivals WHERE envelope_recipient = 'register@icssi.example' AND recipient_source = '-r'")" "$n"

sed 's/^Message-ID: .*/Message-ID: <pm-noarg@test.example>/' "$DATA/question-en.eml" >"$TMP/noarg.eml"
expect_rc 0 "without a recipient argument procmail still delivers" deliver "$CONFMAIL_CONF" <"$TMP/noarg.eml"
equal "and confmail falls back to Delivered-To" \
	"$(sql "SELECT envelope_recipient FROM messages WHERE message_id = 'pm-noarg@test.example'")" info@icssi.example

for f in "$DATA"/*.eml; do deliver "$CONFMAIL_CONF" register@icssi.example <"$f"; done
equal "redelivery through procmail stores nothing twice" "$(sql 'SELECT count(*) FROM messages')" "$((n + 1))"

# A locked database: confmail exits 75 and procmail passes 75 on, so the
# MTA keeps the message and retries.
short=$(conf_with store busy_timeout_ms 100)
sed 's/^Message-ID: .*/Message-ID: <pm-locked@test.example>/' "$DATA/question-en.eml" >"$TMP/locked.eml"
( echo 'BEGIN IMMEDIATE;'; sleep 2; echo 'COMMIT;' ) | sqlite3 "$CONFMAIL_DATABASE" &
sleep 0.5
expect_rc 75 "procmail exits 75 when confmail cannot commit" deliver "$short" register@icssi.example <"$TMP/locked.eml"
wait
check "confmail's reason reaches the MTA's log" grep -q 'database is locked' "$TMP/err"
expect_rc 0 "the retried delivery succeeds" deliver "$short" register@icssi.example <"$TMP/locked.eml"

# A message over the size limit: 65 goes back to the MTA, which bounces it.
small=$(conf_with limits max_message_size 1K)
{ cat "$DATA/question-en.eml"; head -c 4000 /dev/zero | tr '\0' 'x' | fold -w 70; } >"$TMP/big.eml"
expect_rc 65 "procmail exits 65 for an oversized message" deliver "$small" register@icssi.example <"$TMP/big.eml"
finish
