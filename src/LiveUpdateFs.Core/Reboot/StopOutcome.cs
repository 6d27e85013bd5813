using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Core.Reboot;

/// <summary>What a stop of the daemon handed to its next start.</summary>
/// <param name="Result">The error that lost this boot's sessions, or none.</param>
/// <param name="Summary">What was handed over.</param>
/// <param name="Restart">A reboot was committed before the stop: the next boot starts from it.</param>
public sealed record StopOutcome(Errno Result, HandoverSummary Summary, RestartPlan? Restart);
