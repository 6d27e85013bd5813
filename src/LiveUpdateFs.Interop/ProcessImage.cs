using System.Runtime.InteropServices;
using LiveUpdateFs.Uapi;

namespace LiveUpdateFs.Interop;

/// <summary>Replacing this process's program (execve) while chosen fds stay
/// open: the in-place reboot's way to carry memfds into the next boot.</summary>
public static unsafe class ProcessImage
{
    /// <summary>Clears or sets FD_CLOEXEC: only fds without it survive an exec.</summary>
    public static Errno SetCloseOnExec(SafeFd fd, bool close) => SetCloseOnExec(fd.Fd, close);

    private static Errno SetCloseOnExec(int fd, bool close) =>
        Libc.Fcntl(fd, Libc.F_SETFD, close ? Libc.FD_CLOEXEC : 0) < 0 ? Libc.LastErrno : Errno.None;

    /// <summary>
    /// execve(<paramref name="path"/>) with <paramref name="inherited"/> kept
    /// open (every other fd of the daemon is close-on-exec). Returns only on
    /// failure, with the errno, and the fds close-on-exec again.
    /// </summary>
    public static Errno Exec(string path, IReadOnlyList<string> arguments, IReadOnlyList<string> environment, IReadOnlyList<int> inherited)
    {
        foreach (int fd in inherited)
        {
            Errno cleared = SetCloseOnExec(fd, close: false);
            if (cleared.IsError)
                return Restore(inherited, cleared);
        }
        var allocated = new List<nint>();
        try
        {
            byte** argv = Strings(arguments, allocated);
            byte** envp = Strings(environment, allocated);
            byte* file = (byte*)Marshal.StringToCoTaskMemUTF8(path);
            allocated.Add((nint)file);
            Libc.Execve(file, argv, envp);
            return Restore(inherited, Libc.LastErrno);
        }
        finally
        {
            foreach (nint pointer in allocated)
                Marshal.FreeCoTaskMem(pointer);
        }
    }

    /// <summary>A NULL-terminated array of UTF-8 strings in unmanaged memory.</summary>
    private static byte** Strings(IReadOnlyList<string> strings, List<nint> allocated)
    {
        byte** array = (byte**)Marshal.AllocCoTaskMem((strings.Count + 1) * sizeof(nint));
        allocated.Add((nint)array);
        for (int i = 0; i < strings.Count; i++)
        {
            array[i] = (byte*)Marshal.StringToCoTaskMemUTF8(strings[i]);
            allocated.Add((nint)array[i]);
        }
        array[strings.Count] = null;
        return array;
    }

    private static Errno Restore(IReadOnlyList<int> inherited, Errno error)
    {
        foreach (int fd in inherited)
            SetCloseOnExec(fd, close: true);
        return error;
    }
}
