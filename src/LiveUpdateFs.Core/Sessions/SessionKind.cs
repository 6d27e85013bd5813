namespace LiveUpdateFs.Core.Sessions;

/// <summary>Which way a session crosses a reboot.</summary>
public enum SessionKind
{
    /// <summary>Created in this boot; handed to the next one if its fd is open at reboot.</summary>
    Outgoing,

    /// <summary>Handed over by the previous boot.</summary>
    Incoming,
}
