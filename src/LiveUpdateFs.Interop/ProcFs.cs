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
}
