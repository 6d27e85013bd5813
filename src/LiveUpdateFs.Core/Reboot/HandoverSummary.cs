namespace LiveUpdateFs.Core.Reboot;

/// <summary>What a successful freeze handed over.</summary>
public readonly record struct HandoverSummary(int Sessions, int Files, long Bytes);
