using System.Globalization;
using LiveUpdateFs.Interop;
using LiveUpdateFs.Uapi;
using Serilog;

namespace LiveUpdateFs.Store.Handover;

/// <summary>
/// The test-only fault switch: LIVEUPDATEFS_FAULT=ACTION@WHERE makes one
/// checkpoint of the reboot fail or kills the daemon there.
/// <list type="bullet">
/// <item>ACTION: <c>fail</c> (the step returns EIO) or <c>kill</c> (SIGKILL to the daemon itself).</item>
/// <item>WHERE: <c>N</c> (the N-th checkpoint reached, counting from 1), or
/// <c>STEP</c> / <c>STEP#K</c> (the K-th time the named step is reached;
/// steps: <c>freeze-file</c>, <c>restart</c> (the in-place restart request)
/// and those of <see cref="StoreStep"/>).</item>
/// </list>
/// Each fault fires once, in one daemon instance: a reboot's exec does not
/// pass the switch on, but arms <see cref="NextVariable"/>'s fault in the
/// next boot instead. Unset, every checkpoint passes.
/// </summary>
public sealed class FaultSwitch : IStoreCheckpoints
{
    public const string Variable = "LIVEUPDATEFS_FAULT";
    public const string FreezeFile = "freeze-file";
    public const string Restart = "restart";
    public const string RetrieveFd = "retrieve-fd";

    /// <summary>A fault for the next boot of this process (after a reboot's exec).</summary>
    public const string NextVariable = "LIVEUPDATEFS_FAULT_NEXT";

    private readonly ILogger _log;
    private readonly bool _kill;
    private readonly string? _step;
    private readonly int _occurrence;
    private readonly Dictionary<string, int> _seen = [];
    private int _reached;
    private bool _fired;

    private FaultSwitch(ILogger log, bool kill, string? step, int occurrence)
    {
        _log = log;
        _kill = kill;
        _step = step;
        _occurrence = occurrence;
    }

    /// <summary>The switch LIVEUPDATEFS_FAULT describes, or none when it is unset.
    /// Throws with the expected syntax when it cannot be parsed.</summary>
    public static IStoreCheckpoints FromEnvironment(ILogger log)
    {
        string? text = Environment.GetEnvironmentVariable(Variable);
        if (string.IsNullOrEmpty(text))
            return NoCheckpoints.Instance;
        var fault = Parse(text, log) ?? throw new InvalidOperationException(
            $"{Variable}='{text}' is not understood: use fail@WHERE or kill@WHERE, WHERE = N, STEP or STEP#K (a test-only switch)");
        log.Warning("Fault switch armed: {Fault} (test-only; unset {Variable} for normal use)", text, Variable);
        return fault;
    }

    private static FaultSwitch? Parse(string text, ILogger log)
    {
        string[] parts = text.Split('@', 2);
        if (parts.Length != 2 || parts[0] is not ("fail" or "kill"))
            return null;
        bool kill = parts[0] == "kill";
        if (int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n > 0)
            return new FaultSwitch(log, kill, null, n);
        string[] step = parts[1].Split('#', 2);
        int occurrence = 1;
        if (step.Length == 2 && (!int.TryParse(step[1], NumberStyles.None, CultureInfo.InvariantCulture, out occurrence) || occurrence < 1))
            return null;
        return step[0].Length == 0 ? null : new FaultSwitch(log, kill, step[0], occurrence);
    }

    public Errno Reach(string step)
    {
        _reached++;
        int seen = _seen[step] = _seen.GetValueOrDefault(step) + 1;
        bool hit = !_fired && (_step is null ? _reached == _occurrence : _step == step && seen == _occurrence);
        if (!hit)
            return Errno.None;
        _fired = true;
        if (_kill)
        {
            _log.Warning("Fault switch: SIGKILL at checkpoint {Reached} ({Step})", _reached, step);
            Signals.KillSelf();
        }
        _log.Warning("Fault switch: checkpoint {Reached} ({Step}) fails with EIO", _reached, step);
        return Errno.EIO;
    }
}
