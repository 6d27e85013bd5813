using System.Diagnostics;

namespace LiveUpdateFs.Tests.Integration;

/// <summary>What a chaos run did and saw, printed as "chaos: ..." lines (scripts/chaos shows them).</summary>
public sealed class ChaosSummary
{
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private readonly SortedDictionary<string, int> _actions = new(StringComparer.Ordinal);
    private readonly SortedDictionary<string, int> _states = new(StringComparer.Ordinal);

    public int Rounds { get; set; }
    public int SessionsCreated { get; set; }
    public int SessionsFoundPresent { get; set; }
    public int SessionsFoundAbsent { get; set; }

    public void Action(string kind) => Count(_actions, kind);

    /// <summary>A state the emulator was seen in (what a start after a kill offered, which of two outcomes a check found...).</summary>
    public void State(string state) => Count(_states, state);

    public int ActionCount(string kind) => _actions.GetValueOrDefault(kind);

    public int StateCount(string state) => _states.GetValueOrDefault(state);

    public IEnumerable<string> Lines(int seed, bool writers)
    {
        yield return $"chaos: seed {seed} (LIVEUPDATEFS_CHAOS_SEED repeats it), {Rounds} rounds, writers {(writers ? "on" : "off")}, {_clock.Elapsed.TotalSeconds:F0} s";
        yield return $"chaos: sessions created {SessionsCreated}; checked {SessionsFoundPresent + SessionsFoundAbsent} "
            + $"(found present {SessionsFoundPresent}, absent {SessionsFoundAbsent})";
        yield return "chaos: actions: " + string.Join(", ", _actions.Select(a => $"{a.Key} {a.Value}"));
        yield return "chaos: states seen: " + string.Join(", ", _states.Select(s => $"{s.Key} {s.Value}"));
    }

    private static void Count(SortedDictionary<string, int> counts, string key) => counts[key] = counts.GetValueOrDefault(key) + 1;
}
