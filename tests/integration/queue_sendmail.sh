# The sendmail transport (issue 5): confmail hands each message to a real
# Postfix, a private instance started here with its own queue, which relays
# to Postfix's smtp-sink on 127.0.0.1.  Every message arrives once; a
# sendmail that cannot run leaves the message deferred.
source "$(dirname "$0")/lib.sh"
have() { command -v "$1" >/dev/null 2>&1; }
if [ "$(id -u)" != 0 ] || ! have postfix || ! have sendmail || ! have smtp-sink || ! id postfix >/dev/null 2>&1; then
	skip "needs root and Postfix (postfix, sendmail, smtp-sink)"
	finish
fi
export CONFMAIL_NOW=2022-01-25T09:00:00Z
PORT=$((20000 + RANDOM % 20000))
chmod 755 "$TMP"
P=$TMP/pfx
SINKDIR=$(mktemp -d /tmp/confmail-sink.XXXXXX) && chmod 777 "$SINKDIR"
postfix_relay "$P" mx.icssi.example "$PORT"
{
	postfix_services
	echo "smtp      unix  -       -       n       -       -       smtp"
	echo "relay     unix  -       -       n       -       -       smtp"
} >"$P/etc/master.cf"
smtp-sink -u nobody -d "$SINKDIR/" "127.0.0.1:$PORT" 64 &
sink=$!
trap 'postfix -c "$P/etc" stop >/dev/null 2>&1; kill $sink 2>/dev/null; rm -rf "$TMP" "$SINKDIR"' EXIT
if ! postfix -c "$P/etc" start >"$TMP/out" 2>&1; then
	notok "a private Postfix starts ($(tail -n 3 "$P/maillog" 2>/dev/null))"
	finish
fi

CONF=$(conf_with transport kind sendmail)
sed -i "s#^kind = sendmail#kind = sendmail\nsendmail = /usr/sbin/sendmail -C $P/etc#" "$CONF"
"$CONFMAIL" -c "$CONF" init >/dev/null
python3 - "$CONFMAIL_DATABASE" <<'END'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for i in range(1, 21):
    body = f"From: register@icssi.example\nTo: p{i}@example.org\nSubject: sendmail {i}\nMessage-ID: <s{i}@icssi.example>\n\n.leading dot {i}\n"
    db.execute("INSERT INTO outbox (created_at, kind, envelope_from, recipient, content, next_attempt_at)"
               " VALUES ('2022-01-25T09:00:00Z', 'reply', 'register@icssi.example', ?, ?, '2022-01-25T09:00:00Z')",
               (f"p{i}@example.org", body.encode()))
db.commit()
END
expect_rc 0 "sendmail: 20 messages handed to Postfix's sendmail" "$CONFMAIL" -c "$CONF" queue run --once
equal "sendmail: all marked sent" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" 20
for _ in $(seq 150); do
	[ "$(ls "$SINKDIR" | wc -l)" -ge 20 ] && break
	sleep 0.2
done
got=$(python3 - "$SINKDIR" <<'END'
import os, re, sys, collections
seen = collections.Counter()
ok = 0
for name in os.listdir(sys.argv[1]):
    data = open(os.path.join(sys.argv[1], name), "rb").read()
    rcpt = re.search(rb"^X-Rcpt-Args: <([^>]*)>", data, re.M).group(1).decode()
    mail = re.search(rb"^X-Mail-Args: <([^>]*)>", data, re.M).group(1).decode()
    n = rcpt[1:rcpt.index("@")]
    seen[rcpt] += 1
    ok += (mail == "register@icssi.example" and f"Subject: sendmail {n}\n".encode() in data
           and f"\n.leading dot {n}\n".encode() in data)
print(len(seen), sum(seen.values()), ok)
END
)
equal "sendmail: Postfix relayed each one once, envelope sender and body intact" "$got" "20 20 20"

# A sendmail that cannot be run: deferred, with the reason.
bad=$(conf_with transport kind sendmail)
sed -i "s#^kind = sendmail#kind = sendmail\nsendmail = $TMP/no-such-sendmail -t#" "$bad"
sql "UPDATE outbox SET state = 'queued', next_attempt_at = '2022-01-25T09:00:00Z' WHERE id = 1"
expect_rc 75 "sendmail missing: the run says mail waits" "$CONFMAIL" -c "$bad" queue run --once
equal "sendmail missing: deferred with the reason" "$(sql "SELECT state FROM outbox WHERE id = 1")" deferred
check "sendmail missing: ... naming the command" grep -q "no-such-sendmail" "$TMP/out"
finish
