namespace LiveUpdateFs.Core.Reboot;

/// <summary>Where this boot is in a reboot (README "How a reboot runs").</summary>
public enum RebootPhase
{
    /// <summary>No reboot under way: every request is served.</summary>
    Serving,

    /// <summary>The outgoing sessions are serialized into a prepared image
    /// that nobody sees yet; LUO callers wait. Ends with the restart
    /// (<see cref="Committed"/>) or a thaw (<see cref="Serving"/>).</summary>
    Frozen,

    /// <summary>The image is published: the next boot starts from it. Final
    /// for this boot.</summary>
    Committed,
}
