#!/bin/bash
# usage: mdsample.sh DATADIR OUT ; every 30 s: time, bytes and snapshots of the newest metadata.json of the table "transactions" (the soak's table) under DATADIR, and how many metadata.json files it has
d=$1; out=$2; echo "time,metadata_bytes,snapshots,metadata_files" > $out
while sleep 30; do
  f=$(find $d -name '*.metadata.json' -path '*transactions*' 2>/dev/null | xargs -r ls -t 2>/dev/null | head -1)
  [ -z "$f" ] && continue
  n=$(find $(dirname $f) -name '*.metadata.json' | wc -l)
  s=$(python3 -c "import json,sys;print(len(json.load(open('$f')).get('snapshots',[])))" 2>/dev/null)
  echo "$(date +%T),$(stat -c %s $f),$s,$n" >> $out
done
