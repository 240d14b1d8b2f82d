#!/usr/bin/env bash
# usage: scripts/store-bench.sh BIN LABEL: demo (20 stations x 24 h) CPU, per-file syscalls; report through serve (needs /tmp/bench-lake from `lakenode fleet-lake --stations 20 --days 30 --dir /tmp/bench-lake/s3/lake`). The before/after of issue 24 in README "Measuring".
set -uo pipefail
bin=$1; label=$2; w=/tmp/bench-$label; rm -rf $w; mkdir -p $w
start=2026-12-01T00:00:00Z
if [ -z "${REPORT_ONLY:-}" ]; then
echo "== $label load $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -f "%e %U %S" -o $w/t $bin demo --stations 20 --hours 24 --start $start --data-dir $w/demo > $w/out 2>&1 &
tp=$!; sleep 0.3; dp=$(pgrep -P $tp lakenode)
while kill -0 $dp 2>/dev/null; do
  awk '{gsub(/[()]/,"",$2); t[$2]+=$14+$15} END {for (n in t) printf "%s %d\n", n, t[n]}' /proc/$dp/task/*/stat > $w/threads.tmp 2>/dev/null && sort $w/threads.tmp | awk '{printf "  thread %-18s cpu %.2f s\n", $1, $2/100}' > $w/threads
  sleep 0.5
done; wait $tp
read wall u s < $w/t; cat $w/threads 2>/dev/null; files=$(awk '/^  files  / {print $2 + $4}' $w/out)
echo "demo: wall $wall user $u sys $s cpu $(echo "$u+$s"|bc) files $files cpu/station-day $(echo "scale=3;($u+$s)/20"|bc)"
strace -f -c -o $w/strace $bin demo --stations 20 --hours 24 --start $start --data-dir $w/traced > $w/out2 2>&1
tot=$(awk 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {t+=$4} END{print t}' $w/strace)
echo "demo syscalls total $tot per file $(echo "scale=1;$tot/$files"|bc)"
awk -v n="$files" 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "  %-16s %8.1f\n", $NF, $4 / n }' $w/strace | sort -k2 -rn | head -12
fi
# ranged GETs: report through serve over the shared 20x30 lake
lake=/tmp/bench-lake
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
rm -rf $w/s3; cp -r $lake/s3 $w/s3
for mode in plain strace; do
  if [ $mode = strace ]; then strace -f -c -o $w/strace-serve $bin serve --data-dir $w/s3 --bucket lake > $w/serve.log 2>&1 &
  else $bin serve --data-dir $w/s3 --bucket lake > $w/serve.log 2>&1 & fi
  sp=$!
  for i in $(seq 100); do grep -q 'listening on' $w/serve.log && break; sleep 0.1; done
  ep=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' $w/serve.log | head -1)
  spid=$(pgrep -P $sp lakenode || echo $sp)
  for run in 1 2; do
    c0=$(awk '{print $14+$15}' /proc/$spid/stat)
    /usr/bin/time -f "%e %U %S" -o $w/t $bin report --endpoint $ep --bucket lake --path-style --days 30 --out $w/r.html > $w/rep.log 2>&1
    c1=$(awk '{print $14+$15}' /proc/$spid/stat)
    tail -1 $w/t > $w/t1; read wall u s < $w/t1
    echo "report via S3 ($mode, run $run): wall $wall client cpu $(echo "$u+$s"|bc) server cpu $(echo "scale=2;($c1-$c0)/100"|bc) s"
  done
  kill -INT $sp; wait $sp 2>/dev/null
  [ $mode = strace ] && { tot=$(awk 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ {t+=$4} END{print t}' $w/strace-serve); echo "serve syscalls (2 reports) $tot"; awk 'NR > 2 && $NF != "total" && $4 ~ /^[0-9]+$/ { printf "  %-16s %8d\n", $NF, $4 }' $w/strace-serve | sort -k2 -rn | head -10; }
  rm -rf $w/s3; cp -r $lake/s3 $w/s3
done
