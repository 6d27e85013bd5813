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

# 1. Round trip: KEY a figure, VALUE its ns per call in one round.
def roundtrip($calls; $rounds):
  (samples | map_values(us)) as $us
  | def row($figure; $reference; $target):
      ($us[$figure] | median | round_to(2)) as $value
      | (if $reference == null then null else {figure: $reference, value: ($us[$reference] | median | round_to(2))} end) as $ref
      | (if $reference == null then null else ratios($us[$figure]; $us[$reference]) | median | round_to(2) end) as $ratio
      | {figure: $figure, value: $value, reference: $ref, ratio: $ratio, target_max: $target,
         met: (if $target == null then null else $ratio <= $target end),
         shown: [$figure, ($value | fixed(2)), (if $ref == null then "-" else "\($reference)=\($ref.value | fixed(2))" end),
           (if $ratio == null then "-" else $ratio | fixed(2) end),
           (if $target == null then "-" else "<=\($target | fixed(2))" end),
           (if $target == null then "-" else $ratio <= $target | yes_no end)]};
  {calls: $calls, rounds: $rounds, unit: "us/call",
   figures: [row("floor-1"; null; null), (1, 2, 4 | row("peer-\(.)"; "floor-1"; null)), (1, 2, 4 | row("luo-\(.)"; "peer-\(.)"; 1.10))]};

# 2. Scale: KEY "FIGURE" (ns per op, "timeout" or "failed") and "rss FIGURE"
# (the daemon's VmRSS in KiB, negative when unknown), and "rss start".
def scale($timeout; $sizes):
  samples as $s
  | def mib: if type == "number" and . >= 0 then . / 1024 | round_to(1) else "-" end;
    def per_op($figure): $s[$figure][0] | if type == "number" then . / 1000 | round_to(2) else . end;
  {unit: "us/op", timeout_s: $timeout, daemon_rss_mib_start: ($s["rss start"][0] | mib | num),
   figures: [("sessions", "files") as $kind | $sizes[] as $n | "\($kind)-\($n)" as $figure
     | per_op($figure) as $value | ($s["rss \($figure)"][0] | mib) as $rss
     | {figure: $figure, op: $kind, count: $n, value: ($value | num), daemon_rss_mib: ($rss | num),
        status: (if $value | type == "number" then "ok" else $value end),
        shown: [$figure, ($value | fixed(2)), ($rss | fixed(1))]}],
   ratios: [("sessions", "files") as $kind | "\($kind)-\($sizes[-1])/\($kind)-\($sizes[0])" as $figure
     | per_op("\($kind)-\($sizes[-1])") as $large | per_op("\($kind)-\($sizes[0])") as $small
     | (if ($large | type) == "number" and ($small | type) == "number" then $large / $small | round_to(2) else "-" end) as $ratio
     | {figure: $figure, ratio: ($ratio | num), target_max: 1.50, met: ($ratio | type == "number" and . <= 1.50),
        shown: [$figure, ($ratio | fixed(2)), "<=1.50", ($ratio | type == "number" and . <= 1.50 | yes_no)]}]};

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
        shown: [$store, $case.name, $mode, ($m.blackout_ms | fixed(1)), ($m.freeze_ms | fixed(1)), ($m.restore_ms | fixed(1))]}],
   plain_copy: [$stores[] as $store | $copied[] as $case | copy($store; $case) as $c
     | {store: $store, bytes: $case, write_ms: ($c.write_ms | num), restore_ms: ($c.restore_ms | num),
        samples: {write_ms: ($c.write | map(num)), restore_ms: ($c.read | map(num))},
        shown: [$store, $case, ($c.write_ms | fixed(1)), ($c.restore_ms | fixed(1))]}],
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
# KiB), one sample per mount, "failed" for a mount that failed.
def start($runs):
  samples as $s
  | ($s.rss | map(if type == "number" then . / 1024 | round_to(1) else . end)) as $rss
  | {runs: $runs, statistic: "median",
     samples: {mount_command_ms: ($s.mount | map(num)), mount_to_node_opened_ms: ($s.open | map(num)), daemon_idle_rss_mib: ($rss | map(num))},
     figures: [target_row("mount-command"; "ms"; $s.mount | median; null; "<"; 100),
       target_row("mount-to-node-opened"; "ms"; $s.open | median; null; null; null),
       target_row("daemon-idle-rss"; "MiB"; $rss | median; null; "<"; 40)]};

# 5. fd hand-over: KEY a figure, VALUE its ns per op in one round; the
# reference is getname.
def fd_handover($calls; $rounds):
  (samples | map_values(us)) as $us
  | {calls: $calls, rounds: $rounds, unit: "us/op", reference: "getname",
     figures: [$us | keys_unsorted[] as $figure | $us[$figure] | map(numbers)
       | {figure: $figure, min: (min | round_to(2)), median: (median | round_to(2)), max: (max | round_to(2)),
          ratio_to_reference: (ratios($us[$figure]; $us.getname) | median | round_to(2))}
       | .spread = (.max - .min | round_to(2))
       | .shown = [.figure, (.min | fixed(2)), (.median | fixed(2)), (.max | fixed(2)), (.ratio_to_reference | fixed(2))]]};
