using System.Runtime.InteropServices;
using System.Text;

namespace LiveUpdateFs.Interop;

/// <summary>
/// Reading /proc without touching the files behind it. A .NET directory
/// enumeration stats every symlink it meets, and /proc/PID/fd links may lead
/// into the daemon's own mount: a stat there from the daemon's FUSE thread
/// would wait for that very thread. readdir and readlink never follow.
/// </summary>
public static unsafe class ProcFs
{
    /// <summary>The entry names of <paramref name="directory"/> (without . and ..);
    /// empty when it cannot be read (e.g. the process ended).</summary>
    public static List<string> Names(string directory)
    {
        var names = new List<string>();
        nint handle = Libc.Opendir(directory);
        if (handle == 0)
            return names;
        try
        {
            for (nint entry = Libc.Readdir(handle); entry != 0; entry = Libc.Readdir(handle))
            {
                string? name = Marshal.PtrToStringUTF8(entry + Libc.DirentNameOffset);
                if (name is not null and not "." and not "..")
                    names.Add(name);
            }
        }
        finally
        {
            Libc.Closedir(handle);
        }
        return names;
    }

    /// <summary>readlink(2) of <paramref name="path"/>, or null.</summary>
    public static string? ReadLink(string path)
    {
        byte* buffer = stackalloc byte[4096];
        nint length = Libc.Readlink(path, buffer, 4096);
        return length is <= 0 or >= 4096 ? null : Encoding.UTF8.GetString(buffer, (int)length);
    }

    /// <summary>The value of the line starting with <paramref name="name"/>
    /// ("mnt_id:", "flags:") in a /proc text such as fdinfo or status, trimmed; null when absent.</summary>
    public static string? FieldOf(string text, string name)
    {
        foreach (string line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal))
                return line[name.Length..].Trim();
        }
        return null;
    }

    /// <summary>The whole of a /proc text file (stat, fdinfo, maps, wchan),
    /// read with plain read(2) calls; null when it cannot be read (e.g. the
    /// process ended). Never use this on a path that may lead elsewhere than /proc.</summary>
    public static string? ReadText(string path)
    {
        int fd = Libc.Open(path, Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        if (fd < 0)
            return null;
        try
        {
            byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(64 << 10);
            int length = 0;
            try
            {
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        byte[] larger = System.Buffers.ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        buffer.AsSpan(0, length).CopyTo(larger);
                        System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }
                    nint read;
                    fixed (byte* start = buffer)
                        read = Libc.Read(fd, start + length, (nuint)(buffer.Length - length));
                    if (read < 0)
                    {
                        if (Libc.LastErrno == Uapi.Errno.EINTR)
                            continue;
                        return null;
                    }
                    if (read == 0)
                        return Encoding.UTF8.GetString(buffer, 0, length);
                    length += (int)read;
                }
            }
            finally
            {
                System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        finally
        {
            Libc.Close(fd);
        }
    }

    /// <summary>The effective uid of process <paramref name="pid"/> (the second
    /// number of the "Uid:" line of its status file), or null when it is gone.</summary>
    public static uint? EffectiveUidOf(int pid)
    {
        string? field = ReadText($"/proc/{pid}/status") is { } status ? FieldOf(status, "Uid:") : null;
        string[] ids = field?.Split('\t', StringSplitOptions.RemoveEmptyEntries) ?? [];
        return ids.Length > 1 && uint.TryParse(ids[1], System.Globalization.CultureInfo.InvariantCulture, out uint uid) ? uid : null;
    }

    /// <summary>The arguments process <paramref name="pid"/> was started with
    /// (its cmdline, program first); empty when it is gone or not readable.</summary>
    public static string[] CommandLineOf(int pid) =>
        ReadText($"/proc/{pid}/cmdline")?.Split('\0', StringSplitOptions.RemoveEmptyEntries) ?? [];

    /// <summary>The state letter of a process or thread (R, S, D, T, t, Z,
    /// X, ...) from its /proc/.../stat file, or null when it is gone. The
    /// letter follows the last ')': the command name itself may hold one.</summary>
    public static char? StateOf(string statPath)
    {
        string? stat = ReadText(statPath);
        int close = stat?.LastIndexOf(')') ?? -1;
        return close < 0 || close + 2 >= stat!.Length ? null : stat[close + 2];
    }
}
