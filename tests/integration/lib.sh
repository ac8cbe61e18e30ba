# Shared by the end-to-end tests: a private database for the sample
# conference, and checks that print "ok - ..." or "not ok - ...".
set -u
: "${CONFMAIL:?set CONFMAIL to the binary under test}"
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DATA=$ROOT/tests/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
export CONFMAIL_CONF=$ROOT/contrib/icssi-2022.conf
export CONFMAIL_DATABASE=$TMP/db.sqlite
unset ORIGINAL_RECIPIENT RECIPIENT SENDER CONFMAIL_NOW
failures=0

ok() { echo "ok - $*"; }
notok() { echo "not ok - $*"; failures=$((failures + 1)); }
skip() { echo "skip - $*"; }

# check DESCRIPTION COMMAND...: the command must succeed.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else notok "$desc"; fi
}

# expect_rc CODE DESCRIPTION COMMAND...: the command must exit with CODE.
# Its output is kept in $TMP/out and $TMP/err for further checks.
expect_rc() {
	local want=$1 desc=$2 rc
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	if [ "$rc" = "$want" ]; then ok "$desc"; else notok "$desc (exit $rc, want $want)"; fi
}

# equal DESCRIPTION GOT WANT
equal() {
	if [ "$2" = "$3" ]; then ok "$1"; else notok "$1 (got '$2', want '$3')"; fi
}

# with a busy timeout: a confmail at work may hold the write lock a moment
sql() { sqlite3 -batch -cmd ".timeout 10000" "$CONFMAIL_DATABASE" "$@"; }

# A copy of the sample configuration with KEY set to VALUE in GROUP.
conf_with() {
	local group=$1 key=$2 value=$3 out=$TMP/conf-$RANDOM.conf
	awk -v g="[$group]" -v k="$key" -v v="$value" '
		/^\[/ { if (in_g && !done) { print k " = " v; done = 1 } in_g = ($0 == g) }
		in_g && $1 == k { print k " = " v; done = 1; next }
		{ print }
		END { if (!done) { if (!in_g) print g; print k " = " v } }
	' "$CONFMAIL_CONF" >"$out"
	echo "$out"
}

# The master.cf services a private Postfix instance needs for local
# delivery, and nothing that listens; callers add what else they use.
postfix_services() {
	cat <<'END'
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
END
}

# postfix_relay DIR HOSTNAME PORT: a private Postfix's directories and the
# main.cf lines each test instance shares (its own queue, loopback only,
# everything relayed in clear to the smtp-sink on PORT); callers append.
postfix_relay() {
	mkdir -p "$1/etc" "$1/queue" "$1/data"
	chown postfix "$1/data"
	cat >"$1/etc/main.cf" <<END
compatibility_level = 3.6
queue_directory = $1/queue
data_directory = $1/data
myhostname = $2
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file = $1/maillog
maillog_file_prefixes = $1
relayhost = [127.0.0.1]:$3
smtp_tls_security_level = none
END
}

# test_ca DIR: a throwaway CA made now, never kept: DIR/ca.pem, DIR/ca.key.
# test_cert DIR NAME SAN: DIR/NAME.pem and DIR/NAME.key, a server
# certificate for SAN ("DNS:localhost, IP:127.0.0.1") signed by that CA.
test_newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
test_ca() {
	mkdir -p "$1" && test_newkey "$1/ca.key" &&
		openssl req -new -x509 -key "$1/ca.key" -subj "/CN=confmail test CA" -days 30 \
			-addext "basicConstraints = critical, CA:TRUE" \
			-addext "keyUsage = critical, keyCertSign, cRLSign" -out "$1/ca.pem" 2>/dev/null
}
test_cert() {
	test_newkey "$1/$2.key" &&
		openssl req -new -key "$1/$2.key" -subj "/CN=$2" -out "$1/$2.csr" 2>/dev/null &&
		printf '%s\n' "subjectAltName = $3" "basicConstraints = critical, CA:FALSE" \
			"keyUsage = critical, digitalSignature" "extendedKeyUsage = serverAuth" \
			"subjectKeyIdentifier = hash" "authorityKeyIdentifier = keyid" >"$1/$2.ext" &&
		openssl x509 -req -in "$1/$2.csr" -CA "$1/ca.pem" -CAkey "$1/ca.key" -CAcreateserial \
			-days 30 -extfile "$1/$2.ext" -out "$1/$2.pem" 2>/dev/null
}

# free_ports N: N distinct free TCP ports on 127.0.0.1, the kernel's choice,
# all held until all are known.
free_ports() {
	python3 -c '
import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])' "$1"
}

# wait_port PORT: until something listens on 127.0.0.1:PORT (at most 5 s).
wait_port() {
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

finish() { exit $((failures > 0)); }
