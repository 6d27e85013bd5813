using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop.Seccomp;

/// <summary>
/// The kernel's "reserve an fd number" step (spec §4.1 step 1) asked of
/// another process: does its fd table have a free number below its
/// RLIMIT_NOFILE? The seccomp path installs the new fd only after the
/// request has run, so this answers the EMFILE the kernel would have given
/// first (docs/behaviour.md "Hand-overs"). Reads /proc only.
/// </summary>
public static unsafe class FdSlots
{
    /// <summary>None, EMFILE, or ESRCH when the thread is gone.</summary>
    public static Errno Reserve(int threadId)
    {
        Libc.RLimit limit;
        if (Libc.Prlimit(threadId, Libc.RLIMIT_NOFILE, null, &limit) != 0)
            return Errno.ESRCH;
        nint directory = Libc.Opendir($"/proc/{threadId}/fd");
        if (directory == 0)
            return Errno.ESRCH;
        try
        {
            ulong below = 0;
            for (nint entry = Libc.Readdir(directory); entry != 0; entry = Libc.Readdir(directory))
            {
                if (Number((byte*)entry + Libc.DirentNameOffset) is { } fd && fd < limit.Current)
                    below++;
            }
            return below < limit.Current ? Errno.None : Errno.EMFILE;
        }
        finally
        {
            Libc.Closedir(directory);
        }
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
