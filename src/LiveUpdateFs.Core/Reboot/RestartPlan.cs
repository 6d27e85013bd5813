namespace LiveUpdateFs.Core.Reboot;

/// <summary>What a committed reboot leaves the daemon to do: start the next
/// boot from <paramref name="Image"/>, which is published.</summary>
public sealed record RestartPlan(RebootMode Mode, IHandoverImage Image);
