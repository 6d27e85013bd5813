namespace LiveUpdateFs.Interop;

/// <summary>Who this process runs as (its effective ids).</summary>
public static class CurrentUser
{
    public static bool IsRoot => Libc.Geteuid() == 0;

    public static uint EffectiveUid => Libc.Geteuid();

    public static uint EffectiveGid => Libc.Getegid();
}
