using System.Globalization;

namespace LiveUpdateFs.Interop;

/// <summary>Group names as the system resolves them (NSS: /etc/group, LDAP...).</summary>
public static unsafe class UserDatabase
{
    /// <summary>x86_64 struct group: gr_name, gr_passwd, then gid_t gr_gid.</summary>
    private const int GroupIdOffset = 16;

    /// <summary>The gid of <paramref name="group"/> (a name or a number), or null when there is none.
    /// Start-up only: getgrnam is not thread-safe.</summary>
    public static uint? GroupId(string group)
    {
        if (uint.TryParse(group, NumberStyles.None, CultureInfo.InvariantCulture, out uint gid))
            return gid;
        nint entry = Libc.Getgrnam(group);
        return entry == 0 ? null : *(uint*)(entry + GroupIdOffset);
    }
}
