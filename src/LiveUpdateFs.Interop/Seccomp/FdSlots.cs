using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>
/// The kernel's "reserve an fd number" step (docs/behaviour.md §4.1 step 1) asked of
/// another process: does its fd table have a free number below its
/// RLIMIT_NOFILE? The seccomp path installs the new fd only after the
/// request has run, so this answers the EMFILE the kernel would have given
/// first (docs/behaviour.md §12). Reads /proc only.
/// </summary>
public static unsafe class FdSlots
{
    /// <summary>None, EMFILE, or ESRCH when the thread is gone.</summary>
    public static Errno Reserve(int threadId)
    {
        // /proc/TID/limits, not prlimit(2): reading another user's limits
        // with prlimit needs CAP_SYS_RESOURCE, which a container's root lacks.
        if (OpenFilesLimit(threadId) is not { } limit)
            return Errno.ESRCH;
        nint directory = Libc.Opendir($"/proc/{threadId}/fd");
        if (directory == 0)
            return Errno.ESRCH;
        try
        {
            ulong below = 0;
            for (nint entry = Libc.Readdir(directory); entry != 0; entry = Libc.Readdir(directory))
            {
                if (Number((byte*)entry + Libc.DirentNameOffset) is { } fd && fd < limit)
                    below++;
            }
            return below < limit ? Errno.None : Errno.EMFILE;
        }
        finally
        {
            Libc.Closedir(directory);
        }
    }

    /// <summary>The soft RLIMIT_NOFILE of the thread's process ("Max open files"), or null when it is gone.</summary>
    private static ulong? OpenFilesLimit(int threadId)
    {
        string? limits = ProcFs.ReadText($"/proc/{threadId}/limits");
        string? line = limits?.Split('\n').FirstOrDefault(l => l.StartsWith("Max open files", StringComparison.Ordinal));
        string[]? fields = line?["Max open files".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields is not { Length: > 0 })
            return null;
        return fields[0] == "unlimited" ? ulong.MaxValue : ulong.TryParse(fields[0], out ulong soft) ? soft : null;
    }

    /// <summary>The fd number a /proc/PID/fd entry names; null for "." and "..".</summary>
    private static ulong? Number(byte* name)
    {
        ulong value = 0;
        if (*name == 0)
            return null;
        for (; *name != 0; name++)
        {
            if (*name is < (byte)'0' or > (byte)'9')
                return null;
            value = value * 10 + (ulong)(*name - '0');
        }
        return value;
    }
}
