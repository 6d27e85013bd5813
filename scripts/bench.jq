# The statistics, tables and results.json sections of scripts/bench.
#
# Each section function reads the section's samples, lines "KEY<tab>VALUE"
# in the order they were taken (jq -nR), VALUE a number or what a run left
# instead of one ("failed", "timeout", "-"), and returns the section's
# object of results.json. Every row that scripts/bench prints carries its
# table cells in "shown"; `public` drops them from results.json.

def samples: reduce (inputs | split("\t")) as [$key, $value] ({}; .[$key] += [$value | tonumber? // $value]);
def num: if type == "number" then . else null end;
def round_to($digits): pow(10; $digits) as $f | . * $f | round / $f;
# A number with DIGITS decimals ("1.10"); anything else as it is.
def fixed($digits):
  if type != "number" then tostring
  else (. * pow(10; $digits) | round | tostring) as $int
    | (("0" * ([$digits + 1 - ($int | length), 0] | max)) + $int) as $padded
    | if $digits == 0 then $padded else $padded[:-$digits] + "." + $padded[-$digits:] end
  end;
def yes_no: if . == true then "yes" elif . == false then "no" else "-" end;
def public: walk(if type == "object" then del(.shown) else . end);

# The median of the numbers among the samples: "failed" when there are no
# samples, "-" when none is a number.
def median:
  if length == 0 then "failed"
  else map(numbers) | sort
    | if length == 0 then "-"
      elif length % 2 == 1 then .[(length - 1) / 2]
      else (.[length / 2 - 1] + .[length / 2]) / 2 end
  end;
# min / median / max of the numbers among the samples (all null when none).
def spread: (. // []) | map(numbers) | if length == 0 then {min: null, median: null, max: null} else {min: min, median: median, max: max} end;
def spread_round($digits): map_values(if type == "number" then round_to($digits) else . end);
# A spread as one table cell: "MEDIAN [MIN-MAX]"; "-" without numbers.
def spread_cell($digits): if .median == null then "-" else "\(.median | fixed($digits)) [\(.min | fixed($digits))-\(.max | fixed($digits))]" end;
# The per-round ratios of two sample lists taken round by round.
def ratios($values; $references): [range($values | length) | $values[.] / $references[.]];
def us: map(if type == "number" then . / 1000 else . end);

# A row of a target table: VALUE, or VALUE / REFERENCE.value when a
# reference is given, against a target (OP "<=", ">=" or "<" and LIMIT;
# OP null: none). A value "n/a" (not measurable with this build) gives met
# n/a; any other value that is not a number (a failed run) gives met no.
def target_row($figure; $unit; $value; $reference; $op; $limit):
  (if $reference == null then "-"
   elif ($value | type) == "number" and ($reference.value | type) == "number" and $reference.value > 0
   then $value / $reference.value | round_to(2)
   elif $value == "n/a" or $reference.value == "n/a" then "n/a"
   else "failed" end) as $ratio
  | (if $reference == null then $value else $ratio end) as $subject
  | (if $ratio == "n/a" then "n/a" elif ($value | type) == "number" then "ok" else $value end) as $status
  | (if $op == null then null
     elif ($subject | type) == "number"
     then if $op == "<=" then $subject <= $limit elif $op == ">=" then $subject >= $limit else $subject < $limit end
     elif $status == "n/a" then "n/a"
     else false end) as $met
  | {figure: $figure, unit: $unit, value: ($value | num),
     reference: (if $reference == null then null else {figure: $reference.figure, value: ($reference.value | num)} end),
     ratio: ($ratio | num)}
  + (if $op == null then {target_max: null}
     else {(if $op == ">=" then "target_min" else "target_max" end): $limit, target_strict: ($op == "<"),
       target_applies_to: (if $reference == null then "value" else "ratio" end)} end)
  + {met: ($met | if type == "boolean" then . else null end), status: $status,
     shown: [$figure,
       (if ($value | type) == "number" then "\($value | fixed(1)) \($unit)" else $value end),
       (if $reference == null then "-"
        elif ($reference.value | type) == "number" then "\($reference.figure)=\($reference.value | fixed(1)) \($unit)"
        else "\($reference.figure)=\($reference.value)" end),
       ($ratio | fixed(2)), (if $op == null then "-" elif $limit == ($limit | floor) then "\($op)\($limit)" else "\($op)\($limit | fixed(2))" end),
       (if $met == "n/a" then "n/a" else $met | yes_no end)]};

# 1. Round trip: KEY a figure, VALUE its ns per call in one round. Each
# figure: min / median / max over the rounds; each ratio: the per-round
# ratios (peer and luo ran moments apart in the same round), their median
# against the target.
def roundtrip($calls; $rounds; $target):
  (samples | map_values(us)) as $us
  | def row($figure; $reference; $target):
      ($us[$figure] | spread | spread_round(2)) as $value
      | (if $reference == null then null else {figure: $reference} + ($us[$reference] | spread | spread_round(2)) end) as $ref
      | (if $reference == null then null else ratios($us[$figure]; $us[$reference]) | map(round_to(2)) end) as $per_round
      | ($per_round | if . == null then null else spread end) as $ratio
      | {figure: $figure, value: $value.median, min: $value.min, max: $value.max, reference: $ref,
         ratio: $ratio.median, ratio_min: $ratio.min, ratio_max: $ratio.max, ratios_per_round: $per_round, target_max: $target,
         met: (if $target == null then null else $ratio.median <= $target end),
         shown: [$figure, ($value | spread_cell(2)), (if $ref == null then "-" else "\($reference)=\($ref.median | fixed(2))" end),
           (if $ratio == null then "-" else $ratio | spread_cell(2) end),
           (if $target == null then "-" else "<=\($target | fixed(2))" end),
           (if $target == null then "-" else $ratio.median <= $target | yes_no end)]};
  {calls: $calls, rounds: $rounds, unit: "us/call",
   figures: [row("floor-1"; null; null), (1, 2, 4 | row("peer-\(.)"; "floor-1"; null)), (1, 2, 4 | row("luo-\(.)"; "peer-\(.)"; $target))]};

# 2. Scale: KEY "FIGURE" (ns per op, "timeout" or "failed") and "rss FIGURE"
# (the daemon's VmRSS in KiB, negative when unknown), one sample per round,
# and "rss start". A ratio is met when it is within the target in every
# round (the target is a bound on each run, not on their median).
def scale($timeout; $sizes; $rounds):
  samples as $s
  | def mib: if type == "number" and . >= 0 then . / 1024 | round_to(1) else "-" end;
    def per_op($figure): ($s[$figure] // []) | map(if type == "number" then . / 1000 | round_to(2) else . end);
    def status($values): if ($values | length) > 0 and ($values | all(type == "number")) then "ok" else ($values | map(select(type != "number")) | first // "failed") end;
  {unit: "us/op", timeout_s: $timeout, rounds: $rounds, daemon_rss_mib_start: ($s["rss start"][0] | mib | num),
   figures: [("sessions", "files") as $kind | $sizes[] as $n | "\($kind)-\($n)" as $figure
     | per_op($figure) as $values | ($values | spread) as $v | (($s["rss \($figure)"] // []) | map(mib) | spread) as $rss
     | {figure: $figure, op: $kind, count: $n, value: $v.median, min: $v.min, max: $v.max, samples: ($values | map(num)),
        daemon_rss_mib: $rss.max, status: status($values),
        shown: [$figure, ($v | spread_cell(2)) + (if status($values) == "ok" then "" else " (\(status($values)))" end), ($rss.max // "-" | fixed(1))]}],
   ratios: [("sessions", "files") as $kind | "\($kind)-\($sizes[-1])/\($kind)-\($sizes[0])" as $figure
     | per_op("\($kind)-\($sizes[-1])") as $large | per_op("\($kind)-\($sizes[0])") as $small
     | [range([$large, $small] | map(length) | min) | if ($large[.] | type) == "number" and ($small[.] | type) == "number" and $small[.] > 0
         then $large[.] / $small[.] | round_to(2) else "-" end] as $per_round
     | ($per_round | spread) as $r
     | (($per_round | length) > 0 and ($per_round | all(type == "number" and . <= 1.50))) as $met
     | {figure: $figure, ratio: $r.median, ratio_min: $r.min, ratio_max: $r.max, ratios_per_round: $per_round, target_max: 1.50,
        target_applies_to: "every round", met: $met,
        shown: [$figure, ($r | spread_cell(2)), ($per_round | map(fixed(2)) | join(" ")), "<=1.50 each", ($met | yes_no)]}]};

# 3. Reboot: KEY "blackout|freeze|restore STORE/MODE/CASE" (ms; blackout in
# us) and "write|read STORE/CASE" (the plain copy, us). $cases: [{name,
# size, data}]; $copied: the case names with a plain copy; $durable_flag:
# false when the build has only the durable mode (the default mode is then
# n/a).
def reboot($runs; $stores; $cases; $copied; $durable_flag):
  samples as $s
  | def ms($key): ($s[$key] // []) | map(if type == "number" then . / 1000 | round_to(1) else . end);
    def got($key): $s[$key] // [];
    def measured($store; $mode; $case):
      "\($store)/\($mode)/\($case)" as $key
      | if $mode == "default" and ($durable_flag | not)
        then {blackout: [], freeze: [], restore: [], blackout_ms: "n/a", freeze_ms: "n/a", restore_ms: "n/a"}
        else {blackout: ms("blackout \($key)"), freeze: got("freeze \($key)"), restore: got("restore \($key)")}
          | .blackout_ms = (.blackout | median) | .freeze_ms = (.freeze | median) | .restore_ms = (.restore | median) end;
    def copy($store; $case): {write: ms("write \($store)/\($case)"), read: ms("read \($store)/\($case)")}
      | .write_ms = (.write | median) | .restore_ms = (.read | median);
    def mibps($bytes; $ms): if ($ms | type) == "number" and $ms > 0 then $bytes / 1048576 / ($ms / 1000) | round_to(1) else $ms end;
    def size_of($case): $cases[] | select(.name == $case) | .size;
  {runs: $runs, statistic: "median", durable_flag: $durable_flag, stores: {disk: "/var/tmp", tmpfs: "/dev/shm"}, unit: "ms",
   measurements: [$stores[] as $store | $cases[] as $case | ("default", "durable") as $mode
     | measured($store; $mode; $case.name) as $m
     | {store: $store, memfd: $case.name, size_bytes: $case.size, data_bytes: $case.data, mode: $mode,
        blackout_ms: ($m.blackout_ms | num), freeze_ms: ($m.freeze_ms | num), restore_ms: ($m.restore_ms | num),
        status: (if $m.blackout_ms | type == "number" then "ok" else $m.blackout_ms end),
        samples: {blackout_ms: ($m.blackout | map(num)), freeze_ms: ($m.freeze | map(num)), restore_ms: ($m.restore | map(num))},
        shown: ([$store, $case.name, $mode] + ([$m.blackout, $m.freeze, $m.restore] | map(if length == 0 then "n/a" else spread | spread_cell(1) end)))}],
   plain_copy: [$stores[] as $store | $copied[] as $case | copy($store; $case) as $c
     | {store: $store, bytes: $case, write_ms: ($c.write_ms | num), restore_ms: ($c.restore_ms | num),
        samples: {write_ms: ($c.write | map(num)), restore_ms: ($c.read | map(num))},
        shown: [$store, $case, ($c.write | spread | spread_cell(1)), ($c.read | spread | spread_cell(1))]}],
   # The targets are on the default store kind (disk); tmpfs rows are for information.
   figures: [$stores[] as $store
     | (if $store == "disk" then "" else "\($store):" end) as $p
     | (if $store == "disk" then "<=" else null end) as $le
     | (if $store == "disk" then ">=" else null end) as $ge
     | (("default", "durable") as $mode
         | target_row("\($p)blackout-\($mode)-1GiB/0B"; "ms"; measured($store; $mode; "1GiB").blackout_ms;
             {figure: "\($p)blackout-\($mode)-0B", value: measured($store; $mode; "0B").blackout_ms};
             (if $mode == "default" then $le else null end); 1.20)),
       ($copied[] as $case | size_of($case) as $size
         | target_row("\($p)store-write-\($case)"; "MiB/s"; mibps($size; measured($store; "durable"; $case).freeze_ms);
             {figure: "\($p)dd-write-\($case)", value: mibps($size; copy($store; $case).write_ms)}; $ge; 0.80)),
       ($copied[] as $case | size_of($case) as $size
         | target_row("\($p)restore-\($case)"; "MiB/s"; mibps($size; measured($store; "durable"; $case).restore_ms);
             {figure: "\($p)dd-restore-\($case)", value: mibps($size; copy($store; $case).restore_ms)}; $ge; 0.80)),
       target_row("\($p)freeze-sparse-8GiB/1MiB"; "ms"; measured($store; "durable"; "sparse-8GiB").freeze_ms;
         {figure: "\($p)freeze-1MiB", value: measured($store; "durable"; "1MiB").freeze_ms}; $le; 1.50)]};

# 4. Start: KEY "mount" and "open" (ms) and "rss" (the daemon's VmRSS in
# KiB), one sample per mount, "failed" for a mount that failed. Targets on
# the medians; the value cells show min and max beside them.
def start($runs):
  samples as $s
  | ($s.rss | map(if type == "number" then . / 1024 | round_to(1) else . end)) as $rss
  | def spread_of($values; $unit): ($values | spread) as $v | .min = $v.min | .max = $v.max
      | .shown[1] = (if $v.median == null then .shown[1] else "\($v | spread_cell(1)) \($unit)" end);
  {runs: $runs, statistic: "median",
   samples: {mount_command_ms: ($s.mount | map(num)), mount_to_node_opened_ms: ($s.open | map(num)), daemon_idle_rss_mib: ($rss | map(num))},
   figures: [(target_row("mount-command"; "ms"; $s.mount | median; null; "<"; 100) | spread_of($s.mount; "ms")),
     (target_row("mount-to-node-opened"; "ms"; $s.open | median; null; null; null) | spread_of($s.open; "ms")),
     (target_row("daemon-idle-rss"; "MiB"; $rss | median; null; "<"; 40) | spread_of($rss; "MiB"))]};

# 5. fd hand-over: KEY a figure, VALUE its ns per op in one round; the
# reference is getname. $targets: {FIGURE: the most its ratio may be}.
def fd_handover($calls; $rounds; $targets):
  (samples | map_values(us)) as $us
  | {calls: $calls, rounds: $rounds, unit: "us/op", reference: "getname",
     figures: [$us | keys_unsorted[] as $figure | $us[$figure] | map(numbers)
       | {figure: $figure, min: (min | round_to(2)), median: (median | round_to(2)), max: (max | round_to(2)),
          ratio_to_reference: (ratios($us[$figure]; $us.getname) | median | round_to(2)),
          target_max: $targets[$figure]}
       | .met = (if .target_max == null then null else .ratio_to_reference <= .target_max end)
       | .spread = (.max - .min | round_to(2))
       | .shown = [.figure, (.min | fixed(2)), (.median | fixed(2)), (.max | fixed(2)), (.ratio_to_reference | fixed(2)),
           (if .target_max == null then "-" else "<=\(.target_max | fixed(2))" end), (.met | yes_no)]]};

# 6. Many small files: KEY "many" (2000 sessions of one 4 KiB memfd each)
# and "one" (one 8000 KiB memfd), VALUE the durable freeze in ms (the
# reboot's "froze ... in T ms"), each on a fresh mount after an empty live
# update, interleaved round by round. The target is on the best of the
# rounds (min / min, the outside check's statistic); the per-round ratios
# are shown beside it.
def small_files($rounds; $target):
  samples as $s
  | ($s.many // []) as $many | ($s.one // []) as $one
  | ($many | spread) as $m | ($one | spread) as $o
  | ([range([$many, $one] | map(length) | min) | select(($many[.] | type) == "number" and ($one[.] | type) == "number" and $one[.] > 0)
      | $many[.] / $one[.] | round_to(2)]) as $per_round
  | (if $m.min != null and $o.min != null and $o.min > 0 then $m.min / $o.min | round_to(2) else null end) as $best
  | {rounds: $rounds, unit: "ms", statistic: "best of the rounds",
     figures: [{figure: "freeze-2000x4KiB", min: $m.min, median: $m.median, max: $m.max, samples: ($many | map(num)),
                shown: ["freeze-2000x4KiB", ($m | spread_cell(1)), "-", "-", "-"]},
               {figure: "freeze-1x8000KiB", min: $o.min, median: $o.median, max: $o.max, samples: ($one | map(num)),
                shown: ["freeze-1x8000KiB", ($o | spread_cell(1)), "-", "-", "-"]},
               {figure: "freeze-2000x4KiB/1x8000KiB", ratio: $best, ratios_per_round: $per_round, target_max: $target,
                met: ($best != null and $best <= $target),
                shown: ["freeze-2000x4KiB/1x8000KiB", "best \($best | fixed(2))", ($per_round | map(fixed(2)) | join(" ")),
                  "<=\($target | fixed(2))", ($best != null and $best <= $target | yes_no)]}]};
