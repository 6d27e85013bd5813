namespace LiveUpdateFs.Interop;

/// <summary>This process and its terminal.</summary>
public static class Terminal
{
    /// <summary>setsid() and stdin/stdout/stderr on /dev/null: a daemon leaves
    /// the terminal's session (Ctrl-C in the shell does not reach it) and lets
    /// go of the pipes of whoever started it (they would never see EOF).</summary>
    public static void Detach()
    {
        Libc.Setsid();
        int devNull = Libc.Open("/dev/null", Libc.O_RDWR | Libc.O_CLOEXEC, 0);
        if (devNull < 0)
            return;
        for (int fd = 0; fd <= 2; fd++)
            Libc.Dup2(devNull, fd);
        Libc.Close(devNull);
    }

    /// <summary>Whether <paramref name="fd"/> of this process is a terminal.</summary>
    public static bool IsTerminal(int fd) => Libc.Isatty(fd) == 1;
}
