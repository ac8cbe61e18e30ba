# The queue runner against a real SMTP server (issue 5, first part):
# Postfix's smtp-sink on 127.0.0.1, started and stopped here.  Every
# message delivered once, byte for byte; 4xx deferred and retried after its
# backoff, 5xx failed and the address recorded as bouncing, a hang-up after
# DATA retried, no server deferred; two runners never send a row twice.
source "$(dirname "$0")/lib.sh"
SINK=$(command -v smtp-sink || echo /usr/sbin/smtp-sink)
if [ ! -x "$SINK" ]; then
	skip "no smtp-sink (Debian package postfix)"
	finish
fi
export CONFMAIL_NOW=2022-01-25T09:00:00Z
PORT=$((20000 + RANDOM % 20000))
CONF=$(conf_with transport kind smtp)
sed -i "s/^kind = smtp/kind = smtp\nhost = 127.0.0.1\nport = $PORT\nstarttls = off/" "$CONF"
"$CONFMAIL" -c "$CONF" init >/dev/null
# smtp-sink drops root for nobody, who must be able to write its dumps
SINKDIR=$(mktemp -d /tmp/confmail-sink.XXXXXX) && chmod 777 "$SINKDIR"
sink_pid=
start_sink() {	# start_sink [smtp-sink options]
	stop_sink
	"$SINK" -u nobody -d "$SINKDIR/" "$@" "127.0.0.1:$PORT" 64 &
	sink_pid=$!
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
		sleep 0.1
	done
	notok "smtp-sink did not start"
}
stop_sink() {
	if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; fi
	sink_pid=
}
trap 'stop_sink; rm -rf "$TMP" "$SINKDIR"' EXIT
run() { "$CONFMAIL" -c "$CONF" queue run --once >"$TMP/run.out" 2>&1; }

# enqueue N: N messages straight into the outbox (the runner is under test,
# not the replies), some lines starting with "." to test dot-stuffing.
enqueue() {
	python3 - "$CONFMAIL_DATABASE" "$1" "${2:-}" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=30)
n, tag = int(sys.argv[2]), sys.argv[3]
start = db.execute("SELECT coalesce(max(id), 0) FROM outbox").fetchone()[0]
for i in range(start + 1, start + n + 1):
    body = (f"From: register@icssi.example\nTo: p{i}@example.org\nSubject: message {i}\n"
            f"Message-ID: <m{i}.{tag}@icssi.example>\n\nline one of {i}\n.a line with a dot\n..two\n.\nend {i}\n")
    db.execute("INSERT INTO outbox (created_at, kind, envelope_from, recipient, content,"
               " next_attempt_at) VALUES (?, 'reply', 'register@icssi.example', ?, ?, ?)",
               ("2022-01-25T09:00:00Z", f"p{i}@example.org", body.encode(), "2022-01-25T09:00:00Z"))
db.commit()
PY
}
# every message the sink received, compared with the outbox: each once,
# its bytes exactly (after the sink's own trace lines)
compare() {	# compare [FIRST-ID]: the rows from FIRST-ID on
	python3 - "$CONFMAIL_DATABASE" "$SINKDIR" "${1:-0}" <<'PY'
import os, re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
want = {r[0]: bytes(r[1]) for r in db.execute("SELECT recipient, content FROM outbox"
                                              " WHERE state = 'sent' AND id >= ?", (int(sys.argv[3]),))}
seen = {}
for name in os.listdir(sys.argv[2]):
    data = open(os.path.join(sys.argv[2], name), "rb").read()
    rcpt = re.search(rb"^X-Rcpt-Args: <([^>]*)>", data, re.M).group(1).decode()
    # the sink writes its X-* lines and a Received: header before the message
    body = data.split(b";\n\t" , 1)[1].split(b"\n", 1)[1]
    seen.setdefault(rcpt, []).append(body)
twice = [r for r, b in seen.items() if len(b) > 1]
differ = [r for r, b in seen.items() if r in want and b[0].rstrip(b"\n") != want[r].rstrip(b"\n")]
print(len(seen), len(twice), len(differ), len(set(want) - set(seen)))
PY
}

