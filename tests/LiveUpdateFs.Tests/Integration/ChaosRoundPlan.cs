namespace LiveUpdateFs.Tests.Integration;

/// <summary>
/// What one chaos round does, in this order: a SIGKILL of the idle daemon
/// before the boot's first open (<see cref="KillDaemonFirst"/>), a check,
/// the creates and the writer, a holder killed, then the
/// <see cref="Ending"/>. A round that must settle an undecided state (a
/// daemon killed at a moment with two legitimate outcomes) checks first,
/// whatever the plan says.
/// </summary>
/// <param name="Creates">One `chaos_stages create` (one holder) per entry, with that many sessions.</param>
/// <param name="Writer">A `chaos_stages writer` holder too.</param>
/// <param name="KillHolder">SIGKILL one holder before the ending (its sessions are then not handed over).</param>
/// <param name="Durable">The reboot mode per command of the ending (one entry unless <see cref="ChaosEnding.RebootGroup"/>).</param>
/// <param name="KillMoment">For <see cref="ChaosEnding.DaemonKilledDuringReboot"/>; for
/// <see cref="ChaosEnding.RebootCommandKilled"/> Frozen and Committed mean "once frozen", the others a delay.</param>
/// <param name="KillDelayMilliseconds">For <see cref="ChaosKillMoment.SoonAfterStart"/>, <see cref="KillHolderDuringReboot"/>,
/// <see cref="ChaosEnding.RebootCommandKilled"/> and <see cref="ChaosEnding.DaemonKilledDuringCheck"/>:
/// a random delay after the commands start that picks the moment of the kill (a command takes a few milliseconds to freeze).</param>
/// <param name="FaultPoint">For <see cref="ChaosEnding.FaultMount"/>: the N of kill@N.</param>
/// <param name="RebootAfterThaw">For <see cref="ChaosEnding.ClientKilledWhileFrozen"/>: a reboot group follows the thaw.</param>
/// <param name="KillHolderDuringReboot">For <see cref="ChaosEnding.RebootGroup"/>: SIGKILL a holder as the commands start.</param>
/// <param name="ReuseNames">The first create takes the names of an earlier one (none outgoing now) with new contents.</param>
public sealed record ChaosRoundPlan(
    bool KillDaemonFirst,
    bool Check,
    int[] Creates,
    bool Writer,
    bool KillHolder,
    ChaosEnding Ending,
    bool[] Durable,
    ChaosKillMoment KillMoment = ChaosKillMoment.Frozen,
    int KillDelayMilliseconds = 0,
    int FaultPoint = 1,
    bool RebootAfterThaw = false,
    bool KillHolderDuringReboot = false,
    bool ReuseNames = false)
{
    /// <summary>A random round; <paramref name="holders"/> is how many holders
    /// the boot has (many: the round reboots so that they do not pile up).</summary>
    public static ChaosRoundPlan Random(Random random, int holders, bool openedThisBoot, bool writers)
    {
        ChaosEnding ending = holders >= 6 ? ChaosEnding.RebootGroup : Pick(random,
            (ChaosEnding.RebootGroup, 40), (ChaosEnding.ClientKilledWhileFrozen, 12), (ChaosEnding.DaemonKilledDuringReboot, 16),
            (ChaosEnding.DaemonKilledIdle, 8), (ChaosEnding.DaemonKilledDuringCheck, 6), (ChaosEnding.FaultMount, 10), (ChaosEnding.StopAndMount, 4), (ChaosEnding.StopWhileFrozen, 3),
            (ChaosEnding.RebootCommandKilled, 10), (ChaosEnding.None, 10));
        int commands = ending == ChaosEnding.RebootGroup || ending == ChaosEnding.ClientKilledWhileFrozen ? 1 + random.Next(3) : 1;
        // mostly, a daemon killed during a check is killed during the boot's first open
        bool nothingBeforeTheEnding = ending == ChaosEnding.DaemonKilledDuringCheck && random.NextDouble() < 0.6;
        return new ChaosRoundPlan(
            KillDaemonFirst: !openedThisBoot && random.NextDouble() < 0.12,
            Check: !nothingBeforeTheEnding && random.NextDouble() < 0.8,
            Creates: nothingBeforeTheEnding ? [] : Enumerable.Range(0, random.Next(3)).Select(_ => 1 + random.Next(3)).ToArray(),
            Writer: !nothingBeforeTheEnding && writers && random.NextDouble() < 0.25,
            KillHolder: random.NextDouble() < 0.2,
            Ending: ending,
            Durable: Enumerable.Range(0, commands).Select(_ => random.NextDouble() < 0.5).ToArray(),
            KillMoment: (ChaosKillMoment)random.Next(Enum.GetValues<ChaosKillMoment>().Length),
            // a check is over in a few milliseconds; a reboot command freezes after some ten
            KillDelayMilliseconds: ending == ChaosEnding.DaemonKilledDuringCheck ? random.Next(10) : random.Next(80),
            FaultPoint: 1 + random.Next(24),
            RebootAfterThaw: random.NextDouble() < 0.5,
            KillHolderDuringReboot: random.NextDouble() < 0.25,
            ReuseNames: random.NextDouble() < 0.3);
    }

    public override string ToString()
    {
        var parts = new List<string>();
        if (KillDaemonFirst)
            parts.Add("kill daemon first");
        if (Check)
            parts.Add("check");
        parts.AddRange(Creates.Select((n, i) => i == 0 && ReuseNames ? $"create {n} reusing names" : $"create {n}"));
        if (Writer)
            parts.Add("writer");
        if (KillHolder)
            parts.Add("kill holder");
        string modes = string.Join('+', Durable.Select(d => d ? "durable" : "in-place"));
        parts.Add(Ending switch
        {
            ChaosEnding.RebootGroup => $"reboot x{Durable.Length} ({modes})" + (KillHolderDuringReboot ? $", a holder killed at +{KillDelayMilliseconds} ms" : ""),
            ChaosEnding.ClientKilledWhileFrozen => $"client killed while frozen ({(Durable[0] ? "durable" : "in-place")})"
                + (RebootAfterThaw ? $", then reboot x{Durable.Length} ({modes})" : ""),
            ChaosEnding.DaemonKilledDuringReboot => $"daemon killed during reboot ({modes}) at {KillMoment}"
                + (KillMoment == ChaosKillMoment.SoonAfterStart ? $" +{KillDelayMilliseconds} ms" : ""),
            ChaosEnding.FaultMount => $"mount with kill@{FaultPoint}, reboot ({modes})",
            ChaosEnding.StopWhileFrozen => $"unmount while frozen ({modes})",
            ChaosEnding.DaemonKilledDuringCheck => $"daemon killed at +{KillDelayMilliseconds} ms of a check",
            ChaosEnding.RebootCommandKilled => $"reboot command ({modes}) killed "
                + (KillMoment is ChaosKillMoment.Frozen or ChaosKillMoment.Committed ? "once frozen" : $"at +{KillDelayMilliseconds} ms"),
            _ => Ending.ToString(),
        });
        return string.Join(", ", parts);
    }

    private static T Pick<T>(Random random, params (T Value, int Weight)[] choices)
    {
        int draw = random.Next(choices.Sum(c => c.Weight));
        foreach ((T value, int weight) in choices)
        {
            if (draw < weight)
                return value;
            draw -= weight;
        }
        throw new InvalidOperationException("unreachable");
    }
}
