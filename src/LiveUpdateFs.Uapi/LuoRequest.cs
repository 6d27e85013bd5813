namespace LiveUpdateFs.Uapi;

/// <summary>The LUO request values (docs/behaviour.md §1.1): all are _IO(0xBA, nr).</summary>
public static class LuoRequest
{
    public const uint IoctlType = 0xBA;

    public const uint CreateSession = 0xBA00;
    public const uint RetrieveSession = 0xBA01;
    public const uint PreserveFd = 0xBA40;
    public const uint RetrieveFd = 0xBA41;
    public const uint Finish = 0xBA42;
    public const uint GetName = 0xBA43;

    public const int SessionNameLength = 64;

    /// <summary>_IOC_NR: the low 8 bits, all the kernel looks at first.</summary>
    public static uint Nr(uint request) => request & 0xFF;

    public static string NameOf(uint request) => request switch
    {
        CreateSession => "CREATE_SESSION",
        RetrieveSession => "RETRIEVE_SESSION",
        PreserveFd => "PRESERVE_FD",
        RetrieveFd => "RETRIEVE_FD",
        Finish => "FINISH",
        GetName => "GET_NAME",
        _ => $"0x{request:X}",
    };
}