start_sink
enqueue 1000 a
run
equal "smtp: 1,000 messages, each delivered once, byte for byte, none missing" "$(compare)" "1000 0 0 0"
equal "smtp: all marked sent" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" 1000
check "smtp: sent in the order queued (claimed 64 at a time)" \
	awk '$2 == "sent" { if ($1 <= last) exit 1; last = $1 }' "$TMP/run.out"
equal "smtp: no lease is left held after the run" "$(sql "SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL")" 0
rm -f "$SINKDIR"/*

# 4xx at RCPT: deferred for 5 minutes, then delivered.
start_sink -r RCPT
enqueue 1 b
expect_rc 75 "4xx: the run says some mail waits (75)" run
equal "4xx: deferred with the server's reply, 5 minutes" \
	"$(sql "SELECT state || ' ' || next_attempt_at || ' ' || substr(last_error, 1, 3) FROM outbox WHERE id = 1001")" \
	"deferred 2022-01-25T09:05:00Z 450"
start_sink
CONFMAIL_NOW=2022-01-25T09:04:00Z run
equal "4xx: not retried before its time" "$(sql "SELECT state FROM outbox WHERE id = 1001")" deferred
CONFMAIL_NOW=2022-01-25T09:06:00Z run
equal "4xx: retried after it, and delivered" "$(sql "SELECT state || ' ' || attempts FROM outbox WHERE id = 1001")" "sent 2"

# 5xx at RCPT: failed, the address recorded as bouncing.
start_sink -f RCPT
enqueue 1 c
run
equal "5xx: failed" "$(sql "SELECT state || ' ' || substr(last_error, 1, 1) FROM outbox WHERE id = 1002")" "failed 5"
equal "5xx: the recipient is recorded as bouncing" "$(sql "SELECT address FROM bouncing")" p1002@example.org

# The server hangs up after DATA: deferred, and the next one tried again.
start_sink -q DATA
enqueue 2 d
run
equal "hang-up: both deferred" "$(sql "SELECT group_concat(state) FROM outbox WHERE id IN (1003, 1004)")" "deferred,deferred"
start_sink
CONFMAIL_NOW=2022-01-25T10:00:00Z run
equal "hang-up: delivered on retry" "$(sql "SELECT group_concat(state) FROM outbox WHERE id IN (1003, 1004)")" "sent,sent"

# No server: deferred, with a growing wait; too old: failed as expired.
stop_sink
enqueue 1 e
sql "UPDATE outbox SET attempts = 2 WHERE id = 1005"
expect_rc 75 "no server: the run says mail waits" run
equal "no server: deferred, 5 minutes doubled twice" "$(sql "SELECT state || ' ' || next_attempt_at FROM outbox WHERE id = 1005")" "deferred 2022-01-25T09:20:00Z"
check "no server: the reason names the connection" grep -q "1005 deferred p1005@example.org: connecting to 127.0.0.1:$PORT" "$TMP/run.out"
sql "UPDATE outbox SET attempts = 9, next_attempt_at = '2022-01-25T09:00:00Z' WHERE id = 1005"
run
equal "no server: the wait is never more than 4 hours" "$(sql "SELECT next_attempt_at FROM outbox WHERE id = 1005")" 2022-01-25T13:00:00Z
CONFMAIL_NOW=2022-02-01T09:00:00Z run
equal "no server: after max_queue_lifetime (5 days) the message fails" "$(sql "SELECT state || ' ' || substr(last_error, 1, 7) FROM outbox WHERE id = 1005")" "failed expired"

# queue show, retry, drop
expect_rc 0 "queue show: a message with its state" "$CONFMAIL" -c "$CONF" queue show 1005
check "queue show: ... and its bytes" grep -q '^Subject: message 1005' "$TMP/out"
expect_rc 0 "queue retry: a failed message is queued again" "$CONFMAIL" -c "$CONF" queue retry 1005
equal "queue retry: due now" "$(sql "SELECT state FROM outbox WHERE id = 1005")" queued
expect_rc 0 "queue drop: it will never be sent" "$CONFMAIL" -c "$CONF" queue drop 1005
expect_rc 66 "queue drop: a sent message cannot be dropped" "$CONFMAIL" -c "$CONF" queue drop 1
expect_rc 64 "queue: an id must be a number" "$CONFMAIL" -c "$CONF" queue show x

# Two runners at once: no row sent twice.
rm -f "$SINKDIR"/*
start_sink
enqueue 300 f
"$CONFMAIL" -c "$CONF" queue run --once >"$TMP/r1" 2>&1 &
first=$!
"$CONFMAIL" -c "$CONF" queue run --once >"$TMP/r2" 2>&1
wait "$first"
equal "two runners: 300 messages, none twice, none missing" "$(compare 1006)" "300 0 0 0"
check "two runners: both took part" test "$(grep -c ' sent ' "$TMP/r1")" -gt 0 -a "$(grep -c ' sent ' "$TMP/r2")" -gt 0

# The database busy past the busy timeout just as a message has gone (a
# burst of intake holding the write lock): the runner waits for it to
# record "sent", instead of giving up and leaving the row to be sent again
# when its lease runs out.  The sink writes its dump on receiving the
# message and answers 2 s later; meanwhile another writer takes the lock
# for 4 s, longer than a 1 s busy timeout.
rm -f "$SINKDIR"/*
start_sink -w 2
first_id=$(( $(sql "SELECT coalesce(max(id), 0) FROM outbox") + 1 ))
enqueue 1 w
busyconf=$(conf_with store busy_timeout_ms 1000)
sed -i "s/^kind = .*/kind = smtp\nhost = 127.0.0.1\nport = $PORT\nstarttls = off/" "$busyconf"
python3 - "$CONFMAIL_DATABASE" "$SINKDIR" "$TMP/holding" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30, isolation_level=None)
open(sys.argv[3] + ".ready", "w").close()
while not os.listdir(sys.argv[2]):
    time.sleep(0.01)
