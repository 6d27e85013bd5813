# The part of JSON Schema (draft 2020-12) that docs/status.schema.json uses,
# for the scripts (lib.sh, lufs_check_status) without a validator package:
# type, enum, pattern, minimum, required, properties, additionalProperties:
# false, items, and "$ref" into the same file. Other keywords are ignored.

# The schema types a value satisfies (an integral number is also "integer").
def schema_types: if type == "number" and . == floor then ["integer", "number"] else [type] end;

# schema_problems(SCHEMA): one line per place where the input breaks SCHEMA
# (".sessions[0].kind: ..."); nothing when it matches.
def schema_problems($root):
  def resolve: if has("$ref") then .["$ref"] as $ref | $root | getpath($ref | ltrimstr("#/") | split("/")) else . end;
  def check($schema; $at):
    ($schema | resolve) as $s
    | . as $v
    | (if $at == "" then "." else $at end) as $where
    | ([$s.type // empty] | flatten) as $types
    | if $types != [] and ([schema_types[] | IN($types[])] | any | not) then
        "\($where): \(schema_types[0]) \(tojson | .[:60]), where the schema wants \($types | join(" or "))"
      else
        (select($s.enum and ($v | IN($s.enum[]) | not))
          | "\($where): \(tojson) is not one of \($s.enum | map(tojson) | join(", "))"),
        (select($s.pattern and type == "string" and (test($s.pattern) | not))
          | "\($where): \(tojson) does not match \($s.pattern)"),
        (select($s.minimum and type == "number" and . < $s.minimum)
          | "\($where): \(.) is below \($s.minimum)"),
        (select(type == "object")
          | (($s.required // [])[] | select(. as $key | $v | has($key) | not) | "\($where): no key \"\(.)\""),
            (keys_unsorted[] as $key
              | if $s.properties[$key] then $v[$key] | check($s.properties[$key]; "\($at).\($key)")
                elif $s.additionalProperties == false then "\($where): unknown key \"\($key)\""
                else empty end)),
        (select(type == "array" and $s.items)
          | to_entries[] | .key as $i | .value | check($s.items; "\($at)[\($i)]"))
      end;
  check($root; "");
