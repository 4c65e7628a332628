# What the benchmark scripts share; sourced after BENCH (the script's
# name, for messages) and D (its scratch directory) are set.

# now_ms: milliseconds since the epoch.
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# cpu_ticks PID: user + system clock ticks PID used so far.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# rss_kib PID, hwm_kib PID: resident and peak resident KiB.
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# wait_line FILE REGEX COUNT SECONDS: until COUNT lines of FILE match;
# exits 1 (with the processes' last log lines) after SECONDS.
wait_line() {
	local deadline=$(($(now_ms) + $4 * 1000))
	until [ "$(grep -cE "$2" "$1" 2>/dev/null || true)" -ge "$3" ]; do
		if [ "$(now_ms)" -ge "$deadline" ]; then
			echo "$BENCH: no $3 lines /$2/ in $1 within $4 s" >&2
			tail -5 "$D"/*.err >&2 || true
			exit 1
		fi
		sleep 0.05
	done
}