db.execute("BEGIN IMMEDIATE")
open(sys.argv[3], "w").close()
time.sleep(4)
db.execute("COMMIT")
PY
holder=$!
while [ ! -e "$TMP/holding.ready" ]; do sleep 0.05; done
expect_rc 0 "busy database after sending: the runner waits to record it (exit 0)" \
	"$CONFMAIL" -c "$busyconf" queue run --once
wait "$holder"
check "busy database after sending: ... the lock was really held meanwhile" test -e "$TMP/holding"
equal "busy database after sending: recorded sent" "$(sql "SELECT state FROM outbox WHERE id = $first_id")" sent
CONFMAIL_NOW=2022-01-25T09:11:00Z run
equal "busy database after sending: not sent again after the lease" "$(cat "$SINKDIR"/* | grep -c '^X-Rcpt-Args:')" 1
start_sink

# SIGKILL the runner 50 times during a 2,000-message run, restarting it
# each time (later each time, past the killed runner's lease): every
# message arrives, and no more duplicates than kills.
rm -f "$SINKDIR"/*
first_id=$(( $(sql "SELECT coalesce(max(id), 0) FROM outbox") + 1 ))
enqueue 2000 k
for i in $(seq 1 50); do
	minute=$((i * 11))
	CONFMAIL_NOW=$(date -u -d "2022-01-25 09:00 UTC + $minute minutes" +%Y-%m-%dT%H:%M:%SZ) \
		"$CONFMAIL" -c "$CONF" queue run --once >/dev/null 2>&1 &
	pid=$!
	sleep "0.0$((RANDOM % 9 + 1))"
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
done
CONFMAIL_NOW=2022-01-26T09:00:00Z run
got=$(python3 - "$CONFMAIL_DATABASE" "$SINKDIR" "$first_id" <<'PY'
import os, re, sqlite3, sys, collections
db = sqlite3.connect(sys.argv[1])
want = {r[0] for r in db.execute("SELECT recipient FROM outbox WHERE id >= ?", (int(sys.argv[3]),))}
seen = collections.Counter()
for name in os.listdir(sys.argv[2]):
    data = open(os.path.join(sys.argv[2], name), "rb").read()
    seen[re.search(rb"^X-Rcpt-Args: <([^>]*)>", data, re.M).group(1).decode()] += 1
missing = len(want - set(seen))
extra = sum(n - 1 for n in seen.values())
print(missing, "ok" if extra <= 50 else f"{extra} duplicates")
PY
)
equal "kill -9 x50 during 2,000 messages: none lost, duplicates no more than the kills" "$got" "0 ok"
equal "kill -9 x50: every row ends sent" "$(sql "SELECT count(*) FROM outbox WHERE id >= $first_id AND state <> 'sent'")" 0

# On a terminal a progress bar, not a line per message (script(1) gives
# the run a terminal).
if command -v script >/dev/null; then
	enqueue 50 p
	script -qec "'$CONFMAIL' -c '$CONF' queue run --once" /dev/null >"$TMP/tty.out" 2>&1
	check "terminal: a progress bar with done/total, rate and ETA" grep -q '50/50 .* msg/s  ETA' "$TMP/tty.out"
	check "terminal: ... instead of a line per message" test "$(grep -c ' sent p' "$TMP/tty.out")" = 0
	check "no terminal: a line per message (see the runs above)" grep -q ' sent p' "$TMP/r1"
fi

# --once ends even while mail keeps being queued: it sends what was there
# when it began (a burst must not keep a cron run alive for ever).  The
# sink answers each message after 1 s and a row arrives every 0.3 s, so a
# runner that took whatever came would never end.
start_sink -w 1
python3 - "$CONFMAIL_DATABASE" "$TMP/stop-feeding" <<'PY' &
import os, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=30)
i = 0
while not os.path.exists(sys.argv[2]):	# faster than the runner can send
    i += 1
    body = f"From: register@icssi.example\nTo: b{i}@example.org\nMessage-ID: <b{i}.burst@icssi.example>\n\nb {i}\n"
    db.execute("INSERT INTO outbox (created_at, kind, envelope_from, recipient, content, next_attempt_at)"
               " VALUES (?, 'reply', 'register@icssi.example', ?, ?, ?)",
               ("2022-01-25T09:00:00Z", f"b{i}@example.org", body.encode(), "2022-01-25T09:00:00Z"))
    db.commit()
    time.sleep(0.3)
PY
feeder=$!
for _ in $(seq 50); do
	[ "$(sql "SELECT count(*) FROM outbox WHERE CAST(content AS TEXT) LIKE '%.burst@%'")" -ge 2 ] && break
	sleep 0.1
done
start=$(date +%s)
timeout 15 "$CONFMAIL" -c "$CONF" queue run --once >"$TMP/once.out" 2>&1
rc=$?
touch "$TMP/stop-feeding"
wait "$feeder"
check "once: ends while rows keep arriving (exit $rc after $(( $(date +%s) - start )) s)" test "$rc" = 0
start_sink
"$CONFMAIL" -c "$CONF" queue run --once >/dev/null 2>&1
equal "once: the rows queued meanwhile go on the next run" \
	"$(sql "SELECT count(*) FROM outbox WHERE CAST(content AS TEXT) LIKE '%.burst@%' AND state <> 'sent'")" 0

# --daemon: new rows go out without being asked; SIGTERM ends it cleanly.
"$CONFMAIL" -c "$CONF" queue run --daemon --interval 1 >"$TMP/daemon.out" 2>&1 &
daemon=$!
before=$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")
enqueue 20 g
for _ in $(seq 100); do
	[ "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" = $((before + 20)) ] && break
	sleep 0.1
done
equal "daemon: 20 new messages delivered without another command" "$(sql "SELECT count(*) FROM outbox WHERE state = 'sent'")" $((before + 20))
kill -TERM "$daemon"
rc=0
for _ in $(seq 50); do kill -0 "$daemon" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$daemon" 2>/dev/null; then notok "daemon: still running 5 s after SIGTERM"; kill -9 "$daemon"; fi
wait "$daemon" || rc=$?
equal "daemon: SIGTERM ends it with status 0" "$rc" 0
check "daemon: ... saying so" grep -q '^queue: stopped' "$TMP/daemon.out"
equal "daemon: stopped, it holds no lease" "$(sql "SELECT count(*) FROM outbox WHERE lease_owner IS NOT NULL AND state <> 'sent'")" 0
expect_rc 64 "queue run: --once or --daemon, not both" "$CONFMAIL" -c "$CONF" queue run --once --daemon

# Bulk: a 2 MB programme to 300 people is stored once, each copy
# personalised (its own To: and Message-ID) and sent with a VERP envelope
# sender, bounces+ID@ the conference domain.
rm -f "$SINKDIR"/*
python3 - "$TMP" <<'END'
import email.message, random, sys
m = email.message.EmailMessage()
m["From"] = "ICSSI 2022 <register@icssi.example>"
m["Subject"] = "The final programme"
m["Date"] = "Tue, 25 Jan 2022 09:00:00 +0000"
m.set_content("Dear participant,\n.the programme is attached.\n")
pdf = random.Random(7).randbytes(2 * 1024 * 1024)
m.add_attachment(pdf, maintype="application", subtype="pdf", filename="programme.pdf")
open(sys.argv[1] + "/programme.eml", "wb").write(bytes(m))
with open(sys.argv[1] + "/rcpts", "w") as f:
    f.write("# the partners\n\n")
    for i in range(300):
        f.write(f"partner{i}@example.net\n")
    f.write("PARTNER7@example.net\n")	# once is enough
END
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
size_before=$(stat -c %s "$CONFMAIL_DATABASE")
first_id=$(( $(sql "SELECT coalesce(max(id), 0) FROM outbox") + 1 ))
expect_rc 0 "bulk: queue add --verp: 300 recipients" "$CONFMAIL" -c "$CONF" queue add --verp --recipients "$TMP/rcpts" "$TMP/programme.eml"
check "bulk: ... a recipient named twice is queued once" grep -q '^queued 300 messages' "$TMP/out"
sql "PRAGMA wal_checkpoint(TRUNCATE)" >/dev/null
grown=$(( $(stat -c %s "$CONFMAIL_DATABASE") - size_before ))
check "bulk: the database grew by less than 2x the 2.8 MB message ($grown bytes)" test "$grown" -lt $((2 * $(stat -c %s "$TMP/programme.eml")))
equal "bulk: the attachment is stored once" "$(sql "SELECT count(*) FROM outbox_parts WHERE length(content) > 2000000")" 1
for id in $first_id $((first_id + 299)); do "$CONFMAIL" -c "$CONF" queue show "$id" | sed '1,/^$/d' >"$TMP/show.$id"; done
run
got=$(python3 - "$CONFMAIL_DATABASE" "$SINKDIR" "$first_id" "$TMP" <<'END'
import os, re, sqlite3, sys
db = sqlite3.connect(sys.argv[1])
first = int(sys.argv[3])
rows = {r[1]: r[0] for r in db.execute("SELECT id, recipient FROM outbox WHERE id >= ?", (first,))}
shown = {i: open(f"{sys.argv[4]}/show.{i}", "rb").read() for i in (first, first + 299)}
ok = verp = personal = same = 0
mids = set()
for name in os.listdir(sys.argv[2]):
    data = open(os.path.join(sys.argv[2], name), "rb").read()
    rcpt = re.search(rb"^X-Rcpt-Args: <([^>]*)>", data, re.M).group(1).decode()
    sender = re.search(rb"^X-Mail-Args: <([^>]*)>", data, re.M).group(1).decode()
    body = data.split(b";\n\t", 1)[1].split(b"\n", 1)[1]
    i = rows[rcpt]
    ok += 1
    verp += sender == f"bounces+{i}@icssi.example"
    personal += f"\nTo: {rcpt}\n".encode() in body
    mids.add(re.search(rb"^Message-Id: (\S+)", body, re.M | re.I).group(1))
    if i in shown:
        same += body.rstrip(b"\n") == shown[i].rstrip(b"\n")
print(ok, verp, personal, len(mids), same)
END
)
equal "bulk: 300 delivered, VERP senders, own To:, own Message-ID, bytes as queue show prints" "$got" "300 300 300 300 2"

# The same message to several people (a forward to the organisers): one
# transaction, all of them as RCPTs; with the relay refusing RCPTs, each
# is deferred on its own reply.
enqueue_same() {	# enqueue_same N TAG
	python3 - "$CONFMAIL_DATABASE" "$1" "$2" <<'END'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
body = f"From: register@icssi.example\nTo: organisers\nSubject: late {sys.argv[3]}\n\nplease decide\n".encode()
for i in range(int(sys.argv[2])):
    db.execute("INSERT INTO outbox (created_at, kind, envelope_from, recipient, content, next_attempt_at)"
               " VALUES ('2022-01-25T09:00:00Z', 'forward', 'register@icssi.example', ?, ?, '2022-01-25T09:00:00Z')",
               (f"org{i}.{sys.argv[3]}@icssi.example", body))
db.commit()
END
}
rm -f "$SINKDIR"/*
enqueue_same 5 m
run
equal "same message: one transaction for 5 organisers" "$(ls "$SINKDIR" | wc -l) $(cat "$SINKDIR"/* | grep -c '^X-Rcpt-Args:')" "1 5"
equal "same message: all 5 sent" "$(sql "SELECT count(*) FROM outbox WHERE recipient LIKE 'org%.m@%' AND state = 'sent'")" 5
start_sink -r RCPT
enqueue_same 3 n
run
equal "same message, RCPTs refused (4xx): each deferred" "$(sql "SELECT group_concat(state || ' ' || substr(last_error, 1, 3), ',') FROM outbox WHERE recipient LIKE 'org%.n@%'")" "deferred 450,deferred 450,deferred 450"

# A relay without PIPELINING: one command, one reply; the same outcomes.
rm -f "$SINKDIR"/*
start_sink -P
first_id=$(( $(sql "SELECT coalesce(max(id), 0) FROM outbox") + 1 ))
enqueue 50 q
run
equal "no PIPELINING: 50 messages, once each, byte for byte" "$(compare "$first_id")" "50 0 0 0"
sql "UPDATE outbox SET next_attempt_at = '2022-01-25T09:00:00Z' WHERE recipient LIKE 'org%.n@%'"
run
equal "no PIPELINING: the 3 organisers in one transaction" "$(grep -l 'late n' "$SINKDIR"/* | wc -l) $(sql "SELECT count(*) FROM outbox WHERE recipient LIKE 'org%.n@%' AND state = 'sent'")" "1 3"

# starttls = required and a relay that does not offer it: nothing is sent
# in the clear; the message waits, saying why.
start_sink
first_id=$(( $(sql "SELECT coalesce(max(id), 0) FROM outbox") + 1 ))
enqueue 1 t
tls=$(conf_with transport starttls required)
sed -i "s/^kind = .*/kind = smtp\nhost = 127.0.0.1\nport = $PORT/" "$tls"
expect_rc 75 "starttls = required, not offered: the run says mail waits" "$CONFMAIL" -c "$tls" queue run --once
equal "starttls = required, not offered: deferred, saying why" "$(sql "SELECT state FROM outbox WHERE id = $first_id")" deferred
check "starttls = required, not offered: ... naming STARTTLS" grep -q "does not offer STARTTLS" "$TMP/out"

