namespace LiveUpdateFs.Uapi;

/// <summary>Which kind of LUO file a request arrives on.</summary>
public enum LuoFileKind
{
    Device,
    OutgoingSession,
    IncomingSession,
}