# A relay that accepts the connection and never says a word: [transport]
# timeout ends the wait and the message is deferred.
stop_sink
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
c, _ = s.accept(); time.sleep(30)' "$PORT" &
mute=$!
sleep 0.5
slow=$(conf_with transport timeout 2)
sed -i "s/^kind = .*/kind = smtp\nhost = 127.0.0.1\nport = $PORT\nstarttls = off/" "$slow"
sql "UPDATE outbox SET next_attempt_at = '2022-01-25T09:00:00Z' WHERE id = $first_id"
started=$(date +%s)
expect_rc 75 "a relay that never answers: deferred" "$CONFMAIL" -c "$slow" queue run --once
check "a relay that never answers: given up after the 2 s timeout, not 30 s" test $(($(date +%s) - started)) -lt 15
kill "$mute" 2>/dev/null
wait "$mute" 2>/dev/null

# queue add refuses what it cannot send, and queues nothing.
before=$(sql "SELECT count(*) FROM outbox")
printf 'ok@example.org\nnot an address\n' >"$TMP/bad-rcpts"
expect_rc 65 "queue add: a bad address in the list is refused" "$CONFMAIL" -c "$CONF" queue add --recipients "$TMP/bad-rcpts" "$TMP/programme.eml"
check "queue add: ... naming the file and line" grep -q 'bad-rcpts:2: not an address' "$TMP/err"
expect_rc 66 "queue add: a missing message file" "$CONFMAIL" -c "$CONF" queue add "$TMP/none.eml" a@example.org
expect_rc 64 "queue add: no recipients" "$CONFMAIL" -c "$CONF" queue add "$TMP/programme.eml"
equal "queue add: nothing queued by the refused ones" "$(sql "SELECT count(*) FROM outbox")" "$before"
stop_sink
finish
